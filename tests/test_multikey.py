"""Multi-attribute index keys (DynamoDB, November 2025) end to end on DynamoDB Local 3.3.0.

A small tracks database of the test's own. The mapping's index ByGenreAndMedia
is keyed on the items' natural attributes: partition [GenreId N, MediaTypeId N],
sort [Milliseconds N, TrackId N]. The tests check what plan refuses (file and
line, exit 2), what CreateTable and UpdateTable (through sync) build, that the
shape check reads the key back, that validate proves the patterns through the
index both by one request per value and from one read of the index (and
catches a damaged item on both paths), and the CloudFormation and Workbench
exports, whose requests are run on DynamoDB Local as exported.
"""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from cfnlint.api import lint_all
from conftest import line_of, one_line, run_cli

SOURCE = """
CREATE TABLE track (id INTEGER PRIMARY KEY, name TEXT, genre INTEGER, media INTEGER, ms INTEGER);
INSERT INTO track VALUES
    (1, 'a', 1, 1, 300), (2, 'b', 1, 1, 90), (3, 'c', 1, 1, 1000), (4, 'd', 1, 2, 300), (5, 'e', 2, 1, 300),
    (6, 'f', 1, 1, 300), (7, 'g', 1, 1, 9), (8, 'h', 2, 1, 10), (9, 'i', NULL, 1, 5), (10, 'j', 1, 1, 100);
"""

TABLE = """\
tables:
  - name: Tracks
    partition_key: {name: PK, type: S}
"""

INDEX = """\
    indexes:
      - name: ByGenreAndMedia
        partition_key:
          - {name: GenreId, type: N}
          - {name: MediaTypeId, type: N}
        sort_key:
          - {name: Milliseconds, type: N}
          - {name: TrackId, type: N}
        projection: {include: [Name]}
"""

ITEMS = """\
item_types:
  - name: Track
    table: Tracks
    query: SELECT id, name, genre, media, ms FROM track
    cursor: [id]
    keys:
      PK: "TRACK#{{ id }}"
    attributes:
      Entity: {const: Track}
      TrackId: {column: id, type: number}
      Name: name
      GenreId: {column: genre, type: number}
      MediaTypeId: {column: media, type: number}
      Milliseconds: {column: ms, type: number}
"""

PATTERNS = """\
access_patterns:
  - name: by-genre-and-media
    params: SELECT DISTINCT genre, media FROM track WHERE genre IS NOT NULL
    request:
      table: Tracks
      index: ByGenreAndMedia
      query: {partition: {GenreId: "{{ genre }}", MediaTypeId: "{{ media }}"}}
    sql: SELECT id AS TrackId, name AS Name FROM track WHERE genre = :genre AND media = :media ORDER BY ms, id
    compare: {id: TrackId, attributes: [Name]}

  - name: by-genre-and-media-between
    params: SELECT DISTINCT genre, media, 10 AS lo, 300 AS hi FROM track WHERE genre IS NOT NULL
    request:
      table: Tracks
      index: ByGenreAndMedia
      query:
        partition: {GenreId: "{{ genre }}", MediaTypeId: "{{ media }}"}
        sort: [{Milliseconds: {between: ["{{ lo }}", "{{ hi }}"]}}]
        forward: false
    sql: |
      SELECT id AS TrackId FROM track WHERE genre = :genre AND media = :media AND ms BETWEEN :lo AND :hi
      ORDER BY ms DESC, id DESC
    compare: {id: TrackId}

  - name: same-length-from
    params: SELECT genre, media, ms, id FROM track WHERE genre IS NOT NULL
    request:
      table: Tracks
      index: ByGenreAndMedia
      query:
        partition: {GenreId: "{{ genre }}", MediaTypeId: "{{ media }}"}
        sort: [{Milliseconds: {eq: "{{ ms }}"}}, {TrackId: {gt: "{{ id }}"}}]
    sql: |
      SELECT id AS TrackId FROM track WHERE genre = :genre AND media = :media AND ms = :ms AND id > :id ORDER BY id
    compare: {id: TrackId}
"""

FULL = TABLE + INDEX + ITEMS + PATTERNS
EXPECTED_KEY_SCHEMA = [
    {"AttributeName": "GenreId", "KeyType": "HASH"},
    {"AttributeName": "MediaTypeId", "KeyType": "HASH"},
    {"AttributeName": "Milliseconds", "KeyType": "RANGE"},
    {"AttributeName": "TrackId", "KeyType": "RANGE"},
]


class Tracks:
    """The source, the mapping folder and the configuration."""

    def __init__(self, tmp_path: Path, make_config: Any, mapping: str = FULL) -> None:
        self.source = tmp_path / "tracks.sqlite"
        with sqlite3.connect(self.source) as conn:
            conn.executescript(SOURCE)
        conn.close()
        self.folder = tmp_path / "mappings"
        self.folder.mkdir()
        self.file = self.folder / "tracks.yaml"
        self.file.write_text(mapping)
        self.config = make_config(source=self.source, mappings=self.folder)

    def plan_error(self, text: str) -> str:
        self.file.write_text(text)
        result = run_cli(self.config, "plan")
        assert result.exit_code == 2, result.output
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
        return one_line(result.stderr)

    def validate(self, *args: str) -> dict[str, Any]:
        report = self.folder.parent / "report.md"
        result = run_cli(self.config, "validate", "--report", str(report), *args)
        document = json.loads(report.with_suffix(".json").read_text())
        document["exit_code"] = result.exit_code
        document["output"] = result.output
        return document


@pytest.fixture()
def tracks(tmp_path: Path, make_config: Any, monkeypatch: pytest.MonkeyPatch) -> Tracks:
    monkeypatch.setenv("COLUMNS", "500")
    return Tracks(tmp_path, make_config)


def _error(tracks: Tracks, text: str, needle: str, occurrence: int = 1) -> str:
    message = tracks.plan_error(text)
    assert message.startswith(f"error: {tracks.file}:{line_of(text, needle, occurrence)}: "), message
    return message


# --------------------------------------------------------------------------- plan-time refusals
def test_more_than_four_partition_attributes_is_refused_with_the_index_line(tracks: Tracks) -> None:
    five = "".join(f"          - {{name: P{i}, type: S}}\n" for i in range(4))
    text = FULL.replace(
        "          - {name: MediaTypeId, type: N}\n", "          - {name: MediaTypeId, type: N}\n" + five
    )
    message = _error(tracks, text, "- name: ByGenreAndMedia")
    assert "the partition key has 6 attributes (GenreId, MediaTypeId, P0, P1, P2, P3); DynamoDB allows at most 4" in (
        message
    )


def test_more_than_four_sort_attributes_is_refused(tracks: Tracks) -> None:
    extra = "".join(f"          - {{name: S{i}, type: S}}\n" for i in range(3))
    text = FULL.replace("          - {name: TrackId, type: N}\n", "          - {name: TrackId, type: N}\n" + extra)
    assert "the sort key has 5 attributes" in _error(tracks, text, "- name: ByGenreAndMedia")


def test_an_attribute_twice_in_one_key_is_refused(tracks: Tracks) -> None:
    text = FULL.replace("{name: TrackId, type: N}", "{name: GenreId, type: N}")
    assert "attribute GenreId appears twice in the key" in _error(tracks, text, "- name: ByGenreAndMedia")


def test_an_attribute_typed_differently_in_two_indexes_is_refused(tracks: Tracks) -> None:
    second = INDEX.replace("ByGenreAndMedia", "ByMedia").replace("{name: GenreId, type: N}", "{name: GenreId, type: S}")
    second = second.replace("    indexes:\n", "")
    text = TABLE + INDEX + second + ITEMS
    message = _error(tracks, text, "- name: Tracks")  # the table's line, as for a single-attribute key
    assert "key attribute GenreId is type S in Tracks index ByMedia but N elsewhere" in message


def test_an_item_attribute_typed_unlike_its_key_is_refused(tracks: Tracks) -> None:
    text = FULL.replace("MediaTypeId: {column: media, type: number}", "MediaTypeId: {column: media, type: string}")
    message = _error(tracks, text, "MediaTypeId: {column: media")
    assert "attribute MediaTypeId is written as string (S) but table Tracks declares the key attribute" in message


def test_a_sort_condition_that_skips_an_attribute_is_refused(tracks: Tracks) -> None:
    text = FULL.replace(
        'sort: [{Milliseconds: {eq: "{{ ms }}"}}, {TrackId: {gt: "{{ id }}"}}]', 'sort: [{TrackId: {gt: "{{ id }}"}}]'
    )
    message = _error(tracks, text, "- name: same-length-from")
    assert "the sort condition on TrackId skips Milliseconds" in message


def test_a_range_before_the_last_sort_condition_is_refused(tracks: Tracks) -> None:
    text = FULL.replace('{Milliseconds: {eq: "{{ ms }}"}}', '{Milliseconds: {ge: "{{ ms }}"}}')
    message = _error(tracks, text, "- name: same-length-from")
    assert "the ge condition on Milliseconds is not on the last attribute the query uses" in message


def test_a_query_without_every_partition_attribute_is_refused(tracks: Tracks) -> None:
    text = FULL.replace(
        'query: {partition: {GenreId: "{{ genre }}", MediaTypeId: "{{ media }}"}}',
        'query: {partition: {GenreId: "{{ genre }}"}}',
    )
    message = _error(tracks, text, "- name: by-genre-and-media", 1)
    assert (
        "needs equality on every partition attribute of index ByGenreAndMedia (GenreId, MediaTypeId); missing MediaTypeId"
        in (message)
    )


def test_the_single_attribute_form_on_a_multi_attribute_index_is_refused(tracks: Tracks) -> None:
    text = FULL.replace(
        'query: {partition: {GenreId: "{{ genre }}", MediaTypeId: "{{ media }}"}}', 'query: {partition: "{{ genre }}"}'
    )
    message = _error(tracks, text, "- name: by-genre-and-media", 1)
    assert (
        "index ByGenreAndMedia has a multi-attribute key (partition GenreId, MediaTypeId; sort Milliseconds, TrackId)"
        in (message)
    )


def test_a_per_attribute_template_must_use_what_the_params_query_returns(tracks: Tracks) -> None:
    text = FULL.replace('sort: [{Milliseconds: {eq: "{{ ms }}"}}', 'sort: [{Milliseconds: {eq: "{{ length }}"}}')
    message = _error(tracks, text, "- name: same-length-from")
    assert "uses column(s) length that the query does not return" in message


# --------------------------------------------------------------------------- DynamoDB Local
def test_the_index_is_created_and_every_pattern_proven_both_ways(tracks: Tracks, ddb: Any, prefix: str) -> None:
    plan = run_cli(tracks.config, "plan")
    assert "ByGenreAndMedia(GenreId:N+MediaTypeId:N / Milliseconds:N+TrackId:N) INCLUDE" in one_line(plan.output)
    result = run_cli(tracks.config, "migrate", "--no-validate")
    assert result.exit_code == 0, result.output
    described = ddb.describe_table(TableName=f"{prefix}Tracks")["Table"]
    (index,) = described["GlobalSecondaryIndexes"]
    assert index["KeySchema"] == EXPECTED_KEY_SCHEMA
    types = {d["AttributeName"]: d["AttributeType"] for d in described["AttributeDefinitions"]}
    assert {n: types[n] for n in ("GenreId", "MediaTypeId", "Milliseconds", "TrackId")} == dict.fromkeys(
        ("GenreId", "MediaTypeId", "Milliseconds", "TrackId"), "N"
    )
    for how in ("-1", "0"):  # one request per value; one read of the index plus sampled real requests
        document = tracks.validate("--index-read-above", how)
        assert document["exit_code"] == 0, document["output"]
        checks = {c["name"]: c for c in document["checks"]}
        assert checks["shape:tracks"]["status"] == "pass"
        for name in ("by-genre-and-media", "by-genre-and-media-between", "same-length-from"):
            check = checks[f"pattern:{name}"]
            assert check["status"] == "pass" and check["compared"] >= 3, check
            assert ("index read" in check["summary"]) == (how == "0"), check["summary"]


def test_a_damaged_sort_attribute_fails_the_patterns_on_both_paths(tracks: Tracks, ddb: Any, prefix: str) -> None:
    assert run_cli(tracks.config, "migrate", "--no-validate").exit_code == 0
    # track 2 (90 ms) becomes the longest of genre 1 on media 1: the index orders it last
    ddb.update_item(
        TableName=f"{prefix}Tracks",
        Key={"PK": {"S": "TRACK#2"}},
        UpdateExpression="SET Milliseconds = :m",
        ExpressionAttributeValues={":m": {"N": "5000"}},
    )
    for how in ("-1", "0"):
        document = tracks.validate("--index-read-above", how, "--check", "pattern:")
        assert document["exit_code"] != 0
        checks = {c["name"]: c for c in document["checks"]}
        assert checks["pattern:by-genre-and-media"]["status"] == "fail", how
        assert checks["pattern:by-genre-and-media-between"]["status"] == "fail", how


def test_an_added_multi_attribute_index_is_built_by_sync_without_rewriting_items(
    tracks: Tracks, ddb: Any, prefix: str
) -> None:
    tracks.file.write_text(TABLE + ITEMS)
    assert run_cli(tracks.config, "migrate", "--no-validate").exit_code == 0
    assert "GlobalSecondaryIndexes" not in ddb.describe_table(TableName=f"{prefix}Tracks")["Table"]
    tracks.file.write_text(FULL)
    plan = run_cli(tracks.config, "plan", "--diff")
    assert f"index change: {prefix}Tracks: create index ByGenreAndMedia (added to the mapping)" in one_line(plan.output)
    synced = run_cli(tracks.config, "sync", "--no-validate")
    assert synced.exit_code == 0, synced.output
    assert re.search(r"^sync: 0 items put, 0 deleted", synced.output, re.MULTILINE), synced.output
    (index,) = ddb.describe_table(TableName=f"{prefix}Tracks")["Table"]["GlobalSecondaryIndexes"]
    assert index["KeySchema"] == EXPECTED_KEY_SCHEMA and index["IndexStatus"] == "ACTIVE"
    document = tracks.validate()
    assert document["exit_code"] == 0, document["output"]


def test_the_shape_check_reads_the_key_order_back(tracks: Tracks, ddb: Any, prefix: str) -> None:
    swapped = [EXPECTED_KEY_SCHEMA[1], EXPECTED_KEY_SCHEMA[0], *EXPECTED_KEY_SCHEMA[2:]]
    ddb.create_table(
        TableName=f"{prefix}Tracks",
        BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "PK", "AttributeType": "S"}]
        + [{"AttributeName": k["AttributeName"], "AttributeType": "N"} for k in swapped],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "ByGenreAndMedia",
                "KeySchema": swapped,
                "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["Name"]},
            }
        ],
    )
    document = tracks.validate("--check", "shape:")
    assert document["exit_code"] != 0
    (shape,) = [c for c in document["checks"] if c["name"] == "shape:tracks"]
    assert shape["status"] == "fail"
    assert "index ByGenreAndMedia key schema is" in json.dumps(shape)


def test_cloudformation_export_creates_the_index_that_passes_the_shape_check(
    tracks: Tracks, ddb: Any, prefix: str
) -> None:
    result = run_cli(tracks.config, "export-model", "--format", "cloudformation")
    assert result.exit_code == 0, result.output
    # cfn-lint knows multi-attribute GSI keys: no error or warning (informational rules change with its version)
    assert [f"{m.rule.id} {m.message}" for m in lint_all(result.stdout) if m.rule.id[0] in "EW"] == []
    (resource,) = json.loads(result.stdout)["Resources"].values()
    properties = resource["Properties"]
    (gsi,) = properties["GlobalSecondaryIndexes"]
    assert gsi["KeySchema"] == EXPECTED_KEY_SCHEMA
    ddb.create_table(**{k: v for k, v in properties.items() if k != "PointInTimeRecoverySpecification"})
    document = tracks.validate("--check", "shape:")
    assert document["exit_code"] == 0, document["output"]


def test_workbench_export_holds_each_access_pattern_ready_to_run(
    tracks: Tracks, ddb: Any, prefix: str, tmp_path: Path
) -> None:
    assert run_cli(tracks.config, "migrate", "--no-validate").exit_code == 0
    out = tmp_path / "model.json"
    result = run_cli(tracks.config, "export-model", "--format", "nosql-workbench", "--out", str(out))
    assert result.exit_code == 0, result.output
    document = json.loads(out.read_text())
    (table,) = document["DataModel"]
    (gsi,) = table["GlobalSecondaryIndexes"]
    assert [k["AttributeName"] for k in gsi["KeyAttributes"]["PartitionKeys"]] == ["GenreId", "MediaTypeId"]
    assert [k["AttributeName"] for k in gsi["KeyAttributes"]["SortKeys"]] == ["Milliseconds", "TrackId"]
    patterns = {p["Name"]: p for p in document["AccessPatterns"]}
    assert set(patterns) == {"by-genre-and-media", "by-genre-and-media-between", "same-length-from"}
    source = sqlite3.connect(tracks.source)
    for pattern in patterns.values():
        assert set(pattern) >= {"Name", "Description", "Type", "TableName", "IndexName", "Parameters", "Request"}
        assert pattern["Type"] == "Query" and pattern["TableName"] == f"{prefix}Tracks"
        assert pattern["IndexName"] == "ByGenreAndMedia"
        assert all(set(p) == {"Name", "SampleValue"} for p in pattern["Parameters"])
        answer = ddb.query(**pattern["Request"])  # as exported: DynamoDB Local accepts it
        got = [int(item["TrackId"]["N"]) for item in answer["Items"]]
        params = {p["Name"]: int(p["SampleValue"]) for p in pattern["Parameters"]}
        assert got and got == _expected(source, pattern["Name"], params)
    first = patterns["same-length-from"]["Request"]
    assert first["KeyConditionExpression"] == ("#pk0 = :pk0 AND #pk1 = :pk1 AND #sk0 = :sk0_0 AND #sk1 > :sk1_0")


def _expected(source: sqlite3.Connection, name: str, params: dict[str, int]) -> list[int]:
    """The ids SQL gives for one of the patterns' sample rows."""
    sql = {
        "by-genre-and-media": "SELECT id FROM track WHERE genre = :genre AND media = :media ORDER BY ms, id",
        "by-genre-and-media-between": "SELECT id FROM track WHERE genre = :genre AND media = :media "
        "AND ms BETWEEN :lo AND :hi ORDER BY ms DESC, id DESC",
        "same-length-from": "SELECT id FROM track WHERE genre = :genre AND media = :media AND ms = :ms "
        "AND id > :id ORDER BY id",
    }[name]
    return [row[0] for row in source.execute(sql, params)]
