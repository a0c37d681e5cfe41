"""Hostile input (issue 24, points 4-6): alias bombs, deep nesting, configurations of the wrong type,
mapping SQL that does not read, and params queries that do not fit their request.

Each case runs ``plan`` (or ``init``) through the CLI on a tiny real source ``T(id, v)`` and asserts
what a user sees: exit 2, one ``error:`` line naming the file (and line) at fault, quickly, and
that nothing was created beside the source. No DynamoDB is needed: ``plan`` asks a target that is not
there (127.0.0.1:9) which tables exist, without retries, so it hears at once that none answers.
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import error_lines, line_of, run_cli

from sqlite2ddb.extract.source import open_source

MAPPING = """\
tables:
  - name: Things
    partition_key: {name: PK, type: S}

item_types:
  - name: Thing
    table: Things
    query: ITEM_QUERY
    cursor: [id]
    keys:
      PK: "T#{{ id }}"
    attributes:
      Entity: {const: Thing}
      V: v
    embeds:
      - query: EMBED_QUERY
        join: {id: id}
        as: Same
        attributes:
          W: v

access_patterns:
  - name: thing-by-id
    params: PARAMS_QUERY
    request:
      table: Things
      get: {PK: "T#{{ id }}"}
    sql: PATTERN_SQL
    compare: {id: V}

aggregate_checks:
  - name: thing-count
    sql: AGGREGATE_SQL
    item_type: Thing
    fn: count
"""
GOOD = {
    "ITEM_QUERY": "SELECT id, v FROM t",
    "EMBED_QUERY": "SELECT id, v FROM t",
    "PARAMS_QUERY": "SELECT id FROM t",
    "PATTERN_SQL": "SELECT v AS V FROM t WHERE id = :id",
    "AGGREGATE_SQL": "SELECT count(*) FROM t",
}


def mapping_text(**changes: str) -> str:
    text = MAPPING
    for key, value in {**GOOD, **changes}.items():
        text = text.replace(key, json.dumps(value))  # a JSON string is a YAML string
    return text


@pytest.fixture()
def project(tmp_path: Path) -> Any:
    """A source T(id, v), a mapping folder and a configuration; ``project(text)`` writes the mapping."""
    source = tmp_path / "t.sqlite"
    with sqlite3.connect(source) as db:
        db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
        db.executemany("INSERT INTO t VALUES (?, ?)", [(i, f"v{i}") for i in range(1, 6)])
    db.close()
    mappings = tmp_path / "mappings"
    mappings.mkdir()
    config = tmp_path / "run" / "migration.json"
    config.parent.mkdir()
    config.write_text(
        json.dumps(
            {
                "source_db": str(source),
                "mappings": str(mappings),
                "target": "endpoint",
                "endpoint_url": "http://127.0.0.1:9",
                "migration_settings": {"state_file": str(tmp_path / "run" / "state" / "s.json"), "max_retries": 0},
                "logging": {"file": str(tmp_path / "run" / "log.txt")},
            }
        )
    )

    def write(text: str, name: str = "things.yaml") -> Path:
        (mappings / name).write_text(text, encoding="utf-8")
        return config

    write.tmp = tmp_path  # type: ignore[attr-defined]
    write.config = config  # type: ignore[attr-defined]
    return write


def refused(config: Path, *args: str) -> str:
    """Run a command that must refuse: exit 2, one error line, no traceback. Returns that line."""
    result = run_cli(config, *(args or ("plan",)))
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = error_lines(result.stderr)
    assert len(lines) == 1 and len(result.stderr.strip().splitlines()) == 1, result.stderr
    return lines[0]


def test_the_fixture_mapping_plans(project: Any) -> None:
    result = run_cli(project(mapping_text()), "plan")
    assert result.exit_code == 0, result.output


# --------------------------------------------------------------------------- YAML that exhausts
def test_alias_bomb_is_refused_before_it_expands(project: Any) -> None:
    """Nine levels of ten aliases: a billion nodes if expanded; refused in well under a second of work."""
    levels = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    levels += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    text = "\n".join(levels) + "\n"
    config = project(text, "bomb.yaml")
    started = time.monotonic()
    line = refused(config)
    assert time.monotonic() - started < 30  # the unguarded loader ran for 10 minutes
    assert f"mappings/bomb.yaml:{line_of(text, '&a8')}: alias *a7 expands to 111,111,111 nodes" in line, line
    assert "aliases may add at most 10,000 nodes" in line


def test_a_few_reused_blocks_are_fine(project: Any) -> None:
    """Aliases as people use them (one block reused) still load."""
    text = mapping_text().replace("      V: v\n", "      V: &reused {column: v, type: string}\n      V2: *reused\n")
    result = run_cli(project(text), "plan")
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("style", ["flow", "block"])
def test_deep_nesting_is_refused_with_its_line(project: Any, style: str) -> None:
    if style == "flow":
        text = "tables: " + "[" * 5000 + "]" * 5000 + "\n"
        where = 1
    else:
        text = "tables:\n" + "".join("  " * (i + 1) + "-\n" for i in range(3000))
        where = 101
    line = refused(project(text, "deep.yaml"))
    assert f"mappings/deep.yaml:{where}: nested deeper than 100 levels" in line, line


def test_an_alias_inside_its_own_anchor_is_refused(project: Any) -> None:
    line = refused(project("tables: &loop [1, *loop]\n", "loop.yaml"))
    assert "mappings/loop.yaml:1: an alias refers to a node that contains it" in line, line


# --------------------------------------------------------------------------- configurations of the wrong type
@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"batch_size": "25"}, 'batch_size: found "25" (a string), expected an integer at least 1 and at most 25'),
        (
            {"migration_settings": {"timeout": 0}},
            "migration_settings.timeout: found 0 (an integer), expected a number above 0",
        ),
        ({"aws_region": "not a region"}, 'aws_region: found "not a region" (a string), expected an AWS region name'),
        ({"source_db": 123}, "source_db: found 123 (an integer), expected non-empty text"),
        ({"mappings": None}, "mappings: found null, expected non-empty text"),
        (
            {"migration_settings": {"workers": True}},
            "migration_settings.workers: found true (a boolean), expected an integer",
        ),
        ({"logging": "loud"}, 'logging: found "loud" (a string), expected an object'),
        ({"migration_settings": {"wokers": 2}}, "unknown key 'migration_settings.wokers'"),
    ],
)
def test_configuration_values_of_the_wrong_type(project: Any, change: dict[str, Any], expected: str) -> None:
    config = project(mapping_text())
    data = json.loads(config.read_text())
    for key, value in change.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key].update(value)
        else:
            data[key] = value
    config.write_text(json.dumps(data))
    line = refused(config)
    assert line.startswith(f"error: {config}: "), line
    assert expected in line, line


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b'{"source_db": "caf\xe9.sqlite"}', "not UTF-8 text"),
        (b"source_db = 't.sqlite'", ":1: invalid JSON"),
        (b"[" * 100_000, "invalid JSON: nested too deeply"),
        (b'["source_db"]', "not a migration configuration"),
    ],
)
def test_configuration_files_that_are_not_configurations(project: Any, content: bytes, expected: str) -> None:
    config = project(mapping_text())
    config.write_bytes(content)
    line = refused(config)
    assert f"{config}" in line and expected in line, line


def test_init_refuses_a_region_that_is_not_one(project: Any) -> None:
    config = project(mapping_text())
    config.unlink()
    source = project.tmp / "t.sqlite"
    mappings = project.tmp / "mappings"
    line = refused(config, "init", "-s", str(source), "-m", str(mappings), "-r", "moon-base")
    assert 'aws_region: found "moon-base" (a string), expected an AWS region name such as us-east-1' in line, line
    assert not config.exists()


# --------------------------------------------------------------------------- mapping SQL that is not a read
KINDS = ["ITEM_QUERY", "EMBED_QUERY", "PARAMS_QUERY", "PATTERN_SQL", "AGGREGATE_SQL"]
NEEDLES = {
    "ITEM_QUERY": "    query: ",
    "EMBED_QUERY": "      - query: ",
    "PARAMS_QUERY": "  - name: thing-by-id",
    "PATTERN_SQL": "  - name: thing-by-id",
    "AGGREGATE_SQL": "  - name: thing-count",
}


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("statement", ["ATTACH DATABASE '{file}' AS side", "VACUUM INTO '{file}'"])
def test_sql_that_would_create_a_file_is_refused_at_plan(project: Any, kind: str, statement: str) -> None:
    made = project.tmp / "created-by-mapping.db"
    text = mapping_text(**{kind: statement.format(file=made)})
    line = refused(project(text))
    assert f"mappings/things.yaml:{line_of(text, NEEDLES[kind])}: " in line, line
    if kind in ("ITEM_QUERY", "EMBED_QUERY") and statement.startswith("VACUUM"):
        # item queries are compiled wrapped in a SELECT, so SQLite itself refuses this one, in its words
        assert 'query does not run on the source: near "INTO": syntax error' in line, line
    else:
        assert "not a read-only query" in line and "the source is only read" in line, line
    assert not made.exists()


@pytest.mark.parametrize("statement", ["ATTACH DATABASE '{file}' AS side", "VACUUM INTO '{file}'"])
def test_every_source_connection_refuses_to_create_files(project: Any, statement: str) -> None:
    """The authorizer sits on the connection itself: SQL reaching it by any path (validate runs params,
    pattern and aggregate SQL as written) cannot create a file; mode=ro refuses writes to the source."""
    made = project.tmp / "created-at-run.db"
    source = project.tmp / "t.sqlite"
    before = source.read_bytes()
    conn = open_source(source)
    try:
        with pytest.raises(sqlite3.DatabaseError, match=r"not authorized|authorization denied"):
            conn.execute(statement.format(file=made))
        assert conn.execute("SELECT count(*) FROM t").fetchone()[0] == 5  # reads still work
        assert conn.execute("SELECT name FROM pragma_table_info('t')").fetchall() == [("id",), ("v",)]
    finally:
        conn.close()
    assert not made.exists()
    assert source.read_bytes() == before


# --------------------------------------------------------------------------- SQL that does not fit
def test_params_columns_that_do_not_fit_the_request(project: Any) -> None:
    """validate used to crash with TemplateError; plan now names the pattern and what is missing."""
    text = mapping_text(PARAMS_QUERY="SELECT id AS thing_id FROM t", PATTERN_SQL="SELECT v AS V FROM t")
    line = refused(project(text))
    assert f"mappings/things.yaml:{line_of(text, '- name: thing-by-id')}: access pattern thing-by-id" in line, line
    assert "uses column(s) id that the query does not return (it returns: thing_id)" in line, line


def test_pattern_sql_parameters_the_params_query_does_not_give(project: Any) -> None:
    text = mapping_text(PATTERN_SQL="SELECT v AS V FROM t WHERE id = :id AND v = :other")
    line = refused(project(text))
    assert "access pattern thing-by-id: sql uses :other that the params query does not return" in line, line


@pytest.mark.parametrize("kind", ["PARAMS_QUERY", "PATTERN_SQL", "AGGREGATE_SQL"])
def test_statements_that_return_no_columns(project: Any, kind: str) -> None:
    """``PRAGMA ...`` as params, sql or an aggregate: it was a TypeError in validate."""
    text = mapping_text(**{kind: "PRAGMA user_version"})
    line = refused(project(text))
    assert f"mappings/things.yaml:{line_of(text, NEEDLES[kind])}: " in line, line
    assert "not a query that returns rows (a SELECT, WITH or VALUES statement)" in line, line


# ----------------------------------------------------------------------------- scaffold -o and links that lead nowhere
def test_scaffold_into_a_folder_with_a_dangling_link_is_one_line(tmp_path: Path) -> None:
    from conftest import CHINOOK

    out = tmp_path / "out"
    out.mkdir()
    (out / "dangling.yaml").symlink_to(tmp_path / "nowhere")
    result = run_cli(None, "scaffold", "-s", str(CHINOOK), "-o", str(out))
    assert result.exit_code == 2
    assert error_lines(result.stderr) == [
        f"error: {out / 'dangling.yaml'}: cannot read it (a link that leads nowhere); scaffold does not write into a "
        "folder with a file it cannot check (remove it, or scaffold into another folder with -o)"
    ]
    assert sorted(p.name for p in out.iterdir()) == ["dangling.yaml"], "nothing written beside it"

    linked = tmp_path / "linked"
    linked.symlink_to(tmp_path / "no-such-folder")
    result = run_cli(None, "scaffold", "-s", str(CHINOOK), "-o", str(linked))
    assert result.exit_code == 2
    assert error_lines(result.stderr) == [
        f"error: {linked} is a link to {tmp_path / 'no-such-folder'}, which does not exist (scaffold into a folder)"
    ]
    assert not (tmp_path / "no-such-folder").exists()
