"""The HTML report: one self-contained page from a Jinja template (autoescaped), with matplotlib SVG charts.

Everything the page shows comes from the JSON document of the validation
(``ValidationResult.to_json``), so the HTML says nothing the JSON does not.
Values from the source (keys, attribute values, sample items) are escaped by
the template; only the charts, SVG that matplotlib drew from numbers and
table/item type names (which it escapes itself), are inserted as markup.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

import sqlite2ddb.validate.charts as charts
from sqlite2ddb.canonical import jsonable, short
from sqlite2ddb.outputs import VALIDATION_REPORT, marker
from sqlite2ddb.validate.results import status_of

TEMPLATES = Path(__file__).parent / "templates"


def render_html(doc: dict[str, Any]) -> str:
    """The report page for one validation document."""
    environment = Environment(
        loader=FileSystemLoader(TEMPLATES), autoescape=True, undefined=StrictUndefined, keep_trailing_newline=True
    )
    environment.filters["short"] = lambda value, limit=300: short(value, limit)
    environment.filters["as_json"] = lambda value, indent=None: json.dumps(
        value, default=jsonable, ensure_ascii=False, indent=indent
    )
    # a report written before these fields existed renders too
    doc = {"run": None, "samples": {}, "tool_version": "", **doc}
    doc["target"] = {"region": None, "tables": [], **doc["target"]}
    order = {"fail": 0, "empty": 1, "pass": 2}  # failures first, then checks that compared nothing, else in run order
    checks = sorted(
        ({"available": None, **c, "status": status_of(c)} for c in doc["checks"]), key=lambda c: order[c["status"]]
    )
    doc["summary"] = {"empty": 0, **doc["summary"]}
    return environment.get_template("report.html.j2").render(
        doc=doc,
        checks=checks,
        charts=_charts(doc.get("run") or {}),
        samples=doc.get("samples") or {},
        generator=marker(VALIDATION_REPORT),
    )


def _charts(record: dict[str, Any]) -> dict[str, Markup | None]:
    """Each chart as markup (None where there is nothing to draw)."""
    migrate, sync = record.get("migrate"), record.get("sync")
    drawn: dict[str, str | None] = {
        "items_per_second": charts.items_per_second(migrate) if migrate else None,
        "retries": charts.retries_and_throttles(migrate) if migrate else None,
        "durations": charts.durations(migrate) if migrate else None,
        "capacity": charts.capacity(record.get("capacity") or []),
        "sync_items_per_second": charts.items_per_second(sync) if sync else None,
        "sync_counts": charts.sync_counts(sync.get("counts") or []) if sync else None,
    }
    return {name: Markup(svg) if svg else None for name, svg in drawn.items()}
