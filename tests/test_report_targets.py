"""Issue 24, case 2: a report never replaces a file the tool did not write.

``validate --report X.md`` writes ``X.json`` beside it; before the validation
runs, every file the command will write is checked: the configuration, the
state folder, the mapping files, the source and the command's own input are
never targets, an existing file is replaced only when it carries the report's
marker, and a folder or a read-only place is refused. Each refusal is exit 2,
one line naming the file, and the file is byte-identical afterwards.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import error_lines, run_cli, write_config

from sqlite2ddb.outputs import TOOL


class Project:
    def __init__(self, folder: Path, config: Path, source: Path, mappings: Path) -> None:
        self.folder, self.config, self.source, self.mappings = folder, config, source, mappings
        self.state_file = folder / "run" / "state" / "migration_state.json"


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, ddb_url: str) -> Project:
    """The songs-and-plays set, migrated once (the refusals below need a real state file to protect)."""
    from songs_and_plays import MAPPING, make_source

    folder = tmp_path_factory.mktemp("targets")
    source = make_source(folder / "music.sqlite", bad=False)
    mappings = folder / "mappings"
    mappings.mkdir()
    (mappings / "music.yaml").write_text(MAPPING)
    config = write_config(folder / "run", source, ddb_url, f"t{uuid.uuid4().hex[:8]}_", mappings)
    migrated = run_cli(config, "migrate", "--no-validate")
    assert migrated.exit_code == 0, migrated.output
    return Project(folder, config, source, mappings)


def _refused(project: Project, protected: Path, *args: str, command: str = "validate") -> Any:
    """Run the command; assert exit 2, one error line naming ``protected``, the file unchanged, no work done."""
    before = protected.read_bytes() if protected.is_file() else None
    result = run_cli(project.config, command, *args)
    assert result.exit_code == 2, result.output
    errors = error_lines(result.stderr)
    assert len(errors) == 1, result.stderr
    assert str(protected) in errors[0], errors
    assert "Traceback" not in result.stderr
    assert " passed, " not in result.stdout  # refused before the validation ran
    if before is not None:
        assert protected.read_bytes() == before
    return errors[0]


CASES: dict[str, Callable[[Project], tuple[Path, str]]] = {
    # the configuration, through the JSON copy beside a Markdown report (the case)
    "config": lambda p: (p.config, str(p.config.with_suffix(".md"))),
    "state file": lambda p: (p.state_file, str(p.state_file)),
    "mapping file": lambda p: (p.mappings / "music.yaml", str(p.mappings / "music.yaml")),
    "source": lambda p: (p.source, str(p.source)),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_report_never_replaces_the_tools_own_inputs(project: Project, case: str) -> None:
    protected, report = CASES[case](project)
    line = _refused(project, protected, "--report", report)
    assert "a validation report is never written there" in line


def test_a_file_without_the_marker_is_refused_before_the_validation(project: Project, tmp_path: Path) -> None:
    notes = tmp_path / "notes.md"
    notes.write_text("# my notes\n\nhours of work\n")
    assert "was not written by" in _refused(project, notes, "--report", str(notes))
    # the JSON the report writes beside a page is checked too
    foreign = tmp_path / "results.json"
    foreign.write_text('{"mine": true}\n')
    assert "was not written by" in _refused(project, foreign, "--report", str(tmp_path / "results.html"))
    assert not (tmp_path / "results.html").exists()


def test_a_folder_or_a_read_only_place_is_refused(project: Project, tmp_path: Path) -> None:
    folder = tmp_path / "page.html"
    folder.mkdir()
    assert "a folder" in _refused(project, folder, "--report", str(folder))
    # a report of the tool's own, but read-only
    ours = tmp_path / "ours.md"
    ours.write_text(f"<!-- generator: {TOOL} validation report -->\n# old\n")
    ours.chmod(0o444)
    assert "read-only" in _refused(project, ours, "--report", str(ours))
    # a folder that cannot be written, and one that cannot exist (under a file)
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        assert "not writable" in _refused(project, locked, "--report", str(locked / "r.md"))
    finally:
        locked.chmod(0o755)
    assert not (locked / "r.json").exists()
    plain = tmp_path / "plain.txt"
    plain.write_text("text\n")
    assert "is not a folder" in _refused(project, plain, "--report", str(plain / "r.md"))


def test_a_report_of_its_own_kind_is_replaced(project: Project, tmp_path: Path) -> None:
    page = tmp_path / "new" / "report.md"  # a missing folder is created
    for _ in range(2):
        result = run_cli(project.config, "validate", "--check", "count:", "--report", str(page))
        assert result.exit_code == 0, result.output
    assert page.read_text().splitlines()[0] == f"<!-- generator: {TOOL} validation report -->"
    document = json.loads(page.with_suffix(".json").read_text())
    assert next(iter(document)) == "generator"
    assert document["result"] == "pass"
    html = tmp_path / "new" / "report.html"
    for _ in range(2):
        rendered = run_cli(None, "report", str(page.with_suffix(".json")), "-o", str(html))
        assert rendered.exit_code == 0, rendered.output
    assert f'<meta name="generator" content="{TOOL} validation report">' in html.read_text()
    # a Markdown report is not an HTML report: the kinds do not replace each other
    before = page.read_bytes()
    refused = run_cli(None, "report", str(page.with_suffix(".json")), "-o", str(page))
    assert refused.exit_code == 2 and page.read_bytes() == before


def test_report_never_renders_over_its_own_input(project: Project, tmp_path: Path) -> None:
    report = tmp_path / "r.json"
    assert run_cli(project.config, "validate", "--check", "count:", "--report", str(report)).exit_code == 0
    before = report.read_bytes()
    result = run_cli(None, "report", str(report), "-o", str(report))
    assert result.exit_code == 2, result.output
    errors = error_lines(result.stderr)
    assert len(errors) == 1 and str(report) in errors[0] and "input file" in errors[0], errors
    assert report.read_bytes() == before


def test_plan_and_model_files_never_replace_what_the_tool_did_not_write(project: Project, tmp_path: Path) -> None:
    _refused(project, project.config, "--out", str(project.config), command="plan")
    foreign = tmp_path / "plan.json"
    foreign.write_text('{"version": 1, "kind": "migrate"}\n')
    _refused(project, foreign, "--out", str(foreign), command="plan")
    _refused(
        project, project.config, "--format", "cloudformation", "--out", str(project.config), command="export-model"
    )
    model = tmp_path / "model.json"
    for _ in range(2):
        result = run_cli(project.config, "export-model", "--format", "cloudformation", "--out", str(model))
        assert result.exit_code == 0, result.output
    assert os.path.getsize(model) > 0
