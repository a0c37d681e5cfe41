"""Fault-injecting HTTP proxy for testing DynamoDB clients against DynamoDB Local.

The proxy sits between boto3 and DynamoDB Local and, according to rules, answers
some requests with the errors DynamoDB would send (throttling, 5xx, access denied), drops the
connection before or after forwarding, delays requests, turns a
``BatchWriteItem`` into a partial success with ``UnprocessedItems``, or
answers a ``Query``/``Scan`` without one of its items (``stale_read``: what an
eventually consistent global secondary index gives while it lags the table).

Only the standard library is used.  Typical use::

    with FaultProxy("http://127.0.0.1:8000", seed=1) as proxy:
        proxy.add_rule("throttle", rate=0.3, operations={"BatchWriteItem"})
        client = boto3.client("dynamodb", endpoint_url=proxy.url, ...)

Rules are checked in the order they were added; a rule is eligible for a
request when the request's operation (from ``X-Amz-Target``) is in the rule's
``operations`` (``None`` means all) and the rule has fired fewer than ``count``
times.  An eligible rule fires with probability ``rate`` (seeded RNG); the first
rule that fires decides the request's fate.  A request no rule fires for is
forwarded unchanged.
"""

from __future__ import annotations

import http.client
import json
import logging
import math
import random
import socket
import struct
import threading
import traceback
import uuid
import zlib
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import urlsplit

__all__ = ["FAULTS", "MIXED_FAULTS", "THROTTLE_KINDS", "FaultProxy", "Rule"]

log = logging.getLogger(__name__)

JSON_CONTENT_TYPE = "application/x-amz-json-1.0"
_DDB_PREFIX = "com.amazonaws.dynamodb.v20120810#"

#: A mix of every fault kind but delays, each with its rate (the rules are tried in turn:
#: about a third of the requests in all). The fault suite and ``benchmarks/faults.py`` use it.
MIXED_FAULTS: tuple[tuple[str, float, dict[str, Any]], ...] = (
    ("throttle", 0.06, {}),
    ("throttling", 0.05, {}),
    ("request_limit", 0.05, {}),
    ("server_error", 0.05, {"status": 500}),
    ("server_error", 0.04, {"status": 503}),
    ("reset_before", 0.05, {}),
    ("reset_after", 0.05, {}),
    ("partial_batch", 0.06, {"keep": 0.5}),
)
THROTTLE_KINDS = ("throttle", "throttling", "request_limit")

#: Error-type faults: fault kind -> (HTTP status, ``__type`` of the JSON body).
_ERROR_FAULTS: dict[str, tuple[int, str]] = {
    "throttle": (400, _DDB_PREFIX + "ProvisionedThroughputExceededException"),
    "throttling": (400, "com.amazon.coral.availability#ThrottlingException"),
    "request_limit": (400, _DDB_PREFIX + "RequestLimitExceeded"),
    "server_error": (500, _DDB_PREFIX + "InternalServerError"),
    # not transient: what an IAM policy without the action gives
    "access_denied": (400, "com.amazon.coral.service#AccessDeniedException"),
}
_SERVER_ERROR_TYPES: dict[int, str] = {
    500: _DDB_PREFIX + "InternalServerError",
    503: _DDB_PREFIX + "ServiceUnavailable",
}
_MESSAGES: dict[str, str] = {
    "throttle": (
        "The level of configured provisioned throughput for the table was "
        "exceeded. Consider increasing your provisioning level with the "
        "UpdateTable API."
    ),
    "throttling": "Rate of requests exceeds the allowed throughput.",
    "request_limit": (
        "Throughput exceeds the current throughput limit for your account. "
        "Please contact AWS Support at https://aws.amazon.com/support "
        "request a limit increase"
    ),
    "server_error": "Internal server error",
    "access_denied": (
        "User: arn:aws:iam::123456789012:user/migrator is not authorized to perform this action "
        "because no identity-based policy allows it"
    ),
}

#: Fault kind -> the keyword parameters ``add_rule`` accepts for it.
FAULTS: dict[str, frozenset[str]] = {
    "throttle": frozenset({"message"}),
    "throttling": frozenset({"message"}),
    "request_limit": frozenset({"message"}),
    "server_error": frozenset({"message", "status"}),
    "access_denied": frozenset({"message"}),
    "reset_before": frozenset(),
    "reset_after": frozenset(),
    "delay": frozenset({"seconds"}),
    "partial_batch": frozenset({"keep"}),
    "stale_read": frozenset({"index"}),
}

# Headers that describe one hop only and must not be relayed as they are.
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
        "content-length",
    }
)

_Response = tuple[int, str, list[tuple[str, str]], bytes]


class _UpstreamError(Exception):
    """Forwarding to the upstream failed before a response was received."""


@dataclass
class Rule:
    """One fault-injection rule (see ``FaultProxy.add_rule``)."""

    fault: str
    rate: float = 1.0
    operations: frozenset[str] | None = None
    count: int | None = None
    params: dict[str, Any] = field(default_factory=dict)
    fired: int = 0

    def eligible(self, operation: str | None) -> bool:
        """Whether this rule may fire for a request of ``operation``."""
        if self.count is not None and self.fired >= self.count:
            return False
        if self.fault == "partial_batch" and operation != "BatchWriteItem":
            return False
        if self.fault == "stale_read" and operation not in ("Query", "Scan"):
            return False
        return self.operations is None or operation in self.operations


def operation_from_target(target: str | None) -> str | None:
    """``DynamoDB_20120810.BatchWriteItem`` -> ``BatchWriteItem``."""
    if not target:
        return None
    return target.rsplit(".", 1)[-1]


def crc32_header(body: bytes) -> str:
    """Value of ``x-amz-crc32`` for ``body``: unsigned CRC32 in decimal."""
    return str(zlib.crc32(body) & 0xFFFFFFFF)


class FaultProxy:
    """Threaded HTTP proxy that injects DynamoDB-style faults by rule and rate."""

    def __init__(self, upstream_url: str, seed: int = 0) -> None:
        parts = urlsplit(upstream_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"unsupported upstream URL: {upstream_url!r}")
        self.upstream_url = upstream_url
        self._upstream_scheme = parts.scheme
        self._upstream_host = parts.hostname
        self._upstream_port = parts.port or (443 if parts.scheme == "https" else 80)
        self.upstream_timeout = 30.0
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._rules: list[Rule] = []
        self._stats: dict[str, int] = {}
        self.reset_stats()
        self._server: _ProxyServer | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._clients: set[socket.socket] = set()

    # -- lifecycle ---------------------------------------------------------

    def start(self) -> None:
        """Bind 127.0.0.1 on a free port and serve in a background thread."""
        if self._server is not None:
            raise RuntimeError("proxy already started")
        self._stopping.clear()
        server = _ProxyServer(("127.0.0.1", 0), _Handler)
        server.proxy = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"faultproxy-{server.server_address[1]}",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and drop every open client connection."""
        server = self._server
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        with self._lock:
            clients = list(self._clients)
        for sock in clients:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>`` of the running proxy."""
        if self._server is None:
            raise RuntimeError("proxy not started")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    # -- rules and stats ---------------------------------------------------

    def add_rule(
        self,
        fault: str,
        rate: float = 1.0,
        operations: set[str] | None = None,
        count: int | None = None,
        **params: Any,
    ) -> None:
        """Add a rule injecting ``fault`` with probability ``rate``.

        ``operations`` limits it to those DynamoDB operations (None = all);
        ``count`` caps how often it fires.  ``params`` by fault: ``message``
        for the error faults, ``status`` (500 or 503) for ``server_error``,
        ``seconds`` for ``delay``, ``keep`` (fraction, default 0.5) for
        ``partial_batch``, ``index`` (of the item left out of the page,
        default 0) for ``stale_read``.
        """
        if fault not in FAULTS:
            raise ValueError(f"unknown fault {fault!r}; known: {sorted(FAULTS)}")
        unknown = set(params) - FAULTS[fault]
        if unknown:
            raise TypeError(f"unexpected parameters for {fault!r}: {sorted(unknown)}")
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"rate must be within [0, 1], got {rate}")
        if count is not None and count < 0:
            raise ValueError(f"count must be >= 0, got {count}")
        if fault == "server_error":
            status = params.setdefault("status", 500)
            if not 500 <= int(status) <= 599:
                raise ValueError(f"server_error status must be 5xx, got {status}")
        if fault == "delay":
            seconds = params.get("seconds")
            if seconds is None or seconds < 0:
                raise ValueError("delay needs seconds >= 0")
        if fault == "partial_batch":
            keep = params.setdefault("keep", 0.5)
            if not 0.0 <= keep <= 1.0:
                raise ValueError(f"keep must be within [0, 1], got {keep}")
            if operations is not None and "BatchWriteItem" not in operations:
                raise ValueError("partial_batch only applies to BatchWriteItem")
        ops = frozenset(operations) if operations is not None else None
        rule = Rule(fault=fault, rate=rate, operations=ops, count=count, params=params)
        with self._lock:
            self._rules.append(rule)

    def clear_rules(self) -> None:
        """Remove all rules: every later request is forwarded unchanged."""
        with self._lock:
            self._rules.clear()

    @property
    def rules(self) -> list[Rule]:
        """Snapshot of the current rules (with their ``fired`` counters)."""
        with self._lock:
            return list(self._rules)

    @property
    def stats(self) -> dict[str, int]:
        """Snapshot of the counters.

        ``requests`` (received), ``forwarded`` (sent upstream),
        ``upstream_errors`` and one counter per fault kind (times injected).
        """
        with self._lock:
            return dict(self._stats)

    def reset_stats(self) -> None:
        """Zero all counters."""
        with self._lock:
            self._stats = {"requests": 0, "forwarded": 0, "upstream_errors": 0}
            self._stats.update(dict.fromkeys(FAULTS, 0))

    # -- internals used by the handler --------------------------------------

    def _count(self, key: str, n: int = 1) -> None:
        with self._lock:
            self._stats[key] = self._stats.get(key, 0) + n

    def _begin_request(self, operation: str | None) -> Rule | None:
        """Count a request and pick the rule that fires for it, if any."""
        with self._lock:
            self._stats["requests"] += 1
            for rule in self._rules:
                if not rule.eligible(operation):
                    continue
                if rule.rate >= 1.0 or self._rng.random() < rule.rate:
                    rule.fired += 1
                    self._stats[rule.fault] += 1
                    return rule
            return None

    def _track(self, sock: socket.socket, add: bool) -> None:
        with self._lock:
            if add:
                self._clients.add(sock)
            else:
                self._clients.discard(sock)

    def _new_upstream(self) -> http.client.HTTPConnection:
        cls = http.client.HTTPSConnection if self._upstream_scheme == "https" else http.client.HTTPConnection
        return cls(self._upstream_host, self._upstream_port, timeout=self.upstream_timeout)


class _ProxyServer(ThreadingHTTPServer):
    """ThreadingHTTPServer that knows its proxy and stays quiet on client drops."""

    daemon_threads = True
    request_queue_size = 128
    proxy: FaultProxy

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Log unexpected handler errors at debug level instead of stderr."""
        # Called by socketserver from inside its ``except`` block.
        log.debug("faultproxy: error handling %s\n%s", client_address, traceback.format_exc())


class _Handler(BaseHTTPRequestHandler):
    """Per-connection handler; keeps one upstream connection per client one."""

    protocol_version = "HTTP/1.1"
    timeout = 60  # idle keep-alive connections are dropped after this
    server: _ProxyServer

    def setup(self) -> None:
        """Register the client socket so ``stop`` can drop it."""
        super().setup()
        try:
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
        self._upstream: http.client.HTTPConnection | None = None
        self.server.proxy._track(self.connection, add=True)

    def finish(self) -> None:
        """Close the upstream connection and unregister the client socket."""
        try:
            super().finish()
        except OSError:
            pass
        finally:
            if self._upstream is not None:
                self._upstream.close()
            self.server.proxy._track(self.connection, add=False)

    def log_message(self, format: str, *args: Any) -> None:
        """Route the access log to ``logging`` at debug level."""
        log.debug("faultproxy: " + format, *args)

    # -- request entry point -----------------------------------------------

    def _handle(self) -> None:
        proxy = self.server.proxy
        body = self._read_body()
        if body is None:
            return
        operation = operation_from_target(self.headers.get("X-Amz-Target"))
        rule = proxy._begin_request(operation)
        if rule is None:
            self._forward_and_relay(body)
            return
        fault = rule.fault
        params = rule.params
        if fault in _ERROR_FAULTS:
            status, type_ = _ERROR_FAULTS[fault]
            if fault == "server_error":
                status = int(params.get("status", 500))
                type_ = _SERVER_ERROR_TYPES.get(status, type_)
            message = params.get("message") or _MESSAGES[fault]
            self._send_error_json(status, type_, message)
        elif fault == "reset_before":
            self._reset_client()
        elif fault == "reset_after":
            try:
                self._forward(body)
            except _UpstreamError:
                pass
            self._reset_client()
        elif fault == "delay":
            if proxy._stopping.wait(float(params["seconds"])):
                self.close_connection = True
                return
            self._forward_and_relay(body)
        elif fault == "partial_batch":
            self._partial_batch(body, float(params.get("keep", 0.5)))
        elif fault == "stale_read":
            self._stale_read(body, int(params.get("index", 0)))
        else:  # pragma: no cover - add_rule validates fault kinds
            self._forward_and_relay(body)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _handle

    # -- helpers -------------------------------------------------------------

    def _read_body(self) -> bytes | None:
        """Read the request body (Content-Length or chunked)."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                line = self.rfile.readline(65537)
                if not line:
                    self.close_connection = True
                    return None
                size = int(line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline(65537)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if len(body) != length:
            self.close_connection = True
            return None
        return body

    def _forward(self, body: bytes) -> _Response:
        """Send the request upstream (same method, path, headers and body)."""
        proxy = self.server.proxy
        for attempt in (0, 1):
            if self._upstream is None:
                self._upstream = proxy._new_upstream()
            conn = self._upstream
            reused = conn.sock is not None
            try:
                conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
                has_host = False
                for name, value in self.headers.items():
                    lname = name.lower()
                    if lname in _HOP_BY_HOP:
                        continue
                    has_host = has_host or lname == "host"
                    conn.putheader(name, value)
                if not has_host:
                    conn.putheader("Host", f"{conn.host}:{conn.port}")
                conn.putheader("Content-Length", str(len(body)))
                conn.endheaders(body)
                resp = conn.getresponse()
                data = resp.read()
            except (http.client.HTTPException, OSError) as exc:
                conn.close()
                self._upstream = None
                # A kept-alive upstream connection may have been closed while
                # idle: retry once on a fresh one; otherwise report failure.
                stale = isinstance(
                    exc,
                    (
                        http.client.RemoteDisconnected,
                        BrokenPipeError,
                        ConnectionResetError,
                    ),
                )
                if attempt == 0 and reused and stale:
                    continue
                proxy._count("upstream_errors")
                raise _UpstreamError(str(exc)) from exc
            proxy._count("forwarded")
            if resp.will_close:
                conn.close()
            return resp.status, resp.reason, resp.getheaders(), data
        raise AssertionError("unreachable")  # pragma: no cover

    def _forward_and_relay(self, body: bytes) -> None:
        try:
            status, reason, headers, data = self._forward(body)
        except _UpstreamError as exc:
            msg = f"faultproxy: upstream failed: {exc}".encode()
            self._send(502, "Bad Gateway", [("Content-Type", "text/plain")], msg)
            return
        self._send(status, reason, headers, data)

    def _send(
        self,
        status: int,
        reason: str | None,
        headers: list[tuple[str, str]],
        body: bytes,
    ) -> None:
        """Write a response; hop-by-hop headers are dropped, length recomputed.

        Head and body go out in one write, which avoids a Nagle/delayed-ACK
        stall of ~40 ms per response on keep-alive connections.
        """
        if reason is None:
            reason = self.responses.get(status, ("",))[0]
        lines = [f"{self.protocol_version} {status} {reason}"]
        for name, value in headers:
            lname = name.lower()
            if lname in _HOP_BY_HOP:
                continue
            lines.append(f"{name}: {value}")
        lines.append(f"Content-Length: {len(body)}")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "strict")
        self.log_request(status, len(body))
        try:
            self.wfile.write(head + body if self.command != "HEAD" else head)
            self.wfile.flush()
        except OSError:
            # The client went away (e.g. it timed out during a delay).
            self.close_connection = True

    def _send_error_json(self, status: int, type_: str, message: str) -> None:
        body = json.dumps({"__type": type_, "message": message}).encode()
        self._send_json(status, body)

    def _send_json(self, status: int, body: bytes) -> None:
        headers = [
            ("Content-Type", JSON_CONTENT_TYPE),
            ("x-amzn-RequestId", uuid.uuid4().hex.upper()),
            ("x-amz-crc32", crc32_header(body)),
        ]
        self._send(status, None, headers, body)

    def _reset_client(self) -> None:
        """Abort the client connection with a TCP RST (SO_LINGER 0, close)."""
        sock = self.connection
        self.close_connection = True
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        # rfile holds a reference on the socket: the fd is only really closed
        # (and the RST sent) once both are closed.  wfile is left open since
        # BaseHTTPRequestHandler flushes it after the handler returns.
        try:
            self.rfile.close()
        except OSError:
            pass
        sock.close()

    def _partial_batch(self, body: bytes, keep: float) -> None:
        """Forward only part of a BatchWriteItem; report the rest unprocessed."""
        try:
            doc = json.loads(body)
            request_items = doc["RequestItems"]
            flat = [(table, req) for table, reqs in request_items.items() for req in reqs]
        except (ValueError, KeyError, TypeError, AttributeError):
            self._forward_and_relay(body)
            return
        n = len(flat)
        if n == 0:
            self._forward_and_relay(body)
            return
        # At least one item forwarded and at least one withheld when n > 1.
        kept_n = 0 if n == 1 else min(n - 1, max(1, math.ceil(n * keep)))
        kept, withheld = flat[:kept_n], flat[kept_n:]

        if not kept:
            status, reason = 200, "OK"
            headers = [("Content-Type", JSON_CONTENT_TYPE)]
            result: dict[str, Any] = {}
        else:
            doc["RequestItems"] = _group(kept)
            try:
                status, reason, headers, data = self._forward(json.dumps(doc).encode())
            except _UpstreamError as exc:
                msg = f"faultproxy: upstream failed: {exc}".encode()
                self._send(502, "Bad Gateway", [("Content-Type", "text/plain")], msg)
                return
            if status != 200:
                self._send(status, reason, headers, data)
                return
            result = json.loads(data)
        unprocessed = result.get("UnprocessedItems") or {}
        for table, reqs in _group(withheld).items():
            unprocessed.setdefault(table, []).extend(reqs)
        result["UnprocessedItems"] = unprocessed
        self._send_rewritten(status, reason, headers, result)

    def _stale_read(self, body: bytes, index: int) -> None:
        """Forward a Query or Scan and answer without the page's item at ``index`` (when it has one)."""
        try:
            status, reason, headers, data = self._forward(body)
        except _UpstreamError as exc:
            msg = f"faultproxy: upstream failed: {exc}".encode()
            self._send(502, "Bad Gateway", [("Content-Type", "text/plain")], msg)
            return
        result = json.loads(data) if status == 200 else {}
        items = result.get("Items") or []
        if not -len(items) <= index < len(items):
            self._send(status, reason, headers, data)
            return
        del items[index]
        result["Count"] = len(items)
        self._send_rewritten(status, reason, headers, result)

    def _send_rewritten(self, status: int, reason: str, headers: list[tuple[str, str]], result: Any) -> None:
        """Send a response whose JSON body the proxy changed, with its checksum recomputed."""
        new_body = json.dumps(result).encode()
        headers = [(k, v) for k, v in headers if k.lower() != "x-amz-crc32"]
        if not any(k.lower() == "x-amzn-requestid" for k, _ in headers):
            headers.append(("x-amzn-RequestId", uuid.uuid4().hex.upper()))
        headers.append(("x-amz-crc32", crc32_header(new_body)))
        self._send(status, reason, headers, new_body)


def _group(items: list[tuple[str, Any]]) -> dict[str, list[Any]]:
    """[(table, request), ...] -> {table: [request, ...]} keeping order."""
    grouped: dict[str, list[Any]] = {}
    for table, req in items:
        grouped.setdefault(table, []).append(req)
    return grouped
