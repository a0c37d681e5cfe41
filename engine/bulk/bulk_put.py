"""Bulk put into tables that exist: parts on S3, StartBulkPutItems, DescribeBulkOperation, the failure report.

ImportTable only creates tables; StartBulkPutItems writes the items of S3
objects into an existing table. The parts are the export's (DynamoDB JSON,
gzip), under ``<location>/bulk-put/<table>/``, each one's lines shuffled so
that an object sorted by partition key does not make a rolling hot
partition. A line may carry its own condition (``ConditionExpression``,
``ExpressionAttributeNames``, ``ExpressionAttributeValues`` beside ``Item``).
AWS's limits are checked before the call: at most 50,000 objects, each at
most 5 GB; ``MaxWriteRequestUnits`` at least 1,024.

The state (``bulk_state.json``, key ``bulk_puts``) records the ClientToken
and the time before the call and the operation's ARN as soon as it returns,
so ``resume`` after a kill follows the operation already started: by its
ARN, else by finding its ClientToken through ListBulkOperations (a token is
idempotent for 8 hours only), else by starting it with the same token.
Items the operation could not put come back from the output report on S3
(``<location>/bulk-put-reports/<table>/<operation id>/``) as rejects with
their keys and reasons; a reject fails the run.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from loguru import logger

from sqlite2ddb.bulk.progress import BulkProgress
from sqlite2ddb.bulk.s3 import S3Location, s3_client
from sqlite2ddb.config import Config
from sqlite2ddb.dynamodb.target import Target
from sqlite2ddb.errors import TargetError, UsageError
from sqlite2ddb.faults import crash_point
from sqlite2ddb.plan.compile import TablePlan

MAX_OBJECTS = 50_000
MAX_OBJECT_BYTES = 5 * 1024**3
MIN_WRITE_UNITS = 1024
TOKEN_HOURS = 8
FINISHED = ("COMPLETED", "COMPLETED_WITH_ERRORS", "CANCELLED", "FAILED")
POLL_FIRST_S, POLL_MAX_S, WAIT_S = 0.5, 15.0, 24 * 3600.0
PARTS, REPORTS = "bulk-put", "bulk-put-reports"

Progress = Callable[[str, dict[str, Any]], None]


@dataclass
class BulkPutOutcome:
    table: str
    arn: str
    status: str
    expected_items: int
    processed_items: int = 0
    failed_items: int = 0
    rejects: list[dict[str, Any]] = field(default_factory=list)  # from the report: key, reason, output type
    failure: str | None = None
    seconds: float = 0.0
    resumed: bool = False

    @property
    def condition_failures(self) -> list[dict[str, Any]]:
        return [r for r in self.rejects if r["output_type"] == "CONDITION_CHECK_FAILURE"]

    @property
    def ok(self) -> bool:
        return (
            self.status == "COMPLETED"
            and not self.failed_items
            and not self.rejects
            and self.processed_items >= self.expected_items
        )


def bulk_put_supported(target: Target) -> bool:
    """Whether the endpoint offers the bulk operations (AWS does; moto and DynamoDB Local do not)."""
    try:
        target.client.list_bulk_operations(MaxResults=1)
    except Exception as exc:  # noqa: BLE001 - any refusal means the endpoint lacks the operation
        logger.debug("ListBulkOperations refused ({}): no bulk put on {}", exc, target.endpoint)
        return False
    return True


def parts_location(location: str) -> str:
    return f"{location.rstrip('/')}/{PARTS}"


def check_limits(table: str, manifest_table: dict[str, Any]) -> None:
    """AWS's limits on one operation's input: 50,000 objects, 5 GB each."""
    parts = manifest_table["parts"]
    if len(parts) > MAX_OBJECTS:
        wanted = manifest_table["uncompressed_bytes"] / MAX_OBJECTS / 1024 / 1024
        raise UsageError(
            f"{table}: {len(parts)} parts, more than the {MAX_OBJECTS} objects a bulk put reads",
            f"run again with --part-mb {max(1, int(wanted) + 1)} or more",
        )
    big = [p["key"] for p in parts if p["compressed_bytes"] > MAX_OBJECT_BYTES]
    if big:
        raise UsageError(f"{table}: part {big[0]} is larger than the 5 GB a bulk put reads", "use a smaller --part-mb")


def client_token(location: str, table: str, manifest_table: dict[str, Any], attempt: int) -> str:
    digest = hashlib.sha256(f"bulk-put#{location}#{attempt}#{table}".encode())
    for part in manifest_table["parts"]:
        digest.update(part["sha256"].encode())
    return str(uuid.UUID(bytes=digest.digest()[:16]))


def start_request(table: str, location: str, token: str, write_units: int | None) -> dict[str, Any]:
    source = S3Location.parse(location)
    request: dict[str, Any] = {
        "ClientToken": token,
        "TableName": table,
        "InputS3Configuration": {
            "S3Bucket": source.bucket,
            "S3KeyPrefix": source.key(f"{PARTS}/{table}/"),
            "InputFormat": "DYNAMODB_JSON",
            "InputCompressionType": "GZIP",
        },
        "OutputS3Configuration": {
            "S3Bucket": source.bucket,
            "S3KeyPrefix": source.key(f"{REPORTS}/{table}"),
            "OutputType": ["ERROR", "CONDITION_CHECK_FAILURE"],
        },
    }
    if write_units is not None:
        if write_units < MIN_WRITE_UNITS:
            raise UsageError(f"--max-write-units {write_units}: a bulk put needs at least {MIN_WRITE_UNITS}")
        request["MaxWriteRequestUnits"] = write_units
    return request


def start_or_find(target: Target, bulk: BulkProgress, request: dict[str, Any]) -> str:
    """The operation's ARN: one already started with this ClientToken, else a new one; recorded at once."""
    table, token = request["TableName"], request["ClientToken"]
    record = bulk.bulk_put_record(table) or {}
    arn = None
    if record.get("client_token") == token:  # a run killed before it recorded the ARN
        arn = find_by_token(target, table, token, record.get("started_at", 0.0))
    if arn is None:
        bulk.set_bulk_put(table, client_token=token, started_at=time.time())
        response = target.call("start_bulk_put_items", f"StartBulkPutItems {table}", **request)
        arn = response["BulkOperationDescription"]["BulkOperationArn"]
        logger.info("{}: StartBulkPutItems started ({})", table, arn)
        crash_point("bulk_put_called")  # started, its ARN not yet recorded: resume finds it by ClientToken
    bulk.set_bulk_put(table, arn=arn)
    crash_point("bulk_put_started")
    return arn


def find_by_token(target: Target, table: str, token: str, since: float) -> str | None:
    """ListBulkOperations (newest first) down to ``since``: the operation on ``table`` with ``token``."""
    kwargs: dict[str, Any] = {"MaxResults": 25}
    while True:
        page = target.call("list_bulk_operations", "ListBulkOperations", **kwargs)
        for summary in page.get("BulkOperationsSummaryList", []):
            if summary["StartTime"].timestamp() < since - 60:
                return None
            d = describe(target, summary["BulkOperationArn"])
            names = [t.get("TableName") for t in d.get("TableDetails", [])]
            if d.get("ClientToken") == token and table in names:
                logger.info("{}: found the bulk put started before ({})", table, d["BulkOperationArn"])
                return str(d["BulkOperationArn"])
        if not page.get("NextToken"):
            return None
        kwargs["NextToken"] = page["NextToken"]


def describe(target: Target, arn: str) -> dict[str, Any]:
    answer = target.call("describe_bulk_operation", f"DescribeBulkOperation {arn}", BulkOperationArn=arn)
    description: dict[str, Any] = answer["BulkOperationDescription"]
    return description


def follow(target: Target, arn: str, on_progress: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    """Poll DescribeBulkOperation until the operation has finished; report every change."""
    deadline = time.monotonic() + WAIT_S
    pause, last = POLL_FIRST_S, None
    while True:
        d = describe(target, arn)
        seen = tuple(d.get(k) for k in ("BulkOperationStatus", "ProcessedItemCount", "ProcessedInputBytes"))
        if seen != last:
            on_progress(d)
            last = seen
        if d.get("BulkOperationStatus") in FINISHED:
            return d
        if time.monotonic() > deadline:
            raise TargetError(f"bulk put {arn} still {d.get('BulkOperationStatus')} after {WAIT_S / 3600:.0f} h")
        time.sleep(pause)
        pause = min(POLL_MAX_S, pause * 1.5)


def report_records(config: Config, description: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The lines of the operation's output report on S3 (none when every item was put)."""
    out = description.get("OutputS3Configuration") or {}
    bucket = out.get("S3Bucket")
    if not bucket:
        return
    operation = description["BulkOperationArn"].rsplit("/", 1)[-1]
    prefix = out.get("S3KeyPrefix", "").strip("/")
    base = f"{prefix}/{operation}" if prefix else operation
    client = s3_client(config)
    try:
        manifest = json.loads(client.get_object(Bucket=bucket, Key=f"{base}/manifest.json")["Body"].read())
    except client.exceptions.NoSuchKey:
        return
    for entry in manifest.get("Files", []):
        body = client.get_object(Bucket=bucket, Key=entry["S3Key"])["Body"].read()
        if entry["S3Key"].endswith(".gz"):
            body = gzip.decompress(body)
        for line in body.splitlines():
            if line.strip():
                yield json.loads(line)


def reject_of(table: TablePlan, record: dict[str, Any], arn: str) -> dict[str, Any]:
    """A report line as a reject: the item's key (when the item has one), the reason, where it came from."""
    spec = table.spec
    names = [spec.partition_key.name] + ([spec.sort_key.name] if spec.sort_key else [])
    item = record.get("Item") or {}
    source = record.get("SourceObject") or {}
    return {
        "table": table.name,
        "output_type": record.get("OutputType", "ERROR"),
        "key": {n: item[n] for n in names if n in item} or None,
        "reason": f"{record.get('ErrorCode', '')}: {record.get('ErrorMessage', '')}".strip(": "),
        "source": f"s3://{source.get('S3Bucket')}/{source.get('S3Key')} line {record.get('LineNumber')}",
        "existing_item": record.get("ExistingItem"),
        "bulk_operation": arn,
    }


def write_rejects(config: Config, rejects: list[dict[str, Any]]) -> None:
    if not rejects:
        return
    path = config.state_dir / "rejects.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as handle:
        for reject in rejects:
            handle.write(json.dumps({**reject, "at": time.time()}, default=str) + "\n")


def remove_objects(config: Config, location: str, relative: str) -> int:
    """Delete every object under ``<location>/<relative>``; the number deleted."""
    source = S3Location.parse(location)
    client = s3_client(config)
    removed = 0
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=source.bucket, Prefix=source.key(relative)):
        keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
        if keys:
            client.delete_objects(Bucket=source.bucket, Delete={"Objects": keys, "Quiet": True})
            removed += len(keys)
    return removed


def outcome_of(table: str, expected: int, d: dict[str, Any], rejects: list[dict[str, Any]]) -> BulkPutOutcome:
    failure = d.get("FailureMessage")
    return BulkPutOutcome(
        table=table,
        arn=d.get("BulkOperationArn", ""),
        status=d.get("BulkOperationStatus", "?"),
        expected_items=expected,
        processed_items=int(d.get("ProcessedItemCount") or 0),
        failed_items=int(d.get("FailedItemCount") or 0),
        rejects=rejects,
        failure=f"{d.get('FailureCode') or ''} {failure}".strip() if failure else None,
    )


def failure_line(outcome: BulkPutOutcome, rejects_path: str) -> str:
    """Why a bulk put does not count as a load of the table, in one line."""
    reasons = []
    if outcome.status != "COMPLETED":
        reasons.append(f"status {outcome.status}")
    if outcome.rejects:
        first = outcome.rejects[0]
        reasons.append(
            f"{len(outcome.rejects)} item(s) not put (first: key {json.dumps(first['key'])}, {first['reason']}); "
            f"see {rejects_path}"
        )
    elif outcome.failed_items:
        reasons.append(f"FailedItemCount {outcome.failed_items}")
    if outcome.processed_items < outcome.expected_items and outcome.status == "COMPLETED":
        reasons.append(f"ProcessedItemCount {outcome.processed_items} below the {outcome.expected_items} exported")
    text = f"bulk put into {outcome.table} failed: {', '.join(reasons)} ({outcome.arn})"
    return text + (f"; {outcome.failure}" if outcome.failure else "")
