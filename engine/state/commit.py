"""Making acknowledged progress durable: the fingerprints first, then the checkpoint file, every interval.

The writer (``sqlite2ddb.dynamodb.writer.BatchWriter``) acknowledges batches in sequence
order; the run records each acknowledgement in memory here (its
fingerprints, and the low-water mark it moves in the state), and a commit
makes them durable in this order:

1. the fingerprints of every acknowledged batch, in one SQLite transaction;
2. the checkpoint file (``MigrationState.save``: temp file, fsync, rename,
   fsync of the folder).

A crash between 1 and 2 leaves the store ahead of the checkpoint, never
ahead of DynamoDB: the resume writes those rows again and records the same
fingerprints. A crash before 1 loses only acknowledged batches that no
checkpoint covers; the resume writes them again too.

A commit happens when ``interval`` seconds have passed since the last one,
when a writer's window is full (the window counts from the committed mark,
so a crash rewrites at most ``workers x WINDOW_PER_WORKER`` batches, as when
every batch was committed), and when a writer closes. One save now covers
many batches: a load of 13,337 items that saved the checkpoint 534 times (1,144
fsyncs) saves it a few dozen times.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Protocol

from sqlite2ddb.state.checkpoints import MigrationState
from sqlite2ddb.state.fingerprints import Fingerprint, FingerprintStore

#: Seconds between two commits while batches are acknowledged (a window that fills commits at once).
COMMIT_INTERVAL_S = 0.25


class Committed(Protocol):
    """What a writer exposes to the committer: its acknowledged mark, and the news that it is durable."""

    def acknowledged_mark(self) -> int: ...

    def committed(self, mark: int) -> None: ...


class Committer:
    """One run's commits; shared by the writers of every item type and cursor range of the run."""

    def __init__(self, state: MigrationState, store: FingerprintStore, interval: float = COMMIT_INTERVAL_S) -> None:
        self.state = state
        self.store = store
        self.interval = interval
        self.commits = 0
        self._lock = threading.Lock()
        self._pending: list[tuple[str, list[Fingerprint]]] = []
        self._dirty = False
        self._last = time.monotonic()
        self._writers: list[Committed] = []

    def register(self, writer: Committed) -> None:
        with self._lock:
            self._writers.append(writer)

    def unregister(self, writer: Committed) -> None:
        with self._lock:
            if writer in self._writers:
                self._writers.remove(writer)

    def acknowledged(self, table: str, fingerprints: list[Fingerprint], advance: Callable[[], None]) -> None:
        """Record one acknowledged batch in memory: its fingerprints, and ``advance`` (the state's low-water mark)."""
        with self._lock:
            if fingerprints:
                self._pending.append((table, fingerprints))
            advance()
            self._dirty = True
            if self.interval <= 0:  # every batch durable on its own (what a kill at the n-th save counts on)
                self._save()

    def maybe_commit(self) -> None:
        """Commit if the interval has passed since the last commit."""
        if self._dirty and time.monotonic() - self._last >= self.interval:
            self.commit()

    def commit(self) -> None:
        """Make every acknowledgement recorded so far durable, then tell each writer its committed mark."""
        with self._lock:
            writers = list(self._writers)
            marks = [w.acknowledged_mark() for w in writers]  # read before the save: all of it is recorded
            self._save()
        for writer, mark in zip(writers, marks):
            writer.committed(mark)

    def _save(self) -> None:
        """Fingerprints first, then the checkpoint file; under the lock."""
        pending, self._pending = self._pending, []
        if pending or self._dirty:
            for table, fingerprints in _by_table(pending).items():
                self.store.record(table, fingerprints)
            self.state.save()
            self.commits += 1
        self._dirty = False
        self._last = time.monotonic()


def _by_table(pending: list[tuple[str, list[Fingerprint]]]) -> dict[str, list[Fingerprint]]:
    tables: dict[str, list[Fingerprint]] = {}
    for table, fingerprints in pending:
        tables.setdefault(table, []).extend(fingerprints)
    return tables
