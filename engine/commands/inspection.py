"""status, reset and info: what the state, the target and the machine hold, told without changing the data."""

from __future__ import annotations

import importlib.metadata
import platform
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3

from sqlite2ddb.config import Config
from sqlite2ddb.dynamodb import local as local_dynamodb
from sqlite2ddb.dynamodb.target import check_reachable, connect, delete_tables, existing_tables
from sqlite2ddb.errors import MigrationError, StateError
from sqlite2ddb.extract.capture_log import is_capture_table
from sqlite2ddb.extract.source import open_source
from sqlite2ddb.spec import load_mapping_set
from sqlite2ddb.state import Lock, MigrationState, remove_stale_temps
from sqlite2ddb.state.binding import check_owner, describe_where, generation, target_record
from sqlite2ddb.state.catchup import FILE_NAME as CATCHUP
from sqlite2ddb.state.fingerprints import FILE_NAME as FINGERPRINTS


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
    generation: str | None = None
    table_check: str = "not checked"
    last_sync: dict[str, Any] | None = None


@dataclass
class StatusReport:
    snapshot: dict[str, Any]
    rows: list[StatusRow]
    target: str | None  # where the checkpoints were written
    target_check: str  # what the live target says about it


def status(config: Config, check_target: bool = True) -> StatusReport:
    """Progress per item type from the state file, checked against the live tables unless told not to."""
    state = MigrationState.load(config.state_path)
    snapshot = state.snapshot()
    mapping = load_mapping_set(config.mappings)
    tables = {t.name: f"{config.table_prefix}{t.name}" for t in mapping.tables}
    live, target_check = _live_tables(config, list(tables.values()), state) if check_target else (None, "not checked")
    rows = [_status_row(state, item.name, tables[item.table], live) for item in mapping.item_types]
    recorded = state.identity.get("target", {})
    where = describe_where(recorded) if recorded.get("endpoint") else None
    return StatusReport(snapshot, rows, where, target_check)


def _status_row(state: MigrationState, name: str, table: str, live: dict[str, Any] | None) -> StatusRow:
    entry = state.item(name)
    elapsed = entry.get("elapsed_s") or 0.0
    row = StatusRow(
        name=name,
        table=table,
        status=entry["status"],
        rows_done=entry["rows_read"],
        total=entry["total_rows"],
        items_written=entry["items_written"],
        items_per_s=entry["items_written"] / elapsed if elapsed else 0.0,
        errors=entry["rows_rejected"],
        retries=entry["retries"],
        throttles=entry["throttles"],
        cursor=_checkpoint_of(entry),
        error=entry["error"],
        generation=entry.get("table_generation") or state.tables.get(table, {}).get("generation"),
        last_sync=entry.get("last_sync"),
    )
    if live is not None and row.status != "pending":
        described = live.get(table)
        if described is None:
            row.table_check = "table missing: to rewrite"
        elif row.generation and generation(described) != row.generation:
            row.table_check = "recreated: to rewrite"
        else:
            row.table_check = "same table"
    return row


def _checkpoint_of(entry: dict[str, Any]) -> Any:
    """The cursor of a single stream, or each cursor range's checkpoint ("done" once written)."""
    ranges = entry.get("ranges")
    if not ranges or entry["status"] == "done":
        return entry["cursor"]
    return ["done" if r["done"] else r["cursor"] or r["after"] or "start" for r in ranges]


def _live_tables(config: Config, names: list[str], state: MigrationState) -> tuple[dict[str, Any] | None, str]:
    """The live tables, and whether the target is the one the checkpoints were written to."""
    try:
        with connect(config) as target:
            described = existing_tables(target, names)
            current = target_record(target, described)
    except MigrationError as exc:
        return None, f"cannot check the target: {exc}"
    recorded = state.identity.get("target", {})
    if not recorded.get("endpoint"):
        return described, f"checked {describe_where(current)}"
    if recorded["endpoint"] != current["endpoint"]:
        return None, f"the configuration now targets {describe_where(current)}: the checkpoints do not apply there"
    return described, "checked: same target"


def reset(config: Config, drop_tables: bool = False) -> dict[str, Any]:
    """Forget all progress (state file, backup, rejects); optionally drop the tables."""
    state_file = config.state_path
    lock = Lock(state_file.with_name(state_file.name + ".lock"))
    lock.acquire()
    try:
        try:
            state = MigrationState.load(state_file)
        except StateError:
            state = None  # a damaged state is what reset is for; whose it was cannot be read
        if state is not None:
            check_owner(state, config)
        removed = [str(temp) for temp in remove_stale_temps(state_file)]
        leftovers = [state_file.with_name(state_file.name + ".bak"), state_file.with_name("rejects.jsonl")]
        leftovers += [
            state_file.with_name(name + suffix) for name in (FINGERPRINTS, CATCHUP) for suffix in ("", "-wal", "-shm")
        ]
        for path in (state_file, *leftovers):
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
        names = [n for n in names if not is_capture_table(n)]
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
            if config.target == "local" and local_dynamodb.running(config.state_dir) is None:
                target_info["reachable"] = "not running (started on demand by each command)"
            else:
                check_reachable(target)
                target_info["reachable"] = True
    except Exception as exc:  # noqa: BLE001
        target_info["reachable"] = False
        target_info["problem"] = str(exc)
    out["target"] = target_info
    return out
