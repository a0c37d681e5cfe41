"""What a catch-up needs to find the items a change reaches: row digests and which rows rendered which keys.

One SQLite file in the state folder (``catchup.sqlite``):

- ``source_tables``: per source table, the content digest and the columns
  watched (join and cursor columns) as of the last complete run;
- ``row_digests``: per row of those tables (keyed by primary key, or rowid
  when none is declared), a digest of the row and the values of its watched
  columns, so a row that moved (a track to another album) leads to its old
  parent too;
- ``rendered``: which keys each cursor value of an item type rendered. It is
  written as rows are rendered, before their items are written (a superset
  is harmless: only keys the fingerprint store holds are compared), so a key
  DynamoDB holds is always found from the row that rendered it;
- ``item_types``: the item types whose ``rendered`` entries are complete, with
  the digest of the mapping they were rendered with;
- ``meta``: the change-log position of the capture, when one is used.

Row digests and positions advance only in ``commit``, called once every
write of the run was acknowledged: a killed catch-up leaves them as they
were, and the next one finds the same changes again (and finishes them).
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from sqlite2ddb.state.disk import state_write

FILE_NAME = "catchup.sqlite"
FLUSH_EVERY = 2000

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS source_tables (tbl TEXT PRIMARY KEY, digest TEXT NOT NULL, watched TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS row_digests (tbl TEXT NOT NULL, key TEXT NOT NULL, digest TEXT NOT NULL, "
    "vals TEXT NOT NULL, PRIMARY KEY (tbl, key)) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS rendered (item_type TEXT NOT NULL, cursor TEXT NOT NULL, key TEXT NOT NULL, "
    "run TEXT NOT NULL, PRIMARY KEY (item_type, cursor, key)) WITHOUT ROWID",
    "CREATE INDEX IF NOT EXISTS rendered_key ON rendered (key)",
    "CREATE TABLE IF NOT EXISTS item_types (item_type TEXT PRIMARY KEY, spec TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value)",
)


def new_run() -> str:
    return time.strftime("%Y%m%dT%H%M%S", time.gmtime()) + f".{time.time_ns() % 10**9:09d}.{os.getpid()}"


class TableRows:
    """The new row digests of one table, to record at the commit: all of them (``whole``) or those changed."""

    def __init__(self, table: str, digest: str, watched: list[str], whole: bool) -> None:
        self.table = table
        self.digest = digest
        self.watched = watched
        self.whole = whole
        self.rows: list[tuple[str, str, str]] = []  # (key, digest, vals)
        self.gone: list[str] = []


class CatchupStore:
    """The catch-up state of one configuration; ``note_rendered`` is safe across threads."""

    def __init__(self, path: Path) -> None:
        with state_write(path.parent, f"the catch-up store {path.name}"):
            path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            for statement in _SCHEMA:
                self.db.execute(statement)
        self.path = path
        self._lock = threading.Lock()
        self._pending: list[tuple[str, str, str, str]] = []

    @classmethod
    def of(cls, state_dir: Path) -> CatchupStore:
        return cls(state_dir / FILE_NAME)

    def close(self) -> None:
        self.flush()
        with self._lock:
            self.db.close()

    def __enter__(self) -> CatchupStore:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- which rows rendered which keys --------------------------------------------
    def note_rendered(self, item_type: str, run: str, entries: Iterable[tuple[str, str]]) -> None:
        """(cursor text, key text) pairs rendered by this run; written in batches (``flush`` before writing)."""
        with self._lock:
            self._pending += [(item_type, cursor, key, run) for cursor, key in entries]
            full = len(self._pending) >= FLUSH_EVERY
        if full:
            self.flush()

    def flush(self) -> None:
        with self._lock:
            rows, self._pending = self._pending, []
            if rows:
                self._transaction("INSERT OR REPLACE INTO rendered VALUES (?, ?, ?, ?)", rows)

    def complete_types(self) -> dict[str, str]:
        """Item types whose rendered keys are all recorded, with their mapping digest."""
        with self._lock:
            return dict(self.db.execute("SELECT item_type, spec FROM item_types"))

    def keys_of(self, item_type: str, cursors: Iterable[str]) -> dict[str, set[tuple[str, str]]]:
        """Key -> every (item type, cursor) recorded for it, for the keys these cursors rendered."""
        wanted = list(cursors)
        found: dict[str, set[tuple[str, str]]] = {}
        with self._lock:
            for start in range(0, len(wanted), 500):
                part = wanted[start : start + 500]
                marks = ", ".join("?" for _ in part)
                rows = self.db.execute(
                    "SELECT r.key, o.item_type, o.cursor FROM rendered r JOIN rendered o ON o.key = r.key "
                    f"WHERE r.item_type = ? AND r.cursor IN ({marks})",
                    [item_type, *part],
                ).fetchall()
                for key, owner_type, owner_cursor in rows:
                    found.setdefault(key, set()).add((owner_type, owner_cursor))
        return found

    # -- row digests ------------------------------------------------------------------
    def table_state(self, table: str) -> tuple[str, list[str]] | None:
        with self._lock:
            row = self.db.execute("SELECT digest, watched FROM source_tables WHERE tbl = ?", (table,)).fetchone()
        return (row[0], row[1].split("\x1f") if row[1] else []) if row else None

    def digests(self, table: str) -> dict[str, str]:
        with self._lock:
            return dict(self.db.execute("SELECT key, digest FROM row_digests WHERE tbl = ?", (table,)))

    def values(self, table: str, keys: Iterable[str]) -> dict[str, str]:
        """Key text -> the watched values recorded for it (as their ``repr``)."""
        wanted = list(keys)
        found: dict[str, str] = {}
        with self._lock:
            for start in range(0, len(wanted), 500):
                part = wanted[start : start + 500]
                marks = ", ".join("?" for _ in part)
                found.update(
                    self.db.execute(
                        f"SELECT key, vals FROM row_digests WHERE tbl = ? AND key IN ({marks})", [table, *part]
                    )
                )
        return found

    def position(self, name: str = "capture") -> int | None:
        with self._lock:
            row = self.db.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
        return None if row is None else int(row[0])

    # -- the commit, once every write of the run was acknowledged -----------------------
    def commit(
        self,
        run: str,
        tables: list[TableRows],
        complete: dict[str, str],
        caught_up: dict[str, list[str]],
        position: int | None = None,
        prune: bool = True,
    ) -> None:
        """Advance row digests, rendered keys and the change position together, in one transaction.

        ``complete``: item types rendered in full by this run (their older
        entries go); ``caught_up``: cursors re-rendered per item type (their
        older entries go). ``prune`` False keeps older entries (a resumed
        migration rendered part of its rows in an earlier run).
        """
        self.flush()
        with self._lock, state_write(self.path.parent, f"the catch-up store {self.path.name}"):
            db = self.db
            db.execute("BEGIN")
            try:
                for change in tables:
                    _commit_table(db, change)
                for name, spec in complete.items():
                    if prune:
                        db.execute("DELETE FROM rendered WHERE item_type = ? AND run != ?", (name, run))
                    db.execute("INSERT OR REPLACE INTO item_types VALUES (?, ?)", (name, spec))
                for name, cursors in caught_up.items():
                    db.executemany(
                        "DELETE FROM rendered WHERE item_type = ? AND cursor = ? AND run != ?",
                        [(name, c, run) for c in cursors],
                    )
                if position is not None:
                    db.execute("INSERT OR REPLACE INTO meta VALUES ('capture', ?)", (position,))
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise

    def forget_types(self, names: Iterable[str]) -> None:
        """These item types' rendered keys are no longer complete (a mapping change, a reset)."""
        self._transaction("DELETE FROM item_types WHERE item_type = ?", [(n,) for n in names])

    def _transaction(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        with state_write(self.path.parent, f"the catch-up store {self.path.name}"):
            self.db.execute("BEGIN")
            try:
                self.db.executemany(sql, rows)
                self.db.execute("COMMIT")
            except BaseException:
                if self.db.in_transaction:
                    self.db.execute("ROLLBACK")
                raise


def _commit_table(db: sqlite3.Connection, change: TableRows) -> None:
    if change.whole:
        db.execute("DELETE FROM row_digests WHERE tbl = ?", (change.table,))
    db.executemany(
        "INSERT OR REPLACE INTO row_digests VALUES (?, ?, ?, ?)", [(change.table, *row) for row in change.rows]
    )
    db.executemany("DELETE FROM row_digests WHERE tbl = ? AND key = ?", [(change.table, k) for k in change.gone])
    watched = "\x1f".join(change.watched)
    db.execute("INSERT OR REPLACE INTO source_tables VALUES (?, ?, ?)", (change.table, change.digest, watched))
