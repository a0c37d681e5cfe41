"""Global secondary indexes added to or removed from a table's mapping, applied in place.

DynamoDB changes one index per UpdateTable call and builds a new index from
the items already in the table (backfill), so an index added to the mapping
needs no rewrite of the items. An index whose key schema or projection
changed is deleted and created again. A changed table key schema cannot be
applied in place: that is refused with the ways out.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from loguru import logger

from sqlite2ddb.dynamodb.target import TABLE_WAIT_S, Target, create_table_request, describe_table
from sqlite2ddb.errors import TargetError
from sqlite2ddb.plan.compile import TablePlan


@dataclass(frozen=True)
class IndexChange:
    table: str
    action: str  # create or delete
    index: str
    reason: str

    def line(self) -> str:
        return f"{self.table}: {self.action} index {self.index} ({self.reason})"


def index_changes(table: TablePlan, described: dict[str, Any]) -> list[IndexChange]:
    """What UpdateTable calls make the live table's GSIs those of the mapping."""
    wanted = create_table_request(table)
    if described.get("KeySchema") != wanted["KeySchema"]:
        raise TargetError(
            f"{table.name}: the mapping declares the key schema {wanted['KeySchema']} but the table has "
            f"{described.get('KeySchema')}; DynamoDB cannot change a table's key in place",
            "give the table a new name in the mapping, or drop it and migrate again (reset --drop-tables)",
        )
    have = {g["IndexName"]: g for g in described.get("GlobalSecondaryIndexes", [])}
    changes: list[IndexChange] = []
    for gsi in wanted.get("GlobalSecondaryIndexes", []):
        actual = have.pop(gsi["IndexName"], None)
        if actual is None:
            changes.append(IndexChange(table.name, "create", gsi["IndexName"], "added to the mapping"))
        elif _differs(actual, gsi):
            changes.append(IndexChange(table.name, "delete", gsi["IndexName"], "key or projection changed"))
            changes.append(IndexChange(table.name, "create", gsi["IndexName"], "key or projection changed"))
    for name in have:
        changes.append(IndexChange(table.name, "delete", name, "not in the mapping any more"))
    return changes


def _differs(actual: dict[str, Any], wanted: dict[str, Any]) -> bool:
    projection = actual.get("Projection", {})
    return (
        actual.get("KeySchema") != wanted["KeySchema"]
        or projection.get("ProjectionType") != wanted["Projection"]["ProjectionType"]
        or sorted(projection.get("NonKeyAttributes", [])) != sorted(wanted["Projection"].get("NonKeyAttributes", []))
    )


def apply_index_changes(target: Target, table: TablePlan, changes: list[IndexChange]) -> None:
    """One UpdateTable per change, each waited for until the table and its indexes are ACTIVE."""
    wanted = create_table_request(table)
    definitions = wanted["AttributeDefinitions"]
    gsis = {g["IndexName"]: g for g in wanted.get("GlobalSecondaryIndexes", [])}
    for change in changes:
        logger.info("{}", change.line())
        update: dict[str, Any] = {"TableName": table.name}
        if change.action == "create":
            update["AttributeDefinitions"] = definitions
            update["GlobalSecondaryIndexUpdates"] = [{"Create": gsis[change.index]}]
        else:
            update["GlobalSecondaryIndexUpdates"] = [{"Delete": {"IndexName": change.index}}]
        target.call("update_table", f"updating table {table.name} ({change.action} index {change.index})", **update)
        _wait_for_indexes(target, table.name, change)


def _wait_for_indexes(target: Target, name: str, change: IndexChange) -> None:
    deadline = time.monotonic() + TABLE_WAIT_S
    pause = 0.1
    while True:
        described = describe_table(target, name) or {}
        indexes = {g["IndexName"]: g.get("IndexStatus") for g in described.get("GlobalSecondaryIndexes", [])}
        done = described.get("TableStatus") == "ACTIVE" and (
            indexes.get(change.index) == "ACTIVE" if change.action == "create" else change.index not in indexes
        )
        if done:
            return
        if time.monotonic() > deadline:
            raise TargetError(
                f"{change.line()}: still not done after {TABLE_WAIT_S:.0f} s",
                "check the table in the DynamoDB console, then run sync again",
            )
        time.sleep(pause)
        pause = min(5.0, pause * 2)
