"""The engine used as a library: only the public API of ``sqlite2ddb``, no command line.

A small source table is planned, migrated into DynamoDB Local and validated through the names
``import sqlite2ddb`` offers (docs/library.md); a damaged table then fails the validation.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT, count_items

import sqlite2ddb
from sqlite2ddb.errors import ValidationFailed

CITIES = [(1, "Lisbon", "PT", 545000), (2, "Porto", "PT", 232000), (3, "Lyon", "FR", 522000), (4, "Graz", "AT", 291000)]

MAPPING = """\
tables:
  - name: Places
    partition_key: {name: pk, type: S}
    sort_key: {name: sk, type: S}

item_types:
  - name: City
    table: Places
    query: SELECT city_id, name, country, population FROM city
    cursor: [city_id]
    keys:
      pk: "COUNTRY#{{ country }}"
      sk: "CITY#{{ city_id }}"
    attributes:
      Entity: {const: City}
      CityId: {column: city_id, type: number}
      Name: name
      Population: {column: population, type: number}
"""


@pytest.fixture()
def project(tmp_path: Path, make_config: Any) -> Path:
    """A source with four cities, a one-file mapping set, and a configuration for DynamoDB Local."""
    source = tmp_path / "cities.sqlite"
    with sqlite3.connect(source) as conn:
        conn.execute(
            "CREATE TABLE city (city_id INTEGER PRIMARY KEY, name TEXT NOT NULL, country TEXT, population INTEGER)"
        )
        conn.executemany("INSERT INTO city VALUES (?, ?, ?, ?)", CITIES)
    conn.close()
    mappings = tmp_path / "mappings"
    mappings.mkdir()
    (mappings / "places.yaml").write_text(MAPPING, encoding="utf-8")
    path: Path = make_config(source=source, mappings=mappings, enable_validation=False)
    return path


def test_plan_migrate_validate_through_the_public_api(project: Path, ddb: Any, prefix: str) -> None:
    config = sqlite2ddb.load_config(project)
    assert isinstance(config, sqlite2ddb.Config)
    mapping = sqlite2ddb.load_mapping_set(config.mappings)
    assert [i.name for i in mapping.item_types] == ["City"]

    report = sqlite2ddb.plan_migration(config, estimate_rows=0)
    (city,) = report.document["item_types"]
    assert (city["name"], city["expected_rows"]) == ("City", len(CITIES))
    assert [t["name"] for t in report.document["tables"]] == [f"{prefix}Places"]
    assert report.saved is None  # nothing written without out=

    result = sqlite2ddb.migrate_tables(config)
    assert isinstance(result, sqlite2ddb.MigrationResult)
    assert result.items_written == len(CITIES)
    assert [(i.name, i.status, i.rows_read) for i in result.items] == [("City", "done", len(CITIES))]
    assert count_items(ddb, f"{prefix}Places") == len(CITIES)

    proof = sqlite2ddb.validate_tables(config)
    assert isinstance(proof, sqlite2ddb.ValidationResult)
    assert proof.passed, proof.verdict()
    assert proof.failed_count == 0 and proof.passed_count > 0
    sqlite2ddb.check_outcome(proof)  # a passed validation raises nothing

    again = sqlite2ddb.resume_migration(config)  # everything is done: nothing is written twice
    assert again.items_written == 0
    assert count_items(ddb, f"{prefix}Places") == len(CITIES)


def test_a_lost_item_fails_the_validation(project: Path, ddb: Any, prefix: str) -> None:
    config = sqlite2ddb.load_config(project)
    sqlite2ddb.migrate_tables(config)
    ddb.delete_item(TableName=f"{prefix}Places", Key={"pk": {"S": "COUNTRY#FR"}, "sk": {"S": "CITY#3"}})

    proof = sqlite2ddb.validate_tables(config)
    assert not proof.passed
    assert proof.failed_count >= 1
    with pytest.raises(ValidationFailed):
        sqlite2ddb.check_outcome(proof)


def test_import_is_cheap_and_lists_its_api() -> None:
    """``import sqlite2ddb`` loads no other module of the package; each public name resolves on first use."""
    script = textwrap.dedent(
        f"""
        import importlib.util, sys
        root = {str(ROOT / "engine")!r}
        spec = importlib.util.spec_from_file_location(
            "sqlite2ddb", root + "/__init__.py", submodule_search_locations=[root])
        module = importlib.util.module_from_spec(spec)
        sys.modules["sqlite2ddb"] = module
        spec.loader.exec_module(module)
        print(sorted(m for m in sys.modules if m.startswith("sqlite2ddb")))
        """
    )
    loaded = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "['sqlite2ddb']"
    for name in sqlite2ddb.__all__:
        assert getattr(sqlite2ddb, name) is not None, name
        assert (getattr(sqlite2ddb, name).__doc__ or "").strip(), f"{name} has no docstring"
    with pytest.raises(AttributeError):
        sqlite2ddb.no_such_name  # noqa: B018
