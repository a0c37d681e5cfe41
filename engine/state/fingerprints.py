"""What the tool has written: per item, its table, key, item type and a hash of its wire text.

One SQLite file in the state folder (``fingerprints.sqlite``), indexed by
(table, key), on disk, so memory stays flat. An entry is recorded only after
DynamoDB acknowledged the write, before the checkpoint that covers it is
saved, and removed only after an acknowledged delete: a kill can leave the
store behind DynamoDB (the next ``sync`` writes those items again, harmless)
but never ahead of it. ``sync`` and ``plan --diff`` compare what the mapping
renders now with this store (``sqlite2ddb.sync.item_diff`` attaches the file).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sqlite3
import threading
import time
import zlib
from collections.abc import Iterable
from json.encoder import encode_basestring
from pathlib import Path
from typing import Any, NamedTuple

from loguru import logger

from sqlite2ddb.canonical import key_of, wire_bytes, wire_text
from sqlite2ddb.faults import crash_point
from sqlite2ddb.state.disk import state_write
from sqlite2ddb.wire import Wire

FILE_NAME = "fingerprints.sqlite"


class Fingerprint(NamedTuple):
    key: str  # the primary key as sorted JSON, e.g. {"PK": "ALBUM#1", "SK": "A"}
    item_type: str
    hash: str
    text: str  # the item as JSON: what changed is told from it (stored compressed when long)


def fingerprint(item: dict[str, Wire], keys: list[str], item_type: str, data: bytes | None = None) -> Fingerprint:
    """The fingerprint of one item the tool rendered: its wire text (JSON with sorted names, binary in base64).

    The same rendering gives the same text; items read back from a table,
    which DynamoDB may spell differently, are told equal by the differ
    (``sqlite2ddb.sync.item_diff``) from their canonical form. Every item
    ``migrate`` writes passes here, so the text is hashed as the bytes orjson
    wrote (never decoded and encoded again) and the key text is written
    directly for string and integer keys: the same texts and hashes as
    ``key_text(key_of(item, keys))`` and ``text_hash(wire_text(item))``.
    ``data`` is that text when the caller has it already (the render stream writes it once per item).
    """
    if data is None:
        data = wire_bytes(item)
    if data is None:  # what orjson refuses: the standard encoder's text, hashed as before
        text = wire_text(item)
        return Fingerprint(item_key_text(item, keys), item_type, text_hash(text), text)
    return Fingerprint(item_key_text(item, keys), item_type, _blake2b(data, digest_size=16).hexdigest(), data.decode())


def key_text(key: dict[str, Any]) -> str:
    """A primary key as sorted JSON, e.g. ``{"PK": "ALBUM#1", "SK": "A"}``: the store's key."""
    return _KEY_ENCODER.encode(key)


def item_key_text(item: dict[str, Wire], keys: list[str]) -> str:
    """``key_text(key_of(item, keys))``, written directly when every key is a string or a plain integer."""
    parts = []
    for name, label in _labels(keys):
        wire = item.get(name)
        value = wire.get("S") if wire is not None and len(wire) == 1 else None
        if value.__class__ is str:
            parts.append(label + _quote(value))
            continue
        value = wire.get("N") if wire is not None and len(wire) == 1 else None
        if value.__class__ is str and _PLAIN_INT.fullmatch(value):  # as Decimal -> int writes it
            parts.append(label + value)
            continue
        return key_text(key_of(item, keys))
    return "{" + ", ".join(parts) + "}"


def _labels(keys: list[str]) -> list[tuple[str, str]]:
    """(name, ``"name": ``) of each key name, in the encoder's (sorted) order; built once per key list."""
    found = _LABELS.get(tuple(keys))
    if found is None:
        found = _LABELS[tuple(keys)] = [(k, _quote(k) + ": ") for k in sorted(set(keys))]
    return found


def text_hash(text: str) -> str:
    return _blake2b(text.encode(), digest_size=16).hexdigest()


def stored_text(text: str) -> str | bytes:
    """What the store keeps of a wire text: the text itself, or compressed when it is long.

    zlib costs about 15 µs per call whatever the length (its state is set up
    and freed each time), more than the rest of a small item's fingerprint;
    short texts gain little from it. Readers take both forms
    (``sqlite2ddb.sync.item_diff``: bytes are decompressed, text is used as it is).
    """
    return text if len(text) < COMPRESS_FROM else zlib.compress(text.encode(), 1)


#: Wire texts of at least this many characters are kept compressed (zlib, level 1).
COMPRESS_FROM = 1024

_KEY_ENCODER = json.JSONEncoder(sort_keys=True, ensure_ascii=False)  # one for every key, not one per call
_quote = encode_basestring  # a JSON string as _KEY_ENCODER writes it (ensure_ascii=False)
_PLAIN_INT = re.compile(r"0|-?[1-9][0-9]{0,37}")  # an N key that is its own int text: no sign of zero, no padding
_LABELS: dict[tuple[str, ...], list[tuple[str, str]]] = {}
_blake2b = hashlib.blake2b


def _open(path: Path) -> sqlite3.Connection:
    """The store's connection; a file that is not a SQLite database fails here (``DatabaseError``)."""
    db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
    try:
        with state_write(path.parent, f"the fingerprint store {path.name}"):
            db.execute("PRAGMA journal_mode=WAL")
            # a killed process loses nothing committed; a lost machine may lose the last commits,
            # which only makes the next sync write those items again
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("PRAGMA temp_store=FILE")
            db.execute(
                "CREATE TABLE IF NOT EXISTS items (tbl TEXT NOT NULL, key TEXT NOT NULL, item_type TEXT NOT NULL, "
                "hash TEXT NOT NULL, item BLOB NOT NULL, PRIMARY KEY (tbl, key)) WITHOUT ROWID"
            )
            db.execute("SELECT tbl, key, item_type, hash, item FROM items LIMIT 1").fetchall()
    except BaseException:
        db.close()
        raise
    return db


def _damaged(exc: sqlite3.Error) -> bool:
    """The file is not a store: not a database, malformed, or holding another ``items`` table."""
    text = str(exc)
    return any(part in text for part in ("not a database", "malformed", "no such column", "no such table"))


def set_aside(path: Path, exc: BaseException) -> Path:
    """Rename a corrupt store (and its WAL files) with a timestamp suffix: kept, out of the way."""
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    aside = path.with_name(f"{path.name}.corrupt-{stamp}")
    n = 1
    while aside.exists():
        aside, n = path.with_name(f"{path.name}.corrupt-{stamp}-{n}"), n + 1
    with state_write(path.parent, f"the fingerprint store {path.name}"):
        for suffix in ("", "-wal", "-shm"):
            part = path.with_name(path.name + suffix)
            if part.exists():
                os.replace(part, aside.with_name(aside.name + suffix))
    return aside


class FingerprintStore:
    """The store of one configuration; safe to share between writer threads."""

    def __init__(self, path: Path) -> None:
        with state_write(path.parent, f"the fingerprint store {path.name}"):
            path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        try:
            self._db = _open(path)
        except sqlite3.DatabaseError as exc:
            if isinstance(exc, sqlite3.OperationalError) and not _damaged(exc):
                raise  # locked, full: not the file's fault
            aside = set_aside(path, exc)
            logger.warning(
                "the fingerprint store {} is corrupt ({}); set aside as {}: sync compares with the live "
                "tables instead and rebuilds it",
                path,
                exc,
                aside.name,
            )
            self._db = _open(path)

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
        rows = [(table, f.key, f.item_type, f.hash, stored_text(f.text)) for f in entries]
        if rows:
            self._change("INSERT OR REPLACE INTO items VALUES (?, ?, ?, ?, ?)", rows)
            crash_point("fingerprints_saved")

    def forget(self, table: str, keys: Iterable[str]) -> None:
        rows = [(table, k) for k in keys]
        if rows:
            self._change("DELETE FROM items WHERE tbl = ? AND key = ?", rows)
            crash_point("fingerprints_saved")

    def forget_table(self, table: str) -> int:
        """Drop every entry of a table (it was dropped or recreated); returns how many."""
        with self._lock, state_write(self.path.parent, f"the fingerprint store {self.path.name}"):
            return self._db.execute("DELETE FROM items WHERE tbl = ?", (table,)).rowcount

    def _change(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        """One transaction; rolled back when it fails (a full disk), so the store stays as it was."""
        with self._lock, state_write(self.path.parent, f"the fingerprint store {self.path.name}"):
            self._db.execute("BEGIN")
            try:
                self._db.executemany(sql, rows)
                self._db.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise

    # -- reads -------------------------------------------------------------------
    def holds(self, table: str) -> bool:
        """Whether any fingerprint of ``table`` is recorded (one index probe; ``count`` reads them all)."""
        with self._lock:
            return self._db.execute("SELECT 1 FROM items WHERE tbl = ? LIMIT 1", (table,)).fetchone() is not None

    def count(self, table: str | None = None) -> int:
        with self._lock:
            if table is None:
                return int(self._db.execute("SELECT count(*) FROM items").fetchone()[0])
            return int(self._db.execute("SELECT count(*) FROM items WHERE tbl = ?", (table,)).fetchone()[0])
