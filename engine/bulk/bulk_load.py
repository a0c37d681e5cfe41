"""migrate --via-s3 into a table that exists: export the parts (shuffled), StartBulkPutItems, follow, reconcile.

Each step leaves its mark in ``bulk_state.json`` (the parts, the ClientToken,
the ARN, the outcome), so ``resume`` after a kill goes on where the run
stopped without starting a second operation. After a successful load the
parts and reports are deleted from S3 unless ``keep_parts``.
"""

from __future__ import annotations

import time
from typing import Any

from loguru import logger

from sqlite2ddb.bulk import bulk_put
from sqlite2ddb.bulk.bulk_put import BulkPutOutcome, Progress
from sqlite2ddb.bulk.export import export_items
from sqlite2ddb.bulk.progress import BulkProgress
from sqlite2ddb.config import Config
from sqlite2ddb.dynamodb.target import Target
from sqlite2ddb.plan.compile import ItemTypePlan, Plan, TablePlan


def load_table(
    config: Config,
    plan: Plan,
    conn: Any,
    target: Target,
    bulk: BulkProgress,
    table: TablePlan,
    items: list[ItemTypePlan],
    location: str,
    options: dict[str, Any],
    on_progress: Progress | None,
) -> BulkPutOutcome:
    """One table through bulk put. ``options``: part_mb, processes, keep_parts, write_units."""
    record = bulk.bulk_put_record(table.name) or {}
    if record.get("location") != location:
        bulk.forget_bulk_put(table.name)
        record = {}
    if record.get("status") in bulk_put.FINISHED and record.get("status") != "COMPLETED":
        bulk.forget_bulk_put(table.name)  # a new attempt: a new ClientToken
        record = {"attempt": record.get("attempt", 0) + 1}
    if record.get("status") == "COMPLETED" and record.get("ok"):
        logger.info("{}: bulk put in an earlier run ({})", table.name, record["arn"])
        done = BulkPutOutcome(table.name, record["arn"], "COMPLETED", record["expected_items"], resumed=True)
        done.processed_items = record.get("processed_items", done.expected_items)
        return done
    resumed = bool(record.get("arn"))
    if not resumed:
        record = _start(config, plan, conn, target, bulk, table, items, location, options, record)
    started = time.monotonic()
    description = bulk_put.follow(target, record["arn"], lambda d: on_progress(table.name, d) if on_progress else None)
    rejects = [bulk_put.reject_of(table, r, record["arn"]) for r in bulk_put.report_records(config, description)]
    bulk_put.write_rejects(config, rejects)
    outcome = bulk_put.outcome_of(table.name, record["expected_items"], description, rejects)
    outcome.seconds, outcome.resumed = time.monotonic() - started, resumed
    bulk.set_bulk_put(table.name, status=outcome.status, ok=outcome.ok, processed_items=outcome.processed_items)
    if outcome.ok and not options.get("keep_parts"):
        _remove_parts(config, bulk, location, table.name)
    return outcome


def _start(
    config: Config,
    plan: Plan,
    conn: Any,
    target: Target,
    bulk: BulkProgress,
    table: TablePlan,
    items: list[ItemTypePlan],
    location: str,
    options: dict[str, Any],
    record: dict[str, Any],
) -> dict[str, Any]:
    """Export the table's parts (those not uploaded before), check the limits, start (or find) the operation."""
    parts_at = bulk_put.parts_location(location)
    export = export_items(
        config, plan, conn, items, parts_at, options.get("part_mb"), options.get("processes"), progress=bulk,
        shuffle=True,
    )  # fmt: skip
    manifest_table = export.manifest["tables"][table.name]
    bulk_put.check_limits(table.name, manifest_table)
    attempt = record.get("attempt", 0)
    token = bulk_put.client_token(location, table.name, manifest_table, attempt)
    request = bulk_put.start_request(table.name, location, token, options.get("write_units"))
    bulk.set_bulk_put(table.name, location=location, expected_items=export.table_items(table.name), attempt=attempt)
    bulk_put.start_or_find(target, bulk, request)
    return bulk.bulk_put_record(table.name) or {}


def _remove_parts(config: Config, bulk: BulkProgress, location: str, table: str) -> None:
    """The parts and reports of a table loaded in full: deleted, and forgotten by the export checkpoints."""
    parts = bulk_put.remove_objects(config, location, f"{bulk_put.PARTS}/{table}/")
    reports = bulk_put.remove_objects(config, location, f"{bulk_put.REPORTS}/{table}/")
    entry = bulk.data["exports"].get(bulk_put.parts_location(location))
    if entry:
        entry["parts"] = {k: v for k, v in entry["parts"].items() if not k.startswith(f"{table}/")}
        entry.get("tables", {}).pop(table, None)
        bulk.save()
    logger.info("{}: removed {} parts and {} report objects from S3", table, parts, reports)
