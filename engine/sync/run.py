"""Converge the target to what the mapping renders from the source now, writing only the difference.

``sync`` runs the differ (``sqlite2ddb.sync.diff``) over each table and sends its puts
and deletes through the same batch writer as ``migrate``: the same retries,
workers, WCU cap and signals. It keeps no cursor: the fingerprint store is
its checkpoint. An entry is recorded only once DynamoDB acknowledged the
write (and removed once it acknowledged the delete), so a sync that is killed
or interrupted is finished by the next one, which finds the items already
written unchanged.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from loguru import logger

from sqlite2ddb.config import Config
from sqlite2ddb.dynamodb.index_changes import IndexChange, apply_index_changes, index_changes
from sqlite2ddb.dynamodb.reads import Reader
from sqlite2ddb.dynamodb.target import Target
from sqlite2ddb.dynamodb.writer import Batch, BatchWriter, RateLimiter
from sqlite2ddb.errors import CaptureGap, MigrationError, UsageError
from sqlite2ddb.extract.source import open_source
from sqlite2ddb.migrate.item_run import StopFlag
from sqlite2ddb.migrate.run import bind_target, run_groups, run_identity, select_item_types, state_lock
from sqlite2ddb.migrate.timeline import Timeline, recording
from sqlite2ddb.plan.compile import ItemTypePlan, Plan, TablePlan
from sqlite2ddb.spec.digest import matches
from sqlite2ddb.state import MigrationState
from sqlite2ddb.state.catchup import CatchupStore
from sqlite2ddb.state.checkpoints import record_position
from sqlite2ddb.state.fingerprints import Fingerprint, FingerprintStore
from sqlite2ddb.state.row_digests import key_text
from sqlite2ddb.state.scratch import remove_abandoned
from sqlite2ddb.state.snapshot import Snapshot, remove_earlier, source_digests, unchanged
from sqlite2ddb.sync.capture import LiveCapture
from sqlite2ddb.sync.catchup import Catchup, ChangeSource, find_changes, new_run
from sqlite2ddb.sync.diff import Change, Delete, Differ, Put, Rendered, Same, Scan, Selection, TypeDiff
from sqlite2ddb.sync.guard import Conflict, GuardedWriter, guard_attribute
from sqlite2ddb.sync.objects import stale_objects
from sqlite2ddb.wire import item_size, write_units


class PutSink(Protocol):
    """Where a table's puts go instead of BatchWriteItem (``sync --via-s3``: bulk put).

    ``guard``: only new keys are submitted (changed items go through the guarded UpdateItem);
    ``close`` writes them, records the fingerprints of those written, and returns how many
    were written and the conflicts (a condition that failed).
    """

    def submit(self, change: Put) -> None: ...

    def close(self) -> tuple[int, list[Conflict]]: ...


PutSinks = Callable[[TablePlan, FingerprintStore, bool], PutSink]  # (table, store, guard) -> a sink


@dataclass
class SyncResult:
    diffs: list[TypeDiff] = field(default_factory=list)
    index_changes: list[IndexChange] = field(default_factory=list)
    tables_created: list[str] = field(default_factory=list)
    put: int = 0
    deleted: int = 0
    seconds: float = 0.0
    conflicts: list[str] = field(default_factory=list)
    change_digest: str = ""  # of the puts and deletes found: the one 'plan --diff' shows for the same difference
    catchup: Catchup | None = None  # how each item type's change was found (None: not looked for)
    read_live: bool = False  # the live source through the change log, in one read transaction, no copy

    @property
    def errors(self) -> int:
        return sum(d.errors for d in self.diffs)


def sync(
    plan: Plan,
    config: Config,
    target: Target,
    conn: sqlite3.Connection,
    *,
    tables: Sequence[str] | None = None,
    against_target: bool = False,
    snapshot: Snapshot | None = None,
    guard: bool = False,
    put_sinks: PutSinks | None = None,
    change_source: ChangeSource | None = None,
    live: bool = False,
) -> SyncResult:
    """Make the selected tables hold exactly what their item types render now.

    ``put_sinks``: the puts of each table through another path (bulk put); the deletes stay BatchWriteItem.

    ``conn`` reads ``snapshot`` when given. Item types that are done, whose
    mapping did not change and none of whose source tables changed since the
    last complete run are skipped (not with ``against_target``). The others
    render only the rows a change reaches, when it can be followed
    (``sqlite2ddb.sync.catchup``); ``change_source`` names the changed rows (default:
    the row digests; the capture log plugs in here).

    ``live``: ``conn`` reads the live, captured source (``LiveCapture``); raises
    ``NeedsSnapshot``, before any write, when that cannot be a catch-up.
    """
    started = time.monotonic()
    selected = select_item_types(plan, tables)
    table_plans = list({i.table.name: i.table for i in selected}.values())
    if guard:
        _check_guard(selected, table_plans)
    result = SyncResult()
    with (
        state_lock(config) as state,
        FingerprintStore.of(config.state_dir) as store,
        CatchupStore.of(config.state_dir) as changes_of,
        StopFlag() as stop,
        recording(config.state_dir, "sync") as timeline,
    ):
        remove_abandoned(config.state_dir)  # the comparisons of killed runs
        before = state.identity.get("item_type_digests", {})
        identity = run_identity(plan, config, target, snapshot)
        described: dict[str, dict[str, Any] | None] = {}
        result.tables_created = bind_target(
            config, target, state, plan, table_plans, identity, store, described=described
        )
        on_log = _live_capture(conn, changes_of, state) if live else None
        reads, digests = on_log.digests(conn, selected) if on_log else source_digests(conn, selected)
        settled = {} if against_target else _settled(state, store, selected, before)
        skipped = {} if against_target else unchanged(selected, reads, digests, state.source_tables, settled)
        result.index_changes = _apply_index_changes(target, table_plans, described)
        differ = Differ(plan, scratch=config.state_dir)
        against = {t.name for t in table_plans if against_target or _store_missing(state, store, t, selected, skipped)}
        settled = {name: ok and plan.item_type(name).table.name not in against for name, ok in settled.items()}
        catchup = _find(
            conn, plan, selected, skipped, changes_of, reads, digests, settled, tables is None, on_log or change_source
        )
        if live:
            _require_increments(selected, skipped, catchup)
        only = _start_catchup(plan, differ, catchup, skipped, changes_of)
        limiter = RateLimiter(config.migration_settings.max_wcu) if config.migration_settings.max_wcu else None
        runs = []
        for table in table_plans:
            items = [i for i in selected if i.table.name == table.name and i.name not in skipped]
            if items:
                run = _TableSync(table, items, config, target, store, differ, limiter, stop, guard)
                run.against, run.timeline, run.only = table.name in against, timeline, only
                run.sink = put_sinks(table, store, guard) if put_sinks else None
                runs.append(run)
        _run_tables(runs, conn, snapshot.path if snapshot else config.source_db, config, stop, result, live)
        result.diffs = differ.results()
        result.change_digest = differ.digest
        _record(state, selected, differ, result)
        _record_sources(state, selected, differ, reads, digests)
        _commit_catchup(state, changes_of, catchup, selected, result)
        result.catchup, result.read_live = catchup, live
        _timeline_counts(timeline, catchup, result)
        if snapshot is not None:
            # the state now belongs to this run's copy: older ones (killed runs') are read no more
            remove_earlier(config.state_dir, snapshot)
    result.seconds = time.monotonic() - started
    return result


def _check_guard(selected: list[ItemTypePlan], table_plans: list[TablePlan]) -> None:
    for table in table_plans:
        guard_attribute(table)
    offloading = [i.name for i in selected if i.offload is not None]
    if offloading:
        raise UsageError(
            f"sync --guard: item type {offloading[0]} keeps attributes in S3, which guarded writes do not upload yet",
            "sync without --guard",
        )


def _apply_index_changes(
    target: Target, table_plans: list[TablePlan], described: dict[str, dict[str, Any] | None]
) -> list[IndexChange]:
    """The indexes the mapping added or removed since, created or deleted on the live tables."""
    done: list[IndexChange] = []
    for table in table_plans:
        changes = index_changes(table, described.get(table.name) or {})
        apply_index_changes(target, table, changes)
        done += changes
    return done


def _commit_catchup(
    state: MigrationState,
    changes_of: CatchupStore,
    catchup: Catchup | None,
    selected: list[ItemTypePlan],
    result: SyncResult,
) -> None:
    """Every write of this run was acknowledged: the row digests and the change position advance."""
    if catchup is not None and not result.errors and not result.conflicts:
        catchup.commit(changes_of, {i.name for i in selected})
        if catchup.position is not None:  # what `capture prune` may delete: the log this run consumed
            record_position(state, catchup.position)


def _timeline_counts(timeline: Timeline, catchup: Catchup | None, result: SyncResult) -> None:
    """What finding the change cost, then the sync's counts (last: the report reads the last counts)."""
    if catchup is not None:
        found = {n: [f.how, f.rows] for n, f in catchup.found.items()}
        timeline.counts(catchup={"rows_s": catchup.scan_seconds, "follow_s": catchup.follow_seconds, "found": found})
    kept = ("item_type", "table", "new", "updated", "deleted", "unchanged", "errors")
    timeline.counts(sync=[{k: d.to_json()[k] for k in kept} for d in result.diffs])


def _run_tables(
    runs: list[_TableSync],
    conn: sqlite3.Connection,
    source: Any,
    config: Config,
    stop: StopFlag,
    result: SyncResult,
    live: bool = False,
) -> None:
    """The tables, ``parallel_tables`` at a time, each on its own source connection when more than one
    (one at a time on the live source: only ``conn``'s read transaction sees the moment the log was read at)."""
    settings = config.migration_settings
    parallel = 1 if live else max(1, min(settings.parallel_tables, len(runs)))

    def run_one(run: _TableSync) -> list[_TableSync]:
        table_conn = conn if parallel == 1 else open_source(source, settings.busy_timeout)
        try:
            run.execute(table_conn)
            return [run]
        except BaseException:
            stop.abort()
            raise
        finally:
            if table_conn is not conn:
                table_conn.close()

    for run in (r for done in run_groups(runs, parallel, run_one) for r in done):
        result.put += run.put
        result.deleted += run.deleted
        result.conflicts += [c.line() for c in run.conflicts]
        for item in run.items if run.conflicts else ():
            message = f"{len(run.conflicts)} conflict(s) in {run.table.name}"
            run.differ.counts(run.table.name, item.name).error(message)


class NeedsSnapshot(Exception):
    """A sync on the live source cannot be a catch-up: nothing was written; sync from a copy instead."""


def _live_capture(conn: sqlite3.Connection, changes_of: CatchupStore, state: MigrationState) -> LiveCapture:
    try:
        return LiveCapture(conn, changes_of.position(), dict(state.source_tables))
    except CaptureGap as gap:
        raise NeedsSnapshot(f"the change log cannot say what changed: {gap}") from None


def _require_increments(selected: list[ItemTypePlan], skipped: dict[str, str], catchup: Catchup | None) -> None:
    """On the live source every item type is skipped or caught up: a full render reads from a copy."""
    for item in selected:
        found = catchup.found.get(item.name) if catchup else None
        if item.name not in skipped and (found is None or found.cursors is None):
            reason = found.reason if found else "not a catch-up of the whole plan"
            raise NeedsSnapshot(f"item type {item.name} renders in full ({reason})")


def _record_sources(
    state: MigrationState,
    selected: list[ItemTypePlan],
    differ: Differ,
    reads: dict[str, frozenset[str]],
    digests: dict[str, str],
) -> None:
    """Remember the source tables that item types rendered without error read (for the next skip)."""
    clean = {t for i in selected if not differ.counts(i.table.name, i.name).errors for t in reads[i.name]}
    dirty = {t for i in selected if differ.counts(i.table.name, i.name).errors for t in reads[i.name]}
    state.record_source_tables({t: digests[t] for t in clean - dirty})


def _settled(
    state: MigrationState, store: FingerprintStore, selected: list[ItemTypePlan], before: dict[str, str]
) -> dict[str, bool]:
    """Item types done, with the same mapping, and fingerprints recorded (skipped when no source table changed)."""
    return {
        i.name: state.status(i.name) == "done" and matches(before.get(i.name), i.spec) and store.holds(i.table.name)
        for i in selected
    }


def _find(
    conn: sqlite3.Connection,
    plan: Plan,
    selected: list[ItemTypePlan],
    skipped: dict[str, str],
    changes_of: CatchupStore,
    reads: dict[str, frozenset[str]],
    digests: dict[str, str],
    settled: dict[str, bool],
    whole_plan: bool,
    source: ChangeSource | None = None,
) -> Catchup | None:
    """The changed rows followed to cursors (only when every item type of the plan takes part)."""
    if not whole_plan:
        return None
    render = [i for i in selected if i.name not in skipped]
    catchup = find_changes(conn, plan, render, changes_of, reads, digests, settled, source)
    logger.debug(
        "found the change in {:.3f} s (rows: {:.3f} s, following them: {:.3f} s)",
        catchup.scan_seconds + catchup.follow_seconds,
        catchup.scan_seconds,
        catchup.follow_seconds,
    )
    for name, found in catchup.found.items():
        if found.cursors is not None and not found.cursors:
            skipped[name] = f"no changed row reaches its items ({found.how})"
    return catchup


def catch_up(
    conn: sqlite3.Connection,
    plan: Plan,
    selected: list[ItemTypePlan],
    skipped: dict[str, str],
    changes_of: CatchupStore,
    reads: dict[str, frozenset[str]],
    digests: dict[str, str],
    settled: dict[str, bool],
    source: ChangeSource | None = None,
) -> tuple[Catchup, dict[str, Selection]]:
    """What ``plan --diff`` previews of a sync now: the change found per item type and the rows to render.

    Item types no changed row reaches join ``skipped``.
    """
    catchup = _find(conn, plan, selected, skipped, changes_of, reads, digests, settled, True, source)
    assert catchup is not None
    return catchup, _selections(plan, catchup, changes_of)


def note_found(differ: Differ, plan: Plan, catchup: Catchup | None, skipped: dict[str, str]) -> None:
    """Say per item type why it was skipped, or how its change was found."""
    _note_found(differ, plan, catchup, skipped)


def _selections(plan: Plan, catchup: Catchup, changes_of: CatchupStore) -> dict[str, Selection]:
    """Per item type caught up: its cursors, and the keys they rendered that no row left alone renders."""
    texts = {n: {key_text(c) for c in f.cursors} for n, f in catchup.found.items() if f.cursors}
    full = {n for n, f in catchup.found.items() if f.cursors is None}
    table_of = {i.name: i.table.name for i in plan.item_types}
    out = {}
    for name, cursors in texts.items():
        owners = changes_of.keys_of(name, cursors)
        held = {
            key
            for key, marks in owners.items()
            if all(t in full or c in texts.get(t, ()) for t, c in marks if table_of.get(t) == table_of[name])
        }
        found = catchup.found[name].cursors or set()
        out[name] = Selection(frozenset(found), frozenset(held))
    return out


def _start_catchup(
    plan: Plan, differ: Differ, catchup: Catchup | None, skipped: dict[str, str], changes_of: CatchupStore
) -> dict[str, Selection]:
    """The selections to render; the differ says how each change was found and records which rows render which keys."""
    _note_found(differ, plan, catchup, skipped)
    differ.on_rendered = _recorder(changes_of, catchup.run if catchup else new_run())
    return _selections(plan, catchup, changes_of) if catchup else {}


def _note_found(differ: Differ, plan: Plan, catchup: Catchup | None, skipped: dict[str, str]) -> None:
    for name, reason in skipped.items():
        differ.counts(plan.item_type(name).table.name, name).skipped = reason
    for name, found in (catchup.found if catchup else {}).items():
        counts = differ.counts(plan.item_type(name).table.name, name)
        counts.found_by, counts.found_why = found.how, found.reason or None


def _recorder(changes_of: CatchupStore, run: str) -> Rendered:
    def note(item_type: str, entries: list[tuple[str, str]] | None) -> None:
        if entries is None:
            changes_of.flush()
        else:
            changes_of.note_rendered(item_type, run, entries)

    return note


def _store_missing(
    state: MigrationState,
    store: FingerprintStore,
    table: TablePlan,
    selected: list[ItemTypePlan],
    skipped: dict[str, str],
) -> bool:
    """True when the table was written (by an earlier version) but nothing of it is in the store."""
    items = [i for i in selected if i.table.name == table.name and i.name not in skipped]
    if not items:
        return False
    written = any(state.status(i.name) != "pending" for i in items)
    if written and not store.holds(table.name):
        logger.info("no fingerprints recorded for {}: comparing with the live table (one Scan)", table.name)
        return True
    return False


def _record(state: MigrationState, selected: list[ItemTypePlan], differ: Differ, result: SyncResult) -> None:
    """Item types rendered without error are now done as of this mapping and source."""
    for item in selected:
        counts = differ.counts(item.table.name, item.name)
        summary: dict[str, Any] = {k: getattr(counts, k) for k in ("new", "updated", "deleted", "unchanged", "errors")}
        if counts.skipped:
            summary["skipped"] = counts.skipped
        if counts.found_by:
            summary.update(found_by=counts.found_by, rows_rendered=counts.rows_rendered)
            if counts.found_why:
                summary["found_why"] = counts.found_why
        state.mark_synced(item.name, summary, state.tables.get(item.table.name, {}).get("generation"), save=False)
    state.save()


class _TableSync:
    """One table: the differ's changes in batches through a writer; the store follows the acks."""

    def __init__(
        self,
        table: TablePlan,
        items: list[ItemTypePlan],
        config: Config,
        target: Target,
        store: FingerprintStore,
        differ: Differ,
        limiter: RateLimiter | None,
        stop: StopFlag,
        guard: bool = False,
    ) -> None:
        self.table = table
        self.items = items
        self.config = config
        self.target = target
        self.store = store
        self.differ = differ
        self.stop = stop
        self.guard = guard
        self.conflicts: list[Conflict] = []
        self.put = self.deleted = 0
        self.against = False
        self.only: dict[str, Selection] = {}
        self.timeline: Timeline | None = None
        self.sink: PutSink | None = None
        settings = config.migration_settings
        self.workers = settings.workers
        self.writer = BatchWriter(
            target,
            table.name,
            item_type=", ".join(i.name for i in items),
            workers=settings.workers,
            max_retries=settings.max_retries,
            retry_delay=settings.retry_delay,
            on_ack=self._acknowledged,
            rate_limiter=limiter,
            objects=target.objects if any(i.offload for i in items) else None,
        )

    def execute(self, conn: sqlite3.Connection) -> None:
        """The table's changes, written; conflicts count as errors of its item types (not settled)."""
        started = time.monotonic()
        held: FingerprintStore | Scan = self.store
        if self.against:
            # the store is rebuilt from what the table holds: unchanged items come out as Same
            held = Reader(self.target, workers=self.workers).scan(self.table.name, segments=self.workers)
            self.store.forget_table(self.table.name)
        only = {} if self.against else {i.name: self.only[i.name] for i in self.items if i.name in self.only}
        changes = self.differ.table(self.table, self.items, conn, held, emit_same=self.against, only=only)
        self._send_guarded(changes) if self.guard else self._send(changes)
        names = ", ".join(i.name for i in self.items)
        if self.timeline:
            self.timeline.item_type_done(names, self.table.name, time.monotonic() - started, self.put + self.deleted)

    def _send_guarded(self, changes: Iterator[Change]) -> None:
        """One conditional write per change; an item changed outside the tool becomes a conflict."""
        guarded = GuardedWriter(self.target, self.table, self.store, self.workers, against=self.against)
        same: list[Fingerprint] = []
        try:
            for change in changes:
                if self.stop.signum is not None or self.stop.aborted:
                    break
                if isinstance(change, Same):
                    same = self._same(same, change.fingerprint)
                elif self.sink and isinstance(change, Put) and change.held is None:
                    self.sink.submit(change)  # a new key: bulk put under attribute_not_exists
                else:
                    guarded.submit(change)
        finally:
            self.conflicts = guarded.close()
            self.store.record(self.table.name, same)
            self.put, self.deleted = guarded.put, guarded.deleted
        self.stop.check()
        self._close_sink()

    def _close_sink(self) -> None:
        if self.sink:
            put, conflicts = self.sink.close()
            self.put += put
            self.conflicts += conflicts

    def _send(self, changes: Iterator[Change]) -> None:
        batch = Batch(0, [], [], None)
        same: list[Fingerprint] = []
        size = self.config.batch_size
        try:
            for change in changes:
                if self.stop.signum is not None or self.stop.aborted:
                    break
                if isinstance(change, Same):
                    same = self._same(same, change.fingerprint)
                    continue
                if self.sink and isinstance(change, Put):
                    self.sink.submit(change)
                    continue
                _add(batch, change)
                if len(batch.items) + len(batch.deletes) >= size:
                    self.writer.submit(batch)
                    batch = Batch(batch.seq + 1, [], [], None)
            self.writer.submit(batch)
        finally:
            self.writer.close()
            self.store.record(self.table.name, same)
        self.stop.check()
        self._close_sink()

    def _same(self, same: list[Fingerprint], mark: Fingerprint) -> list[Fingerprint]:
        """Unchanged items read from the table: their fingerprints go to the store, 500 at a time."""
        same.append(mark)
        if len(same) < 500:
            return same
        self.store.record(self.table.name, same)
        return []

    def _acknowledged(self, batch: Batch) -> None:
        if batch.stale_objects and not batch.refused:  # their items are replaced or deleted, acknowledged
            for bucket, key in batch.stale_objects:
                self.target.objects.delete(bucket, key)
        written = batch.written_fingerprints()
        self.store.record(self.table.name, written)
        self.store.forget(self.table.name, batch.delete_keys)
        self.put += len(written)
        self.deleted += len(batch.deletes)
        if self.timeline:
            stats = self.writer.stats.take()
            self.timeline.acknowledged(
                self.table.name, len(written), len(batch.deletes), batch.wcu, batch.consumed, **stats
            )


def _add(batch: Batch, change: Put | Delete) -> None:
    batch.stale_objects += stale_objects(change.held, change.item if isinstance(change, Put) else None)
    if isinstance(change, Put):
        batch.uploads += change.uploads
        batch.items.append(change.item)
        batch.fingerprints.append(change.fingerprint)
        batch.cursors.append(json.loads(change.fingerprint.key))
        batch.wcu += write_units(item_size(change.item))
    else:
        batch.deletes.append(change.key)
        batch.delete_keys.append(change.key_text)
        batch.wcu += 1


def check_errors(result: SyncResult, config: Config) -> None:
    """Conflicts, and rows that could not be rendered (with on_error=stop), fail the run; nothing was overwritten."""
    if result.conflicts:
        raise MigrationError(
            f"sync --guard: {len(result.conflicts)} item(s) were changed outside the tool and left as they are; "
            f"first: {result.conflicts[0]}",
            "look at them, then sync without --guard to overwrite them, or change the source to match",
        )
    if result.errors and config.migration_settings.on_error == "stop":
        first = next(s for d in result.diffs for s in d.error_samples)
        raise MigrationError(
            f"sync: {result.errors} row(s) could not be rendered, their items were left as they are; first: {first}",
            "fix the rows or the mapping, then sync again (on_error: skip accepts them)",
        )
