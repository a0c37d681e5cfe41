"""migrate --via-s3: per table, export to S3, ImportTable (new tables) or bulk put (existing ones), follow, check.

Tables that exist already go through StartBulkPutItems (bulk/bulk_load.py)
where the endpoint offers it. ImportTable creates the table itself (key schema, GSIs and billing mode from
the mapping, the same request ``migrate`` sends to CreateTable), so a table
that exists already is refused before anything is uploaded. Each step is
recorded in the state folder (``bulk_state.json``): the parts uploaded, the
ClientToken before the call and the import's ARN after it, and the outcome,
so that ``resume`` goes on at the step a crash interrupted: the parts not yet
uploaded, the import already started (followed by its ARN, or asked again
with the same ClientToken, which DynamoDB answers with the same import), or
the validation.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from loguru import logger

from sqlite2ddb.bulk.bulk_load import load_table
from sqlite2ddb.bulk.bulk_put import BulkPutOutcome, bulk_put_supported
from sqlite2ddb.bulk.bulk_put import failure_line as bulk_failure_line
from sqlite2ddb.bulk.export import export_items
from sqlite2ddb.bulk.progress import BulkProgress
from sqlite2ddb.bulk.s3 import S3Location, S3Sink, s3_client
from sqlite2ddb.config import Config
from sqlite2ddb.dynamodb.target import Target, check_reachable, connect, create_table_request, existing_tables
from sqlite2ddb.errors import TargetError, UsageError, WriteFailed
from sqlite2ddb.faults import crash_point
from sqlite2ddb.migrate.run import select_item_types
from sqlite2ddb.plan.compile import ItemTypePlan, Plan, TablePlan
from sqlite2ddb.plan.opened import opened_plan

FINISHED = ("COMPLETED", "FAILED", "CANCELLED")
POLL_FIRST_S, POLL_MAX_S = 0.5, 15.0
WAIT_S = 24 * 3600.0


@dataclass
class ImportOutcome:
    table: str
    arn: str
    status: str
    expected_items: int
    processed_items: int = 0
    processed_bytes: int = 0
    imported_items: int = 0
    errors: int = 0
    log_group: str | None = None
    failure: str | None = None
    seconds: float = 0.0
    resumed: bool = False

    @property
    def ok(self) -> bool:
        return self.status == "COMPLETED" and self.errors == 0 and self.imported_items >= self.expected_items


Progress = Callable[[str, dict[str, Any]], None]  # (table, DescribeImport's description)


def pending_load(config: Config) -> tuple[str, list[str] | None] | None:
    """The S3 location and tables of a ``migrate --via-s3`` that has not finished, if any."""
    pending = BulkProgress.load(config.state_dir).data.get("via_s3")
    return (pending["location"], pending.get("tables")) if pending else None


def migrate_via_s3(
    config: Config,
    location: str,
    tables: Sequence[str] | None = None,
    part_mb: float | None = None,
    processes: int | None = None,
    on_progress: Progress | None = None,
    keep_parts: bool = False,
    write_units: int | None = None,
) -> list[ImportOutcome | BulkPutOutcome]:
    """Load the selected tables through S3: new ones by ImportTable, existing ones by StartBulkPutItems.

    WriteFailed when an import or a bulk put falls short (a rejected item included).
    """
    S3Location.parse(location)
    with opened_plan(config) as (plan, conn), connect(config) as target:
        check_reachable(target)
        items = select_item_types(plan, tables)
        table_plans = list({i.table.name: i.table for i in items}.values())
        bulk = BulkProgress.load(config.state_dir)
        existing = refuse_existing(target, bulk, table_plans, location, allow=bulk_put_supported(target))
        bulk.set_via_s3(location, list(tables) if tables else None)
        options = {"part_mb": part_mb, "processes": processes, "keep_parts": keep_parts, "write_units": write_units}
        outcomes: list[ImportOutcome | BulkPutOutcome] = []
        for table in table_plans:
            own = [i for i in items if i.table is table]
            if table.name in existing:
                put = load_table(config, plan, conn, target, bulk, table, own, location, options, on_progress)
                outcomes.append(put)
                if not put.ok:
                    rejects = str(config.state_dir / "rejects.jsonl")
                    hint = "fix the items named there and run again" if put.rejects else "run 'resume': a new bulk put"
                    raise WriteFailed(bulk_failure_line(put, rejects), hint)
                continue
            outcome = _load_table(
                config, plan, conn, target, bulk, table, own, location, part_mb, processes, on_progress
            )
            outcomes.append(outcome)
            if not outcome.ok:
                raise WriteFailed(
                    failure_line(outcome), "see the import's CloudWatch log group; drop the table and run again"
                )
        bulk.set_via_s3(None)
        return outcomes


def refuse_existing(
    target: Target, bulk: BulkProgress, tables: list[TablePlan], location: str, allow: bool = False
) -> set[str]:
    """The tables that exist already (not created by our own import): loaded by bulk put when ``allow``.

    Without bulk put on the endpoint, ImportTable only creates tables: an existing one stops the run
    before anything is uploaded.
    """
    described = existing_tables(target, [t.name for t in tables])
    ours = {
        name
        for name in described
        if (record := bulk.import_record(name))
        and record.get("location") == location
        and record.get("client_token")
        and record.get("status") not in ("FAILED", "CANCELLED")
    }
    taken = [name for name, d in described.items() if d is not None and name not in ours]
    if allow:
        return set(taken)
    if taken:
        raise TargetError(
            f"table(s) {', '.join(taken)} already exist on {target.endpoint}: ImportTable only creates new tables",
            "drop them ('reset --drop-tables'), use another table_prefix, or run 'migrate' without --via-s3 "
            "to write into them with BatchWriteItem",
        )
    return set()


def _load_table(
    config: Config,
    plan: Plan,
    conn: Any,
    target: Target,
    bulk: BulkProgress,
    table: TablePlan,
    items: list[ItemTypePlan],
    location: str,
    part_mb: float | None,
    processes: int | None,
    on_progress: Progress | None,
) -> ImportOutcome:
    record = bulk.import_record(table.name) or {}
    if record.get("location") != location:
        bulk.forget_import(table.name)
        record = {}
    if record.get("status") in ("FAILED", "CANCELLED"):
        # a new attempt needs a new ClientToken: the old one would give back the failed import
        bulk.forget_import(table.name)
        record = {"attempt": record.get("attempt", 0) + 1}
    if record.get("status") == "COMPLETED" and record.get("arn"):
        logger.info("{}: imported in an earlier run ({})", table.name, record["arn"])
        recorded = {
            "ImportArn": record["arn"],
            "ImportStatus": record["status"],
            "ProcessedItemCount": record.get("processed_items"),
            "ImportedItemCount": record.get("imported_items"),
            "ErrorCount": record.get("errors"),
            "CloudWatchLogGroupArn": record.get("log_group"),
        }
        return _outcome(table.name, record["expected_items"], recorded, resumed=True)
    resumed = bool(record.get("arn"))
    if not record.get("arn"):
        export = export_items(config, plan, conn, items, location, part_mb, processes, progress=bulk)
        expected = export.table_items(table.name)
        attempt = record.get("attempt", 0)
        token = client_token(location, table.name, export.manifest["tables"][table.name], attempt)
        resumed = record.get("client_token") == token
        check_only_parts(config, location, table.name, export.manifest["tables"][table.name])
        bulk.set_import(table.name, location=location, client_token=token, expected_items=expected, attempt=attempt)
        arn = start_import(target, table, S3Location.parse(location), token)
        bulk.set_import(table.name, arn=arn)
        crash_point("import_started")
        record = bulk.import_record(table.name) or {}
    started = time.monotonic()
    description = follow_import(target, record["arn"], lambda d: on_progress(table.name, d) if on_progress else None)
    outcome = _outcome(table.name, record["expected_items"], description, resumed)
    outcome.seconds = time.monotonic() - started
    bulk.set_import(
        table.name,
        status=outcome.status,
        imported_items=outcome.imported_items,
        errors=outcome.errors,
        processed_items=outcome.processed_items,
        log_group=outcome.log_group,
    )
    return outcome


def check_only_parts(config: Config, location: str, table: str, manifest_table: dict[str, Any]) -> None:
    """ImportTable reads every object under the table's prefix: refuse objects this export did not write."""
    sink = S3Sink(s3_client(config), S3Location.parse(location))
    expected = {part["key"] for part in manifest_table["parts"]}
    stray = sorted(set(sink.keys(f"{table}/")) - expected)
    if stray:
        shown = ", ".join(stray[:3]) + (f" and {len(stray) - 3} more" if len(stray) > 3 else "")
        raise UsageError(
            f"{location}/{table}/ holds {len(stray)} object(s) this export did not write ({shown}): "
            "ImportTable would load them too",
            "delete them, or use another prefix",
        )


def client_token(location: str, table: str, manifest_table: dict[str, Any], attempt: int = 0) -> str:
    """The same export of the same table to the same place asks for the same import (ClientToken, 36 chars)."""
    digest = hashlib.sha256(f"{location}#{attempt}#".encode())
    digest.update(table.encode())
    for part in manifest_table["parts"]:
        digest.update(part["sha256"].encode())
    return str(uuid.UUID(bytes=digest.digest()[:16]))


def import_request(table: TablePlan, source: S3Location, token: str) -> dict[str, Any]:
    return {
        "ClientToken": token,
        "S3BucketSource": {"S3Bucket": source.bucket, "S3KeyPrefix": source.key(f"{table.name}/")},
        "InputFormat": "DYNAMODB_JSON",
        "InputCompressionType": "GZIP",
        "TableCreationParameters": create_table_request(table),
    }


def start_import(target: Target, table: TablePlan, source: S3Location, token: str) -> str:
    response = target.call("import_table", f"ImportTable {table.name}", **import_request(table, source, token))
    arn: str = response["ImportTableDescription"]["ImportArn"]
    logger.info("{}: ImportTable started ({})", table.name, arn)
    return arn


def describe_import(target: Target, arn: str) -> dict[str, Any]:
    description: dict[str, Any] = target.call("describe_import", f"DescribeImport {arn}", ImportArn=arn)[
        "ImportTableDescription"
    ]
    return description


def follow_import(target: Target, arn: str, on_progress: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    """Poll DescribeImport until the import has finished; report every change of its counters."""
    deadline = time.monotonic() + WAIT_S
    pause, last = POLL_FIRST_S, None
    while True:
        description = describe_import(target, arn)
        seen = tuple(
            description.get(k) for k in ("ImportStatus", "ProcessedItemCount", "ProcessedSizeBytes", "ErrorCount")
        )
        if seen != last:
            on_progress(description)
            last = seen
        if description.get("ImportStatus") in FINISHED:
            return description
        if time.monotonic() > deadline:
            raise TargetError(f"import {arn} still {description.get('ImportStatus')} after {WAIT_S / 3600:.0f} h")
        time.sleep(pause)
        pause = min(POLL_MAX_S, pause * 1.5)


def _outcome(table: str, expected: int, description: dict[str, Any], resumed: bool = False) -> ImportOutcome:
    failure = description.get("FailureMessage")
    return ImportOutcome(
        table=table,
        arn=description.get("ImportArn", ""),
        status=description.get("ImportStatus", "?"),
        expected_items=expected,
        processed_items=int(description.get("ProcessedItemCount") or 0),
        processed_bytes=int(description.get("ProcessedSizeBytes") or 0),
        imported_items=int(description.get("ImportedItemCount") or 0),
        errors=int(description.get("ErrorCount") or 0),
        log_group=description.get("CloudWatchLogGroupArn"),
        failure=f"{description.get('FailureCode') or ''} {failure}".strip() if failure else None,
        resumed=resumed,
    )


def failure_line(outcome: ImportOutcome) -> str:
    """Why an import does not count as a load of the table, in one line."""
    reasons = []
    if outcome.status != "COMPLETED":
        reasons.append(f"status {outcome.status}")
    if outcome.errors:
        reasons.append(f"ErrorCount {outcome.errors}")
    if outcome.imported_items < outcome.expected_items:
        reasons.append(f"ImportedItemCount {outcome.imported_items} below the {outcome.expected_items} items exported")
    text = f"import of {outcome.table} failed: {', '.join(reasons)} ({outcome.arn})"
    if outcome.failure:
        text += f"; {outcome.failure}"
    if outcome.log_group:
        text += f"; log group {outcome.log_group}"
    return text
