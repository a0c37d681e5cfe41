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

import boto3
import botocore.config
import pytest
from botocore.exceptions import ClientError
from capacity_proxy import CapacityProxy
from conftest import FAKE_CREDENTIALS, passes_validation, run_process, scan_all

from sqlite2ddb.dynamodb.retry import throttling_reasons

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


@pytest.mark.parametrize(
    ("hot", "table_limit", "reason", "action"),
    [
        (True, "ProvisionedThroughputExceeded", "TableWriteKeyRangeThroughputExceeded", "key"),
        (False, "ProvisionedThroughputExceeded", "TableWriteProvisionedThroughputExceeded", "rate"),
        (False, "MaxOnDemandThroughputExceeded", "TableWriteMaxOnDemandThroughputExceeded", "rate"),
        (False, "AccountLimitExceeded", "TableWriteAccountLimitExceeded", "stop"),
    ],
)
def test_a_refused_batch_carries_the_reason_botocore_parses_and_the_writer_reads(
    ddb_url: str, ddb: Any, hot: bool, table_limit: str, reason: str, action: str
) -> None:
    name = f"reasons_{action}_{hot}"
    ddb.create_table(
        TableName=name,
        AttributeDefinitions=[{"AttributeName": n, "AttributeType": "S"} for n in ("PK", "SK")],
        KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}, {"AttributeName": "SK", "KeyType": "RANGE"}],
        BillingMode="PAY_PER_REQUEST",
    )
    try:
        # the model's clock stands still: a spent bucket stays spent
        with CapacityProxy(ddb_url, key_wcu=20, table_wcu=40, clock=lambda: 1000.0, table_limit=table_limit) as proxy:
            config = botocore.config.Config(retries={"total_max_attempts": 1, "mode": "standard"})
            client = boto3.client(
                "dynamodb", endpoint_url=proxy.url, region_name="us-east-1", config=config, **FAKE_CREDENTIALS
            )

            def batch(first: int) -> dict[str, Any]:
                keys = [("HOT" if hot else f"K{first + n}") for n in range(20)]
                return {
                    name: [
                        {"PutRequest": {"Item": {"PK": {"S": k}, "SK": {"S": f"{first + n}"}}}}
                        for n, k in enumerate(keys)
                    ]
                }

            client.batch_write_item(RequestItems=batch(0))  # 20 units: the hot key's bucket is spent
            if not hot:
                client.batch_write_item(RequestItems=batch(20))  # 40: the table's is
            with pytest.raises(ClientError) as caught:
                client.batch_write_item(RequestItems=batch(40))
    finally:
        ddb.delete_table(TableName=name)
    (found,) = throttling_reasons(caught.value)
    assert (found.reason, found.action) == (reason, action)
    assert found.resource == f"arn:aws:dynamodb:us-east-1:000000000000:table/{name}"
