"""The batch writer: BatchWriteItem with backoff, UnprocessedItems, workers, rate limit.

Batches are numbered in the order they were read. Writer threads send them
concurrently; ``on_ack`` is called in sequence order for the longest prefix
of acknowledged batches, so the checkpoint it saves is a low-water mark:
every row up to it is in DynamoDB, and a crash rewrites at most the batches
that were in flight.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

import botocore.exceptions
from loguru import logger

from sqlite2ddb.dynamodb.failures import REFUSED_CODES, explain
from sqlite2ddb.dynamodb.objects import ObjectStore, Upload
from sqlite2ddb.dynamodb.retry import (
    MAX_BACKOFF_S,
    ThrottleLog,
    ThrottlingReason,
    backoff_delay,
    error_code,
    throttling_reasons,
    transient_kind,
)
from sqlite2ddb.dynamodb.target import Target
from sqlite2ddb.dynamodb.write_requests import batch_write_params
from sqlite2ddb.errors import RowError, WriteFailed, WriteRefused
from sqlite2ddb.faults import crash_point
from sqlite2ddb.wire import Wire

#: Batches a writer may have sent or queued past the checkpoint, per worker thread.
WINDOW_PER_WORKER = 8
#: While the table accepts other writes, a throttled batch backs off at most base * 2**this:
#: a hot key's budget refills every second, and a longer wait leaves it idle.
THROTTLE_BACKOFF_STEPS = 3
#: A writer tells that DynamoDB throttles it at most this often (a hot key throttles on and off for minutes).
THROTTLE_WARNING_EVERY_S = 30.0
#: What a writer does about each kind of ThrottlingReason, as told in the log.
REASON_MEANINGS = {
    "key": "a hot partition key: only the batches holding it wait",
    "rate": "the table's or an index's own limit: writing slower",
    "stop": "the account's per-table throughput quota",
}


class Commits(Protocol):
    """Who makes acknowledged batches durable (``engine.state.commit.Committer``); the writer only asks it to."""

    def register(self, writer: Any) -> None: ...

    def unregister(self, writer: Any) -> None: ...

    def maybe_commit(self) -> None: ...

    def commit(self) -> None: ...


class Progress:
    """Items a table accepted, counted by every writer to it: the measure of whether a run is stuck.

    A throttled batch is not failing while other batches of the table get
    through (a hot partition key, the table's own rate): the retry budget
    counts the attempts during which the whole table moved nothing.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.accepted = 0
        self.last_at = time.monotonic()  # when the table last accepted an item (or the writing started)

    def add(self, items: int) -> None:
        if items:
            with self._lock:
                self.accepted += items
                self.last_at = time.monotonic()


@dataclass
class Batch:
    seq: int
    items: list[dict[str, Wire]]
    cursors: list[dict[str, Any]]  # the row cursor of each item, for error reports
    cursor: list[Any] | None  # cursor of the last row this batch covers
    rows: int = 0
    skipped: int = 0
    rejected: int = 0
    written_rejects: int = 0  # items of this batch DynamoDB itself refused
    wcu: int = 0
    fingerprints: list[Any] = field(default_factory=list)  # one per item, for the fingerprint store
    deletes: list[dict[str, Wire]] = field(default_factory=list)  # keys to delete (sync)
    delete_keys: list[str] = field(default_factory=list)  # the same keys as the store names them
    refused: set[int] = field(default_factory=set)  # indexes of items DynamoDB refused
    consumed: float = 0.0  # write capacity units DynamoDB says the batch consumed (table and indexes)
    uploads: list[Upload] = field(default_factory=list)  # S3 objects the items point at: written first
    stale_objects: list[tuple[str, str]] = field(default_factory=list)  # (bucket, key) nothing points at once acked

    @property
    def empty(self) -> bool:
        return not self.items and not self.deletes

    def written_fingerprints(self) -> list[Any]:
        """Fingerprints of the items DynamoDB stored (not those it refused)."""
        return [f for i, f in enumerate(self.fingerprints) if i not in self.refused]


@dataclass
class WriteStats:
    """Counters shared by the writer threads of one item type."""

    retries: int = 0
    throttles: int = 0
    reasons: dict[str, int] = field(default_factory=dict)  # ThrottlingReason code -> times seen, over the run
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _log: ThrottleLog = field(default_factory=lambda: ThrottleLog(quiet_s=THROTTLE_WARNING_EVERY_S), repr=False)

    def throttled(self, table: str, code: str, reasons: list[ThrottlingReason] | None = None) -> None:
        new = []
        with self._lock:
            self.throttles += 1
            self.retries += 1
            for reason in reasons or ():
                if reason.reason not in self.reasons:
                    new.append(reason)
                self.reasons[reason.reason] = self.reasons.get(reason.reason, 0) + 1
        for reason in new:  # each reason is told when first seen: what it means and what the writer does
            logger.warning(
                "DynamoDB is throttling writes to {}: {} ({})", table, reason, REASON_MEANINGS[reason.action]
            )
        if not reasons:
            self._log.throttled(f"writes to {table}", code)

    def reasons_text(self) -> str:
        """``TableWriteKeyRangeThroughputExceeded x12, ...``: the reasons seen, the most frequent first."""
        with self._lock:
            counted = sorted(self.reasons.items(), key=lambda kv: (-kv[1], kv[0]))
        return ", ".join(f"{reason} x{n}" for reason, n in counted)

    def retried(self) -> None:
        with self._lock:
            self.retries += 1

    def succeeded(self) -> None:
        self._log.succeeded()

    def take(self) -> dict[str, int]:
        """Counters since the last call (for the state file)."""
        with self._lock:
            out = {"retries": self.retries, "throttles": self.throttles}
            self.retries = self.throttles = 0
        return out


class RateLimiter:
    """A token bucket of write capacity units per second."""

    def __init__(self, units_per_second: float) -> None:
        self.rate = units_per_second
        self.tokens = units_per_second
        self.updated = time.monotonic()
        self.lock = threading.Lock()

    def acquire(self, units: float) -> None:
        while True:
            with self.lock:
                now = time.monotonic()
                self.tokens = min(self.rate, self.tokens + (now - self.updated) * self.rate)
                self.updated = now
                if self.tokens >= min(units, self.rate):
                    self.tokens -= units
                    return
                wait = (min(units, self.rate) - self.tokens) / self.rate
            time.sleep(wait)


#: The pace a writer falls back to at the first table or index limit when it has measured nothing yet.
PACER_FLOOR_WCU = 25.0
#: A table or index limit cuts the pace to this share of what was getting through...
PACER_CUT = 0.7
#: ... at most once a second; after PACER_QUIET_S without one the pace grows by PACER_GROWTH a second.
PACER_QUIET_S = 2.0
PACER_GROWTH = 1.2
PACER_WINDOW_S = 5.0


class Pacer:
    """The write pace of one table, lowered when DynamoDB names a table or index limit, raised as writes pass.

    Unlimited until the first ThrottlingReason of the kind "rate"
    (``TableWriteProvisionedThroughputExceeded``, ``IndexWrite...``,
    ``...MaxOnDemandThroughputExceeded``); then a token bucket at 70% of the
    write units the table took in the last seconds, cut again at most once a
    second while the limit is named, grown 20% a second once it is not. A hot
    key's reason never slows the table: only the batch holding the key waits.
    """

    def __init__(self, ceiling: float | None = None) -> None:
        self.ceiling = ceiling
        self.rate: float | None = None
        self._bucket: RateLimiter | None = None
        self._lock = threading.Lock()
        self._done: list[tuple[float, float]] = []  # (when, write units) of the batches written lately
        self._lowered_at = float("-inf")
        self._grown_at = float("-inf")

    def written(self, units: float) -> None:
        with self._lock:
            now = time.monotonic()
            self._done.append((now, units))
            while self._done and self._done[0][0] < now - PACER_WINDOW_S:
                self._done.pop(0)

    def measured(self) -> float:
        """Write units per second the table took over the last PACER_WINDOW_S seconds."""
        with self._lock:
            return sum(units for _, units in self._done) / PACER_WINDOW_S

    def lower(self, table: str, reason: ThrottlingReason) -> None:
        now = time.monotonic()
        measured = self.measured()
        with self._lock:
            if now - self._lowered_at < 1.0:
                return
            self._lowered_at = now
            base = min(self.rate, measured) if self.rate is not None and measured else self.rate or measured
            self.rate = max(PACER_FLOOR_WCU, base * PACER_CUT)
            if self._bucket is None:
                self._bucket = RateLimiter(self.rate)
            self._bucket.rate = self.rate
        logger.info("writes to {}: {}; pace lowered to {:.0f} write units/s", table, reason.reason, self.rate)

    def acquire(self, units: float) -> None:
        if self._bucket is None:
            return
        with self._lock:
            now = time.monotonic()
            if now - self._lowered_at >= PACER_QUIET_S and now - self._grown_at >= 1.0 and self.rate is not None:
                self._grown_at = now
                self.rate *= PACER_GROWTH
                if self.ceiling:
                    self.rate = min(self.rate, self.ceiling)
                self._bucket.rate = self.rate
        self._bucket.acquire(units)


class BatchWriter:
    """Writes batches to one table with ``workers`` threads; acknowledges them in order."""

    def __init__(
        self,
        target: Target,
        table: str,
        *,
        item_type: str,
        workers: int,
        max_retries: int,
        retry_delay: float,
        on_ack: Callable[[Batch], None],
        on_reject: Callable[[RowError], None] | None = None,
        rate_limiter: RateLimiter | None = None,
        progress: Progress | None = None,
        window: int | None = None,
        commits: Commits | None = None,
        objects: ObjectStore | None = None,
        pacer: Pacer | None = None,
    ) -> None:
        self.target = target
        self.objects = objects  # where a batch's offloaded values go, before its items
        self.progress = progress or Progress()
        self.pacer = pacer or Pacer()
        self.table = table
        self.item_type = item_type
        self.max_retries = max_retries
        self.retry_delay = retry_delay
        self.on_ack = on_ack
        self.on_reject = on_reject
        self.rate_limiter = rate_limiter
        self.stats = WriteStats()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"write-{table}")
        # batches sent or queued but not yet acknowledged
        self._window = max(1, window or workers * WINDOW_PER_WORKER)
        self._lock = threading.Lock()
        self._acked = threading.Condition(self._lock)
        self._done: dict[int, Batch] = {}
        self._next = 0  # the low-water mark: every batch before it is acknowledged
        self._committed = 0  # ... and durable (the checkpoint covers it); the window counts from here
        self._failure: BaseException | None = None
        self.commits = commits
        if commits is not None:
            commits.register(self)

    @property
    def failed(self) -> BaseException | None:
        return self._failure

    def submit(self, batch: Batch) -> None:
        """Queue a batch; blocks while ``window`` batches are unacknowledged (``workers * WINDOW_PER_WORKER``).

        The window counts from the checkpoint, not from the batches still
        running: one slow batch holds the others back once the window is
        full, so a crash never rewrites more than the window. A wider window
        rides out a slow batch (a request timing out) with less stalling;
        8 per worker recovers most of the throughput an unbounded one has
        under faults (see benchmarks/faults.py).
        """
        while True:
            with self._acked:
                if self._failure is not None or batch.seq - self._committed < self._window:
                    break
                if batch.seq - self._next >= self._window:
                    self._acked.wait()
                    continue
            self.commits.commit()  # type: ignore[union-attr] # acknowledged but not durable: commit now
        if self._failure:
            raise self._failure
        self._pool.submit(self._run, batch)

    def acknowledged_mark(self) -> int:
        return self._next

    def committed(self, mark: int) -> None:
        """The committer made every batch before ``mark`` durable."""
        with self._acked:
            self._committed = max(self._committed, mark)
            self._acked.notify_all()

    def close(self) -> None:
        """Wait for every batch in flight, make the acknowledged ones durable; raise the first failure."""
        self._pool.shutdown(wait=True)
        if self.stats.reasons:
            logger.warning("writes to {} were throttled: {}", self.table, self.stats.reasons_text())
        if self.commits is not None:
            self.commits.commit()
            self.commits.unregister(self)
        if self._failure:
            raise self._failure

    def _run(self, batch: Batch) -> None:
        try:
            if self._failure is None:
                if not batch.empty:
                    if self.rate_limiter:
                        self.rate_limiter.acquire(batch.wcu)
                    self.pacer.acquire(batch.wcu)
                    crash_point("before_write")
                    self._upload(batch)
                    self._write(batch)
                    self.pacer.written(batch.wcu)
                    crash_point("after_write")
                self._acknowledge(batch)
        except BaseException as exc:  # noqa: BLE001 - handed to the producer thread
            with self._acked:
                if self._failure is None:
                    self._failure = exc
                self._acked.notify_all()

    def _acknowledge(self, batch: Batch) -> None:
        with self._acked:
            self._done[batch.seq] = batch
            while self._next in self._done and self._failure is None:
                self.on_ack(self._done.pop(self._next))
                self._next += 1
                crash_point("after_checkpoint")
            if self.commits is None:
                self._committed = self._next
            self._acked.notify_all()
        if self.commits is not None:
            self.commits.maybe_commit()

    def _upload(self, batch: Batch) -> None:
        """The objects the batch's items point at, in S3 before the items are (never a pointer to nothing)."""
        if not batch.uploads:
            return
        if self.objects is None:
            raise self._failed(batch, "its items point at S3 objects and this writer has no S3 store")
        self.objects.put_all(batch.uploads)

    def _write(self, batch: Batch) -> None:
        pending: dict[str, list[dict[str, Any]]] = {
            self.table: [{"PutRequest": {"Item": item}} for item in batch.items]
            + [{"DeleteRequest": {"Key": key}} for key in batch.deletes]
        }
        attempt = 0  # requests in a row that moved nothing: sets the backoff
        stalled = 0  # ... while the table moved nothing either: what the retry budget counts
        # how long the table must have accepted nothing for a throttle to count: writes in flight are
        # acknowledged late, and full jitter can retry at once, so "nothing since my last try" is no proof
        window = min(MAX_BACKOFF_S, self.retry_delay * 2**self.max_retries)
        last: Exception | str = ""  # the last failure: told with the final error, a cause to act on
        while pending:
            throttled = False
            try:
                response = self.target.client.batch_write_item(
                    **batch_write_params(pending, self.target.write_capacity)
                )
            except Exception as exc:  # noqa: BLE001 - classified below; what is not ours to handle is raised again
                if transient_kind(exc) is None:
                    if error_code(exc) == "ValidationException":
                        self._write_one_by_one(batch, pending[self.table], exc)
                        return
                    raise self._not_retried(batch, exc) from None
                self._count_retry(exc)
                throttled = transient_kind(exc) == "throttle"
                last = exc
                if throttled:
                    self._heed(batch, throttling_reasons(exc))
            else:
                self.stats.succeeded()
                batch.consumed += sum(c.get("CapacityUnits", 0.0) for c in response.get("ConsumedCapacity") or [])
                unprocessed = response.get("UnprocessedItems") or {}
                sent = sum(len(v) for v in pending.values())
                left = sum(len(v) for v in unprocessed.values())
                self.progress.add(sent - left)
                if not unprocessed:
                    return
                pending = unprocessed
                self.stats.retried()
                if left < sent:
                    attempt = 0
                    time.sleep(backoff_delay(0, self.retry_delay))
                    continue
                throttled = True  # DynamoDB took none of the items: their partitions are at their limit
                last = f"DynamoDB took none of the {sent} items (UnprocessedItems)"
            attempt += 1
            moving = throttled and self.progress.last_at >= time.monotonic() - window
            stalled = 0 if moving else stalled + 1
            if stalled > self.max_retries:
                raise self._exhausted(batch, last)
            time.sleep(backoff_delay(min(attempt, THROTTLE_BACKOFF_STEPS) if moving else attempt, self.retry_delay))

    def _heed(self, batch: Batch, reasons: list[ThrottlingReason]) -> None:
        """Act on the ThrottlingReasons: a hot key waits in this batch's backoff, a limit slows the table."""
        for reason in reasons:
            if reason.action == "stop":
                raise self._failed(
                    batch,
                    f"DynamoDB refuses more writes: {reason} (the account's per-table throughput quota); "
                    "nothing is lost: every acknowledged batch is checkpointed",
                    "ask AWS for a higher quota or set --max-wcu below it, then run 'resume'",
                ) from None
            if reason.action == "rate":
                self.pacer.lower(self.table, reason)

    def _count_retry(self, exc: Exception) -> None:
        if transient_kind(exc) == "throttle":
            self.stats.throttled(self.table, error_code(exc), throttling_reasons(exc))
        else:
            self.stats.retried()
            logger.debug("retrying a write to {}: {}", self.table, exc)

    def _not_retried(self, batch: Batch, exc: Exception) -> Exception:
        """The error to stop with when DynamoDB answers with something no retry fixes."""
        code = error_code(exc)
        if code in REFUSED_CODES:
            message, hint = explain(exc, self.target)
            return WriteRefused(f"item type {self.item_type}: writing to {self.table}: {message}", hint)
        if isinstance(exc, botocore.exceptions.ClientError):
            return self._failed(batch, f"{code}: {exc.response.get('Error', {}).get('Message', '')}")
        return exc

    def _failed(self, batch: Batch, reason: str, hint: str | None = None) -> WriteFailed:
        first = batch.cursors[0] if batch.cursors else None
        return WriteFailed(
            f"item type {self.item_type}: writing to {self.table} failed at the batch starting at row {first}: {reason}",
            hint,
        )

    def _exhausted(self, batch: Batch, last: Exception | str) -> WriteFailed:
        """Retries ran out: the error names the last failure (e.g. the endpoint that refused the connection)."""
        cause, hint = explain(last, self.target) if isinstance(last, Exception) else (last, None)
        if isinstance(last, Exception) and transient_kind(last) == "connection" and str(last):
            cause = f"{cause} ({last})"
        return self._failed(batch, f"still failing after {self.max_retries} retries; last error: {cause}", hint)

    def _write_one_by_one(self, batch: Batch, requests: list[dict[str, Any]], error: Exception) -> None:
        """DynamoDB refused the batch: find the item at fault by writing them singly."""
        index = {id(item): i for i, item in enumerate(batch.items)}
        for request in requests:
            put = request.get("PutRequest")
            for attempt in range(self.max_retries + 1):
                try:
                    if put is not None:
                        self.target.client.put_item(TableName=self.table, Item=put["Item"])
                    else:
                        self.target.client.delete_item(TableName=self.table, Key=request["DeleteRequest"]["Key"])
                    break
                except Exception as exc:  # noqa: BLE001 - classified below, as in _write
                    if transient_kind(exc) is not None:
                        self._count_retry(exc)
                        error = exc
                    elif error_code(exc) == "ValidationException" and put is not None:
                        position = index.get(id(put["Item"]), -1)
                        batch.refused.add(position)
                        self._reject(batch, batch.cursors[position] if 0 <= position < len(batch.cursors) else {}, exc)
                        break
                    else:
                        raise self._not_retried(batch, exc) from None
                time.sleep(backoff_delay(attempt, self.retry_delay))
            else:
                raise self._exhausted(batch, error)

    def _reject(self, batch: Batch, cursor: dict[str, Any], exc: Exception) -> None:
        """An item DynamoDB will not store: the run stops at it, or it goes to the rejects file."""
        assert isinstance(exc, botocore.exceptions.ClientError)
        message = exc.response.get("Error", {}).get("Message", "")
        row_error = RowError(self.item_type, cursor, f"DynamoDB refused the item: {message}")
        if self.on_reject is None:
            raise row_error from None
        self.on_reject(row_error)
        batch.rejected += 1
        batch.written_rejects += 1
