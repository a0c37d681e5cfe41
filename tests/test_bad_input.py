"""Bad input: rows DynamoDB cannot store, broken or locked sources, mappings DynamoDB would refuse, bad targets.

Row problems are run twice. With ``on_error: stop`` the run exits 1 naming
the item type, the row's cursor and the reason, everything before the row is
in DynamoDB and the checkpoint is just before it. With ``on_error: skip`` the
run exits 0, the row is in ``state/rejects.jsonl`` with its reason, ``status``
counts it, and every other row is written.

Every test builds a tiny SQLite source in tmp_path: eight things, the fifth
one bad in the way the case describes.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from conftest import (
    ROOT,
    count_items,
    error_lines,
    line_of,
    one_line,
    own_tables,
    run_cli,
    run_process,
    scan_all,
    table_rows,
)

ROWS = 8
BAD = 5
FORTY_DIGITS = "1234567891" * 4  # forty significant digits, no trailing zero

MAPPING = """\
tables:
  - name: Things
    partition_key: {name: PK, type: S}
    sort_key: {name: SK, type: SK_TYPE}

item_types:
  - name: Thing
    table: Things
    query: SELECT id, name, amount, code FROM thing
    cursor: [id]
    keys:
      PK: "PK_TEMPLATE"
      SK: "SK_TEMPLATE"
    attributes:
      Entity: {const: Thing}
      Id: {column: id, type: number}
      Name: name
      Amount: {column: amount, type: number}
EMBEDS"""

NOTES_EMBED = """\
    embeds:
      - query: SELECT id AS note_id, thing_id, body FROM note
        join: {id: thing_id}
        order_by: [note_id]
        as: Notes
        attributes:
          Body: body
"""


def mapping(pk: str = "THING#{{ id }}", sk: str = "NAME#{{ name }}", sk_type: str = "S", embeds: str = "") -> str:
    return (
        MAPPING.replace("PK_TEMPLATE", pk)
        .replace("SK_TEMPLATE", sk)
        .replace("SK_TYPE", sk_type)
        .replace("EMBEDS", embeds)
    )


def default_row(i: int) -> dict[str, Any]:
    return {"id": i, "name": f"thing{i}", "amount": i + 0.25, "code": str(i * 10)}


def make_source(path: Path, bad: dict[int, dict[str, Any]] | None = None, rows: int = ROWS, notes: int = 0) -> Path:
    """``thing`` rows 1..rows (``bad`` overrides columns of some), ``note`` rows for the embeds."""
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE thing (id INTEGER PRIMARY KEY, name TEXT, amount, code TEXT)")
        conn.execute("CREATE TABLE note (id INTEGER PRIMARY KEY, thing_id INTEGER, body TEXT)")
        for i in range(1, rows + 1):
            row = {**default_row(i), **(bad or {}).get(i, {})}
            conn.execute("INSERT INTO thing VALUES (:id, :name, :amount, :code)", row)
        conn.executemany(
            "INSERT INTO note (thing_id, body) VALUES (?, ?)", [(i, f"note of {i}") for i in range(1, rows + 1)]
        )
        if notes:
            conn.executemany(
                "INSERT INTO note (thing_id, body) VALUES (?, ?)", [(BAD, f"{n:05d}" + "x" * 95) for n in range(notes)]
            )
    conn.close()
    return path


@dataclass
class Case:
    """One kind of bad row: the mapping, what row BAD holds, and the reason the engine must give."""

    id: str
    reason: str  # a regular expression for the whole reason
    bad: dict[str, Any] = field(default_factory=dict)
    mapping: dict[str, str] = field(default_factory=dict)
    notes: int = 0
    check: Callable[[dict[int, dict[str, Any]]], None] | None = None
    bug: str | None = None  # an engine bug makes migrate give another answer
    dry_run_bug: str | None = None  # an engine bug makes migrate --dry-run miss the row


def exact(text: str) -> str:
    return re.escape(text)


def first_of_duplicates_kept(items: dict[int, dict[str, Any]]) -> None:
    assert items[2]["PK"] == {"S": "NAME#thing2"} and items[2]["Name"] == {"S": "thing2"}


CASES = [
    Case(
        "key-renders-empty",
        exact("key PK renders an empty string (template '{{ name }}')"),
        bad={"name": ""},
        mapping={"pk": "{{ name }}", "sk": "THING#{{ id }}"},
    ),
    Case(
        "key-from-null",
        exact("key PK is built from NULL column(s) name"),
        bad={"name": None},
        mapping={"pk": "{{ name }}", "sk": "THING#{{ id }}"},
    ),
    Case(
        "text-1e200",
        exact("attribute Amount: 1e200 is out of DynamoDB's number range (1E-130 to 9.99E+125)"),
        bad={"amount": "1e200"},
    ),
    Case(
        "text-1e-131",
        exact("attribute Amount: 1e-131 is out of DynamoDB's number range (1E-130 to 9.99E+125)"),
        bad={"amount": "1e-131"},
    ),
    Case(
        "real-1e200",
        exact("attribute Amount: 1e+200 is out of DynamoDB's number range (1E-130 to 9.99E+125)"),
        bad={"amount": 1e200},
    ),
    Case(
        "forty-digits",
        exact(f"attribute Amount: {FORTY_DIGITS} has 40 significant digits; DynamoDB keeps at most 38"),
        bad={"amount": FORTY_DIGITS},
    ),
    Case("text-nan", exact("attribute Amount: NaN is not a number DynamoDB can store"), bad={"amount": "NaN"}),
    Case(
        "text-infinity",
        exact("attribute Amount: Infinity is not a number DynamoDB can store"),
        bad={"amount": "Infinity"},
    ),
    Case(
        "key-n-not-a-number",
        exact("key SK: text 'abc' is not a number"),
        bad={"code": "abc"},
        mapping={"sk": "{{ code }}", "sk_type": "N"},
    ),
    Case(
        "key-n-out-of-range",
        exact("key SK: 9e999 is out of DynamoDB's number range (1E-130 to 9.99E+125)"),
        bad={"code": "9e999"},
        mapping={"sk": "{{ code }}", "sk_type": "N"},
    ),
    Case(
        "item-over-400kb",
        r"item is (\d+) bytes, over DynamoDB's 400 KB item limit",
        mapping={"embeds": NOTES_EMBED},
        notes=5000,
    ),
    Case(
        "same-key-in-one-batch",
        exact("renders the same primary key ('NAME#thing2', 'PROFILE') as row {'id': 2} in the same batch"),
        bad={"name": "THING2"},
        mapping={"pk": "NAME#{{ name | lower }}", "sk": "PROFILE"},
        check=first_of_duplicates_kept,
    ),
]


def params(bug: Callable[[Case], str | None]) -> list[Any]:
    return [
        pytest.param(c, id=c.id, marks=[pytest.mark.xfail(strict=True, reason=bug(c))] if bug(c) else []) for c in CASES
    ]


@pytest.fixture(autouse=True)
def wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "500")


def items_by_id(ddb: Any, table: str) -> dict[int, dict[str, Any]]:
    items = scan_all(ddb, table)
    by_id = {int(i["Id"]["N"]): i for i in items}
    assert len(by_id) == len(items), "one item per row"
    return by_id


class Project:
    def __init__(self, tmp_path: Path, make_config: Any, prefix: str, mapping_text: str, source: Path, **settings: Any):
        self.source = source
        self.mappings = tmp_path / "mappings"
        self.mappings.mkdir(exist_ok=True)
        self.mapping_file = self.mappings / "things.yaml"
        self.mapping_file.write_text(mapping_text)
        self.config = make_config(source=source, mappings=self.mappings, **settings)
        self.state = self.config.parent / "state" / "migration_state.json"
        self.rejects = self.state.with_name("rejects.jsonl")
        self.table = f"{prefix}Things"


def case_project(case: Case, tmp_path: Path, make_config: Any, prefix: str, **settings: Any) -> Project:
    source = make_source(tmp_path / "things.sqlite", {BAD: case.bad}, notes=case.notes)
    return Project(tmp_path, make_config, prefix, mapping(**case.mapping), source, **settings)


# ----------------------------------------------------------------------------- bad rows, on_error: stop
@pytest.mark.parametrize("case", params(lambda c: c.bug))
def test_bad_row_stops_the_run_at_a_checkpoint_just_before_it(
    case: Case, tmp_path: Path, make_config: Any, prefix: str, ddb: Any
) -> None:
    project = case_project(case, tmp_path, make_config, prefix)
    result = run_cli(project.config, "migrate", "--no-validate")
    assert result.exit_code == 1, result.output

    errors = error_lines(result.stderr)
    assert len(errors) == 1, result.stderr
    head = f"error: item type Thing, row {{'id': {BAD}}}: "
    assert errors[0].startswith(head), errors[0]
    reason = errors[0][len(head) :]
    match = re.fullmatch(case.reason, reason)
    assert match, reason
    if case.id == "item-over-400kb":
        assert 400 * 1024 < int(match.group(1)) < 600 * 1024
    assert "resume' to continue" in result.stderr
    assert "Traceback" not in result.stderr

    # every row before the bad one is in DynamoDB, nothing after it
    items = items_by_id(ddb, project.table)
    assert sorted(items) == list(range(1, BAD))
    if case.check:
        case.check(items)
    thing = json.loads(project.state.read_text())["item_types"]["Thing"]
    assert (thing["status"], thing["cursor"], thing["rows_read"], thing["items_written"]) == (
        "failed",
        [BAD - 1],
        BAD - 1,
        BAD - 1,
    )
    assert thing["error"] == errors[0][len("error: ") :]
    assert not project.rejects.exists()


# ----------------------------------------------------------------------------- bad rows, on_error: skip
@pytest.mark.parametrize("case", params(lambda c: c.bug))
def test_bad_row_is_set_aside_and_the_rest_is_written(
    case: Case, tmp_path: Path, make_config: Any, prefix: str, ddb: Any
) -> None:
    project = case_project(case, tmp_path, make_config, prefix, on_error="skip")
    result = run_cli(project.config, "migrate", "--no-validate")
    assert result.exit_code == 0, result.output
    assert not error_lines(result.stderr)

    rejects = [json.loads(line) for line in project.rejects.read_text().splitlines()]
    assert len(rejects) == 1, rejects
    assert (rejects[0]["item_type"], rejects[0]["cursor"]) == ("Thing", {"id": BAD})
    assert re.fullmatch(case.reason, rejects[0]["reason"]), rejects[0]["reason"]

    items = items_by_id(ddb, project.table)
    assert sorted(items) == [i for i in range(1, ROWS + 1) if i != BAD]
    if case.check:
        case.check(items)
    thing = json.loads(project.state.read_text())["item_types"]["Thing"]
    assert (thing["status"], thing["rows_read"], thing["items_written"], thing["rows_rejected"]) == (
        "done",
        ROWS,
        ROWS - 1,
        1,
    )

    status = run_cli(project.config, "status")
    assert status.exit_code == 0, status.output
    # item type | table | state | rows done/total | % | items | items/s | errors | ...
    row = table_rows(status.output)["Thing"]
    assert row[2:6] == ["done", f"{ROWS}/{ROWS}", "100%", str(ROWS - 1)]
    assert row[7] == "1"


def test_max_errors_stops_a_skipping_run(tmp_path: Path, make_config: Any, prefix: str, ddb: Any) -> None:
    rows, bad_rows = 30, (3, 27, 29)
    source = make_source(tmp_path / "things.sqlite", {i: {"amount": "NaN"} for i in bad_rows}, rows=rows)
    project = Project(tmp_path, make_config, prefix, mapping(), source, on_error="skip", max_errors=2)

    result = run_cli(project.config, "migrate", "--no-validate")
    assert result.exit_code == 1, result.output
    assert error_lines(result.stderr) == [
        f"error: item type Thing: more than 2 rejected rows; stopping (see {project.rejects})"
    ]
    rejects = [json.loads(line) for line in project.rejects.read_text().splitlines()]
    assert [r["cursor"] for r in rejects] == [{"id": i} for i in bad_rows]
    assert {r["reason"] for r in rejects} == {"attribute Amount: NaN is not a number DynamoDB can store"}

    # the first full batch was written and checkpointed
    thing = json.loads(project.state.read_text())["item_types"]["Thing"]
    # (25 items: rows 1-26 but 3); the rows read after it are not written and not checkpointed
    assert (thing["status"], thing["cursor"], thing["rows_read"], thing["rows_rejected"]) == ("failed", [26], 26, 1)
    assert sorted(items_by_id(ddb, project.table)) == [i for i in range(1, 27) if i != 3]


def test_the_same_key_in_two_batches_is_caught_by_the_validation(
    tmp_path: Path, make_config: Any, prefix: str, ddb: Any
) -> None:
    """Only one batch's keys are compared while writing; one row silently replaces the other, validation says so."""
    source = make_source(tmp_path / "things.sqlite", {30: {"name": "THING2"}}, rows=30)
    project = Project(tmp_path, make_config, prefix, mapping(pk="NAME#{{ name | lower }}", sk="PROFILE"), source)
    result = run_cli(project.config, "migrate")
    assert result.exit_code == 1, result.output
    text = one_line(result.output + result.stderr)
    # the items check names the cause first (the cell may wrap the rest of the sentence)
    assert (
        'duplicate key {"PK": "NAME#thing2", "SK": "PROFILE"}: a Thing row renders the same key as a Thing row' in text
    )
    assert "count: Thing: 29 items in the table, source gives 30 (expected 30, found 29)" in text
    errors = error_lines(result.stderr)
    assert len(errors) == 1 and errors[0].startswith("error: validation failed: "), result.stderr
    # batches are written concurrently: which of the two rows is left is not defined, but only one is
    items = items_by_id(ddb, project.table)
    survivor = 2 if 2 in items else 30
    assert sorted(items) == [i for i in range(1, 31) if i != 32 - survivor]
    assert items[survivor]["PK"] == {"S": "NAME#thing2"}


# ----------------------------------------------------------------------------- the same rows, migrate --dry-run
@pytest.mark.parametrize("case", params(lambda c: c.dry_run_bug))
def test_dry_run_reports_the_bad_row_and_writes_nothing(
    case: Case, tmp_path: Path, make_config: Any, prefix: str, ddb: Any
) -> None:
    project = case_project(case, tmp_path, make_config, prefix)
    result = run_cli(project.config, "migrate", "--dry-run")
    assert result.exit_code == 1, result.output
    text = one_line(result.stderr)
    assert text.endswith(" error: dry run: 1 rows cannot be written as mapped"), text
    # one problem line, "- item type ...", however the terminal wraps it
    problems = re.findall(r"(?:^| )- (item type .*?) error: dry run", text)
    assert len(problems) == 1 and text.count("- item type ") == 1, text
    if case.id == "item-over-400kb":
        # the dry run names the item by its key, not by the row
        head = "item type Thing, key {'PK': 'THING#5', 'SK': 'NAME#thing5'}: "
    else:
        head = f"item type Thing, row {{'id': {BAD}}}: "
    assert problems[0].startswith(head), problems[0]
    assert re.fullmatch(case.reason, problems[0][len(head) :]), problems[0]
    assert not project.state.exists() and not own_tables(ddb, prefix)


# ----------------------------------------------------------------------------- the source database
GOOD_MAPPING = mapping()


def test_init_with_a_missing_source_says_not_found(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.sqlite"
    mappings = tmp_path / "mappings"
    mappings.mkdir()
    (mappings / "things.yaml").write_text(GOOD_MAPPING)
    config = tmp_path / "migration.json"
    result = run_cli(config, "init", "--source-db", str(missing), "--mappings", str(mappings))
    assert result.exit_code == 2, result.output
    assert error_lines(result.stderr) == [
        f"error: source database not found: {missing} (check --source-db or MIGRATION_SOURCE_DB)"
    ]
    assert not config.exists()
    assert not missing.exists(), "a read-only open must not create the file"


def test_migrate_with_a_source_that_went_missing_says_not_found(
    tmp_path: Path, make_config: Any, prefix: str, ddb: Any
) -> None:
    project = Project(tmp_path, make_config, prefix, GOOD_MAPPING, make_source(tmp_path / "things.sqlite"))
    project.source.unlink()
    result = run_cli(project.config, "migrate", "--no-validate")
    assert result.exit_code == 2, result.output
    assert error_lines(result.stderr) == [
        f"error: source database not found: {project.source} (check --source-db or MIGRATION_SOURCE_DB)"
    ]
    assert not project.source.exists()
    assert not project.state.exists() and not own_tables(ddb, prefix)


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"", "is empty (0 bytes), not a SQLite database"),
        (b"id,name\n1,thing1\n", "is not a SQLite database (bad header)"),
        (b"SQLite format 3\x00" + bytes(range(256)) * 20, "is not a readable SQLite database: file is not a database"),
    ],
    ids=["empty", "csv", "header-then-garbage"],
)
def test_a_file_that_is_not_sqlite_is_refused(
    content: bytes, problem: str, tmp_path: Path, make_config: Any, prefix: str, ddb: Any
) -> None:
    project = Project(tmp_path, make_config, prefix, GOOD_MAPPING, make_source(tmp_path / "things.sqlite"))
    fake = tmp_path / "fake.sqlite"
    fake.write_bytes(content)

    init = run_cli(tmp_path / "other.json", "init", "--source-db", str(fake), "--mappings", str(project.mappings))
    assert init.exit_code == 2, init.output
    assert error_lines(init.stderr) == [f"error: {fake} {problem}"]

    config = json.loads(project.config.read_text())
    config["source_db"] = str(fake)
    project.config.write_text(json.dumps(config))
    result = run_cli(project.config, "migrate", "--no-validate")
    assert result.exit_code == 2, result.output
    assert error_lines(result.stderr) == [f"error: {fake} {problem}"]
    assert fake.read_bytes() == content
    assert not project.state.exists() and not own_tables(ddb, prefix)


def test_a_source_locked_by_a_writer_is_reported_as_locked(
    tmp_path: Path, make_config: Any, prefix: str, ddb: Any
) -> None:
    project = Project(tmp_path, make_config, prefix, GOOD_MAPPING, make_source(tmp_path / "things.sqlite"))
    config = json.loads(project.config.read_text())
    config["migration_settings"]["busy_timeout"] = 3
    project.config.write_text(json.dumps(config))
    writer = sqlite3.connect(project.source, isolation_level=None)
    try:
        writer.execute("BEGIN EXCLUSIVE")
        started = time.monotonic()
        result = run_process(project.config, "migrate", "--no-validate", timeout=120)
        waited = time.monotonic() - started
    finally:
        writer.rollback()
        writer.close()
    assert result.returncode == 2, result.stderr
    assert error_lines(result.stderr) == [
        f"error: cannot read source database {project.source}: locked by another process for 3 s "
        "(wait for the writer to finish, raise busy_timeout in the configuration, or migrate from a copy)"
    ]
    assert "Traceback" not in result.stderr
    assert 3 <= waited < 60, f"the busy timeout of 3 s was not honoured ({waited:.1f} s)"
    assert not project.state.exists() and not own_tables(ddb, prefix)


def test_a_column_the_mapping_needs_is_missing(tmp_path: Path, make_config: Any, prefix: str, ddb: Any) -> None:
    text = GOOD_MAPPING.replace(
        "SELECT id, name, amount, code FROM thing", "SELECT id, name, amount, colour FROM thing"
    )
    project = Project(tmp_path, make_config, prefix, text, make_source(tmp_path / "things.sqlite"))
    result = run_cli(project.config, "migrate", "--no-validate")
    assert result.exit_code == 2, result.output
    assert error_lines(result.stderr) == [
        f"error: {project.mapping_file}:{line_of(text, 'query:')}: item type Thing: "
        "query does not run on the source: no such column: colour"
    ]
    assert not project.state.exists() and not own_tables(ddb, prefix)


def test_a_table_an_embed_needs_is_missing(tmp_path: Path, make_config: Any, prefix: str, ddb: Any) -> None:
    text = mapping(embeds=NOTES_EMBED.replace("FROM note", "FROM notes"))
    project = Project(tmp_path, make_config, prefix, text, make_source(tmp_path / "things.sqlite"))
    result = run_cli(project.config, "migrate", "--no-validate")
    assert result.exit_code == 2, result.output
    assert error_lines(result.stderr) == [
        f"error: {project.mapping_file}:{line_of(text, '- query: SELECT id AS note_id')}: item type Thing: "
        "embed Notes: query does not run on the source: no such table: notes"
    ]
    assert not project.state.exists() and not own_tables(ddb, prefix)


# ----------------------------------------------------------------------------- mappings DynamoDB would refuse
def test_an_index_key_typed_unlike_the_table_key_is_refused(
    tmp_path: Path, make_config: Any, prefix: str, ddb: Any
) -> None:
    project = Project(tmp_path, make_config, prefix, GOOD_MAPPING, make_source(tmp_path / "things.sqlite"))
    text = GOOD_MAPPING.replace(
        "    sort_key: {name: SK, type: S}\n",
        "    sort_key: {name: SK, type: S}\n"
        "    indexes:\n"
        "      - name: BySK\n"
        "        partition_key: {name: SK, type: N}\n",
    )
    project.mapping_file.write_text(text)
    for command in ("plan", "migrate"):
        result = run_cli(project.config, command, *(["--no-validate"] if command == "migrate" else []))
        assert result.exit_code == 2, result.output
        assert error_lines(result.stderr) == [
            f"error: {project.mapping_file}:{line_of(text, '- name: Things')}: table Things: key attribute SK "
            "is type N in Things index BySK but S elsewhere; DynamoDB gives an attribute one type"
        ]
    assert not project.state.exists() and not own_tables(ddb, prefix)


# ----------------------------------------------------------------------------- the target
def test_an_unreachable_endpoint_is_one_line_without_traceback(tmp_path: Path, make_config: Any, prefix: str) -> None:
    project = Project(tmp_path, make_config, prefix, GOOD_MAPPING, make_source(tmp_path / "things.sqlite"))
    make_config(source=project.source, mappings=project.mappings, endpoint="http://127.0.0.1:9")
    expected = (
        "error: connecting: cannot reach http://127.0.0.1:9: EndpointConnectionError "
        "(check the endpoint URL and that it is running)"
    )
    result = run_process(project.config, "migrate", "--no-validate", timeout=60)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines() == [expected]
    assert not project.state.exists()

    verbose = run_process(project.config, "--verbose", "migrate", "--no-validate", timeout=60)
    assert verbose.returncode == 2, verbose.stderr
    assert "Traceback (most recent call last)" in verbose.stderr
    assert verbose.stderr.strip().splitlines()[-1] == expected


def no_credentials_env(tmp_path: Path) -> dict[str, str]:
    """No AWS variable at all, empty config files, no metadata service, and any HTTP goes nowhere."""
    empty = tmp_path / "empty-aws"
    empty.mkdir()
    (empty / "config").write_text("")
    (empty / "credentials").write_text("")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and "proxy" not in k.lower()}
    env.update(
        AWS_ACCESS_KEY_ID="",
        AWS_SECRET_ACCESS_KEY="",
        AWS_SESSION_TOKEN="",
        AWS_CONFIG_FILE=str(empty / "config"),
        AWS_SHARED_CREDENTIALS_FILE=str(empty / "credentials"),
        AWS_EC2_METADATA_DISABLED="true",
        HOME=str(empty),
        HTTP_PROXY="http://127.0.0.1:9",
        HTTPS_PROXY="http://127.0.0.1:9",
    )
    return env


def test_target_aws_without_credentials_names_the_credentials(tmp_path: Path, make_config: Any, prefix: str) -> None:
    project = Project(tmp_path, make_config, prefix, GOOD_MAPPING, make_source(tmp_path / "things.sqlite"))
    config = json.loads(project.config.read_text())
    config.update(target="aws", endpoint_url=None)
    project.config.write_text(json.dumps(config))

    result = subprocess.run(
        [sys.executable, str(ROOT / "cli.py"), "-c", str(project.config), "migrate", "--no-validate"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=no_credentials_env(tmp_path),
        timeout=60,
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines() == [
        "error: connecting: no AWS credentials found "
        "(set AWS_PROFILE or --profile, or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)"
    ]
    assert not project.state.exists()


def test_target_aws_in_a_region_that_does_not_exist_names_the_region(
    tmp_path: Path, make_config: Any, prefix: str
) -> None:
    project = Project(tmp_path, make_config, prefix, GOOD_MAPPING, make_source(tmp_path / "things.sqlite"))
    config = json.loads(project.config.read_text())
    config.update(target="aws", endpoint_url=None, aws_region="xx-nowhere-1")
    project.config.write_text(json.dumps(config))
    # credentials that look real, so the region is what fails; HTTPS goes to a dead proxy, never to AWS
    env = {**no_credentials_env(tmp_path), "AWS_ACCESS_KEY_ID": "AKIAEXAMPLE", "AWS_SECRET_ACCESS_KEY": "example"}

    result = subprocess.run(
        [sys.executable, str(ROOT / "cli.py"), "-c", str(project.config), "migrate", "--no-validate"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: connecting: cannot reach AWS DynamoDB (xx-nowhere-1): "), lines
    assert lines[0].endswith("(check --aws-region ('xx-nowhere-1' must be a region DynamoDB runs in) and the network)")
    assert not project.state.exists()


def test_the_test_items_are_real(tmp_path: Path, make_config: Any, prefix: str, ddb: Any) -> None:
    """The unbroken source migrates completely: the failures above come from the bad rows alone."""
    project = Project(tmp_path, make_config, prefix, GOOD_MAPPING, make_source(tmp_path / "things.sqlite"))
    result = run_cli(project.config, "migrate", "--no-validate")
    assert result.exit_code == 0, result.output
    items = items_by_id(ddb, project.table)
    assert sorted(items) == list(range(1, ROWS + 1))
    assert items[3]["Amount"] == {"N": "3.25"} and items[3]["SK"] == {"S": "NAME#thing3"}
    assert count_items(ddb, project.table) == ROWS
