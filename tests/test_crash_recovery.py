"""Crash recovery: a real SIGKILL at named crash points, and SIGTERM/SIGINT, then resume.

``engine/faults.py`` makes the process SIGKILL itself the n-th time it reaches
a crash point when ``SQLITE2DDB_KILL_AT=<point>:<n>`` is set. Each case runs
``python cli.py migrate`` in a subprocess until the kill (exit -9), reads the
checkpoint the kill left (the state file, or its ``.bak`` when the kill came
between moving the old state aside and renaming the new one in), counts what
DynamoDB Local holds per item type, runs ``resume``, and proves with
``validate --check items: --check count:`` that nothing is missing, nothing is
extra and nothing differs. It also checks that the work a crash costs is
bounded: every checkpointed item is in DynamoDB, and at most
``workers x WINDOW_PER_WORKER x batch_size`` items per item type were written
past the checkpoint (they are what the resume writes a second time).

Besides: a resume that is itself killed keeps its progress and the next resume
completes; SIGTERM and SIGINT finish the batches in flight, save the
checkpoint and exit 143/130 with the resume hint; and a slow batch followed by
a crash (through tests/faultproxy.py) must not cost more than the batches in
flight.

Time budget: by default a sample of 9 kill points runs, covering every kind
of point at least once, on ``-t customer_data -t employee_data`` (59 Customer
+ 412 Invoice items with their lines embedded, 8 Employee items) with
``batch_size`` 10: 4-10 s a case, about a minute and a half for the file;
one more on ``playlist_data``, whose 8,715 PlaylistTrack rows are written as
four cursor ranges, each with its own checkpoint.
Set ``CRASH_SUITE=full`` to run all 24 cases, including ``playlist_data``
(8,733 items) for the points that need hundreds of batches and the whole
Chinook set for ``table_created:3`` and ``after_checkpoint:500`` (about 5
minutes on 2 cores)::

    CRASH_SUITE=full python -m pytest tests/test_crash_recovery.py
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import botocore.exceptions
import pytest
from conftest import ROOT, run_cli, run_process, table_rows
from faultproxy import FaultProxy

from sqlite2ddb.dynamodb.writer import WINDOW_PER_WORKER

KILL_AT = "SQLITE2DDB_KILL_AT"
FULL = os.environ.get("CRASH_SUITE", "").lower() == "full"
WORKERS = 4
WINDOW = WORKERS * WINDOW_PER_WORKER  # batches a writer may have past its checkpoint

# config name -> (logical table name, its item types and how many items each writes)
TABLES: dict[str, tuple[str, dict[str, int]]] = {
    "music_catalog": ("MusicCatalog", {"Artist": 275, "Album": 347, "Track": 3503}),
    "customer_data": ("CustomerData", {"Customer": 59, "Invoice": 412}),
    "playlist_data": ("PlaylistData", {"Playlist": 18, "PlaylistTrack": 8715}),
    "employee_data": ("EmployeeData", {"Employee": 8}),
}
CE = ("customer_data", "employee_data")
PL = ("playlist_data",)
EVERYTHING = tuple(TABLES)

# (point, n, tables, batch size, in the default sample)
CASES: list[tuple[str, int, tuple[str, ...], int, bool]] = [
    ("table_created", 1, CE, 10, True),
    ("table_created", 2, CE, 10, False),
    ("table_created", 3, EVERYTHING, 25, False),
    ("before_write", 1, CE, 10, False),
    ("before_write", 40, CE, 10, True),
    ("before_write", 500, PL, 10, False),
    ("after_write", 1, CE, 10, False),
    ("after_write", 7, CE, 10, True),
    ("after_write", 33, CE, 10, True),
    ("after_write", 150, PL, 10, False),
    ("after_write", 600, PL, 10, False),
    ("after_checkpoint", 1, CE, 10, False),
    ("after_checkpoint", 2, CE, 10, True),
    ("after_checkpoint", 40, CE, 10, False),
    ("after_checkpoint", 60, PL, 10, True),  # PlaylistTrack is written as cursor ranges
    ("after_checkpoint", 300, PL, 10, False),
    ("after_checkpoint", 500, EVERYTHING, 25, False),
    ("state_temp_written", 1, CE, 10, False),
    ("state_temp_written", 5, CE, 10, True),
    ("state_temp_written", 90, PL, 10, False),
    ("state_backup_moved", 1, CE, 10, False),
    ("state_backup_moved", 4, CE, 10, True),
    ("state_backup_moved", 45, CE, 10, True),
    ("state_backup_moved", 70, PL, 10, False),
    # the default commit interval (one save covers the batches acknowledged in the last 250 ms)
    ("state_temp_written", 2, CE, 10, True),
    ("state_backup_moved", 3, PL, 10, True),
]
#: A kill at the n-th checkpoint save, n past the saves a run at the default interval makes, runs with every
#: acknowledged batch saved (the interval at 0), so that the kill lands where the case says.
SAVE_POINTS = ("state_temp_written", "state_backup_moved")
SELECTED = [c for c in CASES if FULL or c[4]]


@pytest.fixture(autouse=True)
def wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "500")


# ----------------------------------------------------------------------------- helpers
def set_batch_size(config: Path, size: int, commit_interval_ms: int | None = None) -> None:
    """The batch size; and the commit interval, for kills that count checkpoint saves (0: every batch saves)."""
    data = json.loads(config.read_text())
    data["batch_size"] = size
    if commit_interval_ms is not None:
        data.setdefault("migration_settings", {})["commit_interval_ms"] = commit_interval_ms
    config.write_text(json.dumps(data, indent=2))


def state_path(config: Path) -> Path:
    return Path(json.loads(config.read_text())["migration_settings"]["state_file"])


def backup_path(state: Path) -> Path:
    return state.with_name(state.name + ".bak")


def checkpoint_left(state: Path) -> tuple[dict[str, Any], str]:
    """The checkpoint a resume starts from: the state file, else its backup, else nothing."""
    for path in (state, backup_path(state)):
        try:
            return json.loads(path.read_text()).get("item_types", {}), path.name
        except (FileNotFoundError, json.JSONDecodeError):
            continue
    return {}, "none"


def entity_counts(ddb: Any, prefix: str, tables: tuple[str, ...]) -> Counter[str]:
    """Items in DynamoDB per item type (by the Entity marker); tables not created yet count nothing."""
    counts: Counter[str] = Counter()
    for config_name in tables:
        kwargs: dict[str, Any] = {
            "TableName": f"{prefix}{TABLES[config_name][0]}",
            "ProjectionExpression": "#e",
            "ExpressionAttributeNames": {"#e": "Entity"},
            "ConsistentRead": True,
        }
        try:
            while True:
                page = ddb.scan(**kwargs)
                counts.update(item["Entity"]["S"] for item in page["Items"])
                if "LastEvaluatedKey" not in page:
                    break
                kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        except botocore.exceptions.ClientError as exc:
            if exc.response["Error"]["Code"] != "ResourceNotFoundException":
                raise
    return counts


def table_args(tables: tuple[str, ...]) -> list[str]:
    return [arg for table in tables for arg in ("-t", table)]


def totals(tables: tuple[str, ...]) -> dict[str, int]:
    return {name: n for table in tables for name, n in TABLES[table][1].items()}


def assert_validates(config: Path, tables: tuple[str, ...]) -> None:
    """Nothing missing, nothing extra, nothing different, counts right: per table, item by item."""
    for table in tables:
        result = run_cli(config, "validate", "-t", table, "--check", "items:", "--check", "count:")
        assert result.exit_code == 0, result.output
        assert "0 failed" in result.output, result.output


def resume_writes(output: str, names: dict[str, int]) -> dict[str, int]:
    """Items the resume wrote per item type, from its summary (a skipped item type wrote none)."""
    rows = table_rows(output)
    out = {}
    for name in names:
        assert name in rows, output
        out[name] = 0 if rows[name][2] == "skipped" else int(rows[name][3])
        assert rows[name][2] in ("done", "skipped"), rows[name]
    return out


# ----------------------------------------------------------------------------- SIGKILL at crash points
def kill_and_inspect(
    config: Path, command: str, tables: tuple[str, ...], kill_at: str, batch_size: int, ddb: Any, prefix: str
) -> tuple[dict[str, Any], str, Counter[str]]:
    """Run ``command`` until the crash point kills it; check what the kill left.

    Returns the checkpoint a resume will start from, the file it comes from, and
    the items DynamoDB holds per item type.
    """
    state = state_path(config)
    selection = table_args(tables) if tables != EVERYTHING else []
    killed = run_process(config, command, "--no-validate", *selection, env={KILL_AT: kill_at})
    assert killed.returncode == -signal.SIGKILL, (killed.returncode, killed.stdout[-2000:], killed.stderr[-2000:])
    if kill_at.startswith("state_backup_moved:"):
        # killed between moving the old state aside and renaming the new one in
        assert not state.exists() and backup_path(state).exists()
    checkpoint, source = checkpoint_left(state)
    present = entity_counts(ddb, prefix, tables)
    for name, total in totals(tables).items():
        entry = checkpoint.get(name) or {"items_written": 0, "status": "pending"}
        done = entry["items_written"]
        # every item the checkpoint counts is in DynamoDB; a done item type is complete
        assert present[name] >= done, (name, present[name], entry, source)
        if entry["status"] == "done":
            assert present[name] == done == total, (name, present[name], entry)
        # what was written past the checkpoint (and will be written again) is bounded
        assert present[name] - done <= WINDOW * batch_size, (name, present[name], entry, source)
    return checkpoint, source, present


def checkpointed(checkpoint: dict[str, Any], name: str) -> int:
    return int((checkpoint.get(name) or {}).get("items_written", 0))


def resume_and_check(
    config: Path, tables: tuple[str, ...], checkpoint: dict[str, Any], batch_size: int, from_backup: bool
) -> None:
    """resume exits 0, writes what the checkpoint lacks (once), and every item validates."""
    selection = table_args(tables) if tables != EVERYTHING else []
    expected = totals(tables)
    resumed = run_process(config, "resume", "--no-validate", *selection)
    assert resumed.returncode == 0, (resumed.stdout[-3000:], resumed.stderr[-3000:])
    if from_backup:
        assert "using the backup" in resumed.stderr, resumed.stderr
    else:
        assert "using the backup" not in resumed.stderr, resumed.stderr

    written = resume_writes(resumed.stdout, expected)
    for name, total in expected.items():
        done = checkpointed(checkpoint, name)
        # the resume continues after the checkpoint: it writes the rest, once
        assert written[name] == total - done, (name, written[name], total, done)
        assert written[name] <= (total - done) + WINDOW * batch_size
    state = state_path(config)
    final = json.loads(state.read_text())["item_types"]
    assert all(final[name]["status"] == "done" for name in expected), final
    # a temp file the killed run left behind is cleared, not left to pile up
    assert not list(state.parent.glob("*.tmp")), sorted(state.parent.iterdir())
    assert all(final[name]["items_written"] == total for name, total in expected.items()), final
    assert_validates(config, tables)


@pytest.mark.parametrize(
    ("point", "n", "tables", "batch_size"),
    [pytest.param(p, n, t, b, id=f"{p}:{n}-{'+'.join(t) if t != EVERYTHING else 'all'}") for p, n, t, b, _ in SELECTED],
)
def test_sigkill_at_a_crash_point_then_resume_loses_nothing_and_rewrites_little(
    point: str, n: int, tables: tuple[str, ...], batch_size: int, make_config: Any, ddb: Any, prefix: str
) -> None:
    config = make_config(workers=WORKERS)
    set_batch_size(config, batch_size, 0 if point in SAVE_POINTS and n > 3 else None)
    checkpoint, source, present = kill_and_inspect(config, "migrate", tables, f"{point}:{n}", batch_size, ddb, prefix)
    resume_and_check(config, tables, checkpoint, batch_size, from_backup=source.endswith(".bak"))
    # a kill between rotating the backup and renaming the new file must recover from the .bak;
    # at other points another table's writer thread may be mid-save when the kill lands, so
    # the .bak may be used there too (what matters is that resume_and_check passed)
    if point == "state_backup_moved":
        assert source.endswith(".bak")
    done = sum(checkpointed(checkpoint, name) for name in totals(tables))
    print(
        f"{point}:{n}: checkpoint from {source}, {done} items checkpointed, "
        f"{sum(present.values())} in DynamoDB at the kill, {sum(present.values()) - done} written again, 0 lost"
    )


def test_a_resume_killed_in_turn_keeps_its_progress_and_the_next_resume_completes(
    make_config: Any, ddb: Any, prefix: str
) -> None:
    config = make_config(workers=WORKERS)
    set_batch_size(config, 10, 0)
    first, _, _ = kill_and_inspect(config, "migrate", CE, "after_write:20", 10, ddb, prefix)
    second, source, _ = kill_and_inspect(config, "resume", CE, "state_backup_moved:6", 10, ddb, prefix)
    assert source.endswith(".bak")
    # the killed resume lost none of the progress checkpointed before it
    for name in totals(CE):
        assert checkpointed(second, name) >= checkpointed(first, name), (name, first.get(name), second.get(name))
    resume_and_check(config, CE, second, 10, from_backup=True)


# ----------------------------------------------------------------------------- SIGTERM / SIGINT
def wait_for_progress(process: subprocess.Popen[str], state: Path, item_type: str, timeout: float = 120) -> int:
    """Poll the state file until ``item_type`` has a checkpoint; its items_written."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, "the migration ended before it could be interrupted"
        try:
            entry = json.loads(state.read_text())["item_types"].get(item_type) or {}
        except (FileNotFoundError, json.JSONDecodeError):
            entry = {}
        if entry.get("items_written", 0) > 0:
            return int(entry["items_written"])
        time.sleep(0.02)
    raise AssertionError(f"no checkpoint for {item_type} after {timeout}s")


@pytest.mark.parametrize(("signum", "exit_code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)], ids=["TERM", "INT"])
def test_signal_checkpoints_and_exits_then_resume_completes(
    signum: int, exit_code: int, make_config: Any, ddb: Any, prefix: str, tmp_path: Path
) -> None:
    # at most 600 write units a second, PlaylistTrack takes about 15 s: the signal lands mid-run even on a
    # loaded machine (four cursor ranges write it in 5 s otherwise, and a late signal finds it done)
    config = make_config(workers=WORKERS, max_wcu=600)
    state = state_path(config)
    expected = totals(PL)
    command = [sys.executable, str(ROOT / "cli.py"), "-c", str(config), "migrate", "--no-validate", *table_args(PL)]
    out, err = tmp_path / "stdout.txt", tmp_path / "stderr.txt"
    with open(out, "w") as stdout, open(err, "w") as stderr:
        process = subprocess.Popen(command, cwd=ROOT, stdout=stdout, stderr=stderr, text=True)
        try:
            wait_for_progress(process, state, "PlaylistTrack")
            process.send_signal(signum)
            returncode = process.wait(timeout=120)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    messages = " ".join(err.read_text().split())
    assert returncode == exit_code, (returncode, messages[-3000:])
    assert "saving the checkpoint" in messages
    assert "the checkpoint is saved; run 'cli.py resume' to continue" in messages, messages[-3000:]
    assert f"interrupted by signal {int(signum)}" in messages
    assert "Traceback" not in messages

    entry = json.loads(state.read_text())["item_types"]["PlaylistTrack"]
    assert entry["status"] == "failed" and entry["error"] == "interrupted", entry
    checkpointed = entry["items_written"]
    assert 0 < checkpointed < expected["PlaylistTrack"], entry
    # a large item type is written in cursor ranges, each with its own checkpoint
    assert entry["cursor"] is not None or any(r["cursor"] for r in entry["ranges"]), entry
    # the batches in flight were finished and checkpointed: DynamoDB holds exactly the checkpoint
    assert entity_counts(ddb, prefix, PL)["PlaylistTrack"] == checkpointed

    status = run_cli(config, "status")
    assert status.exit_code == 0, status.output
    row = table_rows(status.output)["PlaylistTrack"]
    assert row[2] == "failed (interrupted)" and row[5] == str(checkpointed), row

    resumed = run_process(config, "resume", "--no-validate", "-t", "playlist_data")
    assert resumed.returncode == 0, (resumed.stdout[-3000:], resumed.stderr[-3000:])
    written = resume_writes(resumed.stdout, expected)
    assert written == {"Playlist": 0, "PlaylistTrack": expected["PlaylistTrack"] - checkpointed}, written
    assert_validates(config, PL)


# ----------------------------------------------------------------------------- a slow batch, then a crash
BATCH = {"BatchWriteItem"}


@pytest.fixture()
def proxy(ddb_url: str) -> Iterator[FaultProxy]:
    with FaultProxy(ddb_url, seed=5) as running:
        yield running


def test_a_slow_batch_does_not_let_a_crash_rewrite_more_than_the_batches_in_flight(
    proxy: FaultProxy, make_config: Any, ddb: Any, prefix: str
) -> None:
    # 2 writers: a window of 16 batches, well short of the Invoice batches the kill comes after
    config = make_config(endpoint=proxy.url, workers=2)
    set_batch_size(config, 10)
    in_flight = 2 * WINDOW_PER_WORKER * 10
    # Customer is 6 batches; the 8th BatchWriteItem, an early Invoice batch, takes 6 s
    proxy.add_rule("delay", rate=1.0, operations=BATCH, count=7, seconds=0)
    proxy.add_rule("delay", rate=1.0, operations=BATCH, count=1, seconds=6)

    killed = run_process(config, "migrate", "--no-validate", "-t", "customer_data", env={KILL_AT: "after_write:30"})
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    checkpoint, _ = checkpoint_left(state_path(config))
    done = checkpoint["Invoice"]["items_written"]
    present = entity_counts(ddb, prefix, ("customer_data",))["Invoice"]
    print(f"Invoice: {done} items checkpointed, {present} in DynamoDB at the kill")

    proxy.clear_rules()
    resumed = run_process(config, "resume", "--no-validate", "-t", "customer_data")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert_validates(config, ("customer_data",))
    assert present - done <= in_flight, f"{present - done} Invoice items written past the checkpoint"
