"""Reads from DynamoDB for validation: Scan pages and BatchGetItem with retries of unprocessed keys."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from engine.errors import TargetError
from engine.retry import backoff_delay
from engine.target import Target
from engine.types import Wire


def scan(target: Target, table: str) -> Iterator[dict[str, Wire]]:
    """Every item of a table, page by page."""
    kwargs: dict[str, Any] = {"TableName": table}
    start = None
    while True:
        if start:
            kwargs["ExclusiveStartKey"] = start
        page = target.call("scan", f"scanning {table}", **kwargs)
        yield from page.get("Items", [])
        start = page.get("LastEvaluatedKey")
        if not start:
            return


def batch_get(target: Target, table: str, request: dict[str, Any], action: str) -> Iterator[dict[str, Wire]]:
    """The items of one BatchGetItem request, asking again for UnprocessedKeys after a backoff."""
    attempt = 0
    while request:
        response = target.call("batch_get_item", action, RequestItems=request)
        yield from response.get("Responses", {}).get(table, [])
        request = response.get("UnprocessedKeys") or {}
        if request:
            if attempt >= target.retry.max_retries:
                raise TargetError(f"{action}: DynamoDB left keys unprocessed after {attempt} retries")
            attempt += 1
            time.sleep(backoff_delay(attempt, target.retry.delay))
