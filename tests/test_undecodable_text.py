"""TEXT that is not valid UTF-8 in the source (issue 24, case 10).

SQLite stores whatever bytes it is given in a TEXT column; Python's sqlite3
refuses to decode them with ``Could not decode to UTF-8 column 'v'``, a message
naming neither the item type nor the row. Now the row at fault is a row error
like any other: named with its item type and cursor, set aside with
``on_error: skip``, stopping the run (exit 2, one line) with ``on_error: stop``
after writing every row before it.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from conftest import count_items, error_lines, run_cli, scan_all

MAPPING = """\
tables:
  - name: Things
    partition_key: {name: PK, type: S}

item_types:
  - name: Thing
    table: Things
    query: SELECT id, v FROM u
    cursor: [id]
    keys:
      PK: "T#{{ id }}"
    attributes:
      Entity: {const: Thing}
      Id: {column: id, type: number}
      V: v
"""
ROWS = 1200
BAD = 700
REASON = "TEXT that is not valid UTF-8 in column(s) v=b'\\xffA'"


def make_project(tmp_path: Path, make_config: Any) -> Path:
    source = tmp_path / "src.sqlite"
    with sqlite3.connect(source) as conn:
        conn.execute("CREATE TABLE u (id INTEGER PRIMARY KEY, v TEXT)")
        conn.executemany("INSERT INTO u VALUES (?, ?)", [(i, f"u{i}") for i in range(1, ROWS + 1) if i != BAD])
        conn.execute("INSERT INTO u VALUES (?, CAST(x'ff41' AS TEXT))", (BAD,))
    conn.close()
    mappings = tmp_path / "mappings"
    mappings.mkdir()
    (mappings / "things.yaml").write_text(MAPPING)
    return make_config(source=source, mappings=mappings, workers=1)


def ids(ddb: Any, prefix: str) -> list[int]:
    return sorted(int(i["Id"]["N"]) for i in scan_all(ddb, f"{prefix}Things"))


def test_invalid_utf8_stops_the_run_naming_item_type_and_row_and_keeps_the_rows_before(
    tmp_path: Path, make_config: Any, ddb: Any, prefix: str
) -> None:
    config = make_project(tmp_path, make_config)
    result = run_cli(config, "migrate", "--no-validate")
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert error_lines(result.stderr) == [f"error: item type Thing, row {{'id': {BAD}}}: {REASON}"]
    state = json.loads((config.parent / "state" / "migration_state.json").read_text())["item_types"]["Thing"]
    assert state["status"] == "failed" and state["cursor"] == [BAD - 1]
    assert ids(ddb, prefix) == list(range(1, BAD))  # every row before the bad one, nothing after


def test_invalid_utf8_is_skipped_with_on_error_skip_and_recorded_in_the_rejects(
    tmp_path: Path, make_config: Any, ddb: Any, prefix: str
) -> None:
    config = make_project(tmp_path, make_config)
    result = run_cli(config, "migrate", "--no-validate", "--on-error", "skip")
    assert result.exit_code == 0, result.output
    assert ids(ddb, prefix) == [i for i in range(1, ROWS + 1) if i != BAD]
    assert count_items(ddb, f"{prefix}Things") == ROWS - 1
    rejects = [json.loads(line) for line in (config.parent / "state" / "rejects.jsonl").read_text().splitlines()]
    assert [(r["item_type"], r["cursor"], r["reason"]) for r in rejects] == [("Thing", {"id": BAD}, REASON)]
