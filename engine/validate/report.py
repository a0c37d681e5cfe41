"""Validation reports on disk: JSON, Markdown, HTML."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlite2ddb import outputs
from sqlite2ddb.canonical import jsonable, short
from sqlite2ddb.errors import UsageError
from sqlite2ddb.outputs import (
    VALIDATION_REPORT,
    Output,
    Protected,
    json_marker,
    markdown_marker,
    protected,
    write,
)
from sqlite2ddb.validate.html import render_html
from sqlite2ddb.validate.results import ValidationResult, status_of


def report_outputs(path: str | Path) -> list[Output]:
    """The files ``validate --report path`` writes: the one named, and the JSON report beside a .md or .html."""
    target = Path(path)
    if target.suffix == ".json":
        return [Output(target, VALIDATION_REPORT, "json")]
    form = "html" if target.suffix == ".html" else "markdown"
    return [Output(target, VALIDATION_REPORT, form), Output(target.with_suffix(".json"), VALIDATION_REPORT, "json")]


def check_report(path: str | Path, guard: Protected) -> None:
    """Before the validation runs: refuse a report that would replace a file the tool did not write."""
    outputs.check(report_outputs(path), guard)


def write_reports(result: ValidationResult, path: str, guard: Protected) -> list[Path]:
    """Write the report named by ``path`` (.json, .md or .html); a JSON copy goes beside a .md/.html."""
    document = result.to_json()
    written = []
    for output in report_outputs(path):
        if output.form == "json":
            text = json.dumps({**json_marker(VALIDATION_REPORT), **document}, indent=2, default=jsonable)
        elif output.form == "html":
            text = render_html(document)
        else:
            text = _markdown(document)
        written.append(write(output, text, guard))
    return written


def render_saved(json_path: Path, html_path: Path) -> Path:
    """The HTML page of a JSON report written earlier (its ``run`` and ``samples`` included)."""
    output = Output(html_path, VALIDATION_REPORT, "html")
    guard = protected(inputs=[json_path])
    outputs.check([output], guard)
    try:
        document = json.loads(json_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UsageError(f"{json_path}: cannot read a JSON report: {exc}") from None
    if not isinstance(document, dict) or not {"result", "checks", "source", "mapping", "target"} <= document.keys():
        raise UsageError(f"{json_path}: not a validation report (written by 'validate --report x.json')")
    return write(output, render_html(document), guard)


def _markdown(doc: dict[str, Any]) -> str:
    empty = doc["summary"].get("empty", 0)
    lines = [
        markdown_marker(VALIDATION_REPORT),
        "# Migration validation report",
        "",
        f"**Result: {doc['result'].upper()}**: {doc['summary']['passed']} of {doc['summary']['checks']} checks passed"
        + (f", {empty} empty (compared nothing)" if empty else "")
        + f" ({doc['mode']} comparison, {doc['seconds']} s).",
        "",
        "| | |",
        "|---|---|",
        f"| Started | {doc['started_at']} |",
        f"| Finished | {doc['finished_at']} |",
        f"| Source | `{doc['source']['path']}`, {doc['source']['size']} bytes, SHA-256 `{doc['source']['sha256']}` |",
        f"| Mapping set | `{doc['mapping']['path']}`, digest `{doc['mapping']['digest']}` |",
        f"| Target | {doc['target']['endpoint']}, table prefix `{doc['target']['table_prefix']}` |",
        "",
        "Mapping files:",
        "",
        *[f"- `{f['file']}` SHA-256 `{f['sha256']}`" for f in doc["mapping"]["files"]],
        "",
        "## Checks",
        "",
        "| Check | Result | Compared | Summary |",
        "|---|---|---|---|",
    ]
    for check in doc["checks"]:
        mark = {"pass": "pass", "empty": "*empty*", "fail": "**FAIL**"}[status_of(check)]
        compared = _compared(check)
        lines.append(f"| `{check['name']}` | {mark} | {compared} | {check['summary'].replace('|', '/')} |")
    failed = [c for c in doc["checks"] if status_of(c) == "fail"]
    if failed:
        lines += ["", "## Failures", ""]
        for check in failed:
            lines += _failure_lines(check)
    lines += _run_lines(doc.get("run") or {})
    return "\n".join(lines) + "\n"


def _run_lines(record: dict[str, Any]) -> list[str]:
    """The last migrate's and sync's timings, the time series in figures, and capacity against the estimate."""
    lines: list[str] = []
    for command in ("migrate", "sync"):
        run = record.get(command)
        if not run:
            continue
        lines += [
            "",
            f"## Last {command} run",
            "",
            f"{run['started_at']} to {run['finished_at'] or '?'}, {run['status']}, {run['seconds']} s; "
            f"{len(run['series'])} intervals recorded, peak {run['peak_items_per_s']} items/s, "
            f"{run['retries']} retries, {run['throttles']} throttled requests.",
            "",
            "| Item type | Table | Status | Items | Seconds |",
            "|---|---|---|---|---|",
            *[
                f"| {i['name']} | `{i['table']}` | {i['status']} | {i['items']} | {i['seconds']} |"
                for i in run["item_types"]
            ],
        ]
        if run.get("counts"):
            lines += ["", "| Item type | New | Updated | Deleted | Unchanged | Errors |", "|---|---|---|---|---|---|"]
            lines += [
                f"| {c['item_type']} | {c['new']} | {c['updated']} | {c['deleted']} | {c['unchanged']} | {c['errors']} |"
                for c in run["counts"]
            ]
    if record.get("capacity"):
        lines += [
            "",
            "## Capacity: consumed against the plan's estimate",
            "",
            "| Table | Estimated WCU | Counted WCU | Consumed WCU | Read units of this validation |",
            "|---|---|---|---|---|",
            *[
                f"| `{c['table']}` | {c['estimated_wcu']} | {_dash(c['counted_wcu'])} | {_dash(c['consumed_wcu'])} "
                f"| {_dash(c.get('validate_consumed_rcu'))} |"
                for c in record["capacity"]
            ],
        ]
    return lines


def _compared(check: dict[str, Any]) -> str:
    """``500 of 6,819`` for a sampled check, else the number compared."""
    available = check.get("available")
    return str(check["compared"]) if available is None else f"{check['compared']:,} of {available:,}"


def _dash(value: Any) -> Any:
    return "-" if value is None else value


def _failure_lines(check: dict[str, Any]) -> list[str]:
    lines = [f"### `{check['name']}` ({check['failure_count']} failures)", ""]
    for failure in check["failures"]:
        where = f" key `{json.dumps(failure['key'], default=jsonable)}`" if failure["key"] is not None else ""
        path = f" at `{failure['path']}`" if failure["path"] else ""
        values = ""
        if failure["expected"] is not None or failure["actual"] is not None:
            values = f": expected `{short(failure['expected'], 200)}`, found `{short(failure['actual'], 200)}`"
        lines.append(f"- {failure['kind']}{where}{path}: {failure['message']}{values}")
    if check["failure_count"] > len(check["failures"]):
        lines.append(f"- ... and {check['failure_count'] - len(check['failures'])} more (see the JSON report)")
    lines.append("")
    return lines
