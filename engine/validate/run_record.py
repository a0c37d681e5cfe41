"""What the last migrate and sync recorded (engine/migrate/timeline.py), with the plan's capacity estimate, for the reports.

The time series is reduced to what the reports draw: per tick, items/s per
table, retries and throttles; per item type its duration; per table the
write units the plan estimated, those the run counted from the items it
wrote, and those DynamoDB said it consumed. Bounded like the timeline
itself: by the run's duration, not its item count.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from sqlite2ddb.migrate.timeline import read_runs
from sqlite2ddb.plan.compile import Plan
from sqlite2ddb.render.estimate import estimate_plan

ESTIMATE_ROWS = 1000  # rows per item type rendered for the estimate, as ``plan`` does by default


def run_record(
    state_dir: Path, plan: Plan, conn: sqlite3.Connection, batch_size: int, read_units: dict[str, float]
) -> dict[str, Any]:
    """The last migrate run and the last sync run (each None when none was recorded), and the estimate.

    A migrate run that wrote nothing (every item type done before) does not
    hide the one before it that did the work.
    """
    runs = read_runs(state_dir)
    record: dict[str, Any] = {"migrate": None, "sync": None}
    for lines in runs:
        command = lines[0].get("command") if lines and lines[0].get("event") == "start" else None
        worked = any(line.get("event") == "item_type" for line in lines)
        if command in record and (worked or record[command] is None):
            record[command] = summarize_run(lines)
    _, per_table = estimate_plan(plan, conn, ESTIMATE_ROWS, batch_size)
    estimates = {e.name: e.total_wcu for e in per_table}
    record["capacity"] = capacity(estimates, record["migrate"], read_units)
    return record


def summarize_run(lines: list[dict[str, Any]]) -> dict[str, Any]:
    """One run's lines -> start, end, status, item type timings, per-table totals and the series."""
    start = lines[0]
    end = next((line for line in lines if line.get("event") == "end"), None)
    ticks = [line for line in lines if line.get("event") == "tick"]
    totals: dict[str, dict[str, float]] = {}
    series = []
    for tick in ticks:
        dt = tick.get("dt") or 1.0
        point: dict[str, Any] = {"t": tick["t"], "items_per_s": {}, "retries": 0, "throttles": 0}
        for table, entry in tick.get("tables", {}).items():
            total = totals.setdefault(table, {"items": 0, "deleted": 0, "wcu": 0, "consumed": 0.0})
            for key in total:
                total[key] += entry.get(key, 0)
            point["items_per_s"][table] = round((entry.get("items", 0) + entry.get("deleted", 0)) / dt, 1)
        point["retries"] = tick.get("retries", 0)
        point["throttles"] = tick.get("throttles", 0)
        series.append(point)
    counts = [line for line in lines if line.get("event") == "counts"]
    return {
        "command": start.get("command"),
        "started_at": start.get("at"),
        "finished_at": end.get("at") if end else None,
        "status": end.get("status") if end else "interrupted",
        "seconds": round(lines[-1]["t"], 3),
        "item_types": [
            {k: line[k] for k in ("name", "table", "seconds", "items", "status")}
            for line in lines
            if line.get("event") == "item_type"
        ],
        # every write consumes capacity: none recorded means none was asked for (or the endpoint did not say)
        "tables": {
            name: {k: round(v, 1) if v or k != "consumed" else None for k, v in total.items()}
            for name, total in totals.items()
        },
        "retries": sum(p["retries"] for p in series),
        "throttles": sum(p["throttles"] for p in series),
        "peak_items_per_s": max((sum(p["items_per_s"].values()) for p in series), default=0),
        "counts": counts[-1].get("sync") if counts else None,
        "series": series,
    }


def capacity(
    estimates: dict[str, int], migrate: dict[str, Any] | None, read_units: dict[str, float]
) -> list[dict[str, Any]]:
    """Per table: the plan's estimate of write units (table and indexes) against what the last migrate used,
    and the read units this validation consumed (None where the endpoint did not say)."""
    tables = (migrate or {}).get("tables", {})
    return [
        {
            "table": name,
            "estimated_wcu": estimate,
            "counted_wcu": tables.get(name, {}).get("wcu"),
            "consumed_wcu": tables.get(name, {}).get("consumed"),
            "validate_consumed_rcu": round(read_units[name], 1) if name in read_units else None,
        }
        for name, estimate in estimates.items()
    ]
