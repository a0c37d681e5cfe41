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
import threading
from collections.abc import Callable, Iterable, Iterator
from operator import itemgetter
from pathlib import Path
from typing import Any

from sqlite2ddb.extract.source import lenient_text, open_source, undecodable
from sqlite2ddb.plan.compile import ItemTypePlan, Plan
from sqlite2ddb.spec.digest import spec_digest
from sqlite2ddb.state.catchup import CatchupStore, TableRows
from sqlite2ddb.state.snapshot import source_digests

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
) -> dict[Key, tuple[str, tuple[Any, ...]]]:
    """Key -> (digest, the watched columns' values in ``watched`` order) of the rows these keys name (all when None).

    This runs over every row of every table after a complete migration, so
    the loop does no more than slice, hash and pick.
    """
    sql, width = _select(conn, table)
    names = [d[1].lower() for d in conn.execute(f"PRAGMA table_info({_q(table)})")]
    pick = _picker([width + names.index(c) if c in names else None for c in watched])
    found: dict[Key, tuple[str, tuple[Any, ...]]] = {}

    def take(rows: Iterable[tuple[Any, ...]]) -> None:
        for row in rows:
            found[row[:width]] = (row_digest(row[width:]), pick(row))

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


def _picker(at: list[int | None]) -> Callable[[tuple[Any, ...]], tuple[Any, ...]]:
    """A function returning a row's values at ``at`` as a tuple (None where a column is missing)."""
    if not at:
        return lambda row: ()
    if None not in at:
        get = itemgetter(*at)
        return (lambda row: (get(row),)) if len(at) == 1 else get
    return lambda row: tuple(None if i is None else row[i] for i in at)


def watched_values(watched: list[str], values: tuple[Any, ...]) -> dict[str, Any]:
    """The watched values by lower-case column name, as the followers read them."""
    return dict(zip(watched, values))


def table_rows(
    table: str,
    digest: str,
    watched: list[str],
    found: dict[Key, tuple[str, tuple[Any, ...]]],
    gone: Iterable[Key],
    whole: bool,
) -> TableRows:
    """What the store records for this table at the commit."""
    out = TableRows(table, digest, watched, whole)
    out.rows = [(key_text(k), d, repr(v)) for k, (d, v) in found.items()]
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
    commit_all(store, plan, all_rows(conn, plan, reads, digests), run)


def all_rows(
    conn: sqlite3.Connection, plan: Plan, reads: dict[str, frozenset[str]], digests: dict[str, str]
) -> list[TableRows]:
    """Every row digest of the tables ``digests`` names, with the values of the columns the catch-up watches."""
    from sqlite2ddb.plan.follow import followers, watched_columns  # sqlglot: imported only where a query is parsed

    watched = watched_columns(followers(conn, plan, reads).values())
    tables = []
    for table, digest in sorted(digests.items()):
        cols = watched.get(table, [])
        tables.append(table_rows(table, digest, cols, read_rows(conn, table, None, cols), [], True))
    return tables


def commit_all(store: CatchupStore, plan: Plan, tables: list[TableRows], run: str) -> None:
    """Record ``tables`` and mark every item type's rendered keys complete."""
    complete = {i.name: spec_digest(i.spec) for i in plan.item_types}
    store.commit(run, tables, complete, {}, prune=False)


class SnapshotDigests:
    """A run's table digests (and, for a whole-plan migration, its row digests), hashed while the load runs.

    The snapshot a migration reads does not change during the run, so its
    digests can be taken at any moment of it: a thread of their own, on a
    connection of their own, takes them while the load waits on DynamoDB
    instead of after it. They are recorded only once every item type is done.
    """

    def __init__(self, path: Path, plan: Plan, items: list[ItemTypePlan], busy_timeout: float) -> None:
        self._cancelled = threading.Event()
        self._args = (path, plan, items, busy_timeout)
        self._result: tuple[dict[str, frozenset[str]], dict[str, str], list[TableRows] | None] | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="snapshot-digests", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        path, plan, items, busy_timeout = self._args
        try:
            conn = open_source(str(path), busy_timeout)
            try:
                reads, digests = source_digests(conn, items)
                whole = len(items) == len(plan.item_types)
                rows = all_rows(conn, plan, reads, digests) if whole and not self._cancelled.is_set() else None
                self._result = (reads, digests, rows)
            finally:
                conn.close()
        except Exception as exc:  # noqa: BLE001 - raised in the caller's thread by result()
            self._error = exc

    def result(self) -> tuple[dict[str, frozenset[str]], dict[str, str], list[TableRows] | None]:
        """Reads per item type, table digests, row digests (None unless the whole plan was selected)."""
        self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._result is not None
        return self._result

    def cancel(self) -> None:
        """The run failed: the digests are not needed (the thread ends after the table it is reading)."""
        self._cancelled.set()


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
