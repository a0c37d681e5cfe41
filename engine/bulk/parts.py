"""Where an item type's parts begin and end: cursor ranges fixed by the data, not by the worker count.

Every part of an item type covers the same number of source rows (the last
one fewer), in cursor order. That number comes from the target part size and
the average size of the first rendered rows, so the same source, mapping and
part size always give the same parts, whether one process renders them or
eight.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

from sqlite2ddb.bulk.dynamodb_json import item_line
from sqlite2ddb.extract.source import ordered_query, source_error
from sqlite2ddb.plan.compile import ItemTypePlan, Plan
from sqlite2ddb.render.stream import Rows, render

SAMPLE_ROWS = 200


@dataclass(frozen=True)
class PartSpec:
    """One part: ``rows`` source rows of an item type after the cursor ``after`` (None: from the start)."""

    key: str  # path under the export location: <table>/<nn>-<item type>-<nnnnn>.json.gz
    table: str
    item_type: str
    index: int
    after: tuple[Any, ...] | None
    rows: int


def rows_per_part(item: ItemTypePlan, conn: sqlite3.Connection, part_bytes: int) -> int:
    """Source rows per part so that a part holds about ``part_bytes`` of uncompressed DynamoDB JSON."""
    rows = list(render(conn, item, Rows(first=SAMPLE_ROWS)))
    if not rows:
        return 1
    size = sum(len(item_line(row.item)) for row in rows if row.item is not None)
    per_row = max(1.0, size / len(rows))
    return max(1, int(part_bytes / per_row))


def cursor_values(item: ItemTypePlan, conn: sqlite3.Connection, every: int) -> tuple[int, list[tuple[Any, ...]]]:
    """The number of rows, and the cursor of every ``every``-th row (the last row of each full part)."""
    columns = ", ".join('"' + c.replace('"', '""') + '"' for c in item.spec.cursor)
    sql, _ = ordered_query(item.spec.query, item.spec.cursor, None)
    assert sql.startswith("SELECT *")
    sql = f"SELECT {columns}" + sql[len("SELECT *") :]
    total, ends = 0, []
    try:
        for values in conn.execute(sql):
            total += 1
            if total % every == 0:
                ends.append(tuple(values))
    except sqlite3.Error as exc:
        raise source_error(exc, f"item type {item.name}: reading the cursor") from None
    return total, ends


def plan_parts(plan: Plan, conn: sqlite3.Connection, item: ItemTypePlan, part_bytes: int) -> tuple[int, list[PartSpec]]:
    """The parts of one item type, and the rows per part they were cut at."""
    per_part = rows_per_part(item, conn, part_bytes)
    total, ends = cursor_values(item, conn, per_part)
    number = next(i for i, candidate in enumerate(plan.item_types) if candidate is item)
    count = max(1, -(-total // per_part))  # an item type with no rows still gets one (empty) part
    parts = []
    for index in range(count):
        after = ends[index - 1] if index else None
        rows = min(per_part, total - index * per_part) if total else 0
        key = f"{item.table.name}/{number:02d}-{item.name}-{index:05d}.json.gz"
        parts.append(PartSpec(key, item.table.name, item.name, index, after, rows))
    return per_part, parts
