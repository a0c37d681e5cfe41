"""Access patterns proven from one read of their index: numeric sort keys, sort conditions, real requests.

A small scores database of the test's own, migrated once: a table of scores
with a GSI by game whose sort key is a number, so the index read must order
and filter by value (9 < 10 < 100, negatives, decimals), not as text. Each
test runs validate with the index-read path forced (``--index-read-above 0``)
and compares with one request per value (``--index-read-above -1``).
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

SCHEMA = """
CREATE TABLE score (score_id INTEGER PRIMARY KEY, game TEXT NOT NULL, player TEXT, points NUMERIC NOT NULL);
CREATE TABLE ranges (game TEXT, lo NUMERIC, hi NUMERIC);
INSERT INTO score VALUES
    (1, 'chess', 'ann', 9), (2, 'chess', 'bob', 10), (3, 'chess', 'cy', 100), (4, 'chess', 'dee', -5),
    (5, 'chess', 'eve', 2.5), (6, 'chess', 'fay', 10.25), (7, 'go', 'ann', 3), (8, 'go', 'bob', 30),
    (9, 'go', 'cy', 0.5);
-- the first range is upside down: DynamoDB refuses such a BETWEEN, SQL answers nothing
INSERT INTO ranges VALUES ('chess', 100, 0), ('chess', -10, 10), ('go', 0, 50), ('chess', 9, 9), ('go', 4, 29);
"""

MAPPING = """\
tables:
  - name: Scores
    partition_key: {name: pk, type: S}
    sort_key: {name: sk, type: S}
    indexes:
      - name: ByPoints
        partition_key: {name: game_key, type: S}
        sort_key: {name: points, type: N}
        projection: ALL
      - name: ByPlayer
        partition_key: {name: player_key, type: S}
        sort_key: {name: player_sort, type: S}
        projection: {include: [ScoreId]}

item_types:
  - name: Score
    table: Scores
    marker: Kind
    query: SELECT score_id, game, player, points FROM score
    cursor: [score_id]
    keys:
      pk: "SCORE#{{ score_id }}"
      sk: SCORE
      game_key: "GAME#{{ game }}"
      points: "{{ points }}"
      player_key: "PLAYER#{{ player }}"
      player_sort: "{{ game }}#{{ score_id | pad(4) }}"
    attributes:
      Kind: {const: Score}
      ScoreId: {column: score_id, type: number}
      Player: player

access_patterns:
  - name: top-scores
    description: The scores of a game, highest first
    params: SELECT DISTINCT game FROM score
    request:
      table: Scores
      index: ByPoints
      query: {partition: "GAME#{{ game }}", forward: false}
    sql: SELECT score_id AS ScoreId, player AS Player, points FROM score WHERE game = :game ORDER BY points DESC
    compare: {id: ScoreId, attributes: [Player, points]}

  - name: scores-above
    description: The scores of a game above a mark, lowest first
    params: SELECT game, lo FROM ranges
    request:
      table: Scores
      index: ByPoints
      query: {partition: "GAME#{{ game }}", sort: {gt: "{{ lo }}"}}
    sql: SELECT score_id AS ScoreId, points FROM score WHERE game = :game AND points > :lo ORDER BY points
    compare: {id: ScoreId, attributes: [points]}

  - name: scores-in-range
    description: The scores of a game between two marks, highest first
    params: SELECT game, lo, hi FROM ranges
    request:
      table: Scores
      index: ByPoints
      query: {partition: "GAME#{{ game }}", sort: {between: ["{{ lo }}", "{{ hi }}"]}, forward: false}
    sql: |
      SELECT score_id AS ScoreId, points FROM score WHERE game = :game AND points BETWEEN :lo AND :hi
      ORDER BY points DESC
    compare: {id: ScoreId, attributes: [points]}

  - name: scores-of-player
    description: A player's scores, by game (an index that projects the keys and ScoreId only)
    params: SELECT DISTINCT player FROM score
    request:
      table: Scores
      index: ByPlayer
      query: {partition: "PLAYER#{{ player }}"}
    sql: SELECT score_id AS ScoreId FROM score WHERE player = :player ORDER BY game, score_id
    compare: {id: ScoreId, attributes: []}
"""

INDEX_READ = ("--index-read-above", "0")
PER_VALUE = ("--index-read-above", "-1")


@pytest.fixture(scope="module")
def scores(tmp_path_factory: pytest.TempPathFactory, ddb_url: str, ddb: Any) -> Iterator[tuple[Path, str]]:
    folder = tmp_path_factory.mktemp("index-read")
    source = folder / "scores.sqlite"
    with sqlite3.connect(source) as conn:
        conn.executescript(SCHEMA)
    conn.close()
    mappings = folder / "mappings"
    mappings.mkdir()
    (mappings / "scores.yaml").write_text(MAPPING)
    prefix = f"i{uuid.uuid4().hex[:8]}_"
    config = write_config(folder / "run", source, ddb_url, prefix, mappings=mappings)
    result = run_cli(config, "migrate", "--no-validate")
    assert result.exit_code == 0, result.output
    yield config, prefix
    ddb.delete_table(TableName=f"{prefix}Scores")


def report(config: Path, path: Path, *args: str) -> dict[str, Any]:
    result = run_cli(config, "validate", "--report", str(path), *args)
    assert result.exit_code in (0, 1), result.output
    return {c["name"]: c for c in json.loads(path.read_text())["checks"]}


def test_numeric_sort_keys_are_ordered_and_filtered_by_value(scores: tuple[Path, str], tmp_path: Path) -> None:
    config, _ = scores
    wanted = ("--check", "pattern:top-scores", "--check", "pattern:scores-above")
    # the answers from the index read alone, no real request: ordered by value, 100 after 10.25
    alone = report(config, tmp_path / "alone.json", *INDEX_READ, "--real-queries", "0", *wanted)
    assert [c["passed"] for c in alone.values()] == [True, True], alone
    assert alone["pattern:top-scores"]["compared"] == 2 and alone["pattern:scores-above"]["compared"] == 5
    assert "index read of" in alone["pattern:top-scores"]["summary"]
    assert "+ 0 real requests" in alone["pattern:top-scores"]["summary"]
    # with real requests for the sample, and one request per value: the same verdicts
    sampled = report(config, tmp_path / "sampled.json", *INDEX_READ, *wanted)
    per_value = report(config, tmp_path / "per-value.json", *PER_VALUE, *wanted)
    assert "index read of" in sampled["pattern:scores-above"]["summary"]
    assert "(5 queries)" in per_value["pattern:scores-above"]["summary"]
    for name in per_value:
        assert (sampled[name]["passed"], sampled[name]["compared"]) == (True, per_value[name]["compared"])


def test_real_requests_catch_a_request_dynamodb_refuses(scores: tuple[Path, str], tmp_path: Path) -> None:
    config, _ = scores
    wanted = ("--check", "pattern:scores-in-range")
    # an upside-down BETWEEN answers nothing from the file, as SQL does: the index read alone cannot tell
    alone = report(config, tmp_path / "alone.json", *INDEX_READ, "--real-queries", "0", *wanted)
    assert alone["pattern:scores-in-range"]["passed"], alone
    # the real request for the first value is refused by DynamoDB: named with its parameters
    sampled = report(config, tmp_path / "sampled.json", *INDEX_READ, "--real-queries", "1", *wanted)
    per_value = report(config, tmp_path / "per-value.json", *PER_VALUE, *wanted)
    check = sampled["pattern:scores-in-range"]
    assert check["failure_count"] == 1, check
    (failure,) = check["failures"]
    assert "'lo': 100" in failure["message"] and "DynamoDB request failed" in failure["message"]
    assert per_value["pattern:scores-in-range"]["failures"] == check["failures"]


def test_a_damaged_index_sort_key_is_caught(scores: tuple[Path, str], ddb: Any, tmp_path: Path) -> None:
    config, prefix = scores
    table = f"{prefix}Scores"
    key = {"pk": {"S": "SCORE#3"}, "sk": {"S": "SCORE"}}
    ddb.update_item(
        TableName=table, Key=key, UpdateExpression="SET points = :p", ExpressionAttributeValues={":p": {"N": "1"}}
    )
    try:
        found = report(config, tmp_path / "damaged.json", *INDEX_READ, "--check", "pattern:top-scores")
    finally:
        ddb.update_item(
            TableName=table, Key=key, UpdateExpression="SET points = :p", ExpressionAttributeValues={":p": {"N": "100"}}
        )
    check = found["pattern:top-scores"]
    # cy's 100 points now sort as 1: chess answers in another order; the points of score 3 differ
    assert check["failure_count"] == 1, check
    (failure,) = check["failures"]
    assert failure["message"].startswith('params {"game": "chess"}: ScoreId values differ')
    assert failure["expected"] == [3, 6, 2, 1, 5, 4] and failure["actual"] == [6, 2, 1, 5, 3, 4]


def test_an_index_missing_from_the_table_fails_the_patterns_not_the_run(
    scores: tuple[Path, str], ddb: Any, ddb_url: str, tmp_path: Path
) -> None:
    config, _ = scores
    # a second copy of the table without its index, under another prefix
    other = f"j{uuid.uuid4().hex[:8]}_"
    ddb.create_table(
        TableName=f"{other}Scores",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    try:
        folder = config.parent.parent  # the fixture's: scores.sqlite, mappings/, run/
        bare = write_config(tmp_path / "bare", folder / "scores.sqlite", ddb_url, other, mappings=folder / "mappings")
        found = report(bare, tmp_path / "bare-report.json", *INDEX_READ, "--check", "pattern:")
    finally:
        ddb.delete_table(TableName=f"{other}Scores")
    assert set(found) == {
        "pattern:top-scores",
        "pattern:scores-above",
        "pattern:scores-in-range",
        "pattern:scores-of-player",
    }
    for name, check in found.items():
        assert not check["passed"]
        index = "ByPlayer" if name == "pattern:scores-of-player" else "ByPoints"
        assert f"reading {other}Scores index {index} failed" in check["failures"][0]["message"], check


def test_the_item_pass_scan_fills_the_index_files(scores: tuple[Path, str], ddb: Any, tmp_path: Path) -> None:
    """With the item pass in the run, its Scan of the table answers the patterns: no read of the index."""
    config, prefix = scores
    wanted = ("--check", "items:", "--check", "pattern:top-scores", "--check", "pattern:scores-of-player")
    fed = report(config, tmp_path / "fed.json", *INDEX_READ, *wanted)
    own = report(config, tmp_path / "own.json", *INDEX_READ, "--check", "pattern:")
    per_value = report(config, tmp_path / "per-value.json", *PER_VALUE, "--check", "pattern:")
    for name in ("pattern:top-scores", "pattern:scores-of-player"):
        assert "(from the item pass's Scan)" in fed[name]["summary"], fed[name]
        assert "index read of" in own[name]["summary"] and "item pass" not in own[name]["summary"]
        assert fed[name]["passed"] and own[name]["passed"] and per_value[name]["passed"]
        assert fed[name]["compared"] == own[name]["compared"] == per_value[name]["compared"]
    # damage one item: every way of proving names the same failure
    key = {"pk": {"S": "SCORE#7"}, "sk": {"S": "SCORE"}}
    ddb.update_item(
        TableName=f"{prefix}Scores",
        Key=key,
        UpdateExpression="SET player_key = :k",
        ExpressionAttributeValues={":k": {"S": "PLAYER#bob"}},
    )
    try:
        damaged = [
            report(config, tmp_path / f"{name}.json", *args, "--check", "pattern:scores-of-player", *extra)
            for name, args, extra in (
                ("fed-d", INDEX_READ, ("--check", "items:")),
                ("own-d", INDEX_READ, ()),
                ("per-value-d", PER_VALUE, ()),
            )
        ]
    finally:
        ddb.update_item(
            TableName=f"{prefix}Scores",
            Key=key,
            UpdateExpression="SET player_key = :k",
            ExpressionAttributeValues={":k": {"S": "PLAYER#ann"}},
        )
    failures = [d["pattern:scores-of-player"]["failures"] for d in damaged]
    assert failures[0] == failures[1] == failures[2]
    # ann lost score 7 (go), bob gained it
    assert [f["message"] for f in failures[0]] == [
        'params {"player": "ann"}: ScoreId values differ from SQL',
        'params {"player": "bob"}: ScoreId values differ from SQL',
    ]
    assert (failures[0][0]["expected"], failures[0][0]["actual"]) == ([1, 7], [1])
    assert (failures[0][1]["expected"], failures[0][1]["actual"]) == ([2, 8], [2, 7, 8])
