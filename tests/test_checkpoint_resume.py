"""Checkpoints, resume, re-runs, --force, --tables, reset, status and info, through the CLI.

A tiny music schema (10 songs, 120 plays) goes to two tables, MusicCatalog
and PlayHistory. Play 76 holds the text 'abc' in a column mapped as a number,
so a run with on_error=stop fails there for real: the songs are done, plays
1-75 (three full batches of 25) are acknowledged and checkpointed.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from conftest import count_items, items_written, one_line, run_cli, scan_all, table_rows
from songs_and_plays import BAD_PLAY, BAD_ROW_MESSAGE, MAPPING, PLAYS, SONGS, is_marked, make_source, mark, play_key


@pytest.fixture(autouse=True)
def wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    """Give rich room, should it size tables from the environment (table_rows joins wrapped cells anyway)."""
    monkeypatch.setenv("COLUMNS", "500")


@pytest.fixture()
def project(tmp_path: Path, make_config: Any, prefix: str) -> Any:
    """project(bad=...) -> (config path, state file path)."""

    def factory(bad: bool = False) -> tuple[Path, Path]:
        source = make_source(tmp_path / "music.sqlite", bad)
        mappings = tmp_path / "mappings"
        mappings.mkdir()
        (mappings / "music.yaml").write_text(MAPPING)
        config = make_config(source=source, mappings=mappings)
        return config, config.parent / "state" / "migration_state.json"

    return factory


def load_state(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def play_ids(ddb: Any, prefix: str) -> list[int]:
    return sorted(int(i["Id"]["N"]) for i in scan_all(ddb, f"{prefix}PlayHistory"))


def fail_midway(config: Path) -> Any:
    result = run_cli(config, "migrate", "--no-validate")
    assert result.exit_code == 1, result.output
    return result


# ----------------------------------------------------------------------------- a run that fails midway
def test_failed_run_names_the_row_and_keeps_the_checkpoint_of_the_last_batch(
    project: Any, ddb: Any, prefix: str
) -> None:
    config, state_file = project(bad=True)
    result = fail_midway(config)
    assert f"error: {BAD_ROW_MESSAGE}" in one_line(result.stderr)
    assert "the checkpoint is saved; run" in result.stderr and "resume' to continue" in result.stderr

    state = load_state(state_file)
    song, play = state["item_types"]["Song"], state["item_types"]["Play"]
    assert (song["status"], song["cursor"], song["rows_read"], song["items_written"]) == ("done", [SONGS], 10, 10)
    # three full batches of 25 were acknowledged; the bad row is the first of the fourth
    assert (play["status"], play["cursor"], play["rows_read"], play["items_written"], play["batches"]) == (
        "failed",
        [BAD_PLAY - 1],
        BAD_PLAY - 1,
        BAD_PLAY - 1,
        3,
    )
    assert play["error"] == BAD_ROW_MESSAGE
    assert count_items(ddb, f"{prefix}MusicCatalog") == SONGS
    assert play_ids(ddb, prefix) == list(range(1, BAD_PLAY))


def test_status_after_a_failed_run_shows_progress_percent_and_the_error(project: Any) -> None:
    config, _ = project(bad=True)
    fail_midway(config)
    result = run_cli(config, "status")
    assert result.exit_code == 0, result.output
    rows = table_rows(result.output)
    # item type | table | state | rows done/total | % | items | items/s | errors | retries | throttles | checkpoint
    song, play = rows["Song"], rows["Play"]
    assert song[2:6] == ["done", f"{SONGS}/{SONGS}", "100%", str(SONGS)]
    assert play[2] == f"failed ({BAD_ROW_MESSAGE})"
    assert play[3:6] == [f"{BAD_PLAY - 1}/{PLAYS}", f"{100 * (BAD_PLAY - 1) / PLAYS:.0f}%", str(BAD_PLAY - 1)]
    assert play[10] == f"[{BAD_PLAY - 1}]"  # last checkpoint


def test_resume_continues_after_the_checkpoint_and_rewrites_nothing_before_it(
    project: Any, ddb: Any, prefix: str, tmp_path: Path
) -> None:
    config, state_file = project(bad=True)
    fail_midway(config)
    table = f"{prefix}PlayHistory"
    for acknowledged in (1, BAD_PLAY - 1):
        mark(ddb, table, play_key(acknowledged))
    mark(ddb, f"{prefix}MusicCatalog", {"PK": {"S": "SONG#1"}, "SK": {"S": "SONG"}})

    # resume, this time setting the bad row aside instead of stopping at it
    result = run_cli(config, "resume", "--no-validate", "--on-error", "skip")
    assert result.exit_code == 0, result.output
    rows = table_rows(result.output)
    # item type | table | status | items | rows read | skipped | rejected
    assert rows["Play"][2:7] == ["done", str(PLAYS - BAD_PLAY), str(PLAYS - BAD_PLAY + 1), "0", "1"]
    assert rows["Song"][2] == "skipped"

    # every play but the bad one is there, once; the acknowledged ones were not written again
    ids = play_ids(ddb, prefix)
    assert ids == [i for i in range(1, PLAYS + 1) if i != BAD_PLAY]
    assert len(ids) == len(set(ids))
    assert is_marked(ddb, table, play_key(1))
    assert is_marked(ddb, table, play_key(BAD_PLAY - 1))
    assert is_marked(ddb, f"{prefix}MusicCatalog", {"PK": {"S": "SONG#1"}, "SK": {"S": "SONG"}})

    play = load_state(state_file)["item_types"]["Play"]
    assert (play["status"], play["cursor"], play["rows_read"], play["items_written"], play["rows_rejected"]) == (
        "done",
        [PLAYS],
        PLAYS,
        PLAYS - 1,
        1,
    )
    rejects = [json.loads(line) for line in (state_file.parent / "rejects.jsonl").read_text().splitlines()]
    assert [(r["item_type"], r["cursor"]) for r in rejects] == [("Play", {"id": BAD_PLAY})]
    assert rejects[0]["reason"] == "attribute Seconds: text 'abc' is not a number"


def test_resume_summary_counts_only_the_items_this_run_wrote(project: Any) -> None:
    config, _ = project(bad=True)
    fail_midway(config)
    result = run_cli(config, "resume", "--no-validate", "--on-error", "skip")
    assert result.exit_code == 0, result.output
    assert items_written(result.output) == PLAYS - BAD_PLAY


def test_resume_after_fixing_the_source_continues_on_its_snapshot_and_sync_takes_the_fix(
    project: Any, ddb: Any, prefix: str
) -> None:
    config, state_file = project(bad=True)
    fail_midway(config)
    source = json.loads(config.read_text())["source_db"]
    with sqlite3.connect(source) as conn:
        conn.execute("UPDATE play SET seconds = 1 WHERE id = ?", (BAD_PLAY,))
    conn.close()

    # the checkpoints belong to the copy of the source the run started on, bad row included
    result = run_cli(config, "resume", "--no-validate")
    assert result.exit_code == 1, result.output
    assert "resume continues on that snapshot; run 'sync' to bring in what changed since" in one_line(result.stderr)
    assert f"error: {BAD_ROW_MESSAGE}" in one_line(result.stderr)
    assert count_items(ddb, f"{prefix}PlayHistory") == BAD_PLAY - 1

    mark(ddb, f"{prefix}MusicCatalog", {"PK": {"S": "SONG#1"}, "SK": {"S": "SONG"}})
    result = run_cli(config, "sync", "--no-validate")
    assert result.exit_code == 0, result.output
    assert f"sync: {PLAYS - BAD_PLAY + 1} items put, 0 deleted" in result.output
    assert play_ids(ddb, prefix) == list(range(1, PLAYS + 1))
    assert is_marked(ddb, f"{prefix}MusicCatalog", {"PK": {"S": "SONG#1"}, "SK": {"S": "SONG"}}), "songs untouched"
    state = load_state(state_file)["item_types"]
    assert state["Play"]["status"] == "done" and state["Song"]["status"] == "done"


# ----------------------------------------------------------------------------- full runs
def test_checkpoint_after_a_full_run(project: Any) -> None:
    config, state_file = project()
    result = run_cli(config, "migrate", "--no-validate")
    assert result.exit_code == 0, result.output
    assert items_written(result.output) == SONGS + PLAYS
    state = load_state(state_file)
    play = state["item_types"]["Play"]
    assert (play["status"], play["cursor"], play["rows_read"], play["total_rows"], play["batches"]) == (
        "done",
        [PLAYS],
        PLAYS,
        PLAYS,
        5,  # 25 + 25 + 25 + 25 + 20
    )
    status = table_rows(run_cli(config, "status").output)
    assert status["Play"][2:5] == ["done", f"{PLAYS}/{PLAYS}", "100%"]


def test_second_migrate_rewrites_nothing_and_force_rewrites(project: Any, ddb: Any, prefix: str) -> None:
    config, state_file = project()
    assert run_cli(config, "migrate", "--no-validate").exit_code == 0
    table = f"{prefix}PlayHistory"
    mark(ddb, table, play_key(7))

    again = run_cli(config, "migrate", "--no-validate")
    assert again.exit_code == 0, again.output
    rows = table_rows(again.output)
    assert rows["Song"][2] == "skipped" and rows["Play"][2] == "skipped"
    assert is_marked(ddb, table, play_key(7)), "a done item type must not be written again"
    assert load_state(state_file)["item_types"]["Play"]["items_written"] == PLAYS

    forced = run_cli(config, "migrate", "--no-validate", "--force")
    assert forced.exit_code == 0, forced.output
    assert items_written(forced.output) == SONGS + PLAYS
    rows = table_rows(forced.output)
    assert rows["Play"][2:5] == ["done", str(PLAYS), str(PLAYS)]
    assert not is_marked(ddb, table, play_key(7)), "--force writes every item again"
    assert count_items(ddb, table) == PLAYS


def test_second_migrate_reports_zero_items_written(project: Any) -> None:
    config, _ = project()
    assert run_cli(config, "migrate", "--no-validate").exit_code == 0
    again = run_cli(config, "migrate", "--no-validate")
    assert again.exit_code == 0, again.output
    assert items_written(again.output) == 0
    assert table_rows(again.output)["Play"][3] == "0"


def test_tables_option_migrates_only_that_table(project: Any, ddb: Any, prefix: str) -> None:
    config, state_file = project()
    result = run_cli(config, "migrate", "--no-validate", "-t", "music_catalog")
    assert result.exit_code == 0, result.output
    assert items_written(result.output) == SONGS
    assert count_items(ddb, f"{prefix}MusicCatalog") == SONGS
    names = ddb.list_tables(ExclusiveStartTableName=prefix[:-1])["TableNames"]
    assert f"{prefix}PlayHistory" not in names
    assert "Play" not in load_state(state_file)["item_types"]

    rest = run_cli(config, "migrate", "--no-validate", "--tables", "play_history")
    assert rest.exit_code == 0, rest.output
    assert set(table_rows(rest.output)) >= {"Play"} and "Song" not in table_rows(rest.output)
    assert count_items(ddb, f"{prefix}PlayHistory") == PLAYS


def test_unknown_table_name_is_a_usage_error(project: Any, ddb: Any, prefix: str) -> None:
    config, state_file = project()
    result = run_cli(config, "migrate", "--no-validate", "-t", "music")
    assert result.exit_code == 2, result.output
    assert "error: unknown table(s) music (known: music_catalog, play_history)" in one_line(result.stderr)
    assert not state_file.exists()
    assert not [n for n in ddb.list_tables(ExclusiveStartTableName=prefix[:-1])["TableNames"] if n.startswith(prefix)]


# ----------------------------------------------------------------------------- reset
def test_reset_asks_and_answering_no_changes_nothing(project: Any) -> None:
    config, state_file = project()
    assert run_cli(config, "migrate", "--no-validate").exit_code == 0
    before = state_file.read_bytes()
    result = run_cli(config, "reset", input="n\n")
    assert result.exit_code == 1, result.output
    assert f"Reset the state file of {config}? [y/N]" in result.output
    assert "nothing changed" in result.output
    assert state_file.read_bytes() == before


def test_reset_confirm_forgets_progress_so_the_next_run_writes_again(project: Any, ddb: Any, prefix: str) -> None:
    config, state_file = project()
    assert run_cli(config, "migrate", "--no-validate").exit_code == 0
    mark(ddb, f"{prefix}PlayHistory", play_key(3))

    result = run_cli(config, "reset", "--confirm")
    assert result.exit_code == 0, result.output
    assert f"removed: {state_file}" in one_line(result.output)
    assert not state_file.exists()
    assert count_items(ddb, f"{prefix}PlayHistory") == PLAYS, "reset without --drop-tables keeps the tables"
    status = table_rows(run_cli(config, "status").output)
    assert status["Play"][2:4] == ["pending", "0/?"]

    again = run_cli(config, "migrate", "--no-validate")
    assert again.exit_code == 0, again.output
    assert items_written(again.output) == SONGS + PLAYS
    assert not is_marked(ddb, f"{prefix}PlayHistory", play_key(3))


def test_reset_answering_yes_resets(project: Any) -> None:
    config, state_file = project()
    assert run_cli(config, "migrate", "--no-validate", "-t", "music_catalog").exit_code == 0
    result = run_cli(config, "reset", input="y\n")
    assert result.exit_code == 0, result.output
    assert not state_file.exists()


# ----------------------------------------------------------------------------- info
SECRET = "sEnTiNeL-SeCrEt-9f3a7c"


@pytest.mark.parametrize("verbose", [False, True], ids=["quiet", "verbose"])
def test_info_shows_row_counts_and_never_the_secret_key(
    project: Any, monkeypatch: pytest.MonkeyPatch, verbose: bool
) -> None:
    config, _ = project()
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDSENTINEL")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    result = run_cli(config, *(["-v"] if verbose else []), "info")
    assert result.exit_code == 0, result.output
    text = one_line(result.output)
    assert f"play {PLAYS}, song {SONGS}" in text
    assert "Song, Play into MusicCatalog, PlayHistory" in text
    assert "reachable: True" in text
    assert SECRET not in result.output
    log = json.loads(config.read_text())["logging"]["file"]
    assert not Path(log).exists() or SECRET not in Path(log).read_text()
