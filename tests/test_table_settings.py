"""Local indexes, TTL, streams, PITR, deletion protection, class, tags and SSE: created, read back, drift.

Each setting is created as declared and read back with DescribeTable,
DescribeTimeToLive, DescribeContinuousBackups and ListTagsOfResource; a drift
in each one is reported by validate, shown by plan, and put right in place by
migrate where DynamoDB can. DynamoDB Local covers local indexes, TTL, streams
and deletion protection; moto's server (a real process) covers PITR and tags.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import boto3
import pytest
from conftest import FAKE_CREDENTIALS, error_lines, one_line, run_cli, scan_all

from sqlite2ddb.dynamodb import table_settings
from sqlite2ddb.plan.compile import TablePlan
from sqlite2ddb.spec.model import KeyAttribute, Location, TableSettings, TableSpec

# dates in the future: with TTL on, DynamoDB (Local too) deletes items whose ExpiresAt has passed
SCHEMA = """
CREATE TABLE orders (id INTEGER PRIMARY KEY, customer INTEGER, placed TEXT, total REAL);
INSERT INTO orders VALUES (1, 7, '2094-05-01 10:00:00', 9.5), (2, 7, '2094-05-03 11:00:00', 3.25),
                          (3, 8, '2094-06-01 12:00:00', 1.0);
"""

TABLE = """\
tables:
  - name: Orders
    partition_key: {name: PK, type: S}
    sort_key: {name: SK, type: S}
    local_indexes:
      - name: ByTotal
        sort_key: {name: TotalKey, type: N}
        projection: {include: [Placed, OrderId]}
    ttl: {attribute: ExpiresAt}
    stream: NEW_AND_OLD_IMAGES
__SETTINGS__
"""

ITEMS = """
item_types:
  - name: Order
    table: Orders
    query: SELECT * FROM orders
    cursor: [id]
    keys:
      PK: "CUSTOMER#{{ customer }}"
      SK: "ORDER#{{ id | pad(4) }}"
      TotalKey: "{{ total }}"
    attributes:
      Entity: {const: Order}
      OrderId: {column: id, type: number}
      Placed: placed
      ExpiresAt: {column: placed, type: epoch_seconds}

access_patterns:
  - name: orders-by-total
    params: SELECT DISTINCT customer AS id FROM orders
    request:
      table: Orders
      index: ByTotal
      query: {partition: "CUSTOMER#{{ id }}", forward: false}
    sql: SELECT id AS OrderId, placed AS Placed FROM orders WHERE customer = :id ORDER BY total DESC
    compare: {id: OrderId, attributes: [Placed]}
"""

ALL_SETTINGS = """\
    point_in_time_recovery: true
    deletion_protection: true
    table_class: STANDARD_INFREQUENT_ACCESS
    tags: {app: shop, owner: team-a}
    sse: aws_managed"""


def project(tmp_path: Path, make_config: Any, endpoint: str, settings: str = ALL_SETTINGS) -> Path:
    source = tmp_path / "shop.sqlite"
    with sqlite3.connect(source) as conn:
        conn.executescript(SCHEMA)
    conn.close()
    mappings = tmp_path / "mappings"
    mappings.mkdir(exist_ok=True)
    (mappings / "shop.yaml").write_text(TABLE.replace("__SETTINGS__", settings) + ITEMS)
    return make_config(source=source, mappings=mappings, endpoint=endpoint)


@pytest.fixture(autouse=True)
def wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "400")


@pytest.fixture(scope="module")
def moto(moto_url: str) -> Any:
    return boto3.client("dynamodb", endpoint_url=moto_url, region_name="us-east-1", **FAKE_CREDENTIALS)


def shape_drift(config: Path, tmp_path: Path) -> list[str]:
    """validate --check shape: exit 1 and the drift messages, from the JSON report."""
    report = tmp_path / "shape.md"
    check = run_cli(config, "validate", "--check", "shape", "--report", str(report))
    assert check.exit_code == 1, check.output
    (shape,) = json.loads(report.with_suffix(".json").read_text())["checks"]
    return [f["message"] for f in shape["failures"]]


def read_back(client: Any, name: str) -> dict[str, Any]:
    """Every setting as the endpoint reports it, through the four read calls."""
    table = client.describe_table(TableName=name)["Table"]
    ttl = client.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
    out = {
        "lsi": [(i["IndexName"], i["KeySchema"], i["Projection"]) for i in table.get("LocalSecondaryIndexes", [])],
        "ttl": (ttl["TimeToLiveStatus"], ttl.get("AttributeName")),
        "stream": table.get("StreamSpecification"),
        "deletion_protection": table.get("DeletionProtectionEnabled"),
        "sse": (table.get("SSEDescription") or {}).get("SSEType"),
    }
    try:
        backups = client.describe_continuous_backups(TableName=name)["ContinuousBackupsDescription"]
        out["pitr"] = backups["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"]
        tags = client.list_tags_of_resource(ResourceArn=table["TableArn"])["Tags"]
        out["tags"] = {t["Key"]: t["Value"] for t in tags}
    except client.exceptions.ClientError as exc:
        assert exc.response["Error"]["Code"] == "UnknownOperationException"
    return out


LSI = [
    (
        "ByTotal",
        [{"AttributeName": "PK", "KeyType": "HASH"}, {"AttributeName": "TotalKey", "KeyType": "RANGE"}],
        {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["Placed", "OrderId"]},
    )
]
STREAM = {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}


# ----------------------------------------------------------------------------- moto: every setting
def test_every_setting_is_created_read_back_and_validated_on_moto(
    tmp_path: Path, make_config: Any, moto_url: str, moto: Any, prefix: str
) -> None:
    config = project(tmp_path, make_config, moto_url)
    result = run_cli(config, "migrate")
    assert result.exit_code == 0, result.output + result.stderr
    name = f"{prefix}Orders"
    assert read_back(moto, name) == {
        "lsi": LSI,
        "ttl": ("ENABLED", "ExpiresAt"),
        "stream": STREAM,
        "deletion_protection": True,
        "sse": "KMS",
        "pitr": "ENABLED",
        "tags": {"app": "shop", "owner": "team-a"},
    }
    # moto does not report the table class: one line says so, validate still passes
    assert "does not report the table class: table class is not applied or checked there" in result.stderr
    assert "5 passed, 0 failed" in result.output
    assert len(scan_all(moto, name)) == 3


def test_a_drift_in_each_setting_is_reported_shown_by_plan_and_put_right_on_moto(
    tmp_path: Path, make_config: Any, moto_url: str, moto: Any, prefix: str
) -> None:
    config = project(tmp_path, make_config, moto_url)
    assert run_cli(config, "migrate", "--no-validate").exit_code == 0
    name = f"{prefix}Orders"
    arn = moto.describe_table(TableName=name)["Table"]["TableArn"]
    moto.update_time_to_live(TableName=name, TimeToLiveSpecification={"Enabled": False, "AttributeName": "ExpiresAt"})
    # (the stream's drift is tested on DynamoDB Local: moto 5.2 cannot enable a stream it once disabled)
    moto.update_continuous_backups(
        TableName=name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": False}
    )
    moto.update_table(TableName=name, DeletionProtectionEnabled=False)
    moto.tag_resource(ResourceArn=arn, Tags=[{"Key": "owner", "Value": "someone-else"}])
    moto.untag_resource(ResourceArn=arn, TagKeys=["app"])

    expected = [
        f"{name}: time to live is disabled, mapping declares it on ExpiresAt",
        f"{name}: point-in-time recovery is off, mapping declares on",
        f"{name}: deletion protection is off, mapping declares on",
        f"{name}: tags app missing, owner='someone-else', mapping declares app='shop', owner='team-a'",
    ]
    assert shape_drift(config, tmp_path) == expected

    plan = run_cli(config, "plan", "--check-target")
    assert plan.exit_code == 0, plan.output
    changes = [line.strip() for line in plan.output.splitlines() if line.strip().startswith("change: ")]
    assert changes == [f"change: {line}" for line in expected]

    again = run_cli(config, "migrate")
    assert again.exit_code == 0, again.output + again.stderr
    assert read_back(moto, name)["tags"] == {"app": "shop", "owner": "team-a"}
    assert read_back(moto, name)["pitr"] == "ENABLED"
    assert run_cli(config, "validate", "--check", "shape").exit_code == 0


# ----------------------------------------------------------------------------- DynamoDB Local
def test_dynamodb_local_gets_what_it_supports_and_one_line_for_each_of_the_rest(
    tmp_path: Path, make_config: Any, ddb_url: str, ddb: Any, prefix: str
) -> None:
    config = project(tmp_path, make_config, ddb_url, "    point_in_time_recovery: true\n    tags: {app: shop}")
    result = run_cli(config, "migrate")
    assert result.exit_code == 0, result.output + result.stderr
    assert read_back(ddb, f"{prefix}Orders") == {
        "lsi": [(LSI[0][0], LSI[0][1], LSI[0][2])],
        "ttl": ("ENABLED", "ExpiresAt"),
        "stream": STREAM,
        "deletion_protection": False,
        "sse": None,
    }
    skipped = [line for line in result.stderr.splitlines() if "is not applied or checked there" in line]
    # one line each while migrating, and again while validating (a target per phase)
    assert len(skipped) == 4
    assert sorted(set(skipped)) == [
        f"WARNING {ddb_url} does not support point-in-time recovery (UnknownOperationException): "
        "point-in-time recovery is not applied or checked there",
        f"WARNING {ddb_url} does not support tagging (UnknownOperationException): tagging is not applied or checked there",
    ]
    assert not error_lines(result.stderr)
    assert "5 passed, 0 failed" in result.output  # shape, counts, items and the pattern through the local index


def test_drift_on_dynamodb_local_is_reported_and_put_right(
    tmp_path: Path, make_config: Any, ddb_url: str, ddb: Any, prefix: str
) -> None:
    config = project(tmp_path, make_config, ddb_url, "    deletion_protection: false")
    assert run_cli(config, "migrate", "--no-validate").exit_code == 0
    name = f"{prefix}Orders"
    ddb.update_time_to_live(TableName=name, TimeToLiveSpecification={"Enabled": False, "AttributeName": "ExpiresAt"})
    ddb.update_table(TableName=name, StreamSpecification={"StreamEnabled": False})
    ddb.update_table(TableName=name, DeletionProtectionEnabled=True)
    check = run_cli(config, "validate", "--check", "shape")
    assert check.exit_code == 1
    text = one_line(check.output)
    for line in (
        f"{name}: time to live is disabled, mapping declares it on ExpiresAt",
        f"{name}: stream is off, mapping declares NEW_AND_OLD_IMAGES",
        f"{name}: deletion protection is on, mapping declares off",
    ):
        assert line in text, check.output
    assert run_cli(config, "migrate").exit_code == 0
    assert read_back(ddb, name)["ttl"] == ("ENABLED", "ExpiresAt")
    assert run_cli(config, "validate", "--check", "shape").exit_code == 0


def test_a_stream_view_type_change_is_applied_by_turning_the_stream_off_and_on(
    tmp_path: Path, make_config: Any, ddb_url: str, ddb: Any, prefix: str
) -> None:
    config = project(tmp_path, make_config, ddb_url, "")
    assert run_cli(config, "migrate", "--no-validate").exit_code == 0
    mapping = tmp_path / "mappings" / "shop.yaml"
    mapping.write_text(mapping.read_text().replace("stream: NEW_AND_OLD_IMAGES", "stream: KEYS_ONLY"))
    assert shape_drift(config, tmp_path) == [
        f"{prefix}Orders: stream is NEW_AND_OLD_IMAGES, mapping declares KEYS_ONLY"
    ]
    assert run_cli(config, "migrate", "--force").exit_code == 0
    assert read_back(ddb, f"{prefix}Orders")["stream"] == {"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"}


def test_a_local_index_cannot_be_added_to_an_existing_table_and_migrate_says_so(
    tmp_path: Path, make_config: Any, ddb_url: str, ddb: Any, prefix: str
) -> None:
    name = f"{prefix}Orders"
    ddb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}, {"AttributeName": "SK", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "PK", "AttributeType": "S"},
            {"AttributeName": "SK", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    config = project(tmp_path, make_config, ddb_url, "")
    missing = f"{name}: local index ByTotal is missing; a local index can only be created with its table"
    plan = run_cli(config, "plan", "--check-target")
    assert f"change: {missing} (cannot be changed in place)" in one_line(plan.output)

    result = run_cli(config, "migrate")
    assert result.exit_code == 2
    assert error_lines(result.stderr) == [
        f"error: {missing} (drop the table ('reset --drop-tables', or delete_existing_tables and 'migrate --force'), "
        "then migrate)"
    ]
    assert scan_all(ddb, name) == []  # nothing written to a table that lacks its index

    assert shape_drift(config, tmp_path) == [
        f"{name}: attribute TotalKey is None, mapping declares N",
        missing,
        f"{name}: time to live is disabled, mapping declares it on ExpiresAt",
        f"{name}: stream is off, mapping declares NEW_AND_OLD_IMAGES",
    ]


# ----------------------------------------------------------------------------- the table class, read from DescribeTable
class _Aws:
    """A target on AWS for the class rule; no call is made (the class comes from DescribeTable)."""

    kind, endpoint = "aws", "AWS DynamoDB (us-east-1)"


def _table(table_class: str) -> TablePlan:
    spec = TableSpec(
        "T", KeyAttribute("PK", "S"), None, "PAY_PER_REQUEST", None, None, (), Location("t.yaml", 1),
        settings=TableSettings(table_class=table_class),
    )  # fmt: skip
    return TablePlan(spec, "p_T", "t")


@pytest.mark.parametrize(
    ("declared", "summary", "drift"),
    [
        ("STANDARD_INFREQUENT_ACCESS", {"TableClass": "STANDARD_INFREQUENT_ACCESS"}, []),
        ("STANDARD_INFREQUENT_ACCESS", {"TableClass": "STANDARD"}, ["p_T: table class is STANDARD, mapping declares STANDARD_INFREQUENT_ACCESS (not changed)"]),
        ("STANDARD_INFREQUENT_ACCESS", None, ["p_T: table class is STANDARD, mapping declares STANDARD_INFREQUENT_ACCESS (not changed)"]),
        ("STANDARD", None, []),
        ("STANDARD", {"TableClass": "STANDARD_INFREQUENT_ACCESS"}, ["p_T: table class is STANDARD_INFREQUENT_ACCESS, mapping declares STANDARD (not changed)"]),
    ],
)  # fmt: skip
def test_table_class_drift_as_aws_reports_it(declared: str, summary: dict[str, str] | None, drift: list[str]) -> None:
    described = {"TableArn": "arn:aws:dynamodb:us-east-1:1:table/p_T"}
    if summary:
        described["TableClassSummary"] = summary
    assert table_settings.drift(_Aws(), _table(declared), described) == drift


def _sse_table(sse: str, key: str | None = None) -> TablePlan:
    spec = TableSpec(
        "T", KeyAttribute("PK", "S"), None, "PAY_PER_REQUEST", None, None, (), Location("t.yaml", 1),
        settings=TableSettings(sse=sse, sse_kms_key=key),
    )  # fmt: skip
    return TablePlan(spec, "p_T", "t")


KMS = {"Status": "ENABLED", "SSEType": "KMS", "KMSMasterKeyArn": "arn:aws:kms:us-east-1:1:key/1234-abcd"}


@pytest.mark.parametrize(
    ("sse", "key", "reported", "drift"),
    [
        ("aws_owned", None, None, []),
        ("aws_managed", None, KMS, []),
        ("kms", "1234-abcd", KMS, []),
        ("kms", "alias/orders", KMS, []),  # an alias cannot be compared with the key's ARN
        ("aws_managed", None, None, ["p_T: encryption uses the AWS owned key, mapping declares aws_managed (not changed)"]),
        ("aws_owned", None, KMS, ["p_T: encryption uses KMS key arn:aws:kms:us-east-1:1:key/1234-abcd, mapping declares aws_owned (not changed)"]),
        ("kms", "9999-ffff", KMS, ["p_T: encryption uses KMS key arn:aws:kms:us-east-1:1:key/1234-abcd, mapping declares 9999-ffff (not changed)"]),
    ],
)  # fmt: skip
def test_encryption_drift_as_aws_reports_it(sse: str, key: str | None, reported: Any, drift: list[str]) -> None:
    described: dict[str, Any] = {"TableArn": "arn:aws:dynamodb:us-east-1:1:table/p_T"}
    if reported:
        described["SSEDescription"] = reported
    assert table_settings.drift(_Aws(), _sse_table(sse, key), described) == drift
