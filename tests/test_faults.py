"""Faults injected for real between the tool and DynamoDB Local, through tests/faultproxy.py.

The tool talks to the proxy (``endpoint=proxy.url``); the proxy answers some
``BatchWriteItem`` requests with throttling errors, 500/503, dropped
connections (before or after forwarding), a partial success with
``UnprocessedItems``, or a delay past the client's read timeout. Nothing of
the tool is patched: what is checked is what a user sees - the exit code, the
messages, ``status``, the state file, the log file, the wall time - and, at the
end, ``validate --check items: --check count:`` run straight against DynamoDB
Local (not through the proxy), which compares every item with the source.

The tests: a run through a mix of every fault (over 20% of the write
requests) completes and validates item by item; retries exhausted stop the run
with the resume hint, ``status`` names the failed item type and why, and
``resume`` finishes; the throttling WARNING comes once per episode, not once
per throttled request; ``--max-wcu`` caps the write rate; and throttles on
other operations than BatchWriteItem (Scan in validate, DescribeTable in
migrate) are retried too.

Chinook subsets keep the runs short: ``customer_data`` (59 Customer and 412
Invoice items, the invoices with their lines embedded) and ``employee_data``
(8 Employee items).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import count_items, error_lines, items_written, one_line, run_cli, table_rows
from faultproxy import MIXED_FAULTS, THROTTLE_KINDS, FaultProxy

CUSTOMERS, INVOICES, EMPLOYEES = 59, 412, 8
BATCH = {"BatchWriteItem"}


@pytest.fixture(autouse=True)
def wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "500")


@pytest.fixture(scope="module", autouse=True)
def warm_dynamodb_local(ddb: Any) -> None:
    """A cold DynamoDB Local takes seconds over its first CreateTable; the short client
    timeouts these tests use are meant for the faults, not for the JVM warming up."""
    name = f"warmup_{uuid.uuid4().hex[:8]}"
    ddb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "PK", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    ddb.batch_write_item(RequestItems={name: [{"PutRequest": {"Item": {"PK": {"S": str(i)}}}} for i in range(25)]})
    ddb.delete_table(TableName=name)


@pytest.fixture()
def proxy(ddb_url: str) -> Iterator[FaultProxy]:
    with FaultProxy(ddb_url, seed=20240611) as running:
        yield running


# ----------------------------------------------------------------------------- helpers
def set_batch_size(config: Path, size: int) -> None:
    data = json.loads(config.read_text())
    data["batch_size"] = size
    config.write_text(json.dumps(data, indent=2))


def with_endpoint(config: Path, url: str) -> Path:
    """The same configuration (same prefix, same state file) to another endpoint: straight to
    DynamoDB Local, or through the proxy."""
    data = json.loads(config.read_text())
    data["endpoint_url"] = url
    path = config.with_name(f"endpoint-{abs(hash(url))}.json")
    path.write_text(json.dumps(data, indent=2))
    return path


def state_of(config: Path) -> dict[str, Any]:
    path = Path(json.loads(config.read_text())["migration_settings"]["state_file"])
    return json.loads(path.read_text())


def assert_validates(config: Path, *tables: str) -> None:
    """validate --check items: --check count: passes for each table: nothing missing, extra or different."""
    for table in tables:
        result = run_cli(config, "validate", "-t", table, "--check", "items:", "--check", "count:")
        assert result.exit_code == 0, result.output
        assert "0 failed" in result.output, result.output
        assert f"items:{table}" in result.output


def pass_through(proxy: FaultProxy, count: int | None = None) -> None:
    """A rule that forwards BatchWriteItem unchanged (a zero delay): it counts the requests no fault took."""
    proxy.add_rule("delay", rate=1.0, operations=BATCH, count=count, seconds=0)


# ----------------------------------------------------------------------------- a mix of faults
FAULT_MIX: list[tuple[str, float, dict[str, Any]]] = [
    *MIXED_FAULTS,
    ("delay", 0.03, {"seconds": 3}),  # past the 2 s client timeout
]


def test_migration_through_a_mix_of_faults_completes_and_every_item_validates(
    proxy: FaultProxy, make_config: Any, ddb_url: str, ddb: Any, prefix: str
) -> None:
    config = make_config(endpoint=proxy.url, max_retries=12, retry_delay=0.02, timeout=2, workers=4)
    set_batch_size(config, 10)
    # every kind of fault once at the start (so each is surely seen), then at random
    for fault, _, params in FAULT_MIX:
        proxy.add_rule(fault, rate=1.0, operations=BATCH, count=1, **params)
    for fault, rate, params in FAULT_MIX:
        count = 3 if fault == "delay" else None  # each delay costs the client a 2 s timeout
        proxy.add_rule(fault, rate=rate, operations=BATCH, count=count, **params)
    pass_through(proxy)

    result = run_cli(config, "migrate", "--no-validate", "-t", "customer_data", "-t", "employee_data")
    assert result.exit_code == 0, result.output
    assert items_written(result.output) == CUSTOMERS + INVOICES + EMPLOYEES

    rules = proxy.rules
    faulted = sum(r.fired for r in rules[:-1])
    batch_requests = faulted + rules[-1].fired
    injected = {fault: 0 for fault, _, _ in FAULT_MIX}
    for rule in rules[:-1]:
        injected[rule.fault] += rule.fired
    print(f"BatchWriteItem requests {batch_requests}, faulted {faulted}; by kind {injected}")
    assert faulted >= 0.20 * batch_requests, (faulted, batch_requests, injected)
    assert all(n >= 1 for n in injected.values()), injected
    assert sum(r.fired for r in rules if r.fault == "server_error" and r.params["status"] == 503) >= 1

    # the state file and status count the retries and the throttles
    state = state_of(config)["item_types"]
    written = {name: state[name] for name in ("Customer", "Invoice", "Employee")}
    assert all(e["status"] == "done" for e in written.values()), written
    throttles = sum(e["throttles"] for e in written.values())
    retries = sum(e["retries"] for e in written.values())
    # every injected throttle is counted as one; every fault costs at least one retry
    assert throttles == sum(injected[k] for k in THROTTLE_KINDS), (throttles, injected)
    print(f"state: retries {retries}, throttles {throttles}")
    assert retries >= faulted > 0, (retries, faulted)

    status = run_cli(config, "status")
    assert status.exit_code == 0, status.output
    rows = table_rows(status.output)
    # item type | table | state | rows done/total | % | items | items/s | errors | retries | throttles | ...
    assert sum(int(rows[name][8]) for name in written) == retries, status.output
    assert sum(int(rows[name][9]) for name in written) == throttles, status.output
    assert sum(int(rows[name][9]) for name in written) > 0

    # straight to DynamoDB Local: every item is there, once, as the source renders it
    proxy.clear_rules()
    direct = with_endpoint(config, ddb_url)
    assert_validates(direct, "customer_data", "employee_data")
    assert count_items(ddb, f"{prefix}CustomerData") == CUSTOMERS + INVOICES


# ----------------------------------------------------------------------------- retries exhausted
def test_retries_exhausted_stops_with_the_resume_hint_then_resume_finishes(
    proxy: FaultProxy, make_config: Any, ddb_url: str, ddb: Any, prefix: str
) -> None:
    config = make_config(endpoint=proxy.url, max_retries=2, retry_delay=0.01, workers=4)
    # the first 5 BatchWriteItem requests go through (the 3 Customer batches and 2 of
    # Invoice), every later one is throttled, for good
    pass_through(proxy, count=5)
    proxy.add_rule("throttle", rate=1.0, operations=BATCH)

    result = run_cli(config, "migrate", "--no-validate", "-t", "customer_data")
    assert result.exit_code == 1, result.output
    stderr = one_line(result.stderr)
    assert "resume' to continue" in stderr, result.stderr
    assert "item type Invoice: writing to" in stderr and "still failing after 2 retries" in stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert proxy.stats["throttle"] >= 3  # the failed batch: its first attempt and two retries

    state = state_of(config)["item_types"]
    assert state["Customer"]["status"] == "done"
    invoice = state["Invoice"]
    assert invoice["status"] == "failed"
    assert "still failing after 2 retries" in invoice["error"]
    checkpointed = invoice["items_written"]
    assert 0 <= checkpointed <= 50 and checkpointed % 25 == 0, invoice
    assert invoice["throttles"] >= 3

    status = run_cli(config, "status")
    assert status.exit_code == 0, status.output
    row = table_rows(status.output)["Invoice"]
    assert row[2].startswith("failed (") and "still failing after 2 retries" in row[2], row
    assert row[3] == f"{invoice['rows_read']}/{INVOICES}"
    assert int(row[9]) >= 3, row
    assert table_rows(status.output)["Customer"][2] == "done"

    proxy.clear_rules()
    resumed = run_cli(config, "resume", "--no-validate", "-t", "customer_data")
    assert resumed.exit_code == 0, resumed.output
    rows = table_rows(resumed.output)
    assert rows["Customer"][2] == "skipped"
    assert rows["Invoice"][2:4] == ["done", str(INVOICES - checkpointed)], rows["Invoice"]
    assert state_of(config)["item_types"]["Invoice"]["status"] == "done"
    assert count_items(ddb, f"{prefix}CustomerData") == CUSTOMERS + INVOICES
    assert_validates(with_endpoint(config, ddb_url), "customer_data")


# ----------------------------------------------------------------------------- access denied
DENIED = "access denied (User: arn:aws:iam::123456789012:user/migrator is not authorized to perform this action"


def test_access_denied_on_create_table_is_one_line_and_writes_nothing(
    proxy: FaultProxy, make_config: Any, ddb: Any, prefix: str
) -> None:
    config = make_config(endpoint=proxy.url)
    proxy.add_rule("access_denied", rate=1.0, operations={"CreateTable"})
    result = run_cli(config, "migrate", "--no-validate", "-t", "employee_data")
    assert result.exit_code == 2, result.output
    errors = error_lines(result.stderr)
    assert len(errors) == 1, result.stderr
    assert errors[0].startswith(f"error: creating table {prefix}EmployeeData: {DENIED}"), errors
    assert errors[0].endswith("(grant the IAM actions listed in the README)"), errors
    assert proxy.stats["access_denied"] == 1, "a refusal is not retried"
    assert "Traceback" not in result.stderr
    assert f"{prefix}EmployeeData" not in ddb.list_tables()["TableNames"]


def test_access_denied_midway_stops_at_the_checkpoint_and_resume_finishes(
    proxy: FaultProxy, make_config: Any, ddb_url: str, ddb: Any, prefix: str
) -> None:
    """A policy without BatchWriteItem on one table (or one revoked mid-run): exit 2, nothing already written lost."""
    config = make_config(endpoint=proxy.url, workers=1)
    pass_through(proxy, count=5)  # the 3 Customer batches and 2 of Invoice
    proxy.add_rule("access_denied", rate=1.0, operations=BATCH)

    result = run_cli(config, "migrate", "--no-validate", "-t", "customer_data")
    assert result.exit_code == 2, result.output
    stderr = one_line(result.stderr)
    assert f"error: item type Invoice: writing to {prefix}CustomerData: {DENIED}" in stderr, result.stderr
    assert "(grant the IAM actions listed in the README)" in stderr
    assert "the checkpoint is saved; run" in stderr and "resume' to continue" in stderr
    assert proxy.stats["access_denied"] == 1, "a refusal is not retried"

    invoice = state_of(config)["item_types"]["Invoice"]
    assert invoice["status"] == "failed" and "access denied" in invoice["error"], invoice
    assert invoice["items_written"] == 50, invoice  # one writer: exactly the two batches that went through
    assert count_items(ddb, f"{prefix}CustomerData") == CUSTOMERS + 50

    proxy.clear_rules()
    resumed = run_cli(config, "resume", "--no-validate", "-t", "customer_data")
    assert resumed.exit_code == 0, resumed.output
    assert table_rows(resumed.output)["Invoice"][2:4] == ["done", str(INVOICES - 50)]
    assert_validates(with_endpoint(config, ddb_url), "customer_data")


# ----------------------------------------------------------------------------- one warning per episode
def test_throttling_warning_is_logged_once_per_half_minute_not_per_request(proxy: FaultProxy, make_config: Any) -> None:
    # one writer thread: requests go out one at a time, so the episodes are exact
    config = make_config(endpoint=proxy.url, retry_delay=0.01, workers=1)
    pass_through(proxy, count=3)  # the 3 Customer batches
    proxy.add_rule("throttle", rate=1.0, operations=BATCH, count=4)  # episode 1: Invoice batch 1, 4 times
    pass_through(proxy, count=3)  # Invoice batches 1-3 go through
    proxy.add_rule("throttling", rate=1.0, operations=BATCH, count=2)  # episode 2: Invoice batch 4,
    proxy.add_rule("request_limit", rate=1.0, operations=BATCH, count=3)  # 5 times, two kinds of throttle

    result = run_cli(config, "migrate", "--no-validate", "-t", "customer_data")
    assert result.exit_code == 0, result.output
    stats = proxy.stats
    injected = sum(stats[k] for k in THROTTLE_KINDS)
    assert injected == 9, stats

    log = Path(json.loads(config.read_text())["logging"]["file"]).read_text()
    warnings = [line for line in log.splitlines() if "WARNING" in line and "throttling writes" in line]
    # two episodes within seconds: a hot key throttles on and off like this for minutes, so a writer
    # tells it once per half minute (the counts in the state have every throttle)
    assert len(warnings) == 1, warnings
    assert "ProvisionedThroughputExceededException" in warnings[0] and "CustomerData" in warnings[0]
    state = state_of(config)["item_types"]
    assert state["Invoice"]["throttles"] == injected
    assert state["Customer"]["throttles"] == 0


# ----------------------------------------------------------------------------- --max-wcu
def test_max_wcu_caps_the_write_rate(make_config: Any, ddb: Any, prefix: str) -> None:
    config = make_config()
    items = CUSTOMERS + INVOICES + EMPLOYEES
    # every item costs at least one WCU (the invoices with many lines cost more): a lower bound
    wcu = items
    started = time.monotonic()
    result = run_cli(
        config, "migrate", "--no-validate", "--max-wcu", "50", "-t", "customer_data", "-t", "employee_data"
    )
    elapsed = time.monotonic() - started
    assert result.exit_code == 0, result.output
    assert items_written(result.output) == items
    print(f"{items} items (>= {wcu} WCU) at --max-wcu 50 took {elapsed:.1f}s")
    # the bucket starts full: one second of burst
    assert elapsed >= wcu / 50 - 1, elapsed
    assert count_items(ddb, f"{prefix}CustomerData") == CUSTOMERS + INVOICES
    assert count_items(ddb, f"{prefix}EmployeeData") == EMPLOYEES


# ----------------------------------------------------------------------------- faults on other operations
def test_validate_rides_out_throttles_and_errors_on_its_reads(proxy: FaultProxy, make_config: Any) -> None:
    config = make_config(retry_delay=0.01)
    result = run_cli(config, "migrate", "--no-validate", "-t", "customer_data")
    assert result.exit_code == 0, result.output
    # DynamoDB throttles reads too (a provisioned table's RCU, an on-demand partition's limit)
    proxy.add_rule("throttle", rate=1.0, operations={"Scan"}, count=2)
    proxy.add_rule("server_error", rate=1.0, operations={"Scan"}, count=1, status=503)
    proxy.add_rule("reset_before", rate=1.0, operations={"Query"}, count=1)
    proxy.add_rule("throttling", rate=1.0, operations={"Query"}, count=2)
    proxy.add_rule("request_limit", rate=1.0, operations={"BatchGetItem"}, count=1)
    result = run_cli(with_endpoint(config, proxy.url), "validate", "-t", "customer_data")
    stats = proxy.stats
    assert (stats["throttle"], stats["server_error"], stats["reset_before"]) == (2, 1, 1), stats
    assert (stats["throttling"], stats["request_limit"]) == (2, 1), stats
    assert result.exit_code == 0, result.output
    assert "0 failed" in result.output
    # a warning per throttle episode, not per request: the two throttles of the one Scan warn once
    # (the pattern checks run in threads, so how their throttles group into episodes varies)
    log = Path(json.loads(config.read_text())["logging"]["file"]).read_text()
    warnings = [line for line in log.splitlines() if "WARNING" in line and "DynamoDB is throttling" in line]
    scans = [line for line in warnings if "scanning" in line]
    assert len(scans) == 1 and "ProvisionedThroughputExceededException" in scans[0], warnings
    assert 3 <= len(warnings) < 5, warnings


def test_a_throttled_describe_table_does_not_stop_the_migration(
    proxy: FaultProxy, make_config: Any, ddb: Any, prefix: str
) -> None:
    config = make_config(endpoint=proxy.url)
    proxy.add_rule("throttling", rate=1.0, operations={"DescribeTable"}, count=1)
    result = run_cli(config, "migrate", "--no-validate", "-t", "employee_data")
    assert proxy.stats["throttling"] == 1
    assert result.exit_code == 0, result.output
    assert count_items(ddb, f"{prefix}EmployeeData") == EMPLOYEES
