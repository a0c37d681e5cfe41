"""Issue 26, the first hour on your own database: what plan, migrate and resume say before DynamoDB does.

* point 1: a key value over DynamoDB's limits (2,048 bytes for a partition key
  value, 1,024 for a sort key value) is said with the item type, row, attribute,
  size and limit, by the render path (migrate, --dry-run, plan --samples, export)
  and, over all rows, by plan's SQL bound with the mapping's file:line;
* point 4: a value wider than its pad(n) is a warning of plan and sync;
* point 5: an item type whose largest item may pass half of 400 KB is a warning of plan;
* point 3: after a mapping change, resume names sync with what it would write.
"""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path
from typing import Any

from conftest import count_items, error_lines, line_of, one_line, run_cli

MAPPING = """\
tables:
  - name: Docs
    partition_key: {name: PK, type: S}
    sort_key: {name: SK, type: S}
    indexes:
      - name: ByTitle
        partition_key: {name: GSI1PK, type: S}
        sort_key: {name: GSI1SK, type: S}
        projection: KEYS_ONLY

item_types:
  - name: Doc
    table: Docs
    query: SELECT id, title, label FROM docs
    cursor: [id]
    keys:
      PK: "DOC#{{ id | pad(PAD) }}"
      SK: META
      GSI1PK: TITLE
      GSI1SK: "TITLE_TEMPLATE"
    attributes:
      Entity: {const: Doc}
      Label: LABEL
"""

ROWS = 50
LONG_ROW = 7


def make_project(
    tmp_path: Path,
    make_config: Any,
    long_title: int = 0,
    title: str = "{{ title }}",
    pad: int = 4,
    rows: int = ROWS,
) -> tuple[Path, Path]:
    """docs(id, title, label): row LONG_ROW's title is ``long_title`` bytes of 'é' (two bytes each), when given."""
    source = tmp_path / "src.sqlite"
    with sqlite3.connect(source) as conn:
        conn.execute("CREATE TABLE docs (id INTEGER PRIMARY KEY, title TEXT UNIQUE, label TEXT)")
        conn.executemany(
            "INSERT INTO docs VALUES (?, ?, ?)",
            [
                (i, "é" * (long_title // 2) if i == LONG_ROW and long_title else f"title {i}", f"label{i}")
                for i in range(1, rows + 1)
            ],
        )
    conn.close()
    mappings = tmp_path / "mappings"
    mappings.mkdir()
    mapping = mappings / "docs.yaml"
    mapping.write_text(
        MAPPING.replace("TITLE_TEMPLATE", title).replace("PAD", str(pad)).replace("LABEL", "{template: '{{ label }}'}")
    )
    return make_config(source=source, mappings=mappings, workers=1), mapping


def the_error(result: Any) -> str:
    lines = error_lines(result.stderr)
    assert len(lines) == 1, result.output
    assert "Traceback" not in result.output
    return lines[0]


# ----------------------------------------------------------------------------- point 1: key sizes
def test_plan_bounds_key_sizes_over_all_rows_and_names_the_mapping_line(tmp_path: Path, make_config: Any) -> None:
    config, mapping = make_project(tmp_path, make_config, long_title=2734)
    result = run_cli(config, "plan", "--no-check-target")
    assert result.exit_code == 2, result.output
    line = line_of(mapping.read_text(), "- name: Doc", occurrence=2)
    assert one_line(the_error(result)) == (
        f"error: {mapping}:{line}: item type Doc: key GSI1SK (sort key of index ByTitle) can be 2,734 bytes "
        "(its longest title is 2,734 bytes), over DynamoDB's 1,024-byte limit for a sort key value "
        "(hash the value into the key, or do not use this column in a key)"
    )


def test_a_key_under_its_limit_passes_the_plan(tmp_path: Path, make_config: Any) -> None:
    config, _ = make_project(tmp_path, make_config, long_title=1024 - len("T:"), title="T:{{ title }}")
    result = run_cli(config, "plan", "--no-check-target")
    assert result.exit_code == 0, result.output


def test_the_render_path_names_row_attribute_size_and_limit(
    tmp_path: Path, make_config: Any, ddb: Any, prefix: str
) -> None:
    # a template plan cannot bound (not plain columns and filters): the render check sees the row
    config, _ = make_project(tmp_path, make_config, long_title=1100, title="{{ title ~ '' }}")
    assert run_cli(config, "plan", "--no-check-target").exit_code == 0
    expected = (
        f"item type Doc, row {{'id': {LONG_ROW}}}: key attribute GSI1SK (sort key of index ByTitle) is 1,100 bytes, "
        "over DynamoDB's 1,024-byte limit for a sort key value"
    )
    dry = run_cli(config, "migrate", "--dry-run")
    assert dry.exit_code != 0, dry.output
    assert expected in one_line(dry.output + dry.stderr)

    result = run_cli(config, "migrate", "--no-validate", "--on-error", "stop")
    assert result.exit_code != 0, result.output
    assert expected in one_line(the_error(result))
    assert "Size limit exceeded" not in result.output + result.stderr

    skipped = run_cli(config, "migrate", "--no-validate", "--on-error", "skip", "--force")
    assert f"rejected {expected}" in one_line(skipped.stderr)
    assert count_items(ddb, f"{prefix}Docs") == ROWS - 1


def test_plan_samples_see_the_key_limit(tmp_path: Path, make_config: Any) -> None:
    config, _ = make_project(tmp_path, make_config, long_title=2200, title="{{ title ~ '' }}")
    result = run_cli(config, "plan", "--no-check-target", "--samples", "10")
    assert result.exit_code != 0, result.output
    assert "key attribute GSI1SK (sort key of index ByTitle) is 2,200 bytes" in one_line(the_error(result))


# ----------------------------------------------------------------------------- point 4: pad width
def test_plan_and_sync_warn_when_a_value_outgrows_its_pad(tmp_path: Path, make_config: Any) -> None:
    config, _ = make_project(tmp_path, make_config, pad=2, rows=120)
    warning = (
        "item type Doc: attribute PK: id 120 is wider than pad(2), so text order is no longer numeric order; "
        "widen the pad"
    )
    result = run_cli(config, "plan", "--no-check-target")
    assert result.exit_code == 0, result.output
    assert warning in one_line(result.stderr)
    migrated = run_cli(config, "migrate", "--no-validate")
    assert migrated.exit_code == 0, migrated.output
    synced = run_cli(config, "sync")
    assert synced.exit_code == 0, synced.output
    assert warning in one_line(synced.stderr)


def test_no_pad_warning_when_the_values_fit(tmp_path: Path, make_config: Any) -> None:
    config, _ = make_project(tmp_path, make_config, pad=3, rows=999)
    result = run_cli(config, "plan", "--no-check-target")
    assert result.exit_code == 0, result.output
    assert "wider than pad" not in result.stderr


# ----------------------------------------------------------------------------- point 5: large items
AUTHORS = """\
tables:
  - name: Library
    partition_key: {name: PK, type: S}

item_types:
  - name: Author
    table: Library
    query: SELECT id, name FROM authors
    cursor: [id]
    keys:
      PK: "AUTHOR#{{ id }}"
    attributes:
      Name: name
      Entity: {const: Author}
    embeds:
      - name: Books
        query: SELECT author_id, id, title FROM books
        join: {id: author_id}
        order_by: [id]
        as: Books
        attributes:
          Title: title
"""


def test_plan_warns_when_the_largest_item_may_pass_half_of_400_kb(tmp_path: Path, make_config: Any) -> None:
    source = tmp_path / "library.sqlite"
    with sqlite3.connect(source) as conn:
        conn.execute("CREATE TABLE authors (id INTEGER PRIMARY KEY, name TEXT)")
        conn.execute("CREATE TABLE books (id INTEGER PRIMARY KEY, author_id INTEGER, title TEXT)")
        conn.executemany("INSERT INTO authors VALUES (?, ?)", [(i, f"author {i}") for i in range(1, 4)])
        # author 2 has 1,500 books of about 150 bytes: about 230 KB in one item
        conn.executemany(
            "INSERT INTO books VALUES (?, ?, ?)",
            [(i, 2 if i <= 1500 else 1, f"{i:05d} " + "x" * 144) for i in range(1, 1511)],
        )
    conn.close()
    mappings = tmp_path / "mappings"
    mappings.mkdir()
    (mappings / "library.yaml").write_text(AUTHORS)
    config = make_config(source=source, mappings=mappings, workers=1)
    result = run_cli(config, "plan", "--no-check-target")
    assert result.exit_code == 0, result.output
    found = re.search(
        r"item type Author: its largest item may be (\d+) KB, above half of DynamoDB's 400 KB item limit "
        r"\(embed Books: up to (\d+) KB\)",
        one_line(result.stderr),
    )
    assert found, result.stderr
    assert 220 <= int(found.group(1)) <= 240 and 220 <= int(found.group(2)) <= 240


# ----------------------------------------------------------------------------- point 3: resume after a change
def test_resume_after_a_mapping_change_names_sync_with_what_it_would_write(
    tmp_path: Path, make_config: Any, ddb: Any, prefix: str
) -> None:
    config, mapping = make_project(tmp_path, make_config)
    assert run_cli(config, "migrate", "--no-validate").exit_code == 0
    # 9 of the 50 labels change: label1..label9 become LABEL1..LABEL9
    mapping.write_text(
        mapping.read_text().replace(
            "{template: '{{ label }}'}", '{template: "{{ label | upper if id < 10 else label }}"}'
        )
    )
    result = run_cli(config, "resume", "--no-validate")
    assert result.exit_code == 2, result.output
    assert one_line(the_error(result)) == (
        "error: the mapping changed since the checkpoint for item type(s): Doc (run 'sync': it would write 9 items "
        "and delete 0 (see 'plan --diff'); 'migrate --force' rewrites all 50 rows; or 'reset' to start over)"
    )
    diff = run_cli(config, "plan", "--diff", "--no-check-target")
    assert diff.exit_code == 0, diff.output
    assert "9 items to write or delete" in one_line(diff.output)
    synced = run_cli(config, "sync")
    assert synced.exit_code == 0, synced.output
    labels = {i["PK"]["S"]: i["Label"]["S"] for i in ddb.scan(TableName=f"{prefix}Docs")["Items"]}
    assert labels["DOC#0003"] == "LABEL3" and labels["DOC#0010"] == "label10"


# ----------------------------------------------------------------------------- point 8: plan's table
def test_plan_never_cuts_two_item_type_names_to_the_same_text(
    tmp_path: Path, make_config: Any, monkeypatch: Any
) -> None:
    from sqlite2ddb.cli import views as cli_module

    config, mapping = make_project(tmp_path, make_config)
    first, second = "BaseFieldMappingForCustomerAccounts", "BaseFieldMappingForCustomerOrders"
    text = mapping.read_text().replace("  - name: Doc\n", f"  - name: {first}\n")
    doc = text[text.index(f"  - name: {first}") :]
    mapping.write_text(
        text + doc.replace(first, second).replace("SK: META", "SK: META2").replace("Entity: {const: Doc}", "")
    )
    text = mapping.read_text()
    mapping.write_text(
        text.replace("Entity: {const: Doc}", f"Entity: {{const: {first}}}", 1)
        .replace("      Label:", f"      Entity: {{const: {second}}}\n      Label:", 2)
        .replace(f"      Entity: {{const: {second}}}\n      Label:", "      Label:", 1)
    )
    monkeypatch.setattr(cli_module.console, "width", 100)
    result = run_cli(config, "plan", "--no-check-target")
    assert result.exit_code == 0, result.output
    assert first in result.output and second in result.output
    rows = [line for line in result.output.splitlines() if "BaseField" in line]
    assert len(rows) == 2, result.output  # one line each: the table stays compact
