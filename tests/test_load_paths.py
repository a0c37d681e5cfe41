"""plan's comparison of load paths: BatchWriteItem, ImportTable (new tables), bulk put (existing tables).

What a user reads in ``plan --format json`` (the text plan shows the same
figures): the estimates scale with the data (twice the rows, twice the write
units and dollars), an existing table is not offered ImportTable and a new one
is not offered bulk put, and the warm throughput a BatchWriteItem load needs
to finish within ``--target-minutes`` follows from its write units.
"""

from __future__ import annotations

import json
import math
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from conftest import run_cli

from sqlite2ddb.bulk.compare import bulk_put_estimate, import_estimate, warm_needed

MAPPING = """\
tables:
  - name: Notes
    partition_key: {name: PK, type: S}
    indexes:
      - name: ByAuthor
        partition_key: {name: Author, type: S}

item_types:
  - name: Note
    table: Notes
    query: SELECT id, author, body FROM note
    cursor: [id]
    keys:
      PK: "NOTE#{{ id | pad(6) }}"
    attributes:
      Entity: {const: Note}
      Author: author
      Body: body
"""


def project(tmp_path: Path, make_config: Any, rows: int, endpoint: str | None = None) -> Path:
    folder = tmp_path / f"rows{rows}"
    folder.mkdir()
    source = folder / "notes.sqlite"
    with sqlite3.connect(source) as conn:
        conn.execute("CREATE TABLE note (id INTEGER PRIMARY KEY, author TEXT, body TEXT)")
        conn.executemany(
            "INSERT INTO note VALUES (?, ?, ?)", [(i, f"author{i % 7}", "b" * 1500) for i in range(1, rows + 1)]
        )
    conn.close()
    (folder / "mappings").mkdir()
    (folder / "mappings" / "notes.yaml").write_text(MAPPING)
    return make_config(source=source, mappings=folder / "mappings", endpoint=endpoint)


def load_paths(config: Path, *options: str) -> dict[str, Any]:
    result = run_cli(config, "plan", "--format", "json", "--estimate-rows", "0", *options)
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    (table,) = document["load_paths"]["tables"]
    return table


@pytest.fixture(autouse=True)
def wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "300")


def test_twice_the_rows_cost_twice_as_much_on_every_path(tmp_path: Path, make_config: Any) -> None:
    small = load_paths(project(tmp_path, make_config, 100), "--no-check-target")
    large = load_paths(project(tmp_path, make_config, 200), "--no-check-target")
    assert large["items"] == 2 * small["items"] == 200
    assert large["batch_write"]["write_units"] == 2 * small["batch_write"]["write_units"]
    # dollars are rounded to 6 decimals: these small loads are compared to the micro-dollar
    assert large["batch_write"]["usd"] == pytest.approx(2 * small["batch_write"]["usd"], abs=2e-6)
    assert large["batch_write"]["seconds"] == pytest.approx(2 * small["batch_write"]["seconds"], abs=0.1)
    assert large["import_table"]["uncompressed_bytes"] == pytest.approx(
        2 * small["import_table"]["uncompressed_bytes"], rel=0.01
    )
    for path in ("import_table", "bulk_put"):
        assert large[path]["usd"] == pytest.approx(2 * small[path]["usd"], abs=2e-6)
    # two write units per item (1.5 KB) on the table and two on the GSI: 4 per item at the on-demand price
    assert small["batch_write"]["write_units"] == 400
    assert small["batch_write"]["usd"] == pytest.approx(400 * 0.625 / 1e6, abs=1e-6)


def test_an_existing_table_is_offered_bulk_put_not_import(
    tmp_path: Path, ddb_url: str, prefix: str, make_config: Any
) -> None:
    config = project(tmp_path, make_config, 50, ddb_url)
    new = load_paths(config)
    assert new["exists"] is False
    assert "not_available" not in new["import_table"]
    assert "ImportTable" in new["bulk_put"]["not_available"]
    assert run_cli(config, "migrate", "--no-validate").exit_code == 0
    existing = load_paths(config)
    assert existing["exists"] is True
    assert "only creates tables" in existing["import_table"]["not_available"]
    assert "not_available" not in existing["bulk_put"]
    assert existing["cheaper"] != "ImportTable"
    text = run_cli(config, "plan", "--estimate-rows", "0")
    assert text.exit_code == 0, text.output
    rows = [line for line in text.output.splitlines() if line.startswith("│") and "n/a" in line]
    assert len(rows) == 1 and rows[0].count("n/a") == 2, text.output  # import USD and import s
    assert f"{prefix}Notes" in text.output.replace("\n", "").replace("│", "").replace(" ", "")


def test_the_warm_throughput_needed_follows_from_the_write_units_and_the_target_time(
    tmp_path: Path, make_config: Any
) -> None:
    config = project(tmp_path, make_config, 100)
    relaxed = load_paths(config, "--no-check-target")
    assert relaxed["warm_throughput"]["table_write_units_per_s"] == 0  # 200 units in an hour: 4,000 are enough
    rushed = load_paths(config, "--no-check-target", "--target-minutes", "0.0005")  # 0.03 s
    assert rushed["warm_throughput"] == {
        "target_minutes": 0.0005,
        "table_write_units_per_s": math.ceil(200 / 0.03),
        "index_write_units_per_s": math.ceil(200 / 0.03),
    }


def test_the_estimates_are_pure_functions_of_sizes_and_counts() -> None:
    gb = 1024**3
    assert import_estimate(2 * gb, 0.15, exists=False).usd == pytest.approx(0.30)
    assert import_estimate(2 * gb, 0.15, exists=True).why_not
    put = bulk_put_estimate(gb, 4_000_000, exists=True, price_per_gb=0.2, wru_per_s=8000)
    assert (put.usd, put.seconds, put.why_not) == (pytest.approx(0.2), pytest.approx(120 + 500), "")
    assert bulk_put_estimate(gb, 1024, exists=True, wru_per_s=10).seconds == pytest.approx(121)  # floor 1,024/s
    assert warm_needed(3_600_000, {"ByAuthor": 7_200_000}, 10) == {"table": 6000, "index": 12000}
    assert warm_needed(100, {}, 10) == {"table": 0, "index": 0}
