"""One function per CLI command; the CLI parses options, calls these, and prints.

Keeping the commands here (not in cli.py) means the API and the CLI cannot
drift, and tests can call the same functions the CLI calls.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any

from loguru import logger

from sqlite2ddb import outputs
from sqlite2ddb.commands.capture import capture_install, capture_prune, capture_remove, capture_status
from sqlite2ddb.commands.inspection import StatusReport, StatusRow, info, reset, status
from sqlite2ddb.config import Config, load_config, save_config
from sqlite2ddb.dynamodb import local as local_dynamodb
from sqlite2ddb.dynamodb import table_settings
from sqlite2ddb.dynamodb.target import check_reachable, connect, describe_table, existing_tables
from sqlite2ddb.errors import MigrationError, StateError, UsageError, ValidationFailed, WriteRefused
from sqlite2ddb.extract.source import open_source
from sqlite2ddb.migrate.run import MappingChanged, MigrationResult, Reporter, select_item_types
from sqlite2ddb.migrate.run import migrate as run_migration
from sqlite2ddb.outputs import json_default, json_text
from sqlite2ddb.plan import reviewed as reviewed_plan
from sqlite2ddb.plan.bounds import check_bounds, pad_warnings
from sqlite2ddb.plan.compile import Plan, check_mapping_sql, config_table_name, require_item_types
from sqlite2ddb.plan.opened import opened_plan
from sqlite2ddb.prices import (
    BULK_PUT_PRICE_PER_GB,
    BULK_PUT_PRICE_SOURCE,
    IMPORT_PRICE_PER_GB,
    IMPORT_PRICE_SOURCE,
    PRICE_PER_MILLION_WRU,
    PRICE_SOURCE,
    WARM_PRICE_NOTE,
)
from sqlite2ddb.render.stream import Renderer, raise_error
from sqlite2ddb.spec import digest, load_mapping_set
from sqlite2ddb.state import MigrationState, snapshot
from sqlite2ddb.state.snapshot import Snapshot, source_identity
from sqlite2ddb.validate.cost import read_estimate
from sqlite2ddb.validate.pattern_proof import DEFAULT_PROOF
from sqlite2ddb.validate.results import ValidationResult
from sqlite2ddb.wire import to_python

__all__ = [
    "PRICE_PER_MILLION_WRU",
    "WARM_PRICE_NOTE",
    "DryRun",
    "PlanReport",
    "StatusReport",
    "StatusRow",
    "build_plan",
    "capture_install",
    "capture_prune",
    "capture_remove",
    "capture_status",
    "check_outcome",
    "check_report",
    "codegen",
    "dry_run",
    "estimate",
    "export",
    "export_model",
    "info",
    "init_config",
    "json_default",
    "json_text",
    "load_config",
    "load_mapping_set",
    "local_install",
    "local_start",
    "local_status",
    "local_stop",
    "migrate",
    "migrate_via_s3",
    "plan_diff",
    "plan_diff_report",
    "plan_report",
    "plan_samples",
    "render_report",
    "reset",
    "resumable",
    "resume",
    "scaffold",
    "scaffold_next",
    "status",
    "sync",
    "sync_difference",
    "validate",
    "validate_after_run",
    "via_s3_load",
    "write_model",
    "write_reports",
]


def init_config(
    path: str,
    source_db: str,
    mappings: str,
    region: str | None,
    batch_size: int,
    table_prefix: str,
    target: str,
    endpoint_url: str | None,
    profile: str | None,
    force: bool = False,
) -> Config:
    """Write the configuration file after checking the source and the mapping set.

    An existing configuration is another project's (the quick start's, a colleague's): it is replaced
    only with ``force``, or when it already holds exactly what would be written.
    """
    if not 1 <= batch_size <= 25:
        raise UsageError(f"--batch-size must be between 1 and 25, not {batch_size}")
    open_source(source_db).close()
    mapping = require_item_types(load_mapping_set(mappings))
    kind = "endpoint" if endpoint_url and target == "local" else target
    config = Config(
        source_db=source_db,
        mappings=mappings,
        aws_region=region or "us-east-1",
        batch_size=batch_size,
        table_prefix=table_prefix,
        target=kind,
        endpoint_url=endpoint_url,
        profile=profile,
        dynamodb_tables={config_table_name(t.name): f"{table_prefix}{t.name}" for t in mapping.tables},
        path=path,
    ).validate()
    _refuse_overwrite(Path(path), config, force)
    save_config(config)
    return config


def _refuse_overwrite(file: Path, config: Config, force: bool) -> None:
    if force or not file.exists():
        return
    try:
        same = json.loads(file.read_text(encoding="utf-8")) == json.loads(json.dumps(config.to_json()))
    except (OSError, ValueError):
        same = False
    if not same:
        raise UsageError(
            f"{file} exists: not overwriting it (write another with -c config/<name>.json, "
            "or replace it with init --force)"
        )


def build_plan(config: Config, with_target: bool = False) -> dict[str, Any]:
    """The plan as plain data, for review (``plan``) and machines (``--format json``)."""
    with opened_plan(config) as (plan, conn):
        check_mapping_sql(plan.mapping, conn)
        warnings = check_bounds(plan, conn)  # keys over DynamoDB's limits are refused here
        for line in warnings:
            logger.warning("{}", line)
        existing: dict[str, Any] | None = None
        changes: dict[str, list[str]] = {}
        if with_target:
            try:
                with connect(config) as target:
                    existing = existing_tables(target, [t.name for t in plan.tables])
                    changes = setting_changes(target, plan, existing)
            except MigrationError as exc:
                logger.warning("cannot tell which tables exist: {}", exc)
        return plan_document(plan, existing, changes) | {"warnings": warnings}


def setting_changes(target: Any, plan: Plan, existing: dict[str, Any]) -> dict[str, list[str]]:
    """Per existing table: each declared setting migrate would change (or cannot change)."""
    out = {}
    for table in plan.tables:
        described = existing.get(table.name)
        if described is not None and table_settings.declares_any(table):
            out[table.name] = [
                d.text + ("" if d.fix else " (cannot be changed in place)")
                for d in table_settings.differences(target, table, described)
            ]
    return out


def plan_document(
    plan: Plan, existing: dict[str, Any] | None, changes: dict[str, list[str]] | None = None
) -> dict[str, Any]:
    tables = []
    for table in plan.tables:
        spec = table.spec
        tables.append(
            {
                "name": table.name,
                "config_name": table.config_name,
                "defined_at": str(spec.location),
                "key": [k.name + ":" + k.type for k in spec.key_attributes],
                "billing_mode": spec.billing_mode,
                "indexes": [
                    {
                        "name": i.name,
                        "key": [k.name + ":" + k.type for k in i.key_attributes],
                        "projection": i.projection,
                    }
                    | (
                        {  # a multi-attribute key: which attributes are the partition's, which the sort's
                            "partition": [k.name + ":" + k.type for k in i.partition_keys],
                            "sort": [k.name + ":" + k.type for k in i.sort_keys],
                        }
                        if i.multi_attribute
                        else {}
                    )
                    for i in spec.indexes
                ],
                "local_indexes": table_settings.local_index_documents(spec),
                "settings": table_settings.declared(spec.settings),
                "exists": None if existing is None else existing.get(table.name) is not None,
                "changes": (changes or {}).get(table.name, []),
            }
        )
    items = [
        {
            "name": item.name,
            "table": item.table.name,
            "defined_at": str(item.spec.location),
            "cursor": list(item.spec.cursor),
            "expected_rows": item.expected_rows,
            "keys": {k.name: k.template.source for k in item.keys},
            "attributes": [a.name for a in item.attributes],
            "embeds": [e.spec.name for e in item.embeds],
            "filter": item.spec.filter,
            "query": item.spec.query.strip(),
        }
        for item in plan.item_types
    ]
    mapping = plan.mapping
    return {
        "mapping_set": mapping.directory,
        "mapping_digest": mapping.digest,
        "table_prefix": plan.table_prefix,
        "tables": tables,
        "item_types": items,
        "checks": {
            "counts": [i.name for i in plan.item_types],
            "access_patterns": [p.name for p in mapping.access_patterns],
            "aggregates": [c.name for c in mapping.aggregate_checks],
            "item_rules": [c.name for i in mapping.item_types for c in i.checks],
        },
    }


def estimate(config: Config, limit: int | None) -> tuple[list[Any], list[Any]]:
    """Capacity and cost figures: from the first ``limit`` rows per item type, or every row."""
    from sqlite2ddb.render.estimate import estimate_plan

    with opened_plan(config) as (plan, conn):
        return estimate_plan(plan, conn, limit, config.batch_size)


def plan_samples(config: Config, samples: int) -> dict[str, list[dict[str, Any]]]:
    """The first ``samples`` items of each item type, exactly as they would be written."""
    with opened_plan(config, count=False) as (plan, conn):
        renderer = Renderer(conn)
        return {item.name: list(islice(renderer.render(item, raise_error), samples)) for item in plan.item_types}


def migrate(
    config: Config,
    tables: Sequence[str] | None = None,
    force: bool = False,
    reporter: Reporter | None = None,
) -> MigrationResult:
    """Write every item type (or those of ``tables``) into DynamoDB, continuing from the checkpoint of an earlier
    run; ``force`` rewrites item types already done. ``reporter`` hears the progress."""
    mapping = require_item_types(load_mapping_set(config.mappings))  # a bad mapping is said before the source is copied
    source = migration_snapshot(config, force)
    with opened_plan(config, snapshot=source, mapping=mapping) as (plan, conn):
        rows = sum(i.expected_rows for i in select_item_types(plan, tables))
        with connect(config) as target:
            check_reachable(target)
            try:
                return run_migration(
                    plan, config, target, conn, tables=tables, force=force, reporter=reporter, snapshot=source
                )
            except MappingChanged as refusal:
                changed = refusal
    raise with_sync_advice(config, changed, rows)  # the state and fingerprints are released: the differ reads them


def with_sync_advice(config: Config, refusal: MappingChanged, rows: int) -> MigrationError:
    """The mapping-changed refusal with what 'sync' would write (the differ of 'plan --diff') next to '--force'."""
    try:
        difference = plan_diff(config, check_target=False)
    except MigrationError as exc:
        logger.debug("cannot tell what sync would write: {}", exc)
        return refusal
    puts = sum(d["new"] + d["updated"] for d in difference["item_types"])
    deletes = sum(d["deleted"] for d in difference["item_types"])
    return MappingChanged(
        refusal.changed,
        f"run 'sync': it would write {puts:,} items and delete {deletes:,} (see 'plan --diff'); "
        f"'migrate --force' rewrites all {rows:,} rows; or 'reset' to start over",
    )


def migration_snapshot(config: Config, force: bool) -> Snapshot:
    """The copy of the source to read: the interrupted run's, when resuming; else a new one."""
    try:
        state = MigrationState.load(config.state_path)
    except StateError:
        state = None  # migrate reports it, under the lock
    unfinished = state is not None and any(state.status(n) in ("running", "failed") for n in state.item_names())
    if unfinished and not force:
        assert state is not None
        kept = snapshot.reuse(state.identity.get("snapshot"), config.state_dir)
        if kept is not None:
            if source_identity(config.source_db)["sha256"] != kept.source["sha256"]:
                logger.info(
                    "the source changed since the snapshot of {}: resume continues on that snapshot; "
                    "run 'sync' to bring in what changed since",
                    kept.taken_at,
                )
            return kept
    return snapshot.take(config.source_db, config.state_dir, config.migration_settings.busy_timeout)


def export_model(config: Config, fmt: str, samples: int = 3, point_in_time_recovery: bool = True) -> dict[str, Any]:
    """The model as a NoSQL Workbench data model or a CloudFormation template (plain data, for JSON)."""
    from sqlite2ddb.model_export import cloudformation, workbench

    if fmt == "cloudformation":
        with opened_plan(config, count=False) as (plan, _conn):
            return cloudformation.template(plan, point_in_time_recovery)
    rendered = plan_samples(config, samples) if samples else {}
    with opened_plan(config, count=False) as (plan, conn):
        params = workbench.first_params(conn, plan.mapping.access_patterns)
        return workbench.model(plan, rendered, Path(plan.mapping.directory).name, params)


def scaffold(source_db: str, out: str, table: str | None, style: str, multi_attribute_keys: bool = False) -> Any:
    """Write a first mapping set for ``source_db`` into ``out`` (see engine.scaffold)."""
    from sqlite2ddb.scaffold import scaffold as write_scaffold

    return write_scaffold(source_db, out, table, style, multi_attribute_keys)  # type: ignore[arg-type]


def describe_item(item: dict[str, Any]) -> dict[str, Any]:
    """Wire format -> plain values for display."""
    return {k: to_python(v) for k, v in item.items()}


def _skippable_now(config: Config, plan: Plan, conn: sqlite3.Connection, store: Any) -> tuple[dict[str, str], Any, Any]:
    """What a sync now would skip (done, same mapping, fingerprints there, no source table changed), and catch up."""
    from sqlite2ddb.state.catchup import CatchupStore
    from sqlite2ddb.sync.run import catch_up

    state = MigrationState.load(config.state_path)
    before = state.identity.get("item_type_digests", {})
    items = list(plan.item_types)
    reads, digests = snapshot.source_digests(conn, items)
    settled = {
        i.name: state.status(i.name) == "done"
        and digest.matches(before.get(i.name), i.spec)
        and store.holds(i.table.name)
        for i in items
    }
    skipped = snapshot.unchanged(items, reads, digests, state.source_tables, settled)
    with CatchupStore.of(config.state_dir) as changes_of:
        found, only = catch_up(conn, plan, items, skipped, changes_of, reads, digests, settled)
    return skipped, found, only


def plan_diff(config: Config, against_target: bool = False, check_target: bool = True) -> dict[str, Any]:
    """What ``sync`` would change, per item type and table, from the fingerprints (or the live tables)."""
    from sqlite2ddb.dynamodb.index_changes import index_changes
    from sqlite2ddb.dynamodb.reads import Reader
    from sqlite2ddb.state.fingerprints import FingerprintStore
    from sqlite2ddb.sync.diff import Differ
    from sqlite2ddb.sync.run import note_found

    changes: list[str] = []
    with opened_plan(config) as (plan, conn), FingerprintStore.of(config.state_dir) as store:
        differ = Differ(plan, scratch=config.state_dir)
        skipped, found, only = ({}, None, {}) if against_target else _skippable_now(config, plan, conn, store)
        note_found(differ, plan, found, skipped)
        with ExitStack() as stack:
            target = stack.enter_context(connect(config)) if (against_target or check_target) else None
            workers = config.migration_settings.workers
            for table in plan.tables:
                described = describe_table(target, table.name) if target else None
                if described is not None:
                    try:
                        changes += [c.line() for c in index_changes(table, described)]
                    except MigrationError as exc:
                        changes.append(str(exc))
                held: Any = store
                if against_target and target is not None and described is not None:
                    held = Reader(target, workers=workers).scan(table.name, segments=workers)
                items = [i for i in plan.item_types if i.table.name == table.name and i.name not in skipped]
                selection = {i.name: only[i.name] for i in items if i.name in only and held is store}
                for _ in differ.table(table, items, conn, held, only=selection) if items else ():
                    pass
        return {
            "compared_with": "the live tables" if against_target else f"the fingerprints in {store.path}",
            "change_digest": differ.digest,
            "index_changes": changes,
            "item_types": [d.to_json() for d in differ.results()],
        }


def sync(
    config: Config,
    tables: Sequence[str] | None = None,
    against_target: bool = False,
    plan_file: str | None = None,
    guard: bool = False,
    via_s3: str | None = None,
    bulk_options: dict[str, Any] | None = None,
) -> Any:
    """Converge the tables to what the mapping renders from the source now (or exactly a reviewed plan).

    ``via_s3``: the puts through S3 and StartBulkPutItems (with ``guard``: the new keys only);
    ``bulk_options``: keep_parts, write_units.
    """
    from sqlite2ddb.sync.run import check_errors
    from sqlite2ddb.sync.run import sync as run_sync

    if plan_file:
        check_reviewed(config, plan_file, "sync")
        reviewed = reviewed_plan.load(plan_file, "sync")["plan"]
        now = plan_diff(config, against_target=reviewed.get("compared_with") == "the live tables")
        if now["change_digest"] != reviewed["change_digest"]:
            raise StateError(
                f"the difference is not the one reviewed in {plan_file}: what the tables hold changed since "
                "(another sync, or --against-target found other items)",
                "review a new plan",
            )
    mapping = require_item_types(load_mapping_set(config.mappings))  # a bad mapping is said before the source is copied
    options: dict[str, Any] = {"tables": tables, "against_target": against_target, "guard": guard}
    result = None
    if not tables and not against_target and _captured(config):
        result = _sync_live(config, mapping, via_s3, bulk_options or {}, options)
    if result is None:
        copy = snapshot.take(config.source_db, config.state_dir, config.migration_settings.busy_timeout)
        try:
            with opened_plan(config, snapshot=copy, mapping=mapping) as (plan, conn):
                select_item_types(plan, tables)
                for line in pad_warnings(plan, conn):
                    logger.warning("{}", line)
                with connect(config) as target:
                    check_reachable(target)
                    sinks = _bulk_sinks(config, target, via_s3, bulk_options or {}) if via_s3 else None
                    result = run_sync(
                        plan, config, target, conn, snapshot=copy, put_sinks=sinks, change_source=_capture_log(conn),
                        **options,
                    )  # fmt: skip
        finally:
            copy.path.unlink(missing_ok=True)
    check_errors(result, config)
    return result


def _captured(config: Config) -> bool:
    """Whether ``capture install`` ran on the source (read-only look at its schema)."""
    from sqlite2ddb.sync.capture import installed

    conn = open_source(config.source_db, config.migration_settings.busy_timeout)
    try:
        return installed(conn)
    finally:
        conn.close()


def _sync_live(
    config: Config, mapping: Any, via_s3: str | None, bulk_options: dict[str, Any], options: dict[str, Any]
) -> Any:
    """A catch-up read from the live source through the capture log, no copy (None when it cannot be one).

    The plan is compiled without counting rows or proving cursors (both read
    every row); pad widths are checked by the next sync that reads a copy.
    """
    from sqlite2ddb.sync.run import NeedsSnapshot
    from sqlite2ddb.sync.run import sync as run_sync

    with opened_plan(config, count=False, mapping=mapping) as (plan, conn), connect(config) as target:
        check_reachable(target)
        sinks = _bulk_sinks(config, target, via_s3, bulk_options) if via_s3 else None
        try:
            return run_sync(plan, config, target, conn, put_sinks=sinks, live=True, **options)
        except NeedsSnapshot as why:
            logger.info("{}: syncing from a copy of the source", why)
            return None


def _capture_log(conn: sqlite3.Connection) -> Any:
    """The change log as the catch-up's change source when ``capture install`` ran on the source (else None).

    ``conn`` reads the run's copy of the source, which holds the log as of the same moment as the rows.
    """
    from sqlite2ddb.sync.capture import current_position, installed, read_changes
    from sqlite2ddb.sync.catchup import CaptureLog

    return CaptureLog(conn, read_changes, current_position) if installed(conn) else None


def _bulk_sinks(config: Config, target: Any, location: str, options: dict[str, Any]) -> Any:
    """sync --via-s3: the puts of each table through StartBulkPutItems (refused where the endpoint lacks it)."""
    from sqlite2ddb.bulk.bulk_put import bulk_put_supported
    from sqlite2ddb.bulk.bulk_sync import sinks
    from sqlite2ddb.bulk.s3 import S3Location

    S3Location.parse(location)
    if not bulk_put_supported(target):
        raise UsageError(
            f"sync --via-s3: {target.endpoint} does not offer StartBulkPutItems",
            "sync without --via-s3 (BatchWriteItem), or against AWS",
        )
    return sinks(config, target, location, options)


def plan_basis(config: Config) -> dict[str, Any]:
    """What a reviewed plan depends on: mapping digest, source snapshot, target identity."""
    mapping = load_mapping_set(config.mappings)
    with connect(config, need_server=False) as target:
        where = target.identity
    return reviewed_plan.basis(mapping.digest, source_identity(config.source_db), where)


def save_reviewed(config: Config, path: str, kind: str, document: dict[str, Any]) -> Path:
    return reviewed_plan.save(path, kind, document, plan_basis(config), outputs.protected(config))


def check_reviewed(config: Config, path: str, kind: str) -> None:
    """Refuse to run a reviewed plan whose mapping, source or target changed since the review."""
    reviewed_plan.check(path, reviewed_plan.load(path, kind), plan_basis(config))


# What the command line needs around the calls above. Each decision lives here, once, so that the CLI only
# parses options and prints, and a program using the library gets the same behaviour as the command.


@dataclass
class PlanReport:
    """What ``plan`` shows: the plan (or, with ``--diff``, the difference) and where it was saved for review."""

    document: dict[str, Any]
    saved: Path | None = None  # the reviewed plan written for 'migrate --plan' (or 'sync --plan')
    max_wcu: float | None = None  # the write cap the times were computed at (option, else configuration)
    run_with: str = "migrate"  # the command that applies a saved plan


def plan_report(
    config: Config,
    *,
    check_target: bool = True,
    estimate_rows: int = 1000,
    price: float = PRICE_PER_MILLION_WRU,
    max_wcu: float | None = None,
    import_price: float | None = None,
    bulk_put_price: float | None = None,
    target_minutes: float | None = None,
    samples: int = 0,
    out: str | None = None,
) -> PlanReport:
    """The plan document of ``plan --format json``: tables, item types, checks, capacity, reads, load paths.

    ``estimate_rows`` rows per item type are rendered for the estimate (0: every row). With ``out`` the plan
    is saved for ``migrate --plan`` (refused before any work if ``out`` is a file the tool did not write).
    """
    guard = outputs.protected(config)
    if out:
        outputs.check([reviewed_plan.output(out)], guard)
    document = build_plan(config, with_target=check_target)
    _, per_table = estimate(config, estimate_rows or None)
    max_wcu = max_wcu or config.migration_settings.max_wcu
    document["capacity"] = {
        "price_per_million_wru": price,
        "price_source": PRICE_SOURCE if price == PRICE_PER_MILLION_WRU else "given with --price",
        "tables": [e.to_json(price, max_wcu) for e in per_table],
    }
    document["validation_reads"] = read_estimate(config, per_table)
    exists = {t["name"]: t["exists"] for t in document["tables"]}
    document["load_paths"] = _load_paths(
        config, per_table, estimate_rows, price, import_price, max_wcu, exists, bulk_put_price, target_minutes
    )
    saved = save_reviewed(config, out, "migrate", document) if out else None
    if samples:
        document["samples"] = {
            n: [describe_item(i) for i in items] for n, items in plan_samples(config, samples).items()
        }
    return PlanReport(document, saved, max_wcu)


def _load_paths(
    config: Config,
    per_table: list[Any],
    estimate_rows: int,
    price: float,
    import_price: float | None,
    max_wcu: float | None,
    exists: dict[str, bool | None] | None = None,
    bulk_put_price: float | None = None,
    target_minutes: float | None = None,
) -> dict[str, Any]:
    from sqlite2ddb.bulk import compare

    per_gb = import_price or IMPORT_PRICE_PER_GB
    bulk_gb = bulk_put_price or BULK_PUT_PRICE_PER_GB
    minutes = target_minutes or compare.TARGET_MINUTES
    compared = compare.compare_tables(
        config,
        per_table,
        estimate_rows or None,
        price,
        per_gb,
        max_wcu,
        exists=exists,
        bulk_put_price_per_gb=bulk_gb,
        target_minutes=minutes,
    )
    return {
        "import_price_per_gb": per_gb,
        "import_price_source": IMPORT_PRICE_SOURCE if import_price is None else "given with --import-price",
        "bulk_put_price_per_gb": bulk_gb,
        "bulk_put_price_source": BULK_PUT_PRICE_SOURCE if bulk_put_price is None else "given with --bulk-put-price",
        "target_minutes": minutes,
        "warm_price_note": WARM_PRICE_NOTE,
        "tables": [c.to_json() for c in compared],
    }


def plan_diff_report(
    config: Config, against_target: bool = False, check_target: bool = True, out: str | None = None
) -> PlanReport:
    """What ``plan --diff`` shows: the difference ``sync`` would apply, saved for ``sync --plan`` with ``out``."""
    if out:
        outputs.check([reviewed_plan.output(out)], outputs.protected(config))
    difference = plan_diff(config, against_target, check_target)
    saved = save_reviewed(config, out, "sync", difference) if out else None
    return PlanReport(difference, saved, run_with="sync")


@dataclass
class DryRun:
    """``migrate --dry-run``: every row read and transformed, nothing written."""

    item_types: list[Any]  # one estimate per item type: rows, items, bytes, problems
    capacity: dict[str, Any]  # as in the plan document
    max_wcu: float | None
    seconds: float

    @property
    def problems(self) -> list[str]:
        return [p for e in self.item_types for p in e.problems]

    @property
    def problem_rows(self) -> int:
        return sum(e.problem_count for e in self.item_types)


def dry_run(config: Config, max_wcu: float | None = None) -> DryRun:
    """Read and transform every row of every item type, write nothing; ``check_outcome`` fails on a problem."""
    started = time.monotonic()
    per_item, per_table = estimate(config, None)
    max_wcu = max_wcu or config.migration_settings.max_wcu
    capacity = {
        "price_per_million_wru": PRICE_PER_MILLION_WRU,
        "price_source": PRICE_SOURCE,
        "tables": [e.to_json(PRICE_PER_MILLION_WRU, max_wcu) for e in per_table],
    }
    return DryRun(per_item, capacity, max_wcu, time.monotonic() - started)


def check_outcome(result: Any) -> None:
    """Raise the error a failed outcome ends with (exit code 1): a failed validation, a dry run with problems."""
    if isinstance(result, DryRun) and result.problem_rows:
        raise MigrationError(f"dry run: {result.problem_rows} rows cannot be written as mapped")
    if isinstance(result, ValidationResult) and not result.passed:
        raise ValidationFailed(result.verdict())


def resume(config: Config, tables: Sequence[str] | None = None, reporter: Reporter | None = None) -> MigrationResult:
    """Continue an interrupted or failed migration from its checkpoint (on the source snapshot it was reading)."""
    return migrate(config, tables, force=False, reporter=reporter)


def resumable(exc: MigrationError, via_s3: bool = False) -> bool:
    """Whether a failed run kept its progress, so that ``resume`` continues it (not so for bad input)."""
    if via_s3:
        return not isinstance(exc, UsageError)
    return exc.exit_code == 1 or exc.exit_code >= 128 or isinstance(exc, WriteRefused)


def via_s3_load(
    config: Config, location: str | None, resuming: bool, tables: Sequence[str]
) -> tuple[str | None, tuple[str, ...], bool]:
    """Where a migrate loads through S3 and ImportTable: ``location``, else (on resume) the unfinished load's.

    Returns the location (None: the ordinary write path), the tables, and whether an unfinished load continues.
    """
    from sqlite2ddb.bulk.import_table import pending_load

    if location or not resuming:
        return location, tuple(tables), False
    pending = pending_load(config)
    if not pending:
        return None, tuple(tables), False
    return pending[0], tuple(tables) or tuple(pending[1] or ()), True


def migrate_via_s3(
    config: Config,
    location: str,
    tables: Sequence[str] | None = None,
    part_mb: float | None = None,
    processes: int | None = None,
    on_progress: Callable[[str, dict[str, Any]], None] | None = None,
    keep_parts: bool = False,
    write_units: int | None = None,
) -> list[Any]:
    """Load through ``s3://bucket/prefix``: new tables by ImportTable, existing ones by bulk put; an outcome each."""
    from sqlite2ddb.bulk.import_table import migrate_via_s3 as load_via_s3

    return load_via_s3(config, location, tables or None, part_mb, processes, on_progress, keep_parts, write_units)


def validate(
    config: Config,
    table: str | None = None,
    checks: Sequence[str] = (),
    sample: int | None = None,
    sample_pct: float | None = None,
    *,
    max_rcu: float | None = None,
    index_read_above: int | None = DEFAULT_PROOF.index_read_above,
    real_queries: int = 10,
    strict: bool = False,
    progress: Any = None,
    generated: str | None = None,
) -> ValidationResult:
    """Prove the migration: shape, counts, every item (or a sample), access patterns, aggregates, item rules.

    ``index_read_above`` (None or negative: never) and ``real_queries`` say when an access pattern is proven
    from one read of its index. The result says whether it ``passed``; ``check_outcome`` raises when not.
    ``generated`` (a folder ``codegen`` wrote) answers every access pattern through the generated code.
    """
    from sqlite2ddb import validate as validation
    from sqlite2ddb.validate.pattern_proof import ProofSettings

    above = None if index_read_above is None or index_read_above < 0 else index_read_above
    return validation.run(
        config,
        table,
        checks,
        sample,
        sample_pct,
        max_rcu=max_rcu,
        progress=progress or validation.NO_PROGRESS,
        proof=ProofSettings(above, real_queries),
        strict=strict,
        generated=generated,
    )


def validate_after_run(
    config: Config, skip: bool = False, progress: Any = None, announce: Callable[[str], None] | None = None
) -> ValidationResult | None:
    """The validation that ends migrate, resume and sync: when ``enable_validation`` is on and not ``skip``.

    None when it does not run; ``announce`` is told why it runs, before it starts.
    """
    if skip or not config.migration_settings.enable_validation:
        return None
    if announce is not None:
        announce("validating (enable_validation is true in the configuration)")
    return validate(config, progress=progress)


def check_report(config: Config, report: str | None) -> None:
    """Refuse, before any work, a report path that names a file the tool did not write."""
    if report:
        from sqlite2ddb.validate.report import check_report as check

        check(report, outputs.protected(config))


def write_reports(config: Config, result: ValidationResult, report: str | None) -> list[Path]:
    """Write the validation report(s) ``report`` names (.json, .md, .html); the paths written."""
    if not report:
        return []
    from sqlite2ddb.validate.report import write_reports as write

    return write(result, report, outputs.protected(config))


def render_report(report_json: str, out: str | None = None) -> Path:
    """A saved JSON validation report as its HTML page (default: beside it, .html), without validating again."""
    from sqlite2ddb.validate.report import render_saved

    return render_saved(Path(report_json), Path(out) if out else Path(report_json).with_suffix(".html"))


def sync_difference(result: Any, against_target: bool = False) -> dict[str, Any]:
    """A sync's outcome as the difference document ``plan --diff`` shows."""
    return {
        "compared_with": "the live tables" if against_target else "the fingerprints",
        "index_changes": [c.line() for c in result.index_changes],
        "item_types": [d.to_json() for d in result.diffs],
        "change_digest": result.change_digest,
    }


def export(
    config: Config,
    out: str,
    tables: Sequence[str] | None = None,
    part_mb: float | None = None,
    processes: int | None = None,
) -> Any:
    """Every item as ImportTable's DynamoDB JSON (gzip parts, one folder per table) and a manifest, to ``out``."""
    from sqlite2ddb.bulk.export import run_export

    return run_export(config, out, part_mb, processes, tables or None)


def write_model(
    config: Config, fmt: str, out: str | None, samples: int = 3, point_in_time_recovery: bool = True
) -> str | None:
    """``export-model``: the model's JSON text when ``out`` is None; else written to ``out`` (None returned).

    A file the tool did not write is refused before any work.
    """
    target, guard = outputs.Output(Path(out or "-"), outputs.MODEL_EXPORT, "model"), outputs.protected(config)
    if out is not None:
        outputs.check([target], guard)
    text = json_text(export_model(config, fmt, samples, point_in_time_recovery)) + "\n"
    if out is None:
        return text
    outputs.write(target, text, guard)
    return None


def scaffold_next(source_db: str, out: str) -> str:
    """The commands to run after ``scaffold``."""
    from sqlite2ddb.scaffold import next_command

    return next_command(source_db, out)


def state_dir_of(config_path: str | Path) -> Path:
    """The state folder of a configuration file (the default one when the file does not exist yet)."""
    path = Path(config_path)
    return load_config(path).state_dir if path.exists() else Config(source_db="", path=str(path)).state_dir


def local_install() -> tuple[Path, str]:
    """Download DynamoDB Local into .tools/; its jar and the Java that runs it."""
    return local_dynamodb.install(), local_dynamodb.check_java()


def local_start(config_path: str | Path) -> tuple[Any, bool]:
    """Start DynamoDB Local for later commands; the server and whether it was running already."""
    state_dir = state_dir_of(config_path)
    server = local_dynamodb.running(state_dir)
    if server:
        return server, True
    return local_dynamodb.start_recorded(state_dir), False


def local_stop(config_path: str | Path) -> bool:
    """Stop the DynamoDB Local 'local start' started; whether one was running."""
    return local_dynamodb.stop_recorded(state_dir_of(config_path))


def local_status(config_path: str | Path) -> Any:
    """The DynamoDB Local 'local start' started, or None."""
    return local_dynamodb.running(state_dir_of(config_path))


def codegen(config: Config, out: str, lang: str = "python", package: str | None = None) -> list[Path]:
    """Write the data-access package of the mapping set's access patterns and item types into ``out``."""
    from sqlite2ddb.codegen import generate

    with opened_plan(config, count=False) as (plan, conn):
        return generate(plan, conn, out, lang, package)
