"""A few items per item type, as ``plan --samples`` shows them, for the reports (binary abbreviated)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from engine.errors import RowError
from engine.extract import Row, stream_rows
from engine.plan import ItemTypePlan, Plan
from engine.transform import attach_children, build_item, keep_row
from engine.types import Wire, to_python

SAMPLES = 3
BINARY_SHOWN = 16  # bytes of a binary value shown before it is cut


def sample_items(plan: Plan, conn: sqlite3.Connection, count: int = SAMPLES) -> dict[str, list[dict[str, Any]]]:
    """The first ``count`` items of each item type, rendered through the plan, as plain JSON-able values."""
    out: dict[str, list[dict[str, Any]]] = {}
    for item in plan.item_types:
        rows = []
        for row in stream_rows(conn, item.spec.query, item.spec.cursor):
            if _kept(item, row):
                rows.append(row)
            if len(rows) >= count:
                break
        attach_children(conn, item.embeds, rows)
        out[item.name] = [{k: displayed(to_python(v)) for k, v in built.items()} for built in _built(item, rows)]
    return out


def _built(item: ItemTypePlan, rows: list[Row]) -> Iterator[dict[str, Wire]]:
    """The rows' items; a row that does not render is left out (the checks report it)."""
    for row in rows:
        try:
            yield build_item(item, row)
        except RowError:
            continue


def _kept(item: ItemTypePlan, row: Row) -> bool:
    try:
        return keep_row(item, row)
    except RowError:
        return False


def displayed(value: Any) -> Any:
    """Decimal as a number, bytes as '<N bytes: hex...>', containers element by element."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, bytes | bytearray):
        head = bytes(value[:BINARY_SHOWN]).hex()
        return f"<{len(value)} bytes: {head}{'...' if len(value) > BINARY_SHOWN else ''}>"
    if isinstance(value, dict):
        return {k: displayed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [displayed(v) for v in value]
    return value
