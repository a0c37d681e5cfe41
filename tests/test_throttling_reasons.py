"""ThrottlingReasons: what the writer does with each kind, as a user sees it.

tests/capacity_proxy.py answers a fully throttled write with AWS's
``ThrottlingReasons`` (since 2025): ``TableWriteKeyRangeThroughputExceeded``
for a hot partition key, ``TableWrite<limit>`` for the table's own bucket.
A hot key is held back alone and the pace is not lowered; a table limit
lowers the pace and the run still finishes; the account's per-table quota
stops the run with one line naming it, and ``resume`` then finishes the load.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from capacity_proxy import CapacityProxy
from conftest import passes_validation, run_process, scan_all

ROWS = 300
PAYLOAD = "p" * 1500  # two write units an item: a bucket's refill between retries rarely pays for one

MAPPING = """\
tables:
  - name: Events
    partition_key: {name: PK, type: S}
    sort_key: {name: SK, type: S}

item_types:
  - name: Event
    table: Events
    query: SELECT id, owner, payload FROM event
    cursor: [id]
    keys:
      PK: "OWNER#{{ owner }}"
      SK: "EVENT#{{ id | pad(6) }}"
    attributes:
      Entity: {const: Event}
      Id: {column: id, type: number}
      Payload: payload
"""


def make_source(tmp_path: Path, owner: Any) -> tuple[Path, Path]:
    """ROWS events, the owner of event i given by ``owner(i)``; and the mappings folder."""
    source = tmp_path / "events.sqlite"
    with sqlite3.connect(source) as conn:
        conn.execute("CREATE TABLE event (id INTEGER PRIMARY KEY, owner TEXT, payload TEXT)")
        conn.executemany("INSERT INTO event VALUES (?, ?, ?)", [(i, owner(i), PAYLOAD) for i in range(1, ROWS + 1)])
    conn.close()
    mappings = tmp_path / "mappings"
    mappings.mkdir()
    (mappings / "events.yaml").write_text(MAPPING)
    return source, mappings


def test_a_hot_key_reason_is_named_and_does_not_slow_the_table(
    tmp_path: Path, ddb_url: str, ddb: Any, prefix: str, make_config: Any
) -> None:
    source, mappings = make_source(tmp_path, lambda i: "big" if i <= 60 else f"small{i}")
    with CapacityProxy(ddb_url, key_wcu=20, table_wcu=5000) as proxy:
        config = make_config(source=source, mappings=mappings, endpoint=proxy.url, workers=4, max_retries=3)
        result = run_process(config, "migrate", "--no-validate")
        report = proxy.report()
    assert result.returncode == 0, result.stderr[-3000:]
    assert report["requests_throttled"] > 0, report
    assert len(scan_all(ddb, f"{prefix}Events")) == ROWS
    assert "TableWriteKeyRangeThroughputExceeded" in result.stderr
    assert "hot partition key" in result.stderr
    assert "pace lowered" not in result.stderr  # a hot key holds back its own batches, not the table


def test_a_table_limit_reason_lowers_the_pace_and_the_run_finishes(
    tmp_path: Path, ddb_url: str, ddb: Any, prefix: str, make_config: Any
) -> None:
    source, mappings = make_source(tmp_path, lambda i: f"owner{i}")
    with CapacityProxy(ddb_url, key_wcu=1000, table_wcu=100) as proxy:
        config = make_config(source=source, mappings=mappings, endpoint=proxy.url, workers=4, max_retries=3)
        result = run_process(config, "migrate", "--no-validate")
    assert result.returncode == 0, result.stderr[-3000:]
    assert len(scan_all(ddb, f"{prefix}Events")) == ROWS
    assert "TableWriteProvisionedThroughputExceeded" in result.stderr
    assert "pace lowered" in result.stderr
    assert "were throttled: TableWriteProvisionedThroughputExceeded x" in result.stderr


def test_the_account_limit_stops_with_one_line_and_resume_finishes(
    tmp_path: Path, ddb_url: str, ddb: Any, prefix: str, make_config: Any
) -> None:
    source, mappings = make_source(tmp_path, lambda i: f"owner{i}")
    with CapacityProxy(ddb_url, key_wcu=1000, table_wcu=100, table_limit="AccountLimitExceeded") as proxy:
        config = make_config(source=source, mappings=mappings, endpoint=proxy.url, workers=2, max_retries=3)
        stopped = run_process(config, "migrate", "--no-validate")
        written = len(scan_all(ddb, f"{prefix}Events"))
        proxy.table_limit = "ProvisionedThroughputExceeded"  # the quota raised: only the table's pace is left
        resumed = run_process(config, "resume", "--no-validate")
        if resumed.returncode == 0:
            passes_validation(config)
    assert stopped.returncode not in (0, 2), stopped.stderr[-3000:]
    assert "Traceback" not in stopped.stderr
    lines = [line for line in stopped.stderr.splitlines() if "TableWriteAccountLimitExceeded" in line]
    assert lines and "quota" in lines[-1] and "resume" in lines[-1], stopped.stderr[-3000:]
    assert 0 < written < ROWS
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert len(scan_all(ddb, f"{prefix}Events")) == ROWS
