"""sync --via-s3: a table's puts as S3 parts loaded by one StartBulkPutItems (the deletes stay BatchWriteItem).

With ``--guard`` only new keys come here, each line under the condition
``attribute_not_exists(<partition key>)``; an item the application wrote
under that key in the meantime fails the condition and comes back from the
report as a conflict with its key, left as it is. The fingerprint store
records the items the operation put, once it has finished; an item it
refused (ERROR) fails the run with its key in the rejects file.
"""

from __future__ import annotations

import gzip
import json
import random
import uuid
from pathlib import Path
from typing import Any

from loguru import logger

from sqlite2ddb.bulk import bulk_put
from sqlite2ddb.bulk.dynamodb_json import item_line
from sqlite2ddb.bulk.s3 import S3Location, S3Sink, s3_client
from sqlite2ddb.config import Config
from sqlite2ddb.dynamodb.target import Target
from sqlite2ddb.errors import WriteFailed
from sqlite2ddb.plan.compile import TablePlan
from sqlite2ddb.state.fingerprints import Fingerprint, FingerprintStore
from sqlite2ddb.sync.diff import Put
from sqlite2ddb.sync.guard import Conflict

PART_BYTES = 64 * 1024 * 1024


class BulkPutSink:
    """Puts gathered into shuffled gzip parts, uploaded and loaded by bulk put when the table's diff is done."""

    def __init__(
        self,
        config: Config,
        target: Target,
        table: TablePlan,
        store: FingerprintStore,
        location: str,
        guard: bool,
        options: dict[str, Any],
    ) -> None:
        self.config, self.target, self.table, self.store = config, target, table, store
        self.guard, self.options = guard, options
        self.run = uuid.uuid4().hex[:12]
        self.location = f"{location.rstrip('/')}/sync-{self.run}"
        self.staging = config.state_dir / "sync-parts" / self.run
        spec = table.spec
        self.keys = [spec.partition_key.name] + ([spec.sort_key.name] if spec.sort_key else [])
        self.pending: dict[str, Fingerprint] = {}  # the key as the report shows it -> the fingerprint to record
        self.lines: list[bytes] = []
        self.size = 0
        self.parts: list[Path] = []

    def submit(self, change: Put) -> None:
        line = item_line(change.item)
        record = json.loads(line)
        if self.guard:
            record["ConditionExpression"] = "attribute_not_exists(#pk)"
            record["ExpressionAttributeNames"] = {"#pk": self.keys[0]}
            line = (json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")
        self.pending[self._key(record["Item"])] = change.fingerprint
        self.lines.append(line)
        self.size += len(line)
        if self.size >= self.options.get("part_bytes", PART_BYTES):
            self._flush()

    def _key(self, item: dict[str, Any]) -> str:
        return json.dumps({k: item.get(k) for k in self.keys}, sort_keys=True)

    def _flush(self) -> None:
        if not self.lines:
            return
        random.Random(len(self.parts)).shuffle(self.lines)  # no rolling hot partition
        path = self.staging / self.table.name / f"part-{len(self.parts):05d}.json.gz"
        path.parent.mkdir(parents=True, exist_ok=True)
        with gzip.open(path, "wb") as out:
            out.write(b"".join(self.lines))
        self.parts.append(path)
        self.lines, self.size = [], 0

    def close(self) -> tuple[int, list[Conflict]]:
        self._flush()
        if not self.parts:
            return 0, []
        sink = S3Sink(s3_client(self.config), S3Location.parse(self.location))
        for path in self.parts:
            sink.put(path, f"{bulk_put.PARTS}/{self.table.name}/{path.name}")
        request = bulk_put.start_request(
            self.table.name, self.location, str(uuid.uuid4()), self.options.get("write_units")
        )
        answer = self.target.call("start_bulk_put_items", f"StartBulkPutItems {self.table.name}", **request)
        arn = answer["BulkOperationDescription"]["BulkOperationArn"]
        logger.info("{}: StartBulkPutItems started for {} puts ({})", self.table.name, len(self.pending), arn)
        description = bulk_put.follow(
            self.target, arn, lambda d: logger.info("bulk put {}: {}", self.table.name, d.get("BulkOperationStatus"))
        )
        return self._settle(arn, description)

    def _settle(self, arn: str, description: dict[str, Any]) -> tuple[int, list[Conflict]]:
        """The report's items as conflicts (condition) or rejects (error); the rest recorded as written."""
        conflicts, rejects = [], []
        for record in bulk_put.report_records(self.config, description):
            fingerprint = self.pending.pop(self._key(record.get("Item") or {}), None)
            if record.get("OutputType") == "CONDITION_CHECK_FAILURE" and fingerprint is not None:
                conflicts.append(Conflict(self.table.name, fingerprint.key, "put"))
            else:
                rejects.append(bulk_put.reject_of(self.table, record, arn))
        status = description.get("BulkOperationStatus")
        if status not in ("COMPLETED", "COMPLETED_WITH_ERRORS") or rejects:
            bulk_put.write_rejects(self.config, rejects)
            outcome = bulk_put.outcome_of(self.table.name, len(self.pending), description, rejects)
            raise WriteFailed(
                bulk_put.failure_line(outcome, str(self.config.state_dir / "rejects.jsonl")),
                "fix the items named there and sync again",
            )
        self.store.record(self.table.name, list(self.pending.values()))
        for conflict in conflicts:
            logger.warning("{}", conflict.line())
        if not self.options.get("keep_parts"):
            bulk_put.remove_objects(self.config, self.location, "")
        for path in self.parts:
            path.unlink(missing_ok=True)
        return len(self.pending), conflicts


def sinks(config: Config, target: Target, location: str, options: dict[str, Any]) -> Any:
    """The factory ``sync`` takes: a BulkPutSink per table."""

    def make(table: TablePlan, store: FingerprintStore, guard: bool) -> BulkPutSink:
        return BulkPutSink(config, target, table, store, location, guard, options)

    return make
