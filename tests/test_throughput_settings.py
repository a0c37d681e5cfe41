"""On-demand maximum throughput (``max_throughput`` in a table's mapping) and ``migrate --warm-throughput``.

DynamoDB Local 3.3.0 takes OnDemandThroughput at CreateTable and reports it,
but fails an UpdateTable of it (InternalFailure), and ignores WarmThroughput
(not reported; an UpdateTable of it alone is "Nothing to update"). The
capacity proxy (tests/capacity_proxy.py) records both requests and keeps both
settings as AWS does, so the tool's whole path is checked through it; one
test runs against DynamoDB Local itself to show the load goes on there.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import boto3
import pytest
from capacity_proxy import CapacityProxy
from conftest import FAKE_CREDENTIALS, run_cli, scan_all

MAPPING = """\
tables:
  - name: Things
    partition_key: {name: PK, type: S}
    indexes:
      - name: ByName
        partition_key: {name: Name, type: S}
__SETTINGS__
item_types:
  - name: Thing
    table: Things
    query: SELECT id, name FROM thing
    cursor: [id]
    keys:
      PK: "THING#{{ id }}"
    attributes:
      Entity: {const: Thing}
      Name: name
"""


def project(tmp_path: Path, make_config: Any, endpoint: str, settings: str = "") -> Path:
    source = tmp_path / "things.sqlite"
    if not source.exists():
        with sqlite3.connect(source) as conn:
            conn.execute("CREATE TABLE thing (id INTEGER PRIMARY KEY, name TEXT)")
            conn.executemany("INSERT INTO thing VALUES (?, ?)", [(i, f"thing {i}") for i in range(1, 41)])
        conn.close()
    mappings = tmp_path / "mappings"
    mappings.mkdir(exist_ok=True)
    (mappings / "things.yaml").write_text(MAPPING.replace("__SETTINGS__", settings))
    return make_config(source=source, mappings=mappings, endpoint=endpoint)


@pytest.fixture(autouse=True)
def wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "400")


def sent(proxy: CapacityProxy, operation: str, setting: str) -> list[dict[str, Any]]:
    return [request[setting] for op, request in proxy.table_requests if op == operation and setting in request]


def test_max_throughput_is_set_at_create_table_and_changed_in_place(
    tmp_path: Path, ddb_url: str, ddb: Any, prefix: str, make_config: Any
) -> None:
    with CapacityProxy(ddb_url) as proxy:
        # both: DynamoDB Local refuses a CreateTable with one of the two (AWS takes either)
        config = project(tmp_path, make_config, proxy.url, "    max_throughput: {write: 500, read: 1000}\n")
        first = run_cli(config, "migrate", "--no-validate")
        assert first.exit_code == 0, first.output
        assert sent(proxy, "CreateTable", "OnDemandThroughput") == [
            {"MaxWriteRequestUnits": 500, "MaxReadRequestUnits": 1000}
        ]
        # DynamoDB Local itself keeps what CreateTable set
        described = ddb.describe_table(TableName=f"{prefix}Things")["Table"]
        assert described["OnDemandThroughput"]["MaxWriteRequestUnits"] == 500

        config = project(tmp_path, make_config, proxy.url, "    max_throughput: {write: 800, read: 2000}\n")
        second = run_cli(config, "migrate", "--force", "--no-validate")
        assert second.exit_code == 0, second.output
        assert sent(proxy, "UpdateTable", "OnDemandThroughput") == [
            {"MaxWriteRequestUnits": 800, "MaxReadRequestUnits": 2000}
        ]
        through = boto3.client("dynamodb", endpoint_url=proxy.url, region_name="us-east-1", **FAKE_CREDENTIALS)
        cap = through.describe_table(TableName=f"{prefix}Things")["Table"]["OnDemandThroughput"]
        assert (cap["MaxWriteRequestUnits"], cap["MaxReadRequestUnits"]) == (800, 2000)
        plan = run_cli(config, "plan")
    assert plan.exit_code == 0, plan.output
    assert "max_throughput" in plan.output
    assert len(scan_all(ddb, f"{prefix}Things")) == 40


def test_max_throughput_on_a_provisioned_table_is_a_plan_time_error(
    tmp_path: Path, ddb_url: str, make_config: Any
) -> None:
    config = project(tmp_path, make_config, ddb_url)
    settings = "    billing_mode: PROVISIONED\n    max_throughput: {write: 500}\n"
    (tmp_path / "mappings" / "things.yaml").write_text(MAPPING.replace("__SETTINGS__", settings))
    result = run_cli(config, "plan")
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if "max_throughput" in line]
    assert len(lines) == 1 and "things.yaml:8" in lines[0] and "PROVISIONED" in lines[0], result.output
    assert "Traceback" not in result.output


def test_warm_throughput_is_raised_before_the_load_and_never_lowered(
    tmp_path: Path, ddb_url: str, ddb: Any, prefix: str, make_config: Any
) -> None:
    with CapacityProxy(ddb_url) as proxy:
        config = project(tmp_path, make_config, proxy.url)
        first = run_cli(config, "migrate", "--no-validate", "--warm-throughput", "20000")
        assert first.exit_code == 0, first.output
        assert sent(proxy, "UpdateTable", "WarmThroughput") == [{"WriteUnitsPerSecond": 20000}]
        index_update = {"Update": {"IndexName": "ByName", "WarmThroughput": {"WriteUnitsPerSecond": 20000}}}
        assert sent(proxy, "UpdateTable", "GlobalSecondaryIndexUpdates") == [[index_update]]
        assert f"warm throughput of {prefix}Things: write 4000 -> 20000 units/s" in first.output
        assert f"warm throughput of {prefix}Things (index ByName): write 4000 -> 20000 units/s" in first.output
        assert "pre-warmed 32,000 units/s" in first.output

        lower = run_cli(config, "migrate", "--force", "--no-validate", "--warm-throughput", "10000")
        assert lower.exit_code == 0, lower.output
        assert sent(proxy, "UpdateTable", "WarmThroughput") == [{"WriteUnitsPerSecond": 20000}]  # nothing more sent
        assert len(sent(proxy, "UpdateTable", "GlobalSecondaryIndexUpdates")) == 1
        said = ": write already 20000 units/s (asked 10000; warm throughput is never lowered)"
        assert f"{prefix}Things{said}" in lower.output and f"{prefix}Things (index ByName){said}" in lower.output
    assert len(scan_all(ddb, f"{prefix}Things")) == 40


def test_dynamodb_local_takes_no_warm_throughput_and_the_load_goes_on(
    tmp_path: Path, ddb_url: str, ddb: Any, prefix: str, make_config: Any
) -> None:
    config = project(tmp_path, make_config, ddb_url)
    result = run_cli(config, "migrate", "--no-validate", "--warm-throughput", "20000")
    assert result.exit_code == 0, result.output
    for where in (f"{prefix}Things:", f"{prefix}Things (index ByName):"):  # the table and its index
        assert f"warm throughput of {where} not changed: " in result.output, result.output
    assert "does not take warm throughput" in result.output
    assert len(scan_all(ddb, f"{prefix}Things")) == 40
