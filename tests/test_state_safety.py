"""The state file and its lock: damage, concurrent runs, and a mapping or source that moved under a checkpoint.

A tiny music schema (10 songs, 120 plays) goes to two tables. Play 76 holds
the text 'abc' in a column mapped as a number, so a run with on_error=stop
fails there for real: the songs are done, plays 1-75 (three full batches of
25) are acknowledged and checkpointed, and the state file and its ``.bak``
both exist. Every test then damages, locks or changes something and checks
what the next command says and that DynamoDB was not touched.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import count_items, one_line, run_cli, run_process, scan_all, table_rows
from songs_and_plays import BAD_PLAY, BAD_ROW_MESSAGE, MAPPING, PLAYS, SONGS, is_marked, make_source, mark, play_key

SONG_1 = {"PK": {"S": "SONG#1"}, "SK": {"S": "SONG"}}


class Project:
    """Source, mapping folder and configuration in tmp_path; the state lives in tmp_path/run/state."""

    def __init__(self, tmp_path: Path, make_config: Any, prefix: str) -> None:
        self.prefix = prefix
        self.source = make_source(tmp_path / "music.sqlite", bad=True)
        self.mappings = tmp_path / "mappings"
        self.mappings.mkdir()
        self.mapping_file = self.mappings / "music.yaml"
        self.mapping_file.write_text(MAPPING)
        # one table at a time: Song is done before Play fails, every time
        self.config = make_config(source=self.source, mappings=self.mappings, parallel_tables=1)
        self.state = self.config.parent / "state" / "migration_state.json"
        self.backup = self.state.with_name(self.state.name + ".bak")
        self.lock = self.state.with_name(self.state.name + ".lock")
        self.plays = f"{prefix}PlayHistory"
        self.songs = f"{prefix}MusicCatalog"

    def fail_midway(self) -> None:
        result = run_cli(self.config, "migrate", "--no-validate")
        assert result.exit_code == 1, result.output
        assert f"error: {BAD_ROW_MESSAGE}" in one_line(result.stderr)
        assert self.state.exists() and self.backup.exists()


@pytest.fixture(autouse=True)
def wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rich prints every table row on one line, so the rows can be read back."""
    monkeypatch.setenv("COLUMNS", "500")


@pytest.fixture()
def project(tmp_path: Path, make_config: Any, prefix: str) -> Project:
    return Project(tmp_path, make_config, prefix)


def load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def play_ids(ddb: Any, table: str) -> list[int]:
    return sorted(int(i["Id"]["N"]) for i in scan_all(ddb, table))


def snapshot_tables(ddb: Any, project: Project) -> tuple[int, int, bool, bool]:
    """What a refused command must leave exactly as it was."""
    return (
        count_items(ddb, project.songs),
        count_items(ddb, project.plays),
        is_marked(ddb, project.songs, SONG_1),
        is_marked(ddb, project.plays, play_key(BAD_PLAY - 1)),
    )


def mark_progress(ddb: Any, project: Project) -> None:
    mark(ddb, project.songs, SONG_1)
    mark(ddb, project.plays, play_key(1))
    mark(ddb, project.plays, play_key(BAD_PLAY - 1))


# ----------------------------------------------------------------------------- damaged state file
def test_the_backup_is_the_previous_generation_of_the_state(project: Project) -> None:
    project.fail_midway()
    main, backup = load(project.state), load(project.backup)
    assert main["item_types"]["Play"]["status"] == "failed"
    # the generation before: the checkpoint was saved, the failure not yet recorded
    assert backup["item_types"]["Play"]["status"] == "running"
    assert backup["item_types"]["Play"]["cursor"] == main["item_types"]["Play"]["cursor"] == [BAD_PLAY - 1]


def test_truncated_state_file_status_uses_the_backup_and_says_so(project: Project) -> None:
    project.fail_midway()
    text = project.state.read_bytes()
    project.state.write_bytes(text[: len(text) // 2])

    result = run_cli(project.config, "status")
    assert result.exit_code == 0, result.output
    assert f"state file {project.state} is truncated or not JSON; using the backup {project.backup}" in one_line(
        result.stderr
    )
    rows = table_rows(result.output)
    # the backup's view: Play still running at its checkpoint, Song done
    assert rows["Play"][2:6] == ["running", f"{BAD_PLAY - 1}/{PLAYS}", f"{100 * (BAD_PLAY - 1) / PLAYS:.0f}%", "75"]
    assert rows["Play"][10] == f"[{BAD_PLAY - 1}]"  # last checkpoint
    assert rows["Song"][2:4] == ["done", f"{SONGS}/{SONGS}"]
    # status only reads: the damaged file is left for the next run to replace
    assert project.state.read_bytes() == text[: len(text) // 2]


def test_truncated_state_file_resume_continues_from_the_backup_checkpoint(project: Project, ddb: Any) -> None:
    project.fail_midway()
    mark_progress(ddb, project)
    text = project.state.read_bytes()
    project.state.write_bytes(text[: len(text) // 2])

    result = run_cli(project.config, "resume", "--no-validate", "--on-error", "skip")
    assert result.exit_code == 0, result.output
    assert f"state file {project.state} is truncated or not JSON; using the backup {project.backup}" in one_line(
        result.stderr
    )
    # continued after the backup's checkpoint: nothing before it written again, nothing lost after it
    assert play_ids(ddb, project.plays) == [i for i in range(1, PLAYS + 1) if i != BAD_PLAY]
    assert is_marked(ddb, project.plays, play_key(1))
    assert is_marked(ddb, project.plays, play_key(BAD_PLAY - 1))
    assert is_marked(ddb, project.songs, SONG_1), "Song was done in the backup: not rewritten"
    play = load(project.state)["item_types"]["Play"]
    assert (play["status"], play["cursor"], play["rows_read"], play["items_written"], play["rows_rejected"]) == (
        "done",
        [PLAYS],
        PLAYS,
        PLAYS - 1,
        1,
    )
    # the state is healthy again: the next status reads it without a warning
    status = run_cli(project.config, "status")
    assert status.exit_code == 0 and "using the backup" not in status.stderr


def test_a_crash_on_the_first_save_after_recovery_keeps_the_good_backup(project: Project, ddb: Any) -> None:
    project.fail_midway()
    text = project.state.read_bytes()
    project.state.write_bytes(text[: len(text) // 2])

    crashed = run_process(project.config, "resume", "--no-validate", env={"SQLITE2DDB_KILL_AT": "state_backup_moved:1"})
    assert crashed.returncode == -9, crashed.stderr
    # the progress of the failed run must still be readable after the crash
    result = run_cli(project.config, "status")
    assert result.exit_code == 0, result.stderr
    assert table_rows(result.output)["Play"][3] == f"{BAD_PLAY - 1}/{PLAYS}"


def test_state_and_backup_both_damaged_stops_with_the_reset_hint_and_writes_nothing(project: Project, ddb: Any) -> None:
    project.fail_midway()
    mark_progress(ddb, project)
    before = snapshot_tables(ddb, project)
    main, backup = project.state.read_bytes(), project.backup.read_bytes()
    project.state.write_bytes(main[: len(main) // 2])
    project.backup.write_bytes(backup[: len(backup) // 3])
    expected = (
        f"error: state file {project.state} is truncated or not JSON and its backup is truncated or not JSON "
        "(run 'reset' to start over (the tables are left as they are))"
    )

    for command in ("status", "resume", "migrate"):
        result = run_cli(project.config, command, *(["--no-validate"] if command != "status" else []))
        assert result.exit_code == 2, (command, result.output)
        assert expected in one_line(result.stderr), command
        assert "the checkpoint is saved" not in result.stderr

    assert snapshot_tables(ddb, project) == before
    # the damaged files are left for a person to look at, not overwritten
    assert project.state.read_bytes() == main[: len(main) // 2]
    assert project.backup.read_bytes() == backup[: len(backup) // 3]

    # reset is the way out: it removes them and the next run starts over
    reset = run_cli(project.config, "reset", "--confirm")
    assert reset.exit_code == 0, reset.output
    assert not project.state.exists() and not project.backup.exists()


def edit_number(path: Path, item_type: str, field: str, value: int) -> None:
    """Change one counter and leave the checksum as it was (valid JSON, wrong content)."""
    data = load(path)
    assert data["item_types"][item_type][field] != value
    data["item_types"][item_type][field] = value
    path.write_text(json.dumps(data, indent=1))


def test_edited_state_file_is_detected_by_its_checksum(project: Project, ddb: Any) -> None:
    project.fail_midway()
    edit_number(project.state, "Play", "rows_read", 42)

    result = run_cli(project.config, "status")
    assert result.exit_code == 0, result.output
    assert f"state file {project.state} is corrupt (checksum mismatch); using the backup {project.backup}" in one_line(
        result.stderr
    )
    # the edited number is not believed: the backup's count is shown
    assert table_rows(result.output)["Play"][3] == f"{BAD_PLAY - 1}/{PLAYS}"


def test_edited_state_file_and_backup_refuse_to_run(project: Project, ddb: Any) -> None:
    project.fail_midway()
    mark_progress(ddb, project)
    before = snapshot_tables(ddb, project)
    # the cursor is moved forward by an editor: believing it would skip rows 76-99
    edit_number(project.state, "Play", "rows_read", 99)
    data = load(project.backup)
    data["item_types"]["Play"]["cursor"] = [99]
    project.backup.write_text(json.dumps(data, indent=1))

    result = run_cli(project.config, "resume", "--no-validate", "--on-error", "skip")
    assert result.exit_code == 2, result.output
    assert (
        f"error: state file {project.state} is corrupt (checksum mismatch) and its backup is corrupt "
        "(checksum mismatch) (run 'reset' to start over (the tables are left as they are))" in one_line(result.stderr)
    )
    assert snapshot_tables(ddb, project) == before


# ----------------------------------------------------------------------------- the run lock
def test_a_held_lock_stops_a_second_run_naming_the_holder(project: Project, ddb: Any, prefix: str) -> None:
    project.lock.parent.mkdir(parents=True, exist_ok=True)
    holder = open(project.lock, "a+")  # noqa: SIM115 - held across the commands below
    try:
        fcntl.flock(holder, fcntl.LOCK_EX | fcntl.LOCK_NB)
        holder.seek(0)
        holder.truncate()
        holder.write(str(os.getpid()))
        holder.flush()

        result = run_process(project.config, "migrate", "--no-validate")
        assert result.returncode == 2, result.stderr
        assert (
            f"error: another run holds the state lock {project.lock} (PID {os.getpid()}) "
            "(wait for it to finish, or stop it)" in one_line(result.stderr)
        )
        assert "Traceback" not in result.stderr
        # nothing happened: no state, no table
        assert not project.state.exists()
        names = ddb.list_tables(ExclusiveStartTableName=prefix[:-1])["TableNames"]
        assert not [n for n in names if n.startswith(prefix)]
        # the refused run left the holder's PID in the lock file
        assert project.lock.read_text() == str(os.getpid())

        # reset takes the same lock
        reset = run_cli(project.config, "reset", "--confirm")
        assert reset.exit_code == 2, reset.output
        assert f"another run holds the state lock {project.lock}" in one_line(reset.stderr)
    finally:
        fcntl.flock(holder, fcntl.LOCK_UN)
        holder.close()

    # once the holder is gone, the same command runs
    result = run_cli(project.config, "migrate", "--no-validate", "--on-error", "skip")
    assert result.exit_code == 0, result.output
    assert count_items(ddb, project.plays) == PLAYS - 1


def dead_pid() -> int:
    """The PID of a process that has exited and been reaped."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_stale_lock_file_from_a_dead_process_does_not_block(project: Project, ddb: Any) -> None:
    stale = dead_pid()
    project.lock.parent.mkdir(parents=True, exist_ok=True)
    project.lock.write_text(str(stale))

    result = run_cli(project.config, "migrate", "--no-validate", "--on-error", "skip")
    assert result.exit_code == 0, result.output
    assert "another run" not in result.stderr
    assert count_items(ddb, project.songs) == SONGS
    assert count_items(ddb, project.plays) == PLAYS - 1
    # the lock file now names this run, not the dead one
    assert project.lock.read_text() == str(os.getpid())


# ----------------------------------------------------------------------------- identity of a checkpoint
def test_changed_mapping_after_a_partial_run_is_refused_until_forced(project: Project, ddb: Any) -> None:
    project.fail_midway()
    mark_progress(ddb, project)
    before_state = load(project.state)["item_types"]
    before = snapshot_tables(ddb, project)
    project.mapping_file.write_text(
        MAPPING.replace("{{ listener }} played song {{ song_id }}", "{{ listener }} listened to song {{ song_id }}")
    )

    for command in ("resume", "migrate"):
        result = run_cli(project.config, command, "--no-validate", "--on-error", "skip")
        assert result.exit_code == 2, result.output
        # Song did not change, so it is not named
        assert (
            "error: the mapping changed since the checkpoint for item type(s): Play (run 'sync': it would write "
        ) in one_line(result.stderr)
        assert "'migrate --force' rewrites all " in one_line(result.stderr)
    assert load(project.state)["item_types"] == before_state
    assert snapshot_tables(ddb, project) == before

    forced = run_cli(
        project.config, "migrate", "--no-validate", "--force", "--tables", "play_history", "--on-error", "skip"
    )
    assert forced.exit_code == 0, forced.output
    items = {int(i["Id"]["N"]): i for i in scan_all(ddb, project.plays)}
    assert sorted(items) == [i for i in range(1, PLAYS + 1) if i != BAD_PLAY]
    # restarted from the first row: the plays written before the change carry the new template too
    assert items[1]["Label"] == {"S": "user1 listened to song 2"}
    assert items[BAD_PLAY - 1]["Label"] == {
        "S": f"user{(BAD_PLAY - 1) % 7} listened to song {1 + (BAD_PLAY - 1) % SONGS}"
    }
    assert not is_marked(ddb, project.plays, play_key(1))
    assert is_marked(ddb, project.songs, SONG_1), "the unchanged item type is left alone"
    play = load(project.state)["item_types"]["Play"]
    assert (play["status"], play["rows_read"], play["items_written"], play["rows_rejected"]) == (
        "done",
        PLAYS,
        PLAYS - 1,
        1,
    )


def test_changed_mapping_names_every_changed_item_type_with_progress(project: Project) -> None:
    project.fail_midway()
    project.mapping_file.write_text(
        MAPPING.replace("Title: title", "Title: {template: '{{ title | upper }}'}").replace("played song", "heard song")
    )
    result = run_cli(project.config, "resume", "--no-validate")
    assert result.exit_code == 2, result.output
    # (the two tables were written in parallel, so the state, and this list, has them in either order)
    named = re.search(
        r"error: the mapping changed since the checkpoint for item type\(s\): (.*?) \(run ", result.stderr
    )
    assert named, result.stderr
    assert sorted(named.group(1).split(", ")) == ["Play", "Song"]


def test_a_comment_or_reordering_in_the_mapping_file_is_not_a_change(project: Project, ddb: Any) -> None:
    project.fail_midway()
    mark_progress(ddb, project)
    # same item types, different bytes: a comment on top shifts every line
    project.mapping_file.write_text("# reviewed: no changes to the item types\n\n" + MAPPING)
    result = run_cli(project.config, "resume", "--no-validate", "--on-error", "skip")
    assert result.exit_code == 0, result.output
    assert play_ids(ddb, project.plays) == [i for i in range(1, PLAYS + 1) if i != BAD_PLAY]
    assert is_marked(ddb, project.plays, play_key(BAD_PLAY - 1)), "resumed after the checkpoint, not restarted"


def test_a_resume_continues_on_its_snapshot_when_the_source_changed_and_sync_catches_up(
    project: Project, ddb: Any
) -> None:
    project.fail_midway()
    mark_progress(ddb, project)
    with sqlite3.connect(project.source) as conn:
        conn.executemany(
            "INSERT INTO play VALUES (?, ?, ?, ?)", [(i, 1, f"user{i % 7}", 30) for i in range(PLAYS + 1, PLAYS + 11)]
        )
    conn.close()

    result = run_cli(project.config, "resume", "--no-validate", "--on-error", "skip")
    assert result.exit_code == 0, result.output
    assert "the source changed since the snapshot of" in one_line(result.stderr)
    # the rows of the snapshot, from the checkpoint on; not the ten added since
    assert play_ids(ddb, project.plays) == [i for i in range(1, PLAYS + 1) if i != BAD_PLAY]
    assert is_marked(ddb, project.plays, play_key(BAD_PLAY - 1)), "resumed after the checkpoint, not restarted"
    assert not list(project.state.parent.glob("snapshot-*")), "the copy is dropped once every item type is done"

    refused = run_cli(project.config, "migrate", "--no-validate")
    assert refused.exit_code == 2, refused.output
    assert (
        f"error: the source database {project.source} changed since the checkpoint "
        "(run 'sync' to write the difference, 'migrate --force' to rewrite everything, or 'reset')"
    ) in one_line(refused.stderr)

    synced = run_cli(project.config, "sync", "--no-validate", "--on-error", "skip")
    assert synced.exit_code == 0, synced.output
    assert "sync: 10 items put, 0 deleted" in synced.output
    assert play_ids(ddb, project.plays) == [i for i in range(1, PLAYS + 11) if i != BAD_PLAY]
    assert is_marked(ddb, project.songs, SONG_1), "what did not change is not written again"


def test_a_source_touched_but_not_changed_resumes(project: Project, ddb: Any) -> None:
    project.fail_midway()
    mark_progress(ddb, project)
    stat = project.source.stat()
    os.utime(project.source, (stat.st_atime + 3600, stat.st_mtime + 3600))
    result = run_cli(project.config, "resume", "--no-validate", "--on-error", "skip")
    assert result.exit_code == 0, result.output
    assert is_marked(ddb, project.plays, play_key(BAD_PLAY - 1))
    assert count_items(ddb, project.plays) == PLAYS - 1


def test_a_changed_table_prefix_is_refused(project: Project, ddb: Any) -> None:
    project.fail_midway()
    before = snapshot_tables(ddb, project)
    config = load(project.config)
    other = project.prefix.replace("_", "x_")
    config["table_prefix"] = other
    config["dynamodb_tables"] = {k: v.replace(project.prefix, other, 1) for k, v in config["dynamodb_tables"].items()}
    project.config.write_text(json.dumps(config, indent=2))

    result = run_cli(project.config, "resume", "--no-validate", "--on-error", "skip")
    assert result.exit_code == 2, result.output
    assert (
        f"error: the state belongs to tables prefixed {project.prefix!r}, not {other!r} "
        "(use another state_file, or 'reset')"
    ) in one_line(result.stderr)
    assert snapshot_tables(ddb, project) == before
    names = ddb.list_tables(ExclusiveStartTableName=other[:-1])["TableNames"]
    assert not [n for n in names if n.startswith(other)]


def test_a_wal_source_changed_only_in_its_wal_file_counts_as_changed(project: Project, ddb: Any) -> None:
    conn = sqlite3.connect(project.source)
    assert conn.execute("PRAGMA journal_mode=WAL").fetchone() == ("wal",)
    conn.close()
    done = run_cli(project.config, "migrate", "--no-validate", "--on-error", "skip")
    assert done.exit_code == 0, done.output
    main_before = project.source.read_bytes()

    # the application keeps writing after the migration
    writer = sqlite3.connect(project.source)
    try:
        writer.execute("PRAGMA wal_autocheckpoint = 0")
        writer.execute("UPDATE play SET seconds = 1 WHERE id = 1")
        writer.commit()
        assert project.source.read_bytes() == main_before, "the change is only in the -wal file"

        result = run_cli(project.config, "migrate", "--no-validate")
        assert result.exit_code == 2, result.output
        assert f"error: the source database {project.source} changed since the checkpoint" in one_line(result.stderr)
        synced = run_cli(project.config, "sync", "--no-validate", "--on-error", "skip")
        assert synced.exit_code == 0, synced.output
        assert "sync: 1 items put, 0 deleted" in synced.output, "the snapshot reads the WAL too"
    finally:
        writer.close()
