"""Access patterns whose answer is a large partition: compared as streams, differences shown where they are.

A feeds database of the test's own: one feed of 4,500 events (more than an
unordered answer sorts in memory, ``answers.SPILL_ROWS``) and one of 3. Two
patterns read a feed: one in event order, one in any order (so both answers
are put in id order, the large ones through a temporary file). Each damage is
checked both ways a pattern is proven: one request per value and one read of
the table, and both must name the same failure.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import run_cli, write_config
from faultproxy import FaultProxy

from sqlite2ddb.validate.answers import SPILL_ROWS

BIG = 4500

MAPPING = """\
tables:
  - name: Feeds
    partition_key: {name: pk, type: S}
    sort_key: {name: sk, type: S}

item_types:
  - name: Event
    table: Feeds
    query: SELECT event_id, feed, body FROM event
    cursor: [event_id]
    keys:
      pk: "FEED#{{ feed }}"
      sk: "EVENT#{{ event_id | pad(6) }}"
    attributes:
      Entity: {const: Event}
      EventId: {column: event_id, type: number}
      Body: body

access_patterns:
  - name: feed-in-order
    description: The events of a feed, oldest first
    params: SELECT DISTINCT feed FROM event ORDER BY feed
    request:
      table: Feeds
      query: {partition: "FEED#{{ feed }}"}
    sql: SELECT event_id AS EventId, body AS Body FROM event WHERE feed = :feed ORDER BY event_id
    compare: {id: EventId, attributes: [Body]}

  - name: feed-any-order
    description: The events of a feed, in no particular order
    params: SELECT DISTINCT feed FROM event ORDER BY feed
    request:
      table: Feeds
      query: {partition: "FEED#{{ feed }}"}
    sql: SELECT event_id AS EventId, body AS Body FROM event WHERE feed = :feed ORDER BY body DESC
    compare: {id: EventId, attributes: [Body], ordered: false}
"""

WAYS = {"per-value": ("--index-read-above", "-1"), "index-read": ("--index-read-above", "0")}


@pytest.fixture(scope="module")
def feeds(tmp_path_factory: pytest.TempPathFactory, ddb_url: str, ddb: Any) -> Iterator[tuple[Path, str]]:
    folder = tmp_path_factory.mktemp("large-answers")
    source = folder / "feeds.sqlite"
    with sqlite3.connect(source) as conn:
        conn.execute("CREATE TABLE event (event_id INTEGER PRIMARY KEY, feed TEXT NOT NULL, body TEXT)")
        conn.executemany("INSERT INTO event VALUES (?, 'big', ?)", [(i, f"body {i}") for i in range(1, BIG + 1)])
        conn.executemany(
            "INSERT INTO event VALUES (?, 'small', ?)", [(i, f"body {i}") for i in range(BIG + 1, BIG + 4)]
        )
    conn.close()
    mappings = folder / "mappings"
    mappings.mkdir()
    (mappings / "feeds.yaml").write_text(MAPPING)
    prefix = f"l{uuid.uuid4().hex[:8]}_"
    config = write_config(folder / "run", source, ddb_url, prefix, mappings=mappings)
    result = run_cli(config, "migrate", "--no-validate")
    assert result.exit_code == 0, result.output
    yield config, prefix
    ddb.delete_table(TableName=f"{prefix}Feeds")


def event_key(event_id: int) -> dict[str, Any]:
    return {"pk": {"S": "FEED#big"}, "sk": {"S": f"EVENT#{event_id:06d}"}}


def failures(config: Path, path: Path, *args: str, check: str = "pattern:") -> dict[str, list[dict[str, Any]]]:
    """The failures of the patterns (both by default), per pattern, from one validate run."""
    result = run_cli(config, "validate", "--report", str(path), "--check", check, *args)
    assert result.exit_code in (0, 1), result.output
    checks = json.loads(path.read_text())["checks"]
    assert all(c["compared"] == 2 for c in checks), checks
    return {c["name"]: c["failures"] for c in checks}


def test_the_patterns_pass_on_an_intact_table(feeds: tuple[Path, str], tmp_path: Path) -> None:
    assert BIG > SPILL_ROWS  # the unordered answers of the big feed go through the temporary file
    config, _ = feeds
    for way, args in WAYS.items():
        assert failures(config, tmp_path / f"{way}.json", *args) == {
            "pattern:feed-in-order": [],
            "pattern:feed-any-order": [],
        }


def test_an_item_missing_deep_in_a_large_answer_is_shown_where_it_is(
    feeds: tuple[Path, str], ddb: Any, tmp_path: Path
) -> None:
    config, prefix = feeds
    table = f"{prefix}Feeds"
    original = ddb.get_item(TableName=table, Key=event_key(3000))["Item"]
    ddb.delete_item(TableName=table, Key=event_key(3000))
    try:
        found = {way: failures(config, tmp_path / f"{way}.json", *args) for way, args in WAYS.items()}
    finally:
        ddb.put_item(TableName=table, Item=original)
    assert found["per-value"] == found["index-read"]
    (in_order,) = found["per-value"]["pattern:feed-in-order"]
    # the first 2,999 events agree: the ids shown are those from the 3,000th on, not the first 20
    assert in_order["message"] == 'params {"feed": "big"}: EventId values differ from SQL from position 3000'
    assert (in_order["expected"], in_order["actual"]) == (list(range(3000, 3020)), list(range(3001, 3021)))
    # in any order, both answers are compared in id order (as text): 3000 sorts after 2999, 300 and 30
    (any_order,) = found["per-value"]["pattern:feed-any-order"]
    ids = sorted(range(1, BIG + 1), key=str)
    at = ids.index(3000)
    assert any_order["message"] == f'params {{"feed": "big"}}: EventId values differ from SQL from position {at + 1}'
    without = [i for i in ids if i != 3000]
    assert (any_order["expected"], any_order["actual"]) == (ids[at : at + 20], without[at : at + 20])


def test_an_attribute_changed_deep_in_a_large_answer_is_named_by_its_key(
    feeds: tuple[Path, str], ddb: Any, tmp_path: Path
) -> None:
    config, prefix = feeds
    table = f"{prefix}Feeds"
    change = {"UpdateExpression": "SET Body = :b", "TableName": table, "Key": event_key(4321)}
    ddb.update_item(**change, ExpressionAttributeValues={":b": {"S": "edited"}})
    try:
        found = {way: failures(config, tmp_path / f"{way}.json", *args) for way, args in WAYS.items()}
    finally:
        ddb.update_item(**change, ExpressionAttributeValues={":b": {"S": "body 4321"}})
    assert found["per-value"] == found["index-read"]
    for name in ("pattern:feed-in-order", "pattern:feed-any-order"):
        (failure,) = found["per-value"][name]
        assert failure["message"] == 'params {"feed": "big"}: EventId 4321: attribute differs from SQL'
        assert (failure["key"], failure["path"]) == ({"EventId": 4321}, "Body")
        assert (failure["expected"], failure["actual"]) == ("body 4321", "edited")


def test_a_real_request_that_disagrees_with_the_index_read_is_reported(
    feeds: tuple[Path, str], ddb_url: str, tmp_path: Path
) -> None:
    """A Query answer missing an item the table's Scan holds (a lagging index) fails the sampled real request."""
    config, prefix = feeds
    folder = config.parent.parent
    with FaultProxy(ddb_url) as proxy:
        proxy.add_rule("stale_read", operations={"Query"}, count=1)
        behind = write_config(
            tmp_path / "behind", folder / "feeds.sqlite", proxy.url, prefix, mappings=folder / "mappings"
        )
        found = failures(  # one reader: the first real request is feed "big"'s
            behind, tmp_path / "index-read.json", *WAYS["index-read"], "--real-queries", "1", "--workers", "1"
        )
        assert proxy.stats["stale_read"] == 1
        proxy.add_rule("stale_read", operations={"Query"}, count=1)
        # alone and with one reader, so its first value's request is the first Query sent (patterns run side by
        # side, and several readers race for the first value: once the stale answer went to feed "small")
        per_value = failures(
            behind, tmp_path / "per-value.json", *WAYS["per-value"], "--workers", "1", check="pattern:feed-in-order"
        )
    # the first real request (feed "big", in order) came back without event 1: the file has it, SQL too
    (failure,) = found["pattern:feed-in-order"]
    assert failure["message"] == 'params {"feed": "big"}: the real request\'s answer differs from the index read'
    assert (failure["expected"], failure["actual"]) == (list(range(1, 21)), list(range(2, 22)))
    assert found["pattern:feed-any-order"] == []
    # one request per value: the same stale answer differs from SQL itself
    (failure,) = per_value["pattern:feed-in-order"]
    assert failure["message"] == 'params {"feed": "big"}: EventId values differ from SQL'
    assert (failure["expected"], failure["actual"]) == (list(range(1, 21)), list(range(2, 22)))
