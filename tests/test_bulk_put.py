"""migrate --via-s3 into tables that exist: StartBulkPutItems against the stand-in server (tests/bulk_put_server.py).

Three real processes: moto's server for S3, DynamoDB Local, and the stand-in
in front of DynamoDB Local answering the four bulk operations (every other
call passes through). The tool is pointed at the stand-in for DynamoDB and
at moto for S3. The tables are created from the CloudFormation template
``export-model`` writes, as a team's infrastructure code would.
"""

from __future__ import annotations

import gzip
import json
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import bulk_put_server
import motoserver
import pytest
from conftest import CHINOOK, FAKE_CREDENTIALS, ROOT, count_items, one_line, run_cli, run_process, write_config

from sqlite2ddb.dynamodb.target import LOCAL_CREDENTIALS

EXPECTED = {"CustomerData": 471, "EmployeeData": 8, "MusicCatalog": 4125, "PlaylistData": 8733}


@pytest.fixture(scope="module")
def s3_url() -> Iterator[str]:
    server = motoserver.start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="module")
def bulk_url(ddb_url: str, s3_url: str) -> Iterator[str]:
    server = bulk_put_server.start(ddb_url, s3_url)
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture()
def s3(s3_url: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", s3_url)
    monkeypatch.setenv("COLUMNS", "400")
    return boto3.client("s3", endpoint_url=s3_url, region_name="us-east-1", **FAKE_CREDENTIALS)


@pytest.fixture()
def bucket(s3: Any) -> str:
    name = f"bulk-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    return name


def tables_from_template(config: Path, endpoint: str, tables: tuple[str, ...] | None = None) -> Any:
    """Create the tables the CloudFormation export defines (the infrastructure-as-code path); a client."""
    # the tool's own credentials: a DynamoDB Local without -sharedDb keeps one database per access key
    ddb = boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1", **LOCAL_CREDENTIALS)
    result = run_cli(config, "export-model", "--format", "cloudformation")
    assert result.exit_code == 0, result.output
    for name, resource in json.loads(result.stdout)["Resources"].items():
        if tables and name.removesuffix("Table") not in tables:
            continue
        properties = {k: v for k, v in resource["Properties"].items() if k != "PointInTimeRecoverySpecification"}
        ddb.create_table(**properties)
    return ddb


def objects(s3: Any, bucket: str, prefix: str = "") -> list[str]:
    keys: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys += [o["Key"] for o in page.get("Contents", [])]
    return keys


def operations(ddb: Any, table: str) -> list[dict[str, Any]]:
    """The bulk operations the server knows on ``table``, newest first."""
    out = []
    for summary in ddb.list_bulk_operations(MaxResults=25)["BulkOperationsSummaryList"]:
        d = ddb.describe_bulk_operation(BulkOperationArn=summary["BulkOperationArn"])["BulkOperationDescription"]
        if d["TableDetails"][0]["TableName"] == table:
            out.append(d)
    return out


def bulk_rows(output: str) -> dict[str, list[str]]:
    rows = {}
    for line in output.splitlines():
        cells = [c.strip() for c in line.strip().strip("│┃").split("│")]
        if len(cells) == 7 and cells[0] and cells[2].isdigit():
            rows[cells[0]] = cells
    return rows


def test_chinook_into_tables_from_the_cloudformation_export_through_bulk_put_passes_validate(
    tmp_path: Path, bulk_url: str, s3: Any, bucket: str, prefix: str
) -> None:
    config = write_config(tmp_path / "run", CHINOOK, bulk_url, prefix)
    ddb = tables_from_template(config, bulk_url)
    result = run_cli(config, "migrate", "--via-s3", f"s3://{bucket}/load", "--part-mb", "0.5")
    assert result.exit_code == 0, result.output
    rows = bulk_rows(result.output)
    for table, items in EXPECTED.items():
        # table, status, exported, processed, failed, condition failures, s
        assert rows[prefix + table][1:6] == ["COMPLETED", str(items), str(items), "0", "0"], result.output
        assert count_items(ddb, prefix + table) == items
        (operation,) = operations(ddb, prefix + table)
        assert operation["BulkOperationStatus"] == "COMPLETED"
    assert "passed, 0 failed" in result.output  # the validation after the load
    assert objects(s3, bucket, "load/bulk-put/") == ["load/bulk-put/manifest.json"]  # parts removed
    assert "ImportTable" not in result.output


def test_keep_parts_leaves_the_shuffled_parts_on_s3(
    tmp_path: Path, bulk_url: str, s3: Any, bucket: str, prefix: str
) -> None:
    config = write_config(tmp_path / "run", CHINOOK, bulk_url, prefix)
    tables_from_template(config, bulk_url, ("MusicCatalog",))
    args = ("--via-s3", f"s3://{bucket}/load", "-t", "music_catalog", "--keep-parts", "--no-validate")
    result = run_cli(config, "migrate", *args)
    assert result.exit_code == 0, result.output
    parts = [k for k in objects(s3, bucket, f"load/bulk-put/{prefix}MusicCatalog/") if k.endswith(".json.gz")]
    assert parts
    lines = gzip.decompress(s3.get_object(Bucket=bucket, Key=parts[0])["Body"].read()).splitlines()
    keys = [json.loads(line)["Item"]["PK"]["S"] for line in lines]
    assert keys != sorted(keys)  # shuffled: not one partition after another


def test_a_part_with_a_bad_item_names_the_reject_and_fails_the_run(
    tmp_path: Path, bulk_url: str, s3: Any, bucket: str, prefix: str
) -> None:
    config = write_config(tmp_path / "run", CHINOOK, bulk_url, prefix)
    ddb = tables_from_template(config, bulk_url, ("EmployeeData",))
    args = ("--via-s3", f"s3://{bucket}/load", "-t", "employee_data", "--no-validate")
    env = {"AWS_ENDPOINT_URL_S3": s3.meta.endpoint_url, "SQLITE2DDB_KILL_AT": "part_uploaded:1"}
    killed = run_process(config, "migrate", *args, env=env)
    assert killed.returncode == -9, killed.stderr
    (key,) = [k for k in objects(s3, bucket, "load/bulk-put/") if k.endswith(".json.gz")]
    lines = gzip.decompress(s3.get_object(Bucket=bucket, Key=key)["Body"].read()).splitlines()
    bad = json.loads(lines[2])
    bad["Item"]["PK"] = {"N": "3"}  # the table's key is a string: DynamoDB refuses this item
    lines[2] = json.dumps(bad).encode()
    s3.put_object(Bucket=bucket, Key=key, Body=gzip.compress(b"\n".join(lines) + b"\n"))

    resumed = run_process(config, "resume", "--no-validate", env={"AWS_ENDPOINT_URL_S3": s3.meta.endpoint_url})
    assert resumed.returncode == 1, resumed.stderr
    line = one_line(resumed.stderr)
    assert f"bulk put into {prefix}EmployeeData failed" in line
    key = {"PK": {"N": "3"}, "SK": bad["Item"]["SK"]}
    assert f"first: key {json.dumps(key)}" in line and "ValidationError" in line
    rejects = [json.loads(x) for x in (tmp_path / "run" / "state" / "rejects.jsonl").read_text().splitlines()]
    assert [(r["table"], r["key"], r["output_type"]) for r in rejects] == [(prefix + "EmployeeData", key, "ERROR")]
    assert count_items(ddb, prefix + "EmployeeData") == 7
    assert objects(s3, bucket, f"load/bulk-put/{prefix}EmployeeData/")  # kept: the run did not succeed


@pytest.fixture()
def slow_bulk_url(ddb_url: str, s3_url: str) -> Iterator[str]:
    """A stand-in that waits 2 s before an operation's first item and 20 ms per item."""
    server = bulk_put_server.start(ddb_url, s3_url, start_delay=2.0, item_delay=0.02)
    try:
        yield server.url
    finally:
        server.stop()


def _bulk_state(config: Path) -> dict[str, Any]:
    path = config.parent / "state" / "bulk_state.json"
    return json.loads(path.read_text()) if path.exists() else {}


@pytest.mark.parametrize("point", ["bulk_put_called", "bulk_put_started"])
def test_killed_while_the_operation_runs_then_resume_follows_it_without_a_second_one(
    point: str, tmp_path: Path, slow_bulk_url: str, s3: Any, bucket: str, prefix: str
) -> None:
    config = write_config(tmp_path / "run", CHINOOK, slow_bulk_url, prefix)
    ddb = tables_from_template(config, slow_bulk_url, ("CustomerData",))
    env = {"AWS_ENDPOINT_URL_S3": s3.meta.endpoint_url}
    args = ("--via-s3", f"s3://{bucket}/load", "-t", "customer_data", "--no-validate")
    killed = run_process(config, "migrate", *args, env={**env, "SQLITE2DDB_KILL_AT": f"{point}:1"})
    assert killed.returncode == -9, killed.stderr
    record = _bulk_state(config)["bulk_puts"][prefix + "CustomerData"]
    assert ("arn" in record) == (point == "bulk_put_started")  # killed before or after the ARN was recorded
    (running,) = operations(ddb, prefix + "CustomerData")
    assert running["BulkOperationStatus"] == "IN_PROGRESS"

    resumed = run_process(config, "resume", "--no-validate", env=env)
    assert resumed.returncode == 0, resumed.stderr
    assert "StartBulkPutItems started" not in resumed.stderr
    (done,) = operations(ddb, prefix + "CustomerData")  # still one operation
    assert done["BulkOperationArn"] == running["BulkOperationArn"] and done["BulkOperationStatus"] == "COMPLETED"
    assert count_items(ddb, prefix + "CustomerData") == 471
    checked = run_process(config, "validate", "-t", "customer_data", env=env)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_a_cancelled_operation_fails_the_run_and_the_next_run_starts_a_new_one(
    tmp_path: Path, slow_bulk_url: str, s3: Any, bucket: str, prefix: str
) -> None:
    config = write_config(tmp_path / "run", CHINOOK, slow_bulk_url, prefix)
    ddb = tables_from_template(config, slow_bulk_url, ("CustomerData",))
    env = {"AWS_ENDPOINT_URL_S3": s3.meta.endpoint_url}
    command = [sys.executable, str(ROOT / "cli.py"), "-c", str(config), "migrate"]
    command += ["--via-s3", f"s3://{bucket}/load", "-t", "customer_data", "--no-validate"]
    process = subprocess.Popen(command, cwd=ROOT, env={**__import__("os").environ, **env}, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    deadline = time.monotonic() + 120
    while "arn" not in _bulk_state(config).get("bulk_puts", {}).get(prefix + "CustomerData", {}):
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()
        time.sleep(0.2)
    arn = _bulk_state(config)["bulk_puts"][prefix + "CustomerData"]["arn"]
    assert ddb.cancel_bulk_operation(BulkOperationArn=arn)["BulkOperationStatus"] in ("CANCELLING", "CANCELLED")
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 1, stderr
    assert f"bulk put into {prefix}CustomerData failed: status CANCELLED" in one_line(stderr)
    assert count_items(ddb, prefix + "CustomerData") < 471

    again = run_process(config, "resume", "--no-validate", env=env)
    assert again.returncode == 0, again.stderr
    assert [o["BulkOperationStatus"] for o in operations(ddb, prefix + "CustomerData")] == ["COMPLETED", "CANCELLED"]
    assert count_items(ddb, prefix + "CustomerData") == 471


def test_a_guarded_sync_via_s3_puts_new_keys_in_bulk_and_reports_what_the_application_changed(
    tmp_path: Path, bulk_url: str, s3: Any, bucket: str, prefix: str
) -> None:
    from songs_and_plays import MAPPING, PLAYS, make_source, play_key

    source = make_source(tmp_path / "music.sqlite", bad=False)
    mappings = tmp_path / "mappings"
    mappings.mkdir()
    (mappings / "music.yaml").write_text(
        MAPPING.replace("  - name: PlayHistory\n", "  - name: PlayHistory\n    fingerprint_attribute: _fp\n")
    )
    config = write_config(tmp_path / "run", source, bulk_url, prefix, mappings)
    assert run_cli(config, "migrate", "--no-validate").exit_code == 0
    ddb = boto3.client("dynamodb", endpoint_url=bulk_url, region_name="us-east-1", **LOCAL_CREDENTIALS)
    plays = f"{prefix}PlayHistory"
    new, taken = PLAYS + 1, PLAYS + 2
    # the application changes play 5, and writes an item under a key the source is about to add
    ddb.update_item(TableName=plays, Key=play_key(5), UpdateExpression="SET Seconds = :s",
                    ExpressionAttributeValues={":s": {"N": "999"}})  # fmt: skip
    ddb.put_item(TableName=plays, Item={**play_key(taken), "Seconds": {"N": "777"}})
    with sqlite3.connect(source) as db:
        db.execute("UPDATE play SET seconds = 1 WHERE id IN (5, 7)")
        db.execute("DELETE FROM play WHERE id = 8")
        db.executemany("INSERT INTO play VALUES (?, 1, ?, 42)", [(new, f"user{new % 7}"), (taken, f"user{taken % 7}")])
    db.close()

    args = ("sync", "--no-validate", "--guard", "-t", "play_history", "--via-s3", f"s3://{bucket}/sync")
    result = run_cli(config, *args)
    assert result.exit_code == 1, result.output
    text = one_line(result.stderr)
    assert "error: sync --guard: 2 item(s) were changed outside the tool and left as they are" in text
    conflicts = [line for line in result.stderr.splitlines() if "was changed outside the tool" in line]
    assert any(f'"SK": "PLAY#{taken:06d}"' in line for line in conflicts), result.stderr  # the failed condition
    assert ddb.get_item(TableName=plays, Key=play_key(5))["Item"]["Seconds"] == {"N": "999"}, "kept"
    assert ddb.get_item(TableName=plays, Key=play_key(taken))["Item"] == {**play_key(taken), "Seconds": {"N": "777"}}
    assert ddb.get_item(TableName=plays, Key=play_key(new))["Item"]["Seconds"] == {"N": "42"}  # by the bulk put
    assert ddb.get_item(TableName=plays, Key=play_key(7))["Item"]["Seconds"] == {"N": "1"}  # UpdateItem
    assert "Item" not in ddb.get_item(TableName=plays, Key=play_key(8))  # BatchWriteItem
    (operation,) = operations(ddb, plays)
    assert operation["ProcessedItemCount"] == 2  # only the new keys went through bulk put
    assert objects(s3, bucket, "sync/") == []  # parts and report removed
