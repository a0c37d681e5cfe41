"""Run a plan: for each item type, stream rows -> items -> batches -> DynamoDB.

Resume is the ordinary path: an item type that is done is skipped (unless
forced), one with a checkpoint continues after it, the rest start fresh.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from loguru import logger

from sqlite2ddb.config import Config
from sqlite2ddb.dynamodb.target import Target, ensure_tables, existing_tables
from sqlite2ddb.dynamodb.warm import WarmChange, raise_warm_throughput
from sqlite2ddb.dynamodb.writer import RateLimiter
from sqlite2ddb.errors import StateError, TargetError, UsageError
from sqlite2ddb.extract.source import open_source
from sqlite2ddb.migrate.item_run import Aborted, ItemResult, ItemRun, Reporter, SilentReporter, StopFlag, wait_all
from sqlite2ddb.migrate.timeline import recording
from sqlite2ddb.plan.compile import ItemTypePlan, Plan, TablePlan
from sqlite2ddb.spec.digest import matches, spec_digest
from sqlite2ddb.spec.model import ItemTypeSpec
from sqlite2ddb.state import Lock, MigrationState, remove_stale_temps
from sqlite2ddb.state.binding import check_owner, check_target, reconcile_tables, target_record
from sqlite2ddb.state.catchup import CatchupStore, new_run
from sqlite2ddb.state.commit import Committer
from sqlite2ddb.state.fingerprints import FingerprintStore
from sqlite2ddb.state.row_digests import SnapshotDigests, commit_all
from sqlite2ddb.state.snapshot import Snapshot, remove_others, source_identity

G = TypeVar("G")  # a group of work run_groups hands to one worker
R = TypeVar("R")  # what the worker returns for it


@dataclass
class MigrationResult:
    items: list[ItemResult] = field(default_factory=list)
    seconds: float = 0.0
    tables_created: list[str] = field(default_factory=list)
    warm: list[WarmChange] = field(default_factory=list)  # what --warm-throughput changed before the load

    @property
    def items_written(self) -> int:
        return sum(i.items_written for i in self.items)


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


class MappingChanged(StateError):
    """The mapping of item types with progress changed: ``sync`` writes the difference (commands adds how much)."""

    def __init__(self, changed: list[str], hint: str | None = None) -> None:
        super().__init__(
            f"the mapping changed since the checkpoint for item type(s): {', '.join(changed)}",
            hint
            or "run 'sync' to write only what differs (see 'plan --diff'), 'migrate --force' to rewrite them, "
            "or 'reset' to start over",
        )
        self.changed = changed


def check_identity(
    state: MigrationState, identity: dict[str, Any], force: bool, specs: dict[str, ItemTypeSpec]
) -> list[str]:
    """Item types whose progress no longer matches the mapping (``specs`` by name); refuse unless forced."""
    previous = state.identity
    if not previous:
        return []
    started = {n for n, e in state.snapshot()["item_types"].items() if e.get("status") != "pending"}
    old = previous.get("item_type_digests", {})
    current = identity["item_type_digests"]
    # in the plan's order (then item types the mapping no longer has), whatever order the threads saved them in
    ordered = [*current, *sorted(started - current.keys())]
    changed = [n for n in ordered if n in started and not (n in specs and matches(old.get(n), specs[n]))]
    if changed and not force:
        raise MappingChanged(changed)
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
        CatchupStore.of(config.state_dir) as changes_of,
        recording(config.state_dir, "migrate") as timeline,
    ):
        catchup_run = new_run()
        changed = prepare_target(plan, config, target, state, selected, force, result, store, snapshot)
        if settings.warm_throughput or settings.warm_read_throughput:
            names = list(dict.fromkeys(item.table.name for item in selected))
            result.warm = raise_warm_throughput(target, names, settings.warm_throughput, settings.warm_read_throughput)
        limiter = RateLimiter(settings.max_wcu) if settings.max_wcu else None
        rejects = rejects_path or config.state_dir / "rejects.jsonl"
        groups, parallel = _ordered_groups(selected, settings.parallel_tables)
        source = snapshot.path if snapshot else config.source_db
        committer = Committer(state, store, settings.commit_interval_ms / 1000)
        digesting = SnapshotDigests(snapshot.path, plan, selected, settings.busy_timeout) if snapshot else None
        with StopFlag() as stop, _cancelled_on_failure(digesting):

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
                started_names.add(item.name)
                if force or item.name in changed:
                    state.restart(item.name)
                elif state.status(item.name) == "done":
                    logger.info("{}: done in an earlier run; skipped (use --force to rewrite)", item.name)
                    return _result_from_state(item, state, "skipped")
                run = ItemRun(
                    item, config, target, group_conn, state, reporter, limiter, rejects, stop, store, source, committer
                )
                run.timeline = timeline
                run.catchup = (changes_of, catchup_run)
                return run.execute()

            started_names: set[str] = set()
            with _not_started_reported(selected, started_names, reporter):
                outcomes = run_groups(groups, parallel, run_group)
        if snapshot is not None and digesting is not None:
            _finish_snapshot(state, digesting, selected, snapshot, config, (plan, changes_of, catchup_run))
        order = {item.name: i for i, item in enumerate(selected)}
        result.items = sorted((r for rs in outcomes for r in rs), key=lambda r: order[r.name])
    result.seconds = time.monotonic() - started
    return result


def _ordered_groups(selected: list[ItemTypePlan], parallel_tables: int) -> tuple[list[list[ItemTypePlan]], int]:
    """The item types by table, and how many tables run at once; in parallel, the largest table first
    (a small table waits less than a large one would)."""
    groups = _table_groups(selected)
    parallel = max(1, min(parallel_tables, len(groups)))
    if parallel > 1:
        groups.sort(key=lambda group: -sum(i.expected_rows for i in group))
    return groups, parallel


@contextmanager
def _not_started_reported(selected: list[ItemTypePlan], started: set[str], reporter: Reporter) -> Iterator[None]:
    """When the run fails, the item types it never started are reported as such."""
    try:
        yield
    except BaseException:
        for item in selected:
            if item.name not in started:
                reporter.not_started(item.name)
        raise


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
    changed = check_identity(state, identity, force, {i.name: i.spec for i in plan.item_types})
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
    described: dict[str, dict[str, Any] | None] | None = None,
) -> list[str]:
    """Refuse another target, create missing tables, void what a missing or recreated table held.

    Checkpoints (and fingerprints) of a table that is missing or was recreated
    are voided, so that nothing is skipped as done on a table that does not
    hold it. Returns the tables created; ``described`` (when given) is filled
    with what DescribeTable said of each table, for the caller to reuse.
    """
    names = [t.name for t in tables]
    described = described if described is not None else {}
    described.update(existing_tables(target, names))
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
        created = ensure_tables(target, plan, tables, recreate=recreate, described=described)
        if created:
            described.update(existing_tables(target, created))
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
    state: MigrationState,
    digesting: SnapshotDigests,
    selected: list[ItemTypePlan],
    snapshot: Snapshot,
    config: Config,
    catchup: tuple[Plan, CatchupStore, str],
) -> None:
    """Every item type done: remember what the source tables held (for sync), drop the copies.

    When the whole plan is done, the row digests too (for the next sync's catch-up).
    """
    if all(state.status(i.name) == "done" for i in selected):
        _reads, digests, rows = digesting.result()
        state.record_source_tables(digests)
        if rows is not None:
            commit_all(catchup[1], catchup[0], rows, catchup[2])
        remove_others(config.state_dir, keep=snapshot)
        snapshot.path.unlink(missing_ok=True)
    else:
        digesting.cancel()


@contextmanager
def _cancelled_on_failure(digesting: SnapshotDigests | None) -> Iterator[None]:
    try:
        yield
    except BaseException:
        if digesting is not None:
            digesting.cancel()
        raise


def _table_groups(items: list[ItemTypePlan]) -> list[list[ItemTypePlan]]:
    """Item types grouped by table, each group in mapping order."""
    groups: dict[str, list[ItemTypePlan]] = {}
    for item in items:
        groups.setdefault(item.table.name, []).append(item)
    return list(groups.values())


def run_groups(groups: list[G], parallel: int, run: Callable[[G], R]) -> list[R]:
    """Run the table groups, ``parallel`` at a time; the first error is raised after all stop."""
    if parallel == 1:
        return [run(group) for group in groups]
    outcomes: list[R] = []
    errors: list[BaseException] = []
    with ThreadPoolExecutor(parallel, thread_name_prefix="table") as pool:
        futures = [pool.submit(run, group) for group in groups]
        wait_all(futures)
        for future in futures:
            try:
                outcomes.append(future.result())
            except BaseException as exc:  # noqa: BLE001 - re-raised below, the most telling first
                errors.append(exc)
    if errors:
        errors.sort(key=lambda e: isinstance(e, Aborted))
        raise errors[0]
    return outcomes


def _result_from_state(item: ItemTypePlan, state: MigrationState, status: str) -> ItemResult:
    return ItemResult(item.name, item.table.name, status)
