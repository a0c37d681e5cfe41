"""One function per CLI command; the CLI parses options, calls these, and prints.

Keeping the commands here (not in cli.py) means the API and the CLI cannot
drift, and tests can call the same functions the CLI calls.
"""

from __future__ import annotations

import importlib.metadata
import platform
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import boto3
from loguru import logger

from engine import local_dynamodb
from engine.config import Config, save_config
from engine.errors import MigrationError, UsageError
from engine.extract import open_source, stream_rows
from engine.migrate import MigrationResult, Reporter, select_item_types
from engine.migrate import migrate as run_migration
from engine.plan import Plan, compile_plan, config_table_name
from engine.spec import load_mapping_set
from engine.state import Lock, MigrationState, remove_stale_temps
from engine.target import check_reachable, connect, delete_tables, existing_tables
from engine.transform import attach_children, build_item, keep_row
from engine.types import to_python

__all__ = [
    "build_plan",
    "export_model",
    "info",
    "init_config",
    "migrate",
    "plan_samples",
    "reset",
    "scaffold",
    "status",
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
) -> Config:
    """Write the configuration file after checking the source and the mapping set."""
    if not 1 <= batch_size <= 25:
        raise UsageError(f"--batch-size must be between 1 and 25, not {batch_size}")
    open_source(source_db).close()
    mapping = load_mapping_set(mappings)
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
    save_config(config)
    return config


@contextmanager
def opened_plan(config: Config, count: bool = True) -> Iterator[tuple[Plan, sqlite3.Connection]]:
    """Load the mapping set, open the source read-only and compile the plan."""
    mapping = load_mapping_set(config.mappings)
    conn = open_source(config.source_db, config.migration_settings.busy_timeout)
    try:
        yield compile_plan(mapping, conn, config.table_prefix, count=count), conn
    finally:
        conn.close()


def build_plan(config: Config, with_target: bool = False) -> dict[str, Any]:
    """The plan as plain data, for review (``plan``) and machines (``--format json``)."""
    with opened_plan(config) as (plan, _conn):
        existing: dict[str, Any] | None = None
        if with_target:
            try:
                with connect(config) as target:
                    existing = existing_tables(target, [t.name for t in plan.tables])
            except MigrationError as exc:
                logger.warning("cannot tell which tables exist: {}", exc)
        return plan_document(plan, existing)


def plan_document(plan: Plan, existing: dict[str, Any] | None) -> dict[str, Any]:
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
                    for i in spec.indexes
                ],
                "exists": None if existing is None else existing.get(table.name) is not None,
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
    from engine.estimate import estimate_plan

    with opened_plan(config) as (plan, conn):
        return estimate_plan(plan, conn, limit, config.batch_size)


def plan_samples(config: Config, samples: int) -> dict[str, list[dict[str, Any]]]:
    """The first ``samples`` items of each item type, exactly as they would be written."""
    out: dict[str, list[dict[str, Any]]] = {}
    with opened_plan(config, count=False) as (plan, conn):
        for item in plan.item_types:
            rows = []
            for row in stream_rows(conn, item.spec.query, item.spec.cursor):
                if keep_row(item, row):
                    rows.append(row)
                if len(rows) >= samples:
                    break
            attach_children(conn, item.embeds, rows)
            out[item.name] = [build_item(item, row) for row in rows]
    return out


def migrate(
    config: Config,
    tables: Sequence[str] | None = None,
    force: bool = False,
    reporter: Reporter | None = None,
) -> MigrationResult:
    with opened_plan(config) as (plan, conn):
        select_item_types(plan, tables)
        with connect(config) as target:
            check_reachable(target)
            return run_migration(plan, config, target, conn, tables=tables, force=force, reporter=reporter)


@dataclass
class StatusRow:
    name: str
    table: str
    status: str
    rows_done: int
    total: int | None
    items_written: int
    items_per_s: float
    errors: int
    retries: int
    throttles: int
    cursor: Any
    error: str | None


def status(config: Config) -> tuple[dict[str, Any], list[StatusRow]]:
    """Progress per item type from the state file (no DynamoDB call)."""
    state = MigrationState.load(config.migration_settings.state_file)
    snapshot = state.snapshot()
    mapping = load_mapping_set(config.mappings)
    rows = []
    for item in mapping.item_types:
        entry = state.item(item.name)
        elapsed = entry.get("elapsed_s") or 0.0
        rows.append(
            StatusRow(
                name=item.name,
                table=f"{config.table_prefix}{item.table}",
                status=entry["status"],
                rows_done=entry["rows_read"],
                total=entry["total_rows"],
                items_written=entry["items_written"],
                items_per_s=entry["items_written"] / elapsed if elapsed else 0.0,
                errors=entry["rows_rejected"],
                retries=entry["retries"],
                throttles=entry["throttles"],
                cursor=entry["cursor"],
                error=entry["error"],
            )
        )
    return snapshot, rows


def reset(config: Config, drop_tables: bool = False) -> dict[str, Any]:
    """Forget all progress (state file, backup, rejects); optionally drop the tables."""
    state_file = Path(config.migration_settings.state_file)
    lock = Lock(state_file.with_name(state_file.name + ".lock"))
    lock.acquire()
    try:
        removed = [str(temp) for temp in remove_stale_temps(state_file)]
        for path in (state_file, state_file.with_name(state_file.name + ".bak"), state_file.with_name("rejects.jsonl")):
            if path.exists():
                path.unlink()
                removed.append(str(path))
        dropped: list[str] = []
        if drop_tables:
            mapping = load_mapping_set(config.mappings)
            with connect(config) as target:
                dropped = delete_tables(target, [f"{config.table_prefix}{t.name}" for t in mapping.tables])
        return {"removed": removed, "dropped_tables": dropped}
    finally:
        lock.release()


def info(config: Config | None) -> dict[str, Any]:
    """Versions, source summary, target and its reachability, mapping set. No secrets."""
    import jinja2
    import yaml

    out: dict[str, Any] = {
        "versions": {
            "python": platform.python_version(),
            "boto3": boto3.__version__,
            "click": importlib.metadata.version("click"),
            "jinja2": jinja2.__version__,
            "pyyaml": yaml.__version__,
            "sqlite": sqlite3.sqlite_version,
            "dynamodb_local": local_dynamodb.local_version(),
        }
    }
    if config is None:
        return out
    try:
        conn = open_source(config.source_db, config.migration_settings.busy_timeout)
        names = [
            r[0]
            for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
            )
        ]
        counts = {n: conn.execute(f'SELECT count(*) FROM "{n}"').fetchone()[0] for n in names}
        conn.close()
        out["source"] = {"path": config.source_db, "size": Path(config.source_db).stat().st_size, "tables": counts}
    except Exception as exc:  # noqa: BLE001 - info reports problems instead of failing
        out["source"] = {"path": config.source_db, "error": str(exc)}
    try:
        mapping = load_mapping_set(config.mappings)
        out["mapping_set"] = {
            "path": mapping.directory,
            "files": list(mapping.files),
            "digest": mapping.digest,
            "tables": [t.name for t in mapping.tables],
            "item_types": [i.name for i in mapping.item_types],
            "access_patterns": len(mapping.access_patterns),
        }
    except Exception as exc:  # noqa: BLE001
        out["mapping_set"] = {"path": config.mappings, "error": str(exc)}
    target_info: dict[str, Any] = {
        "kind": config.target,
        "region": config.aws_region,
        "table_prefix": config.table_prefix,
    }
    try:
        with connect(config, need_server=config.target != "local") as target:
            target_info["endpoint"] = target.endpoint
            if (
                config.target == "local"
                and local_dynamodb.running(Path(config.migration_settings.state_file).parent) is None
            ):
                target_info["reachable"] = "not running (started on demand by each command)"
            else:
                check_reachable(target)
                target_info["reachable"] = True
    except Exception as exc:  # noqa: BLE001
        target_info["reachable"] = False
        target_info["problem"] = str(exc)
    out["target"] = target_info
    return out


def export_model(config: Config, fmt: str, samples: int = 3, point_in_time_recovery: bool = True) -> dict[str, Any]:
    """The model as a NoSQL Workbench data model or a CloudFormation template (plain data, for JSON)."""
    from engine.model_export import cloudformation, workbench

    if fmt == "cloudformation":
        with opened_plan(config, count=False) as (plan, _conn):
            return cloudformation.template(plan, point_in_time_recovery)
    rendered = plan_samples(config, samples) if samples else {}
    with opened_plan(config, count=False) as (plan, _conn):
        return workbench.model(plan, rendered, Path(plan.mapping.directory).name)


def scaffold(source_db: str, out: str, table: str | None, style: str) -> Any:
    """Write a first mapping set for ``source_db`` into ``out`` (see engine.scaffold)."""
    from engine.scaffold import scaffold as write_scaffold

    return write_scaffold(source_db, out, table, style)  # type: ignore[arg-type]


def describe_item(item: dict[str, Any]) -> dict[str, Any]:
    """Wire format -> plain values for display."""
    return {k: to_python(v) for k, v in item.items()}


def with_overrides(config: Config, **changes: Any) -> Config:
    changes = {k: v for k, v in changes.items() if v is not None}
    return replace(config, **changes).validate() if changes else config


def log_result(result: MigrationResult) -> None:
    logger.info("migrated {} items in {:.1f}s", result.items_written, result.seconds)
