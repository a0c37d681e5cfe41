"""What the tool has written: per item, its table, key, item type and a hash of its wire text.

One SQLite file in the state folder (``fingerprints.sqlite``), indexed by
(table, key), on disk, so memory stays flat. An entry is recorded only after
DynamoDB acknowledged the write, before the checkpoint that covers it is
saved, and removed only after an acknowledged delete: a kill can leave the
store behind DynamoDB (the next ``sync`` writes those items again, harmless)
but never ahead of it. ``sync`` and ``plan --diff`` compare what the mapping
renders now with this store (``engine.item_diff`` attaches the file).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

from engine.faults import crash_point
from engine.types import Wire
from engine.canonical import key_of, wire_text

FILE_NAME = "fingerprints.sqlite"


class Fingerprint(NamedTuple):
    key: str  # the primary key as sorted JSON, e.g. {"PK": "ALBUM#1", "SK": "A"}
    item_type: str
    hash: str
    text: str  # the item as JSON: what changed is told from it (stored compressed)


def fingerprint(item: dict[str, Wire], keys: list[str], item_type: str) -> Fingerprint:
    """The fingerprint of one item the tool rendered: its wire text (JSON with sorted names, binary in base64).

    The same rendering gives the same text; items read back from a table,
    which DynamoDB may spell differently, are told equal by the differ
    (``engine.item_diff``) from their canonical form.
    """
    text = wire_text(item)
    return Fingerprint(key_text(key_of(item, keys)), item_type, text_hash(text), text)


def key_text(key: dict[str, Any]) -> str:
    """A primary key as sorted JSON, e.g. ``{"PK": "ALBUM#1", "SK": "A"}``: the store's key."""
    return _KEY_ENCODER.encode(key)


def text_hash(text: str) -> str:
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


_KEY_ENCODER = json.JSONEncoder(sort_keys=True, ensure_ascii=False)  # one for every key, not one per call


class FingerprintStore:
    """The store of one configuration; safe to share between writer threads."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        # a killed process loses nothing committed; a lost machine may lose the last commits,
        # which only makes the next sync write those items again
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA temp_store=FILE")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS items (tbl TEXT NOT NULL, key TEXT NOT NULL, item_type TEXT NOT NULL, "
            "hash TEXT NOT NULL, item BLOB NOT NULL, PRIMARY KEY (tbl, key)) WITHOUT ROWID"
        )

    @classmethod
    def of(cls, state_dir: Path) -> FingerprintStore:
        return cls(state_dir / FILE_NAME)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> FingerprintStore:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- writes, after DynamoDB acknowledged them ---------------------------------
    def record(self, table: str, entries: Iterable[Fingerprint]) -> None:
        rows = [(table, f.key, f.item_type, f.hash, zlib.compress(f.text.encode(), 1)) for f in entries]
        if not rows:
            return
        with self._lock:
            self._db.execute("BEGIN")
            self._db.executemany("INSERT OR REPLACE INTO items VALUES (?, ?, ?, ?, ?)", rows)
            self._db.execute("COMMIT")
        crash_point("fingerprints_saved")

    def forget(self, table: str, keys: Iterable[str]) -> None:
        rows = [(table, k) for k in keys]
        if not rows:
            return
        with self._lock:
            self._db.execute("BEGIN")
            self._db.executemany("DELETE FROM items WHERE tbl = ? AND key = ?", rows)
            self._db.execute("COMMIT")
        crash_point("fingerprints_saved")

    def forget_table(self, table: str) -> int:
        """Drop every entry of a table (it was dropped or recreated); returns how many."""
        with self._lock:
            return self._db.execute("DELETE FROM items WHERE tbl = ?", (table,)).rowcount

    # -- reads -------------------------------------------------------------------
    def count(self, table: str | None = None) -> int:
        with self._lock:
            if table is None:
                return int(self._db.execute("SELECT count(*) FROM items").fetchone()[0])
            return int(self._db.execute("SELECT count(*) FROM items WHERE tbl = ?", (table,)).fetchone()[0])
