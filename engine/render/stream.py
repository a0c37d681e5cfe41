"""The items the plan writes, rendered from the source: all of them, the first rows, or a sample.

One place where rows become items for everyone who needs them without
writing them: validate (all, or a deterministic sample), the differ behind
``plan --diff`` and ``sync``, ``plan --samples``, the report's samples and the
bulk path's size estimates. ``migrate`` batches its own rows, keeping each
row's cursor for its checkpoints.
"""

from __future__ import annotations

import hashlib
import heapq
import json
import sqlite3
from collections.abc import Callable, Iterator
from itertools import islice
from typing import Any

from sqlite2ddb.errors import RowError
from sqlite2ddb.extract.source import stream_rows
from sqlite2ddb.plan.compile import ItemTypePlan
from sqlite2ddb.render.transform import attach_children, build_item, keep_row
from sqlite2ddb.wire import Wire

CHUNK_ROWS = 500


def skip(error: RowError) -> None:
    """A row that does not render is left out (the checks that care report it)."""


def raise_error(error: RowError) -> None:
    raise error


class Renderer:
    """Renders item types from one source connection, optionally sampled."""

    def __init__(self, conn: sqlite3.Connection, sample: int | None = None, sample_pct: float | None = None) -> None:
        self.conn = conn
        self.sample = sample
        self.sample_pct = sample_pct

    @property
    def sampling(self) -> bool:
        return self.sample is not None or self.sample_pct is not None

    def render(
        self, item: ItemTypePlan, on_error: Callable[[RowError], None] = skip, rows: int | None = None
    ) -> Iterator[dict[str, Wire]]:
        """The items the plan writes for this item type (all, the sample, or those of the first ``rows``
        rows); rows that fail go to ``on_error``."""
        chosen = self._sampler(item)
        rows_read: Iterator[dict[str, Any]] = stream_rows(
            self.conn, item.spec.query, item.spec.cursor, item_type=item.name
        )
        if rows is not None:
            rows_read = islice(rows_read, rows)
        while True:
            chunk = list(islice(rows_read, CHUNK_ROWS))
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
        for row in stream_rows(self.conn, item.spec.query, item.spec.cursor, item_type=item.name):
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
            self.sample,
            (
                _cursor_hash(item, row)
                for row in stream_rows(self.conn, item.spec.query, item.spec.cursor, item_type=item.name)
            ),
        )
        threshold = smallest[-1] if smallest else -1
        return lambda row: _cursor_hash(item, row) <= threshold


def _cursor_hash(item: ItemTypePlan, row: dict[str, Any]) -> int:
    text = json.dumps([row[c] for c in item.spec.cursor], default=str)
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")
