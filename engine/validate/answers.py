"""Two answers to one access pattern, compared as streams: memory does not grow with the answer.

An answer can be a whole partition (every track of a genre: tens of thousands
of items at the sizes users bring). Neither the SQL answer nor DynamoDB's is
held as a list: ``Aligned`` walks both side by side in the compared order and
stops at the first position where they differ, keeping only the ids a failure
shows (``WINDOW`` of each side). An ordered pattern's answers come in that
order already (SQL's ORDER BY, the Query's pages); an unordered one's are put
in id order by ``sorted_stream``, in memory up to ``SPILL_ROWS`` rows and
through a private temporary SQLite file beyond that.
"""

from __future__ import annotations

import pickle
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import chain, islice, zip_longest
from typing import Any, Generic, TypeVar

T = TypeVar("T")

WINDOW = 20  # ids of each side a failure shows
SPILL_ROWS = 2000  # rows sorted in memory; a larger answer is sorted in a temporary file
SPILL_CACHE_KIB = 1024
_END: Any = object()


def sorted_stream(rows: Iterable[T], key: Callable[[T], str]) -> Iterator[T]:
    """``rows`` in the order of ``key`` (stable: rows with one key keep their order), in bounded memory.

    Text keys are compared by code point in Python and by UTF-8 bytes in
    SQLite's default collation: the same order.
    """
    rows = iter(rows)
    head = list(islice(rows, SPILL_ROWS + 1))
    if len(head) <= SPILL_ROWS:
        head.sort(key=key)
        yield from head
        return
    yield from _spilled(chain(head, rows), key)


def _spilled(rows: Iterator[T], key: Callable[[T], str]) -> Iterator[T]:
    db = sqlite3.connect("")  # "": a private temporary database, deleted when closed
    try:
        db.execute(f"PRAGMA cache_size=-{SPILL_CACHE_KIB}")
        db.execute("CREATE TABLE rows (k TEXT, seq INTEGER, row BLOB)")
        db.executemany(
            "INSERT INTO rows VALUES (?, ?, ?)",
            ((key(row), seq, pickle.dumps(row, pickle.HIGHEST_PROTOCOL)) for seq, row in enumerate(rows)),
        )
        for (blob,) in db.execute("SELECT row FROM rows ORDER BY k, seq"):
            yield pickle.loads(blob)  # rows this process pickled a moment ago
    finally:
        db.close()


@dataclass(frozen=True)
class Difference:
    """Where two answers part: the first position that differs and the ids each side shows from there.

    ``start`` is 0 when the difference is within the first ``WINDOW``
    positions (the windows are then the answers' first ids), else the
    position of the difference itself.
    """

    start: int
    first: list[Any]
    second: list[Any]

    @property
    def where(self) -> str:
        """`` from position N`` for a message, or nothing when the windows are the answers' first ids."""
        return f" from position {self.start + 1}" if self.start else ""


class Aligned(Generic[T]):
    """Two answers side by side: iterating yields the pairs whose keys are equal, up to the first difference.

    After the iteration, ``difference`` says where the answers part (None when
    they are equal in length and keys) and ``count`` how many pairs were equal.
    """

    def __init__(self, first: Iterable[T], second: Iterable[T], key: Callable[[T], Any], shown: Callable[[T], Any]):
        self.first = iter(first)
        self.second = iter(second)
        self.key = key
        self.shown = shown
        self.count = 0
        self.difference: Difference | None = None

    def __iter__(self) -> Iterator[tuple[T, T]]:
        heads: tuple[list[Any], list[Any]] = ([], [])
        for a, b in zip_longest(self.first, self.second, fillvalue=_END):
            if a is _END or b is _END or self.key(a) != self.key(b):
                self.difference = self._difference(heads, a, b)
                return
            if self.count < WINDOW:
                heads[0].append(self.shown(a))
                heads[1].append(self.shown(b))
            yield a, b
            self.count += 1

    def _difference(self, heads: tuple[list[Any], list[Any]], a: Any, b: Any) -> Difference:
        start = 0 if self.count < WINDOW else self.count
        windows = []
        for head, row, rest in ((heads[0], a, self.first), (heads[1], b, self.second)):
            window = list(head) if start == 0 else []
            if row is not _END:
                window.append(self.shown(row))
                window += [self.shown(r) for r in islice(rest, max(0, WINDOW - len(window)))]
            windows.append(window[:WINDOW])
        return Difference(start, windows[0], windows[1])
