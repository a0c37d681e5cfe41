"""Security: the source is only ever read, templates run in a sandbox, and credentials never leave the process.

Each test builds a tiny SQLite source in tmp_path and a one-file mapping set.
The source's bytes are compared (SHA-256) before and after every command that
opens it; sandbox escapes are tried in key templates, attribute templates and
filters; and the credential test runs every command as a separate process
with sentinel keys, then searches every file the tool wrote and everything it
printed.
"""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT, count_items, error_lines, line_of, own_tables, run_cli, run_process, scan_all

from sqlite2ddb.extract.source import open_source

ROWS = 6

MAPPING = """\
tables:
  - name: Things
    partition_key: {name: PK, type: S}
    sort_key: {name: SK, type: S}

item_types:
  - name: Thing
    table: Things
    query: QUERY
    cursor: [id]
    keys:
      PK: "PK_TEMPLATE"
      SK: THING
    attributes:
      Entity: {const: Thing}
      Id: {column: id, type: number}
      Name: {template: "NAME_TEMPLATE"}
"""

SCHEMA = """
CREATE TABLE thing (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
CREATE TABLE audit (id INTEGER PRIMARY KEY, what TEXT);
"""


def mapping(
    query: str = "SELECT id, name FROM thing",
    pk: str = "THING#{{ id }}",
    name: str = "{{ name }}",
    extra: str = "",
) -> str:
    return MAPPING.replace("QUERY", json.dumps(query)).replace("PK_TEMPLATE", pk).replace("NAME_TEMPLATE", name) + extra


def make_source(path: Path, wal: bool = False) -> Path:
    conn = sqlite3.connect(path)
    if wal:
        conn.execute("PRAGMA journal_mode=WAL")
    conn.executescript(SCHEMA)
    conn.executemany("INSERT INTO thing VALUES (?, ?)", [(i, f"thing {i}") for i in range(1, ROWS + 1)])
    conn.commit()
    conn.close()
    return path


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def folder_state(folder: Path) -> dict[str, str]:
    """Name -> SHA-256 of every file in the source's folder (journals and WAL files included)."""
    return {p.name: sha256(p) for p in sorted(folder.iterdir()) if p.is_file()}


class Project:
    def __init__(self, tmp_path: Path, make_config: Any, prefix: str, text: str, wal: bool = False, **settings: Any):
        self.data = tmp_path / "data"
        self.data.mkdir()
        self.source = make_source(self.data / "things.sqlite", wal=wal)
        self.mappings = tmp_path / "mappings"
        self.mappings.mkdir()
        self.mapping_file = self.mappings / "things.yaml"
        self.mapping_file.write_text(text)
        self.config = make_config(source=self.source, mappings=self.mappings, **settings)
        self.state = self.config.parent / "state" / "migration_state.json"
        self.table = f"{prefix}Things"

    def rows(self) -> list[tuple[int, str]]:
        conn = sqlite3.connect(f"{self.source.resolve().as_uri()}?mode=ro", uri=True)
        try:
            return conn.execute("SELECT id, name FROM thing ORDER BY id").fetchall()
        finally:
            conn.close()


@pytest.fixture(autouse=True)
def wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rich prints every message on one line, so lines can be compared."""
    monkeypatch.setenv("COLUMNS", "500")


ORIGINAL_ROWS = [(i, f"thing {i}") for i in range(1, ROWS + 1)]


# ----------------------------------------------------------------------------- the source is read-only
WRITING_QUERIES = [
    ("delete-returning", "DELETE FROM thing RETURNING *"),
    ("insert-returning", "INSERT INTO thing (name) VALUES ('x') RETURNING id, name"),
    ("update-in-cte", "WITH gone AS (UPDATE thing SET name = 'x' RETURNING id, name) SELECT id, name FROM gone"),
    (
        "break-out-of-the-wrapper",
        "SELECT id, name FROM thing) AS x; DELETE FROM thing; SELECT * FROM (SELECT 1 AS id, 'a' AS name",
    ),
    ("drop-table", "DROP TABLE thing"),
    ("pragma", "PRAGMA user_version = 7"),
]
# SQLite's own words; which one depends on where the statement is stopped, never on it having run
SQLITE_REFUSALS = (
    r'near "[^"]+": syntax error|You can only execute one statement at a time\.|attempt to write a readonly database'
)


@pytest.mark.parametrize("query", [q[1] for q in WRITING_QUERIES], ids=[q[0] for q in WRITING_QUERIES])
def test_a_query_that_tries_to_write_fails_and_the_source_is_unchanged(
    query: str, tmp_path: Path, make_config: Any, prefix: str, ddb: Any
) -> None:
    text = mapping()
    project = Project(tmp_path, make_config, prefix, text)
    project.mapping_file.write_text(mapping(query=query))
    before = folder_state(project.data)
    head = (
        f"error: {project.mapping_file}:{line_of(text, 'query:')}: item type Thing: query does not run on the source: "
    )

    for command in (("plan",), ("migrate", "--no-validate"), ("migrate", "--dry-run")):
        result = run_cli(project.config, *command)
        assert result.exit_code == 2, (command, result.output)
        errors = error_lines(result.stderr)
        assert len(errors) == 1 and errors[0].startswith(head), (command, result.stderr)
        assert re.fullmatch(SQLITE_REFUSALS, errors[0][len(head) :]), errors[0]

    assert folder_state(project.data) == before
    assert project.rows() == ORIGINAL_ROWS
    assert not project.state.exists() and not own_tables(ddb, prefix)


def test_the_source_connection_itself_refuses_writes(tmp_path: Path) -> None:
    """Behind the query wrapper: the connection the engine reads through cannot write at all."""
    source = make_source(tmp_path / "things.sqlite")
    before = folder_state(tmp_path)
    conn = open_source(source)
    try:
        assert conn.execute("PRAGMA query_only").fetchone() == (1,)
        for statement in (
            "VACUUM",
            "DELETE FROM thing",
            "INSERT INTO audit (what) VALUES ('x')",
            "UPDATE thing SET name = 'x'",
            "DROP TABLE audit",
            "CREATE TABLE extra (a)",
            "PRAGMA user_version = 7",
        ):
            with pytest.raises(sqlite3.OperationalError, match=r"readonly database|query_only"):
                conn.execute(statement)
    finally:
        conn.close()
    assert folder_state(tmp_path) == before
    # not the pragma alone: without query_only the file is still opened read-only
    conn = open_source(source)
    try:
        conn.execute("PRAGMA query_only = OFF")
        with pytest.raises(sqlite3.OperationalError, match="attempt to write a readonly database"):
            conn.execute("DELETE FROM thing")
    finally:
        conn.close()
    assert folder_state(tmp_path) == before


VALIDATION_WRITES = """
aggregate_checks:
  - name: sneaky-aggregate
    sql: DELETE FROM audit RETURNING 1
    item_type: Thing
    fn: count

access_patterns:
  - name: sneaky-params
    params: DELETE FROM thing RETURNING id
    request:
      table: Things
      get: {PK: "THING#{{ id }}", SK: THING}
    sql: SELECT id AS Id FROM thing WHERE id = :id
    compare: {id: Id}
  - name: sneaky-sql
    params: SELECT id FROM thing
    request:
      table: Things
      get: {PK: "THING#{{ id }}", SK: THING}
    sql: UPDATE thing SET name = 'changed' WHERE id = :id RETURNING id AS Id
    compare: {id: Id}
"""


def test_validation_sql_that_tries_to_write_fails_and_the_source_is_unchanged(
    tmp_path: Path, make_config: Any, prefix: str, ddb: Any
) -> None:
    text = mapping(extra=VALIDATION_WRITES)
    project = Project(tmp_path, make_config, prefix, text)
    before = folder_state(project.data)
    report = tmp_path / "report.json"

    result = run_cli(project.config, "migrate")  # migrate, then validate (enable_validation is true)
    assert result.exit_code == 1, result.output
    assert count_items(ddb, project.table) == ROWS
    result = run_cli(project.config, "validate", "--report", str(report))
    assert result.exit_code == 1, result.output
    assert error_lines(result.stderr) == ["error: validation failed: 3 of 7 checks failed"]

    checks = {c["name"]: c for c in json.loads(report.read_text())["checks"]}
    messages = {name: [f["message"] for f in c["failures"]] for name, c in checks.items() if not c["passed"]}
    assert sorted(messages) == ["aggregate:sneaky-aggregate", "pattern:sneaky-params", "pattern:sneaky-sql"]
    assert messages["aggregate:sneaky-aggregate"] == [
        f"{project.mapping_file}:{line_of(text, '- name: sneaky-aggregate')}: SQL does not run: "
        "attempt to write a readonly database"
    ]
    assert messages["pattern:sneaky-params"] == [
        f"{project.mapping_file}:{line_of(text, '- name: sneaky-params')}: params SQL does not run: "
        "attempt to write a readonly database"
    ]
    where = f"{project.mapping_file}:{line_of(text, '- name: sneaky-sql')}"
    assert set(messages["pattern:sneaky-sql"]) == {f"{where}: SQL does not run: attempt to write a readonly database"}

    assert folder_state(project.data) == before
    assert project.rows() == ORIGINAL_ROWS


def test_a_normal_migration_and_validation_leave_the_source_bytes_unchanged(
    tmp_path: Path, make_config: Any, prefix: str, ddb: Any
) -> None:
    project = Project(tmp_path, make_config, prefix, mapping())
    before = folder_state(project.data)
    for command in (("plan", "--samples", "2"), ("migrate", "--dry-run"), ("migrate",), ("validate",), ("info",)):
        result = run_cli(project.config, *command)
        assert result.exit_code == 0, (command, result.output)
        assert folder_state(project.data) == before, command
    assert count_items(ddb, project.table) == ROWS


def test_a_wal_source_with_a_live_writer_is_read_but_not_changed(
    tmp_path: Path, make_config: Any, prefix: str, ddb: Any
) -> None:
    """A WAL database whose latest rows are still only in the -wal file (the writer has not checkpointed)."""
    project = Project(tmp_path, make_config, prefix, mapping(), wal=True)
    writer = sqlite3.connect(project.source)
    try:
        writer.execute("PRAGMA wal_autocheckpoint = 0")
        writer.execute("INSERT INTO thing VALUES (?, ?)", (ROWS + 1, "only in the WAL"))
        writer.commit()
        wal = project.source.with_name(project.source.name + "-wal")
        main_before, wal_before = sha256(project.source), sha256(wal)

        result = run_cli(project.config, "migrate", "--no-validate")
        assert result.exit_code == 0, result.output
        names = {i["Name"]["S"] for i in scan_all(ddb, project.table)}
        assert "only in the WAL" in names and len(names) == ROWS + 1

        assert sha256(project.source) == main_before
        assert sha256(wal) == wal_before, "a reader must not checkpoint or rewrite the WAL"
    finally:
        writer.close()


# ----------------------------------------------------------------------------- templates are sandboxed
ESCAPES = [
    (
        "mro-subclasses-in-a-key",
        {"pk": "{{ ''.__class__.__mro__[1].__subclasses__() }}"},
        "template \"{{ ''.__class__.__mro__[1].__subclasses__() }}\" refused by the sandbox: "
        "access to attribute '__class__' of 'str' object is unsafe.",
    ),
    (
        "globals-through-a-column-value",
        {"name": "{{ name.__class__.__base__.__subclasses__() }}"},
        "template '{{ name.__class__.__base__.__subclasses__() }}' refused by the sandbox: "
        "access to attribute '__class__' of 'str' object is unsafe.",
    ),
    (
        "cycler-globals-popen",
        {"name": "{{ cycler.__init__.__globals__.os.popen('touch PWNED').read() }}"},
        "template \"{{ cycler.__init__.__globals__.os.popen('touch PWNED').read() }}\" refused by the sandbox: "
        "access to attribute '__init__' of 'type' object is unsafe.",
    ),
    (
        "lipsum-globals-system",
        {"pk": "{{ lipsum.__globals__['os'].system('touch PWNED') }}"},
        "template \"{{ lipsum.__globals__['os'].system('touch PWNED') }}\" refused by the sandbox: "
        "access to attribute '__globals__' of 'function' object is unsafe.",
    ),
    (
        "format-string",
        {"name": "{{ '{0.__class__.__mro__}'.format(name) }}"},
        "template \"{{ '{0.__class__.__mro__}'.format(name) }}\" refused by the sandbox: "
        "access to attribute '__class__' of 'str' object is unsafe.",
    ),
    (
        "attr-filter",
        {"name": "{{ (name | attr('__class__')).__mro__ }}"},
        "template \"{{ (name | attr('__class__')).__mro__ }}\" refused by the sandbox: "
        "access to attribute '__class__' of 'str' object is unsafe.",
    ),
    (
        "huge-range",
        {"name": "{{ range(10**9) | list | length }}"},
        "template '{{ range(10**9) | list | length }}': "
        "Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000).",
    ),
]


@pytest.mark.parametrize(("templates", "reason"), [e[1:] for e in ESCAPES], ids=[e[0] for e in ESCAPES])
def test_a_template_escaping_the_sandbox_is_refused_and_nothing_is_written(
    templates: dict[str, str], reason: str, tmp_path: Path, make_config: Any, prefix: str, ddb: Any
) -> None:
    project = Project(tmp_path, make_config, prefix, mapping(**templates))
    result = run_cli(project.config, "migrate", "--no-validate")
    assert result.exit_code == 1, result.output
    assert error_lines(result.stderr) == [f"error: item type Thing, row {{'id': 1}}: {reason}"]
    assert count_items(ddb, project.table) == 0
    assert not (ROOT / "PWNED").exists() and not Path("PWNED").exists()
    thing = json.loads(project.state.read_text())["item_types"]["Thing"]
    assert (thing["status"], thing["cursor"], thing["items_written"]) == ("failed", None, 0)


def test_a_filter_escaping_the_sandbox_is_refused(tmp_path: Path, make_config: Any, prefix: str, ddb: Any) -> None:
    text = mapping().replace(
        "    cursor: [id]\n", '    cursor: [id]\n    filter: "name.__class__.__mro__[1].__subclasses__()"\n'
    )
    project = Project(tmp_path, make_config, prefix, text)
    result = run_cli(project.config, "migrate", "--no-validate")
    assert result.exit_code == 1, result.output
    assert error_lines(result.stderr) == [
        "error: item type Thing, row {'id': 1}: filter: expression 'name.__class__.__mro__[1].__subclasses__()' "
        "refused by the sandbox: access to attribute '__class__' of 'str' object is unsafe."
    ]
    assert count_items(ddb, project.table) == 0


def test_a_sandbox_escape_is_reported_by_plan_samples_and_the_dry_run(
    tmp_path: Path, make_config: Any, prefix: str, ddb: Any
) -> None:
    template = "{{ ''.__class__.__mro__[1].__subclasses__() }}"
    project = Project(tmp_path, make_config, prefix, mapping(pk=template))
    expected = (
        f"item type Thing, row {{'id': 1}}: template \"{template}\" refused by the sandbox: "
        "access to attribute '__class__' of 'str' object is unsafe."
    )
    samples = run_cli(project.config, "plan", "--samples", "1")
    assert samples.exit_code == 1, samples.output
    assert error_lines(samples.stderr) == [f"error: {expected}"]
    dry = run_cli(project.config, "migrate", "--dry-run")
    assert dry.exit_code == 1, dry.output
    text = " ".join(dry.stderr.split())
    assert f"- {expected}" in text
    assert text.count("refused by the sandbox") == ROWS, "every row is reported"
    assert error_lines(dry.stderr) == [f"error: dry run: {ROWS} rows cannot be written as mapped"]
    assert not own_tables(ddb, prefix)


# ----------------------------------------------------------------------------- credentials stay secret
ACCESS_KEY = "AKIASENTINEL0000000"
SECRET_KEY = "sentinel-secret-9f8e7d"
SENTINELS = (ACCESS_KEY, SECRET_KEY)


def test_credentials_never_reach_output_logs_state_or_reports(
    tmp_path: Path, make_config: Any, prefix: str, ddb_url: str, ddb: Any
) -> None:
    # one bad row set aside, so that the rejects file and a warning are written too
    project = Project(tmp_path, make_config, prefix, mapping(pk="{{ name }}"), on_error="skip")
    conn = sqlite3.connect(project.source)
    conn.execute("UPDATE thing SET name = '' WHERE id = 3")
    conn.commit()
    conn.close()
    env = {"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY, "AWS_SESSION_TOKEN": ""}
    reports = tmp_path / "reports"
    init_config = tmp_path / "init" / "migration.json"

    runs = [
        (
            init_config,
            (
                "init",
                "--source-db",
                str(project.source),
                "--mappings",
                str(project.mappings),
                "--endpoint-url",
                ddb_url,
                "--table-prefix",
                prefix,
            ),
            0,
        ),
        (project.config, ("info",), 0),
        (project.config, ("plan", "--samples", "2"), 0),
        (project.config, ("migrate", "--dry-run"), 1),
        (project.config, ("migrate",), 1),  # the validation at the end finds the rejected row missing
        (project.config, ("status",), 0),
        (project.config, ("validate", "--report", str(reports / "validation.md")), 1),
        (project.config, ("validate", "--report", str(reports / "validation.html")), 1),
        (project.config, ("resume", "--force"), 1),
    ]
    outputs = []
    for config, args, code in runs:
        result = run_process(config, "--verbose", *args, env=env, timeout=120)
        assert result.returncode == code, (args, result.stdout[-2000:], result.stderr[-2000:])
        outputs.append((args[0], result.stdout + result.stderr))

    # the runs did what they say, so the files searched below are the real ones
    assert count_items(ddb, project.table) == ROWS - 1
    assert json.loads(init_config.read_text())["target"] == "endpoint"
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    names = {p.name for p in files}
    assert {"migration_state.json", "migration_state.json.bak", "rejects.jsonl", "migration.log"} <= names
    assert {"validation.md", "validation.html", "validation.json"} <= names
    log = next(p for p in files if p.name == "migration.log").read_text()
    assert "rejected item type Thing, row {'id': 3}" in log
    assert any("Traceback" in text for _, text in outputs), "--verbose printed tracebacks"

    for name, text in outputs:
        for sentinel in SENTINELS:
            assert sentinel not in text, f"{sentinel} printed by {name}"
    for path in files:
        data = path.read_bytes()
        for sentinel in SENTINELS:
            assert sentinel.encode() not in data, f"{sentinel} written to {path}"
