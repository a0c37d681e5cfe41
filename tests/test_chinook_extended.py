"""The extended example mapping set: plan, migrate and validate with every check passing.

mappings/chinook-extended uses local indexes, TTL, a stream, PITR, tags, a
string set, NULLs kept and defaulted, ISO 8601 dates, epoch seconds and a
write-sharded index key, against DynamoDB Local.
"""

from __future__ import annotations

import calendar
import json
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT, count_items, error_lines, one_line, run_cli, scan_all

EXTENDED = ROOT / "mappings" / "chinook-extended"


@pytest.fixture(autouse=True)
def wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "300")


def test_extended_example_plans_migrates_and_validates(make_config: Any, ddb: Any, prefix: str, tmp_path: Path):
    config = make_config(mappings=EXTENDED)
    plan = run_cli(config, "plan")
    assert plan.exit_code == 0, plan.output
    text = one_line(plan.output)
    assert (
        f"{prefix}Sales: local index ByDate(PK:S, InvoicedAt:S) ALL; local index ByTotal(PK:S, InvoiceTotal:N) "
        "INCLUDE; ttl: ExpiresAt; stream: NEW_AND_OLD_IMAGES; point_in_time_recovery: True; "
        "deletion_protection: False; table_class: STANDARD; tags: {'app': 'chinook', 'data': 'sales'}"
    ) in text

    result = run_cli(config, "migrate", "--no-validate")
    assert result.exit_code == 0, result.output + result.stderr
    assert not error_lines(result.stderr)
    name = f"{prefix}Sales"
    assert count_items(ddb, name) == 59 + 412

    table = ddb.describe_table(TableName=name)["Table"]
    assert sorted(i["IndexName"] for i in table["LocalSecondaryIndexes"]) == ["ByDate", "ByTotal"]
    assert table["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
    assert ddb.describe_time_to_live(TableName=name)["TimeToLiveDescription"] == {
        "TimeToLiveStatus": "ENABLED",
        "AttributeName": "ExpiresAt",
    }

    items = {(i["PK"]["S"], i["SK"]["S"]): i for i in scan_all(ddb, name)}
    invoice = items[("CUSTOMER#2", "INVOICE#000001")]
    assert invoice["InvoiceDate"] == {"S": "2021-01-01T00:00:00Z"}
    assert invoice["ExpiresAt"] == {"N": str(calendar.timegm((2031, 1, 1, 0, 0, 0)))}  # ten years on, in UTC
    assert invoice["InvoicedAt"] == {"S": "2021-01-01T00:00:00#000001"}
    shards = {i["MonthShard"]["S"].rsplit("#", 1)[1] for i in items.values() if "MonthShard" in i}
    assert shards == {"0", "1", "2", "3"}
    customer = items[("CUSTOMER#1", "PROFILE")]
    assert customer["State"] == {"S": "SP"} and "Genres" in customer
    assert len(customer["Genres"]["SS"]) == len(set(customer["Genres"]["SS"])) > 1
    nulls = [i for i in items.values() if i.get("Company") == {"NULL": True}]
    assert nulls and all("State" in i for i in items.values() if i["SK"]["S"] == "PROFILE")

    report = tmp_path / "report.md"
    check = run_cli(config, "validate", "--report", str(report))
    assert check.exit_code == 0, check.output
    document = json.loads(report.with_suffix(".json").read_text())
    assert document["result"] == "pass"
    names = {c["name"] for c in document["checks"]}
    assert {
        "shape:sales",
        "count:Customer",
        "count:Invoice",
        "items:sales",
        "aggregate:ext-invoice-total-sum",
        "pattern:x01-customer-profile",
        "pattern:x02-invoices-of-customer-in-a-year",
        "pattern:x03-invoices-of-customer-over-an-amount",
    } <= names
    # catalog.yaml: three patterns through the multi-attribute index ByGenreAndMedia, the third from one index read
    checks = {c["name"]: c for c in document["checks"]}
    for name in ("x04-tracks-of-genre-and-media", "x05-tracks-of-genre-and-media-of-a-length"):
        assert checks[f"pattern:{name}"]["status"] == "pass"
    assert "index read of" in checks["pattern:x06-tracks-of-the-same-length-from-a-track"]["summary"]
    assert checks["shape:catalog"]["status"] == "pass"
    # DynamoDB Local has no PITR and no tagging: one line each, not an error
    assert "does not support point-in-time recovery (UnknownOperationException)" in check.stderr
    assert "does not support tagging (UnknownOperationException)" in check.stderr
