"""The difference between what the mapping renders from the source now and what a table holds.

``plan --diff`` reports it and ``sync`` applies it: both run this one differ.
Every item type of a table is rendered again (through the same plan and the
same transform as ``migrate``) and each item's fingerprint is looked up in a
store of what the table holds: the fingerprints recorded as writes were
acknowledged, or, with ``--against-target``, the table itself read by one Scan.
An item is ``new`` (no entry under its key), ``updated`` (another hash) or
``unchanged``; an entry whose key no longer renders is ``deleted`` (a deleted
row, an old key format, an item type gone from the mapping). Keys rendered so
far wait in a temporary SQLite file, so memory stays flat.
"""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
import tempfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

from loguru import logger

from engine.canonical import diff, wire_key
from engine.plan import ItemTypePlan, Plan, TablePlan
from engine.render import Renderer
from engine.state.fingerprints import Fingerprint, FingerprintStore, canonical_of, fingerprint
from engine.target import Target
from engine.types import MAX_ITEM_BYTES, Wire, item_size
from engine.validate.reads import Reader

SAMPLES = 5
CHUNK = 500  # rendered items looked up in the store with one query
UNKNOWN_TYPE = "?"


@dataclass
class TypeDiff:
    """What changes for one item type of one table."""

    name: str
    table: str
    new: int = 0
    updated: int = 0
    deleted: int = 0
    unchanged: int = 0
    errors: int = 0
    samples: dict[str, list[Any]] = field(default_factory=lambda: {"new": [], "updated": [], "deleted": []})
    paths: Counter[str] = field(default_factory=Counter)
    error_samples: list[str] = field(default_factory=list)
    skipped: str | None = None  # why the item type was not rendered at all

    @property
    def changes(self) -> int:
        return self.new + self.updated + self.deleted

    def note(self, kind: str, key: str) -> None:
        setattr(self, kind, getattr(self, kind) + 1)
        if len(self.samples[kind]) < SAMPLES:
            self.samples[kind].append(json.loads(key))

    def error(self, text: str) -> None:
        self.errors += 1
        if len(self.error_samples) < SAMPLES:
            self.error_samples.append(text)

    def to_json(self) -> dict[str, Any]:
        return {
            "item_type": self.name,
            "table": self.table,
            "new": self.new,
            "updated": self.updated,
            "deleted": self.deleted,
            "unchanged": self.unchanged,
            "errors": self.errors,
            "samples": self.samples,
            "changed_paths": dict(self.paths.most_common(10)),
            "error_samples": self.error_samples,
            "skipped": self.skipped,
        }


@dataclass(frozen=True)
class Put:
    """An item to write: new, or different from what the table holds."""

    item_type: str
    item: dict[str, Wire]
    fingerprint: Fingerprint


@dataclass(frozen=True)
class Delete:
    """A key the table holds that the mapping no longer renders."""

    item_type: str
    key: dict[str, Wire]
    key_text: str


@dataclass(frozen=True)
class Same:
    """An item the table already holds as rendered (emitted only when asked for)."""

    fingerprint: Fingerprint


Change = Put | Delete | Same


class Differ:
    """Renders a table's item types and compares them with a store of what the table holds."""

    def __init__(self, plan: Plan, conn: sqlite3.Connection, emit_same: bool = False) -> None:
        self.plan = plan
        self.renderer = Renderer(conn, None, None)
        self.emit_same = emit_same
        # against a table read back (not the store of what was written), compare canonical forms
        self.canonical = False
        self.diffs: dict[tuple[str, str], TypeDiff] = {}
        self._digest = hashlib.sha256()

    @property
    def digest(self) -> str:
        """A digest of every change found so far, in order: equal for equal differences."""
        return self._digest.hexdigest()

    def counts(self, table: str, item_type: str) -> TypeDiff:
        key = (table, item_type)
        if key not in self.diffs:
            self.diffs[key] = TypeDiff(item_type, table)
        return self.diffs[key]

    def table(self, table: TablePlan, items: list[ItemTypePlan], store: FingerprintStore) -> Iterator[Change]:
        """Every change that makes ``table`` hold exactly what ``items`` render now."""
        keys = list(table.spec.primary_key_names)
        with _Seen() as seen:
            for item in items:
                counts = self.counts(table.name, item.name)
                rendered = self.renderer.render(item, lambda error, c=counts: c.error(str(error)))
                while chunk := list(islice(rendered, CHUNK)):
                    marks = [fingerprint(built, keys, item.name, self.canonical) for built in chunk]
                    stored = store.lookup_many(table.name, [m.key for m in marks])
                    for built, mark in zip(chunk, marks):
                        change = self._compare(item, built, keys, mark, stored.get(mark.key), seen, counts)
                        if change is not None:
                            self._note(table.name, change)
                            yield change
            for deletion in self._deletions(table, items, store, seen):
                self._note(table.name, deletion)
                yield deletion

    def _note(self, table: str, change: Change) -> None:
        if isinstance(change, Put):
            self._digest.update(f"put {table} {change.fingerprint.key} {change.fingerprint.hash}\n".encode())
        elif isinstance(change, Delete):
            self._digest.update(f"delete {table} {change.key_text}\n".encode())

    def _compare(
        self,
        item: ItemTypePlan,
        built: dict[str, Wire],
        keys: list[str],
        mark: Fingerprint,
        stored: tuple[str, str, bytes] | None,
        seen: _Seen,
        counts: TypeDiff,
    ) -> Change | None:
        # the JSON text is never shorter than DynamoDB's size in characters, so most items
        # need no exact size: only those whose text could be over the limit in UTF-8 bytes
        if len(mark.text) * 4 > MAX_ITEM_BYTES and (size := item_size(built)) > MAX_ITEM_BYTES:
            counts.error(f"item type {item.name}, key {mark.key}: item is {size} bytes, over the 400 KB item limit")
            return None
        first = seen.add(mark.key, item.name)
        if first is not None:
            counts.error(f"item type {item.name}: key {mark.key} is rendered again (first by {first}); kept the first")
            return None
        written = fingerprint(built, keys, item.name) if self.canonical else mark
        if stored is None:
            counts.note("new", mark.key)
            return Put(item.name, built, written)
        if stored[1] == mark.hash:
            counts.unchanged += 1
            return Same(written) if self.emit_same else None
        counts.note("updated", mark.key)
        old, new = canonical_of(stored[2]), json.loads(mark.text)
        for path, _, _ in diff({"M": new}, {"M": old}):
            counts.paths[re.sub(r"\[\d+\]", "[]", path)] += 1
        return Put(item.name, built, written)

    def _deletions(
        self, table: TablePlan, items: list[ItemTypePlan], store: FingerprintStore, seen: _Seen
    ) -> Iterator[Delete]:
        """Entries whose key no longer renders, of the item types rendered or gone from the mapping."""
        rendered = {i.name for i in items}
        mapped = {i.name for i in self.plan.item_types}
        # a row that fails to render has no key: its item must not be taken for one the source lost
        failed = {i.name for i in items if self.counts(table.name, i.name).errors}
        for name in sorted(failed):
            logger.warning("{}: deletions skipped because some of its rows could not be rendered", name)
        keys = list(table.spec.primary_key_names)
        for key, item_type in store.entries(table.name):
            if item_type in failed or (item_type in mapped and item_type not in rendered):
                continue
            if seen.has(key):
                continue
            self.counts(table.name, item_type).note("deleted", key)
            yield Delete(item_type, wire_key(json.loads(key), keys, table), key)


class _Seen:
    """The keys rendered so far in this table, on disk."""

    def __init__(self) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="diff-")
        self._db = sqlite3.connect(Path(self._dir.name) / "seen.db")
        self._db.execute("PRAGMA journal_mode=OFF")
        self._db.execute("PRAGMA synchronous=OFF")
        self._db.execute("CREATE TABLE seen (key TEXT PRIMARY KEY, item_type TEXT) WITHOUT ROWID")

    def __enter__(self) -> _Seen:
        return self

    def __exit__(self, *exc: Any) -> None:
        self._db.close()
        self._dir.cleanup()

    def add(self, key: str, item_type: str) -> str | None:
        """Record a key; the item type that rendered it first when it was seen already."""
        try:
            self._db.execute("INSERT INTO seen VALUES (?, ?)", (key, item_type))
        except sqlite3.IntegrityError:
            return str(self._db.execute("SELECT item_type FROM seen WHERE key = ?", (key,)).fetchone()[0])
        return None

    def has(self, key: str) -> bool:
        return self._db.execute("SELECT 1 FROM seen WHERE key = ?", (key,)).fetchone() is not None


def store_from_table(target: Target, plan: Plan, table: TablePlan, folder: Path, workers: int = 1) -> FingerprintStore:
    """A store of what the live table holds, read by one Scan in ``workers`` segments (``--against-target``)."""
    store = FingerprintStore(folder / f"{table.name}.sqlite")
    items = [i for i in plan.item_types if i.table.name == table.name]
    by_marker = {(i.spec.marker, i.spec.marker_value()): i.name for i in items}
    markers = {i.spec.marker for i in items}
    keys = list(table.spec.primary_key_names)
    page: list[Fingerprint] = []
    count = 0
    reader = Reader(target, workers=workers)
    for items_page in reader.scan(table.name, segments=workers):
        page += [fingerprint(i, keys, _type_of(i, markers, by_marker), canonical=True) for i in items_page]
        if len(page) >= 500:
            store.record(table.name, page)
            count, page = count + len(page), []
    store.record(table.name, page)
    logger.info("read {} items of {} to compare with", count + len(page), table.name)
    return store


def _type_of(item: dict[str, Wire], markers: set[str], by_marker: dict[Any, str]) -> str:
    for marker in markers:
        value = item.get(marker)
        if value and "S" in value and (marker, value["S"]) in by_marker:
            return by_marker[(marker, value["S"])]
    return UNKNOWN_TYPE
