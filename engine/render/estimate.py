"""Capacity and cost: what a migration will write, in items, bytes and write units.

Every item is rendered through the plan (all of them for ``migrate --dry-run``,
the first rows of each item type for ``plan``, scaled up by the expected row
count). Each put costs 1 write unit per started KB on the table, and the same
again on every GSI the item appears in (both index keys present), sized by
what the index projects.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from typing import Any

from sqlite2ddb.plan.compile import ItemTypePlan, Plan
from sqlite2ddb.plan.partitions import PartitionLoad
from sqlite2ddb.render.stream import ItemTooLarge, Rows, primary_key, render
from sqlite2ddb.spec.model import IndexSpec
from sqlite2ddb.wire import Wire, item_size, write_units


@dataclass
class Estimate:
    """Figures for one item type or one table."""

    name: str
    items: int = 0
    bytes: int = 0
    largest: int = 0
    largest_at: Any = None
    table_wcu: int = 0
    gsi_wcu: dict[str, int] = field(default_factory=dict)
    rows_read: int = 0
    rows_skipped: int = 0
    problems: list[str] = field(default_factory=list)
    problem_count: int = 0
    sampled: bool = False
    partitions: PartitionLoad = field(default_factory=PartitionLoad)
    offloaded: int = 0  # values kept in S3 (an offload rule), each a pointer in its item
    offloaded_bytes: int = 0

    @property
    def average(self) -> float:
        return self.bytes / self.items if self.items else 0.0

    @property
    def total_wcu(self) -> int:
        return self.table_wcu + sum(self.gsi_wcu.values())

    def cost(self, price_per_million: float) -> float:
        return self.total_wcu * price_per_million / 1_000_000

    def add(self, other: Estimate) -> None:
        self.items += other.items
        self.bytes += other.bytes
        if other.largest > self.largest:
            self.largest, self.largest_at = other.largest, other.largest_at
        self.table_wcu += other.table_wcu
        for name, units in other.gsi_wcu.items():
            self.gsi_wcu[name] = self.gsi_wcu.get(name, 0) + units
        self.rows_read += other.rows_read
        self.rows_skipped += other.rows_skipped
        self.problems += other.problems[: max(0, 20 - len(self.problems))]
        self.problem_count += other.problem_count
        self.sampled = self.sampled or other.sampled
        self.offloaded += other.offloaded
        self.offloaded_bytes += other.offloaded_bytes
        self.partitions.merge(other.partitions)

    def to_json(self, price_per_million: float, max_wcu: float | None = None) -> dict[str, Any]:
        out = {
            "name": self.name,
            "items": self.items,
            "bytes": self.bytes,
            "average_item_bytes": round(self.average, 1),
            "largest_item_bytes": self.largest,
            "largest_item": self.largest_at,
            "table_wcu": self.table_wcu,
            "gsi_wcu": self.gsi_wcu,
            "total_wcu": self.total_wcu,
            "on_demand_cost_usd": round(self.cost(price_per_million), 6),
            "extrapolated_from_sample": self.sampled,
            "problems": self.problem_count,
            "first_problems": self.problems,
            "offloaded_values": self.offloaded,
            "offloaded_bytes": self.offloaded_bytes,
        }
        if max_wcu:
            out["seconds_at_max_wcu"] = round(self.table_wcu / max_wcu, 1)
        out["hot_keys"] = self.partitions.hottest()
        out["aws_lower_bound"] = self.partitions.lower_bound()
        if max_wcu:
            out["aws_lower_bound_at_max_wcu"] = self.partitions.lower_bound(max_wcu)
        return out


def index_entry_size(
    item: dict[str, Wire], index: IndexSpec, table_keys: tuple[str, ...], full_size: int
) -> int | None:
    """Size of the item's entry in a GSI, or None when the item is not in the index."""
    if any(key.name not in item for key in index.key_attributes):
        return None
    if index.projection == "ALL":
        return full_size
    names = set(table_keys) | {k.name for k in index.key_attributes} | set(index.non_key_attributes)
    return item_size({k: v for k, v in item.items() if k in names})


def estimate_item_type(
    item: ItemTypePlan, conn: sqlite3.Connection, limit: int | None, batch_size: int = 25
) -> Estimate:
    """Render the item type's rows (the first ``limit``, or all) and add up sizes and units."""
    result = Estimate(item.name)
    table = item.table.spec
    batch_keys: dict[Any, dict[str, Any]] = {}  # keys of the current batch, as migrate cuts them
    for row in render(conn, item, Rows(first=limit)):
        result.rows_read += 1
        if row.item is None:
            if row.error is None:
                result.rows_skipped += 1
            elif isinstance(row.error, ItemTooLarge):
                named = _key(row.error.item, table.primary_key_names)
                _problem(result, f"item type {item.name}, key {named}: {row.error.reason}")
            else:
                _problem(result, str(row.error))
            continue
        key = primary_key(item, row.item)
        cursor = dict(zip(item.spec.cursor, row.cursor))
        if key in batch_keys:
            _problem(
                result,
                f"item type {item.name}, row {cursor}: renders the same primary key {key} "
                f"as row {batch_keys[key]} in the same batch",
            )
            continue
        batch_keys[key] = cursor
        if len(batch_keys) >= batch_size:
            batch_keys = {}
        _count(result, row.item, row.size, table.indexes + table.local_indexes, table.primary_key_names)
        result.offloaded += len(row.uploads)
        result.offloaded_bytes += sum(len(u.data) for u in row.uploads)
    if limit is not None and result.rows_read >= limit and item.expected_rows > result.rows_read:
        _scale(result, item.expected_rows / result.rows_read)
    return result


def _key(built: dict[str, Wire], keys: tuple[str, ...]) -> dict[str, Any]:
    return {k: next(iter(built[k].values())) for k in keys if k in built}


def _count(
    result: Estimate, built: dict[str, Wire], size: int, indexes: tuple[IndexSpec, ...], keys: tuple[str, ...]
) -> None:
    result.items += 1
    result.bytes += size
    if size > result.largest:
        result.largest = size
        result.largest_at = _key(built, keys)
    units = write_units(size)
    result.table_wcu += units
    load = result.partitions.units
    for value in built[keys[0]].values():
        load[("table", value)] = load.get(("table", value), 0) + units
    for index in indexes:
        entry = index_entry_size(built, index, keys, size)
        if entry is not None:
            units = write_units(entry)
            result.gsi_wcu[index.name] = result.gsi_wcu.get(index.name, 0) + units
            if index.multi_attribute:  # the partition is the combination of its attributes' values
                values = ["|".join(str(v) for k in index.partition_keys for v in built[k.name].values())]
            else:
                values = list(built[index.partition_key.name].values())
            for value in values:
                slot = (index.name, value)
                load[slot] = load.get(slot, 0) + units


def _problem(result: Estimate, text: str) -> None:
    result.problem_count += 1
    if len(result.problems) < 20:
        result.problems.append(text)


def _scale(result: Estimate, factor: float) -> None:
    result.sampled = True
    result.items = round(result.items * factor)
    result.bytes = round(result.bytes * factor)
    result.table_wcu = round(result.table_wcu * factor)
    result.gsi_wcu = {k: round(v * factor) for k, v in result.gsi_wcu.items()}
    # partition keys are not scaled: the first rows in cursor order are no sample of the keys


def estimate_plan(
    plan: Plan, conn: sqlite3.Connection, limit: int | None, batch_size: int = 25
) -> tuple[list[Estimate], list[Estimate]]:
    """Estimates per item type and per table (tables in plan order)."""
    per_item = [estimate_item_type(item, conn, limit, batch_size) for item in plan.item_types]
    per_table = {t.name: Estimate(t.name) for t in plan.tables}
    for item, figures in zip(plan.item_types, per_item):
        per_table[item.table.name].add(figures)
    return per_item, list(per_table.values())
