"""Tests for tests/faultproxy.py against a real DynamoDB Local and real boto3.

Every fault is checked as a boto3 client sees it: error codes and HTTP status
for injected errors, botocore's exception classes for dropped connections and
timeouts, and the table contents for what did or did not get written.
"""

from __future__ import annotations

import socket
import subprocess
import threading
import time
import uuid
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import botocore.config
import botocore.exceptions
import pytest
from faultproxy import FaultProxy

DDB_DIR = Path(__file__).resolve().parent.parent / ".tools/dynamodb-local-10.3.0/lib/dynamodb_local_2026-01-16"
TABLE = "faultproxy_items"
TABLE2 = "faultproxy_items2"

ClientFactory = Callable[..., Any]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# botocore's ``retries={"max_attempts": N}`` counts *retries*: it becomes
# ``total_max_attempts = N + 1``.  A single attempt needs ``total_max_attempts``.
ONE_ATTEMPT = {"total_max_attempts": 1, "mode": "standard"}


def _client(endpoint_url: str, **config: Any) -> Any:
    """A DynamoDB client with one attempt and 10 s timeouts (overridable).

    Room for a loaded machine (pytest-xdist workers, a cold JVM's first query); the tests of
    the client's own timeout set theirs.
    """
    settings: dict[str, Any] = {
        "retries": dict(ONE_ATTEMPT),
        "read_timeout": 10,
        "connect_timeout": 10,
    }
    settings.update(config)
    return boto3.client(
        "dynamodb",
        endpoint_url=endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="fake",
        aws_secret_access_key="fake",
        config=botocore.config.Config(**settings),
    )


@pytest.fixture(scope="module")
def ddb_local_url() -> Iterator[str]:
    """Start DynamoDB Local (in memory) for this module; yield its URL."""
    jar = DDB_DIR / "DynamoDBLocal.jar"
    if not jar.exists():
        pytest.fail(f"DynamoDB Local jar not found at {jar}")
    port = _free_port()
    cmd = [
        "java",
        f"-Djava.library.path={DDB_DIR / 'DynamoDBLocal_lib'}",
        "-jar",
        "DynamoDBLocal.jar",
        "-inMemory",
        "-sharedDb",
        "-port",
        str(port),
    ]
    proc = subprocess.Popen(cmd, cwd=DDB_DIR, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        client = _client(url, read_timeout=5, connect_timeout=2)  # a loaded machine starts the JVM slowly
        deadline = time.monotonic() + 180
        while True:
            try:
                client.list_tables()
                break
            except botocore.exceptions.BotoCoreError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"DynamoDB Local did not start (rc={proc.poll()})")
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def direct(ddb_local_url: str) -> Any:
    """Client talking to DynamoDB Local directly, with two tables created."""
    client = _client(ddb_local_url, read_timeout=10)
    for name in (TABLE, TABLE2):
        client.create_table(
            TableName=name,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
    return client


@pytest.fixture
def proxy(ddb_local_url: str, direct: Any) -> Iterator[FaultProxy]:
    """A started FaultProxy in front of DynamoDB Local."""
    with FaultProxy(ddb_local_url, seed=1234) as p:
        yield p


@pytest.fixture
def client(proxy: FaultProxy) -> Any:
    """boto3 client going through the proxy (1 attempt, 10 s timeouts)."""
    return _client(proxy.url)


def _key() -> str:
    return uuid.uuid4().hex


def _item(pk: str, **extra: str) -> dict[str, Any]:
    item = {"pk": {"S": pk}}
    item.update({k: {"S": v} for k, v in extra.items()})
    return item


def _exists(direct: Any, pk: str, table: str = TABLE) -> bool:
    resp = direct.get_item(TableName=table, Key={"pk": {"S": pk}}, ConsistentRead=True)
    return "Item" in resp


# -- pass-through -------------------------------------------------------------


def test_passthrough_create_put_get(proxy: FaultProxy, client: Any) -> None:
    name = f"pt_{_key()}"
    client.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    assert name in client.list_tables()["TableNames"]
    client.put_item(TableName=name, Item=_item("a", v="1"))
    got = client.get_item(TableName=name, Key={"pk": {"S": "a"}})
    assert got["Item"] == _item("a", v="1")
    # An upstream error is relayed unchanged.
    with pytest.raises(botocore.exceptions.ClientError) as err:
        client.get_item(TableName="no_such_table", Key={"pk": {"S": "a"}})
    assert err.value.response["Error"]["Code"] == "ResourceNotFoundException"
    client.delete_table(TableName=name)
    stats = proxy.stats
    assert stats["requests"] == stats["forwarded"] == 6
    assert all(stats[k] == 0 for k in ("throttle", "reset_before", "partial_batch"))


def test_passthrough_concurrent_keepalive(proxy: FaultProxy, direct: Any) -> None:
    """Several threads, each with its own pooled keep-alive client, no errors."""
    errors: list[BaseException] = []
    per_thread = 25

    def work(prefix: str) -> None:
        c = _client(proxy.url, read_timeout=5)
        try:
            for i in range(per_thread):
                pk = f"{prefix}-{i}"
                c.put_item(TableName=TABLE, Item=_item(pk, v=str(i)))
                got = c.get_item(TableName=TABLE, Key={"pk": {"S": pk}})
                assert got["Item"]["v"]["S"] == str(i)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(_key(),)) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not errors, errors
    assert proxy.stats["forwarded"] == 6 * per_thread * 2


def test_concurrent_mixed_faults(proxy: FaultProxy, direct: Any) -> None:
    """Under several threads every call either succeeds or fails as expected."""
    proxy.add_rule("partial_batch", rate=0.5)
    proxy.add_rule("reset_before", rate=0.1)
    proxy.add_rule("reset_after", rate=0.1)
    proxy.add_rule("throttle", rate=0.2)
    expected = (
        botocore.exceptions.ClientError,
        botocore.exceptions.ConnectionClosedError,
    )
    outcomes: list[str] = []
    unexpected: list[BaseException] = []
    lock = threading.Lock()

    def work(prefix: str) -> None:
        c = _client(proxy.url, read_timeout=5)
        for i in range(20):
            try:
                if i % 2:
                    c.batch_write_item(RequestItems={TABLE: _puts([f"{prefix}-{i}-a", f"{prefix}-{i}-b"])})
                else:
                    c.get_item(TableName=TABLE, Key={"pk": {"S": prefix}})
                result = "ok"
            except expected as exc:
                result = type(exc).__name__
            except BaseException as exc:  # noqa: BLE001 - reported below
                unexpected.append(exc)
                result = "unexpected"
            with lock:
                outcomes.append(result)

    threads = [threading.Thread(target=work, args=(_key(),)) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not unexpected, unexpected
    assert len(outcomes) == 120
    stats = proxy.stats
    assert stats["requests"] == 120
    injected = sum(stats[k] for k in ("partial_batch", "reset_before", "reset_after"))
    assert stats["requests"] == injected + stats["throttle"] + (
        stats["forwarded"] - stats["reset_after"] - stats["partial_batch"]
    )
    assert outcomes.count("ConnectionClosedError") == (stats["reset_before"] + stats["reset_after"])


# -- injected errors -------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "params", "code", "status"),
    [
        ("throttle", {}, "ProvisionedThroughputExceededException", 400),
        ("throttling", {}, "ThrottlingException", 400),
        ("request_limit", {}, "RequestLimitExceeded", 400),
        ("server_error", {}, "InternalServerError", 500),
        ("server_error", {"status": 503}, "ServiceUnavailable", 503),
        ("access_denied", {}, "AccessDeniedException", 400),
    ],
)
def test_error_faults(
    proxy: FaultProxy,
    client: Any,
    direct: Any,
    fault: str,
    params: dict[str, Any],
    code: str,
    status: int,
) -> None:
    proxy.add_rule(fault, **params)
    pk = _key()
    with pytest.raises(botocore.exceptions.ClientError) as err:
        client.put_item(TableName=TABLE, Item=_item(pk))
    resp = err.value.response
    assert resp["Error"]["Code"] == code
    assert resp["Error"]["Message"]
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == status
    assert not _exists(direct, pk)
    assert proxy.stats[fault] == 1
    assert proxy.stats["forwarded"] == 0


def test_throttle_is_modeled_exception(proxy: FaultProxy, client: Any) -> None:
    """botocore maps the __type onto the modeled exception class."""
    proxy.add_rule("throttle")
    with pytest.raises(client.exceptions.ProvisionedThroughputExceededException):
        client.get_item(TableName=TABLE, Key={"pk": {"S": "x"}})


# -- connection faults -------------------------------------------------------------


def test_reset_before(proxy: FaultProxy, client: Any, direct: Any) -> None:
    client.list_tables()  # warm a keep-alive connection first
    proxy.add_rule("reset_before", operations={"PutItem"})
    pk = _key()
    # urllib3 raises ProtocolError("Connection aborted.", ConnectionResetError)
    # which botocore wraps as ConnectionClosedError (an HTTPClientError, not
    # an EndpointConnectionError: the TCP connect itself succeeded).
    with pytest.raises(botocore.exceptions.ConnectionClosedError) as err:
        client.put_item(TableName=TABLE, Item=_item(pk))
    assert isinstance(err.value.kwargs["error"].args[1], ConnectionResetError)
    assert not _exists(direct, pk)
    assert proxy.stats["reset_before"] == 1
    # The client recovers on a fresh connection once the rule is gone.
    proxy.clear_rules()
    client.put_item(TableName=TABLE, Item=_item(pk))
    assert _exists(direct, pk)


def test_reset_before_fresh_connection(proxy: FaultProxy, client: Any, direct: Any) -> None:
    proxy.add_rule("reset_before")
    pk = _key()
    with pytest.raises(botocore.exceptions.ConnectionClosedError):
        client.put_item(TableName=TABLE, Item=_item(pk))
    assert not _exists(direct, pk)


def test_reset_after(proxy: FaultProxy, client: Any, direct: Any) -> None:
    proxy.add_rule("reset_after")
    pk = _key()
    with pytest.raises(botocore.exceptions.ConnectionClosedError):
        client.put_item(TableName=TABLE, Item=_item(pk))
    assert _exists(direct, pk), "the write must have reached DynamoDB"
    assert proxy.stats["reset_after"] == 1
    assert proxy.stats["forwarded"] == 1


def test_delay_past_read_timeout(proxy: FaultProxy, direct: Any) -> None:
    client = _client(proxy.url, read_timeout=1)
    proxy.add_rule("delay", seconds=1.5)
    pk = _key()
    start = time.monotonic()
    with pytest.raises(botocore.exceptions.ReadTimeoutError):
        client.put_item(TableName=TABLE, Item=_item(pk))
    assert time.monotonic() - start < 1.5
    # The delayed request is still forwarded after the client gave up.
    deadline = time.monotonic() + 5
    while not _exists(direct, pk):
        assert time.monotonic() < deadline, "delayed write never arrived"
        time.sleep(0.05)
    assert proxy.stats["delay"] == 1


def test_delay_below_read_timeout(proxy: FaultProxy, client: Any) -> None:
    proxy.add_rule("delay", seconds=0.2)
    start = time.monotonic()
    client.list_tables()
    assert time.monotonic() - start >= 0.2


# -- partial batch -------------------------------------------------------------


def _puts(pks: list[str]) -> list[dict[str, Any]]:
    return [{"PutRequest": {"Item": _item(pk, v="x")}} for pk in pks]


def test_partial_batch(proxy: FaultProxy, client: Any, direct: Any) -> None:
    proxy.add_rule("partial_batch")
    pks = [_key() for _ in range(6)]
    puts = _puts(pks)
    resp = client.batch_write_item(RequestItems={TABLE: puts})
    assert resp["UnprocessedItems"] == {TABLE: puts[3:]}
    assert [_exists(direct, pk) for pk in pks] == [True] * 3 + [False] * 3
    assert proxy.stats["partial_batch"] == 1
    assert proxy.stats["forwarded"] == 1


def test_partial_batch_two_tables_keep(proxy: FaultProxy, client: Any, direct: Any) -> None:
    """Items are flattened in request order; keep=0.25 of 6 keeps 2."""
    proxy.add_rule("partial_batch", keep=0.25)
    a = [_key() for _ in range(3)]
    b = [_key() for _ in range(3)]
    resp = client.batch_write_item(RequestItems={TABLE: _puts(a), TABLE2: _puts(b)})
    assert resp["UnprocessedItems"] == {TABLE: _puts(a)[2:], TABLE2: _puts(b)}
    assert [_exists(direct, pk) for pk in a] == [True, True, False]
    assert not any(_exists(direct, pk, TABLE2) for pk in b)


def test_partial_batch_single_item_forwards_nothing(proxy: FaultProxy, client: Any, direct: Any) -> None:
    proxy.add_rule("partial_batch")
    pk = _key()
    direct.put_item(TableName=TABLE, Item=_item(pk))
    deletes = [{"DeleteRequest": {"Key": {"pk": {"S": pk}}}}]
    resp = client.batch_write_item(RequestItems={TABLE: deletes})
    assert resp["UnprocessedItems"] == {TABLE: deletes}
    assert _exists(direct, pk)
    assert proxy.stats["forwarded"] == 0


def test_partial_batch_response_integrity(proxy: FaultProxy, direct: Any) -> None:
    """Content-Length and x-amz-crc32 match the rewritten body.

    botocore only verifies x-amz-crc32 in the "legacy" retry mode, so the
    client here uses it: a wrong CRC would raise ChecksumError.
    """
    legacy = _client(proxy.url, retries={"total_max_attempts": 1, "mode": "legacy"})
    seen: dict[str, Any] = {}

    def capture(http_response: Any, **_: Any) -> None:
        seen["headers"] = dict(http_response.headers)
        seen["body"] = http_response.content

    legacy.meta.events.register("after-call.dynamodb.BatchWriteItem", capture)
    proxy.add_rule("partial_batch", keep=0.5)
    pks = [_key() for _ in range(4)]
    resp = legacy.batch_write_item(RequestItems={TABLE: _puts(pks)})
    assert resp["UnprocessedItems"] == {TABLE: _puts(pks)[2:]}
    headers = {k.lower(): v for k, v in seen["headers"].items()}
    assert int(headers["content-length"]) == len(seen["body"])
    assert int(headers["x-amz-crc32"]) == zlib.crc32(seen["body"]) & 0xFFFFFFFF


def test_partial_batch_only_matches_batch_write(proxy: FaultProxy, client: Any) -> None:
    proxy.add_rule("partial_batch")
    client.put_item(TableName=TABLE, Item=_item(_key()))
    assert proxy.stats["partial_batch"] == 0
    assert proxy.stats["forwarded"] == 1


# -- rule selection -------------------------------------------------------------


def _throttled(client: Any, n: int) -> list[bool]:
    out = []
    for _ in range(n):
        try:
            client.get_item(TableName=TABLE, Key={"pk": {"S": "rate"}})
            out.append(False)
        except botocore.exceptions.ClientError as exc:
            assert exc.response["Error"]["Code"] == ("ProvisionedThroughputExceededException")
            out.append(True)
    return out


def test_rate(proxy: FaultProxy, client: Any) -> None:
    proxy.add_rule("throttle", rate=0.3)
    fired = sum(_throttled(client, 200))
    assert 30 <= fired <= 90
    assert proxy.stats["throttle"] == fired
    assert proxy.stats["forwarded"] == 200 - fired


def test_rate_is_seeded(ddb_local_url: str, direct: Any) -> None:
    patterns = []
    for _ in range(2):
        with FaultProxy(ddb_local_url, seed=7) as p:
            p.add_rule("throttle", rate=0.5)
            patterns.append(_throttled(_client(p.url), 30))
    assert patterns[0] == patterns[1]
    assert 0 < sum(patterns[0]) < 30


def test_max_attempts_counts_retries(proxy: FaultProxy) -> None:
    """``retries={"max_attempts": 1}`` means one retry: two requests reach us."""
    c = _client(proxy.url, retries={"max_attempts": 1, "mode": "standard"})
    proxy.add_rule("server_error")
    with pytest.raises(botocore.exceptions.ClientError) as err:
        c.list_tables()
    assert err.value.response["ResponseMetadata"]["RetryAttempts"] == 1
    assert proxy.stats["server_error"] == 2


def test_count_limits_firings(proxy: FaultProxy, client: Any) -> None:
    proxy.add_rule("throttle", count=2)
    assert _throttled(client, 5) == [True, True, False, False, False]
    assert proxy.stats["throttle"] == 2
    assert proxy.rules[0].fired == 2


def test_operations_filter(proxy: FaultProxy, client: Any, direct: Any) -> None:
    proxy.add_rule("throttle", operations={"PutItem"})
    pk = _key()
    with pytest.raises(botocore.exceptions.ClientError) as err:
        client.put_item(TableName=TABLE, Item=_item(pk))
    assert err.value.response["Error"]["Code"] == ("ProvisionedThroughputExceededException")
    client.get_item(TableName=TABLE, Key={"pk": {"S": pk}})
    client.list_tables()
    assert proxy.stats["throttle"] == 1
    assert proxy.stats["forwarded"] == 2


def test_first_firing_rule_wins(proxy: FaultProxy, client: Any) -> None:
    proxy.add_rule("throttle", rate=0.0)  # never fires, falls through
    proxy.add_rule("throttling", operations={"GetItem"})
    proxy.add_rule("server_error")
    with pytest.raises(botocore.exceptions.ClientError) as err:
        client.get_item(TableName=TABLE, Key={"pk": {"S": "x"}})
    assert err.value.response["Error"]["Code"] == "ThrottlingException"
    with pytest.raises(botocore.exceptions.ClientError) as err:
        client.list_tables()
    assert err.value.response["Error"]["Code"] == "InternalServerError"
    proxy.clear_rules()
    client.list_tables()
    stats = proxy.stats
    assert (stats["throttle"], stats["throttling"], stats["server_error"]) == (0, 1, 1)


def test_add_rule_validation(proxy: FaultProxy) -> None:
    with pytest.raises(ValueError):
        proxy.add_rule("nope")
    with pytest.raises(TypeError):
        proxy.add_rule("throttle", seconds=1)
    with pytest.raises(ValueError):
        proxy.add_rule("throttle", rate=1.5)
    with pytest.raises(ValueError):
        proxy.add_rule("delay")
    with pytest.raises(ValueError):
        proxy.add_rule("partial_batch", operations={"PutItem"})
    assert proxy.rules == []


def test_url_requires_start(ddb_local_url: str) -> None:
    p = FaultProxy(ddb_local_url)
    with pytest.raises(RuntimeError):
        _ = p.url
    p.start()
    try:
        assert p.url.startswith("http://127.0.0.1:")
    finally:
        p.stop()
    p.stop()  # idempotent


# -- stale read ------------------------------------------------------------------


def test_stale_read_leaves_one_item_out_of_a_query_answer(proxy: FaultProxy, client: Any, direct: Any) -> None:
    proxy.add_rule("stale_read", count=1)
    pk = _key()
    direct.put_item(TableName=TABLE, Item=_item(pk, v="x"))
    query = {"TableName": TABLE, "KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": {"S": pk}}}
    # a GetItem is not a read the rule applies to: it does not fire
    assert client.get_item(TableName=TABLE, Key={"pk": {"S": pk}})["Item"]["v"] == {"S": "x"}
    stale = client.query(**query)  # the checksum was recomputed: botocore accepts the answer
    assert (stale["Items"], stale["Count"]) == ([], 0)
    fresh = client.query(**query)
    assert [item["pk"]["S"] for item in fresh["Items"]] == [pk]
    assert proxy.stats["stale_read"] == 1
