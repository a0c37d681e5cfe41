"""plan: the ways to load each table, side by side: BatchWriteItem, S3 + ImportTable, S3 + bulk put.

BatchWriteItem pays write request units on the table and on every GSI the
item lands in (``engine/render/estimate.py``); ImportTable pays per GB of
uncompressed source data in S3 and spends no write capacity, but only
creates new tables; StartBulkPutItems (bulk put) reads the same DynamoDB
JSON from S3 into an existing table. The size of the DynamoDB JSON is
measured on the same rendered rows as the write units and scaled up the
same way. ``batch_write_estimate``, ``import_estimate``,
``bulk_put_estimate`` and ``warm_needed`` are pure functions of counts and
sizes, for any caller that knows them (the bulk put path, a benchmark).
"""

from __future__ import annotations

import math
import sqlite3
from dataclasses import dataclass, field
from typing import Any

from sqlite2ddb.bulk.dynamodb_json import item_line
from sqlite2ddb.plan.compile import ItemTypePlan, Plan
from sqlite2ddb.plan.opened import opened_plan
from sqlite2ddb.prices import BULK_PUT_PRICE_PER_GB
from sqlite2ddb.render.estimate import Estimate
from sqlite2ddb.render.stream import Renderer

GB = 1024**3
#: A new on-demand table takes writes at up to this many write request units per second before it scales.
ON_DEMAND_START_WRU_PER_S = 4000.0
#: Assumed, not published by AWS: the fixed start-up of an import, and its pace once running.
IMPORT_OVERHEAD_S = 300.0
IMPORT_S_PER_GB = 120.0
#: Assumed, not published by AWS: a bulk put's start-up, and its pace (the STANDARD tier at a new on-demand
#: table's warm write throughput; MaxWriteRequestUnits, at least 1,024, caps it lower).
BULK_PUT_OVERHEAD_S = 120.0
BULK_PUT_MIN_WRU_PER_S = 1024
#: How long a BatchWriteItem load should take, for the warm throughput it needs (plan --target-minutes).
TARGET_MINUTES = 60.0


@dataclass(frozen=True)
class PathEstimate:
    """One way to load one table: dollars and seconds, or why it does not apply."""

    usd: float
    seconds: float
    why_not: str = ""  # "" when the path applies

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"usd": round(self.usd, 6), "seconds": round(self.seconds, 1)}
        if self.why_not:
            out["not_available"] = self.why_not
        return out


def batch_write_estimate(write_units: int, price_per_million_wru: float, wru_per_s: float) -> PathEstimate:
    """BatchWriteItem: every write unit (table and GSIs) at the on-demand price, at ``wru_per_s``."""
    return PathEstimate(write_units * price_per_million_wru / 1_000_000, write_units / wru_per_s)


def import_estimate(json_bytes: int, price_per_gb: float, exists: bool | None) -> PathEstimate:
    """ImportTable: per GB of uncompressed DynamoDB JSON; only into a table it creates (``exists`` None: unknown)."""
    why = "the table exists: ImportTable only creates tables" if exists is True else ""
    return PathEstimate(json_bytes / GB * price_per_gb, IMPORT_OVERHEAD_S + json_bytes / GB * IMPORT_S_PER_GB, why)


def bulk_put_estimate(
    json_bytes: int,
    write_units: int,
    exists: bool | None,
    price_per_gb: float = BULK_PUT_PRICE_PER_GB,
    wru_per_s: float = ON_DEMAND_START_WRU_PER_S,
) -> PathEstimate:
    """StartBulkPutItems: per GB of uncompressed input (assumed price), at ``wru_per_s`` (at least 1,024).

    ``exists`` False: not available (a new table is ImportTable's); None: unknown, shown anyway.
    """
    why = "a new table: ImportTable loads it (bulk put writes into existing tables)" if exists is False else ""
    pace = max(BULK_PUT_MIN_WRU_PER_S, wru_per_s)
    return PathEstimate(json_bytes / GB * price_per_gb, BULK_PUT_OVERHEAD_S + write_units / pace, why)


def warm_needed(table_wcu: int, index_wcu: dict[str, int], target_minutes: float) -> dict[str, int]:
    """Write units per second the table and its busiest GSI need to take a BatchWriteItem load in the time.

    Each is compared with what a new on-demand table (or GSI) serves at once,
    4,000: 0 where that is enough. Warm throughput does not lift the limit
    of one partition key (1,000 write units a second): a hot key is not helped.
    """
    if target_minutes <= 0:
        raise ValueError("target_minutes must be > 0")
    seconds = target_minutes * 60
    table = math.ceil(table_wcu / seconds)
    index = math.ceil(max(index_wcu.values(), default=0) / seconds)
    return {
        "table": table if table > ON_DEMAND_START_WRU_PER_S else 0,
        "index": index if index > ON_DEMAND_START_WRU_PER_S else 0,
    }


@dataclass
class PathComparison:
    table: str
    items: int
    write_units: int
    batch_write_usd: float
    batch_write_seconds: float
    import_bytes: int
    import_usd: float
    import_seconds: float
    exists: bool | None = None  # None: the target was not asked
    import_table: PathEstimate | None = None
    bulk_put: PathEstimate | None = None
    warm: dict[str, int] = field(default_factory=dict)  # warm_needed(...) for the target time
    target_minutes: float = TARGET_MINUTES

    @property
    def cheaper(self) -> str:
        """The cheapest path that applies (BatchWriteItem on a tie); a table not known to exist counts as new."""
        paths = [("BatchWriteItem", self.batch_write_usd)]
        if not self.exists:
            paths.append(("ImportTable", self.import_usd))
        elif self.bulk_put is not None:
            paths.append(("BulkPutItems", self.bulk_put.usd))
        return min(paths, key=lambda p: p[1])[0]

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "table": self.table,
            "items": self.items,
            "exists": self.exists,
            "batch_write": {
                "write_units": self.write_units,
                "usd": round(self.batch_write_usd, 6),
                "seconds": round(self.batch_write_seconds, 1),
            },
            "import_table": {
                "uncompressed_bytes": self.import_bytes,
                "gb": round(self.import_bytes / GB, 6),
                "usd": round(self.import_usd, 6),
                "seconds": round(self.import_seconds, 1),
            },
            "cheaper": self.cheaper,
        }
        if self.import_table is not None and self.import_table.why_not:
            out["import_table"]["not_available"] = self.import_table.why_not
        if self.bulk_put is not None:
            out["bulk_put"] = {"uncompressed_bytes": self.import_bytes, **self.bulk_put.to_json()}
        out["warm_throughput"] = {
            "target_minutes": self.target_minutes,
            "table_write_units_per_s": self.warm.get("table", 0),
            "index_write_units_per_s": self.warm.get("index", 0),
        }
        return out


def json_bytes(item: ItemTypePlan, conn: sqlite3.Connection, limit: int | None) -> int:
    """Bytes of the item type's DynamoDB JSON lines: from the first ``limit`` rows scaled up, or every row."""
    size = sum(len(item_line(built)) for built in Renderer(conn).render(item, rows=limit))
    if limit is not None and item.expected_rows > limit:
        return round(size * item.expected_rows / limit)
    return size


def compare_paths(
    plan: Plan,
    conn: sqlite3.Connection,
    per_table: list[Estimate],
    limit: int | None,
    price_per_million_wru: float,
    price_per_gb: float,
    max_wcu: float | None = None,
    exists: dict[str, bool | None] | None = None,
    bulk_put_price_per_gb: float = BULK_PUT_PRICE_PER_GB,
    target_minutes: float = TARGET_MINUTES,
) -> list[PathComparison]:
    """Per table: BatchWriteItem, ImportTable (new tables) and bulk put (existing tables), dollars and time each."""
    sizes: dict[str, int] = {}
    for item in plan.item_types:
        sizes[item.table.name] = sizes.get(item.table.name, 0) + json_bytes(item, conn, limit)
    out = []
    for estimate in per_table:
        size = sizes.get(estimate.name, 0)
        there = (exists or {}).get(estimate.name)
        write = batch_write_estimate(estimate.total_wcu, price_per_million_wru, max_wcu or ON_DEMAND_START_WRU_PER_S)
        load = import_estimate(size, price_per_gb, there)
        out.append(
            PathComparison(
                table=estimate.name,
                items=estimate.items,
                write_units=estimate.total_wcu,
                batch_write_usd=write.usd,
                batch_write_seconds=write.seconds,
                import_bytes=size,
                import_usd=load.usd,
                import_seconds=load.seconds,
                exists=there,
                import_table=load,
                bulk_put=bulk_put_estimate(size, estimate.total_wcu, there, bulk_put_price_per_gb),
                warm=warm_needed(estimate.table_wcu, estimate.gsi_wcu, target_minutes),
                target_minutes=target_minutes,
            )
        )
    return out


def compare_tables(
    config: Any,
    per_table: list[Estimate],
    limit: int | None,
    price_per_million_wru: float,
    price_per_gb: float,
    max_wcu: float | None = None,
    **options: Any,
) -> list[PathComparison]:
    """``compare_paths`` for the configuration's plan (the ``plan`` command's section on load paths)."""
    with opened_plan(config) as (plan, conn):
        return compare_paths(plan, conn, per_table, limit, price_per_million_wru, price_per_gb, max_wcu, **options)
