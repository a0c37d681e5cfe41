"""plan: the two ways to load each table, side by side: BatchWriteItem against S3 + ImportTable.

BatchWriteItem pays write request units on the table and on every GSI the
item lands in (``engine/render/estimate.py``); ImportTable pays per GB of
uncompressed source data in S3 and spends no write capacity. The size of
the DynamoDB JSON is measured on the same rendered rows as the write units
and scaled up the same way.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

from sqlite2ddb.bulk.dynamodb_json import item_line
from sqlite2ddb.plan.compile import ItemTypePlan, Plan
from sqlite2ddb.plan.opened import opened_plan
from sqlite2ddb.render.estimate import Estimate
from sqlite2ddb.render.stream import Renderer

IMPORT_PRICE_PER_GB = 0.15
IMPORT_PRICE_SOURCE = (
    "AWS DynamoDB pricing, import from S3, us-east-1: USD 0.15 per GB of uncompressed source data (read 2026-11-26)"
)
GB = 1024**3
#: A new on-demand table takes writes at up to this many write request units per second before it scales.
ON_DEMAND_START_WRU_PER_S = 4000.0
#: Assumed, not published by AWS: the fixed start-up of an import, and its pace once running.
IMPORT_OVERHEAD_S = 300.0
IMPORT_S_PER_GB = 120.0


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

    @property
    def cheaper(self) -> str:
        return "ImportTable" if self.import_usd < self.batch_write_usd else "BatchWriteItem"

    def to_json(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "items": self.items,
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
) -> list[PathComparison]:
    """Per table: write units and dollars for BatchWriteItem, GB and dollars for ImportTable, and a time for each."""
    sizes: dict[str, int] = {}
    for item in plan.item_types:
        sizes[item.table.name] = sizes.get(item.table.name, 0) + json_bytes(item, conn, limit)
    out = []
    for estimate in per_table:
        size = sizes.get(estimate.name, 0)
        out.append(
            PathComparison(
                table=estimate.name,
                items=estimate.items,
                write_units=estimate.total_wcu,
                batch_write_usd=estimate.cost(price_per_million_wru),
                batch_write_seconds=estimate.total_wcu / (max_wcu or ON_DEMAND_START_WRU_PER_S),
                import_bytes=size,
                import_usd=size / GB * price_per_gb,
                import_seconds=IMPORT_OVERHEAD_S + size / GB * IMPORT_S_PER_GB,
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
) -> list[PathComparison]:
    """``compare_paths`` for the configuration's plan (the ``plan`` command's section on load paths)."""
    with opened_plan(config) as (plan, conn):
        return compare_paths(plan, conn, per_table, limit, price_per_million_wru, price_per_gb, max_wcu)
