"""One item type's pass: rows from the source, items to DynamoDB, checkpoints as batches are acknowledged.

``migrate`` runs one ``ItemRun`` per item type it writes; the stop flag that
signals and failures set is shared by every item type of a run (and by
``sync``).
"""

from __future__ import annotations

import json
import signal
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from loguru import logger

from sqlite2ddb.config import Config
from sqlite2ddb.dynamodb.target import Target
from sqlite2ddb.dynamodb.writer import WINDOW_PER_WORKER, Batch, BatchWriter, Pacer, Progress, RateLimiter
from sqlite2ddb.errors import Interrupted, MigrationError, RowError
from sqlite2ddb.extract.source import open_source, split_points
from sqlite2ddb.migrate.timeline import Timeline
from sqlite2ddb.plan.compile import ItemTypePlan
from sqlite2ddb.render.stream import Rendered, Rows, primary_key, render
from sqlite2ddb.state import MigrationState
from sqlite2ddb.state.catchup import CatchupStore
from sqlite2ddb.state.commit import Committer
from sqlite2ddb.state.fingerprints import FingerprintStore, fingerprint

#: An item type is cut into ``workers`` cursor ranges when each would hold at least this many rows.
SPLIT_MIN_ROWS = 250
#: How often a main thread waiting on workers wakes to run a signal handler.
SIGNAL_POLL_S = 0.1


class Reporter(Protocol):
    def start(self, name: str, total: int, done: int) -> None: ...
    def advance(self, name: str, rows: int, items: int) -> None: ...
    def finish(self, name: str, outcome: str = "finished") -> None: ...
    def not_started(self, name: str) -> None: ...


class SilentReporter:
    def start(self, name: str, total: int, done: int) -> None:
        logger.info("{}: {} rows to read ({} done before)", name, total, done)

    def advance(self, name: str, rows: int, items: int) -> None:
        pass

    def finish(self, name: str, outcome: str = "finished") -> None:
        pass

    def not_started(self, name: str) -> None:
        logger.info("{}: not started", name)


@dataclass
class ItemResult:
    name: str
    table: str
    status: str
    items_written: int = 0
    rows_read: int = 0
    rows_skipped: int = 0
    rows_rejected: int = 0
    retries: int = 0
    throttles: int = 0
    seconds: float = 0.0


class Aborted(MigrationError):
    """This item type stopped at a checkpoint because another one failed."""


def wait_all(futures: list[Future[Any]]) -> None:
    """Wait for every future, waking often to let a signal handler run.

    Python runs signal handlers on the main thread, once it is back in Python
    code. A signal the kernel hands to a writer thread does not wake a main
    thread asleep in a join, so SIGTERM would wait for the whole item type.
    """
    pending = set(futures)
    while pending:
        _, pending = wait(pending, timeout=SIGNAL_POLL_S)


class StopFlag:
    """SIGINT/SIGTERM set a flag; the producer stops feeding and the run checkpoints."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self.aborted = False
        self._previous: dict[int, Any] = {}

    def abort(self) -> None:
        """Another table failed: stop feeding, checkpoint, and stop."""
        self.aborted = True

    def check(self) -> None:
        if self.signum is not None:
            raise Interrupted(self.signum)
        if self.aborted:
            raise Aborted("stopped because another item type failed")

    def __enter__(self) -> StopFlag:
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.signum is not None:
            raise KeyboardInterrupt
        self.signum = signum
        logger.warning("signal {} received: finishing the batches in flight, then saving the checkpoint", signum)

    def __exit__(self, *exc: Any) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)


@dataclass
class _Lane:
    """One stream of an item type's rows with its own writer: a cursor range, or (index None) all of them."""

    index: int | None
    after: list[Any] | None
    upto: list[Any] | None
    conn: Any
    writer: BatchWriter


class ItemRun:
    """One item type's pass: producers (one per cursor range) feed writers in thread pools.

    A large item type is cut into ``workers`` cursor ranges of about equal
    size, each read and written concurrently with its own checkpoint (a
    low-water mark per range, kept in the state). Rows in cursor order often
    share a partition key for thousands of rows (one playlist, one customer);
    on AWS that key accepts 1,000 write units a second, so a single stream
    would wait on it while the rest of the table's budget sits idle. The
    writers' windows add up to what one stream's would be, so a crash rewrites
    no more than before.
    """

    def __init__(
        self,
        item: ItemTypePlan,
        config: Config,
        target: Target,
        conn: Any,
        state: MigrationState,
        reporter: Reporter,
        limiter: RateLimiter | None,
        rejects: Path,
        stop: StopFlag,
        store: FingerprintStore,
        source: str | Path | None = None,
        committer: Committer | None = None,
    ) -> None:
        self.item = item
        self.committer = committer or Committer(state, store)
        self.store = store
        self.key_names = list(item.table.spec.primary_key_names)
        self.config = config
        self.settings = config.migration_settings
        self.target = target
        self.conn = conn
        self.source = source or config.source_db
        self.state = state
        self.reporter = reporter
        self.limiter = limiter
        self.rejects = rejects
        self.stop = stop
        self.rejected_total = 0
        self.result = ItemResult(item.name, item.table.name, "running")
        self.timeline: Timeline | None = None
        self.catchup: tuple[CatchupStore, str] | None = None  # where to note which rows render which keys
        self.progress = Progress()
        self.pacer = Pacer(self.settings.max_wcu)  # every lane of this item type slows down together
        self.lanes: list[_Lane] = []
        self._lock = threading.Lock()
        self._last_ack = time.monotonic()

    def execute(self) -> ItemResult:
        name = self.item.name
        entry = self.state.item(name)
        total = self.item.expected_rows
        self.state.mark_running(name, total, self.state.tables.get(self.item.table.name, {}).get("generation"))
        self.reporter.start(name, total, entry["rows_read"])
        started = time.monotonic()
        try:
            self._run_lanes(self._ranges(entry))
        except BaseException as exc:
            self._drain()
            reason = str(exc) or type(exc).__name__
            if isinstance(exc, Interrupted):
                self.state.mark_failed(name, "interrupted")
            else:
                self.state.mark_failed(name, reason)
            self.reporter.finish(name, _outcome(exc))
            if isinstance(exc, MigrationError | KeyboardInterrupt):
                raise
            raise MigrationError(f"item type {name}: {reason}") from exc
        for lane in self.lanes:
            self.state.add_counters(name, lane.writer.stats.take())
        self.state.mark_done(name)
        self.reporter.finish(name)
        final = self.state.item(name)
        self.result.status = "done"
        self.result.seconds = time.monotonic() - started
        self.result.retries = final["retries"]
        self.result.throttles = final["throttles"]
        if self.timeline:
            self.timeline.item_type_done(name, self.item.table.name, self.result.seconds, self.result.items_written)
        return self.result

    def _ranges(self, entry: dict[str, Any]) -> list[dict[str, Any]] | None:
        """The ranges to write: those of the state, or a new split; None for one stream."""
        name = self.item.name
        ranges = self.state.ranges(name)
        if ranges is not None or entry["cursor"] is not None:
            return ranges  # an earlier run's split, or a single stream it started
        parts = self.settings.workers
        if parts < 2 or self.item.expected_rows < parts * SPLIT_MIN_ROWS:
            return None
        points = split_points(self.conn, self.item.spec.query, self.item.spec.cursor, self.item.expected_rows, parts)
        if not points:
            return None
        bounds = list(zip([None, *points], [*points, None]))
        self.state.set_ranges(name, bounds)
        logger.debug("{}: {} cursor ranges written concurrently", name, len(bounds))
        return self.state.ranges(name)

    def _run_lanes(self, ranges: list[dict[str, Any]] | None) -> None:
        if ranges is None:
            lane = self._lane(None, self.state.cursor(self.item.name), None, self.conn)
            self._produce(lane)
            lane.writer.close()
            return
        todo = [(i, r) for i, r in enumerate(ranges) if not r["done"]]
        if not todo:
            return
        window = max(1, self.settings.workers * WINDOW_PER_WORKER // len(ranges))
        with ThreadPoolExecutor(len(todo), thread_name_prefix=f"read-{self.item.name}") as pool:
            futures = [pool.submit(self._run_range, i, r, window) for i, r in todo]
            wait_all(futures)
        errors = [f.exception() for f in futures if f.exception() is not None]
        if errors:
            errors.sort(key=lambda e: isinstance(e, Aborted))
            raise errors[0]  # type: ignore[misc]

    def _run_range(self, index: int, bounds: dict[str, Any], window: int) -> None:
        conn = open_source(self.source, self.settings.busy_timeout)
        try:
            lane = self._lane(index, bounds["cursor"] or bounds["after"], bounds["upto"], conn, window)
            self._produce(lane)
            lane.writer.close()
            self.state.finish_range(self.item.name, index)
        except BaseException:
            self.stop.abort()  # the other ranges stop at their checkpoints
            raise
        finally:
            conn.close()

    def _lane(self, index: int | None, after: Any, upto: Any, conn: Any, window: int | None = None) -> _Lane:
        writer = BatchWriter(
            self.target,
            self.item.table.name,
            item_type=self.item.name,
            workers=self.settings.workers,
            window=window,
            max_retries=self.settings.max_retries,
            retry_delay=self.settings.retry_delay,
            on_ack=lambda batch: self._acknowledged(lane, batch),
            on_reject=self._reject if self.settings.on_error == "skip" else None,
            rate_limiter=self.limiter,
            progress=self.progress,
            commits=self.committer,
            objects=self.target.objects if self.item.offload is not None else None,
            pacer=self.pacer,
        )
        lane = _Lane(index, after, upto, conn, writer)
        with self._lock:
            self.lanes.append(lane)
        return lane

    def _drain(self) -> None:
        for lane in self.lanes:
            try:
                lane.writer.close()
            except BaseException:  # noqa: BLE001 - the first error is already being raised
                pass
            self.state.add_counters(self.item.name, lane.writer.stats.take())
        self.state.save()

    def _acknowledged(self, lane: _Lane, batch: Batch) -> None:
        counters = {
            "rows_read": batch.rows,
            "rows_skipped": batch.skipped,
            "items_written": len(batch.items) - batch.written_rejects,
            "rows_rejected": batch.rejected,
            "batches": 1,
            **lane.writer.stats.take(),
        }
        with self._lock:
            now = time.monotonic()
            elapsed, self._last_ack = now - self._last_ack, now
            self.result.items_written += counters["items_written"]
            self.result.rows_read += batch.rows
            self.result.rows_skipped += batch.skipped
            self.result.rows_rejected += batch.rejected

        def advance() -> None:  # in memory; the committer saves it after the fingerprints
            if batch.cursor is None:  # an empty batch moves nothing
                return
            if lane.index is None:
                self.state.advance(self.item.name, batch.cursor, counters, elapsed)
            else:
                self.state.advance_range(self.item.name, lane.index, batch.cursor, counters, elapsed)

        self.committer.acknowledged(self.item.table.name, batch.written_fingerprints(), advance)
        self.reporter.advance(self.item.name, batch.rows, counters["items_written"])
        if self.timeline:
            self.timeline.acknowledged(
                self.item.table.name,
                counters["items_written"],
                wcu=batch.wcu,
                consumed=batch.consumed,
                retries=counters["retries"],
                throttles=counters["throttles"],
            )

    def _reject(self, error: RowError) -> None:
        with self._lock:
            self.rejected_total += 1
            self.rejects.parent.mkdir(parents=True, exist_ok=True)
            record = {"item_type": error.item_type, "cursor": error.cursor, "reason": error.reason, "at": time.time()}
            with open(self.rejects, "a", encoding="utf-8") as handle:
                handle.write(json.dumps(record, default=str) + "\n")
            too_many = self.rejected_total > self.settings.max_errors
        logger.warning("rejected {}", error)
        if too_many:
            raise MigrationError(
                f"item type {self.item.name}: more than {self.settings.max_errors} rejected rows; stopping",
                f"see {self.rejects}",
            )

    def _produce(self, lane: _Lane) -> None:
        item = self.item
        columns = item.spec.cursor
        batch_size = self.config.batch_size
        batch = Batch(0, [], [], None)
        keys: dict[Any, dict[str, Any]] = {}
        for row in render(lane.conn, item, Rows(after=lane.after, upto=lane.upto)):
            if self.stop.signum is not None or self.stop.aborted:
                self._submit(lane, batch)
                lane.writer.close()
                self.stop.check()
            if row.item is not None:
                error = self._add(row, dict(zip(columns, row.cursor)), batch, keys)
                if error is None:
                    batch.uploads += row.uploads
            else:
                error = row.error
                batch.skipped += error is None
            if error is not None:
                self._row_error(error, batch, lane)
            batch.rows += 1
            batch.cursor = row.cursor
            if len(batch.items) >= batch_size:
                self._submit(lane, batch)
                batch, keys = Batch(batch.seq + 1, [], [], None), {}
        self._submit(lane, batch)

    def _submit(self, lane: _Lane, batch: Batch) -> None:
        """Which rows render which keys goes to the catch-up store before the batch is sent (never after)."""
        if self.catchup is not None and batch.items:
            store, run = self.catchup
            entries = [(repr(tuple(c.values())), f.key) for c, f in zip(batch.cursors, batch.fingerprints)]
            store.note_rendered(self.item.name, run, entries)
            store.flush()
        lane.writer.submit(batch)

    def _add(
        self, row: Rendered, cursor: dict[str, Any], batch: Batch, keys: dict[Any, dict[str, Any]]
    ) -> RowError | None:
        """Add the item to the batch, or return why it cannot be written (a key twice in one batch)."""
        built = row.item
        assert built is not None
        key = primary_key(self.item, built)
        if key in keys:
            return RowError(
                self.item.name, cursor, f"renders the same primary key {key} as row {keys[key]} in the same batch"
            )
        keys[key] = cursor
        batch.fingerprints.append(fingerprint(built, self.key_names, self.item.name, row.wire))
        batch.items.append(built)
        batch.cursors.append(cursor)
        batch.wcu += row.units
        return None

    def _row_error(self, error: RowError, batch: Batch, lane: _Lane) -> None:
        """on_error=skip: record the row and go on; stop: write what came before, then fail."""
        if self.settings.on_error == "skip":
            batch.rejected += 1
            self._reject(error)
            return
        self._submit(lane, batch)
        lane.writer.close()
        raise error


def _outcome(exc: BaseException) -> str:
    """How an item type that raised ended, for the screen: never 'finished'."""
    if isinstance(exc, Interrupted | KeyboardInterrupt):
        return "interrupted at its checkpoint"
    if isinstance(exc, Aborted):
        return "stopped at its checkpoint (another item type failed)"
    return "failed"
