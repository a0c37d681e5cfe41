"""The item-by-item comparison: rendered items against the items a table holds.

This is the differ: rendered items go in (each with its item type), the
table's items go in, and the differences come out as ``Failure`` records of
kind ``duplicate`` (two rendered items with one key), ``extra`` (in the
table, not rendered), ``differs`` (one per attribute path) and ``missing``
(rendered, not in the table). Both sides wait in a temporary SQLite file, so
memory stays flat however large the table. Items are compared by their wire
text first (cheap, inside SQLite) and only when that differs by their
canonical form (numbers normalised, sets sorted).
"""

from __future__ import annotations

import json
import sqlite3
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from engine.canonical import canonical_item, diff, jsonable, key_of, wire_text
from engine.types import Wire, to_python
from engine.validate.results import Failure

BUFFER = 1000  # items per executemany


def _key_text(key: dict[str, Any]) -> str:
    return json.dumps(key, default=jsonable, sort_keys=True)


class ItemDiffer:
    """Rendered and stored items in a temporary SQLite file; the differences come out of one join.

    Use as a context manager: ``add`` every rendered item, then ``duplicates``
    (which ends the rendering), then ``add_stored`` every item of the table
    (any order, e.g. from parallel Scan segments), then ``differences`` for
    what is extra, differs or missing, in key order. ``compare`` checks one
    stored item at once instead (sampled comparisons). Per item, Python only
    encodes the key and the item's wire text; the matching runs in SQLite.
    """

    def __init__(self, keys: list[str]) -> None:
        self.keys = keys
        self._dir = tempfile.TemporaryDirectory(prefix="validate-")
        self.db = sqlite3.connect(Path(self._dir.name) / "items.db")
        self.db.execute("PRAGMA journal_mode=OFF")
        self.db.execute("PRAGMA synchronous=OFF")
        # rowid = render order: of two items with one key, the first rendered is the one compared
        self.db.execute("CREATE TABLE rendered (k TEXT, t TEXT, item TEXT)")
        self.db.execute("CREATE TABLE stored (k TEXT, item TEXT)")
        self.count = 0
        self.stored = 0
        self._rendered: list[tuple[str, str, str]] = []
        self._stored: list[tuple[str, str]] = []
        self._indexed = False

    def __enter__(self) -> ItemDiffer:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.db.close()
        self._dir.cleanup()

    def add(self, item_type: str, item: dict[str, Wire]) -> None:
        """One rendered item of ``item_type``."""
        self._rendered.append((_key_text(key_of(item, self.keys)), item_type, wire_text(item)))
        if len(self._rendered) >= BUFFER:
            self._flush_rendered()

    def duplicates(self) -> Iterator[Failure]:
        """One failure per item whose key an earlier rendered item has; ends the rendering."""
        self._end_rendering()
        found = self.db.execute(
            "SELECT k, t FROM rendered WHERE k IN (SELECT k FROM rendered GROUP BY k HAVING COUNT(*) > 1)"
            " ORDER BY k, rowid"
        ).fetchall()
        first: dict[str, str] = {}
        for key, item_type in found:
            if key not in first:
                first[key] = item_type
                continue
            yield Failure(
                "duplicate",
                f"a {item_type} row renders the same key as a {first[key]} row: the table keeps only the last written",
                key=json.loads(key),
            )

    def add_stored(self, item: dict[str, Wire], text: str | None = None) -> None:
        """One item read from the table (``text``: its ``wire_text``, when the caller has it)."""
        self._stored.append((_key_text(key_of(item, self.keys)), text or wire_text(item)))
        self.stored += 1
        if len(self._stored) >= BUFFER:
            self._flush_stored()

    def differences(self) -> Iterator[Failure]:
        """Items extra in the table or different from the rendered one, then rendered items missing."""
        self._end_rendering()
        self._flush_stored()
        self.db.execute("CREATE INDEX stored_k ON stored (k)")
        rows = self.db.execute(
            "SELECT s.k, s.item, r.t, r.item FROM stored s"
            " LEFT JOIN rendered r ON r.rowid = (SELECT MIN(rowid) FROM rendered WHERE k = s.k)"
            " WHERE r.item IS NULL OR r.item != s.item ORDER BY s.k"
        )
        for key, stored_text, item_type, rendered_text in rows:
            if rendered_text is None:
                yield _extra(json.loads(key), json.loads(stored_text))
            else:
                yield from _differs(json.loads(key), item_type, rendered_text, stored_text)
        missing = self.db.execute(
            "SELECT k, t FROM rendered r WHERE rowid = (SELECT MIN(rowid) FROM rendered WHERE k = r.k)"
            " AND NOT EXISTS (SELECT 1 FROM stored s WHERE s.k = r.k) ORDER BY k"
        )
        for key, item_type in missing:
            yield Failure("missing", f"{item_type} item is not in the table", key=json.loads(key))

    def compare(self, stored: dict[str, Wire]) -> Iterator[Failure]:
        """The differences between one item of the table and the item rendered with its key."""
        self._end_rendering()
        key = key_of(stored, self.keys)
        found = self.db.execute(
            "SELECT t, item FROM rendered WHERE k = ? ORDER BY rowid LIMIT 1", (_key_text(key),)
        ).fetchone()
        if found is None:
            yield _extra(key, stored)
            return
        yield from _differs(key, found[0], found[1], wire_text(stored))

    def missing_key(self, key: dict[str, Any]) -> Failure:
        """The failure for one rendered key the table lacks (sampled comparison)."""
        return Failure("missing", f"{self.type_of(key)} item is not in the table", key=key)

    def type_of(self, key: dict[str, Any]) -> str:
        self._end_rendering()
        row = self.db.execute("SELECT t FROM rendered WHERE k = ? ORDER BY rowid LIMIT 1", (_key_text(key),)).fetchone()
        return row[0] if row else "?"

    def rendered_keys(self) -> list[dict[str, Any]]:
        self._end_rendering()
        return [json.loads(k) for (k,) in self.db.execute("SELECT DISTINCT k FROM rendered ORDER BY k")]

    def _flush_rendered(self) -> None:
        self.db.executemany("INSERT INTO rendered (k, t, item) VALUES (?, ?, ?)", self._rendered)
        self._rendered.clear()

    def _flush_stored(self) -> None:
        self.db.executemany("INSERT INTO stored (k, item) VALUES (?, ?)", self._stored)
        self._stored.clear()

    def _end_rendering(self) -> None:
        if self._indexed:
            return
        self._flush_rendered()
        self.db.execute("CREATE INDEX rendered_k ON rendered (k)")
        self.count = self.db.execute("SELECT COUNT(DISTINCT k) FROM rendered").fetchone()[0]
        self._indexed = True


def _extra(key: dict[str, Any], stored: dict[str, Any]) -> Failure:
    marker = next((to_python(stored[m]) for m in ("Entity",) if m in stored), None)
    return Failure(
        "extra", f"item in the table that the plan does not produce{f' ({marker})' if marker else ''}", key=key
    )


def _differs(key: dict[str, Any], item_type: str, rendered_text: str, stored_text: str) -> Iterator[Failure]:
    """One failure per attribute path where two items' wire texts differ as values."""
    if rendered_text == stored_text:
        return
    rendered, stored = (canonical_item(json.loads(text)) for text in (rendered_text, stored_text))
    if rendered == stored:
        return
    for path, expected, actual in diff({"M": json.loads(rendered)}, {"M": json.loads(stored)}):
        yield Failure("differs", f"{item_type} attribute differs", key=key, path=path, expected=expected, actual=actual)


def differences(
    keys: list[str], rendered: Iterable[tuple[str, dict[str, Wire]]], stored: Iterable[dict[str, Wire]]
) -> Iterator[Failure]:
    """Every difference between rendered ``(item type, item)`` pairs and a table's items."""
    with ItemDiffer(keys) as differ:
        for item_type, item in rendered:
            differ.add(item_type, item)
        yield from differ.duplicates()
        for item in stored:
            differ.add_stored(item)
        yield from differ.differences()
