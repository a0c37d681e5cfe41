"""A cursor that is not unique (or NULL) would make a resume skip rows: it stops the run, exit 2, nothing lost.

Issue 24, case 1: ``cursor: [id]`` where each id appears three times; a
SIGTERM during ``migrate`` then ``resume`` wrote 1899 items of 1900 and exited 0,
since the resume reads ``WHERE id > checkpoint``. Now the plan proves the
cursor unique where SQLite can tell cheaply (the schema, or one GROUP BY over
a plain single-table select), and every row stream checks that the cursor
strictly increases, stopping at the first duplicate with the two rows named.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from conftest import count_items, error_lines, line_of, one_line, own_tables, run_cli, scan_all

MAPPING = """\
tables:
  - name: Things
    partition_key: {name: PK, type: S}

item_types:
  - name: Thing
    table: Things
    query: QUERY
    cursor: CURSOR
    keys:
      PK: "T#{{ v }}"
    attributes:
      Entity: {const: Thing}
      Id: {column: id, type: number}
      V: v
"""

ROWS = 1200
DUPLICATE = 1100  # a second row with this id comes from the UNION ALL


def make_project(tmp_path: Path, make_config: Any, query: str, cursor: str = "[id]") -> tuple[Path, Path]:
    """t: (id, v) three rows per id (no key); u: (id INTEGER PRIMARY KEY, v) ids 1..ROWS."""
    source = tmp_path / "src.sqlite"
    with sqlite3.connect(source) as conn:
        conn.execute("CREATE TABLE t (id INTEGER, v TEXT)")
        conn.executemany("INSERT INTO t VALUES (?, ?)", [(i, f"t{i}-{k}") for i in range(1, 634) for k in range(3)])
        conn.execute("CREATE TABLE u (id INTEGER PRIMARY KEY, v TEXT)")
        conn.executemany("INSERT INTO u VALUES (?, ?)", [(i, f"u{i}") for i in range(1, ROWS + 1)])
    conn.close()
    mappings = tmp_path / "mappings"
    mappings.mkdir()
    mapping = mappings / "things.yaml"
    mapping.write_text(MAPPING.replace("QUERY", query).replace("CURSOR", cursor))
    config = make_config(source=source, mappings=mappings, workers=1)
    return config, mapping


def the_error(result: Any) -> str:
    lines = error_lines(result.stderr)
    assert len(lines) == 1, result.output
    assert "Traceback" not in result.output
    return lines[0]


def state_of(config: Path) -> dict[str, Any]:
    return json.loads((config.parent / "state" / "migration_state.json").read_text())["item_types"]["Thing"]


@pytest.mark.parametrize("command", ["plan", "migrate", "resume", "sync"])
def test_a_cursor_that_is_not_unique_is_refused_at_plan_time_with_file_line_and_an_example(
    tmp_path: Path, make_config: Any, ddb: Any, prefix: str, command: str
) -> None:
    config, mapping = make_project(tmp_path, make_config, "SELECT id, v FROM t")
    result = run_cli(config, command, *(["--no-validate"] if command in ("migrate", "resume") else []))
    assert result.exit_code == 2, result.output
    line = line_of(mapping.read_text(), "cursor:")
    assert the_error(result) == (
        f"error: {mapping}:{line}: item type Thing: cursor ['id'] is not unique: 3 rows have {{'id': 1}}; "
        "a resume would skip rows (make the cursor unique and NOT NULL, e.g. add the primary key to it)"
    )
    assert own_tables(ddb, prefix) == []  # refused before anything was created or written


def test_a_null_cursor_value_is_refused_at_plan_time(tmp_path: Path, make_config: Any) -> None:
    config, _ = make_project(
        tmp_path, make_config, "SELECT id, v FROM t WHERE v LIKE '%-0' OR id IS NULL", cursor="[id]"
    )
    with sqlite3.connect(tmp_path / "src.sqlite") as conn:
        conn.execute("INSERT INTO t VALUES (NULL, 'nothing')")
    conn.close()
    result = run_cli(config, "plan")
    assert result.exit_code == 2, result.output
    assert "item type Thing: cursor ['id'] is NULL in 1 row(s), e.g. {'id': None}" in the_error(result)


@pytest.mark.parametrize(
    "query",
    [
        "SELECT id, v FROM u",  # INTEGER PRIMARY KEY: proven by the schema, no row read
        "SELECT * FROM t WHERE v LIKE '%-1'",  # one row per id: the GROUP BY finds no duplicate
        "SELECT u.id, u.v FROM u JOIN t ON t.id = u.id AND t.v LIKE '%-2'",  # a join: checked while streaming
    ],
)
def test_a_unique_cursor_passes_and_every_row_is_written(
    tmp_path: Path, make_config: Any, ddb: Any, prefix: str, query: str
) -> None:
    config, _ = make_project(tmp_path, make_config, query)
    result = run_cli(config, "migrate", "--no-validate")
    assert result.exit_code == 0, result.output
    with sqlite3.connect(tmp_path / "src.sqlite") as conn:
        expected = conn.execute(f"SELECT count(*) FROM ({query})").fetchone()[0]
    conn.close()
    assert count_items(ddb, f"{prefix}Things") == expected


def test_a_duplicate_the_plan_cannot_see_stops_the_stream_naming_both_rows_and_keeps_what_was_written(
    tmp_path: Path, make_config: Any, ddb: Any, prefix: str
) -> None:
    query = f"SELECT id, v FROM u UNION ALL SELECT {DUPLICATE}, 'again'"
    config, _ = make_project(tmp_path, make_config, query)
    assert run_cli(config, "plan").exit_code == 0  # a union: left to the stream

    result = run_cli(config, "migrate", "--no-validate")
    assert result.exit_code == 2, result.output
    message = (
        f"error: item type Thing: cursor does not strictly increase: a row with cursor {{'id': {DUPLICATE}}} "
        f"follows a row with cursor {{'id': {DUPLICATE}}}; a resume would skip rows"
    )
    assert one_line(the_error(result)).startswith(message)
    # rows are read 500 at a time: the first two chunks were written and acknowledged, none was lost
    state = state_of(config)
    written = sorted(int(i["Id"]["N"]) for i in scan_all(ddb, f"{prefix}Things"))
    assert state["status"] == "failed" and state["cursor"] == [1000] and state["items_written"] == 1000
    assert written == list(range(1, 1001))

    # no later command turns this into a success with rows missing
    for command in (["resume", "--no-validate"], ["migrate", "--no-validate"], ["sync"]):
        again = run_cli(config, *command)
        assert again.exit_code == 2, (command, again.output)
        assert one_line(the_error(again)).startswith(message)
    assert state_of(config)["cursor"] == [1000]


def test_the_original_case_no_path_writes_part_of_the_rows_and_exits_0(
    tmp_path: Path, make_config: Any, ddb: Any, prefix: str
) -> None:
    """1,899 rows, three per id, cursor [id]: migrate, resume and sync all refuse; none exits 0."""
    config, _ = make_project(tmp_path, make_config, "SELECT id, v FROM t")
    for command in (["migrate", "--no-validate"], ["resume", "--no-validate"], ["sync"], ["migrate", "--force"]):
        result = run_cli(config, *command)
        assert result.exit_code == 2, (command, result.output)
        assert "cursor ['id'] is not unique" in the_error(result)
    assert own_tables(ddb, prefix) == []
