"""Render the items the plan writes, again, from the source: all of them or a deterministic sample."""

from __future__ import annotations

import hashlib
import heapq
import json
import sqlite3
from collections.abc import Callable, Iterator
from typing import Any

from engine.errors import RowError
from engine.extract import stream_rows
from engine.plan import ItemTypePlan
from engine.transform import attach_children, build_item, keep_row
from engine.types import Wire

CHUNK_ROWS = 500


class Renderer:
    """Renders item types from one source connection, optionally sampled."""

    def __init__(self, conn: sqlite3.Connection, sample: int | None, sample_pct: float | None) -> None:
        self.conn = conn
        self.sample = sample
        self.sample_pct = sample_pct

    @property
    def sampling(self) -> bool:
        return self.sample is not None or self.sample_pct is not None

    def render(self, item: ItemTypePlan, on_error: Callable[[RowError], None]) -> Iterator[dict[str, Wire]]:
        """The items the plan writes for this item type (all, or the sample); rows that fail go to ``on_error``."""
        chosen = self._sampler(item)
        rows = stream_rows(self.conn, item.spec.query, item.spec.cursor)
        while True:
            chunk = [row for _, row in zip(range(CHUNK_ROWS), rows)]
            if not chunk:
                return
            kept = []
            for row in chunk:
                try:
                    if chosen(row) and keep_row(item, row):
                        kept.append(row)
                except RowError as error:
                    on_error(error)
            attach_children(self.conn, item.embeds, kept)
            for row in kept:
                try:
                    yield build_item(item, row)
                except RowError as error:
                    on_error(error)

    def rows_written(self, item: ItemTypePlan) -> int:
        """How many items the plan writes for this type: its rows that pass the filter."""
        if item.filter is None:
            return item.expected_rows
        count = 0
        for row in stream_rows(self.conn, item.spec.query, item.spec.cursor):
            try:
                count += bool(keep_row(item, row))
            except RowError:
                pass
        return count

    def _sampler(self, item: ItemTypePlan) -> Callable[[dict[str, Any]], bool]:
        """Which rows the sample takes: deterministic, by a well-mixed hash of the cursor.

        ``--sample N`` takes the N rows with the smallest hashes (one extra pass over
        the cursor values, holding N hashes); ``--sample-pct P`` takes the rows whose
        hash falls in the first P percent.
        """
        if self.sample_pct is not None:
            limit = int(max(0.0, min(100.0, self.sample_pct)) / 100 * 2**64)
            return lambda row: _cursor_hash(item, row) < limit
        if self.sample is None or item.expected_rows <= self.sample:
            return lambda row: True
        smallest = heapq.nsmallest(
            self.sample, (_cursor_hash(item, row) for row in stream_rows(self.conn, item.spec.query, item.spec.cursor))
        )
        threshold = smallest[-1] if smallest else -1
        return lambda row: _cursor_hash(item, row) <= threshold


def _cursor_hash(item: ItemTypePlan, row: dict[str, Any]) -> int:
    text = json.dumps([row[c] for c in item.spec.cursor], default=str)
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")
