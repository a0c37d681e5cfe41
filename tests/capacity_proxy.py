"""Capacity-model HTTP proxy: DynamoDB Local behind AWS's write limits, scaled down.

DynamoDB Local writes as fast as its CPU allows; AWS does not. This proxy sits
between a client and DynamoDB Local and enforces the two limits that shape a
bulk load on AWS, with token buckets holding ``burst`` seconds of capacity:

- one partition key value accepts ``key_wcu`` write units per second (AWS: 1,000);
- a table accepts ``table_wcu`` units per second (AWS: about 4,000 for a new
  on-demand table).

The model's rules:

- a put costs ceil(size / 1 KB) units, the size counted by DynamoDB's
  documented rules (attribute names plus values; a number about one byte per
  two significant digits plus one), as ``sqlite2ddb.wire.item_size`` counts it;
- every GSI whose key attributes the item has is charged too, against the
  index's own per-key and per-index buckets (an index gets the table's
  limits), for the size of the item's entry in it (its projection: ALL, the
  keys, or the keys and the INCLUDE attributes);
- a delete costs 1 unit to the table and its key (stored items are not
  tracked, so neither their size nor their index entries are known);
- an UpdateItem costs the units of its key plus the values it sets
  (``ExpressionAttributeValues`` / ``AttributeUpdates``), to the table only:
  the item it leads to is not known here;
- an item that needs more units than some bucket holds is throttled and not
  charged; a bucket that is full lets an item bigger than it through (and goes
  into debt), so no item is refused for ever.

``BatchWriteItem``: the items that pass are forwarded, the others come back
in ``UnprocessedItems``; when none passes the answer is HTTP 400
``ProvisionedThroughputExceededException``, as for a throttled ``PutItem``,
``DeleteItem`` or ``UpdateItem``. Like AWS since 2025, that error carries
``ThrottlingReasons``: one ``{"reason", "resource"}`` per bucket that refused,
``<Table|Index>Write<limit>`` with the table's (or index's) ARN, the limit
``KeyRangeThroughputExceeded`` for a partition key's bucket and
``table_limit`` (default ``ProvisionedThroughputExceeded``; also
``AccountLimitExceeded`` or ``MaxOnDemandThroughputExceeded``) for a table's
or index's. ``reasons=False`` leaves them out, as before 2025.

``CreateTable`` and ``UpdateTable`` requests are recorded in ``table_requests``
(operation, then the request), so a test can see the ``WarmThroughput`` and
``OnDemandThroughput`` the tool sent. DynamoDB Local 3.3.0 ignores the first
and fails an UpdateTable of the second, so the proxy keeps both itself: it
takes them out of an UpdateTable (answering it alone when nothing else is
left) and adds them to every DescribeTable answer, with AWS's defaults for a
new on-demand table (12,000 read and 4,000 write units a second of warm
throughput, for the table and each GSI) until a higher value is set (a GSI's
through ``GlobalSecondaryIndexUpdates``). A lower warm throughput is refused
with a ValidationException, as AWS refuses it. Other operations (reads, transactions) are
forwarded unchanged and not charged. Key schemas and GSIs are learnt with a
``DescribeTable`` upstream on first sight of a table and cached; a
``CreateTable``, ``UpdateTable`` or ``DeleteTable`` drops the cached entry.
A batch cut down to its accepted items is forwarded with the client's
original signature, and the ``DescribeTable`` carries it too: the upstream is
meant to be DynamoDB Local (or moto), which do not check signatures.

``report()`` gives the lower bound of the load time the limits allow for the
units accepted so far: the maximum over the table and each GSI of
max(total units / table_wcu, hottest key's units / key_wcu), what sets it,
the hottest keys and the throttle counts. Typical use::

    with CapacityProxy(ddb_url, key_wcu=100, table_wcu=400) as proxy:
        client = boto3.client("dynamodb", endpoint_url=proxy.url, ...)
        ...
        print(proxy.report())

or as a process, printing the report as JSON when stopped by SIGINT/SIGTERM::

    python tests/capacity_proxy.py --upstream http://127.0.0.1:8000 --key-wcu 100 --table-wcu 400
"""

from __future__ import annotations

import argparse
import http.client
import json
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from faultproxy import (
    _DDB_PREFIX,
    _HOP_BY_HOP,
    _MESSAGES,
    FaultProxy,
    _group,
    _Handler,
    _ProxyServer,
    _UpstreamError,
    crc32_header,
    operation_from_target,
)

import cli as _checkout  # noqa: F401 - binds the name sqlite2ddb to this checkout's engine/
from sqlite2ddb.wire import item_size, write_units

__all__ = ["CapacityProxy", "IndexSchema", "TableSchema"]

THROTTLED = _DDB_PREFIX + "ProvisionedThroughputExceededException"
SINGLE_WRITES = frozenset({"PutItem", "DeleteItem", "UpdateItem"})
SCHEMA_CHANGES = frozenset({"CreateTable", "UpdateTable", "DeleteTable"})
PRUNE_EVERY_S = 10.0
TOP = 5

#: One charge: (where, partition key value or None for the whole table or index, units).
Charge = tuple[str, str | None, int]
TABLE_LIMITS = ("ProvisionedThroughputExceeded", "AccountLimitExceeded", "MaxOnDemandThroughputExceeded")
ARN_PREFIX = "arn:aws:dynamodb:us-east-1:000000000000:table/"
DEFAULT_WARM = {"ReadUnitsPerSecond": 12000, "WriteUnitsPerSecond": 4000}


def throttling_reason(where: str, key: str | None, table_limit: str) -> dict[str, str]:
    """The ThrottlingReason AWS sends for a refusing bucket: ``where`` is ``table`` or ``table.index``."""
    table, _, index = where.partition(".")
    kind = "Index" if index else "Table"
    limit = "KeyRangeThroughputExceeded" if key is not None else table_limit
    resource = ARN_PREFIX + table + (f"/index/{index}" if index else "")
    return {"reason": f"{kind}Write{limit}", "resource": resource}


@dataclass(frozen=True)
class IndexSchema:
    """A GSI as the model needs it: its keys and what it projects."""

    name: str
    keys: tuple[str, ...]  # hash key first, then the range key if any
    projection: str  # ALL, KEYS_ONLY or INCLUDE
    non_key: tuple[str, ...] = ()


@dataclass(frozen=True)
class TableSchema:
    """A table's key attributes (hash first) and its GSIs."""

    name: str
    keys: tuple[str, ...]
    indexes: tuple[IndexSchema, ...] = ()

    @classmethod
    def from_description(cls, table: dict[str, Any]) -> TableSchema:
        """Build from DescribeTable's ``Table``."""
        indexes = tuple(
            IndexSchema(
                name=gsi["IndexName"],
                keys=_key_names(gsi["KeySchema"]),
                projection=gsi.get("Projection", {}).get("ProjectionType", "ALL"),
                non_key=tuple(gsi.get("Projection", {}).get("NonKeyAttributes", ())),
            )
            for gsi in table.get("GlobalSecondaryIndexes") or ()
        )
        return cls(table["TableName"], _key_names(table["KeySchema"]), indexes)


def _key_names(schema: list[dict[str, str]]) -> tuple[str, ...]:
    return tuple(k["AttributeName"] for k in sorted(schema, key=lambda k: k["KeyType"] != "HASH"))


def key_text(wire: dict[str, Any]) -> str:
    """The partition key value as text: ``{"S": "PLAYLIST#1"}`` -> ``PLAYLIST#1``."""
    return str(next(iter(wire.values())))


def put_charges(schema: TableSchema, item: dict[str, Any]) -> list[Charge]:
    """What a put of ``item`` costs: the table and its key, and each GSI it feeds and its key there."""
    size = item_size(item)
    units = write_units(size)
    charges: list[Charge] = [(schema.name, None, units), (schema.name, key_text(item[schema.keys[0]]), units)]
    for index in schema.indexes:
        if any(name not in item for name in index.keys):
            continue
        entry = size if index.projection == "ALL" else item_size(_projected(item, schema, index))
        where = f"{schema.name}.{index.name}"
        charges += [(where, None, write_units(entry)), (where, key_text(item[index.keys[0]]), write_units(entry))]
    return charges


def _projected(item: dict[str, Any], schema: TableSchema, index: IndexSchema) -> dict[str, Any]:
    names = set(schema.keys) | set(index.keys) | set(index.non_key if index.projection == "INCLUDE" else ())
    return {k: v for k, v in item.items() if k in names}


def key_charges(schema: TableSchema, key: dict[str, Any], units: int = 1) -> list[Charge]:
    """What a delete (or an update) of ``key`` costs: ``units`` to the table and its key."""
    return [(schema.name, None, units), (schema.name, key_text(key[schema.keys[0]]), units)]


def update_units(request: dict[str, Any]) -> int:
    """Units of an UpdateItem: its key plus the values it sets (the resulting item is not known here)."""
    values = dict(request.get("Key") or {})
    values.update(request.get("ExpressionAttributeValues") or {})
    for name, update in (request.get("AttributeUpdates") or {}).items():
        if "Value" in update:
            values[name] = update["Value"]
    return write_units(item_size(values))


class _Buckets:
    """Token buckets per (where, key): ``rate`` units/s, ``burst`` seconds of capacity, full at first."""

    def __init__(self, rate: float, burst: float) -> None:
        self.rate = rate
        self.capacity = rate * burst
        self.state: dict[Any, list[float]] = {}  # slot -> [tokens, time of last refill]

    def tokens(self, slot: Any, now: float) -> list[float]:
        """The slot's bucket, refilled up to ``now``."""
        bucket = self.state.get(slot)
        if bucket is None:
            bucket = self.state[slot] = [self.capacity, now]
        else:
            bucket[0] = min(self.capacity, bucket[0] + (now - bucket[1]) * self.rate)
            bucket[1] = now
        return bucket

    def allows(self, bucket: list[float], units: int) -> bool:
        return bucket[0] >= units or bucket[0] >= self.capacity

    def prune(self, now: float) -> None:
        """Forget buckets that have refilled: a new one is the same."""
        full = [s for s, (t, last) in self.state.items() if t + (now - last) * self.rate >= self.capacity]
        for slot in full:
            del self.state[slot]


class CapacityProxy(FaultProxy):
    """Threaded HTTP proxy that throttles writes by AWS's per-key and per-table write limits."""

    def __init__(
        self,
        upstream_url: str,
        key_wcu: float = 1000.0,
        table_wcu: float = 4000.0,
        burst: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        report_to: TextIO | None = None,
        reasons: bool = True,
        table_limit: str = "ProvisionedThroughputExceeded",
    ) -> None:
        if key_wcu <= 0 or table_wcu <= 0 or burst <= 0:
            raise ValueError("key_wcu, table_wcu and burst must be > 0")
        if table_limit not in TABLE_LIMITS:
            raise ValueError(f"table_limit must be one of {', '.join(TABLE_LIMITS)}")
        super().__init__(upstream_url)
        self.reasons, self.table_limit = reasons, table_limit
        self.table_requests: list[tuple[str, dict[str, Any]]] = []
        self.throughput: dict[str, dict[str, dict[str, int]]] = {}  # table -> WarmThroughput / OnDemandThroughput
        self.key_wcu, self.table_wcu, self.burst = float(key_wcu), float(table_wcu), float(burst)
        self.clock = clock
        self.report_to = report_to
        self._keys = _Buckets(self.key_wcu, self.burst)
        self._wholes = _Buckets(self.table_wcu, self.burst)
        self._schemas: dict[str, TableSchema] = {}
        self._units: dict[tuple[str, str | None], int] = {}
        self.accepted: list[tuple[str, str | None]] = []  # (table or index, key) of each item, in order
        self._counts = {"requests": 0, "items_accepted": 0, "items_throttled": 0, "requests_throttled": 0}
        self._pruned_at = clock()

    # -- lifecycle ---------------------------------------------------------

    def start(self, port: int = 0) -> None:
        """Bind 127.0.0.1 on ``port`` (0: a free one) and serve in a background thread."""
        if self._server is not None:
            raise RuntimeError("proxy already started")
        self._stopping.clear()
        server = _ProxyServer(("127.0.0.1", port), _CapacityHandler)
        server.proxy = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"capacityproxy-{server.server_address[1]}",
            daemon=True,
        )
        self._thread.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
        if self.report_to is not None:
            print(json.dumps(self.report(), indent=1), file=self.report_to, flush=True)

    # -- the model -----------------------------------------------------------

    def schema(self, table: str, describe: Callable[[str], dict[str, Any] | None]) -> TableSchema | None:
        """The table's schema, from the cache or ``describe`` (None when the table is not there)."""
        with self._lock:
            known = self._schemas.get(table)
        if known is not None:
            return known
        description = describe(table)
        if description is None:
            return None
        schema = TableSchema.from_description(description)
        with self._lock:
            self._schemas[table] = schema
        return schema

    def forget(self, table: str) -> None:
        """Drop the cached schema of ``table`` (it was created, changed or deleted)."""
        with self._lock:
            self._schemas.pop(table, None)

    def admit(self, charges: list[Charge]) -> bool:
        """Take every charge's units if every bucket it needs has them; count the item either way."""
        return not self.refusals(charges)

    def refusals(self, charges: list[Charge]) -> list[dict[str, str]]:
        """``admit``, answered with the ThrottlingReasons of the buckets that refused ([] when admitted)."""
        with self._lock:
            now = self.clock()
            buckets = []
            for where, key, units in charges:
                kind = self._wholes if key is None else self._keys
                buckets.append((kind, kind.tokens((where, key), now), units))
            refused = [
                throttling_reason(where, key, self.table_limit)
                for (where, key, _), (kind, bucket, units) in zip(charges, buckets)
                if not kind.allows(bucket, units)
            ]
            if refused:
                self._counts["items_throttled"] += 1
                return refused
            for _, bucket, units in buckets:
                bucket[0] -= units
            for where, key, units in charges:
                self._units[(where, key)] = self._units.get((where, key), 0) + units
            self._counts["items_accepted"] += 1
            self.accepted.append(charges[1][:2] if len(charges) > 1 else charges[0][:2])
            if now - self._pruned_at >= PRUNE_EVERY_S:
                self._keys.prune(now)
                self._pruned_at = now
            return []

    def accepted_keys(self, table: str) -> list[str]:
        """The partition key of every item ``table`` accepted, in the order it accepted them."""
        with self._lock:
            return [key for where, key in self.accepted if where == table and key is not None]

    def _tally(self, name: str, n: int = 1) -> None:
        with self._lock:
            self._counts[name] += n

    # -- the report ----------------------------------------------------------

    def report(self) -> dict[str, Any]:
        """The lower bound of the load time at these limits, what sets it, the hottest keys and the counts."""
        with self._lock:
            units = dict(self._units)
            counts = dict(self._counts)
        totals = {where: n for (where, key), n in units.items() if key is None}
        keys = sorted((-n, where, key) for (where, key), n in units.items() if key is not None)
        hottest: dict[str, tuple[str, int]] = {}
        for n, where, key in keys:  # the most units first; of equals, the first key by name
            hottest.setdefault(where, (key, -n))
        per_index, bound, set_by = [], 0.0, "nothing written"
        for where in sorted(totals):
            key, key_units = hottest.get(where, ("", 0))
            whole_s, key_s = totals[where] / self.table_wcu, key_units / self.key_wcu
            seconds = round(max(whole_s, key_s), 3)
            per_index.append(
                {
                    "where": where,
                    "units": totals[where],
                    "hottest_key": key,
                    "hottest_units": key_units,
                    "seconds": seconds,
                }
            )
            if whole_s > bound:
                bound, set_by = whole_s, f"{where}: {totals[where]} units at {self.table_wcu:g}/s"
            if key_s > bound:
                bound, set_by = key_s, f"{where}: key {key} ({key_units} units at {self.key_wcu:g}/s)"
        return {
            "limits": {"key_wcu": self.key_wcu, "table_wcu": self.table_wcu, "burst_s": self.burst},
            "lower_bound_s": round(bound, 3),
            "set_by": set_by,
            "hottest_keys": [{"where": w, "key": k, "units": -n} for n, w, k in keys[:TOP]],
            "per_index": per_index,
            **counts,
        }


def _index_warm_updates(doc: dict[str, Any]) -> list[tuple[str, dict[str, int]]]:
    """Take the GSIs' WarmThroughput out of an UpdateTable request: (index, warm throughput) each."""
    taken, left = [], []
    for update in doc.get("GlobalSecondaryIndexUpdates") or []:
        action = update.get("Update") if isinstance(update, dict) else None
        if isinstance(action, dict) and "WarmThroughput" in action:
            taken.append((str(action.get("IndexName")), action.pop("WarmThroughput")))
            if set(action) == {"IndexName"}:
                continue
        left.append(update)
    if "GlobalSecondaryIndexUpdates" in doc:
        if left:
            doc["GlobalSecondaryIndexUpdates"] = left
        else:
            del doc["GlobalSecondaryIndexUpdates"]
    return taken


class _CapacityHandler(_Handler):
    """Forwards every request; charges writes and throttles those the buckets cannot pay for."""

    server: Any  # _ProxyServer whose proxy is a CapacityProxy

    def _handle(self) -> None:
        proxy: CapacityProxy = self.server.proxy
        body = self._read_body()
        if body is None:
            return
        proxy._tally("requests")
        operation = operation_from_target(self.headers.get("X-Amz-Target"))
        try:
            doc = (
                json.loads(body)
                if operation == "BatchWriteItem" or operation in SINGLE_WRITES | SCHEMA_CHANGES
                else None
            )
        except ValueError:
            doc = None
        if operation in ("CreateTable", "UpdateTable") and isinstance(doc, dict):
            with proxy._lock:
                proxy.table_requests.append((operation, json.loads(body)))
            if self._throughput_settings(operation, doc):
                return
            body = json.dumps(doc).encode()
        if operation == "DescribeTable":
            self._describe_with_throughput(body)
        elif operation == "BatchWriteItem" and isinstance(doc, dict):
            self._batch(doc, body)
        elif operation in SINGLE_WRITES and isinstance(doc, dict):
            self._single(operation, doc, body)
        else:
            self._forward_and_relay(body)
            if operation in SCHEMA_CHANGES:
                self._forget(body)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _handle

    def _throughput_settings(self, operation: str, doc: dict[str, Any]) -> bool:
        """Keep WarmThroughput and OnDemandThroughput here; True when the request was answered."""
        proxy: CapacityProxy = self.server.proxy
        table = str(doc.get("TableName", ""))
        kept = proxy.throughput.setdefault(table, {}) if operation == "UpdateTable" else {}
        warm = doc.pop("WarmThroughput", None) if operation == "UpdateTable" else doc.get("WarmThroughput")
        cap = doc.pop("OnDemandThroughput", None) if operation == "UpdateTable" else None
        wanted = [("WarmThroughput", warm)] if warm else []
        wanted += [(f"index/{i}", w) for i, w in _index_warm_updates(doc)] if operation == "UpdateTable" else []
        for slot, asked in wanted:
            now = {**DEFAULT_WARM, **kept.get(slot, {})}
            if any(asked.get(k, now[k]) < now[k] for k in now):
                self._send_error_json(400, _DDB_PREFIX + "ValidationException", "warm throughput cannot be lowered")
                return True
            kept[slot] = {k: max(now[k], asked.get(k, 0)) for k in now}
        if cap:
            kept["OnDemandThroughput"] = {**kept.get("OnDemandThroughput", {}), **cap}
        if operation == "CreateTable":
            proxy.throughput[table] = kept
            return False
        if set(doc) - {"TableName"}:
            return False  # something else to change: forwarded without the two settings
        description = self._describe(table)
        if description is None:
            self._send_error_json(400, _DDB_PREFIX + "ResourceNotFoundException", "Requested resource not found")
            return True
        self._send_json(200, json.dumps({"TableDescription": self._patched(description)}).encode())
        return True

    def _patched(self, table: dict[str, Any]) -> dict[str, Any]:
        kept = self.server.proxy.throughput.get(table.get("TableName", ""), {})
        table["WarmThroughput"] = {**DEFAULT_WARM, **kept.get("WarmThroughput", {}), "Status": "ACTIVE"}
        for index in table.get("GlobalSecondaryIndexes") or ():
            warm = kept.get(f"index/{index['IndexName']}", {})
            index["WarmThroughput"] = {**DEFAULT_WARM, **warm, "Status": "ACTIVE"}
        if kept.get("OnDemandThroughput"):
            table["OnDemandThroughput"] = {**table.get("OnDemandThroughput", {}), **kept["OnDemandThroughput"]}
        return table

    def _describe_with_throughput(self, body: bytes) -> None:
        try:
            status, reason, headers, data = self._forward(body)
        except _UpstreamError as exc:
            self._send(502, "Bad Gateway", [("Content-Type", "text/plain")], f"upstream failed: {exc}".encode())
            return
        if status != 200:
            self._send(status, reason, headers, data)
            return
        answer = json.loads(data)
        answer["Table"] = self._patched(answer["Table"])
        self._send_json(200, json.dumps(answer).encode())

    def _forget(self, body: bytes) -> None:
        try:
            self.server.proxy.forget(json.loads(body)["TableName"])
        except (ValueError, KeyError, TypeError):
            pass

    def _describe(self, table: str) -> dict[str, Any] | None:
        """DescribeTable upstream with the client's own headers (DynamoDB Local does not check signatures)."""
        proxy: CapacityProxy = self.server.proxy
        body = json.dumps({"TableName": table}).encode()
        skip = _HOP_BY_HOP | {"x-amz-target", "host", "x-amz-content-sha256"}
        headers = {k: v for k, v in self.headers.items() if k.lower() not in skip}
        headers["X-Amz-Target"] = "DynamoDB_20120810.DescribeTable"
        conn = proxy._new_upstream()
        try:
            conn.request("POST", "/", body=body, headers=headers)
            response = conn.getresponse()
            data = response.read()
        except (http.client.HTTPException, OSError):
            return None
        finally:
            conn.close()
        return json.loads(data).get("Table") if response.status == 200 else None

    def _charges(self, operation: str, table: str, request: dict[str, Any]) -> list[Charge]:
        """The charges of one write request (none when the table is unknown: upstream will say so)."""
        schema = self.server.proxy.schema(table, self._describe)
        if schema is None:
            return []
        if operation == "PutItem":
            return put_charges(schema, request["Item"])
        if operation == "DeleteItem":
            return key_charges(schema, request["Key"])
        return key_charges(schema, request["Key"], update_units(request))

    def _single(self, operation: str, doc: dict[str, Any], body: bytes) -> None:
        try:
            charges = self._charges(operation, doc["TableName"], doc)
        except (KeyError, TypeError, IndexError, AttributeError):
            charges = []  # malformed: upstream answers it
        refused = self.server.proxy.refusals(charges)
        if not refused:
            self._forward_and_relay(body)
        else:
            self.server.proxy._tally("requests_throttled")
            self._throttled(refused)

    def _throttled(self, refused: list[dict[str, str]]) -> None:
        """HTTP 400 ProvisionedThroughputExceededException, with the ThrottlingReasons unless told not to."""
        doc: dict[str, Any] = {"__type": THROTTLED, "message": _MESSAGES["throttle"]}
        if self.server.proxy.reasons:
            doc["ThrottlingReasons"] = [dict(t) for t in {tuple(sorted(r.items())) for r in refused}]
        self._send_json(400, json.dumps(doc).encode())

    def _batch(self, doc: dict[str, Any], body: bytes) -> None:
        """Forward the items the buckets pay for; the rest go back in UnprocessedItems."""
        proxy: CapacityProxy = self.server.proxy
        try:
            flat = [(table, req) for table, reqs in doc["RequestItems"].items() for req in reqs]
            verdicts = [proxy.refusals(self._request_charges(table, req)) for table, req in flat]
        except (KeyError, TypeError, IndexError, AttributeError):
            self._forward_and_relay(body)  # malformed: upstream answers it
            return
        accepted = [pair for pair, refused in zip(flat, verdicts) if not refused]
        throttled = [pair for pair, refused in zip(flat, verdicts) if refused]
        if not throttled:
            self._forward_and_relay(body)
            return
        if not accepted:
            proxy._tally("requests_throttled")
            self._throttled([reason for refused in verdicts for reason in refused])
            return
        doc["RequestItems"] = _group(accepted)
        try:
            status, reason, headers, data = self._forward(json.dumps(doc).encode())
        except _UpstreamError as exc:
            self._send(502, "Bad Gateway", [("Content-Type", "text/plain")], f"upstream failed: {exc}".encode())
            return
        if status != 200:
            self._send(status, reason, headers, data)
            return
        self._relay_with_unprocessed(headers, json.loads(data), throttled)

    def _request_charges(self, table: str, request: dict[str, Any]) -> list[Charge]:
        if "PutRequest" in request:
            return self._charges("PutItem", table, request["PutRequest"])
        return self._charges("DeleteItem", table, request["DeleteRequest"])

    def _relay_with_unprocessed(
        self, headers: Iterable[tuple[str, str]], result: dict[str, Any], throttled: list[tuple[str, Any]]
    ) -> None:
        unprocessed = result.get("UnprocessedItems") or {}
        for table, reqs in _group(throttled).items():
            unprocessed.setdefault(table, []).extend(reqs)
        result["UnprocessedItems"] = unprocessed
        new_body = json.dumps(result).encode()
        kept = [(k, v) for k, v in headers if k.lower() != "x-amz-crc32"]
        self._send(200, "OK", [*kept, ("x-amz-crc32", crc32_header(new_body))], new_body)


def main(argv: list[str] | None = None) -> int:
    """Serve until SIGINT or SIGTERM, then print the report as JSON on stdout."""
    ap = argparse.ArgumentParser(description="DynamoDB capacity-model proxy (AWS write limits, scaled).")
    ap.add_argument("--upstream", required=True, help="DynamoDB endpoint to forward to, e.g. DynamoDB Local")
    ap.add_argument("--key-wcu", type=float, default=1000.0, help="write units/s per partition key (AWS: 1000)")
    ap.add_argument("--table-wcu", type=float, default=4000.0, help="write units/s per table and GSI (AWS: ~4000)")
    ap.add_argument("--burst", type=float, default=1.0, help="seconds of capacity a bucket holds (default 1)")
    ap.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: a free one)")
    ap.add_argument("--table-limit", default="ProvisionedThroughputExceeded", choices=TABLE_LIMITS)
    ap.add_argument("--no-reasons", action="store_true", help="send no ThrottlingReasons (DynamoDB before 2025)")
    args = ap.parse_args(argv)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    proxy = CapacityProxy(
        args.upstream,
        key_wcu=args.key_wcu,
        table_wcu=args.table_wcu,
        burst=args.burst,
        reasons=not args.no_reasons,
        table_limit=args.table_limit,
    )
    proxy.start(args.port)
    print(f"capacity proxy on {proxy.url}", flush=True)
    while not stop.wait(0.2):
        pass
    proxy.stop()
    print(json.dumps(proxy.report(), indent=1), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
