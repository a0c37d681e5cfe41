"""What a full ``validate`` reads, in read request units and on-demand dollars, before running it.

- The item-by-item pass scans each table once: eventually consistent, so
  half a unit per started 4 KB of the table's items (the bytes come from the
  write estimate).
- A GetItem pattern reads each of its keys strongly consistent: one unit per
  started 4 KB of the table's average item, per parameter value.
- A Query pattern costs one unit per request on the table (strongly
  consistent) and half on an index, more when its answer passes 4 KB; the
  answer sizes are not known before the run, so the figure is a floor.
- A pattern proven from an index read (``pattern_proof``) reads nothing of
  its own in a full validate: the item pass's Scan of the table fills its
  file. It costs its sample of real requests, at the prices above.
"""

from __future__ import annotations

import math
import sqlite3
from dataclasses import dataclass
from typing import Any

from sqlite2ddb.config import Config
from sqlite2ddb.extract.connections import register_functions
from sqlite2ddb.plan.compile import Plan
from sqlite2ddb.plan.opened import opened_plan
from sqlite2ddb.prices import PRICE_PER_MILLION_RRU, PRICE_SOURCE_RRU
from sqlite2ddb.render.estimate import Estimate
from sqlite2ddb.spec.model import AccessPatternSpec
from sqlite2ddb.validate.pattern_proof import DEFAULT_PROOF, provable
from sqlite2ddb.validate.patterns import param_count

UNIT_BYTES = 4096


@dataclass
class ReadLine:
    """Reads of one step of validate: a table scan or an access pattern."""

    name: str
    kind: str  # scan, get, query
    requests: int
    units: float
    floor: bool = False  # True when the answers' sizes are unknown: at least this much

    def to_json(self, price: float) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "requests": self.requests,
            "read_units": round(self.units, 1),
            "at_least": self.floor,
            "on_demand_cost_usd": round(self.units * price / 1_000_000, 6),
        }


def read_estimate(config: Config, per_table: list[Estimate], price: float = PRICE_PER_MILLION_RRU) -> dict[str, Any]:
    """The reads of a full validate, per table scan and per access pattern, as plain data."""
    with opened_plan(config, count=False) as (plan, conn):
        lines = estimate_reads(plan, register_functions(conn), {e.name: e for e in per_table})
    units = sum(line.units for line in lines)
    return {
        "price_per_million_rru": price,
        "price_source": PRICE_SOURCE_RRU if price == PRICE_PER_MILLION_RRU else "given with --price",
        "steps": [line.to_json(price) for line in lines],
        "total_read_units": round(units, 1),
        "on_demand_cost_usd": round(units * price / 1_000_000, 6),
    }


def estimate_reads(plan: Plan, conn: sqlite3.Connection, tables: dict[str, Estimate]) -> list[ReadLine]:
    lines = []
    for table in plan.tables:
        size = tables[table.name].bytes if table.name in tables else 0
        units = 0.5 * math.ceil(size / UNIT_BYTES)
        lines.append(ReadLine(f"items:{table.config_name}", "scan", max(1, math.ceil(size / 2**20)), units))
    for pattern in plan.mapping.access_patterns:
        table = plan.table(pattern.request.table)
        try:
            count = param_count(conn, pattern.params)
        except sqlite3.Error:
            continue  # validate reports the broken SQL; nothing is read for it
        if pattern.sample:
            count = min(count, pattern.sample)
        figures = tables.get(table.name)
        average = figures.average if figures else 0.0
        per_request = 0.5 if pattern.request.index else 1.0
        if pattern.request.get:
            per_request = max(1, math.ceil(average / UNIT_BYTES))
        if provable(pattern, plan, count, DEFAULT_PROOF):
            lines.append(_index_read(pattern, count, per_request))
        elif pattern.request.get:
            lines.append(ReadLine(f"pattern:{pattern.name}", "get", math.ceil(count / 100), float(count * per_request)))
        else:
            lines.append(ReadLine(f"pattern:{pattern.name}", "query", count, count * per_request, floor=True))
    return lines


def _index_read(pattern: AccessPatternSpec, count: int, per_request: float) -> ReadLine:
    """The sample of real requests of a pattern answered from the item pass's Scan."""
    real = min(count, 3 * DEFAULT_PROOF.real_queries)
    return ReadLine(f"pattern:{pattern.name}", "index read", real, real * per_request, floor=not pattern.request.get)
