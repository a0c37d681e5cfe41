"""When and how to retry a DynamoDB call: which errors pass, and how long to back off.

The boto3 client is built with its own retries off (see ``target.py``), so
every call the tool makes goes through here or through the batch writer,
which uses the same error classes and backoff but also has to handle
UnprocessedItems and count retries per item type.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import botocore.exceptions
from loguru import logger

MAX_BACKOFF_S = 20.0

THROTTLE_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "TooManyRequestsException",
    }
)
SERVER_CODES = frozenset({"InternalServerError", "ServiceUnavailable", "InternalFailure"})
CONNECTION_ERRORS = (
    botocore.exceptions.EndpointConnectionError,
    botocore.exceptions.ConnectionClosedError,
    botocore.exceptions.ReadTimeoutError,
    botocore.exceptions.ConnectTimeoutError,
    botocore.exceptions.ProxyConnectionError,
)

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 8
    delay: float = 0.1  # base of the exponential backoff, in seconds


class ThrottleLog:
    """One WARNING when DynamoDB starts throttling, not one per throttled request.

    With ``quiet_s``, a new start of throttling is told at most that often: a
    hot partition key throttles and succeeds in turn for as long as it is written.
    """

    def __init__(self, quiet_s: float = 0.0) -> None:
        self.quiet_s = quiet_s
        self._lock = threading.Lock()
        self._throttling = False
        self._warned_at = float("-inf")

    def throttled(self, what: str, code: str) -> None:
        with self._lock:
            now = time.monotonic()
            starting = not self._throttling and now - self._warned_at >= self.quiet_s
            self._throttling = True
            if starting:
                self._warned_at = now
        if starting:
            logger.warning("DynamoDB is throttling {} ({}); backing off", what, code)

    def succeeded(self) -> None:
        if self._throttling:
            with self._lock:
                self._throttling = False


def backoff_delay(attempt: int, base: float) -> float:
    """Exponential backoff with full jitter: uniform(0, base * 2**attempt), capped."""
    return random.uniform(0, min(MAX_BACKOFF_S, base * (2**attempt)))


def error_code(exc: BaseException) -> str:
    """DynamoDB's error code of a ClientError; "" for any other exception."""
    if not isinstance(exc, botocore.exceptions.ClientError):
        return ""
    return str(exc.response.get("Error", {}).get("Code", ""))


#: What each limit type of a ThrottlingReason (``<Table|Index><Read|Write><limit>``) asks of a writer:
#: "key" (a hot partition key: hold back that batch only), "rate" (the table's or an index's own limit:
#: write slower) or "stop" (the account's per-table quota: no pace of this run helps).
LIMIT_ACTIONS = {
    "KeyRangeThroughputExceeded": "key",
    "ProvisionedThroughputExceeded": "rate",
    "MaxOnDemandThroughputExceeded": "rate",
    "AccountLimitExceeded": "stop",
}


@dataclass(frozen=True)
class ThrottlingReason:
    """One entry of a throttling error's ThrottlingReasons: the reason code and the table or index ARN."""

    reason: str
    resource: str

    @property
    def action(self) -> str:
        """'key', 'rate' or 'stop' (see ``LIMIT_ACTIONS``); 'rate' for a reason code this version does not know."""
        for limit, action in LIMIT_ACTIONS.items():
            if self.reason.endswith(limit):
                return action
        return "rate"

    def __str__(self) -> str:
        return f"{self.reason} on {self.resource}" if self.resource else self.reason


def throttling_reasons(exc: BaseException) -> list[ThrottlingReason]:
    """The ThrottlingReasons DynamoDB sent with a throttling error (since 2025); [] when there are none.

    ProvisionedThroughputExceededException and RequestLimitExceeded name the
    list ``ThrottlingReasons``, ThrottlingException ``throttlingReasons``.
    """
    if not isinstance(exc, botocore.exceptions.ClientError):
        return []
    response = exc.response
    listed = response.get("ThrottlingReasons") or response.get("throttlingReasons") or []
    out = []
    for entry in listed if isinstance(listed, list) else []:
        if isinstance(entry, dict) and entry.get("reason"):
            out.append(ThrottlingReason(str(entry["reason"]), str(entry.get("resource") or "")))
    return out


def transient_kind(exc: BaseException) -> str | None:
    """'throttle', 'server' or 'connection' for an error worth retrying; None otherwise."""
    if isinstance(exc, botocore.exceptions.ClientError):
        code = error_code(exc)
        if code in THROTTLE_CODES:
            return "throttle"
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        if code in SERVER_CODES or status >= 500:
            return "server"
        return None
    if isinstance(exc, CONNECTION_ERRORS):
        return "connection"
    return None


def with_retries(call: Callable[[], T], policy: RetryPolicy, action: str, throttles: ThrottleLog | None = None) -> T:
    """``call()``, retried with backoff while it fails with a transient error.

    After ``policy.max_retries`` retries the last error is raised as it came,
    for the caller to turn into a message.
    """
    attempt = 0
    while True:
        try:
            result = call()
        except Exception as exc:
            kind = transient_kind(exc)
            if kind is None or attempt >= policy.max_retries:
                raise
            attempt += 1
            if kind == "throttle" and throttles is not None:
                throttles.throttled(action, _reason(exc))
            logger.debug("{}: {} ({}); retry {} of {}", action, kind, _reason(exc), attempt, policy.max_retries)
            time.sleep(backoff_delay(attempt, policy.delay))
        else:
            if throttles is not None:
                throttles.succeeded()
            return result


def _reason(exc: BaseException) -> str:
    return error_code(exc) or type(exc).__name__
