"""migrate --via-s3: export to S3, ImportTable, follow it, validate; against moto's server as a real process.

The server is moto's (S3 and DynamoDB in one process on a free port), with
ImportTable reading the parts as JSON lines (see tests/moto_bulk.py for why).
Each test has its own bucket and table prefix. Validation runs the item by
item and count checks (``--check items: --check count:``): the access
patterns are hundreds of Queries that moto answers by walking the table,
minutes on a shared machine, and they prove nothing about how the items got
there.
"""

from __future__ import annotations

import gzip
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import moto_bulk
import pytest
from conftest import CHINOOK, FAKE_CREDENTIALS, error_lines, one_line, run_cli, run_process, table_rows, write_config


@pytest.fixture(scope="module")
def bulk_url() -> Iterator[str]:
    server = moto_bulk.start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture()
def s3(bulk_url: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", bulk_url)
    monkeypatch.setenv("COLUMNS", "400")
    return boto3.client("s3", endpoint_url=bulk_url, region_name="us-east-1", **FAKE_CREDENTIALS)


@pytest.fixture()
def bucket(s3: Any) -> str:
    name = f"bulk-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    return name


@pytest.fixture()
def config(tmp_path: Path, bulk_url: str, prefix: str) -> Path:
    return write_config(tmp_path / "run", CHINOOK, bulk_url, prefix)


def objects(s3: Any, bucket: str, prefix: str = "") -> dict[str, Any]:
    """Key -> LastModified of every object under the prefix."""
    out: dict[str, Any] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        out.update({o["Key"]: o["LastModified"] for o in page.get("Contents", [])})
    return out


def test_chinook_through_s3_and_import_table_holds_every_item(config: Path, s3: Any, bucket: str, prefix: str) -> None:
    result = run_cli(config, "migrate", "--via-s3", f"s3://{bucket}/load", "--part-mb", "0.5", "--no-validate")
    assert result.exit_code == 0, result.output
    rows = table_rows(result.output)
    expected = {"CustomerData": 471, "EmployeeData": 8, "MusicCatalog": 4125, "PlaylistData": 8733}
    for table, items in expected.items():
        # table, status, exported, processed, imported, errors
        assert rows[prefix + table][1:6] == ["COMPLETED", str(items), str(items), str(items), "0"]
    keys = objects(s3, bucket, "load/")
    manifest = json.loads(s3.get_object(Bucket=bucket, Key="load/manifest.json")["Body"].read())
    assert {t: v["items"] for t, v in manifest["tables"].items()} == {prefix + t: n for t, n in expected.items()}
    assert all(k == "load/manifest.json" or k.split("/")[1].startswith(prefix) for k in keys)
    assert len(keys) > 10
    validation = run_cli(config, "validate", "--check", "items:", "--check", "count:")
    assert validation.exit_code == 0, validation.output
    assert sum(int(rows[prefix + t][4]) for t in expected) == 13337
    assert "16 passed, 0 failed" in validation.output


def test_an_existing_table_is_refused_before_anything_is_uploaded(
    config: Path, s3: Any, bucket: str, prefix: str, bulk_url: str
) -> None:
    ddb = boto3.client("dynamodb", endpoint_url=bulk_url, region_name="us-east-1", **FAKE_CREDENTIALS)
    ddb.create_table(
        TableName=prefix + "EmployeeData",
        KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "PK", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    result = run_process(
        config, "migrate", "--via-s3", f"s3://{bucket}/load", "-t", "customer_data", "-t", "employee_data"
    )
    assert result.returncode == 2, result.stderr
    (line,) = error_lines(one_line(result.stderr).replace(" error: ", "\nerror: "))
    assert f"table(s) {prefix}EmployeeData already exist" in line
    assert "ImportTable only creates new tables" in line
    assert "reset --drop-tables" in line and "table_prefix" in line and "without --via-s3" in line
    assert objects(s3, bucket) == {}
    assert prefix + "CustomerData" not in ddb.list_tables()["TableNames"]


def test_a_kill_after_some_uploads_then_resume_uploads_only_the_missing_parts(
    config: Path, s3: Any, bucket: str, bulk_url: str
) -> None:
    location = f"s3://{bucket}/load"
    env = {"AWS_ENDPOINT_URL_S3": bulk_url}
    args = ("--via-s3", location, "-t", "music_catalog", "--part-mb", "0.3", "--no-validate")
    killed = run_process(config, "migrate", *args, env={**env, "SQLITE2DDB_KILL_AT": "part_uploaded:3"})
    assert killed.returncode == -9, killed.stderr
    before = objects(s3, bucket)
    assert len(before) == 3
    time.sleep(1.2)  # LastModified has a resolution of a second
    resumed = run_process(config, "resume", "--no-validate", env=env)  # no --via-s3: the state knows the way
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming the load through " + location in one_line(resumed.stdout)
    after = objects(s3, bucket)
    parts = [k for k in after if k.endswith(".json.gz")]
    assert len(parts) > 5
    assert {k: after[k] for k in before} == before  # the three parts were not uploaded again
    assert "3 finished before" in resumed.stderr
    validation = run_cli(config, "validate", "-t", "music_catalog", "--check", "items:", "--check", "count:")
    assert validation.exit_code == 0, validation.output


def test_a_kill_after_import_table_started_resumes_by_following_the_recorded_import(
    config: Path, s3: Any, bucket: str, bulk_url: str, prefix: str
) -> None:
    env = {"AWS_ENDPOINT_URL_S3": bulk_url}
    args = ("--via-s3", f"s3://{bucket}/load", "-t", "employee_data", "--no-validate")
    killed = run_process(config, "migrate", *args, env={**env, "SQLITE2DDB_KILL_AT": "import_started:1"})
    assert killed.returncode == -9, killed.stderr
    uploaded = objects(s3, bucket)
    resumed = run_process(config, "resume", "--no-validate", env=env)
    assert resumed.returncode == 0, resumed.stderr
    row = table_rows(resumed.stdout)[prefix + "EmployeeData"]
    assert row[1] == "COMPLETED (earlier run)" and row[4] == "8"
    assert "ImportTable started" not in resumed.stderr  # no second import
    assert {k: v for k, v in objects(s3, bucket).items() if k in uploaded} == uploaded


def test_a_part_corrupted_in_s3_is_reported_through_the_import_error_count(
    config: Path, s3: Any, bucket: str, prefix: str
) -> None:
    location = f"s3://{bucket}/load"
    exported = run_cli(config, "export", "--out", location, "-t", "customer_data", "--part-mb", "0.1")
    assert exported.exit_code == 0, exported.output
    key = sorted(k for k in objects(s3, bucket) if k.endswith(".json.gz"))[-1]
    lines = gzip.decompress(s3.get_object(Bucket=bucket, Key=key)["Body"].read()).splitlines()
    lines[0] = lines[0][: len(lines[0]) // 2]  # a line cut in half: not JSON any more
    s3.put_object(Bucket=bucket, Key=key, Body=gzip.compress(b"\n".join(lines) + b"\n"))
    result = run_process(config, "migrate", "--via-s3", location, "-t", "customer_data", "--no-validate")
    assert result.returncode == 1, result.stderr
    (line,) = error_lines(one_line(result.stderr).replace(" error: ", "\nerror: "))
    assert f"import of {prefix}CustomerData failed" in line
    assert "ErrorCount 1" in line and "ImportedItemCount 470 below the 471 items exported" in line


def test_objects_the_export_did_not_write_under_a_table_prefix_are_refused(
    config: Path, s3: Any, bucket: str, prefix: str, bulk_url: str
) -> None:
    location = f"s3://{bucket}/load"
    s3.put_object(Bucket=bucket, Key=f"load/{prefix}EmployeeData/old-export.json.gz", Body=gzip.compress(b""))
    result = run_process(config, "migrate", "--via-s3", location, "-t", "employee_data", "--no-validate")
    assert result.returncode == 2, result.stderr
    (line,) = error_lines(one_line(result.stderr).replace(" error: ", "\nerror: "))
    assert f"{prefix}EmployeeData/old-export.json.gz" in line and "ImportTable would load them too" in line
    ddb = boto3.client("dynamodb", endpoint_url=bulk_url, region_name="us-east-1", **FAKE_CREDENTIALS)
    assert prefix + "EmployeeData" not in ddb.list_tables()["TableNames"]
