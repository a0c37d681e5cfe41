"""Read answers decoded by orjson (engine/dynamodb/read_answers.py) equal botocore's own parse, on every attribute type.

Two clients on one DynamoDB Local: boto3's as it comes, and one with the
tool's handler. Every read operation the tool uses (Scan, Query, GetItem,
BatchGetItem), with pages and a binary sort key (so ``LastEvaluatedKey``, left
to botocore, holds bytes), must give identical answers apart from request ids.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from conftest import FAKE_CREDENTIALS, every_attribute_type

from sqlite2ddb.dynamodb import read_answers

_item = every_attribute_type


@pytest.fixture(scope="module")
def clients(ddb_url: str) -> Iterator[tuple[Any, Any, str]]:
    def client() -> Any:
        return boto3.client("dynamodb", endpoint_url=ddb_url, region_name="us-east-1", **FAKE_CREDENTIALS)

    plain, tool = client(), read_answers.install(client())
    table = f"answers_{uuid.uuid4().hex[:8]}"
    plain.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "B"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    for n in range(5):
        plain.put_item(TableName=table, Item=_item(n))
    yield plain, tool, table
    plain.delete_table(TableName=table)


def _same(plain: Any, tool: Any, operation: str, **request: Any) -> dict[str, Any]:
    ours, theirs = getattr(tool, operation)(**request), getattr(plain, operation)(**request)
    ours.pop("ResponseMetadata"), theirs.pop("ResponseMetadata")
    assert ours == theirs
    return ours


def test_every_read_gives_botocores_answer(clients: tuple[Any, Any, str]) -> None:
    plain, tool, table = clients
    scanned = _same(plain, tool, "scan", TableName=table, Limit=2, ReturnConsumedCapacity="TOTAL")
    assert len(scanned["Items"]) == 2 and isinstance(scanned["LastEvaluatedKey"]["sk"]["B"], bytes)
    assert scanned["Items"][0]["list"]["L"][2]["M"]["deep"]["BS"] == [b"deep"]
    _same(plain, tool, "scan", TableName=table, ExclusiveStartKey=scanned["LastEvaluatedKey"])
    queried = _same(
        plain,
        tool,
        "query",
        TableName=table,
        KeyConditionExpression="pk = :p",
        ExpressionAttributeValues={":p": {"S": "P"}},
        ScanIndexForward=False,
    )
    assert [i["sk"]["B"][0] for i in queried["Items"]] == [4, 3, 2, 1, 0]
    got = _same(plain, tool, "get_item", TableName=table, Key={"pk": {"S": "P"}, "sk": {"B": bytes([3, 0, 255])}})
    assert got["Item"]["map"]["M"]["B"] == {"S": "an attribute named B"}
    _same(plain, tool, "get_item", TableName=table, Key={"pk": {"S": "P"}, "sk": {"B": b"none"}})
    keys = [{"pk": {"S": "P"}, "sk": {"B": bytes([n, 0, 255])}} for n in range(5)]
    ours = tool.batch_get_item(RequestItems={table: {"Keys": keys}})["Responses"][table]
    theirs = plain.batch_get_item(RequestItems={table: {"Keys": keys}})["Responses"][table]
    assert sorted(ours, key=lambda i: i["sk"]["B"]) == sorted(theirs, key=lambda i: i["sk"]["B"])
    assert len(ours) == 5 and all(sorted(i["blobs"]["BS"]) == [b"x", b"\xff"] for i in ours)
