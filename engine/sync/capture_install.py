"""Opt-in change capture, the write side: install, remove and prune the change log and its triggers.

These functions change the source: they take the connection of
``sqlite2ddb.extract.capture_log.open_source_for_capture``, which only the
``capture`` commands open, on the user's explicit request. Each runs in one
``BEGIN IMMEDIATE`` transaction: the source has all of it or none of it.

Positions: the log's ``seq`` is AUTOINCREMENT, started at the install's time
in microseconds, so a log installed again (after ``capture remove``) never
hands out a position an earlier log did. ``base`` (in the capture's own
table) is the position the log is complete from; ``read_changes`` refuses a
position before it. Adding a table to the capture and pruning both move it.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlite2ddb.errors import SourceError
from sqlite2ddb.extract.capture_log import LOG_TABLE, META_TABLE, TRIGGER_PREFIX, is_capture_table
from sqlite2ddb.sync.capture import existing_triggers, key_columns, log_positions, recorded_triggers

NOW = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')"
OPERATIONS = ("insert", "update", "delete")


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


@contextmanager
def immediate(conn: sqlite3.Connection) -> Iterator[None]:
    """One write transaction, taken at once (``BEGIN IMMEDIATE``), rolled back on any error."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _key(side: str, columns: tuple[str, ...]) -> str:
    return " || ',' || ".join(f"quote({side}.{quote(c)})" for c in columns)


def trigger_statements(conn: sqlite3.Connection, table: str) -> dict[str, str]:
    """Trigger name -> its CREATE TRIGGER statement, one per operation, for one table."""
    columns = key_columns(conn, table)
    new, old = _key("NEW", columns), _key("OLD", columns)
    log = f"INSERT INTO {quote(LOG_TABLE)}(tbl, op, key, at)"
    bodies = {
        "insert": f"{log} VALUES ({literal(table)}, 'insert', {new}, {NOW});",
        "update": (
            f"{log} VALUES ({literal(table)}, 'update', {old}, {NOW}); "
            f"{log} SELECT {literal(table)}, 'update', {new}, {NOW} WHERE ({new}) IS NOT ({old});"
        ),
        "delete": f"{log} VALUES ({literal(table)}, 'delete', {old}, {NOW});",
    }
    statements = {}
    for op in OPERATIONS:
        name = f"{TRIGGER_PREFIX}{table}_{op}"
        statements[name] = f"CREATE TRIGGER {quote(name)} AFTER {op.upper()} ON {quote(table)} BEGIN {bodies[op]} END"
    return statements | _replace_statements(conn, table, columns)


def unique_columns(conn: sqlite3.Connection, table: str) -> list[tuple[tuple[str, str], ...]]:
    """(column, collation) of each UNIQUE index but the primary key's; indexes on expressions are left out."""
    found = []
    for index, unique, origin in conn.execute('SELECT name, "unique", origin FROM pragma_index_list(?)', (table,)):
        if not unique or origin == "pk":
            continue
        columns = conn.execute("SELECT name, coll FROM pragma_index_xinfo(?) WHERE key", (index,)).fetchall()
        if columns and all(name is not None for name, _ in columns):
            found.append(tuple((name, coll or "BINARY") for name, coll in columns))
    return found


def _replace_statements(conn: sqlite3.Connection, table: str, columns: tuple[str, ...]) -> dict[str, str]:
    """BEFORE INSERT/UPDATE triggers logging the rows a write conflicts with on a UNIQUE constraint.

    ``INSERT OR REPLACE`` (or ``ON CONFLICT REPLACE``) deletes such a row without firing its DELETE
    trigger (unless the application sets ``recursive_triggers``): its key is logged before the write.
    A write that fails or ignores the conflict logs a key that did not change, which costs a render, no more.
    """
    uniques = unique_columns(conn, table)
    if not uniques:
        return {}
    own = _key(quote(table), columns)
    clash = " OR ".join(
        "(" + " AND ".join(f"{quote(c)} COLLATE {quote(coll)} = NEW.{quote(c)}" for c, coll in unique) + ")"
        for unique in uniques
    )
    found = f"INSERT INTO {quote(LOG_TABLE)}(tbl, op, key, at) SELECT {literal(table)}, 'replace', {own}, {NOW} "
    found += f"FROM {quote(table)} WHERE ({clash})"
    statements = {}
    for op, suffix, extra in (
        ("INSERT", "ireplace", ""),
        ("UPDATE", "ureplace", f" AND ({own}) IS NOT ({_key('OLD', columns)})"),
    ):
        name = f"{TRIGGER_PREFIX}{table}_{suffix}"
        statements[name] = f"CREATE TRIGGER {quote(name)} BEFORE {op} ON {quote(table)} BEGIN {found}{extra}; END"
    return statements


@dataclass
class InstallReport:
    tables: list[str]
    created: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    base: int = 0

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _check_tables(conn: sqlite3.Connection, tables: Iterable[str]) -> list[str]:
    wanted = sorted(t for t in set(tables) if not is_capture_table(t))
    for table in wanted:
        row = conn.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)).fetchone()
        if row is None:
            raise SourceError(f"table {table} is not in the source")
        if (row[0] or "").lstrip().upper().startswith("CREATE VIRTUAL"):
            raise SourceError(f"table {table} is a virtual table: triggers cannot capture its changes")
    return wanted


def _create_log(conn: sqlite3.Connection) -> None:
    """The log and the capture's own table; the log's positions start at the time in microseconds."""
    conn.execute(
        f"CREATE TABLE {quote(LOG_TABLE)} (seq INTEGER PRIMARY KEY AUTOINCREMENT, tbl TEXT NOT NULL, "
        "op TEXT NOT NULL, key TEXT NOT NULL, at TEXT NOT NULL)"
    )
    conn.execute(f"CREATE TABLE IF NOT EXISTS {quote(META_TABLE)} (name TEXT PRIMARY KEY, value)")
    start = time.time_ns() // 1000
    conn.execute("INSERT INTO sqlite_sequence(name, seq) VALUES (?, ?)", (LOG_TABLE, start))
    conn.execute(f"INSERT OR REPLACE INTO {quote(META_TABLE)} VALUES ('base', ?)", (start,))
    conn.execute(f"INSERT OR REPLACE INTO {quote(META_TABLE)} VALUES ('installed_at', {NOW})")


def install(conn: sqlite3.Connection, tables: Iterable[str]) -> InstallReport:
    """Add the log and the triggers on ``tables``; what is already installed, as installed, is kept.

    Refuses (changing nothing) when a trigger of a name it would use exists and was not created by it.
    """
    with immediate(conn):
        report = InstallReport(_check_tables(conn, tables))
        existing = {name: sql for name, (_, sql) in existing_triggers(conn).items()}
        recorded = recorded_triggers(conn)
        wanted = {name: sql for table in report.tables for name, sql in trigger_statements(conn, table).items()}
        for name in wanted:
            if name in existing and recorded.get(name) != existing[name]:
                raise SourceError(
                    f"trigger {name} already exists in the source and 'capture install' did not create it: "
                    "not replacing it",
                    "rename or drop that trigger, then install again",
                )
        present = _capture_tables(conn)
        if len(present) == 1:
            raise SourceError(
                f"table {present[0]} exists in the source and 'capture install' did not create it "
                "(the capture's other table is missing): not using it",
                "rename or drop that table, then install again",
            )
        fresh = not present
        if fresh:
            _create_log(conn)
        for name, sql in wanted.items():
            if existing.get(name) == sql:
                report.kept.append(name)
                continue
            if name in existing:  # capture's own, for a key that changed since
                conn.execute(f"DROP TRIGGER {quote(name)}")
            conn.execute(sql)
            conn.execute(f"INSERT OR REPLACE INTO {quote(META_TABLE)} VALUES (?, ?)", (f"trigger {name}", sql))
            report.created.append(name)
        if report.created and not fresh:
            _restart_base(conn)
        report.base = log_positions(conn)[0]
    return report


def _restart_base(conn: sqlite3.Connection) -> None:
    """Triggers were added to a running log: their tables' earlier changes are not in it, so no position
    handed out so far may be read from. The log skips one position and is complete from there."""
    newest = log_positions(conn)[1]
    sequence = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = ?", (LOG_TABLE,)).fetchone()
    base = max(newest, int(sequence[0]) if sequence else 0) + 1
    conn.execute("UPDATE sqlite_sequence SET seq = ? WHERE name = ?", (base, LOG_TABLE))
    conn.execute(f"UPDATE {quote(META_TABLE)} SET value = ? WHERE name = 'base'", (base,))


@dataclass
class RemoveReport:
    dropped: list[str] = field(default_factory=list)
    left: list[str] = field(default_factory=list)  # capture's names, changed by someone else since: not dropped
    log_rows: int = 0
    installed: bool = False

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def remove(conn: sqlite3.Connection) -> RemoveReport:
    """Drop the capture's triggers (those still as it created them), the log and the capture's table."""
    report = RemoveReport()
    with immediate(conn):
        existing = {name: sql for name, (_, sql) in existing_triggers(conn).items()}
        for name, sql in sorted(recorded_triggers(conn).items()):
            if existing.get(name) == sql:
                conn.execute(f"DROP TRIGGER {quote(name)}")
                report.dropped.append(name)
            elif name in existing:
                report.left.append(name)
        report.installed = len(_capture_tables(conn)) == 2
        if report.installed:  # one of them alone is not the capture's: it is left
            report.log_rows = int(conn.execute(f"SELECT count(*) FROM {quote(LOG_TABLE)}").fetchone()[0])
            conn.execute(f"DROP TABLE {quote(LOG_TABLE)}")
            conn.execute(f"DROP TABLE {quote(META_TABLE)}")
    return report


def _capture_tables(conn: sqlite3.Connection) -> list[str]:
    """The capture's tables present in the source: both when installed."""
    rows = conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name IN (?, ?) ORDER BY name", (LOG_TABLE, META_TABLE)
    )
    return [name for (name,) in rows]


def prune(conn: sqlite3.Connection, consumed: int | None) -> int:
    """Delete the log rows up to ``consumed`` (the state's position), never beyond; the rows deleted."""
    if consumed is None:  # no sync recorded a position: every row may still be needed
        return 0
    with immediate(conn):
        base, newest = log_positions(conn)
        if consumed > newest:
            raise SourceError(
                f"the state's position {consumed} is ahead of the change log (newest {newest}): "
                "it belongs to another log; not pruning"
            )
        deleted = conn.execute(f"DELETE FROM {quote(LOG_TABLE)} WHERE seq <= ?", (consumed,)).rowcount
        if consumed > base:
            conn.execute(f"UPDATE {quote(META_TABLE)} SET value = ? WHERE name = 'base'", (consumed,))
    return int(deleted)
