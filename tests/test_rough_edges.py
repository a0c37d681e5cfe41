"""Four rough edges a new user hit on a database the project had never seen.

1. ``plan --samples`` shows a binary value as its size and digest (base64 in JSON), not as hex.
2. An access pattern on an index whose projection lacks what it compares is a plan-time error.
3. ``one: true`` embeds a single map; more than one child row for a parent is a plan-time error.
4. ``validate --check NAME`` accepts a bare check name when it is unambiguous.
"""

from __future__ import annotations

import base64
import hashlib
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from conftest import error_lines, one_line, run_cli

PICTURE = bytes(range(256)) * 39 + b"\x89PNG\r\n" + bytes(161)  # 10,151 bytes


def _database(path: Path, script: str, rows: dict[str, list[tuple[Any, ...]]]) -> Path:
    conn = sqlite3.connect(path)
    conn.executescript(script)
    for table, values in rows.items():
        conn.executemany(f"INSERT INTO {table} VALUES ({', '.join('?' for _ in values[0])})", values)
    conn.commit()
    conn.close()
    return path


def _mapping(folder: Path, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "m.yaml").write_text(text)
    return folder


def test_plan_samples_show_binary_as_size_and_digest_and_json_as_base64(tmp_path: Path, make_config: Any) -> None:
    assert len(PICTURE) == 10_151
    source = _database(
        tmp_path / "pictures.sqlite",
        "CREATE TABLE category (id INTEGER PRIMARY KEY, name TEXT, picture BLOB);",
        {"category": [(1, "Beverages", PICTURE)]},
    )
    mappings = tmp_path / "mappings" / "pictures"
    assert run_cli(None, "scaffold", "-s", str(source), "-o", str(mappings)).exit_code == 0
    config = make_config(source=source, mappings=mappings)

    shown = run_cli(config, "plan", "--samples", "1", "--no-check-target")
    assert shown.exit_code == 0, shown.output
    digest = hashlib.sha256(PICTURE).hexdigest()[:8]
    assert f'"picture": "<binary 10,151 bytes sha256:{digest}>"' in shown.stdout
    assert PICTURE[:64].hex() not in shown.stdout and len(shown.stdout) < 10_000

    as_json = run_cli(config, "plan", "--samples", "1", "--no-check-target", "--format", "json")
    assert as_json.exit_code == 0, as_json.output
    (sample,) = json.loads(as_json.stdout)["samples"]["Category"]
    assert base64.b64decode(sample["picture"]) == PICTURE


PROJECTED = """\
tables:
  - name: Shop
    partition_key: {name: PK, type: S}
    sort_key: {name: SK, type: S}
    indexes:
      - name: ByEmail
        partition_key: {name: GSI1PK, type: S}
        projection: %s
item_types:
  - name: Customer
    table: Shop
    query: SELECT id, email, name FROM customer
    cursor: [id]
    keys: {PK: "C#{{ id }}", SK: C, GSI1PK: "{{ email }}"}
    attributes:
      Entity: {const: Customer}
      Id: {column: id, type: number}
      Name: name
access_patterns:
  - name: s06-customer-by-email
    params: SELECT email FROM customer
    request: {table: Shop, index: ByEmail, query: {partition: "{{ email }}"}}
    sql: SELECT id AS Id, name AS Name FROM customer WHERE email = :email
    compare: {id: Id, attributes: [Name]}
"""


def _customers(tmp_path: Path) -> Path:
    return _database(
        tmp_path / "shop.sqlite",
        "CREATE TABLE customer (id INTEGER PRIMARY KEY, email TEXT UNIQUE, name TEXT);",
        {"customer": [(1, "a@x.org", "Ann"), (2, "b@x.org", "Bob")]},
    )


def test_pattern_on_an_index_that_does_not_project_its_attributes_fails_at_plan(
    tmp_path: Path, make_config: Any
) -> None:
    source = _customers(tmp_path)
    for projection, missing in (("KEYS_ONLY", "Id, Name"), ("{include: [Id]}", "Name")):
        folder = _mapping(tmp_path / projection.strip("{}:[] ").replace(" ", ""), PROJECTED % projection)
        result = run_cli(None, "-c", str(tmp_path / "unused.json"), "init", "-s", str(source), "-m", str(folder))
        assert result.exit_code == 2, result.output
        line = one_line(error_lines(result.stderr)[0])
        assert "m.yaml:20: access pattern s06-customer-by-email: index ByEmail of table Shop projects" in line
        shown = "KEYS_ONLY" if projection == "KEYS_ONLY" else "INCLUDE [Id]"
        assert f"projects {shown}, which lacks {missing} that the pattern compares" in line
    folder = _mapping(tmp_path / "all", PROJECTED % "ALL")
    config = make_config(source=source, mappings=folder)
    assert run_cli(config, "plan", "--no-check-target").exit_code == 0


def test_bare_check_name_selects_the_one_check_it_names(tmp_path: Path, make_config: Any) -> None:
    source = _customers(tmp_path)
    config = make_config(source=source, mappings=_mapping(tmp_path / "all", PROJECTED % "ALL"), enable_validation=False)
    assert run_cli(config, "migrate").exit_code == 0
    result = run_cli(config, "validate", "--check", "s06-customer-by-email")
    assert result.exit_code == 0, result.output
    assert "pattern:s06-customer-by-email" in result.stdout and "1 passed, 0 failed" in result.stdout
    result = run_cli(config, "validate", "--check", "s06")  # an unambiguous start of a bare name
    assert result.exit_code == 0 and "1 passed, 0 failed" in result.stdout


TERRITORIES = """\
tables:
  - name: Sales
    partition_key: {name: PK, type: S}
    sort_key: {name: SK, type: S}
item_types:
  - name: Territory
    table: Sales
    query: SELECT territory_id, name, region_id FROM territory
    cursor: [territory_id]
    keys: {PK: "T#{{ territory_id }}", SK: T}
    attributes:
      Entity: {const: Territory}
      Name: name
    embeds:
      - query: SELECT region_id, description FROM %s
        join: {region_id: region_id}
        as: Region
        one: true
        attributes:
          RegionId: {column: region_id, type: number}
          Description: description
access_patterns:
  - name: region-of-territory
    params: SELECT territory_id FROM territory
    request: {table: Sales, get: {PK: "T#{{ territory_id }}", SK: T}, expand: Region}
    sql: |
      SELECT r.region_id AS RegionId, r.description AS Description
      FROM territory t JOIN region r ON r.region_id = t.region_id WHERE t.territory_id = :territory_id
    compare: {id: RegionId, attributes: [Description]}
"""


def _territories(tmp_path: Path) -> Path:
    return _database(
        tmp_path / "sales.sqlite",
        """
        CREATE TABLE region (region_id INTEGER PRIMARY KEY, description TEXT);
        CREATE TABLE region_alias (region_id INTEGER, description TEXT);
        CREATE TABLE territory (territory_id TEXT PRIMARY KEY, name TEXT, region_id INTEGER REFERENCES region);
        """,
        {
            "region": [(1, "Eastern"), (2, "Western")],
            "region_alias": [(1, "East"), (2, "West"), (2, "Far West")],
            "territory": [("01581", "Westboro", 1), ("98004", "Bellevue", 2), ("99999", "Nowhere", None)],
        },
    )


def test_one_true_embeds_a_single_map_and_migrates_and_validates(tmp_path: Path, make_config: Any, ddb: Any) -> None:
    source = _territories(tmp_path)
    config = make_config(source=source, mappings=_mapping(tmp_path / "one", TERRITORIES % "region"))
    result = run_cli(config, "plan", "--samples", "3", "--format", "json", "--no-check-target")
    assert result.exit_code == 0, result.output
    samples = json.loads(result.stdout)["samples"]["Territory"]
    assert samples[0]["Region"] == {"RegionId": 1, "Description": "Eastern"}
    assert "Region" not in samples[2]  # no region: no map
    result = run_cli(config, "migrate")  # validates at the end
    assert result.exit_code == 0, result.output
    assert "0 failed" in result.stdout
    assert "pattern:region-of-territory" in result.stdout  # expand reads the single map as one element


def test_one_true_with_more_than_one_child_row_fails_at_plan(tmp_path: Path, make_config: Any) -> None:
    source = _territories(tmp_path)
    folder = _mapping(tmp_path / "many", TERRITORIES % "region_alias")
    result = run_cli(None, "-c", str(tmp_path / "c.json"), "init", "-s", str(source), "-m", str(folder))
    assert result.exit_code == 0, result.output  # the schema and references are fine
    result = run_cli(tmp_path / "c.json", "plan", "--no-check-target")
    assert result.exit_code == 2
    line = one_line(error_lines(result.stderr)[0])
    assert "m.yaml:15: item type Territory: embed Region: 'one: true' but the join returns 2 rows for" in line
    assert "{'region_id': 2}" in line


def test_a_bare_check_name_matching_two_kinds_is_refused_naming_both() -> None:
    from sqlite2ddb.errors import UsageError
    from sqlite2ddb.validate import resolve_bare_names

    known = ["shape:sales", "count:Track", "aggregate:Track", "pattern:s06-customer-by-email"]
    assert resolve_bare_names(["s06-customer-by-email"], known) == ["pattern:s06-customer-by-email"]
    assert resolve_bare_names(["count:"], known) == ["count:"]  # a prefix with its kind, as before
    with pytest.raises(UsageError, match=r"--check Track is ambiguous: say which, e\.g\. aggregate:Track, count:Track"):
        resolve_bare_names(["Track"], known)
