"""The item-by-item comparison: rendered items against the items a table holds.

This is the differ: rendered items go in (each with its item type), the
table's items go in, and the differences come out as ``Failure`` records of
kind ``duplicate`` (two rendered items with one key), ``extra`` (in the
table, not rendered), ``differs`` (one per attribute path) and ``missing``
(rendered, not in the table). Rendered items wait in a temporary SQLite file
keyed by primary key, so memory stays flat however large the table.
"""

from __future__ import annotations

import json
import sqlite3
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from engine.canonical import canonical_item, diff, jsonable, key_of
from engine.types import Wire, to_python
from engine.validate.results import Failure


def _key_text(key: dict[str, Any]) -> str:
    return json.dumps(key, default=jsonable, sort_keys=True)


class ItemDiffer:
    """Rendered items on disk, keyed by primary key; compares the table's items against them.

    Use as a context manager: ``add`` every rendered item, then ``compare``
    every item of the table, then ``missing`` for the rendered items the table
    lacked. ``duplicates`` names the keys rendered twice.
    """

    def __init__(self, keys: list[str]) -> None:
        self.keys = keys
        self._dir = tempfile.TemporaryDirectory(prefix="validate-")
        self.db = sqlite3.connect(Path(self._dir.name) / "rendered.db")
        self.db.execute("PRAGMA journal_mode=OFF")
        self.db.execute("PRAGMA synchronous=OFF")
        self.db.execute("CREATE TABLE rendered (k TEXT PRIMARY KEY, t TEXT, item TEXT, seen INTEGER DEFAULT 0)")
        self.count = 0
        self._duplicates: list[tuple[dict[str, Any], str, str]] = []  # key, first item type, second

    def __enter__(self) -> ItemDiffer:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.db.close()
        self._dir.cleanup()

    def add(self, item_type: str, item: dict[str, Wire]) -> None:
        """One rendered item of ``item_type``."""
        key = key_of(item, self.keys)
        try:
            self.db.execute(
                "INSERT INTO rendered (k, t, item) VALUES (?, ?, ?)", (_key_text(key), item_type, canonical_item(item))
            )
            self.count += 1
        except sqlite3.IntegrityError:
            self._duplicates.append((key, self.type_of(key), item_type))

    def duplicates(self) -> Iterator[Failure]:
        """One failure per key rendered more than once."""
        for key, first, second in self._duplicates:
            yield Failure(
                "duplicate",
                f"a {second} row renders the same key as a {first} row: the table keeps only the last written",
                key=key,
            )

    def compare(self, stored: dict[str, Wire]) -> Iterator[Failure]:
        """The differences between one item of the table and the item rendered with its key."""
        key = key_of(stored, self.keys)
        found = self._take(key)
        if found is None:
            marker = next((to_python(stored[m]) for m in ("Entity",) if m in stored), None)
            yield Failure(
                "extra", f"item in the table that the plan does not produce{f' ({marker})' if marker else ''}", key=key
            )
            return
        item_name, rendered_text = found
        stored_text = canonical_item(stored)
        if rendered_text == stored_text:
            return
        for path, expected, actual in diff({"M": json.loads(rendered_text)}, {"M": json.loads(stored_text)}):
            yield Failure(
                "differs", f"{item_name} attribute differs", key=key, path=path, expected=expected, actual=actual
            )

    def missing(self) -> Iterator[Failure]:
        """Rendered items that no ``compare`` call met, in key order."""
        for key, item_type in self.db.execute("SELECT k, t FROM rendered WHERE seen = 0 ORDER BY k"):
            yield Failure("missing", f"{item_type} item is not in the table", key=json.loads(key))

    def missing_key(self, key: dict[str, Any]) -> Failure:
        """The failure for one rendered key the table lacks (sampled comparison)."""
        return Failure("missing", f"{self.type_of(key)} item is not in the table", key=key)

    def type_of(self, key: dict[str, Any]) -> str:
        row = self.db.execute("SELECT t FROM rendered WHERE k = ?", (_key_text(key),)).fetchone()
        return row[0] if row else "?"

    def rendered_keys(self) -> list[dict[str, Any]]:
        return [json.loads(k) for (k,) in self.db.execute("SELECT k FROM rendered ORDER BY k")]

    def _take(self, key: dict[str, Any]) -> tuple[str, str] | None:
        text = _key_text(key)
        row = self.db.execute("SELECT t, item FROM rendered WHERE k = ?", (text,)).fetchone()
        if row is not None:
            self.db.execute("UPDATE rendered SET seen = 1 WHERE k = ?", (text,))
        return row


def differences(
    keys: list[str], rendered: Iterable[tuple[str, dict[str, Wire]]], stored: Iterable[dict[str, Wire]]
) -> Iterator[Failure]:
    """Every difference between rendered ``(item type, item)`` pairs and a table's items."""
    with ItemDiffer(keys) as differ:
        for item_type, item in rendered:
            differ.add(item_type, item)
        yield from differ.duplicates()
        for item in stored:
            yield from differ.compare(item)
        yield from differ.missing()
