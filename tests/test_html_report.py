"""The HTML report, opened in a real headless Chromium: what a person attaching it to a change request sees.

Chinook is migrated once for the module, from a copy whose data is hostile:
track 1 is named ``<script>alert(1)</script>`` and track 2's composer is
``"><img src=x onerror=alert(2)>``. The page must show both as text, run no
script, fetch nothing, and draw the run's time series as SVG.

Chromium is Debian's ``chromium`` package (``make test`` installs it when it
is missing); without it the browser tests are skipped, saying so.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from browser import Browser, chromium_path
from conftest import CHINOOK, run_cli, write_config

from sqlite2ddb.migrate.timeline import FILE_NAME, KEEP_RUNS, read_runs, recording

SCRIPT_NAME = "<script>alert(1)</script>"
IMG_COMPOSER = '"><img src=x onerror=alert(2)>'
TRACK_1 = {"PK": "TRACK#1", "SK": "PROFILE"}
TRACK_2 = {"PK": "TRACK#2", "SK": "PROFILE"}
TABLES = ("MusicCatalog", "CustomerData", "PlaylistData", "EmployeeData")

# every attribute that names a resource, in HTML or SVG (xlink:href too); only in-page fragments are allowed
EXTERNAL_REFERENCES = """
[...document.querySelectorAll('*')].flatMap(e => [...e.attributes]
  .filter(a => /(^|:)(src|href|srcset|action|data|poster)$/i.test(a.name) && !a.value.startsWith('#'))
  .map(a => e.tagName + ' ' + a.name + '=' + a.value))
"""


@dataclass
class Migrated:
    config: Path
    prefix: str
    folder: Path


@pytest.fixture(scope="module")
def migrated(tmp_path_factory: pytest.TempPathFactory, ddb_url: str, ddb: Any) -> Iterator[Migrated]:
    """Hostile Chinook migrated and synced once (so the report has a sync to show)."""
    folder = tmp_path_factory.mktemp("html-report")
    source = folder / "chinook.sqlite"
    shutil.copy(CHINOOK, source)
    with sqlite3.connect(source) as conn:
        conn.execute("UPDATE Track SET Name = ? WHERE TrackId = 1", (SCRIPT_NAME,))
        conn.execute("UPDATE Track SET Composer = ? WHERE TrackId = 2", (IMG_COMPOSER,))
    conn.close()
    prefix = f"h{uuid.uuid4().hex[:8]}_"
    config = write_config(folder / "run", source, ddb_url, prefix, consumed_capacity="always")  # the capacity chart
    for command in ("migrate", "sync"):
        result = run_cli(config, command, "--no-validate")
        assert result.exit_code == 0, result.output
    yield Migrated(config, prefix, folder / "run")
    for name in TABLES:
        ddb.delete_table(TableName=f"{prefix}{name}")


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    executable = chromium_path()
    if executable is None:
        pytest.skip("Debian's chromium is not installed (apt-get install chromium; 'make test' installs it)")
    opened = Browser(executable, tmp_path_factory.mktemp("chromium-profile"))
    yield opened
    opened.close()


def opened(browser: Browser, page: Path) -> dict[str, Any]:
    """Load the report; return what the page shows and did."""
    seen = len(browser.requested_urls())
    browser.load(page.resolve().as_uri())
    return {
        "text": browser.evaluate("document.body.innerText"),  # what shows (closed <details> hidden)
        "content": browser.evaluate("document.body.textContent"),  # every text node, shown or not
        "requests": browser.requested_urls()[seen:],
        "references": browser.evaluate(EXTERNAL_REFERENCES),
        "scripts": browser.evaluate("document.querySelectorAll('script').length"),
        "images": browser.evaluate("document.querySelectorAll('img, [onerror]').length"),
    }


def points(browser: Browser, selector: str) -> list[int]:
    """Per SVG group matching ``selector`` (one per data series or bar): the vertices of its drawn path."""
    query = json.dumps(selector)
    return browser.evaluate(
        f"[...document.querySelectorAll({query})].map(g => "
        "(g.querySelector('path').getAttribute('d').match(/[ML]/g) || []).length)"
    )


def test_report_in_a_browser_shows_every_check_the_banner_and_the_charts(
    migrated: Migrated, browser: Browser, tmp_path: Path
) -> None:
    report = tmp_path / "report.html"
    result = run_cli(migrated.config, "validate", "--report", str(report))
    assert result.exit_code == 0, result.output
    document = json.loads(report.with_suffix(".json").read_text())
    page = opened(browser, report)

    assert "✔ PASS" in page["text"].splitlines()[1]  # the banner under the title
    for check in document["checks"]:
        assert check["name"] in page["text"]
    # nothing leaves the file: the only request is the page itself, and nothing refers to anything else
    assert page["requests"] == [report.resolve().as_uri()]
    assert page["references"] == []
    # hostile source values are text, and nothing ran
    assert SCRIPT_NAME in page["content"] and IMG_COMPOSER in page["content"]  # in the sample items
    assert page["scripts"] == 0 and page["images"] == 0 and browser.dialogs() == []

    # the charts are SVG drawn from the recorded series: one line per table, a vertex per interval
    migrate = document["run"]["migrate"]
    intervals = len(migrate["series"])
    assert intervals >= 2
    lines = points(browser, "#chart-items svg g[id^='data-items-']")
    assert len(lines) == len(TABLES) and set(lines) == {intervals}
    assert points(browser, "#chart-retries svg g[id='data-retries']") == [2 * intervals - 1]  # a step line
    assert len(points(browser, "#chart-durations svg g[id^='data-duration-']")) == len(migrate["item_types"]) == 8
    assert len(points(browser, "#chart-capacity svg g[id^='data-consumed_wcu-']")) == len(TABLES)
    assert (
        len(points(browser, "#chart-sync svg g[id^='data-sync-unchanged-']"))
        == len(document["run"]["sync"]["counts"])
        == 8
    )
    assert "Items written per second, per table" in page["text"] and "Duration of each item type" in page["text"]

    # capacity: what DynamoDB reported consumed, next to the plan's estimate, in JSON and on the page
    capacity = {c["table"]: c for c in document["run"]["capacity"]}
    music = capacity[f"{migrated.prefix}MusicCatalog"]
    assert music["consumed_wcu"] > 0 and music["estimated_wcu"] > 0
    assert music["validate_consumed_rcu"] > 0  # this validation's scan, queries and gets, as DynamoDB reported
    assert "Capacity: consumed against the plan's estimate" in page["text"]
    # sample items as plan renders them
    assert [s["PK"] for s in document["samples"]["Track"]] == ["TRACK#1", "TRACK#2", "TRACK#3"]

    # 'report' renders the same page again from the JSON alone
    again = run_cli(None, "report", str(report.with_suffix(".json")), "-o", str(tmp_path / "again.html"))
    assert again.exit_code == 0, again.output
    assert (tmp_path / "again.html").read_text() == report.read_text()

    shot = browser.screenshot(tmp_path / "report.png")
    assert shot.stat().st_size > 10_000
    if os.environ.get("REPORT_SCREENSHOT"):  # to refresh the README's picture: REPORT_SCREENSHOT=docs/report.png
        from PIL import Image  # installed with matplotlib

        Image.open(shot).convert("RGB").quantize(64).save(os.environ["REPORT_SCREENSHOT"], optimize=True)


def test_report_of_a_damaged_target_shows_both_failures_first_with_keys_paths_and_values(
    migrated: Migrated, browser: Browser, ddb: Any, tmp_path: Path
) -> None:
    table = f"{migrated.prefix}MusicCatalog"
    key1, key2 = ({k: {"S": v} for k, v in key.items()} for key in (TRACK_1, TRACK_2))
    original1 = ddb.get_item(TableName=table, Key=key1)["Item"]
    original2 = ddb.get_item(TableName=table, Key=key2)["Item"]
    ddb.delete_item(TableName=table, Key=key1)
    ddb.put_item(TableName=table, Item={**original2, "Composer": {"S": "Somebody Else"}})
    report = tmp_path / "damaged.html"
    try:
        result = run_cli(
            migrated.config, "validate", "-t", "music_catalog", "--check", "count:", "--check", "items:", "--report",
            str(report),
        )  # fmt: skip
    finally:
        ddb.put_item(TableName=table, Item=original1)
        ddb.put_item(TableName=table, Item=original2)
    assert result.exit_code == 1, result.output
    page = opened(browser, report)
    assert page["text"].splitlines()[1].startswith("✘ FAIL")

    rows = browser.evaluate(
        "[...document.querySelectorAll('#checks > tbody > tr:not(.failure-list)')].map(r => r.innerText)"
    )
    marks = [row.split("\t")[0].strip() for row in rows]
    failing = marks.count("✘ FAIL")
    assert failing == 3 and marks[:failing] == ["✘ FAIL"] * 3  # count:Track, count:music_catalog, items:...
    assert "items:music_catalog" in rows[failing - 1] or any("items:music_catalog" in r for r in rows[:failing])

    failures = browser.evaluate(
        "[...document.querySelectorAll('table.failures tbody tr')].map(r => [...r.cells].map(c => c.innerText))"
    )
    missing = [f for f in failures if f[0] == "missing"]
    differs = [f for f in failures if f[0] == "differs"]
    assert missing and json.loads(missing[0][1]) == TRACK_1
    assert differs and json.loads(differs[0][1]) == TRACK_2 and differs[0][2] == "Composer"
    assert json.loads(differs[0][4]) == IMG_COMPOSER and json.loads(differs[0][5]) == "Somebody Else"
    # the failure details come before the first passing check
    text = page["text"]
    assert text.index("TRACK#1") < text.index("✔ pass") and text.index("Somebody Else") < text.index("✔ pass")
    assert page["scripts"] == 0 and page["images"] == 0 and browser.dialogs() == []
    browser.screenshot(tmp_path / "damaged.png")


def test_the_browser_harness_sees_requests_and_dialogs(browser: Browser, tmp_path: Path) -> None:
    """The checks above can fail: a page that fetches and alerts is caught by the same harness."""
    page = tmp_path / "bad.html"
    page.write_text('<!doctype html><img src="http://127.0.0.1:9/x.png"><script>alert("ran")</script>')
    before = len(browser.dialogs())
    seen = opened(browser, page)
    assert "http://127.0.0.1:9/x.png" in seen["requests"]
    assert seen["references"] == ["IMG src=http://127.0.0.1:9/x.png"]
    assert browser.dialogs()[before:] == ["ran"]


def test_time_series_is_bounded_by_the_runs_duration(migrated: Migrated) -> None:
    """One line per second at most (plus one per item type, start, end, counts), whatever the item count."""
    lines = [json.loads(t) for t in (migrated.folder / "state" / FILE_NAME).read_text().splitlines()]
    runs = {line["run"] for line in lines}
    assert len(runs) == 2  # migrate and sync
    for run in runs:
        mine = [line for line in lines if line["run"] == run]
        seconds = mine[-1]["t"]
        ticks = [line for line in mine if line["event"] == "tick"]
        assert len(ticks) <= seconds + 2
        assert len(mine) - len(ticks) <= 8 + 3
    written = sum(
        e.get("items", 0) for line in lines if line["event"] == "tick" for e in line.get("tables", {}).values()
    )
    assert written >= 13337  # migrate's items, all counted in the series


def test_time_series_keeps_the_last_runs_only(tmp_path: Path) -> None:
    """Migrating again and again does not grow the file without end: the last KEEP_RUNS runs stay."""
    for n in range(KEEP_RUNS + 3):
        with recording(tmp_path, "migrate") as timeline:
            timeline.acknowledged("things", items=n + 1, wcu=n + 1)
    runs = read_runs(tmp_path)
    assert len(runs) == KEEP_RUNS
    # the newest runs, whole: start, the final tick with the items acknowledged, end
    items = [sum(t.get("items", 0) for line in run for t in line.get("tables", {}).values()) for run in runs]
    assert items == list(range(4, KEEP_RUNS + 4))
    assert all(run[0]["event"] == "start" and run[-1]["event"] == "end" for run in runs)
