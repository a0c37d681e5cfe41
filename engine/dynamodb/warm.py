"""Warm throughput: raise the read and write units a table serves at once, before a load; never lower them.

A new on-demand table serves 4,000 write and 12,000 read units a second at
once and scales past that over time; a load that needs more from the first
minute throttles until it has. ``UpdateTable`` with ``WarmThroughput``
(and, for each GSI, ``GlobalSecondaryIndexUpdates`` with its own) pre-warms the table (AWS charges for the raise, once; values cannot be
lowered afterwards, and DynamoDB refuses a lower value). This module reads
the table's ``WarmThroughput`` from DescribeTable, sends only the values
above it, waits until the table and its warm throughput are ACTIVE, and says
what changed. An endpoint that does not take or report warm throughput
(DynamoDB Local 3.3.0 answers "Nothing to update") gets one line, and the
load goes on.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import botocore.exceptions
from loguru import logger

from sqlite2ddb.dynamodb.retry import error_code, with_retries
from sqlite2ddb.dynamodb.target import Target, describe_table
from sqlite2ddb.errors import TargetError

WRITE, READ = "WriteUnitsPerSecond", "ReadUnitsPerSecond"
#: DynamoDB's warm throughput of a new on-demand table (developer guide, "Understanding DynamoDB warm throughput").
ON_DEMAND_DEFAULT = {WRITE: 4000, READ: 12000}
WARM_WAIT_S = 1800.0


@dataclass
class WarmChange:
    """One table's warm throughput: as it was, as asked, as sent, and what the endpoint made of it."""

    table: str
    before: dict[str, int]  # as DescribeTable reported it ({} when the endpoint does not report it)
    sent: dict[str, int] = field(default_factory=dict)  # what UpdateTable carried ({} when nothing to raise)
    kept: dict[str, int] = field(default_factory=dict)  # asked values not sent: the table is already at or above
    refused: str = ""  # why the endpoint did not take it (an emulator), or ""

    def raised(self) -> dict[str, int]:
        """Units per second added, per kind (the count AWS charges on)."""
        return {k: v - self.before.get(k, 0) for k, v in self.sent.items() if self.before}

    def text(self) -> str:
        if self.refused:
            return f"warm throughput of {self.table}: not changed: {self.refused}"
        parts = []
        for key, unit in ((WRITE, "write"), (READ, "read")):
            if key in self.sent:
                was = self.before.get(key)
                parts.append(f"{unit} {was if was is not None else '?'} -> {self.sent[key]} units/s")
            elif key in self.kept:
                parts.append(
                    f"{unit} already {self.before[key]} units/s (asked {self.kept[key]}; warm throughput is never lowered)"
                )
        return f"warm throughput of {self.table}: " + "; ".join(parts)


def warm_request(current: dict[str, Any], write: int | None, read: int | None) -> tuple[dict[str, int], dict[str, int]]:
    """(what to send, what to leave): a value at or below the table's current one is never sent."""
    asked = {k: v for k, v in ((WRITE, write), (READ, read)) if v}
    send = {k: v for k, v in asked.items() if not isinstance(current.get(k), int) or v > current[k]}
    return send, {k: v for k, v in asked.items() if k not in send}


def raise_warm_throughput(target: Target, names: list[str], write: int | None, read: int | None) -> list[WarmChange]:
    """Raise each table's warm throughput to at least ``write`` / ``read`` units a second; wait until ACTIVE."""
    changes = []
    for name in names:
        described = describe_table(target, name) or {}
        changes.append(_raise(target, name, None, described.get("WarmThroughput"), write, read))
        for index in described.get("GlobalSecondaryIndexes") or ():  # each GSI has warm throughput of its own
            changes.append(_raise(target, name, index["IndexName"], index.get("WarmThroughput"), write, read))
    return changes


def _raise(
    target: Target, table: str, index: str | None, warm: dict[str, Any] | None, write: int | None, read: int | None
) -> WarmChange:
    """Raise the table's (or one GSI's) warm throughput where asked above what it has; wait until ACTIVE."""
    current = {k: v for k, v in (warm or {}).items() if k in (WRITE, READ)}
    send, kept = warm_request(current, write, read)
    change = WarmChange(table if index is None else f"{table} (index {index})", current, kept=kept)
    if send:
        if index is None:
            change.refused = _update(target, table, {"WarmThroughput": send})
        else:
            update = {"Update": {"IndexName": index, "WarmThroughput": send}}
            change.refused = _update(target, table, {"GlobalSecondaryIndexUpdates": [update]})
    if send and not change.refused:
        change.sent = send
        _wait_warm(target, table)
    logger.info("{}", change.text())
    return change


def _update(target: Target, name: str, request: dict[str, Any]) -> str:
    """UpdateTable raising warm throughput; why not, where an endpoint other than AWS does not take it ("" when done).

    Elsewhere than AWS one attempt is made: DynamoDB Local 3.3.0 answers a
    table's "Nothing to update" and fails a GSI's with InternalFailure, which
    retries would only repeat.
    """
    action = f"raising the warm throughput of {name}"
    call = lambda: target.client.update_table(TableName=name, **request)  # noqa: E731
    try:
        if target.kind == "aws":
            with_retries(call, target.retry, action, target.throttles)
        else:
            call()
    except botocore.exceptions.ClientError as exc:
        message = exc.response.get("Error", {}).get("Message", "")
        if target.kind != "aws":
            return f"{target.endpoint} does not take warm throughput ({error_code(exc)}: {message})"
        raise TargetError(f"{action}: {error_code(exc)}: {message}", "it can only be raised, never lowered") from None
    return ""


def _wait_warm(target: Target, name: str) -> None:
    """Poll until the table and its warm throughput are ACTIVE (pre-warming a large table takes minutes)."""
    deadline, pause = time.monotonic() + WARM_WAIT_S, 0.05
    while True:
        described = describe_table(target, name) or {}
        warm = described.get("WarmThroughput") or {}
        indexes = described.get("GlobalSecondaryIndexes") or []
        settled = all(
            i.get("IndexStatus", "ACTIVE") == "ACTIVE"
            and (i.get("WarmThroughput") or {}).get("Status", "ACTIVE") == "ACTIVE"
            for i in indexes
        )
        if described.get("TableStatus") == "ACTIVE" and warm.get("Status", "ACTIVE") == "ACTIVE" and settled:
            return
        if time.monotonic() > deadline:
            raise TargetError(
                f"the warm throughput of {name} is still {warm.get('Status')} after {WARM_WAIT_S:.0f} s",
                "check the table in the DynamoDB console, then run 'resume'",
            )
        time.sleep(pause)
        pause = min(5.0, pause * 2)
