"""Relationships a schema does not declare, inferred from the values.

A column is a candidate foreign key to another table's unique column (its
single-column primary key or a single-column unique index) when every
non-NULL value of it occurs there (value containment). Two tests weigh the
candidate: it has at least ``MIN_DISTINCT`` distinct values (containment by
chance is unlikely), and its name matches the other table (``country``,
``country_code``, ``CountryId`` for a table ``Country``). A candidate that
passes both becomes a relationship, used like a declared foreign key; one
that passes only one is written as a commented suggestion with its evidence.

The checks stay cheap: the storage classes and value ranges read with the
schema rule out most pairs before any query, each containment check is one
``NOT EXISTS`` probe of the other table's index, a column of a table over
``MAX_ROWS`` rows is checked on its first ``MAX_ROWS`` rows (said in the
evidence), and at most ``MAX_CHECKS`` probes run in all.
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass, replace

from sqlite2ddb.scaffold.schema_reader import ColumnInfo, ForeignKey, SchemaInfo, TableInfo, quote

MIN_DISTINCT = 20
MAX_ROWS = 200_000
MAX_CHECKS = 2_000
MAX_SUGGESTIONS = 2  # per column: a column of small numbers fits many id ranges


@dataclass(frozen=True)
class _Target:
    """A column whose values identify the rows of its table."""

    table: TableInfo
    column: ColumnInfo


@dataclass(frozen=True)
class _Evidence:
    target: _Target
    distinct: int
    name_match: bool
    sampled: bool

    def text(self, table: str, column: str) -> str:
        where = f"{self.target.table.name}.{self.target.column.name}"
        scope = f" (checked on the first {MAX_ROWS:,} rows)" if self.sampled else ""
        name = "the name matches" if self.name_match else f"the name does not match {self.target.table.name}"
        return f"{table}.{column} -> {where}: all {self.distinct:,} distinct values occur in {where}{scope}; {name}"

    @property
    def strong(self) -> bool:
        return self.name_match and self.distinct >= MIN_DISTINCT


def infer_relationships(conn: sqlite3.Connection, schema: SchemaInfo) -> SchemaInfo:
    """The schema with inferred foreign keys added and weaker candidates kept as suggestions."""
    targets = [t for table in schema.tables for t in _targets(table)]
    budget = [MAX_CHECKS]
    tables = []
    for table in schema.tables:
        declared = {c for fk in table.foreign_keys for c in fk.columns}
        keys, suggestions = list(table.foreign_keys), []
        for column in table.columns:
            if column.name in declared or not _candidate(table, column):
                continue
            found = _evidence(conn, table, column, targets, budget)
            strong = next((e for e in found if e.strong), None)
            if strong:
                target = strong.target
                text = strong.text(table.name, column.name)
                keys.append(ForeignKey(target.table.name, (column.name,), (target.column.name,), inferred=text))
                continue
            suggestions += [e.text(table.name, column.name) for e in found[:MAX_SUGGESTIONS]]
        tables.append(replace(table, foreign_keys=tuple(keys), suggestions=tuple(suggestions)))
    return replace(schema, tables=tuple(tables))


def _targets(table: TableInfo) -> list[_Target]:
    if not table.rows:
        return []
    keys = [k for k in (table.primary_key, *table.unique) if len(k) == 1]
    columns = [table.column(k[0]) for k in dict.fromkeys(keys)]
    return [_Target(table, c) for c in columns if c.classes in ({"integer"}, {"text"}) and not c.nulls]


def _candidate(table: TableInfo, column: ColumnInfo) -> bool:
    """INTEGER or TEXT values, and not the table's own single-column key."""
    own_key = table.primary_key == (column.name,)
    return not own_key and column.classes in ({"integer"}, {"text"})


def _fits(column: ColumnInfo, target: _Target) -> bool:
    """The ranges read with the schema allow containment (no query needed to rule it out)."""
    other = target.column
    if column.classes != other.classes:
        return False
    if column.classes == {"integer"}:
        return (other.minimum or 0) <= (column.minimum or 0) and (column.maximum or 0) <= (other.maximum or 0)
    return column.max_bytes <= other.max_bytes


def _evidence(
    conn: sqlite3.Connection, table: TableInfo, column: ColumnInfo, targets: list[_Target], budget: list[int]
) -> list[_Evidence]:
    """Every target holding all of the column's values, that passes at least one of the two tests."""
    distinct: int | None = None
    found = []
    sampled = table.rows > MAX_ROWS
    for target in targets:
        if target.table.name == table.name or not _fits(column, target) or budget[0] <= 0:
            continue
        matches = name_matches(column.name, target.table.name)
        if distinct is None:
            distinct = _distinct(conn, table, column)
        if not matches and distinct < MIN_DISTINCT:
            continue
        budget[0] -= 1
        if _contained(conn, table, column, target):
            found.append(_Evidence(target, distinct, matches, sampled))
    found.sort(key=lambda e: (not e.strong, not e.name_match))
    return found


def _values(table: TableInfo, column: ColumnInfo) -> str:
    c = quote(column.name)
    return f"SELECT {c} AS v FROM {quote(table.name)} WHERE {c} IS NOT NULL LIMIT {MAX_ROWS}"


def _distinct(conn: sqlite3.Connection, table: TableInfo, column: ColumnInfo) -> int:
    return int(conn.execute(f"SELECT count(DISTINCT v) FROM ({_values(table, column)})").fetchone()[0])


def _contained(conn: sqlite3.Connection, table: TableInfo, column: ColumnInfo, target: _Target) -> bool:
    """Every (sampled) value occurs, byte for byte, in the target column: one probe of its index per value."""
    other = f"{quote(target.table.name)}.{quote(target.column.name)}"
    sql = (
        f"SELECT NOT EXISTS (SELECT 1 FROM ({_values(table, column)}) AS s "
        f"WHERE NOT EXISTS (SELECT 1 FROM {quote(target.table.name)} WHERE {other} = s.v COLLATE BINARY))"
    )
    return bool(conn.execute(sql).fetchone()[0])


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _stems(table: str) -> set[str]:
    """Country -> {country}; Countries -> {countries, country}; Addresses -> {addresses, addresse, address}."""
    stem = _norm(table)
    out = {stem}
    if stem.endswith("ies"):
        out.add(stem[:-3] + "y")
    if stem.endswith("es"):
        out.add(stem[:-2])
    if stem.endswith("s") and not stem.endswith("ss"):
        out.add(stem[:-1])
    return {s for s in out if s}


def name_matches(column: str, table: str) -> bool:
    """``country``, ``country_code``, ``CountryId``, ``country_key``, ``country_no`` name table ``Country``."""
    name = _norm(column)
    return any(name == stem + suffix for stem in _stems(table) for suffix in ("", "id", "code", "key", "no", "ref"))
