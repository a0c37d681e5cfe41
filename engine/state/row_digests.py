"""A digest per source row, keyed by primary key (rowid when none is declared): which rows changed since a run.

``scan`` reads a table once and compares each row's digest with those the
catch-up store recorded (``sqlite2ddb.state.catchup``): new, changed and gone
keys come out. ``read_rows`` reads given keys (from a scan or a change log)
with their digests and the values of the watched columns. Keys are tuples of
the key columns' values; the store names them by their ``repr``.
"""

from __future__ import annotations

import ast
import hashlib
import sqlite3
from collections.abc import Iterable, Iterator
from typing import Any

from sqlite2ddb.extract.source import lenient_text, undecodable
from sqlite2ddb.plan.compile import Plan
from sqlite2ddb.plan.follow import followers, watched_columns
from sqlite2ddb.spec.digest import spec_digest
from sqlite2ddb.state.catchup import CatchupStore, TableRows

CHUNK = 400

Key = tuple[Any, ...]


def key_columns(conn: sqlite3.Connection, table: str) -> list[str]:
    """The declared primary key's columns in key order; empty when the table is keyed by its rowid."""
    info = conn.execute(f"PRAGMA table_info({_q(table)})").fetchall()
    return [row[1] for row in sorted((r for r in info if r[5]), key=lambda r: r[5])]


def key_text(key: Key) -> str:
    return repr(tuple(key))


def parse_key(text: str) -> Key:
    return tuple(ast.literal_eval(text))


def row_digest(values: tuple[Any, ...]) -> str:
    return hashlib.blake2b(repr(values).encode(), digest_size=12).hexdigest()


def _select(conn: sqlite3.Connection, table: str) -> tuple[str, int]:
    keys = key_columns(conn, table)
    chosen = ", ".join(_q(k) for k in keys) if keys else "rowid"
    return f"SELECT {chosen}, * FROM {_q(table)}", max(1, len(keys))


def _rows(conn: sqlite3.Connection, sql: str, params: list[Any]) -> Iterator[tuple[Any, ...]]:
    try:
        rows = conn.execute(sql, params).fetchall()
    except sqlite3.OperationalError as exc:
        if not undecodable(exc):
            raise
        with lenient_text(conn):
            rows = conn.execute(sql, params).fetchall()
    yield from rows


def scan(conn: sqlite3.Connection, table: str, held: dict[str, str]) -> set[Key]:
    """The keys whose row is new, changed or gone since the digests ``held`` (key text -> digest)."""
    sql, width = _select(conn, table)
    held = dict(held)
    changed: set[Key] = set()
    for row in _rows(conn, sql, []):
        key = row[:width]
        if held.pop(key_text(key), None) != row_digest(row[width:]):
            changed.add(key)
    changed.update(parse_key(k) for k in held)  # gone
    return changed


def read_rows(
    conn: sqlite3.Connection, table: str, keys: Iterable[Key] | None, watched: list[str]
) -> dict[Key, tuple[str, dict[str, Any]]]:
    """Key -> (digest, watched values by lower-case name) of the rows these keys name (all rows when None)."""
    sql, width = _select(conn, table)
    names = [d[1].lower() for d in conn.execute(f"PRAGMA table_info({_q(table)})")]
    found: dict[Key, tuple[str, dict[str, Any]]] = {}

    def take(rows: Iterable[tuple[Any, ...]]) -> None:
        for row in rows:
            values = dict(zip(names, row[width:]))
            found[row[:width]] = (row_digest(row[width:]), {c: values.get(c) for c in watched})

    if keys is None:
        take(_rows(conn, sql, []))
        return found
    columns = key_columns(conn, table) or ["rowid"]
    wanted = sorted(set(keys), key=repr)
    for start in range(0, len(wanted), CHUNK):
        part = wanted[start : start + CHUNK]
        if width == 1:
            where = f"{_q(columns[0]) if columns[0] != 'rowid' else 'rowid'} IN ({', '.join('?' for _ in part)})"
        else:
            rows = ", ".join("(" + ", ".join("?" for _ in columns) + ")" for _ in part)
            where = f"({', '.join(_q(c) for c in columns)}) IN (VALUES {rows})"
        take(_rows(conn, f"{sql} WHERE {where}", [v for k in part for v in k]))
    return found


def table_rows(
    table: str,
    digest: str,
    watched: list[str],
    found: dict[Key, tuple[str, dict[str, Any]]],
    gone: Iterable[Key],
    whole: bool,
) -> TableRows:
    """What the store records for this table at the commit."""
    out = TableRows(table, digest, watched, whole)
    out.rows = [(key_text(k), d, repr(tuple(v.get(c) for c in watched))) for k, (d, v) in found.items()]
    out.gone = [key_text(k) for k in gone]
    return out


def old_values(texts: dict[str, str], watched: list[str]) -> dict[str, dict[str, Any]]:
    """Key text -> watched values, from what the store recorded."""
    return {k: dict(zip(watched, ast.literal_eval(v))) for k, v in texts.items()}


def record_all(
    conn: sqlite3.Connection,
    plan: Plan,
    store: CatchupStore,
    reads: dict[str, frozenset[str]],
    digests: dict[str, str],
    run: str,
) -> None:
    """After a complete migration: every row digest, and every item type's rendered keys complete."""
    watched = watched_columns(followers(conn, plan, reads).values())
    tables = []
    for table, digest in sorted(digests.items()):
        cols = watched.get(table, [])
        tables.append(table_rows(table, digest, cols, read_rows(conn, table, None, cols), [], True))
    complete = {i.name: spec_digest(i.spec) for i in plan.item_types}
    store.commit(run, tables, complete, {}, prune=False)


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
