"""Mapping-file mistakes: each one stops ``plan`` with exit code 2 and a message naming file and line.

Every test builds a tiny SQLite source and a valid one-file mapping set in
tmp_path, writes the configuration while the mapping is still valid (``init``
checks the mapping set too), then breaks the mapping and runs the CLI.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from conftest import line_of, one_line, run_cli

GOOD = """\
tables:
  - name: Library
    partition_key: {name: PK, type: S}
    sort_key: {name: SK, type: S}
    indexes:
      - name: GSI1
        partition_key: {name: GSI1PK, type: S}
        sort_key: {name: GSI1SK, type: S}

item_types:
  - name: Author
    table: Library
    query: |
      SELECT id, name, born FROM author
    cursor: [id]
    keys:
      PK: "AUTHOR#{{ id }}"
      SK: PROFILE
      GSI1PK: "NAME#{{ name | lower | initial }}"
      GSI1SK: "{{ name | lower }}"
    attributes:
      Entity: {const: Author}
      Id: {column: id, type: number}
      Name: name
      Born: {column: born, type: number}
"""


class Project:
    """A source, a mapping folder and a configuration, all in tmp_path."""

    def __init__(self, tmp_path: Path, make_config: Any) -> None:
        self.source = tmp_path / "library.sqlite"
        with sqlite3.connect(self.source) as conn:
            conn.executescript(
                """
                CREATE TABLE author (id INTEGER PRIMARY KEY, name TEXT NOT NULL, born INTEGER);
                INSERT INTO author VALUES (1, 'Ursula Le Guin', 1929), (2, 'Octavia Butler', 1947);
                CREATE TABLE book (book_id INTEGER PRIMARY KEY, author_id INTEGER, title TEXT);
                """
            )
        conn.close()
        self.mappings = tmp_path / "mappings"
        self.mappings.mkdir()
        self.file = self.mappings / "library.yaml"
        self.file.write_text(GOOD)
        self.config = make_config(source=self.source, mappings=self.mappings)  # init checks the mapping set

    def write(self, text: str, name: str = "library.yaml") -> Path:
        path = self.mappings / name
        path.write_text(text)
        return path

    def plan_error(self) -> str:
        result = run_cli(self.config, "plan")
        assert result.exit_code == 2, result.output
        return one_line(result.stderr)


@pytest.fixture()
def project(tmp_path: Path, make_config: Any) -> Project:
    return Project(tmp_path, make_config)


def test_the_unbroken_mapping_plans_cleanly(project: Project) -> None:
    result = run_cli(project.config, "plan", "--format", "json")
    assert result.exit_code == 0, result.output
    assert '"expected_rows": 2' in result.output


def test_yaml_syntax_error_names_file_and_line(project: Project) -> None:
    bad = GOOD.replace("    table: Library\n", "    table: Library: Main\n")
    project.write(bad)
    message = project.plan_error()
    assert message == (
        f"error: {project.file}:{line_of(bad, 'table: Library: Main')}: "
        "YAML syntax error: mapping values are not allowed here"
    )


def test_yaml_unclosed_quote_is_reported_where_the_scanner_gives_up(project: Project) -> None:
    bad = GOOD.replace("SK: PROFILE\n", 'SK: "PROFILE\n')
    project.write(bad)
    message = project.plan_error()
    start = line_of(bad, 'SK: "PROFILE')
    # the quoted string runs on to the next line, where the YAML parser notices
    assert message.startswith(f"error: {project.file}:{start + 1}: YAML syntax error: ")


def test_yaml_bad_indentation_points_at_the_offending_line(project: Project) -> None:
    bad = GOOD.replace("    cursor: [id]\n", "    cursor: [id]\n   keys_oops: 1\n")
    project.write(bad)
    message = project.plan_error()
    assert f"{project.file}:{line_of(bad, 'keys_oops')}: YAML syntax error" in message


def test_duplicate_key_in_one_mapping_is_reported_with_its_line(project: Project) -> None:
    bad = GOOD.replace("    cursor: [id]\n", "    cursor: [id]\n    cursor: [name]\n")
    project.write(bad)
    message = project.plan_error()
    assert f"{project.file}:{line_of(bad, 'cursor: [name]')}: item_types[0]: duplicate key 'cursor'" in message


def test_unknown_key_typo_suggests_the_right_name(project: Project) -> None:
    bad = GOOD.replace("    table: Library\n", "    tabel: Library\n")
    project.write(bad)
    message = project.plan_error()
    assert (
        f"{project.file}:{line_of(bad, 'tabel:')}: item_types[0]: unknown key 'tabel' (did you mean 'table'?)"
        in message
    )
    # the key it replaced is now missing, reported at the item type
    assert f"{project.file}:{line_of(bad, '- name: Author')}: item_types[0]: 'table' is required" in message


def test_unknown_key_inside_a_table_definition(project: Project) -> None:
    bad = GOOD.replace("    sort_key: {name: SK, type: S}\n", "    sortkey: {name: SK, type: S}\n")
    project.write(bad)
    message = project.plan_error()
    assert (
        f"{project.file}:{line_of(bad, 'sortkey:')}: tables[0]: unknown key 'sortkey' (did you mean 'sort_key'?)"
        in message
    )


def test_item_type_without_keys_names_the_item_type_path(project: Project) -> None:
    lines = GOOD.splitlines(keepends=True)
    start = line_of(GOOD, "    keys:")
    bad = "".join(lines[: start - 1] + lines[start + 4 :])  # drop keys: and its four entries
    assert "keys:" not in bad
    project.write(bad)
    message = project.plan_error()
    assert message == f"error: {project.file}:{line_of(bad, '- name: Author')}: item_types[0]: 'keys' is required"


def test_wrong_value_type_names_the_path(project: Project) -> None:
    bad = GOOD.replace("    cursor: [id]\n", "    cursor: id\n")
    project.write(bad)
    message = project.plan_error()
    assert f"{project.file}:{line_of(bad, 'cursor: id')}: item_types[0].cursor: 'id' is not of type 'array'" in message


def test_duplicate_item_type_names_across_two_files(project: Project) -> None:
    second = """\
item_types:
  - name: Author
    table: Library
    query: SELECT id, name FROM author
    cursor: [id]
    keys:
      PK: "WRITER#{{ id }}"
      SK: PROFILE
    attributes:
      Entity: {const: Author}
"""
    other = project.write(second, "more.yaml")
    message = project.plan_error()
    # files are read in name order: library.yaml defines Author first, more.yaml repeats it
    assert message == (
        f"error: {other}:2: duplicate item type name 'Author' "
        f"(first defined at {project.file}:{line_of(GOOD, '- name: Author')})"
    )


def test_key_template_that_does_not_compile(project: Project) -> None:
    bad = GOOD.replace('PK: "AUTHOR#{{ id }}"', 'PK: "AUTHOR#{{ id "')
    project.write(bad)
    message = project.plan_error()
    assert message.startswith(f"error: {project.file}:{line_of(bad, '- name: Author')}: item type Author: key PK: ")
    assert "template 'AUTHOR#{{ id '" in message
    assert "(template line 1)" in message


def test_attribute_template_that_does_not_compile_points_at_the_attribute(project: Project) -> None:
    bad = GOOD.replace("      Name: name\n", '      Name: {template: "{% if name %}{{ name }}"}\n')
    project.write(bad)
    message = project.plan_error()
    assert message.startswith(
        f"error: {project.file}:{line_of(bad, 'Name: {template')}: item type Author: attribute Name: template "
    )
    assert "endif" in message  # Jinja's own words about the unclosed block


def test_key_template_using_a_column_the_query_does_not_return(project: Project) -> None:
    bad = GOOD.replace('PK: "AUTHOR#{{ id }}"', 'PK: "AUTHOR#{{ author_id }}"')
    project.write(bad)
    message = project.plan_error()
    assert message == (
        f"error: {project.file}:{line_of(bad, '- name: Author')}: item type Author: key PK: "
        "uses column(s) author_id that the query does not return (it returns: born, id, name)"
    )


def test_attribute_template_using_a_missing_column(project: Project) -> None:
    bad = GOOD.replace("      Name: name\n", '      Name: {template: "{{ first }} {{ last }}"}\n')
    project.write(bad)
    message = project.plan_error()
    assert message == (
        f"error: {project.file}:{line_of(bad, 'Name: {template')}: item type Author: attribute Name: "
        "uses column(s) first, last that the query does not return (it returns: born, id, name)"
    )


def test_column_attribute_naming_a_missing_column(project: Project) -> None:
    bad = GOOD.replace("      Born: {column: born, type: number}\n", "      Born: {column: birth_year, type: number}\n")
    project.write(bad)
    message = project.plan_error()
    assert message == (
        f"error: {project.file}:{line_of(bad, 'Born:')}: item type Author: attribute Born: "
        "uses column(s) birth_year that the query does not return (it returns: born, id, name)"
    )


def test_filter_using_a_missing_column(project: Project) -> None:
    bad = GOOD.replace("    cursor: [id]\n", "    cursor: [id]\n    filter: deleted == 0\n")
    project.write(bad)
    message = project.plan_error()
    assert message == (
        f"error: {project.file}:{line_of(bad, '- name: Author')}: item type Author: filter: "
        "uses column(s) deleted that the query does not return (it returns: born, id, name)"
    )


def sqlite_says(source: Path, query: str) -> str:
    """SQLite's own message for the query as the user wrote it."""
    conn = sqlite3.connect(source)
    try:
        conn.execute(query)
    except sqlite3.Error as exc:
        return str(exc)
    finally:
        conn.close()
    raise AssertionError(f"{query!r} runs")


@pytest.mark.parametrize(
    "query",
    [
        "SELECT id, name, born FRM author",
        "SELECT id,, name, born FROM author",
        "SELECT id, name, nope FROM author",
        pytest.param("SELEC id, name, born FROM author"),
        pytest.param("SELECT id, name, born FROM author WHERE"),
    ],
)
def test_query_sqlite_cannot_run_gives_sqlites_message_and_the_query_line(project: Project, query: str) -> None:
    bad = GOOD.replace("SELECT id, name, born FROM author", query)
    project.write(bad)
    message = project.plan_error()
    assert message == (
        f"error: {project.file}:{line_of(bad, 'query: |')}: item type Author: "
        f"query does not run on the source: {sqlite_says(project.source, query)}"
    )


def test_query_ending_in_an_sql_comment_is_accepted(project: Project) -> None:
    project.write(GOOD.replace("FROM author\n", "FROM author -- every author\n"))
    result = run_cli(project.config, "plan", "--format", "json")
    assert result.exit_code == 0, result.output
    assert '"expected_rows": 2' in result.output


def test_query_naming_a_missing_table(project: Project) -> None:
    bad = GOOD.replace("FROM author", "FROM authors")
    project.write(bad)
    message = project.plan_error()
    assert message == (
        f"error: {project.file}:{line_of(bad, 'query: |')}: item type Author: "
        "query does not run on the source: no such table: authors"
    )


def test_table_key_missing_from_keys(project: Project) -> None:
    bad = GOOD.replace("      SK: PROFILE\n", "")
    project.write(bad)
    message = project.plan_error()
    assert message == (
        f"error: {project.file}:{line_of(bad, '- name: Author')}: item type Author: keys: "
        "'SK' is required (key of table Library)"
    )


def test_key_that_is_not_a_key_of_the_table_or_its_indexes(project: Project) -> None:
    bad = GOOD.replace('      GSI1SK: "{{ name | lower }}"\n', '      GSI1SK: "{{ name | lower }}"\n      GSI2PK: X\n')
    project.write(bad)
    message = project.plan_error()
    assert message == (
        f"error: {project.file}:{line_of(bad, '- name: Author')}: item type Author: keys: "
        "'GSI2PK' is not a key of table Library or its indexes (PK, SK, GSI1PK, GSI1SK)"
    )


def test_cursor_naming_a_missing_column(project: Project) -> None:
    bad = GOOD.replace("    cursor: [id]\n", "    cursor: [author_id]\n")
    project.write(bad)
    message = project.plan_error()
    assert message == (
        f"error: {project.file}:{line_of(bad, '- name: Author')}: item type Author: "
        "cursor column 'author_id' is not returned by the query (it returns: born, id, name)"
    )


def test_item_type_on_an_undefined_table(project: Project) -> None:
    bad = GOOD.replace("    table: Library\n", "    table: Libary\n")
    project.write(bad)
    message = project.plan_error()
    assert message == (
        f"error: {project.file}:{line_of(bad, '- name: Author')}: item type Author: "
        "table 'Libary' is not defined (tables: Library)"
    )


def test_attribute_that_is_also_a_key(project: Project) -> None:
    bad = GOOD.replace("      Name: name\n", "      Name: name\n      PK: name\n")
    project.write(bad)
    message = project.plan_error()
    assert message == (
        f"error: {project.file}:{line_of(bad, '      PK: name')}: item type Author: "
        "attribute 'PK' is also a key; define it once, under keys"
    )


def test_item_type_without_a_constant_marker(project: Project) -> None:
    bad = GOOD.replace("      Entity: {const: Author}\n", "")
    project.write(bad)
    message = project.plan_error()
    assert message.startswith(
        f"error: {project.file}:{line_of(bad, '- name: Author')}: item type Author: "
        "needs a constant marker attribute 'Entity'"
    )


EMBED = """\
    embeds:
      - query: SELECT book_id, author_id, title FROM book
        join: {id: author_id}
        order_by: [book_id]
        as: Books
        attributes:
          Title: title
"""


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (
            ("order_by: [book_id]", "order_by: [position]"),
            "embed Books: join/order_by: uses column(s) position that the query does not return "
            "(it returns: author_id, book_id, title)",
        ),
        (
            ("join: {id: author_id}", "join: {author: author_id}"),
            "embed Books: join (parent side): uses column(s) author that the query does not return "
            "(it returns: born, id, name)",
        ),
        (
            ("Title: title", "Title: book_title"),
            "embed Books: attribute Title: uses column(s) book_title that the query does not return "
            "(it returns: author_id, book_id, title)",
        ),
    ],
)
def test_embed_naming_a_missing_column(project: Project, change: tuple[str, str], problem: str) -> None:
    project.write(GOOD + EMBED)
    assert run_cli(project.config, "plan").exit_code == 0
    bad = GOOD + EMBED.replace(*change)
    project.write(bad)
    message = project.plan_error()
    line = (
        line_of(bad, "Title: book_title") if "attribute Title" in problem else line_of(bad, "- query: SELECT book_id")
    )
    assert message == f"error: {project.file}:{line}: item type Author: {problem}"


def test_embed_list_without_attributes(project: Project) -> None:
    bad = GOOD + EMBED.replace("        attributes:\n          Title: title\n", "")
    project.write(bad)
    message = project.plan_error()
    assert message == (
        f"error: {project.file}:{line_of(bad, '- query: SELECT book_id')}: item_types[0].embeds[0]: "
        "an embed with 'as' needs 'attributes' for its maps, or 'set'"
    )


def _our_tables(ddb: Any, prefix: str) -> list[str]:
    names: list[str] = []
    for page in ddb.get_paginator("list_tables").paginate():
        names += [n for n in page["TableNames"] if n.startswith(prefix)]
    return names


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        pytest.param(
            ('PK: "AUTHOR#{{ id }}"', 'PK: "AUTHOR#{{ author_id }}"'),
            "uses column(s) author_id that the query does not return",
            id="plan-time error",
        ),
        pytest.param(("    table: Library\n", "    tabel: Library\n"), "unknown key 'tabel'", id="schema error"),
        pytest.param(("FROM author", "FROM nowhere"), "no such table: nowhere", id="query error"),
    ],
)
def test_migrate_on_a_bad_mapping_writes_nothing(
    project: Project, ddb: Any, prefix: str, change: tuple[str, str], expected: str
) -> None:
    project.write(GOOD.replace(*change))
    result = run_cli(project.config, "migrate")
    assert result.exit_code == 2, result.output
    assert expected in one_line(result.stderr)
    assert _our_tables(ddb, prefix) == []
    state = Path(project.config).parent / "state" / "migration_state.json"
    assert not state.exists(), "a failed plan must not leave a checkpoint behind"
