"""The source is only ever read: SQLite's authorizer on every connection, and a check of each statement.

``mode=ro`` and ``PRAGMA query_only`` keep the source file itself unchanged
(SQLite refuses with "attempt to write a readonly database"), but they do not
stop a statement from creating other files: ``ATTACH DATABASE '/x.db'`` and
``VACUUM INTO '/y.db'`` (which attaches its output file) do. ``authorize`` is
installed by ``extract.open_source`` on every connection to the source and
refuses that, before the file is made.

``refusal`` is stricter, for ``plan``: it tells, before anything runs, why one
statement of a mapping is not a plain read. SQLite compiles it under a
recording authorizer (``EXPLAIN`` runs nothing), and the compiled program is
searched for the opcodes of statements the authorizer is never asked about
(``VACUUM``).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

#: Actions a read needs. ``UPDATE`` of the schema table is asked for, at compile time only, when
#: SQLite sets up a table-valued pragma (``pragma_table_info``); it cannot write through ``mode=ro``.
READ_ACTIONS = frozenset(
    {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION, sqlite3.SQLITE_RECURSIVE}
)
SCHEMA_TABLES = frozenset({"sqlite_master", "sqlite_schema"})
#: Pragmas whose argument names what to read, not a value to set.
READ_PRAGMAS = frozenset(
    {
        "table_info",
        "table_xinfo",
        "table_list",
        "index_list",
        "index_info",
        "index_xinfo",
        "foreign_key_list",
        "foreign_key_check",
        "integrity_check",
        "quick_check",
    }
)
#: Pragmas that act without an argument.
ACTION_PRAGMAS = frozenset({"wal_checkpoint", "optimize", "incremental_vacuum", "shrink_memory"})
#: Settings of the connection itself that the engine sets (never the database's content).
ENGINE_PRAGMAS = frozenset({"cache_size"})
#: Opcodes of a statement that writes, found in its compiled program (what sqlite3_stmt_readonly looks at).
WRITE_OPCODES = frozenset({"Vacuum", "IncrVacuum", "JournalMode", "OpenWrite", "VUpdate", "CreateBtree", "Destroy"})

_NAMES = {
    getattr(sqlite3, name): name.removeprefix("SQLITE_").replace("_", " ")
    for name in [
        "SQLITE_ATTACH",
        "SQLITE_DETACH",
        "SQLITE_INSERT",
        "SQLITE_UPDATE",
        "SQLITE_DELETE",
        "SQLITE_PRAGMA",
        "SQLITE_TRANSACTION",
        "SQLITE_SAVEPOINT",
        "SQLITE_ALTER_TABLE",
        "SQLITE_REINDEX",
        "SQLITE_ANALYZE",
        "SQLITE_CREATE_TABLE",
        "SQLITE_CREATE_INDEX",
        "SQLITE_CREATE_VIEW",
        "SQLITE_CREATE_TRIGGER",
        "SQLITE_CREATE_TEMP_TABLE",
        "SQLITE_CREATE_TEMP_INDEX",
        "SQLITE_CREATE_TEMP_VIEW",
        "SQLITE_CREATE_TEMP_TRIGGER",
        "SQLITE_CREATE_VTABLE",
        "SQLITE_DROP_TABLE",
        "SQLITE_DROP_INDEX",
        "SQLITE_DROP_VIEW",
        "SQLITE_DROP_TRIGGER",
        "SQLITE_DROP_TEMP_TABLE",
        "SQLITE_DROP_TEMP_INDEX",
        "SQLITE_DROP_TEMP_VIEW",
        "SQLITE_DROP_TEMP_TRIGGER",
        "SQLITE_DROP_VTABLE",
    ]
}


def allowed(action: int, arg1: str | None, arg2: str | None) -> bool:
    """True for what a read of the source may do."""
    if action in READ_ACTIONS:
        return True
    if action == sqlite3.SQLITE_UPDATE:
        return arg1 in SCHEMA_TABLES
    if action == sqlite3.SQLITE_PRAGMA:
        name = (arg1 or "").lower()
        if arg2 is None:
            return name not in ACTION_PRAGMAS
        return name in READ_PRAGMAS or name in ENGINE_PRAGMAS
    return False


def authorize(action: int, arg1: str | None, arg2: str | None, _db: str | None, _trigger: str | None) -> int:
    """The authorizer of every source connection: no other database file is opened (or created) through it.

    Writes to the source itself are left to ``mode=ro`` and ``query_only``, whose refusal names the
    cause; a temporary or in-memory database (``''``, ``:memory:``, what plain ``VACUUM`` attaches) is no file.
    """
    if action == sqlite3.SQLITE_ATTACH and arg1 not in ("", ":memory:"):
        return sqlite3.SQLITE_DENY
    return sqlite3.SQLITE_OK


def describe(action: int, arg1: str | None, arg2: str | None) -> str:
    """``ATTACH '/tmp/x.db'``, ``PRAGMA user_version = 5``: what a statement asked for, for a person."""
    what = _NAMES.get(action, f"action {action}")
    if action == sqlite3.SQLITE_PRAGMA:
        return f"PRAGMA {arg1}" + (f" = {arg2}" if arg2 is not None else "")
    if action == sqlite3.SQLITE_ATTACH:
        return f"ATTACH {arg1!r}"
    return f"{what} {arg1}" if arg1 else what


class NamedNulls(dict):
    """Parameters for compiling a statement: every ``:name`` is NULL, and its name is noted."""

    def __init__(self) -> None:
        super().__init__()
        self.asked: set[str] = set()

    def __missing__(self, key: str) -> None:
        self.asked.add(key)
        return None


def refusal(conn: sqlite3.Connection, sql: str) -> str | None:
    """Why ``sql`` is not a plain read of the source (None when it is); it runs nothing.

    Other SQLite errors (syntax, unknown table) propagate as ``sqlite3.Error``.
    """
    denied: list[str] = []

    def record(action: int, arg1: str | None, arg2: str | None, db: str | None, trigger: str | None) -> int:
        if allowed(action, arg1, arg2):
            return sqlite3.SQLITE_OK
        denied.append(describe(action, arg1, arg2))
        return sqlite3.SQLITE_DENY

    conn.set_authorizer(record)
    try:
        program = conn.execute(f"EXPLAIN {sql.strip().rstrip(';')}", NamedNulls()).fetchall()
    except sqlite3.DatabaseError:
        if denied:
            return f"{denied[0]} is not allowed: the source is only read"
        raise
    finally:
        conn.set_authorizer(authorize)
    writes = sorted({row[1] for row in program} & WRITE_OPCODES)
    if writes:
        return f"it writes ({', '.join(writes)}), and the source is only read"
    return None


def parameter_names(conn: sqlite3.Connection, sql: str) -> frozenset[str]:
    """The ``:name`` parameters a statement uses (the names sqlite3 asks for when binding them)."""
    params = NamedNulls()
    conn.execute(f"EXPLAIN {sql.strip().rstrip(';')}", params).fetchall()
    return frozenset(params.asked)


def chained(extra: Callable[[int, Any, Any, Any, Any], Any]) -> Callable[[int, Any, Any, Any, Any], int]:
    """An authorizer that lets ``extra`` see each request, then answers as ``authorize`` does."""

    def both(action: int, arg1: Any, arg2: Any, db: Any, trigger: Any) -> int:
        extra(action, arg1, arg2, db, trigger)
        return authorize(action, arg1, arg2, db, trigger)

    return both
