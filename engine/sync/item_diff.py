"""The one item-by-item comparison: items rendered from the source against what a table holds.

``validate`` reports what comes out of it (``duplicate``, ``extra``,
``differs``, ``missing``); ``plan --diff`` counts it and ``sync`` applies it
(put what is new or updated, delete what no longer renders). The rendered
items wait in a temporary SQLite file, each with its key, item type, wire
text and a hash of that text. What the table holds is either a fingerprint
store (``attach``: what the tool wrote, attached to the same connection) or
the table itself read by a Scan (``add_stored``), in the same layout; one
join then finds the differences, in key order, so memory stays flat however
large the table. Equal hashes are equal items; different hashes are compared
by their canonical form (numbers normalised, sets sorted) before an item is
called different, since DynamoDB may spell an equal value another way.
"""

from __future__ import annotations

import json
import sqlite3
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

from sqlite2ddb.canonical import canonical, diff, key_of, wire_text
from sqlite2ddb.state.fingerprints import key_text, text_hash
from sqlite2ddb.state.scratch import scratch_dir
from sqlite2ddb.wire import Wire

BUFFER = 1000  # items per executemany
CACHE_KIB = 512  # page cache: the file is written and joined in order, so a larger one buys little
UNKNOWN_TYPE = "?"


class Row(NamedTuple):
    """One key of the comparison.

    ``kind`` is ``new`` (rendered, not held), ``updated`` (held, different),
    ``deleted`` (held, no longer rendered) or ``same``. ``item_type`` is the
    rendered item's, or the held entry's for ``deleted``; ``rendered`` is the
    rendered item's wire text and ``hash`` its hash; ``stored`` the held
    item's text (``None`` for ``new``); ``canonical`` both items' canonical
    forms, when the comparison computed them.
    """

    kind: str
    key: str
    item_type: str
    rendered: str | None
    hash: str | None
    stored: str | None
    canonical: tuple[dict[str, Any], dict[str, Any]] | None = None

    def paths(self) -> list[tuple[str, Any, Any]]:
        """(path, rendered value, held value) where an updated item differs (``Tracks[3].Name``)."""
        if self.rendered is None or self.stored is None:
            return []
        rendered, stored = self.canonical or (canonical_form(self.rendered), canonical_form(self.stored))
        return list(diff({"M": rendered}, {"M": stored}))


def canonical_form(text: str) -> dict[str, Any]:
    """A wire text's item in canonical form: equal DynamoDB values give equal forms."""
    return {name: canonical(value) for name, value in json.loads(text).items()}


class ItemDiff:
    """Rendered items and what the table holds, in a temporary SQLite file; the differences from one join.

    Use as a context manager: ``add`` every rendered item, ``duplicates``
    (which ends the rendering), then either ``attach`` a fingerprint store or
    ``add_stored`` every item of the table (any order, e.g. from parallel
    Scan segments), then ``rows``. ``rendered_of`` and ``rendered_keys``
    serve comparisons of sampled keys. Per item, Python only encodes the key,
    the wire text and its hash; the matching runs in SQLite.
    """

    def __init__(self, keys: list[str], table: str, scratch: Path | None = None) -> None:
        self.keys = keys
        self.table = table
        self._dir = scratch_dir(scratch)  # in the state folder when given: a killed run's is removed later
        self.db = sqlite3.connect(Path(self._dir.name) / "items.db", check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=OFF")
        self.db.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
        self.db.execute("PRAGMA synchronous=OFF")
        # rowid = render order: of two items with one key, the first rendered is the one compared
        self.db.execute("CREATE TABLE rendered (k TEXT, t TEXT, h TEXT, item TEXT)")
        # what the table holds, in the fingerprint store's layout (``item`` as text here, not compressed)
        self.db.execute("CREATE TABLE items (tbl TEXT, key TEXT, item_type TEXT, hash TEXT, item)")
        self.held = "main.items"
        self.count = 0  # distinct keys rendered
        self.stored = 0  # items read from the table
        self._rendered: list[tuple[str, str, str, str]] = []
        self._stored: list[tuple[str, str, str, str, str]] = []
        self._indexed = False
        self._scoped = False

    def __enter__(self) -> ItemDiff:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.db.close()
        self._dir.cleanup()

    # -- the rendered side -------------------------------------------------------
    def add(self, item_type: str, item: dict[str, Wire], text: str | None = None) -> str:
        """One rendered item of ``item_type`` (``text``: its ``wire_text``, when the caller has it); its key text."""
        text = text or wire_text(item)
        key = key_text(key_of(item, self.keys))
        self._rendered.append((key, item_type, text_hash(text), text))
        if len(self._rendered) >= BUFFER:
            self._flush_rendered()
        return key

    def duplicates(self) -> Iterator[tuple[str, str, str]]:
        """(key, item type, item type of the first) per rendered item whose key came earlier; ends the rendering."""
        self._end_rendering()
        found = self.db.execute(
            "SELECT k, t FROM rendered WHERE k IN (SELECT k FROM rendered GROUP BY k HAVING COUNT(*) > 1)"
            " ORDER BY k, rowid"
        ).fetchall()
        first: dict[str, str] = {}
        for key, item_type in found:
            if key in first:
                yield key, item_type, first[key]
            else:
                first[key] = item_type

    # -- what the table holds ----------------------------------------------------
    def attach(self, store_path: Path) -> None:
        """Compare with the entries of this table in a fingerprint store file (read, never written)."""
        self.db.execute("ATTACH DATABASE ? AS held", (f"file:{store_path}?mode=ro",))
        self.held = "held.items"

    def restrict(self, full: list[str], keys: set[str]) -> None:
        """Compare the attached store's entries of the ``full`` item types, of ``keys``, and of the keys rendered.

        The rest of the store (item types rendered for a few rows only) is
        left out: neither compared nor taken for deleted.
        """
        self.db.execute("CREATE TABLE scope (key TEXT PRIMARY KEY) WITHOUT ROWID")
        self.db.executemany("INSERT OR IGNORE INTO scope VALUES (?)", [(k,) for k in keys])
        marks = ", ".join("?" for _ in full)
        if full:
            self.db.execute(
                f"INSERT OR IGNORE INTO scope SELECT key FROM held.items WHERE tbl = ? AND item_type IN ({marks})",
                [self.table, *full],
            )
        self._scoped = True
        table = self.table.replace("'", "''")
        self.held = f"(SELECT h.* FROM main.scope sc JOIN held.items h ON h.tbl = '{table}' AND h.key = sc.key)"

    def add_stored(self, item: dict[str, Wire], text: str | None = None, item_type: str = UNKNOWN_TYPE) -> None:
        """One item read from the table (``text``: its ``wire_text``, when the caller has it)."""
        text = text or wire_text(item)
        self._stored.append((self.table, key_text(key_of(item, self.keys)), item_type, text_hash(text), text))
        self.stored += 1
        if len(self._stored) >= BUFFER:
            self._flush_stored()

    # -- the comparison ----------------------------------------------------------
    def rows(self, same: bool = False) -> Iterator[Row]:
        """Held keys updated or deleted (and ``same`` when asked), in key order; then new keys, in key order."""
        self._end_rendering()
        self._flush_stored()
        if self.held == "main.items":
            self.db.execute("CREATE INDEX IF NOT EXISTS items_key ON items (tbl, key)")
        if self._scoped:
            self.db.execute("INSERT OR IGNORE INTO scope SELECT DISTINCT k FROM rendered")
        differs = "" if same else " AND (r.h IS NULL OR r.h != s.hash)"
        found = self.db.execute(
            f"SELECT s.key, s.item_type, s.hash, s.item, r.t, r.h, r.item FROM {self.held} s"
            " LEFT JOIN rendered r ON r.rowid = (SELECT MIN(rowid) FROM rendered WHERE k = s.key)"
            f" WHERE s.tbl = ?{differs} ORDER BY s.key",
            (self.table,),
        )
        for key, held_type, held_hash, held, item_type, digest, rendered in found:
            held = zlib.decompress(held).decode() if isinstance(held, bytes) else held
            if rendered is None:
                yield Row("deleted", key, held_type, None, None, held)
            elif digest == held_hash:
                if same:
                    yield Row("same", key, item_type, rendered, digest, held)
            else:
                # another text may still be the same value, spelled another way (numbers, set order)
                forms = (canonical_form(rendered), canonical_form(held))
                if forms[0] != forms[1]:
                    yield Row("updated", key, item_type, rendered, digest, held, forms)
                elif same:
                    yield Row("same", key, item_type, rendered, digest, held)
        new = self.db.execute(
            "SELECT k, t, h, item FROM rendered r WHERE rowid = (SELECT MIN(rowid) FROM rendered WHERE k = r.k)"
            f" AND NOT EXISTS (SELECT 1 FROM {self.held} s WHERE s.tbl = ? AND s.key = r.k) ORDER BY k",
            (self.table,),
        )
        for key, item_type, digest, rendered in new:
            yield Row("new", key, item_type, rendered, digest, None)

    # -- sampled comparisons -----------------------------------------------------
    def rendered_of(self, key: dict[str, Any]) -> tuple[str, str] | None:
        """(item type, wire text) of the first item rendered with this key."""
        self._end_rendering()
        row = self.db.execute(
            "SELECT t, item FROM rendered WHERE k = ? ORDER BY rowid LIMIT 1", (key_text(key),)
        ).fetchone()
        return (row[0], row[1]) if row else None

    def rendered_keys(self) -> list[dict[str, Any]]:
        self._end_rendering()
        return [json.loads(k) for (k,) in self.db.execute("SELECT DISTINCT k FROM rendered ORDER BY k")]

    def _flush_rendered(self) -> None:
        self.db.executemany("INSERT INTO rendered (k, t, h, item) VALUES (?, ?, ?, ?)", self._rendered)
        self._rendered.clear()

    def _flush_stored(self) -> None:
        self.db.executemany("INSERT INTO items VALUES (?, ?, ?, ?, ?)", self._stored)
        self._stored.clear()

    def _end_rendering(self) -> None:
        if self._indexed:
            return
        self._flush_rendered()
        self.db.execute("CREATE INDEX rendered_k ON rendered (k)")
        self.count = self.db.execute("SELECT COUNT(DISTINCT k) FROM rendered").fetchone()[0]
        self._indexed = True
