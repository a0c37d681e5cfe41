"""Read capacity validate consumed, per table, as DynamoDB reports it.

botocore event hooks on validate's own client ask every read (Scan, Query,
GetItem, BatchGetItem) for ``ReturnConsumedCapacity=TOTAL`` and add up what
the answers say, so the checks need not know about it. An endpoint that does
not report capacity leaves the figures empty (None in the report).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

READS = ("Scan", "Query", "GetItem", "BatchGetItem")


class ReadMeter:
    """Read units per table, summed from the answers of the metered client."""

    def __init__(self) -> None:
        self.units: dict[str, float] = {}
        self._lock = threading.Lock()

    def ask(self, params: dict[str, Any], **_: Any) -> None:
        params.setdefault("ReturnConsumedCapacity", "TOTAL")

    def count(self, parsed: dict[str, Any], **_: Any) -> None:
        consumed = parsed.get("ConsumedCapacity") if isinstance(parsed, dict) else None
        entries = consumed if isinstance(consumed, list) else [consumed] if consumed else []
        with self._lock:
            for entry in entries:
                table = entry.get("TableName")
                if table:
                    self.units[table] = self.units.get(table, 0.0) + float(entry.get("CapacityUnits", 0.0))


@contextmanager
def metered(client: Any) -> Iterator[ReadMeter]:
    """Meter the reads ``client`` makes inside the block."""
    meter = ReadMeter()
    events = client.meta.events
    hooks: list[tuple[str, Callable[..., None]]] = [(f"provide-client-params.dynamodb.{op}", meter.ask) for op in READS]
    hooks += [(f"after-call.dynamodb.{op}", meter.count) for op in READS]
    for event, handler in hooks:
        events.register(event, handler)
    try:
        yield meter
    finally:
        for event, handler in hooks:
            events.unregister(event, handler)
