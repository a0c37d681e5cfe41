"""The names of the change capture's objects in the source, and the one connection that may write the source.

``capture install`` (on the user's explicit request, and nothing else) adds a
change-log table, a small table describing it, and triggers to the source.
Every other reader opens the source read-only (``sqlite2ddb.extract.source``)
and passes over these tables: scaffold does not map them, the source digests
do not read them, ``info`` does not list them.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from sqlite2ddb.errors import SourceError
from sqlite2ddb.extract.failures import LOCKED_HINT, is_locked
from sqlite2ddb.extract.guard import NamedNulls, authorize, chained
from sqlite2ddb.extract.source import BUSY_TIMEOUT_S, open_source

#: Every object the capture adds to the source is named with this prefix.
PREFIX = "_sqlite2ddb_"
#: One row per change: ``seq`` (the log position), table, operation, key (SQL literals), time.
LOG_TABLE = f"{PREFIX}changes"
#: What the capture installed: the position the log is complete from, and each trigger with its SQL.
META_TABLE = f"{PREFIX}capture"
TRIGGER_PREFIX = f"{PREFIX}capture_"


def is_capture_table(name: str) -> bool:
    """A table the change capture added (never mapped, digested or listed as the application's)."""
    return name.startswith(PREFIX)


def capture_tables_read(conn: sqlite3.Connection, sql: str) -> list[str]:
    """The capture's tables a statement reads (none for a mapping's query: they are not the application's data)."""
    found: set[str] = set()

    def note(action: int, arg1: str | None, *_: object) -> None:
        if action == sqlite3.SQLITE_READ and arg1 and is_capture_table(arg1):
            found.add(arg1)

    conn.set_authorizer(chained(note))
    try:
        conn.execute(f"EXPLAIN {sql.strip().rstrip(';')}", NamedNulls()).fetchall()
    finally:
        conn.set_authorizer(authorize)
    return sorted(found)


def open_source_for_capture(path: str | os.PathLike[str], busy_timeout: float = BUSY_TIMEOUT_S) -> sqlite3.Connection:
    """Open the source READ-WRITE: only for ``capture install``, ``capture remove`` and ``capture prune``.

    The one exception to the read-only rule, made on the user's explicit request. The file is first
    checked as every reader checks it (``open_source``); transactions are left to the caller
    (``isolation_level=None``: each change runs inside an explicit ``BEGIN IMMEDIATE``).
    """
    open_source(path, busy_timeout).close()  # a missing, empty or foreign file is said as for any reader
    try:
        conn = sqlite3.connect(Path(path), timeout=busy_timeout, isolation_level=None, check_same_thread=False)
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.Error as exc:
        if is_locked(exc):
            raise SourceError(
                f"cannot open source database {path} for writing: locked for {busy_timeout:g} s", LOCKED_HINT
            ) from None
        raise SourceError(f"cannot open source database {path} for writing: {exc}") from None
    return conn
