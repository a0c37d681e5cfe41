"""tests/capacity_proxy.py against a real DynamoDB Local and real boto3 clients.

Limits are small (20 units/s a key, 60 a table) and most tests drive the
model's clock by hand, so what passes and what is throttled is exact; one
test runs on the real clock to show the rate over time.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import botocore.config
import pytest
from botocore.exceptions import ClientError
from capacity_proxy import CapacityProxy
from conftest import FAKE_CREDENTIALS, scan_all

KEY_WCU, TABLE_WCU = 20, 60


class Clock:
    """The model's clock, moved by the test."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def client(url: str) -> Any:
    """One attempt per call: a throttle reaches the test instead of botocore's retries."""
    config = botocore.config.Config(retries={"total_max_attempts": 1, "mode": "standard"})
    return boto3.client("dynamodb", endpoint_url=url, region_name="us-east-1", config=config, **FAKE_CREDENTIALS)


def gsi(name: str, projection: str = "ALL") -> dict[str, Any]:
    return {
        "IndexName": name,
        "KeySchema": [{"AttributeName": f"{name}PK", "KeyType": "HASH"}],
        "Projection": {"ProjectionType": projection},
    }


@pytest.fixture()
def make_table(ddb: Any) -> Iterator[Any]:
    """make_table(*gsis) -> name of a new PK/SK table on DynamoDB Local itself; dropped afterwards."""
    made: list[str] = []

    def factory(*indexes: dict[str, Any]) -> str:
        name = f"cap_{uuid.uuid4().hex[:8]}"
        names = ["PK", "SK"] + [i["KeySchema"][0]["AttributeName"] for i in indexes]
        spec: dict[str, Any] = {
            "TableName": name,
            "AttributeDefinitions": [{"AttributeName": n, "AttributeType": "S"} for n in names],
            "KeySchema": [{"AttributeName": "PK", "KeyType": "HASH"}, {"AttributeName": "SK", "KeyType": "RANGE"}],
            "BillingMode": "PAY_PER_REQUEST",
        }
        if indexes:
            spec["GlobalSecondaryIndexes"] = list(indexes)
        ddb.create_table(**spec)
        made.append(name)
        return name

    yield factory
    for name in made:
        ddb.delete_table(TableName=name)


@pytest.fixture()
def clock() -> Clock:
    return Clock()


@pytest.fixture()
def proxy(ddb_url: str, clock: Clock) -> Iterator[CapacityProxy]:
    with CapacityProxy(ddb_url, key_wcu=KEY_WCU, table_wcu=TABLE_WCU, clock=clock) as running:
        yield running


def item(pk: str, sk: int | str, data: str = "x", **extra: str) -> dict[str, Any]:
    return {"PK": {"S": pk}, "SK": {"S": str(sk)}, "Data": {"S": data}} | {k: {"S": v} for k, v in extra.items()}


def batch(table: str, items: list[dict[str, Any]]) -> dict[str, Any]:
    return {table: [{"PutRequest": {"Item": i}} for i in items]}


def unprocessed_sks(response: dict[str, Any], table: str) -> list[str]:
    return [r["PutRequest"]["Item"]["SK"]["S"] for r in response.get("UnprocessedItems", {}).get(table, [])]


def stored(ddb: Any, table: str) -> set[tuple[str, str]]:
    return {(i["PK"]["S"], i["SK"]["S"]) for i in scan_all(ddb, table)}


def throttle_code(call: Any, **kwargs: Any) -> tuple[str, int]:
    with pytest.raises(ClientError) as caught:
        call(**kwargs)
    error = caught.value.response
    return error["Error"]["Code"], error["ResponseMetadata"]["HTTPStatusCode"]


def test_items_over_the_key_rate_come_back_unprocessed(proxy: CapacityProxy, clock: Clock, make_table: Any, ddb: Any):
    table = make_table()
    c = client(proxy.url)
    response = c.batch_write_item(RequestItems=batch(table, [item("HOT", n) for n in range(25)]))
    # one second of burst: 20 one-unit items pass, the last 5 come back and are not written
    assert unprocessed_sks(response, table) == [str(n) for n in range(20, 25)]
    assert stored(ddb, table) == {("HOT", str(n)) for n in range(20)}
    clock.advance(0.25)  # 5 units refilled
    again = c.batch_write_item(RequestItems=response["UnprocessedItems"])
    assert unprocessed_sks(again, table) == []
    assert len(stored(ddb, table)) == 25
    assert proxy.report()["items_throttled"] == 5


def test_a_hot_key_is_throttled_while_other_keys_of_the_table_pass(
    proxy: CapacityProxy, make_table: Any, ddb: Any
) -> None:
    table = make_table()
    c = client(proxy.url)
    c.batch_write_item(RequestItems=batch(table, [item("HOT", n) for n in range(20)]))
    mixed = [item("HOT", f"late{n}") if n % 2 else item(f"COLD{n}", n) for n in range(20)]
    response = c.batch_write_item(RequestItems=batch(table, mixed))
    assert unprocessed_sks(response, table) == [f"late{n}" for n in range(1, 20, 2)]
    assert {pk for pk, _ in stored(ddb, table)} == {"HOT"} | {f"COLD{n}" for n in range(0, 20, 2)}
    # the hot key's single writes are refused too, another key's pass
    assert throttle_code(c.put_item, TableName=table, Item=item("HOT", "single")) == (
        "ProvisionedThroughputExceededException",
        400,
    )
    hot_key = {"PK": {"S": "HOT"}, "SK": {"S": "0"}}
    update = {
        "UpdateExpression": "SET #d = :d",
        "ExpressionAttributeNames": {"#d": "Data"},
        "ExpressionAttributeValues": {":d": {"S": "y"}},
    }
    assert (
        throttle_code(c.update_item, TableName=table, Key=hot_key, **update)[0]
        == "ProvisionedThroughputExceededException"
    )
    c.put_item(TableName=table, Item=item("COLD", "single"))
    c.update_item(TableName=table, Key={"PK": {"S": "COLD"}, "SK": {"S": "single"}}, **update)


def test_the_table_rate_caps_the_sum_of_its_keys(proxy: CapacityProxy, clock: Clock, make_table: Any, ddb: Any):
    table = make_table()
    c = client(proxy.url)
    left = [c.batch_write_item(RequestItems=batch(table, [item(f"K{b}-{n}", n) for n in range(25)])) for b in range(3)]
    assert [len(unprocessed_sks(r, table)) for r in left] == [0, 0, 15]  # 60 of 75 distinct keys pass
    assert len(stored(ddb, table)) == 60
    # nothing left in the table's bucket: a whole batch is refused with the error, and so is a delete
    assert throttle_code(c.batch_write_item, RequestItems=batch(table, [item("NEW", 1)])) == (
        "ProvisionedThroughputExceededException",
        400,
    )
    assert throttle_code(c.delete_item, TableName=table, Key={"PK": {"S": "K0-0"}, "SK": {"S": "0"}})[1] == 400
    clock.advance(0.5)  # 30 units refilled
    c.put_item(TableName=table, Item=item("NEW", 1))
    assert proxy.report()["requests_throttled"] == 2


def test_the_table_rate_holds_on_the_real_clock(ddb_url: str, make_table: Any, ddb: Any) -> None:
    table = make_table()
    with CapacityProxy(ddb_url, key_wcu=KEY_WCU, table_wcu=TABLE_WCU) as proxy:
        c = client(proxy.url)
        pending = [item(f"K{n}", n) for n in range(150)]
        started = time.monotonic()
        while pending:
            try:
                response = c.batch_write_item(RequestItems=batch(table, pending[:25]))
            except ClientError:
                time.sleep(0.05)
                continue
            left = [r["PutRequest"]["Item"] for r in response.get("UnprocessedItems", {}).get(table, [])]
            pending = left + pending[25:]
            if left:
                time.sleep(0.05)
        elapsed = time.monotonic() - started
    assert len(stored(ddb, table)) == 150
    # 60 units of burst, then 60/s: the other 90 items need 1.5 s
    assert 1.4 <= elapsed < 5.0


def test_gsi_writes_charge_the_index_and_its_keys(proxy: CapacityProxy, make_table: Any, ddb: Any) -> None:
    table = make_table(gsi("GSI1"))
    c = client(proxy.url)
    feeding = [item(f"P{n}", n, GSI1PK="SAME") for n in range(25)]
    response = c.batch_write_item(RequestItems=batch(table, feeding))
    # every table key is distinct, but the index's key takes 20 units a second
    assert unprocessed_sks(response, table) == [str(n) for n in range(20, 25)]
    plain = [item(f"Q{n}", n) for n in range(20)]
    assert unprocessed_sks(c.batch_write_item(RequestItems=batch(table, plain)), table) == []
    index = {row["where"]: row for row in proxy.report()["per_index"]}
    assert index[f"{table}.GSI1"] | {"seconds": 0} == {
        "where": f"{table}.GSI1",
        "units": 20,
        "hottest_key": "SAME",
        "hottest_units": 20,
        "seconds": 0,
    }
    assert index[table]["units"] == 40
    assert len(stored(ddb, table)) == 40


def test_an_item_costs_one_unit_per_started_kilobyte(proxy: CapacityProxy, make_table: Any) -> None:
    table = make_table()
    c = client(proxy.url)
    # PK "k" 2+1 bytes, SK "0".."6" 2+1, Data 4 + 2,550: 2,560 bytes (2.5 KB) is 3 units
    big = [item("k", n, "x" * 2550) for n in range(7)]
    response = c.batch_write_item(RequestItems=batch(table, big))
    assert unprocessed_sks(response, table) == ["6"]  # 6 x 3 = 18 of the key's 20 units; the 7th needs 3
    # exactly 1,024 bytes is 1 unit; a number of 11 digits instead of 1 (7 bytes, not 2) makes it 2
    one = item("n", 1, "x" * 1009) | {"Num": {"N": "1"}}  # PK 3, SK 3, Data 4 + 1,009, Num 3 + 2: 1,024
    two = item("m", 1, "x" * 1009) | {"Num": {"N": "12345678901"}}  # Num 3 + 7: 1,029
    c.put_item(TableName=table, Item=one)
    c.put_item(TableName=table, Item=two)
    units = {(k["where"], k["key"]): k["units"] for k in proxy.report()["hottest_keys"]}
    assert (units[(table, "k")], units[(table, "n")], units[(table, "m")]) == (18, 1, 2)


def test_the_report_gives_the_lower_bound_of_a_small_load(proxy: CapacityProxy, clock: Clock, make_table: Any):
    table = make_table(gsi("GSI1"), gsi("GSI2", "KEYS_ONLY"))
    c = client(proxy.url)
    writes = (
        [item("A", n, GSI1PK="G", GSI2PK="K") for n in range(10)]  # 1 unit each, everywhere
        + [item("B", n, "x" * 2550, GSI1PK="G", GSI2PK="K") for n in range(5)]  # 3 units; 1 in GSI2 (keys only)
        + [item(f"C{n}", n) for n in range(30)]  # 1 unit, table only
    )
    for write in writes:
        clock.advance(2.0)  # every bucket full again: nothing is throttled
        c.put_item(TableName=table, Item=write)
    c.delete_item(TableName=table, Key={"PK": {"S": "A"}, "SK": {"S": "0"}})  # 1 unit
    report = proxy.report()
    # table: 10 + 15 + 30 + 1 = 56 units / 60 = 0.933 s (its hottest key B: 15 / 20 = 0.75 s);
    # GSI1: key G holds 10 + 15 = 25 units / 20 = 1.25 s; GSI2: key K 15 / 20 = 0.75 s
    assert report["lower_bound_s"] == 1.25
    assert report["set_by"] == f"{table}.GSI1: key G (25 units at 20/s)"
    assert [(r["where"], r["units"], r["seconds"]) for r in report["per_index"]] == [
        (table, 56, 0.933),
        (f"{table}.GSI1", 25, 1.25),
        (f"{table}.GSI2", 15, 0.75),
    ]
    assert report["hottest_keys"][0] == {"where": f"{table}.GSI1", "key": "G", "units": 25}
    assert (report["items_accepted"], report["items_throttled"], report["requests"]) == (46, 0, 46)


def test_a_gsi_added_by_update_table_is_charged_from_then_on(proxy: CapacityProxy, make_table: Any, ddb: Any):
    table = make_table()
    c = client(proxy.url)
    c.put_item(TableName=table, Item=item("P", 0, GSI1PK="G"))  # the proxy learns the table: no index yet
    c.update_table(
        TableName=table,
        AttributeDefinitions=[{"AttributeName": "GSI1PK", "AttributeType": "S"}],
        GlobalSecondaryIndexUpdates=[{"Create": gsi("GSI1")}],
    )
    for _ in range(100):
        indexes = ddb.describe_table(TableName=table)["Table"].get("GlobalSecondaryIndexes", [])
        if indexes and indexes[0]["IndexStatus"] == "ACTIVE":
            break
        time.sleep(0.1)
    c.put_item(TableName=table, Item=item("P", 1, GSI1PK="G"))
    assert {r["where"]: r["units"] for r in proxy.report()["per_index"]} == {table: 2, f"{table}.GSI1": 1}


def test_the_command_line_proxy_prints_its_report_when_stopped(ddb_url: str, make_table: Any) -> None:
    table = make_table()
    script = Path(__file__).with_name("capacity_proxy.py")
    args = [sys.executable, str(script), "--upstream", ddb_url, "--key-wcu", "20", "--table-wcu", "60"]
    process = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        url = process.stdout.readline().split()[-1]
        response = client(url).batch_write_item(RequestItems=batch(table, [item("HOT", n) for n in range(22)]))
        assert len(unprocessed_sks(response, table)) == 2
        process.send_signal(signal.SIGTERM)
        out, _ = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    report = json.loads(out)
    assert report["lower_bound_s"] == 1.0  # 20 units on one key at 20/s
    assert (report["items_accepted"], report["items_throttled"]) == (20, 2)
