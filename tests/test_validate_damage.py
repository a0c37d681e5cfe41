"""validate against a damaged target: every kind of damage is found, named and reported.

Chinook is migrated once for the module. Each test then damages the target
(or the source, or the table shape) with plain boto3 / sqlite3, runs
``validate`` limited with ``--table`` / ``--check`` so it stays short, reads the
JSON report a user would read, and puts the target back as it was so the
tests stay independent.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import CHINOOK, run_cli, write_config

# Keys of items used below (see /work/shared/docs/chinook-model.md).
TRACK_1 = {"PK": "TRACK#1", "SK": "PROFILE"}
ALBUM_1 = {"PK": "ARTIST#1", "SK": "ALBUM#000001"}  # For Those About To Rock: tracks 1, 6, 7, ...
CUSTOMER_1 = {"PK": "CUSTOMER#1", "SK": "PROFILE"}  # luisg@embraer.com.br
CUSTOMER_2 = {"PK": "CUSTOMER#2", "SK": "PROFILE"}  # leonekohler@surfeu.de
EMPLOYEE_8 = {"PK": "EMPLOYEE#8", "SK": "PROFILE"}
PLAYLISTS_OF_TRACK = "SELECT PlaylistId FROM PlaylistTrack WHERE TrackId = ? ORDER BY PlaylistId"


@dataclass
class Migrated:
    config: Path
    prefix: str
    folder: Path

    def table(self, name: str) -> str:
        return f"{self.prefix}{name}"


@pytest.fixture(scope="module")
def migrated(tmp_path_factory: pytest.TempPathFactory, ddb_url: str, ddb: Any) -> Iterator[Migrated]:
    """Chinook migrated once into its own table prefix, shared by every test of the module."""
    folder = tmp_path_factory.mktemp("validate-damage")
    prefix = f"v{uuid.uuid4().hex[:8]}_"
    config = write_config(folder / "run", CHINOOK, ddb_url, prefix)
    result = run_cli(config, "migrate", "--no-validate")
    assert result.exit_code == 0, result.output
    yield Migrated(config, prefix, folder)
    for name in ("MusicCatalog", "CustomerData", "PlaylistData", "EmployeeData"):
        ddb.delete_table(TableName=f"{prefix}{name}")


# --------------------------------------------------------------------------- helpers
# Every pattern with more than one parameter value is proven from one read of its index (plus sampled
# real requests), so the damage below must be caught by that path, as it is with one request per value.
INDEX_READ = ("--index-read-above", "1")


def validate(config: Path, report: Path, *args: str) -> tuple[Any, dict[str, Any]]:
    """Run ``validate --report report`` and return the CLI result and the JSON document."""
    result = run_cli(config, "validate", "--report", str(report), *INDEX_READ, *args)
    json_path = report if report.suffix == ".json" else report.with_suffix(".json")
    assert json_path.exists(), result.output
    return result, json.loads(json_path.read_text())


def check(document: dict[str, Any], name: str) -> dict[str, Any]:
    found = [c for c in document["checks"] if c["name"] == name]
    assert found, f"no check {name} in {[c['name'] for c in document['checks']]}"
    return found[0]


def names(document: dict[str, Any]) -> set[str]:
    return {c["name"] for c in document["checks"]}


def failed(document: dict[str, Any]) -> set[str]:
    return {c["name"] for c in document["checks"] if not c["passed"]}


def get(ddb: Any, table: str, key: dict[str, str]) -> dict[str, Any]:
    item = ddb.get_item(TableName=table, Key=wire(key), ConsistentRead=True).get("Item")
    assert item is not None, f"{key} is not in {table}"
    return item


def wire(key: dict[str, str]) -> dict[str, Any]:
    return {name: {"S": value} for name, value in key.items()}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --------------------------------------------------------------------------- clean state
def test_clean_tables_pass_and_reports_identify_source_and_mapping(migrated: Migrated, tmp_path: Path) -> None:
    report = tmp_path / "employees.md"
    result, document = validate(migrated.config, report, "-t", "employee_data")
    assert result.exit_code == 0, result.output
    assert "0 failed" in result.output

    text = report.read_text()
    assert "Result: PASS" in text
    assert sha256(CHINOOK) in text
    assert document["mapping"]["digest"] and document["mapping"]["digest"] in text

    # the JSON beside the Markdown has the stable fields a pipeline reads
    assert document["result"] == "pass"
    assert document["mode"] == "full"
    assert document["source"]["sha256"] == sha256(CHINOOK)
    assert document["target"]["table_prefix"] == migrated.prefix
    assert document["summary"]["failed"] == 0
    assert {
        "shape:employee_data",
        "count:employee_data",
        "count:Employee",
        "items:employee_data",
        "pattern:p15-employee-by-id",
        "pattern:p16-direct-reports",
        "pattern:p17-everyone-below",
    } <= names(document)
    for entry in document["checks"]:
        assert entry["passed"] is True and entry["failures"] == [], entry
    assert check(document, "items:employee_data")["compared"] == 8
    # each pattern was proven from one read of its index, plus real requests for a sample of its values
    assert "index read of" in check(document, "pattern:p15-employee-by-id")["summary"]
    assert "index read of" in check(document, "pattern:p16-direct-reports")["summary"]
    # only the named table was checked
    assert not any("customer" in n or "music" in n or n.startswith("pattern:p0") for n in names(document))

    report = tmp_path / "customers.html"
    result, document = validate(migrated.config, report, "-t", "customer_data")
    assert result.exit_code == 0, result.output
    assert document["result"] == "pass"
    assert check(document, "items:customer_data")["compared"] == 59 + 412
    assert check(document, "count:Customer")["compared"] == 59
    assert check(document, "count:Invoice")["compared"] == 412
    assert {"aggregate:invoice-total-sum", "aggregate:invoice-line-count", "rule:Customer.attribute_present.Email"} <= (
        names(document)
    )
    page = report.read_text()
    assert page.startswith(
        "<!doctype html>"
    ) and f"✔ PASS: {len(document['checks'])} of {len(document['checks'])} checks passed" in " ".join(page.split())


# --------------------------------------------------------------------------- damage to items
def test_deleted_item_is_reported_missing_with_its_key(migrated: Migrated, ddb: Any, tmp_path: Path) -> None:
    table = migrated.table("MusicCatalog")
    original = get(ddb, table, TRACK_1)
    ddb.delete_item(TableName=table, Key=wire(TRACK_1))
    try:
        result, document = validate(
            migrated.config,
            tmp_path / "report.json",
            "-t",
            "music_catalog",
            "--check",
            "count:",
            "--check",
            "items:music_catalog",
        )
    finally:
        ddb.put_item(TableName=table, Item=original)
    assert result.exit_code == 1, result.output
    assert document["result"] == "fail"
    assert failed(document) == {"count:Track", "count:music_catalog", "items:music_catalog"}

    count = check(document, "count:Track")
    assert (count["failures"][0]["expected"], count["failures"][0]["actual"]) == (3503, 3502)
    assert check(document, "count:Album")["passed"] and check(document, "count:Artist")["passed"]

    items = check(document, "items:music_catalog")
    assert items["failure_count"] == 1
    (failure,) = items["failures"]
    assert failure["kind"] == "missing"
    assert failure["key"] == TRACK_1
    assert "Track" in failure["message"]
    # the terminal output names the key too
    assert "TRACK#1" in result.output and "missing" in result.output


def test_changed_number_in_embedded_list_is_reported_at_its_path(migrated: Migrated, ddb: Any, tmp_path: Path) -> None:
    table = migrated.table("MusicCatalog")
    original = get(ddb, table, ALBUM_1)
    assert original["Tracks"]["L"][2]["M"]["UnitPrice"] == {"N": "0.99"}
    assert original["Tracks"]["L"][2]["M"]["TrackId"] == {"N": "7"}
    ddb.update_item(
        TableName=table,
        Key=wire(ALBUM_1),
        UpdateExpression="SET Tracks[2].UnitPrice = :price",
        ExpressionAttributeValues={":price": {"N": "1.99"}},
    )
    try:
        result, document = validate(
            migrated.config, tmp_path / "items.md", "-t", "music_catalog", "--check", "items:music_catalog"
        )
        patterns, pattern_doc = validate(
            migrated.config, tmp_path / "patterns.json", "-t", "music_catalog", "--check", "pattern:p03"
        )
    finally:
        ddb.put_item(TableName=table, Item=original)

    assert result.exit_code == 1, result.output
    items = check(document, "items:music_catalog")
    assert items["failure_count"] == 1
    (failure,) = items["failures"]
    assert failure["kind"] == "differs"
    assert failure["key"] == ALBUM_1
    assert failure["path"] == "Tracks[2].UnitPrice"
    assert (failure["expected"], failure["actual"]) == ("0.99", "1.99")
    assert "Tracks[2].UnitPrice" in result.output
    markdown = (tmp_path / "items.md").read_text()
    assert "Result: FAIL" in markdown
    assert "ALBUM#000001" in markdown and "`Tracks[2].UnitPrice`" in markdown

    # the access pattern "album with its tracks" answers differently from SQL for album 1 only
    assert patterns.exit_code == 1, patterns.output
    assert failed(pattern_doc) == {"pattern:p03-album-with-tracks"}
    assert check(pattern_doc, "pattern:p03b-album-totals")["passed"]
    p03 = check(pattern_doc, "pattern:p03-album-with-tracks")
    assert p03["compared"] == 347
    assert p03["failure_count"] == 1
    (failure,) = p03["failures"]
    assert failure["key"] == {"TrackId": 7}
    assert failure["path"] == "UnitPrice"
    assert (failure["expected"], failure["actual"]) == ("0.99", "1.99")
    assert '"id": 1' in failure["message"]


def test_stray_item_is_reported_extra_and_breaks_the_table_count(migrated: Migrated, ddb: Any, tmp_path: Path) -> None:
    table = migrated.table("CustomerData")
    stray = {"PK": "CUSTOMER#9999", "SK": "NOTE#1"}
    ddb.put_item(TableName=table, Item={**wire(stray), "Entity": {"S": "Note"}, "Text": {"S": "left over"}})
    try:
        result, document = validate(
            migrated.config,
            tmp_path / "report.json",
            "-t",
            "customer_data",
            "--check",
            "items:customer_data",
            "--check",
            "count:",
        )
    finally:
        ddb.delete_item(TableName=table, Key=wire(stray))
    assert result.exit_code == 1, result.output
    assert failed(document) == {"items:customer_data", "count:customer_data"}
    # the item types the plan writes are still all there
    assert check(document, "count:Customer")["passed"] and check(document, "count:Invoice")["passed"]

    total = check(document, "count:customer_data")["failures"][0]
    assert (total["expected"], total["actual"]) == (471, 472)
    items = check(document, "items:customer_data")
    assert items["failure_count"] == 1
    (failure,) = items["failures"]
    assert failure["kind"] == "extra"
    assert failure["key"] == stray
    assert "Note" in failure["message"]


def test_removed_attribute_is_reported_by_items_and_by_the_rule(migrated: Migrated, ddb: Any, tmp_path: Path) -> None:
    table = migrated.table("CustomerData")
    original = get(ddb, table, CUSTOMER_1)
    assert original["Email"] == {"S": "luisg@embraer.com.br"}
    ddb.update_item(TableName=table, Key=wire(CUSTOMER_1), UpdateExpression="REMOVE Email")
    try:
        result, document = validate(
            migrated.config,
            tmp_path / "report.json",
            "-t",
            "customer_data",
            "--check",
            "items:customer_data",
            "--check",
            "rule:",
        )
    finally:
        ddb.put_item(TableName=table, Item=original)
    assert result.exit_code == 1, result.output
    assert failed(document) == {"items:customer_data", "rule:Customer.attribute_present.Email"}

    (failure,) = check(document, "items:customer_data")["failures"]
    assert failure["key"] == CUSTOMER_1
    assert failure["path"] == "Email"
    assert (failure["expected"], failure["actual"]) == ("luisg@embraer.com.br", None)

    rule = check(document, "rule:Customer.attribute_present.Email")
    assert rule["failure_count"] == 1
    assert rule["failures"][0]["key"] == CUSTOMER_1
    assert rule["failures"][0]["path"] == "Email"


def test_changed_index_key_is_reported_and_breaks_the_email_lookup(
    migrated: Migrated, ddb: Any, tmp_path: Path
) -> None:
    table = migrated.table("CustomerData")
    original = get(ddb, table, CUSTOMER_2)
    assert original["GSI1PK"] == {"S": "EMAIL#leonekohler@surfeu.de"}
    ddb.update_item(
        TableName=table,
        Key=wire(CUSTOMER_2),
        UpdateExpression="SET GSI1PK = :k",
        ExpressionAttributeValues={":k": {"S": "EMAIL#LeoneKohler@surfeu.de"}},
    )
    try:
        result, document = validate(
            migrated.config,
            tmp_path / "report.json",
            "-t",
            "customer_data",
            "--check",
            "items:customer_data",
            "--check",
            "pattern:p11",
        )
    finally:
        ddb.put_item(TableName=table, Item=original)
    assert result.exit_code == 1, result.output
    assert failed(document) == {"items:customer_data", "pattern:p11-customer-by-email"}

    (failure,) = check(document, "items:customer_data")["failures"]
    assert failure["key"] == CUSTOMER_2
    assert failure["path"] == "GSI1PK"
    assert (failure["expected"], failure["actual"]) == ("EMAIL#leonekohler@surfeu.de", "EMAIL#LeoneKohler@surfeu.de")

    p11 = check(document, "pattern:p11-customer-by-email")
    assert "(from the item pass's Scan)" in p11["summary"]  # the items check's Scan filled GSI1's file
    # the lookup by the address as stored and by its upper-case form both miss customer 2
    assert p11["failure_count"] == 2
    for failure in p11["failures"]:
        assert failure["path"] == "CustomerId"
        assert (failure["expected"], failure["actual"]) == ([2], [])
        assert "leonekohler@surfeu.de" in failure["message"].lower()


def test_entry_moved_to_another_track_in_an_index_is_caught_by_the_index_read(
    migrated: Migrated, ddb: Any, tmp_path: Path
) -> None:
    with sqlite3.connect(CHINOOK) as source:
        moved = source.execute("SELECT min(PlaylistId) FROM PlaylistTrack WHERE TrackId = 1").fetchone()[0]
        # the entry goes to the first track that playlist does not hold
        other = source.execute(
            "SELECT min(TrackId) FROM Track WHERE TrackId NOT IN (SELECT TrackId FROM PlaylistTrack WHERE PlaylistId = ?)",
            (moved,),
        ).fetchone()[0]
        playlists = {t: [r[0] for r in source.execute(PLAYLISTS_OF_TRACK, (t,))] for t in (1, other)}
    table = migrated.table("PlaylistData")
    key = {"PK": f"PLAYLIST#{moved}", "SK": "TRACK#000001"}
    original = get(ddb, table, key)
    assert original["GSI1PK"] == {"S": "TRACK#1"}
    ddb.update_item(
        TableName=table,
        Key=wire(key),
        UpdateExpression="SET GSI1PK = :k",
        ExpressionAttributeValues={":k": {"S": f"TRACK#{other}"}},
    )
    try:
        result, document = validate(
            migrated.config, tmp_path / "report.json", "-t", "playlist_data", "--check", "pattern:p14"
        )
    finally:
        ddb.put_item(TableName=table, Item=original)
    assert result.exit_code == 1, result.output
    p14 = check(document, "pattern:p14-playlists-of-track")
    assert "index read of" in p14["summary"]
    # track 1 lost the playlist in the index, the other track gained it
    assert p14["failure_count"] == 2
    lost, gained = p14["failures"]
    assert lost["message"] == 'params {"id": 1}: PlaylistId values differ from SQL'
    assert (lost["expected"], lost["actual"]) == (playlists[1], [p for p in playlists[1] if p != moved])
    assert gained["message"] == f'params {{"id": {other}}}: PlaylistId values differ from SQL'
    assert (gained["expected"], gained["actual"]) == (playlists[other], sorted([*playlists[other], moved]))


def test_number_stored_as_string_is_reported_at_its_path(migrated: Migrated, ddb: Any, tmp_path: Path) -> None:
    table = migrated.table("MusicCatalog")
    original = get(ddb, table, TRACK_1)
    assert original["UnitPrice"] == {"N": "0.99"}
    ddb.update_item(
        TableName=table,
        Key=wire(TRACK_1),
        UpdateExpression="SET UnitPrice = :p",
        ExpressionAttributeValues={":p": {"S": "0.99"}},
    )
    try:
        result, document = validate(
            migrated.config, tmp_path / "report.json", "-t", "music_catalog", "--check", "items:music_catalog"
        )
    finally:
        ddb.put_item(TableName=table, Item=original)
    assert result.exit_code == 1, result.output
    (failure,) = check(document, "items:music_catalog")["failures"]
    assert (failure["key"], failure["path"]) == (TRACK_1, "UnitPrice")


def test_type_change_report_tells_the_values_apart(migrated: Migrated, ddb: Any, tmp_path: Path) -> None:
    table = migrated.table("MusicCatalog")
    original = get(ddb, table, TRACK_1)
    ddb.update_item(
        TableName=table,
        Key=wire(TRACK_1),
        UpdateExpression="SET UnitPrice = :p",
        ExpressionAttributeValues={":p": {"S": "0.99"}},
    )
    try:
        result, document = validate(
            migrated.config, tmp_path / "report.json", "-t", "music_catalog", "--check", "items:music_catalog"
        )
    finally:
        ddb.put_item(TableName=table, Item=original)
    assert result.exit_code == 1, result.output
    (failure,) = check(document, "items:music_catalog")["failures"]
    assert failure["expected"] != failure["actual"], failure


def test_check_prefix_matching_nothing_does_not_pass(migrated: Migrated, tmp_path: Path) -> None:
    result = run_cli(migrated.config, "validate", "-t", "employee_data", "--check", "itmes:employee_data")
    assert result.exit_code != 0, result.output


# --------------------------------------------------------------------------- the source moved on
def test_source_changed_after_migration_is_reported(migrated: Migrated, ddb_url: str, tmp_path: Path) -> None:
    copy = tmp_path / "chinook.sqlite"
    copy.write_bytes(CHINOOK.read_bytes())
    with sqlite3.connect(copy) as conn:
        conn.execute("UPDATE Employee SET Title = 'Chief Sales Officer' WHERE EmployeeId = 2")
    conn.close()
    # same tables as the module's migration, but the changed copy as source
    config = write_config(tmp_path / "copy", copy, ddb_url, migrated.prefix)

    result, document = validate(config, tmp_path / "report.json", "-t", "employee_data")
    assert result.exit_code == 1, result.output
    assert document["source"]["sha256"] == sha256(copy) != sha256(CHINOOK)

    differences = {
        (f["key"]["PK"], f["path"], f["expected"], f["actual"])
        for f in check(document, "items:employee_data")["failures"]
    }
    # Nancy Edwards (2) herself, and the Manager map of the three people reporting to her
    assert differences == {
        ("EMPLOYEE#2", "Title", "Chief Sales Officer", "Sales Manager"),
        ("EMPLOYEE#3", "Manager.Title", "Chief Sales Officer", "Sales Manager"),
        ("EMPLOYEE#4", "Manager.Title", "Chief Sales Officer", "Sales Manager"),
        ("EMPLOYEE#5", "Manager.Title", "Chief Sales Officer", "Sales Manager"),
    }
    p15 = check(document, "pattern:p15-employee-by-id")
    assert not p15["passed"]
    assert {(f["key"]["EmployeeId"], f["path"]) for f in p15["failures"]} == {
        (2, "Title"),
        (3, "Manager.Title"),
        (4, "Manager.Title"),
        (5, "Manager.Title"),
    }
    # counts and shape are unaffected
    assert check(document, "count:Employee")["passed"] and check(document, "shape:employee_data")["passed"]


# --------------------------------------------------------------------------- table shape
def test_table_shape_drift_names_the_index_and_the_key(ddb_url: str, ddb: Any, tmp_path: Path) -> None:
    prefix = f"s{uuid.uuid4().hex[:8]}_"
    ddb.create_table(
        TableName=f"{prefix}EmployeeData",
        AttributeDefinitions=[{"AttributeName": n, "AttributeType": "S"} for n in ("PK", "SK", "GSI1PK", "GSI1SK")],
        KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}, {"AttributeName": "SK", "KeyType": "RANGE"}],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "GSI1",
                "KeySchema": [
                    {"AttributeName": "GSI1PK", "KeyType": "HASH"},
                    {"AttributeName": "GSI1SK", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],  # GSI2 left out
        BillingMode="PAY_PER_REQUEST",
    )
    ddb.create_table(
        TableName=f"{prefix}PlaylistData",
        AttributeDefinitions=[{"AttributeName": n, "AttributeType": "S"} for n in ("PK", "GSI1PK", "GSI1SK")],
        KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}],  # no sort key
        GlobalSecondaryIndexes=[
            {
                "IndexName": "GSI1",
                "KeySchema": [
                    {"AttributeName": "GSI1PK", "KeyType": "HASH"},
                    {"AttributeName": "GSI1SK", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    config = write_config(tmp_path / "shape", CHINOOK, ddb_url, prefix)
    try:
        result, document = validate(config, tmp_path / "employees.json", "-t", "employee_data", "--check", "shape:")
        assert result.exit_code == 1, result.output
        assert names(document) == {"shape:employee_data"}
        shape = check(document, "shape:employee_data")
        assert not shape["passed"]
        messages = [f["message"] for f in shape["failures"]]
        assert f"{prefix}EmployeeData: index GSI2 is missing" in messages, messages
        assert not any("GSI1 " in m for m in messages), messages
        assert "GSI2 is missing" in result.output

        result, document = validate(config, tmp_path / "playlists.json", "-t", "playlist_data", "--check", "shape:")
        assert result.exit_code == 1, result.output
        messages = [f["message"] for f in check(document, "shape:playlist_data")["failures"]]
        assert any("key schema" in m and "SK" in m for m in messages), messages

        # a table that does not exist at all: cannot run, one line, exit 2
        result = run_cli(config, "validate", "-t", "music_catalog")
        assert result.exit_code == 2, result.output
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        assert f"{prefix}MusicCatalog" in lines[0] and "do not exist" in lines[0]
        assert "Traceback" not in result.output
    finally:
        ddb.delete_table(TableName=f"{prefix}EmployeeData")
        ddb.delete_table(TableName=f"{prefix}PlaylistData")


# --------------------------------------------------------------------------- sampling
def test_sampling_modes(migrated: Migrated, ddb: Any, tmp_path: Path) -> None:
    table = migrated.table("EmployeeData")
    original = get(ddb, table, EMPLOYEE_8)
    ddb.delete_item(TableName=table, Key=wire(EMPLOYEE_8))
    try:
        result, document = validate(
            migrated.config, tmp_path / "pct.json", "-t", "employee_data", "--sample-pct", "100"
        )
    finally:
        ddb.put_item(TableName=table, Item=original)
    assert result.exit_code == 1, result.output
    assert document["mode"].startswith("sample") and "100" in document["mode"]
    items = check(document, "items:employee_data")
    assert [(f["kind"], f["key"]) for f in items["failures"]] == [("missing", EMPLOYEE_8)]
    assert not check(document, "count:Employee")["passed"]

    # restored: a small sample runs, passes, and says it was a sample
    result, document = validate(migrated.config, tmp_path / "five.json", "-t", "employee_data", "--sample", "5")
    assert result.exit_code == 0, result.output
    assert document["mode"] == "sample 5"
    assert document["result"] == "pass"
    assert "sampled" in check(document, "items:employee_data")["summary"]
    # the access patterns are sampled too
    assert check(document, "pattern:p15-employee-by-id")["compared"] == 5


def test_sample_n_compares_at_most_n_items_per_item_type(migrated: Migrated, tmp_path: Path) -> None:
    result, document = validate(migrated.config, tmp_path / "five.json", "-t", "employee_data", "--sample", "5")
    assert result.exit_code == 0, result.output
    assert check(document, "items:employee_data")["compared"] == 5


# --------------------------------------------------------------------------- cannot run
def test_unreachable_endpoint_exits_2_with_one_line(tmp_path: Path) -> None:
    config = write_config(tmp_path / "nowhere", CHINOOK, "http://127.0.0.1:9", "x_")
    result = run_cli(config, "validate", "-t", "employee_data")
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "127.0.0.1:9" in lines[0] and "cannot reach" in lines[0]
    assert "Traceback" not in result.output


# --------------------------------------------------------------------------- key names in sample mode
KEY_ORDER_MAPPING = """\
tables:
  - name: Things
    partition_key: {name: ThingId, type: S}
    sort_key: {name: Kind, type: S}

item_types:
  - name: Thing
    table: Things
    query: SELECT id, name FROM thing
    cursor: [id]
    keys:
      ThingId: "THING#{{ id }}"
      Kind: PROFILE
    attributes:
      Entity: {const: Thing}
      Id: {column: id, type: number}
      Name: name
"""


@pytest.fixture(scope="module")
def things(tmp_path_factory: pytest.TempPathFactory, ddb_url: str, ddb: Any) -> Iterator[Path]:
    """A 30-item table whose sort key name (Kind) sorts before its partition key name (ThingId)."""
    folder = tmp_path_factory.mktemp("key-order")
    source = folder / "things.sqlite"
    with sqlite3.connect(source) as conn:
        conn.execute("CREATE TABLE thing (id INTEGER PRIMARY KEY, name TEXT)")
        conn.executemany("INSERT INTO thing VALUES (?, ?)", [(i, f"thing {i}") for i in range(1, 31)])
    conn.close()
    mappings = folder / "mappings"
    mappings.mkdir()
    (mappings / "things.yaml").write_text(KEY_ORDER_MAPPING)
    prefix = f"k{uuid.uuid4().hex[:8]}_"
    config = write_config(folder / "run", source, ddb_url, prefix, mappings)
    result = run_cli(config, "migrate", "--no-validate")
    assert result.exit_code == 0, result.output
    yield config
    ddb.delete_table(TableName=f"{prefix}Things")


def test_full_validate_passes_whatever_the_key_names(things: Path, tmp_path: Path) -> None:
    result, document = validate(things, tmp_path / "full.json")
    assert result.exit_code == 0, result.output
    assert check(document, "items:things")["compared"] == 30


def test_sample_on_table_whose_sort_key_name_sorts_first(things: Path, tmp_path: Path) -> None:
    result, document = validate(things, tmp_path / "sample.json", "--sample-pct", "100")
    assert check(document, "items:things")["failures"] == []
    assert result.exit_code == 0, result.output
