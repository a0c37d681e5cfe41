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
    assert set(found) == {"pattern:top-scores", "pattern:scores-above", "pattern:scores-in-range"}
    for check in found.values():
        assert not check["passed"]
        assert "reading" in check["failures"][0]["message"] and "ByPoints" in check["failures"][0]["message"]
