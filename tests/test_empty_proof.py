"""A proof that proves nothing must not pass (issue 24, point 8).

1. Nonsensical numeric options (``--sample 0``, ``--sample-pct 150``, ``--workers 0``, ...) are bad usage:
   one line naming the option, exit 2, before any work.
2. A mapping set without an item type is refused at load: one line, exit 2, for init, plan, migrate, validate.
3. A check that compared nothing (a params query without rows, rules and min/max over an item type
   without items) is ``empty``, counted apart ("5 passed, 4 empty, 0 failed") on screen and in the
   JSON, Markdown and HTML reports; it fails the run only with ``--strict``, or when every check is empty.
   A count that finds 0 where the source says 0 compared something: it passes.
4. A sampled check says how many it compared of how many exist ("500 of 1,200").
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from conftest import error_lines, one_line, run_cli, table_rows

THINGS = 1200

MAPPING = """\
tables:
  - name: Shop
    partition_key: {name: PK, type: S}
    sort_key: {name: SK, type: S}
item_types:
  - name: Thing
    table: Shop
    query: SELECT id, v FROM t
    cursor: [id]
    keys: {PK: "T#{{ id }}", SK: T}
    attributes:
      Entity: {const: Thing}
      Id: {column: id, type: number}
      V: v
  - name: Note
    table: Shop
    query: SELECT id, n FROM note
    cursor: [id]
    keys: {PK: "N#{{ id }}", SK: N}
    attributes:
      Entity: {const: Note}
      Id: {column: id, type: number}
      Size: {column: n, type: number}
    checks:
      - {kind: attribute_present, attribute: Size}
access_patterns:
  - name: thing-by-id
    params: SELECT id FROM t
    request: {table: Shop, get: {PK: "T#{{ id }}", SK: T}}
    sql: SELECT id AS Id, v AS V FROM t WHERE id = :id
    compare: {id: Id, attributes: [V]}
  - name: thing-nobody-has
    params: SELECT id FROM t WHERE v = 'nobody'
    request: {table: Shop, get: {PK: "T#{{ id }}", SK: T}}
    sql: SELECT id AS Id, v AS V FROM t WHERE id = :id
    compare: {id: Id, attributes: [V]}
aggregate_checks:
  - name: note-count
    sql: SELECT count(*) FROM note
    item_type: Note
    fn: count
  - name: note-largest
    sql: SELECT max(n) FROM note
    item_type: Note
    fn: max
    attribute: Size
"""

# the checks of the mapping above that compare nothing on a source whose note table is empty
EMPTY_CHECKS = ("pattern:thing-nobody-has", "rule:Note.attribute_present.Size", "aggregate:note-largest")


def _source(path: Path) -> Path:
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
        conn.execute("CREATE TABLE note (id INTEGER PRIMARY KEY, n INTEGER)")
        conn.executemany("INSERT INTO t VALUES (?, ?)", [(i, f"v{i}") for i in range(1, THINGS + 1)])
    conn.close()
    return path


@pytest.fixture()
def migrated(tmp_path: Path, make_config: Any) -> Path:
    """The mapping above migrated from a source with 1,200 things and no note: its configuration."""
    mappings = tmp_path / "mappings"
    mappings.mkdir()
    (mappings / "shop.yaml").write_text(MAPPING)
    config = make_config(source=_source(tmp_path / "shop.sqlite"), mappings=mappings, enable_validation=False)
    result = run_cli(config, "migrate")
    assert result.exit_code == 0, result.output
    return config


BAD_OPTIONS = [
    (("validate", "--sample", "0"), "--sample", "0 is not in the range x>=1"),
    (("validate", "--sample", "-5"), "--sample", "-5 is not in the range x>=1"),
    (("validate", "--sample-pct", "-10"), "--sample-pct", "-10.0 is not in the range 0<x<=100"),
    (("validate", "--sample-pct", "150"), "--sample-pct", "150.0 is not in the range 0<x<=100"),
    (("validate", "--sample-pct", "0"), "--sample-pct", "0.0 is not in the range 0<x<=100"),
    (("validate", "--workers", "0"), "--workers", "0 is not in the range x>=1"),
    (("validate", "--max-rcu", "0"), "--max-rcu", "0.0 is not in the range x>0"),
    (("migrate", "--workers", "0"), "--workers", "0 is not in the range x>=1"),
    (("migrate", "--max-wcu", "-1"), "--max-wcu", "-1.0 is not in the range x>0"),
    (("migrate", "--parallel-tables", "0"), "--parallel-tables", "0 is not in the range x>=1"),
    (("resume", "--processes", "0"), "--processes", "0 is not in the range x>=1"),
    (("sync", "--workers", "-2"), "--workers", "-2 is not in the range x>=1"),
    (("sync", "--max-wcu", "0"), "--max-wcu", "0.0 is not in the range x>0"),
    (("plan", "--samples", "-1"), "--samples", "-1 is not in the range x>=0"),
    (("plan", "--estimate-rows", "-1"), "--estimate-rows", "-1 is not in the range x>=0"),
    (("plan", "--price", "-0.5"), "--price", "-0.5 is not in the range x>0"),
    (("plan", "--max-wcu", "0"), "--max-wcu", "0.0 is not in the range x>0"),
    (("export", "--out", "x", "--part-mb", "0"), "--part-mb", "0.0 is not in the range x>0"),
    (("export", "--out", "x", "--processes", "0"), "--processes", "0 is not in the range x>=1"),
    (("export-model", "--format", "cloudformation", "--samples", "-1"), "--samples", "-1 is not in the range x>=0"),
    (("init", "-s", "x.sqlite", "-b", "0"), "--batch-size", "0 is not in the range 1<=x<=25"),
    (("init", "-s", "x.sqlite", "-b", "26"), "--batch-size", "26 is not in the range 1<=x<=25"),
]


@pytest.mark.parametrize(("args", "option", "why"), BAD_OPTIONS, ids=[" ".join(a[0]) for a in BAD_OPTIONS])
def test_nonsensical_numbers_are_bad_usage_before_any_work(
    tmp_path: Path, args: tuple[str, ...], option: str, why: str
) -> None:
    # the configuration does not even exist: the option is refused before anything is read or written
    config = tmp_path / "missing.json"
    result = run_cli(config, *args)
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"error: Invalid value for '{option}'") or lines[0].startswith(
        f"error: Invalid value for '-b' / '{option}'"
    ), lines[0]
    assert why in lines[0] and "Traceback" not in result.output
    assert list(tmp_path.iterdir()) == []


def test_mapping_set_without_item_types_is_refused_by_every_command(tmp_path: Path, make_config: Any) -> None:
    mappings = tmp_path / "mappings"
    mappings.mkdir()
    (mappings / "shop.yaml").write_text(MAPPING)
    config = make_config(source=_source(tmp_path / "shop.sqlite"), mappings=mappings)
    for text in ("", "tables:\n  - name: Shop\n    partition_key: {name: PK, type: S}\n"):
        (mappings / "shop.yaml").write_text(text)
        export = ("export", "--out", str(tmp_path / "export"))
        for command in (("plan", "--no-check-target"), ("migrate",), ("resume",), ("validate",), ("sync",), export):
            result = run_cli(config, *command)
            assert result.exit_code == 2, (command, result.output)
            (line,) = error_lines(result.stderr)
            assert f"no item types in {mappings}: nothing to migrate or validate" in one_line(line), line
            assert "passed" not in result.stdout and "items written" not in result.stdout
        assert not list((tmp_path / "run").rglob("snapshot-*")), "said before the source is copied"
        fresh = run_cli(
            None, "-c", str(tmp_path / "new.json"), "init", "-s", str(tmp_path / "shop.sqlite"), "-m", str(mappings)
        )
        assert fresh.exit_code == 2 and "no item types in" in one_line(error_lines(fresh.stderr)[0])
        assert not (tmp_path / "new.json").exists()


def test_checks_that_compare_nothing_are_empty_not_passed(migrated: Path, tmp_path: Path) -> None:
    result = run_cli(migrated, "validate", "--report", str(tmp_path / "r.md"))
    assert result.exit_code == 0, result.output
    rows = table_rows(result.stdout)
    for name in EMPTY_CHECKS:  # the max over no item too: NULL = none compares nothing
        assert rows[name][1] == "empty", rows[name]
    assert rows["pattern:thing-nobody-has"][4] == "nothing compared: the params query returns no rows"
    # counts and shape compared something, 0 = 0 included
    for name in (
        "count:Note",
        "count:Thing",
        "count:shop",
        "shape:shop",
        "aggregate:note-count",
        "pattern:thing-by-id",
    ):
        assert rows[name][1] == "pass", rows[name]
    assert rows["count:Note"][4] == "0 of 0"
    # items: the table compared 1,200 items; the rule on Note found no Note item
    assert rows["items:shop"][1] == "pass"
    assert "7 passed, 3 empty, 0 failed" in result.stdout

    document = json.loads((tmp_path / "r.json").read_text())
    assert document["result"] == "pass"
    assert document["summary"] == {"checks": 10, "passed": 7, "empty": 3, "failed": 0}
    checks = {c["name"]: c for c in document["checks"]}
    for name in EMPTY_CHECKS:
        assert (checks[name]["status"], checks[name]["passed"], checks[name]["compared"]) == ("empty", False, 0)
    assert (checks["count:Note"]["status"], checks["count:Note"]["passed"]) == ("pass", True)

    markdown = (tmp_path / "r.md").read_text()
    assert "**Result: PASS**: 7 of 10 checks passed, 3 empty (compared nothing)" in markdown
    assert (
        "| `pattern:thing-nobody-has` | *empty* | 0 | nothing compared: the params query returns no rows |" in markdown
    )

    run_cli(None, "report", str(tmp_path / "r.json"), "-o", str(tmp_path / "r.html"))
    page = " ".join((tmp_path / "r.html").read_text().split())
    assert "7 of 10 checks passed, 3 empty (compared nothing)" in page
    assert page.count('<td class="mark empty">○ empty</td>') == 3


def test_strict_fails_on_an_empty_check(migrated: Path) -> None:
    result = run_cli(migrated, "validate", "--strict")
    assert result.exit_code == 1, result.output
    assert "7 passed, 3 empty, 0 failed" in result.stdout
    assert error_lines(result.stderr) == ["error: validation failed: 3 of 10 checks compared nothing (--strict)"]


def test_a_validation_where_every_check_is_empty_exits_1(migrated: Path) -> None:
    result = run_cli(migrated, "validate", "--check", "pattern:thing-nobody-has")
    assert result.exit_code == 1, result.output
    assert "0 passed, 1 empty, 0 failed" in result.stdout
    assert error_lines(result.stderr) == ["error: validation proved nothing: its one check compared nothing (empty)"]
    both = run_cli(migrated, "validate", "--check", "rule:Note", "--check", "aggregate:note-largest")
    assert both.exit_code == 1, both.output
    assert error_lines(both.stderr) == ["error: validation proved nothing: all 2 checks compared nothing (empty)"]


def test_a_sampled_check_says_how_many_of_how_many(migrated: Path, tmp_path: Path) -> None:
    result = run_cli(migrated, "validate", "--sample", "500", "--report", str(tmp_path / "s.md"))
    assert result.exit_code == 0, result.output
    rows = table_rows(result.stdout)
    assert rows["pattern:thing-by-id"][2] == "500 of 1,200"
    assert rows["pattern:thing-by-id"][4].startswith("500 of 1,200 parameter values, answers equal to SQL")
    assert rows["items:shop"][2] == "500 of 1,200"
    assert rows["items:shop"][4] == "500 of 1,200 items sampled and compared"
    document = json.loads((tmp_path / "s.json").read_text())
    checks = {c["name"]: c for c in document["checks"]}
    assert (checks["pattern:thing-by-id"]["compared"], checks["pattern:thing-by-id"]["available"]) == (500, 1200)
    assert checks["count:Thing"]["available"] is None  # a count is never sampled
    assert (
        "| `items:shop` | pass | 500 of 1,200 | 500 of 1,200 items sampled and compared |"
        in (tmp_path / "s.md").read_text()
    )
    # a sample that takes no item of a table is empty, not a pass
    tiny = run_cli(migrated, "validate", "--sample-pct", "0.0001", "--check", "items:")
    assert tiny.exit_code == 1, tiny.output
    assert table_rows(tiny.stdout)["items:shop"][4] == "0 of 1,200 items sampled and compared: the sample took none"
