"""Run a plan: for each item type, stream rows -> items -> batches -> DynamoDB.

Resume is the ordinary path: an item type that is done is skipped (unless
forced), one with a checkpoint continues after it, the rest start fresh.
"""

from __future__ import annotations

import hashlib
import json
import signal
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any, Protocol

from loguru import logger

from engine.config import Config
from engine.errors import Interrupted, MigrationError, RowError, StateError, TargetError, UsageError
from engine.extract import Row, open_source, split_points, stream_rows
from engine.load import WINDOW_PER_WORKER, Batch, BatchWriter, Progress, RateLimiter
from engine.plan import ItemTypePlan, Plan, TablePlan
from engine.snapshot import Snapshot, remove_others, source_digests, source_identity
from engine.spec.model import ItemTypeSpec
from engine.state import Lock, MigrationState, remove_stale_temps
from engine.state.binding import check_owner, check_target, reconcile_tables, target_record
from engine.state.fingerprints import FingerprintStore, fingerprint
from engine.target import Target, ensure_tables, existing_tables
from engine.timeline import Timeline, recording
from engine.transform import attach_children, build_item, cursor_of, keep_row, primary_key
from engine.types import MAX_ITEM_BYTES, item_size, write_units

CHUNK_ROWS = 500
#: An item type is cut into ``workers`` cursor ranges when each would hold at least this many rows.
SPLIT_MIN_ROWS = 250


class Reporter(Protocol):
    def start(self, name: str, total: int, done: int) -> None: ...
    def advance(self, name: str, rows: int, items: int) -> None: ...
    def finish(self, name: str) -> None: ...


class SilentReporter:
    def start(self, name: str, total: int, done: int) -> None:
        logger.info("{}: {} rows to read ({} done before)", name, total, done)

    def advance(self, name: str, rows: int, items: int) -> None:
        pass

    def finish(self, name: str) -> None:
        pass


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


@dataclass
class MigrationResult:
    items: list[ItemResult] = field(default_factory=list)
    seconds: float = 0.0
    tables_created: list[str] = field(default_factory=list)

    @property
    def items_written(self) -> int:
        return sum(i.items_written for i in self.items)


def spec_digest(item: ItemTypeSpec) -> str:
    """A hash of what an item type writes, ignoring where in the file it stands."""

    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            return {str(k): strip(v) for k, v in value.items() if k not in ("location", "query_location")}
        if isinstance(value, list | tuple):
            return [strip(v) for v in value]
        return value

    text = json.dumps(strip(asdict(item)), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def run_identity(plan: Plan, config: Config, target: Target, snapshot: Snapshot | None = None) -> dict[str, Any]:
    """What this run's checkpoints belong to: mapping, source (as snapshotted), target."""
    identity = {
        "mapping_dir": plan.mapping.directory,
        "mapping_digest": plan.mapping.digest,
        "item_type_digests": {i.name: spec_digest(i.spec) for i in plan.item_types},
        "source": snapshot.source if snapshot else source_identity(config.source_db),
        "target": {"kind": target.kind, "region": target.region, "table_prefix": plan.table_prefix},
    }
    if snapshot:
        identity["snapshot"] = snapshot.record()
    return identity


def check_identity(state: MigrationState, identity: dict[str, Any], force: bool) -> list[str]:
    """Item types whose progress no longer matches the mapping; refuse unless forced."""
    previous = state.identity
    if not previous:
        return []
    started = {n for n, e in state.snapshot()["item_types"].items() if e.get("status") != "pending"}
    old = previous.get("item_type_digests", {})
    current = identity["item_type_digests"]
    # in the plan's order (then item types the mapping no longer has), whatever order the threads saved them in
    ordered = [*current, *sorted(started - current.keys())]
    changed = [n for n in ordered if n in started and old.get(n) != current.get(n)]
    if changed and not force:
        raise StateError(
            f"the mapping changed since the checkpoint for item type(s): {', '.join(changed)}",
            "run 'migrate --force' to rewrite them, or 'reset' to start over",
        )
    if started and previous.get("source", {}).get("sha256") != identity["source"]["sha256"] and not force:
        raise StateError(
            f"the source database {identity['source']['path']} changed since the checkpoint",
            "run 'sync' to write the difference, 'migrate --force' to rewrite everything, or 'reset'",
        )
    if started and previous.get("target", {}).get("table_prefix") != identity["target"]["table_prefix"] and not force:
        raise StateError(
            f"the state belongs to tables prefixed {previous['target'].get('table_prefix')!r}, not {identity['target']['table_prefix']!r}",
            "use another state_file, or 'reset'",
        )
    return changed


@contextmanager
def state_lock(config: Config) -> Iterator[MigrationState]:
    """Load the state under the run lock, released when the run ends."""
    path = config.state_path
    lock = Lock(path.with_name(path.name + ".lock"))
    lock.acquire()
    try:
        remove_stale_temps(path)
        state = MigrationState.load(path)
        check_owner(state, config)
        yield state
    finally:
        lock.release()


class _Aborted(MigrationError):
    """This item type stopped at a checkpoint because another one failed."""


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
            raise _Aborted("stopped because another item type failed")

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


def select_item_types(plan: Plan, tables: Sequence[str] | None) -> list[ItemTypePlan]:
    if not tables:
        return list(plan.item_types)
    known = (
        {t.config_name: t for t in plan.tables}
        | {t.spec.name: t for t in plan.tables}
        | {t.name: t for t in plan.tables}
    )
    unknown = [t for t in tables if t not in known]
    if unknown:
        names = ", ".join(t.config_name for t in plan.tables)
        raise UsageError(f"unknown table(s) {', '.join(unknown)} (known: {names})")
    wanted = {known[t].spec.name for t in tables}
    return [i for i in plan.item_types if i.table.spec.name in wanted]


def migrate(
    plan: Plan,
    config: Config,
    target: Target,
    conn: Any,
    *,
    tables: Sequence[str] | None = None,
    force: bool = False,
    reporter: Reporter | None = None,
    rejects_path: Path | None = None,
    snapshot: Snapshot | None = None,
) -> MigrationResult:
    """Migrate the selected item types; resume where the state says. ``conn`` reads ``snapshot`` if given."""
    reporter = reporter or SilentReporter()
    selected = select_item_types(plan, tables)
    settings = config.migration_settings
    result = MigrationResult()
    started = time.monotonic()
    with (
        state_lock(config) as state,
        FingerprintStore.of(config.state_dir) as store,
        recording(config.state_dir, "migrate") as timeline,
    ):
        changed = prepare_target(plan, config, target, state, selected, force, result, store, snapshot)
        limiter = RateLimiter(settings.max_wcu) if settings.max_wcu else None
        rejects = rejects_path or config.state_dir / "rejects.jsonl"
        groups = _table_groups(selected)
        parallel = max(1, min(settings.parallel_tables, len(groups)))
        if parallel > 1:  # the largest first: a small table waits less than a large one would
            groups.sort(key=lambda group: -sum(i.expected_rows for i in group))
        source = snapshot.path if snapshot else config.source_db
        with StopFlag() as stop:

            def run_group(group: list[ItemTypePlan]) -> list[ItemResult]:
                group_conn = conn if parallel == 1 else open_source(source, settings.busy_timeout)
                try:
                    return [_run_one(item, group_conn) for item in group]
                except BaseException:
                    stop.abort()
                    raise
                finally:
                    if group_conn is not conn:
                        group_conn.close()

            def _run_one(item: ItemTypePlan, group_conn: Any) -> ItemResult:
                if force or item.name in changed:
                    state.restart(item.name)
                elif state.status(item.name) == "done":
                    logger.info("{}: done in an earlier run; skipped (use --force to rewrite)", item.name)
                    return _result_from_state(item, state, "skipped")
                run = _ItemRun(item, config, target, group_conn, state, reporter, limiter, rejects, stop, store, source)
                run.timeline = timeline
                return run.execute()

            outcomes = run_groups(groups, parallel, run_group)
        if snapshot is not None:
            _finish_snapshot(state, conn, selected, snapshot, config)
        order = {item.name: i for i, item in enumerate(selected)}
        result.items = sorted((r for rs in outcomes for r in rs), key=lambda r: order[r.name])
    result.seconds = time.monotonic() - started
    return result


def prepare_target(
    plan: Plan,
    config: Config,
    target: Target,
    state: MigrationState,
    selected: list[ItemTypePlan],
    force: bool,
    result: MigrationResult,
    store: FingerprintStore,
    snapshot: Snapshot | None = None,
) -> list[str]:
    """Check the state against the mapping, the source and the live target; create the tables.

    Returns the item types whose mapping changed (to restart). Nothing is
    written before the checks pass.
    """
    identity = run_identity(plan, config, target, snapshot)
    changed = check_identity(state, identity, force)
    table_plans = list({i.table.name: i.table for i in selected}.values())
    recreate = force and config.migration_settings.delete_existing_tables
    result.tables_created = bind_target(config, target, state, plan, table_plans, identity, store, recreate)
    return changed


def bind_target(
    config: Config,
    target: Target,
    state: MigrationState,
    plan: Plan,
    tables: list[TablePlan],
    identity: dict[str, Any],
    store: FingerprintStore,
    recreate: bool = False,
) -> list[str]:
    """Refuse another target, create missing tables, void what a missing or recreated table held.

    Checkpoints (and fingerprints) of a table that is missing or was recreated
    are voided, so that nothing is skipped as done on a table that does not
    hold it. Returns the tables created.
    """
    names = [t.name for t in tables]
    described = existing_tables(target, names)
    check_target(state, target, described)
    identity["target"].update(target_record(target, described))
    # item types of other tables keep the digest they were written with, so a change to them
    # is still seen by the run that writes them
    written = {i.name for i in plan.item_types if i.table.name in names}
    previous = state.identity.get("item_type_digests", {})
    identity["item_type_digests"] = {
        n: d if n in written or n not in previous else previous[n] for n, d in identity["item_type_digests"].items()
    }
    state.set_identity(identity)
    state.start_run()
    settings = config.migration_settings
    created: list[str] = []
    if settings.create_tables:
        created = ensure_tables(target, plan, tables, recreate=recreate)
        described = existing_tables(target, names)
    missing = [name for name, description in described.items() if description is None]
    for stale in reconcile_tables(state, plan, tables, described, created):
        store.forget_table(stale)
    if missing:
        raise TargetError(
            f"table(s) {', '.join(missing)} do not exist and create_tables is false in {config.path}",
            "create them, or set migration_settings.create_tables to true",
        )
    return created


def _finish_snapshot(
    state: MigrationState, conn: Any, selected: list[ItemTypePlan], snapshot: Snapshot, config: Config
) -> None:
    """Every item type done: remember what the source tables held (for sync), drop the copies."""
    if all(state.status(i.name) == "done" for i in selected):
        _, digests = source_digests(conn, selected)
        state.record_source_tables(digests)
        remove_others(config.state_dir, keep=snapshot)
        snapshot.path.unlink(missing_ok=True)


def _table_groups(items: list[ItemTypePlan]) -> list[list[ItemTypePlan]]:
    """Item types grouped by table, each group in mapping order."""
    groups: dict[str, list[ItemTypePlan]] = {}
    for item in items:
        groups.setdefault(item.table.name, []).append(item)
    return list(groups.values())


def run_groups(groups: list[list[ItemTypePlan]], parallel: int, run: Any) -> list[list[ItemResult]]:
    """Run the table groups, ``parallel`` at a time; the first error is raised after all stop."""
    if parallel == 1:
        return [run(group) for group in groups]
    outcomes: list[list[ItemResult]] = []
    errors: list[BaseException] = []
    with ThreadPoolExecutor(parallel, thread_name_prefix="table") as pool:
        futures = [pool.submit(run, group) for group in groups]
        for future in futures:
            try:
                outcomes.append(future.result())
            except BaseException as exc:  # noqa: BLE001 - re-raised below, the most telling first
                errors.append(exc)
    if errors:
        errors.sort(key=lambda e: isinstance(e, _Aborted))
        raise errors[0]
    return outcomes


def _result_from_state(item: ItemTypePlan, state: MigrationState, status: str) -> ItemResult:
    return ItemResult(item.name, item.table.name, status)


@dataclass
class _Lane:
    """One stream of an item type's rows with its own writer: a cursor range, or (index None) all of them."""

    index: int | None
    after: list[Any] | None
    upto: list[Any] | None
    conn: Any
    writer: BatchWriter


class _ItemRun:
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
    ) -> None:
        self.item = item
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
        self.progress = Progress()
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
            self.reporter.finish(name)
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
        errors = [f.exception() for f in futures if f.exception() is not None]
        if errors:
            errors.sort(key=lambda e: isinstance(e, _Aborted))
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
        self.store.record(self.item.table.name, batch.written_fingerprints())
        with self._lock:
            now = time.monotonic()
            elapsed, self._last_ack = now - self._last_ack, now
            self.result.items_written += counters["items_written"]
            self.result.rows_read += batch.rows
            self.result.rows_skipped += batch.skipped
            self.result.rows_rejected += batch.rejected
        if batch.cursor is not None:
            if lane.index is None:
                self.state.advance(self.item.name, batch.cursor, counters, elapsed)
            else:
                self.state.advance_range(self.item.name, lane.index, batch.cursor, counters, elapsed)
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
        cursor_columns = item.spec.cursor
        rows = stream_rows(lane.conn, item.spec.query, cursor_columns, lane.after, lane.upto)
        batch_size = self.config.batch_size
        batch = Batch(0, [], [], None)
        keys: dict[Any, dict[str, Any]] = {}
        for chunk in _chunks(rows, CHUNK_ROWS):
            verdicts = [self._verdict(row) for row in chunk]
            kept = [row for row, verdict in zip(chunk, verdicts) if verdict is True]
            if item.embeds and kept:
                attach_children(lane.conn, item.embeds, kept)
            for row, verdict in zip(chunk, verdicts):
                if self.stop.signum is not None or self.stop.aborted:
                    lane.writer.submit(batch)
                    lane.writer.close()
                    self.stop.check()
                if verdict is True:
                    verdict = self._add(row, batch, keys)
                if isinstance(verdict, RowError):
                    self._row_error(verdict, batch, lane)
                elif verdict is False:
                    batch.skipped += 1
                batch.rows += 1
                batch.cursor = [row[c] for c in cursor_columns]
                if len(batch.items) >= batch_size:
                    lane.writer.submit(batch)
                    batch, keys = Batch(batch.seq + 1, [], [], None), {}
        lane.writer.submit(batch)

    def _verdict(self, row: Row) -> bool | RowError:
        """True to write the row, False when the filter skips it, or the error it raises."""
        try:
            return keep_row(self.item, row)
        except RowError as error:
            return error

    def _add(self, row: Row, batch: Batch, keys: dict[Any, dict[str, Any]]) -> bool | RowError:
        """Add the row's item to the batch, or return why it cannot be written."""
        cursor = cursor_of(self.item, row)
        try:
            built = build_item(self.item, row)
        except RowError as error:
            return error
        size = item_size(built)
        if size > MAX_ITEM_BYTES:
            return RowError(self.item.name, cursor, f"item is {size} bytes, over DynamoDB's 400 KB item limit")
        key = primary_key(self.item, built)
        if key in keys:
            return RowError(
                self.item.name, cursor, f"renders the same primary key {key} as row {keys[key]} in the same batch"
            )
        keys[key] = cursor
        batch.fingerprints.append(fingerprint(built, self.key_names, self.item.name))
        batch.items.append(built)
        batch.cursors.append(cursor)
        batch.wcu += write_units(size)
        return True

    def _row_error(self, error: RowError, batch: Batch, lane: _Lane) -> None:
        """on_error=skip: record the row and go on; stop: write what came before, then fail."""
        if self.settings.on_error == "skip":
            batch.rejected += 1
            self._reject(error)
            return
        lane.writer.submit(batch)
        lane.writer.close()
        raise error


def _chunks(rows: Iterator[Row], size: int) -> Iterator[list[Row]]:
    while True:
        chunk = list(islice(rows, size))
        if not chunk:
            return
        yield chunk
