"""Reads from DynamoDB for validation: every call counted in read units and held to ``--max-rcu``.

Each read asks DynamoDB for the capacity it consumed. With a read budget
(``max_rcu``) the units are charged, after the answer, to the same token
bucket the writer uses for ``--max-wcu``; a reader in debt waits before its
next request, so over a run the rate holds while at most one request per
worker overshoots it.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlite2ddb.dynamodb.retry import backoff_delay
from sqlite2ddb.dynamodb.target import Target
from sqlite2ddb.dynamodb.writer import RateLimiter
from sqlite2ddb.errors import TargetError
from sqlite2ddb.wire import Wire

_DONE = object()
#: Items per page of an access pattern's Query, and of a Scan when the table's item size is
#: not known: small pages keep the pages in flight small (a 1 MB page is tens of MB as
#: Python objects, held by each worker), so memory does not grow with the size of a
#: partition or table. On AWS a page costs its size in read units, rounded up to 4 KB.
PAGE_ITEMS = 250
#: A Scan page's size in DynamoDB's item bytes (``page_items``): 2 to 3 MB as Python
#: objects, a few held per segment. DynamoDB Local positions each Scan page in time that
#: grows with the table, so smaller pages cost time (x30: 100-item pages 207 s against 148 s
#: for 250; 64 KB pages 1.05 of migrate's time against 0.87, for 11 MB less RSS).
SCAN_PAGE_BYTES = 128 * 1024
_PAGE_ITEMS_RANGE = (50, 1000)


def page_items(description: dict[str, Any] | None) -> int:
    """Items per Scan page of a table, from its DescribeTable (average item size), or ``PAGE_ITEMS``."""
    table = description or {}
    count, size = table.get("ItemCount") or 0, table.get("TableSizeBytes") or 0
    if not count or not size:
        return PAGE_ITEMS
    low, high = _PAGE_ITEMS_RANGE
    return max(low, min(high, SCAN_PAGE_BYTES * count // size))


class Reader:
    """The validation's view of the target: metered reads, parallel scans, batched gets."""

    def __init__(self, target: Target, max_rcu: float | None = None, workers: int = 1) -> None:
        self.target = target
        self.retry = target.retry
        self.limiter = RateLimiter(max_rcu) if max_rcu else None
        self.workers = max(1, workers)
        self.units = 0.0
        self.requests = 0
        self.page_items: dict[str, int] = {}  # per table: see ``page_items``
        self._lock = threading.Lock()

    def call(self, method: str, action: str, **kwargs: Any) -> Any:
        """One read; its consumed units are counted and charged to the budget."""
        if self.limiter is not None:
            self.limiter.acquire(0)  # wait while in debt
        response = self.target.call(method, action, ReturnConsumedCapacity="TOTAL", **kwargs)
        consumed = _units(response.get("ConsumedCapacity"))
        with self._lock:
            self.units += consumed
            self.requests += 1
        if self.limiter is not None and consumed:
            self.limiter.acquire(consumed)
        return response

    def scan(self, table: str, segments: int = 1, **extra: Any) -> Iterator[list[dict[str, Wire]]]:
        """Every item of a table, one page at a time; ``segments`` > 1 reads that many segments at once.

        Pages wait in a queue of at most ``segments`` pages, so memory is bounded
        by the pages in flight whatever the table's size. ``extra`` goes into
        every Scan request (``IndexName``, ``ProjectionExpression``, ``Limit``, ...).
        """
        if segments <= 1:
            yield from self._scan_segment(table, None, extra)
            return
        pages: queue.Queue[Any] = queue.Queue(maxsize=segments)
        stop = threading.Event()

        def offer(entry: Any) -> None:
            """Queue an entry unless the consumer has stopped reading."""
            while not stop.is_set():
                try:
                    pages.put(entry, timeout=0.2)
                    return
                except queue.Full:
                    continue

        def worker(segment: int) -> None:
            try:
                for page in self._scan_segment(table, (segment, segments), extra):
                    if stop.is_set():
                        return
                    offer(page)
            except BaseException as exc:  # noqa: BLE001 - handed to the consumer
                offer(exc)
            finally:
                offer(_DONE)

        with ThreadPoolExecutor(segments, thread_name_prefix=f"scan-{table}") as pool:
            for segment in range(segments):
                pool.submit(worker, segment)
            try:
                yield from _drain(pages, segments)
            finally:
                stop.set()

    def _scan_segment(
        self, table: str, segment: tuple[int, int] | None, extra: dict[str, Any] | None = None
    ) -> Iterator[list[dict[str, Wire]]]:
        limit = self.page_items.get(table, PAGE_ITEMS)
        kwargs: dict[str, Any] = {"TableName": table, "Limit": limit, **(extra or {})}
        if segment is not None:
            kwargs["Segment"], kwargs["TotalSegments"] = segment
        while True:
            page = self.call("scan", f"scanning {table}", **kwargs)
            yield page.get("Items", [])
            start = page.get("LastEvaluatedKey")
            if not start:
                return
            kwargs["ExclusiveStartKey"] = start

    def batch_get(self, table: str, request: dict[str, Any], action: str) -> Iterator[dict[str, Wire]]:
        """The items of one BatchGetItem request, asking again for UnprocessedKeys after a backoff."""
        attempt = 0
        while request:
            response = self.call("batch_get_item", action, RequestItems=request)
            yield from response.get("Responses", {}).get(table, [])
            request = response.get("UnprocessedKeys") or {}
            if request:
                if attempt >= self.retry.max_retries:
                    raise TargetError(f"{action}: DynamoDB left keys unprocessed after {attempt} retries")
                attempt += 1
                time.sleep(backoff_delay(attempt, self.retry.delay))


def _drain(pages: queue.Queue[Any], producers: int) -> Iterator[list[dict[str, Wire]]]:
    done = 0
    while done < producers:
        page = pages.get()
        if page is _DONE:
            done += 1
        elif isinstance(page, BaseException):
            raise page
        else:
            yield page


def _units(consumed: Any) -> float:
    """Read units of a ConsumedCapacity answer (one entry, or a list for batch calls)."""
    if not consumed:
        return 0.0
    entries = consumed if isinstance(consumed, list) else [consumed]
    return float(sum(entry.get("CapacityUnits", 0.0) for entry in entries))
