"""The difference between what the mapping renders from the source now and what a table holds.

``plan --diff`` reports it and ``sync`` applies it: both run this differ,
and ``validate`` runs the same comparison (``sqlite2ddb.sync.item_diff``) to report
it as failures. Every item type of a table is rendered again (through the
same plan and the same transform as ``migrate``) and compared with what the
table holds: the fingerprints recorded as writes were acknowledged, or, with
``--against-target``, the table itself read by one Scan. An item is ``new``
(no entry under its key), ``updated`` (another value) or ``unchanged``; an
entry whose key no longer renders is ``deleted`` (a deleted row, an old key
format, an item type gone from the mapping). Tables may be compared on
several threads at once: the counts are per table and item type, and the
digest of the changes does not depend on the order the tables ran in.
"""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loguru import logger

from sqlite2ddb.canonical import from_canonical, key_of, wire_key, wire_text
from sqlite2ddb.plan.compile import ItemTypePlan, Plan, TablePlan
from sqlite2ddb.render.stream import ALL, ItemTooLarge, Rows, Upload, render
from sqlite2ddb.state.fingerprints import Fingerprint, FingerprintStore, key_text
from sqlite2ddb.sync.item_diff import UNKNOWN_TYPE, ItemDiff, Row
from sqlite2ddb.sync.objects import StagedObjects
from sqlite2ddb.wire import Wire

SAMPLES = 5
Scan = Iterable[list[dict[str, Wire]]]  # the pages of a table's Scan


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
    found_by: str | None = None  # how the change was found: digest, capture log, full render
    found_why: str | None = None  # why a full render, when the change could not be followed
    rows_rendered: int = 0

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
            "found_by": self.found_by,
            "found_why": self.found_why,
            "rows_rendered": self.rows_rendered,
        }


@dataclass(frozen=True)
class Put:
    """An item to write: new, or different from what the table holds (``held``: its text there)."""

    item_type: str
    item: dict[str, Wire]
    fingerprint: Fingerprint
    held: str | None = None
    uploads: tuple[Upload, ...] = ()  # the S3 objects of its offloaded values: written before the item


@dataclass(frozen=True)
class Delete:
    """A key the table holds that the mapping no longer renders (``held``: the item's text there)."""

    item_type: str
    key: dict[str, Wire]
    key_text: str
    held: str | None = None


@dataclass(frozen=True)
class Same:
    """An item the table already holds as rendered (emitted only when asked for)."""

    fingerprint: Fingerprint


Change = Put | Delete | Same


@dataclass(frozen=True)
class Selection:
    """Render only these cursor values of an item type; ``held``: the keys they rendered last time."""

    cursors: frozenset[tuple[Any, ...]]
    held: frozenset[str]


#: Called with (item type, [(cursor text, key text)]) as items are rendered, and with (item type, None) to flush.
Rendered = Callable[[str, list[tuple[str, str]] | None], None]


class Differ:
    """Renders a table's item types and compares them with what the table holds; safe across table threads."""

    def __init__(self, plan: Plan, scratch: Path | None = None) -> None:
        self.plan = plan
        self.scratch = scratch  # the folder of the comparisons' temporary files (None: the system's)
        self.diffs: dict[tuple[str, str], TypeDiff] = {}
        self._digests: dict[str, Any] = {}
        self._lock = threading.Lock()
        self.on_rendered: Rendered | None = None  # the catch-up store's record of which rows rendered which keys

    @property
    def digest(self) -> str:
        """A digest of every change found so far: equal for equal differences, whatever the table order."""
        whole = hashlib.sha256()
        for table in sorted(self._digests):
            whole.update(f"{table} {self._digests[table].hexdigest()}\n".encode())
        return whole.hexdigest()

    def counts(self, table: str, item_type: str) -> TypeDiff:
        key = (table, item_type)
        with self._lock:
            if key not in self.diffs:
                self.diffs[key] = TypeDiff(item_type, table)
            return self.diffs[key]

    def results(self) -> list[TypeDiff]:
        """The counts in the plan's order of item types (then item types gone from the mapping)."""
        order = {i.name: n for n, i in enumerate(self.plan.item_types)}
        return sorted(self.diffs.values(), key=lambda d: (order.get(d.name, len(order)), d.table, d.name))

    def table(
        self,
        table: TablePlan,
        items: list[ItemTypePlan],
        conn: sqlite3.Connection,
        held: FingerprintStore | Scan,
        emit_same: bool = False,
        only: dict[str, Selection] | None = None,
    ) -> Iterator[Change]:
        """Every change that makes ``table`` hold exactly what ``items`` render now from ``conn``.

        ``held`` is the fingerprint store, or the pages of a Scan of the table
        (then every unchanged item comes out too, as ``Same``, when asked).
        ``only`` names item types rendered for some cursor values only: they
        are compared with the keys those values rendered last time and the
        keys they render now, nothing else of theirs.
        """
        keys = list(table.spec.primary_key_names)
        only = only or {}
        staged = StagedObjects(self.scratch) if any(i.offload for i in items) else None
        with ItemDiff(keys, table.name, self.scratch) as compared, staged or nullcontext():
            rendered = {item.name: self._render(conn, item, compared, only.get(item.name), staged) for item in items}
            for key, item_type, first in compared.duplicates():
                message = f"item type {item_type}: key {key} is rendered again (first by {first}); kept the first"
                self.counts(table.name, item_type).error(message)
                rendered[item_type] -= 1
            if isinstance(held, FingerprintStore):
                compared.attach(held.path)
                if only:
                    full = [i.name for i in items if i.name not in only]
                    compared.restrict(full, {k for s in only.values() for k in s.held})
            else:
                self._read(table, held, compared)
            skip = self._kept_types(table, items)
            for row in compared.rows(same=emit_same):
                change = self._change(table, row, keys, skip, staged)
                if change is not None:
                    self._note(table.name, change)
                    yield change
        for item in items:
            # of the items rendered (for an item type caught up from a few rows: of those rows' items; counting
            # every item it holds would read the whole fingerprint store, which grows with the source)
            counts = self.counts(table.name, item.name)
            counts.unchanged = rendered[item.name] - counts.new - counts.updated

    def _render(
        self,
        conn: sqlite3.Connection,
        item: ItemTypePlan,
        compared: ItemDiff,
        only: Selection | None = None,
        staged: StagedObjects | None = None,
    ) -> int:
        """One item type's items into the comparison; how many (items over the size limit are errors)."""
        counts = self.counts(item.table.name, item.name)
        added = 0
        noted: list[tuple[str, str]] = []
        for row in render(conn, item, ALL if only is None else Rows(cursors=only.cursors)):
            counts.rows_rendered += 1
            if row.item is not None:
                key = compared.add(item.name, row.item, wire_text(row.item))
                if row.uploads and staged is not None:
                    staged.add(row.uploads)
                added += 1
                if self.on_rendered is not None:
                    noted.append((repr(tuple(row.cursor)), key))
                    if len(noted) >= 1000:
                        self.on_rendered(item.name, noted)
                        noted = []
            elif isinstance(row.error, ItemTooLarge):
                key = key_text(key_of(row.error.item, compared.keys))
                counts.error(
                    f"item type {item.name}, key {key}: item is {row.error.size} bytes, over the 400 KB item limit"
                )
            elif row.error is not None:
                counts.error(str(row.error))
        if self.on_rendered is not None:
            self.on_rendered(item.name, noted)
            self.on_rendered(item.name, None)  # recorded before any of these items is written
        return added

    def _read(self, table: TablePlan, scan: Scan, compared: ItemDiff) -> None:
        """The items of a Scan into the comparison, each with the item type its marker names."""
        items = [i for i in self.plan.item_types if i.table.name == table.name]
        by_marker = {(i.spec.marker, i.spec.marker_value()): i.name for i in items}
        markers = {i.spec.marker for i in items}
        for page in scan:
            for item in page:
                compared.add_stored(item, item_type=_type_of(item, markers, by_marker))
        logger.info("read {} items of {} to compare with", compared.stored, table.name)

    def _kept_types(self, table: TablePlan, items: list[ItemTypePlan]) -> set[str]:
        """Item types whose held entries must not be deleted: not rendered now, or with rows that failed."""
        rendered = {i.name for i in items}
        # a row that fails to render has no key: its item must not be taken for one the source lost
        failed = {i.name for i in items if self.counts(table.name, i.name).errors}
        for name in sorted(failed):
            logger.warning("{}: deletions skipped because some of its rows could not be rendered", name)
        return failed | ({i.name for i in self.plan.item_types} - rendered)

    def _change(
        self, table: TablePlan, row: Row, keys: list[str], keep: set[str], staged: StagedObjects | None = None
    ) -> Change | None:
        if row.kind == "deleted":
            if row.item_type in keep:
                return None
            self.counts(table.name, row.item_type).note("deleted", row.key)
            return Delete(row.item_type, wire_key(json.loads(row.key), keys, table), row.key, row.stored)
        assert row.rendered is not None and row.hash is not None
        mark = Fingerprint(row.key, row.item_type, row.hash, row.rendered)
        if row.kind == "same":
            return Same(mark)
        counts = self.counts(table.name, row.item_type)
        counts.note(row.kind, row.key)
        if row.kind == "updated":
            for path, _, _ in row.paths():
                counts.paths[re.sub(r"\[\d+\]", "[]", path)] += 1
        item = {name: from_canonical(value) for name, value in json.loads(row.rendered).items()}
        return Put(row.item_type, item, mark, row.stored, staged.uploads_for(item) if staged else ())

    def _note(self, table: str, change: Change) -> None:
        with self._lock:
            digest = self._digests.setdefault(table, hashlib.sha256())
        if isinstance(change, Put):
            digest.update(f"put {change.fingerprint.key} {change.fingerprint.hash}\n".encode())
        elif isinstance(change, Delete):
            digest.update(f"delete {change.key_text}\n".encode())


def _type_of(item: dict[str, Wire], markers: set[str], by_marker: dict[Any, str]) -> str:
    for marker in markers:
        value = item.get(marker)
        if value and "S" in value and (marker, value["S"]) in by_marker:
            return by_marker[(marker, value["S"])]
    return UNKNOWN_TYPE
