"""The one render stream: an item type's source rows become items, for everyone.

``render(conn, item, rows)`` reads the rows of one item type that ``rows``
selects (all of them, a cursor range ``(after, upto]`` after a checkpoint, the
first N, a deterministic sample, or given cursor values) and yields one
``Rendered`` per row, in cursor order: the item with the cursor of the row it
came from, or the row's ``RowError`` (the caller decides: skip or stop), or
neither when the item type's filter skips the row (so a checkpoint can count
it). Rows are read and rendered in chunks of ``CHUNK_ROWS``; the child rows of
embeds are fetched per chunk, in extract. An item over DynamoDB's 400 KB is a
row error here, and nowhere else (``ItemTooLarge``), once the values an
``offload`` rule allows are in S3 (``render.offload``: the item carries their
pointers, ``Rendered.uploads`` the objects to write before it).

migrate (``migrate.item_run``), sync and the differ, validate, export,
estimates and samples all render through this module; it is the only importer
of the row-to-item transform (``render.transform``).
"""

from __future__ import annotations

import hashlib
import heapq
import json
import sqlite3
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import Any, NamedTuple

from sqlite2ddb.canonical import wire_bytes
from sqlite2ddb.errors import RowError
from sqlite2ddb.extract.children import attach_children
from sqlite2ddb.extract.source import Row, rows_among, stream_rows
from sqlite2ddb.plan.compile import ItemTypePlan
from sqlite2ddb.render.offload import Upload
from sqlite2ddb.render.transform import build_item, cursor_of, keep_row, primary_key
from sqlite2ddb.wire import MAX_ITEM_BYTES, Wire, item_size, write_units

CHUNK_ROWS = 500
ONE_UNIT_BYTES = 1024  # an item of at most this size costs one write unit

__all__ = [
    "ALL",
    "CHUNK_ROWS",
    "ItemTooLarge",
    "Rendered",
    "Renderer",
    "Rows",
    "Upload",
    "cursor_of",
    "items",
    "primary_key",
    "raise_error",
    "render",
    "rows_written",
    "skip",
]


@dataclass(frozen=True)
class Rows:
    """Which rows of an item type to render; the fields combine (a range, then its first N, then a sample)."""

    after: Sequence[Any] | None = None  # rows after this cursor (a checkpoint) ...
    upto: Sequence[Any] | None = None  # ... up to this one, inclusive
    first: int | None = None  # at most the first N rows read
    sample: int | None = None  # a deterministic sample of N rows ...
    sample_pct: float | None = None  # ... or of P percent of the rows
    cursors: Collection[tuple[Any, ...]] | None = None  # only the rows with these cursor values

    @property
    def sampling(self) -> bool:
        return self.sample is not None or self.sample_pct is not None


ALL = Rows()


class Rendered(NamedTuple):
    """One row's outcome: its item (and the item's size in bytes), its error, or neither (the filter skips it).

    ``uploads`` are the S3 objects of the item's offloaded values: a writer writes them before the item.
    """

    cursor: list[Any]  # the row's cursor values, as a checkpoint holds them
    item: dict[str, Wire] | None
    error: RowError | None = None
    wire: bytes | None = None  # the item's wire text (``canonical.wire_bytes``), when orjson could write it
    uploads: tuple[Upload, ...] = ()

    @property
    def size(self) -> int:
        """The item's size as DynamoDB counts it (computed on each call: the write path needs only ``units``)."""
        return 0 if self.item is None else item_size(self.item)

    @property
    def units(self) -> int:
        """Write units of one put of the item: 1 whenever its wire text is at most 1 KB.

        The wire text is never shorter than the size DynamoDB counts (every
        name and value is in it, with quotes and type tags around them), so
        most items skip the walk over their attributes that ``item_size`` is.
        """
        if self.wire is not None and len(self.wire) <= ONE_UNIT_BYTES:
            return 1
        return write_units(self.size)


class ItemTooLarge(RowError):
    """The row renders an item over DynamoDB's 400 KB item limit."""

    def __init__(self, item_type: str, cursor: dict[str, Any], item: dict[str, Wire], size: int) -> None:
        super().__init__(item_type, cursor, f"item is {size} bytes, over DynamoDB's 400 KB item limit")
        self.item = item
        self.size = size


def render(conn: sqlite3.Connection, item: ItemTypePlan, rows: Rows = ALL) -> Iterator[Rendered]:
    """Every selected row of the item type as a ``Rendered``, in cursor order."""
    columns = item.spec.cursor
    embeds = tuple(embed.spec for embed in item.embeds)
    source = _selected(conn, item, rows)
    while chunk := list(islice(source, CHUNK_ROWS)):
        verdicts = [_verdict(item, row) for row in chunk]
        if embeds:
            attach_children(conn, embeds, [row for row, verdict in zip(chunk, verdicts) if verdict is True])
        for row, verdict in zip(chunk, verdicts):
            cursor = [row[c] for c in columns]
            if verdict is True:
                yield _rendered(item, row, cursor)
            elif verdict is False:
                yield Rendered(cursor, None)
            else:
                yield Rendered(cursor, None, verdict)


def _verdict(item: ItemTypePlan, row: Row) -> bool | RowError:
    """True to render the row, False when the filter skips it, or the error it raises."""
    try:
        return keep_row(item, row)
    except RowError as error:
        return error


def _rendered(item: ItemTypePlan, row: Row, cursor: list[Any]) -> Rendered:
    try:
        built, uploads = build_item(item, row)
    except RowError as error:
        return Rendered(cursor, None, error)
    data = wire_bytes(built)
    if data is None or len(data) > MAX_ITEM_BYTES:  # the wire text bounds the size: measure only past the limit
        size = item_size(built)
        if size > MAX_ITEM_BYTES:  # with every offloadable value already in S3
            return Rendered(cursor, None, ItemTooLarge(item.name, cursor_of(item, row), built, size))
    return Rendered(cursor, built, None, data, uploads)


def _selected(conn: sqlite3.Connection, item: ItemTypePlan, rows: Rows) -> Iterator[Row]:
    columns = item.spec.cursor
    source: Iterator[Row]
    if rows.cursors is not None:  # a lookup of these values, then the range (if any) on them
        source = rows_among(conn, item.spec.query, columns, rows.cursors, item.name)
        source = _in_range(source, columns, rows.after, rows.upto)
    else:
        source = stream_rows(conn, item.spec.query, columns, rows.after, rows.upto, item.name)
    if rows.first is not None:
        source = islice(source, rows.first)
    chosen = _sampler(conn, item, rows)
    return source if chosen is None else filter(chosen, source)


def _in_range(
    source: Iterator[Row], columns: Sequence[str], after: Sequence[Any] | None, upto: Sequence[Any] | None
) -> Iterator[Row]:
    if after is None and upto is None:
        return source
    low = None if after is None else tuple(after)
    high = None if upto is None else tuple(upto)
    return (
        row
        for row in source
        if (low is None or tuple(row[c] for c in columns) > low)
        and (high is None or tuple(row[c] for c in columns) <= high)
    )


def _sampler(conn: sqlite3.Connection, item: ItemTypePlan, rows: Rows) -> Callable[[Row], bool] | None:
    """Which rows the sample takes: deterministic, by a well-mixed hash of the cursor (None: every row).

    ``sample`` N takes the N rows with the smallest hashes (one extra pass over
    the cursor values, holding N hashes); ``sample_pct`` P takes the rows whose
    hash falls in the first P percent.
    """
    if rows.sample_pct is not None:
        limit = int(max(0.0, min(100.0, rows.sample_pct)) / 100 * 2**64)
        return lambda row: _cursor_hash(item, row) < limit
    if rows.sample is None or item.expected_rows <= rows.sample:
        return None
    every = stream_rows(conn, item.spec.query, item.spec.cursor, item_type=item.name)
    smallest = heapq.nsmallest(rows.sample, (_cursor_hash(item, row) for row in every))
    threshold = smallest[-1] if smallest else -1
    return lambda row: _cursor_hash(item, row) <= threshold


def _cursor_hash(item: ItemTypePlan, row: Row) -> int:
    text = json.dumps([row[c] for c in item.spec.cursor], default=str)
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")


def skip(error: RowError) -> None:
    """A row that does not render is left out (the checks that care report it)."""


def raise_error(error: RowError) -> None:
    raise error


def items(
    conn: sqlite3.Connection,
    item: ItemTypePlan,
    rows: Rows = ALL,
    on_error: Callable[[RowError], None] = skip,
    on_uploads: Callable[[dict[str, Wire], tuple[Upload, ...]], None] | None = None,
) -> Iterator[dict[str, Wire]]:
    """Only the items of ``render``; each row that fails goes to ``on_error``, offloaded objects to ``on_uploads``."""
    for outcome in render(conn, item, rows):
        if outcome.item is not None:
            if outcome.uploads and on_uploads is not None:
                on_uploads(outcome.item, outcome.uploads)
            yield outcome.item
        elif outcome.error is not None:
            on_error(outcome.error)


def rows_written(conn: sqlite3.Connection, item: ItemTypePlan) -> int:
    """How many items the plan writes for this type: its rows that pass the filter (none is rendered)."""
    if item.filter is None:
        return item.expected_rows
    return sum(
        _verdict(item, row) is True for row in stream_rows(conn, item.spec.query, item.spec.cursor, item_type=item.name)
    )


class Renderer:
    """One source connection and one selection (all rows, or a sample) for the item types of a plan."""

    def __init__(self, conn: sqlite3.Connection, sample: int | None = None, sample_pct: float | None = None) -> None:
        self.conn = conn
        self.sample = sample
        self.sample_pct = sample_pct

    @property
    def sampling(self) -> bool:
        return self.sample is not None or self.sample_pct is not None

    def render(
        self,
        item: ItemTypePlan,
        on_error: Callable[[RowError], None] = skip,
        rows: int | None = None,
        on_uploads: Callable[[dict[str, Wire], tuple[Upload, ...]], None] | None = None,
    ) -> Iterator[dict[str, Wire]]:
        """The items of this item type (all, the sample, or those of the first ``rows`` rows)."""
        selected = Rows(first=rows, sample=self.sample, sample_pct=self.sample_pct)
        return items(self.conn, item, selected, on_error, on_uploads)

    def rows_written(self, item: ItemTypePlan) -> int:
        return rows_written(self.conn, item)
