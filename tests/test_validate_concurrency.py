"""validate on a pool of readers: the same verdicts as one reader, a read budget that holds, timings.

Chinook is migrated once for the module. The damage test breaks the target in
several ways, runs validate with one worker and with four (parallel Scan
segments, access patterns on a pool) and compares the two reports check by
check. The budget test reads through the fault proxy with ``--max-rcu`` and
measures the rate from the capacity DynamoDB says it consumed.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import CHINOOK, run_cli, write_config
from faultproxy import FaultProxy

TRACK_1 = {"PK": {"S": "TRACK#1"}, "SK": {"S": "PROFILE"}}
TRACK_2 = {"PK": {"S": "TRACK#2"}, "SK": {"S": "PROFILE"}}
STRAY = {"PK": {"S": "TRACK#999999"}, "SK": {"S": "PROFILE"}, "Entity": {"S": "Track"}}


@pytest.fixture(scope="module")
def migrated(tmp_path_factory: pytest.TempPathFactory, ddb_url: str, ddb: Any) -> Iterator[tuple[Path, str]]:
    folder = tmp_path_factory.mktemp("validate-concurrency")
    prefix = f"c{uuid.uuid4().hex[:8]}_"
    config = write_config(folder / "run", CHINOOK, ddb_url, prefix)
    result = run_cli(config, "migrate", "--no-validate")
    assert result.exit_code == 0, result.output
    yield config, prefix
    for name in ("MusicCatalog", "CustomerData", "PlaylistData", "EmployeeData"):
        ddb.delete_table(TableName=f"{prefix}{name}")


def report_of(config: Path, report: Path, *args: str) -> dict[str, Any]:
    result = run_cli(config, "validate", "--report", str(report), *args)
    assert result.exit_code in (0, 1), result.output
    return json.loads(report.read_text())


def verdicts(document: dict[str, Any]) -> dict[str, tuple[Any, ...]]:
    """What a user reads of each check: pass/fail, how much was compared, the failures named."""
    return {
        c["name"]: (c["passed"], c["compared"], c["failure_count"], json.dumps(c["failures"], sort_keys=True))
        for c in document["checks"]
    }


def test_four_workers_give_the_verdicts_of_one_on_a_damaged_target(
    migrated: tuple[Path, str], ddb: Any, tmp_path: Path
) -> None:
    config, prefix = migrated
    music, playlists = f"{prefix}MusicCatalog", f"{prefix}PlaylistData"
    track_1 = ddb.get_item(TableName=music, Key=TRACK_1, ConsistentRead=True)["Item"]
    track_2 = ddb.get_item(TableName=music, Key=TRACK_2, ConsistentRead=True)["Item"]
    # one playlist entry of track 1, found through the index the pattern p14 uses
    entry = ddb.query(
        TableName=playlists,
        IndexName="GSI1",
        KeyConditionExpression="GSI1PK = :pk",
        ExpressionAttributeValues={":pk": {"S": "TRACK#1"}},
    )["Items"][0]
    entry_key = {"PK": entry["PK"], "SK": entry["SK"]}
    ddb.delete_item(TableName=music, Key=TRACK_1)
    ddb.put_item(TableName=music, Item={**track_2, "Name": {"S": "Renamed behind our back"}})
    ddb.put_item(TableName=music, Item=STRAY)
    ddb.delete_item(TableName=playlists, Key=entry_key)
    checks = ["--check", "items:", "--check", "count:", "--check", "pattern:p04", "--check", "pattern:p14"]
    try:
        one = report_of(config, tmp_path / "one.json", "--workers", "1", *checks)
        four = report_of(config, tmp_path / "four.json", "--workers", "4", *checks)
        # p04 and p14 (3,503 values each) are proven from one read of their index above;
        # one request per value must give the same verdicts, failures and keys
        per_value = report_of(config, tmp_path / "per-value.json", "--index-read-above", "-1", *checks)
    finally:
        ddb.put_item(TableName=music, Item=track_1)
        ddb.put_item(TableName=music, Item=track_2)
        ddb.delete_item(TableName=music, Key={"PK": STRAY["PK"], "SK": STRAY["SK"]})
        ddb.put_item(TableName=playlists, Item=entry)

    assert verdicts(four) == verdicts(one) == verdicts(per_value)
    p14 = "pattern:p14-playlists-of-track"
    assert "index read of" in next(c["summary"] for c in four["checks"] if c["name"] == p14)
    assert "(3503 queries)" in next(c["summary"] for c in per_value["checks"] if c["name"] == p14)
    assert four["reads"]["workers"] == 4 and one["reads"]["workers"] == 1
    # every damage is caught and named, with its key
    items = next(c for c in four["checks"] if c["name"] == "items:music_catalog")
    found = {(f["kind"], json.dumps(f["key"], sort_keys=True), f["path"]) for f in items["failures"]}
    assert ("missing", json.dumps({"PK": "TRACK#1", "SK": "PROFILE"}), None) in found
    assert ("extra", json.dumps({"PK": "TRACK#999999", "SK": "PROFILE"}), None) in found
    assert ("differs", json.dumps({"PK": "TRACK#2", "SK": "PROFILE"}), "Name") in found
    playlist_items = next(c for c in four["checks"] if c["name"] == "items:playlist_data")
    assert [f["kind"] for f in playlist_items["failures"]] == ["missing"]
    assert playlist_items["failures"][0]["key"] == {k: v["S"] for k, v in entry_key.items()}
    failed = {c["name"] for c in four["checks"] if not c["passed"]}
    assert {"pattern:p04-track-by-id", "pattern:p14-playlists-of-track", "count:PlaylistTrack"} <= failed
    p04 = next(c for c in four["checks"] if c["name"] == "pattern:p04-track-by-id")
    assert p04["compared"] == 3503 and p04["failure_count"] == 2  # track 1 absent, track 2 renamed


def test_max_rcu_holds_the_read_rate(migrated: tuple[Path, str], ddb_url: str, tmp_path: Path) -> None:
    _, prefix = migrated
    cap = 40.0
    with FaultProxy(ddb_url, seed=3) as proxy:
        through_proxy = write_config(tmp_path / "proxied", CHINOOK, proxy.url, prefix)
        started = time.monotonic()
        document = report_of(
            through_proxy,
            tmp_path / "capped.json",
            *("--check", "pattern:p09-invoice-lines", "--index-read-above", "-1", "--max-rcu", str(cap)),
        )  # one request per value: 412 queries
        elapsed = time.monotonic() - started
        seen = proxy.stats["requests"]
    assert document["result"] == "pass"
    reads = document["reads"]
    units = reads["read_units"]
    # long enough to mean something: several seconds at the cap
    assert units >= 4 * cap, reads
    # the bucket starts full (one second's worth); each of the 4 workers may overshoot by one request
    assert units <= cap * elapsed + cap + 4 * 4, (units, elapsed)
    # every read went through the proxy, one request per query
    assert reads["requests"] >= 412 and seen >= reads["requests"]


def test_max_rcu_holds_the_rate_of_an_index_read(migrated: tuple[Path, str], ddb_url: str, tmp_path: Path) -> None:
    """p14 proven from one Scan of PlaylistData's GSI1 (parallel segments): the Scan keeps to the budget too."""
    _, prefix = migrated
    cap = 40.0
    with FaultProxy(ddb_url, seed=4) as proxy:
        through_proxy = write_config(tmp_path / "proxied", CHINOOK, proxy.url, prefix)
        started = time.monotonic()
        document = report_of(
            through_proxy,
            tmp_path / "capped.json",
            *("--check", "pattern:p14", "--index-read-above", "0", "--real-queries", "0", "--max-rcu", str(cap)),
        )
        elapsed = time.monotonic() - started
    assert document["result"] == "pass"
    (p14,) = document["checks"]
    assert "index read of" in p14["summary"] and "+ 0 real requests" in p14["summary"]
    units = document["reads"]["read_units"]
    assert units >= 3 * cap, document["reads"]
    # the bucket starts full; each of the 4 Scan segments may overshoot by one page (250 small items)
    assert units <= cap * elapsed + cap + 4 * 8, (units, elapsed)


def test_json_format_and_table_carry_the_time_and_reads_of_each_check(migrated: tuple[Path, str]) -> None:
    config, _ = migrated
    result = run_cli(config, "validate", "-t", "employee_data", "--format", "json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    assert document["result"] == "pass"
    for entry in document["checks"]:
        assert entry["seconds"] >= 0 and "read_units" in entry, entry
    by_name = {c["name"]: c for c in document["checks"]}
    assert by_name["pattern:p15-employee-by-id"]["read_units"] >= 8  # 8 employees, strongly consistent
    assert document["reads"]["read_units"] > 0 and document["reads"]["requests"] > 0

    table = run_cli(config, "validate", "-t", "employee_data")
    assert table.exit_code == 0, table.output
    header = next(line for line in table.output.splitlines() if "check" in line and "result" in line)
    assert "time" in header
    row = next(line for line in table.output.splitlines() if "items:employee_data" in line)
    assert re.search(r"│\s+\d+\.\ds\s+│", row), row


def test_plan_shows_what_a_full_validate_reads(migrated: tuple[Path, str]) -> None:
    config, _ = migrated
    result = run_cli(config, "plan", "--format", "json")
    assert result.exit_code == 0, result.output
    reads = json.loads(result.output)["validation_reads"]
    steps = {s["name"]: s for s in reads["steps"]}
    assert {"items:music_catalog", "items:playlist_data", "pattern:p04-track-by-id"} <= set(steps)
    # p01 (275 artists, over the 100 values of --index-read-above) is answered from the item pass's Scan too
    assert steps["pattern:p01-artist-by-id"]["kind"] == "index read"
    assert steps["pattern:p01-artist-by-id"]["requests"] == 30
    # p07 (59 customers, under it) reads every customer strongly consistent, in batches of 100 keys
    assert steps["pattern:p07-customer-by-id"]["kind"] == "get"
    assert steps["pattern:p07-customer-by-id"]["read_units"] >= 59
    assert steps["pattern:p07-customer-by-id"]["requests"] == 1
    # p04 and p14 (3,503 tracks) are answered from the item pass's Scan: only their 30 real requests read
    p04 = steps["pattern:p04-track-by-id"]
    assert p04["kind"] == "index read" and p04["requests"] == 30 and 30 <= p04["read_units"] <= 60
    p14 = steps["pattern:p14-playlists-of-track"]
    assert p14["kind"] == "index read" and p14["at_least"] is True
    assert (p14["requests"], p14["read_units"]) == (30, 15)
    assert reads["total_read_units"] == pytest.approx(sum(s["read_units"] for s in reads["steps"]), abs=1)
    assert reads["on_demand_cost_usd"] > 0

    text = run_cli(config, "plan")
    assert "What a full validate reads" in text.output and "total validation reads" in text.output


def test_item_size_rule_counts_bytes_not_characters(migrated: tuple[Path, str], ddb: Any, tmp_path: Path) -> None:
    """Album items may hold 64 KB: 20,000 euro signs (60,000 bytes) fit, 23,000 (69,000 bytes) do not."""
    config, prefix = migrated
    music = f"{prefix}MusicCatalog"
    key = {"PK": {"S": "ARTIST#1"}, "SK": {"S": "ALBUM#000001"}}
    album = ddb.get_item(TableName=music, Key=key, ConsistentRead=True)["Item"]
    checks = ["-t", "music_catalog", "--check", "rule:Album.max_item_kb"]
    try:
        ddb.put_item(TableName=music, Item={**album, "Note": {"S": "€" * 20_000}})
        fits = report_of(config, tmp_path / "fits.json", *checks)
        ddb.put_item(TableName=music, Item={**album, "Note": {"S": "€" * 23_000}})
        over = report_of(config, tmp_path / "over.json", *checks)
    finally:
        ddb.put_item(TableName=music, Item=album)
    assert fits["result"] == "pass"
    (rule,) = over["checks"]
    assert rule["failure_count"] == 1
    failure = rule["failures"][0]
    assert failure["key"] == {"PK": "ARTIST#1", "SK": "ALBUM#000001"}
    size = int(failure["message"].split(" is ")[1].split(" bytes")[0])
    assert 69_000 < size < 69_000 + 8_000, failure["message"]
