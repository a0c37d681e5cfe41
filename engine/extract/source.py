"""Streaming reads from the SQLite source, opened read-only.

The item type's query is wrapped so that rows come in cursor order and,
on resume, start after the checkpoint. Child rows for embedding are
fetched for a chunk of parents at a time (never one query per parent).
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlite2ddb.errors import SourceError
from sqlite2ddb.extract.cursor_check import StrictOrder
from sqlite2ddb.extract.failures import LOCKED_HINT, is_locked, source_error
from sqlite2ddb.extract.guard import authorize

Row = dict[str, Any]
FETCH_SIZE = 1000
BUSY_TIMEOUT_S = 10.0


def open_source(path: str | os.PathLike[str], busy_timeout: float = BUSY_TIMEOUT_S) -> sqlite3.Connection:
    """Open the database read-only (``mode=ro``); a write through it fails.

    Every reader of the source opens it here. SQLite's authorizer refuses on the connection whatever
    is not a read (``ATTACH`` and ``VACUUM INTO`` would create other files despite ``mode=ro``).
    """
    file = Path(path)
    if not file.exists():
        raise SourceError(f"source database not found: {file}", "check --source-db or MIGRATION_SOURCE_DB")
    if not file.is_file():
        raise SourceError(f"source database {file} is not a file")
    with open(file, "rb") as handle:
        header = handle.read(16)
    if not header:
        # sqlite3 would open it as an empty database; it is most likely a mistyped path that some tool created
        raise SourceError(f"{file} is empty (0 bytes), not a SQLite database")
    if header != b"SQLite format 3\x00":
        raise SourceError(f"{file} is not a SQLite database (bad header)")
    uri = f"{file.resolve().as_uri()}?mode=ro"
    try:
        conn = sqlite3.connect(uri, uri=True, timeout=busy_timeout, check_same_thread=False)
        conn.execute("PRAGMA query_only = ON")
        conn.set_authorizer(authorize)
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.OperationalError as exc:
        if is_locked(exc):
            raise SourceError(
                f"cannot read source database {file}: locked by another process for {busy_timeout:g} s",
                LOCKED_HINT,
            ) from None
        raise SourceError(f"cannot read source database {file}: {exc}") from exc
    except sqlite3.DatabaseError as exc:
        raise SourceError(f"{file} is not a readable SQLite database: {exc}") from exc
    return conn


def query_columns(conn: sqlite3.Connection, query: str) -> tuple[str, ...]:
    """The column names a query returns, without reading its rows.

    The query is first compiled as written (EXPLAIN runs nothing), so SQLite's
    error points at the user's text rather than at our wrapper around it.
    """
    conn.execute(f"EXPLAIN {_strip(query)}")
    cursor = conn.execute(f"SELECT * FROM {_sub(query)} LIMIT 0")
    return tuple(d[0] for d in cursor.description)


def count_rows(conn: sqlite3.Connection, query: str) -> int:
    return int(conn.execute(f"SELECT count(*) FROM {_sub(query)}").fetchone()[0])


def _strip(query: str) -> str:
    return query.strip().rstrip(";")


def _sub(query: str) -> str:
    """The query as a subquery; on its own lines, so a trailing -- comment stays harmless."""
    return f"(\n{_strip(query)}\n)"


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def ordered_query(
    query: str, cursor: Sequence[str], after: Sequence[Any] | None, upto: Sequence[Any] | None = None
) -> tuple[str, list[Any]]:
    """SQL returning the query's rows in cursor order, after ``after`` and up to ``upto`` (inclusive) if given."""
    columns = ", ".join(_quote(c) for c in cursor)
    sql = f"SELECT * FROM {_sub(query)} AS src"
    conditions: list[str] = []
    params: list[Any] = []
    for bound, op in ((after, ">"), (upto, "<=")):
        if bound is not None:
            placeholders = ", ".join("?" for _ in cursor)
            conditions.append(f"({columns}) {op} ({placeholders})" if len(cursor) > 1 else f"{columns} {op} ?")
            params += list(bound)
    if conditions:
        sql += " WHERE " + " AND ".join(conditions)
    sql += f" ORDER BY {columns}"
    return sql, params


#: Key of a row whose TEXT columns were not valid UTF-8: the names of those columns (see ``keep_row``).
UNDECODABLE = "__undecodable__"


class Undecodable(str):
    """TEXT that is not valid UTF-8, decoded with replacement characters so the row can be named; ``raw``
    holds the bytes as stored."""

    raw: bytes = b""

    def __repr__(self) -> str:
        return f"Undecodable({self.raw!r})"


def _lenient(data: bytes) -> str:
    try:
        return data.decode()
    except UnicodeDecodeError:
        text = Undecodable(data.decode(errors="replace"))
        text.raw = data
        return text


def undecodable(exc: sqlite3.Error) -> bool:
    """SQLite's fast decoding met TEXT that is not valid UTF-8 (the fetch is lost: read again leniently)."""
    return isinstance(exc, sqlite3.OperationalError) and str(exc).startswith("Could not decode to UTF-8")


@contextmanager
def lenient_text(conn: sqlite3.Connection) -> Iterator[None]:
    """Fetches decode TEXT in Python: what is not UTF-8 comes as ``Undecodable``, not as an error."""
    factory, conn.text_factory = conn.text_factory, _lenient
    try:
        yield
    finally:
        conn.text_factory = factory


def stream_rows(
    conn: sqlite3.Connection,
    query: str,
    cursor: Sequence[str],
    after: Sequence[Any] | None = None,
    upto: Sequence[Any] | None = None,
    item_type: str = "?",
) -> Iterator[Row]:
    """Yield the query's rows as dicts, in cursor order, after the checkpoint (and up to ``upto``).

    Every row stream goes through here, so here the cursor is checked to strictly
    increase (``sqlite2ddb.extract.cursor_check``): a duplicate stops the stream before any
    row past it is read, so a checkpoint never lands between two rows of one value.

    TEXT that is not valid UTF-8 makes SQLite's fast decoding fail for a whole
    fetch; the stream then starts again after the last row it gave, decoding
    each value in Python, and marks the rows at fault (``UNDECODABLE``) for
    ``keep_row`` to report as row errors, which ``on_error: skip`` can skip.
    """

    def confirm(previous: Sequence[Any], current: Sequence[Any]) -> bool:
        between, bounds = ordered_query(query, cursor, previous, current)
        return bool(conn.execute(f"SELECT EXISTS ({between})", bounds).fetchone()[0])

    order = StrictOrder(item_type, cursor, confirm)
    try:
        try:
            yield from _ordered_rows(conn, ordered_query(query, cursor, after, upto), cursor, order, lenient=False)
        except sqlite3.OperationalError as exc:
            if not undecodable(exc):
                raise
            start = after if order.previous is None else order.previous
            yield from _ordered_rows(conn, ordered_query(query, cursor, start, upto), cursor, order, lenient=True)
    except sqlite3.Error as exc:
        raise source_error(exc, "reading the source") from None


AMONG_CHUNK = 400  # cursor values per query of ``rows_among``


def rows_among(
    conn: sqlite3.Connection, query: str, cursor: Sequence[str], values: Iterable[Sequence[Any]], item_type: str = "?"
) -> Iterator[Row]:
    """The query's rows whose cursor is one of ``values``: a lookup per chunk of values, each in cursor order.

    Cheap for a few values (SQLite pushes the IN list into the query and uses
    the cursor's index); the rows of each chunk are checked like any stream.
    """
    wanted = sorted({tuple(v) for v in values if None not in v}, key=_sqlite_order)
    columns = ", ".join(_quote(c) for c in cursor)

    def confirm(previous: Sequence[Any], current: Sequence[Any]) -> bool:
        between, bounds = ordered_query(query, cursor, previous, current)
        return bool(conn.execute(f"SELECT EXISTS ({between})", bounds).fetchone()[0])

    for start in range(0, len(wanted), AMONG_CHUNK):
        part = wanted[start : start + AMONG_CHUNK]
        if len(cursor) == 1:
            where = f"{columns} IN ({', '.join('?' for _ in part)})"
        else:
            rows = ", ".join("(" + ", ".join("?" for _ in cursor) + ")" for _ in part)
            where = f"({columns}) IN (VALUES {rows})"
        statement = (
            f"SELECT * FROM {_sub(query)} AS src WHERE {where} ORDER BY {columns}",
            [v for k in part for v in k],
        )
        try:
            try:
                found = list(_ordered_rows(conn, statement, cursor, StrictOrder(item_type, cursor, confirm), False))
            except sqlite3.OperationalError as exc:
                if not undecodable(exc):
                    raise
                found = list(_ordered_rows(conn, statement, cursor, StrictOrder(item_type, cursor, confirm), True))
        except sqlite3.Error as exc:
            raise source_error(exc, "reading the source") from None
        yield from found


def _sqlite_order(values: tuple[Any, ...]) -> tuple[tuple[int, Any], ...]:
    """SQLite's order of values: NULL, numbers, text, blobs."""
    rank = {type(None): 0, int: 1, float: 1, bool: 1, str: 2, bytes: 3}
    return tuple((rank.get(type(v), 2), v if v is not None else 0) for v in values)


def _ordered_rows(
    conn: sqlite3.Connection, statement: tuple[str, list[Any]], cursor: Sequence[str], order: Any, lenient: bool
) -> Iterator[Row]:
    result = conn.execute(*statement)
    names = [d[0] for d in result.description]
    positions = [names.index(c) for c in cursor]
    while True:
        if lenient:
            with lenient_text(conn):
                chunk = result.fetchmany(FETCH_SIZE)
        else:
            chunk = result.fetchmany(FETCH_SIZE)
        if not chunk:
            return
        order.check_chunk(chunk, positions)
        if not lenient:
            for values in chunk:
                yield dict(zip(names, values))
            continue
        for values in chunk:
            row = dict(zip(names, values))
            bad = [name for name, value in zip(names, values) if type(value) is Undecodable]
            if bad:
                row[UNDECODABLE] = bad
            yield row


def split_points(
    conn: sqlite3.Connection, query: str, cursor: Sequence[str], total: int, parts: int
) -> list[list[Any]]:
    """Cursor values cutting the query's rows into ``parts`` ranges of about equal size.

    One pass over the cursor columns in order; returns at most ``parts - 1``
    values, each the last cursor of a range (fewer when the rows are fewer).
    """
    step = total // parts if parts > 1 else 0
    if step < 1:
        return []
    columns = ", ".join(_quote(c) for c in cursor)
    points: list[list[Any]] = []
    try:
        result = conn.execute(f"SELECT {columns} FROM {_sub(query)} AS src ORDER BY {columns}")
        seen = 0
        while len(points) < parts - 1:
            chunk = result.fetchmany(FETCH_SIZE)
            if not chunk:
                break
            for values in chunk:
                seen += 1
                if seen % step == 0 and len(points) < parts - 1:
                    points.append(list(values))
    except sqlite3.Error as exc:
        raise source_error(exc, "reading the source") from None
    return points


def fetch_children(
    conn: sqlite3.Connection,
    query: str,
    child_columns: Sequence[str],
    order_by: Sequence[str],
    parent_keys: Sequence[tuple[Any, ...]],
) -> dict[tuple[Any, ...], list[Row]]:
    """Child rows for a chunk of parent keys, grouped by key, in ``order_by`` order."""
    if not parent_keys:
        return {}
    keys = list(dict.fromkeys(parent_keys))
    width = len(child_columns)
    # The parent keys go in as a VALUES table joined to the children, and each child
    # row comes back with the parent key it matched: grouping by that value keeps
    # SQLite's own comparison rules (INTEGER 1 matches TEXT '1') on both sides.
    parent = [f"__parent_{i}" for i in range(width)]
    values = ", ".join("(" + ", ".join("?" for _ in range(width)) + ")" for _ in keys)
    on = " AND ".join(f"child.{_quote(c)} = keys.{p}" for c, p in zip(child_columns, parent))
    order = ", ".join([f"keys.{p}" for p in parent] + [f"child.{_quote(c)}" for c in order_by])
    sql = (
        f"WITH keys({', '.join(parent)}) AS (VALUES {values}) "
        f"SELECT child.*, {', '.join(f'keys.{p} AS {p}' for p in parent)} "
        f"FROM keys JOIN {_sub(query)} AS child ON {on} ORDER BY {order}"
    )
    params = [v for k in keys for v in k]
    grouped: dict[tuple[Any, ...], list[Row]] = {}
    try:
        result = conn.execute(sql, params)
        names = [d[0] for d in result.description][:-width]
        for values_row in result:
            key = tuple(values_row[-width:])
            grouped.setdefault(key, []).append(dict(zip(names, values_row[:-width])))
    except sqlite3.Error as exc:
        raise source_error(exc, "reading child rows") from None
    return grouped
