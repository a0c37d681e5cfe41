"""Opt-in change capture, the read side: which source rows changed after a log position.

``capture install`` (``sqlite2ddb.sync.capture_install``) adds to the source a
change-log table (``_sqlite2ddb_changes``) and AFTER INSERT/UPDATE/DELETE
triggers on every table the mapping set reads. Each write of the application
adds a row: ``seq`` (the log position, increasing in commit order: SQLite has
one writer at a time), the table, the operation, and the row's key as SQL
literals (``quote()`` of each primary-key column, or of the rowid when the
table declares no primary key). An UPDATE that changes the key logs the old
and the new key.

``read_changes`` reads the log through the ordinary read-only connection. It
raises ``CaptureGap`` when the log cannot answer for a position (not
installed, pruned past it, or reinstalled since): the caller then reads the
source in full. A caller reads the log *before* it reads the rows the log
names, so that a change committed in between is read again next time, never
missed; and records the new position (``record_position``) only once the
writes it covers are acknowledged.
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass, field
from typing import Any

from sqlite2ddb.errors import CaptureGap, SourceError
from sqlite2ddb.extract.capture_log import LOG_TABLE, META_TABLE, TRIGGER_PREFIX, is_capture_table
from sqlite2ddb.plan.compile import ItemTypePlan
from sqlite2ddb.state import consumed_position, record_position
from sqlite2ddb.state.snapshot import table_digest, tables_read

__all__ = [
    "LOG_TABLE",
    "META_TABLE",
    "CaptureGap",
    "CaptureStatus",
    "LiveCapture",
    "capture_status",
    "consumed_position",
    "current_position",
    "decode_key",
    "is_capture_table",
    "key_columns",
    "read_changes",
    "record_position",
]

#: One SQL literal as ``quote()`` writes it, and the comma after it.
_LITERAL = re.compile(
    r"\s*(?:(?P<null>NULL)|X'(?P<blob>[0-9A-Fa-f]*)'|'(?P<text>(?:[^']|'')*)'|(?P<inf>-?Inf)"
    r"|(?P<number>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?))\s*(?:,|$)"
)


def decode_key(text: str) -> tuple[Any, ...]:
    """``1,'a''b',X'00FF'`` -> ``(1, "a'b", b"\\x00\\xff")``: the key a trigger logged, as sqlite3 returns the values."""
    values: list[Any] = []
    position = 0
    while position < len(text):
        match = _LITERAL.match(text, position)
        if not match or match.end() == position:
            raise CaptureGap(f"the change log holds a key it did not write: {text!r}")
        position = match.end()
        if match["null"]:
            values.append(None)
        elif match["blob"] is not None:
            values.append(bytes.fromhex(match["blob"]))
        elif match["text"] is not None:
            values.append(match["text"].replace("''", "'"))
        elif match["inf"]:
            values.append(float(match["inf"].replace("Inf", "inf")))
        else:
            number = match["number"]
            values.append(float(number) if any(c in number for c in ".eE") else int(number))
    return tuple(values)


def key_columns(conn: sqlite3.Connection, table: str) -> tuple[str, ...]:
    """The columns a key ``read_changes`` gives for ``table`` holds, in order: the declared primary key's,
    or the rowid (under a name no column has, ``rowid`` unless a column has it) when none."""
    info = conn.execute("SELECT name, pk FROM pragma_table_info(?)", (table,)).fetchall()
    if not info:
        raise SourceError(f"table {table} is not in the source")
    primary = tuple(name for name, pk in sorted((r for r in info if r[1]), key=lambda r: r[1]))
    if primary:
        return primary
    names = {name.lower() for name, _ in info}
    for alias in ("rowid", "_rowid_", "oid"):
        if alias not in names:
            return (alias,)
    raise SourceError(f"table {table} has no primary key and columns named rowid, _rowid_ and oid: cannot key it")


def installed(conn: sqlite3.Connection) -> bool:
    """Whether the source holds the change log and its record (``capture install`` ran)."""
    found = conn.execute(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN (?, ?)", (LOG_TABLE, META_TABLE)
    ).fetchone()[0]
    return found == 2


def log_positions(conn: sqlite3.Connection) -> tuple[int, int]:
    """The position the log is complete from (every change after it is in the log), and the newest."""
    if not installed(conn):
        raise CaptureGap("change capture is not installed in the source", "run 'capture install'")
    base = conn.execute(f"SELECT value FROM \"{META_TABLE}\" WHERE name = 'base'").fetchone()
    if base is None:
        raise CaptureGap(f"the change log's start is not recorded in {META_TABLE}", "run 'capture install'")
    newest = conn.execute(f'SELECT max(seq) FROM "{LOG_TABLE}"').fetchone()[0]
    return int(base[0]), max(int(base[0]), int(newest or 0))


def current_position(conn: sqlite3.Connection) -> int:
    """The newest log position: a full read of the source started after this call covers every change up to it."""
    return log_positions(conn)[1]


def read_changes(conn: sqlite3.Connection, since: int) -> tuple[dict[str, set[tuple[Any, ...]]], int]:
    """Table -> primary-key tuples (rowid tuples for tables without one) written after log position ``since``,
    and the new position.

    Inserted, updated and deleted rows alike; an UPDATE that changed the key gives the old and the new key.
    The log is read in one read transaction (the caller's, if one is open). Raises ``CaptureGap`` when the
    log does not hold every change after ``since``.
    """
    own = not conn.in_transaction
    if own:
        conn.execute("BEGIN")
    try:
        base, newest = log_positions(conn)
        _check_triggers(conn)
        if since < base:
            raise CaptureGap(
                f"the change log holds the changes after position {base}, not those after {since} "
                "(pruned, reinstalled, or a table added to the capture since)",
                "a sync reading the whole source catches up",
            )
        if since > newest:
            raise CaptureGap(f"position {since} is ahead of the change log (newest {newest}): not from this log")
        changes: dict[str, set[tuple[Any, ...]]] = {}
        position = since
        rows = conn.execute(f'SELECT seq, tbl, key FROM "{LOG_TABLE}" WHERE seq > ? ORDER BY seq', (since,))
        for seq, table, key in rows:
            changes.setdefault(table, set()).add(decode_key(key))
            position = seq
        return changes, position
    finally:
        if own:
            conn.execute("COMMIT")


def _check_triggers(conn: sqlite3.Connection) -> None:
    """Every trigger ``capture install`` created is still there, as created: else changes went unlogged."""
    existing = existing_triggers(conn)
    for name, sql in recorded_triggers(conn).items():
        if existing.get(name, ("", ""))[1] != sql:
            raise CaptureGap(
                f"trigger {name} was dropped or changed since 'capture install': the log may miss changes",
                "run 'capture install' again",
            )


@dataclass
class CaptureStatus:
    """What ``capture status`` tells: the triggers, the log's size and positions."""

    installed: bool
    triggers: list[dict[str, str]] = field(default_factory=list)  # name, table, state (installed/changed)
    foreign: list[str] = field(default_factory=list)  # triggers with our prefix that capture did not create
    rows: int = 0
    base: int | None = None
    oldest: int | None = None
    newest: int | None = None

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def recorded_triggers(conn: sqlite3.Connection) -> dict[str, str]:
    """Trigger name -> the SQL ``capture install`` created it with (empty when not installed)."""
    if not installed(conn):
        return {}
    rows = conn.execute(f"SELECT name, value FROM \"{META_TABLE}\" WHERE name LIKE 'trigger %'")
    return {name.removeprefix("trigger "): sql for name, sql in rows}


def existing_triggers(conn: sqlite3.Connection) -> dict[str, tuple[str, str]]:
    """Triggers named with the capture's prefix: name -> (table, SQL)."""
    rows = conn.execute(
        "SELECT name, tbl_name, sql FROM sqlite_master WHERE type = 'trigger' AND substr(name, 1, ?) = ?",
        (len(TRIGGER_PREFIX), TRIGGER_PREFIX),
    )
    return {name: (table, sql) for name, table, sql in rows}


def capture_status(conn: sqlite3.Connection) -> CaptureStatus:
    """The capture's triggers and log, read through a read-only connection."""
    existing = existing_triggers(conn)
    recorded = recorded_triggers(conn)
    status = CaptureStatus(installed=installed(conn))
    for name, (table, sql) in sorted(existing.items()):
        if name not in recorded:
            status.foreign.append(name)
        else:
            state = "installed" if recorded[name] == sql else "changed since install (not capture's)"
            status.triggers.append({"name": name, "table": table, "state": state})
    status.triggers += [
        {"name": name, "table": "?", "state": "missing (dropped since install)"}
        for name in sorted(set(recorded) - set(existing))
    ]
    if status.installed:
        status.base, status.newest = log_positions(conn)
        count, oldest = conn.execute(f'SELECT count(*), min(seq) FROM "{LOG_TABLE}"').fetchone()
        status.rows, status.oldest = int(count), oldest
    return status


class LiveCapture:
    """A catch-up that reads the live source, not a copy of it: the capture log says which rows changed.

    Opened on the source's read-only connection, it begins ONE read
    transaction that stays open for the whole sync, so the log and every row
    read after it are the same moment of the source (SQLite's isolation).
    Nothing reads the whole source: a table's digest is the one the last run
    recorded when the log holds no change of it, else one naming the log
    position (it differs from any content digest, so a later sync without
    the capture reads that table's rows again; the row digests stay exact).
    Raises ``CaptureGap`` when the log cannot answer from ``since``.
    """

    how = "capture log"

    def __init__(self, conn: sqlite3.Connection, since: int | None, recorded: dict[str, str]) -> None:
        if since is None:
            raise CaptureGap("no complete run has read the change log yet")
        if conn.in_transaction:
            conn.execute("COMMIT")
        conn.execute("BEGIN")  # held until the connection closes: the sync's one moment of the source
        self.changes, self._position = read_changes(conn, since)
        self.recorded = recorded

    def digests(
        self, conn: sqlite3.Connection, items: list[ItemTypePlan]
    ) -> tuple[dict[str, frozenset[str]], dict[str, str]]:
        """What ``source_digests`` gives, from the log: the tables each item type reads, and their digests."""
        reads = {item.name: tables_read(conn, item) for item in items}
        digests = {}
        for table in sorted(set().union(*reads.values())):
            if table in self.changes:
                digests[table] = f"capture log {self._position}"
            elif table in self.recorded:
                digests[table] = self.recorded[table]
            else:  # never recorded (a table a mapping change added): its content, this once
                digests[table] = table_digest(conn, table)
        return reads, digests

    def changed_keys(
        self, conn: sqlite3.Connection, tables: list[str], store: Any
    ) -> dict[str, set[tuple[Any, ...]]] | None:
        return {t: set(self.changes.get(t, set())) for t in tables}

    def position(self) -> int | None:
        return self._position
