"""A few items per item type, as ``plan --samples`` shows them, for the reports (binary abbreviated)."""

from __future__ import annotations

import sqlite3
from decimal import Decimal
from itertools import islice
from typing import Any

from sqlite2ddb.plan.compile import Plan
from sqlite2ddb.render.stream import Renderer
from sqlite2ddb.wire import to_python

SAMPLES = 3
BINARY_SHOWN = 16  # bytes of a binary value shown before it is cut


def sample_items(plan: Plan, conn: sqlite3.Connection, count: int = SAMPLES) -> dict[str, list[dict[str, Any]]]:
    """The first ``count`` items of each item type, rendered through the plan, as plain JSON-able values.

    A row that does not render is left out: the checks report it.
    """
    renderer = Renderer(conn)
    return {
        item.name: [
            {k: displayed(to_python(v)) for k, v in built.items()} for built in islice(renderer.render(item), count)
        ]
        for item in plan.item_types
    }


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
