"""Offloaded values during a sync: the objects a write needs, and those no item points at once it is done.

The differ renders every item of a table before it knows which ones changed;
the objects of the offloaded values it renders are staged on disk (one
SQLite file in a scratch folder of the state folder, removed when the table
is done) so that each ``Put`` carries the objects its pointers name, without
holding them in memory. ``stale_objects`` says which objects a held item
pointed at that the item written in its place no longer does: ``sync``
deletes them after DynamoDB acknowledged the write.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from sqlite2ddb.canonical import from_canonical
from sqlite2ddb.render.offload import pointer_of
from sqlite2ddb.render.stream import Upload
from sqlite2ddb.state.scratch import scratch_dir
from sqlite2ddb.wire import Wire


def pointers(item: dict[str, Wire]) -> dict[tuple[str, str], dict[str, Any]]:
    """The pointer maps an item holds, by (bucket, key)."""
    found = (pointer_of(value) for value in item.values())
    return {(p["bucket"], p["key"]): p for p in found if p is not None}


def text_pointers(text: str | None) -> set[tuple[str, str]]:
    """The (bucket, key) of every pointer in an item's wire text (as the store or a Scan holds it)."""
    if not text:
        return set()
    try:
        item = {name: from_canonical(value) for name, value in json.loads(text).items()}
    except (ValueError, TypeError, AttributeError, KeyError):
        return set()
    return set(pointers(item))


def stale_objects(held: str | None, written: dict[str, Wire] | None) -> list[tuple[str, str]]:
    """Objects the held item points at and the item written in its place (None: deleted) does not."""
    kept = set(pointers(written)) if written is not None else set()
    return sorted(text_pointers(held) - kept)


class StagedObjects:
    """The objects of one table's rendered items, on disk until the table's sync is done."""

    def __init__(self, scratch: Path | None) -> None:
        self._dir = scratch_dir(scratch)
        self.db = sqlite3.connect(Path(self._dir.name) / "objects.db", check_same_thread=False)
        self.db.execute("CREATE TABLE objects (bucket TEXT, key TEXT, data BLOB, PRIMARY KEY (bucket, key))")

    def add(self, uploads: Iterable[Upload]) -> None:
        self.db.executemany("INSERT OR IGNORE INTO objects VALUES (?, ?, ?)", [tuple(u) for u in uploads])

    def uploads_for(self, item: dict[str, Wire]) -> tuple[Upload, ...]:
        """The objects the item's pointers name (those this run rendered)."""
        out = []
        for bucket, key in pointers(item):
            row = self.db.execute("SELECT data FROM objects WHERE bucket = ? AND key = ?", (bucket, key)).fetchone()
            if row is not None:
                out.append(Upload(bucket, key, bytes(row[0])))
        return tuple(out)

    def close(self) -> None:
        self.db.close()
        self._dir.cleanup()

    def __enter__(self) -> StagedObjects:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
