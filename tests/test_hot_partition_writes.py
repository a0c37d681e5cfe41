"""A hot partition key at AWS's write limits: the load goes on around it and does not fail.

The source holds one owner with many events (in cursor order, all together)
and many owners with one event each. Through tests/capacity_proxy.py, which
enforces a per-key and a per-table write rate as AWS does (scaled down), the
hot key's items are throttled over and over. A user sees three things: the
run finishes and validates even with a retry budget of three (throttles on one
key while the table makes progress are not failures), the other owners' items
are all in before the hot key's last one (the hot key does not hold the rest
back), and ``status`` shows the cursor ranges the item type was written in.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from capacity_proxy import CapacityProxy
from conftest import passes_validation, run_cli, run_process, scan_all

HOT_ROWS = 600
COLD_ROWS = 600
KEY_WCU = 60.0  # the hot key needs 10 s at this rate; everything else together under 2 s at the table's
TABLE_WCU = 400.0

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


def make_source(path: Path) -> Path:
    """Events 1..HOT_ROWS belong to one owner; each later event has an owner of its own."""
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE event (id INTEGER PRIMARY KEY, owner TEXT, payload TEXT)")
        rows = [(i, "big" if i <= HOT_ROWS else f"small{i}", f"event {i}") for i in range(1, HOT_ROWS + COLD_ROWS + 1)]
        conn.executemany("INSERT INTO event VALUES (?, ?, ?)", rows)
    conn.close()
    return path


def test_a_hot_key_is_throttled_while_the_rest_of_the_table_goes_on_and_the_run_does_not_fail(
    tmp_path: Path, ddb_url: str, ddb: Any, prefix: str, make_config: Any
) -> None:
    source = make_source(tmp_path / "events.sqlite")
    mappings = tmp_path / "mappings"
    mappings.mkdir()
    (mappings / "events.yaml").write_text(MAPPING)
    with CapacityProxy(ddb_url, key_wcu=KEY_WCU, table_wcu=TABLE_WCU) as proxy:
        # three retries per batch: a budget that counted throttles would fail at the hot key's refusals
        config = make_config(source=source, mappings=mappings, endpoint=proxy.url, workers=4, max_retries=3)
        result = run_process(config, "migrate", "--no-validate")
        report = proxy.report()
        order = proxy.accepted_keys(f"{prefix}Events")
        if result.returncode == 0:
            passes_validation(config)
    assert result.returncode == 0, result.stderr[-3000:]
    assert report["items_throttled"] > 0, report  # the hot key was held to its rate
    assert len(scan_all(ddb, f"{prefix}Events")) == HOT_ROWS + COLD_ROWS
    assert len(order) == HOT_ROWS + COLD_ROWS
    last_cold = max(i for i, key in enumerate(order) if key != "OWNER#big")
    hot_before = order[:last_cold].count("OWNER#big")
    # in cursor order the other owners would wait behind most of the hot one; here they were all in
    # while most of its items still waited for their key's rate
    assert hot_before < HOT_ROWS / 2, (hot_before, last_cold)

    state = json.loads((config.parent / "state" / "migration_state.json").read_text())
    ranges = state["item_types"]["Event"]["ranges"]
    assert len(ranges) == 4 and all(r["done"] for r in ranges), ranges


def test_status_shows_the_checkpoint_of_each_cursor_range_after_an_interruption(
    tmp_path: Path, make_config: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "500")
    source = make_source(tmp_path / "events.sqlite")
    mappings = tmp_path / "mappings"
    mappings.mkdir()
    (mappings / "events.yaml").write_text(MAPPING)
    # every acknowledged batch saved (the interval at 0), so that the kill at the third leaves range checkpoints
    config = make_config(source=source, mappings=mappings, workers=4, commit_interval_ms=0)
    killed = run_process(config, "migrate", "--no-validate", env={"SQLITE2DDB_KILL_AT": "after_checkpoint:3"})
    assert killed.returncode != 0
    status = run_cli(config, "status")
    assert status.exit_code == 0, status.output
    entry = json.loads((config.parent / "state" / "migration_state.json").read_text())["item_types"]["Event"]
    checkpoints = [r["cursor"] for r in entry["ranges"]]
    assert len(checkpoints) == 4 and any(checkpoints), entry
    # one checkpoint per range: where each continues (its lower bound, or "start", when not begun)
    expected = [r["cursor"] or r["after"] or "start" for r in entry["ranges"]]
    for checkpoint in expected:  # the column may wrap between them
        assert json.dumps(checkpoint) in status.output, (checkpoint, status.output)
    resumed = run_process(config, "resume", "--no-validate")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    passes_validation(config)
