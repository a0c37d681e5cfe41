"""Read a SQLite schema and the facts about its data that a key design needs.

Tables, primary keys, foreign keys, unique indexes and declared types come
from the catalog (``PRAGMA table_info`` and friends); row counts, storage
classes, NULLs and value ranges come from one aggregate query per table, so
the reading is a single pass over each table whatever its width.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass

from sqlite2ddb.extract.capture_log import is_capture_table

JSON_SAMPLE = 50  # TEXT values per column tried as JSON


@dataclass(frozen=True)
class ColumnInfo:
    name: str
    declared: str  # the declared type as written, '' when none
    not_null: bool
    pk_position: int  # 1-based position in the primary key, 0 when not part of it
    counts: tuple[tuple[str, int], ...]  # storage class -> values seen (integer, real, text, blob)
    nulls: int
    minimum: float | None  # of the INTEGER values
    maximum: float | None
    max_bytes: int  # longest value, in bytes
    json_text: bool  # every sampled TEXT value parses as a JSON object or array

    @property
    def classes(self) -> frozenset[str]:
        return frozenset(kind for kind, n in self.counts if n)


@dataclass(frozen=True)
class ForeignKey:
    table: str  # the referenced (parent) table
    columns: tuple[str, ...]  # in this table
    references: tuple[str, ...]  # in the parent table
    inferred: str = ""  # the evidence when no foreign key is declared (inferred from the values)


@dataclass(frozen=True)
class TableInfo:
    name: str
    columns: tuple[ColumnInfo, ...]
    primary_key: tuple[str, ...]  # in key order; () when the table has none
    foreign_keys: tuple[ForeignKey, ...]
    unique: tuple[tuple[str, ...], ...]  # column sets of unique indexes
    rows: int
    without_rowid: bool
    max_rowid: int = 0
    suggestions: tuple[str, ...] = ()  # relationships the values hint at but scaffold does not use

    def column(self, name: str) -> ColumnInfo:
        return next(c for c in self.columns if c.name == name)


@dataclass(frozen=True)
class SchemaInfo:
    path: str
    tables: tuple[TableInfo, ...]

    def table(self, name: str) -> TableInfo:
        return next(t for t in self.tables if t.name == name)


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def read_schema(conn: sqlite3.Connection, path: str, only: frozenset[str] | None = None) -> SchemaInfo:
    """Every user table of the database (or those in ``only``), with the facts about its data."""
    names = [
        row[0]
        for row in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' "
            "ORDER BY name"
        )
    ]
    names = [n for n in names if not is_capture_table(n)]  # the change log 'capture install' added
    return SchemaInfo(path, tuple(read_table(conn, n) for n in names if only is None or n in only))


def read_table(conn: sqlite3.Connection, name: str) -> TableInfo:
    info = conn.execute(f"PRAGMA table_info({quote(name)})").fetchall()
    primary = tuple(r[1] for r in sorted((r for r in info if r[5]), key=lambda r: r[5]))
    without_rowid = _without_rowid(conn, name)
    facts, rows = _column_facts(conn, name, [r[1] for r in info])
    columns = tuple(
        ColumnInfo(
            name=r[1],
            declared=r[2] or "",
            not_null=bool(r[3]),
            pk_position=r[5],
            **facts[r[1]],
            json_text=_json_text(conn, name, r[1]) if facts[r[1]]["counts"][2][1] else False,
        )
        for r in info
    )
    return TableInfo(
        name=name,
        columns=columns,
        primary_key=primary,
        foreign_keys=_foreign_keys(conn, name, primary),
        unique=_unique_indexes(conn, name),
        rows=rows,
        without_rowid=without_rowid,
        max_rowid=0 if without_rowid else int(conn.execute(f"SELECT max(rowid) FROM {quote(name)}").fetchone()[0] or 0),
    )


def _column_facts(conn: sqlite3.Connection, table: str, columns: list[str]) -> tuple[dict[str, dict], int]:
    """Storage classes, NULLs, integer range and widest value of every column, in one scan."""
    parts = ["count(*)"]
    for column in columns:
        c = quote(column)
        parts += [f"sum(typeof({c}) = '{kind}')" for kind in ("integer", "real", "text", "blob")]
        parts += [
            f"sum({c} IS NULL)",
            f"min(CASE WHEN typeof({c}) = 'integer' THEN {c} END)",
            f"max(CASE WHEN typeof({c}) = 'integer' THEN {c} END)",
            f"max(length(CAST({c} AS BLOB)))",
        ]
    values = conn.execute(f"SELECT {', '.join(parts)} FROM {quote(table)}").fetchone()
    facts: dict[str, dict] = {}
    for i, column in enumerate(columns):
        base = 1 + 8 * i
        counts = tuple(zip(("integer", "real", "text", "blob"), (int(v or 0) for v in values[base : base + 4])))
        facts[column] = {
            "counts": counts,
            "nulls": int(values[base + 4] or 0),
            "minimum": values[base + 5],
            "maximum": values[base + 6],
            "max_bytes": int(values[base + 7] or 0),
        }
    return facts, int(values[0])


def _json_text(conn: sqlite3.Connection, table: str, column: str) -> bool:
    c = quote(column)
    sample = [
        r[0]
        for r in conn.execute(
            f"SELECT {c} FROM {quote(table)} WHERE typeof({c}) = 'text' AND {c} <> '' LIMIT {JSON_SAMPLE}"
        )
    ]
    for text in sample:
        stripped = text.strip()
        if not stripped or stripped[0] not in "[{":
            return False
        try:
            json.loads(stripped)
        except ValueError:
            return False
    return bool(sample)


def _foreign_keys(conn: sqlite3.Connection, table: str, primary: tuple[str, ...]) -> tuple[ForeignKey, ...]:
    grouped: dict[int, list[tuple]] = {}
    for row in conn.execute(f"PRAGMA foreign_key_list({quote(table)})"):
        grouped.setdefault(row[0], []).append(row)
    out = []
    for _, rows in sorted(grouped.items(), reverse=True):  # SQLite lists them last-declared first
        rows.sort(key=lambda r: r[1])
        parent = rows[0][2]
        columns = tuple(r[3] for r in rows)
        references = tuple(r[4] for r in rows)
        if any(r is None for r in references):  # REFERENCES parent: the parent's primary key
            references = _primary_key(conn, parent) if parent != table else primary
        out.append(ForeignKey(parent, columns, tuple(references)))
    return tuple(out)


def _primary_key(conn: sqlite3.Connection, table: str) -> tuple[str, ...]:
    info = conn.execute(f"PRAGMA table_info({quote(table)})").fetchall()
    return tuple(r[1] for r in sorted((r for r in info if r[5]), key=lambda r: r[5]))


def _unique_indexes(conn: sqlite3.Connection, table: str) -> tuple[tuple[str, ...], ...]:
    out = []
    for row in conn.execute(f"PRAGMA index_list({quote(table)})"):
        if row[2] and row[3] != "pk":
            columns = tuple(r[2] for r in conn.execute(f"PRAGMA index_info({quote(row[1])})"))
            if None not in columns:
                out.append(columns)
    return tuple(sorted(out))


def _without_rowid(conn: sqlite3.Connection, table: str) -> bool:
    sql = conn.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)).fetchone()[0]
    return "WITHOUT ROWID" in " ".join((sql or "").upper().split())


def _row_width(table: TableInfo) -> str:
    """SQL for the estimated bytes of one row as an embedded map (values plus attribute names)."""
    return " + ".join(
        f"coalesce(length(CAST({quote(c.name)} AS BLOB)), 0) + {len(c.name.encode()) + 3}" for c in table.columns
    )


def group_sizes(conn: sqlite3.Connection, table: TableInfo, columns: tuple[str, ...]) -> tuple[int, int]:
    """Largest number of rows and of estimated bytes sharing one value of ``columns`` (NULLs left out)."""
    by = ", ".join(quote(c) for c in columns)
    not_null = " AND ".join(f"{quote(c)} IS NOT NULL" for c in columns)
    row = conn.execute(
        f"SELECT max(n), max(b) FROM (SELECT count(*) AS n, sum({_row_width(table)}) AS b FROM {quote(table.name)} "
        f"WHERE {not_null} GROUP BY {by})"
    ).fetchone()
    return int(row[0] or 0), int(row[1] or 0)


def row_sizes(conn: sqlite3.Connection, table: TableInfo) -> tuple[int, int]:
    """Average and largest estimated bytes of one row of ``table`` (0, 0 when it is empty)."""
    width = _row_width(table)
    row = conn.execute(f"SELECT avg({width}), max({width}) FROM {quote(table.name)}").fetchone()
    return round(row[0] or 0), int(row[1] or 0)
