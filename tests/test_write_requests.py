"""BatchWriteItem bodies written by orjson (engine/dynamodb/write_requests.py) store what botocore's would.

Two clients on one DynamoDB Local: boto3's as it comes, and one with the
tool's handlers. The same items, with every attribute type, nesting and
binary values, are written by each into a table of its own; both tables must
then hold identical items, and the tool's request must carry the items (not
the empty requests botocore was shown).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from conftest import FAKE_CREDENTIALS, every_attribute_type

from sqlite2ddb.dynamodb import write_requests
from sqlite2ddb.dynamodb.target import asks_write_capacity
from sqlite2ddb.dynamodb.write_requests import PreparedItems, batch_write_params

_item = every_attribute_type


def _create(client: Any, name: str) -> None:
    client.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "B"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )


@pytest.fixture(scope="module")
def clients(ddb_url: str) -> Iterator[tuple[Any, Any, list[str]]]:
    def client(**config: Any) -> Any:
        return boto3.client(
            "dynamodb", endpoint_url=ddb_url, region_name="us-east-1", config=Config(**config), **FAKE_CREDENTIALS
        )

    plain, tool = client(), write_requests.install(client(parameter_validation=False))  # as the tool makes its clients
    tables = [f"writes_{kind}_{uuid.uuid4().hex[:8]}" for kind in ("plain", "tool")]
    for table in tables:
        _create(plain, table)
    yield plain, tool, tables
    for table in tables:
        plain.delete_table(TableName=table)


def _scan(client: Any, table: str) -> list[dict[str, Any]]:
    items = client.scan(TableName=table, ConsistentRead=True)["Items"]
    return sorted(items, key=lambda item: item["sk"]["B"])


def test_the_same_items_are_stored_both_ways(clients: tuple[Any, Any, list[str]]) -> None:
    plain, tool, (plain_table, tool_table) = clients
    sent: list[bytes] = []
    tool.meta.events.register("before-send.dynamodb.BatchWriteItem", lambda request, **_: sent.append(request.body))

    puts = [{"PutRequest": {"Item": _item(n)}} for n in range(20)]
    plain.batch_write_item(RequestItems={plain_table: puts}, ReturnConsumedCapacity="TOTAL")
    params = batch_write_params({tool_table: puts})
    assert isinstance(params["RequestItems"], PreparedItems)
    answer = tool.batch_write_item(**params)

    assert answer["UnprocessedItems"] == {}
    assert answer["ConsumedCapacity"][0]["TableName"] == tool_table  # botocore still parses the answer
    assert len(sent) == 1 and b"in a list" not in sent[0] and b"aW4gYSBsaXN0" in sent[0]  # base64 of b"in a list"
    stored = _scan(tool, tool_table)
    assert len(stored) == 20
    assert stored == _scan(plain, plain_table)


def test_deletes_and_several_tables_in_one_body(clients: tuple[Any, Any, list[str]]) -> None:
    plain, tool, (plain_table, tool_table) = clients
    requests = {
        plain_table: [{"PutRequest": {"Item": _item(200)}}],
        tool_table: [{"DeleteRequest": {"Key": {"pk": {"S": "P"}, "sk": {"B": bytes([n, 0, 255])}}}} for n in (0, 1)],
    }
    assert tool.batch_write_item(**batch_write_params(requests))["UnprocessedItems"] == {}
    assert len(_scan(plain, tool_table)) == 18
    assert bytes([200, 0, 255]) in [item["sk"]["B"] for item in _scan(plain, plain_table)]


def test_what_orjson_refuses_goes_through_botocore(clients: tuple[Any, Any, list[str]]) -> None:
    _, _, (_, tool_table) = clients
    lone_surrogate = {"pk": {"S": "P"}, "sk": {"B": b"s"}, "text": {"S": "\ud800"}}
    params = batch_write_params({tool_table: [{"PutRequest": {"Item": lone_surrogate}}]})
    assert not isinstance(params["RequestItems"], PreparedItems)
    assert params["RequestItems"][tool_table][0]["PutRequest"]["Item"] is lone_surrogate


@pytest.mark.parametrize(
    ("setting", "kind", "url", "asked"),
    [
        ("aws", "aws", None, True),
        ("aws", "local", "http://127.0.0.1:8000", False),  # the embedded DynamoDB Local
        ("aws", "endpoint", "http://localhost:8000", False),
        ("aws", "endpoint", "https://vpce-1a2b.dynamodb.us-east-1.vpce.amazonaws.com", True),  # AWS through a URL
        ("aws", "endpoint", "https://dynamodb-fips.us-gov-west-1.amazonaws.com", True),
        ("aws", "endpoint", "http://amazonaws.com.example:8000", False),
        ("always", "local", "http://127.0.0.1:8000", True),
        ("never", "aws", None, False),
    ],
)
def test_consumed_capacity_is_asked_of_aws_by_default(setting: str, kind: str, url: str | None, asked: bool) -> None:
    assert asks_write_capacity(setting, kind, url) is asked
    assert batch_write_params({"t": []}, asked)["ReturnConsumedCapacity"] == ("TOTAL" if asked else "NONE")
