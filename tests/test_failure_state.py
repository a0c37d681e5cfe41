"""Issue 24, the guard and the state folder: what the application added survives a guarded sync,
a corrupt fingerprint store is set aside, and a full disk under the state folder is one line.

Real DynamoDB Local, real SQLite files, a real full filesystem (tmpfs) where one can be mounted.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import count_items, one_line, passes_validation, run_cli
from songs_and_plays import MAPPING, PLAYS, SONGS, play_key

GUARDED = MAPPING.replace("  - name: PlayHistory\n", "  - name: PlayHistory\n    fingerprint_attribute: _fp\n")


@pytest.fixture(autouse=True)
def wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "500")


def note(ddb: Any, table: str, play: int, text: str) -> None:
    """The application adds an attribute of its own to an item."""
    ddb.update_item(
        TableName=table,
        Key=play_key(play),
        UpdateExpression="SET app_note = :n",
        ExpressionAttributeValues={":n": {"S": text}},
    )


def item(ddb: Any, table: str, play: int) -> dict[str, Any]:
    return ddb.get_item(TableName=table, Key=play_key(play), ConsistentRead=True).get("Item", {})


def set_seconds(source: Path, seconds: int, *plays: int) -> None:
    with sqlite3.connect(source) as db:
        db.execute(f"UPDATE play SET seconds = ? WHERE id IN ({', '.join('?' * len(plays))})", (seconds, *plays))
    db.close()


# ------------------------------------------------------------------ sync --guard keeps what the application added
@pytest.fixture
def guarded(music: tuple[Path, Path], make_config: Any, prefix: str) -> tuple[Path, Path, str]:
    source, mappings = music
    (mappings / "music.yaml").write_text(GUARDED)
    config = make_config(source=source, mappings=mappings)
    assert run_cli(config, "migrate", "--no-validate").exit_code == 0
    return config, source, f"{prefix}PlayHistory"


def test_a_guarded_sync_keeps_an_attribute_the_application_added(guarded: tuple[Path, Path, str], ddb: Any) -> None:
    config, source, plays = guarded
    note(ddb, plays, 5, "customer called")
    note(ddb, plays, 9, "untouched by the source")
    set_seconds(source, 1, 5)

    result = run_cli(config, "sync", "--no-validate", "--guard", "-t", "play_history")
    assert result.exit_code == 0, result.output
    assert "sync: 1 items put, 0 deleted" in result.output
    five = item(ddb, plays, 5)
    assert five["Seconds"] == {"N": "1"} and five["app_note"] == {"S": "customer called"}, five
    assert item(ddb, plays, 9)["app_note"] == {"S": "untouched by the source"}

    # the mapping drops an attribute: the tool removes its own attribute, not the application's
    mappings = source.parent / "mappings" / "music.yaml"
    mappings.write_text(GUARDED.replace('      Label: {template: "{{ listener }} played song {{ song_id }}"}\n', ""))
    result = run_cli(config, "sync", "--no-validate", "--guard", "-t", "play_history")
    assert result.exit_code == 0, result.output
    assert f"sync: {PLAYS} items put, 0 deleted" in result.output
    five = item(ddb, plays, 5)
    assert "Label" not in five and five["app_note"] == {"S": "customer called"}, five
    assert "Label" not in item(ddb, plays, 6)
    # the store holds what the tool wrote: nothing left to do
    again = run_cli(config, "sync", "--no-validate", "--guard", "-t", "play_history")
    assert again.exit_code == 0 and "sync: 0 items put, 0 deleted" in again.output, again.output


def test_an_item_the_application_changed_in_a_tool_attribute_is_a_conflict(
    guarded: tuple[Path, Path, str], ddb: Any
) -> None:
    config, source, plays = guarded
    ddb.update_item(
        TableName=plays,
        Key=play_key(7),
        UpdateExpression="SET Seconds = :s, app_note = :n",
        ExpressionAttributeValues={":s": {"N": "999"}, ":n": {"S": "fixed by hand"}},
    )
    note(ddb, plays, 8, "noted")
    set_seconds(source, 2, 7, 8)

    result = run_cli(config, "sync", "--no-validate", "--guard", "-t", "play_history")
    assert result.exit_code == 1, result.output
    text = one_line(result.stderr)
    assert "error: sync --guard: 1 item(s) were changed outside the tool and left as they are" in text
    assert '"SK": "PLAY#000007"' in text
    seven = item(ddb, plays, 7)
    assert seven["Seconds"] == {"N": "999"} and seven["app_note"] == {"S": "fixed by hand"}, "left alone"
    eight = item(ddb, plays, 8)
    assert eight["Seconds"] == {"N": "2"} and eight["app_note"] == {"S": "noted"}


def test_a_guarded_sync_against_the_target_keeps_what_the_application_added(
    guarded: tuple[Path, Path, str], ddb: Any
) -> None:
    """Read from the live table, the tool's attributes are those its fingerprint attribute hashes."""
    config, source, plays = guarded
    note(ddb, plays, 5, "kept")
    ddb.update_item(
        TableName=plays,
        Key=play_key(7),
        UpdateExpression="SET Seconds = :s",
        ExpressionAttributeValues={":s": {"N": "999"}},
    )
    set_seconds(source, 3, 5, 7, 8)

    result = run_cli(config, "sync", "--no-validate", "--guard", "--against-target", "-t", "play_history")
    assert result.exit_code == 1, result.output
    text = one_line(result.stderr)
    assert "1 item(s) were changed outside the tool" in text and '"SK": "PLAY#000007"' in text
    five = item(ddb, plays, 5)
    assert five["Seconds"] == {"N": "3"} and five["app_note"] == {"S": "kept"}, five
    assert item(ddb, plays, 7)["Seconds"] == {"N": "999"}
    assert item(ddb, plays, 8)["Seconds"] == {"N": "3"}


# ------------------------------------------------------------------ a corrupt fingerprint store
GARBAGE = b"this is not a database, it was overwritten by something else\n" * 200


@pytest.mark.parametrize("against", [False, True], ids=["sync", "sync --against-target"])
def test_a_corrupt_fingerprint_store_is_set_aside_and_the_live_table_compared(
    music: tuple[Path, Path], make_config: Any, ddb: Any, prefix: str, against: bool
) -> None:
    source, mappings = music
    config = make_config(source=source, mappings=mappings)
    assert run_cli(config, "migrate", "--no-validate").exit_code == 0
    state = config.parent / "state"
    store = state / "fingerprints.sqlite"
    store.write_bytes(GARBAGE)
    set_seconds(source, 4, 5)

    result = run_cli(config, "sync", "--no-validate", *(["--against-target"] if against else []))
    assert result.exit_code == 0, result.output
    said = [line for line in result.stderr.splitlines() if "is corrupt" in line]
    assert len(said) == 1, result.stderr
    assert "the fingerprint store" in said[0] and "(file is not a database); set aside as" in said[0]
    assert "Traceback" not in result.output
    assert "sync: 1 items put, 0 deleted" in result.output, result.output
    assert item(ddb, f"{prefix}PlayHistory", 5)["Seconds"] == {"N": "4"}
    kept = sorted(state.glob("fingerprints.sqlite.corrupt-*"))
    assert [p.read_bytes() for p in kept] == [GARBAGE], "the corrupt file is kept, renamed"
    assert kept[0].name in said[0]
    # the store was rebuilt from the live tables: the next sync has nothing to do, from the store
    again = run_cli(config, "sync", "--no-validate")
    assert again.exit_code == 0 and "sync: 0 items put, 0 deleted" in again.output, again.output
    assert "is corrupt" not in again.stderr


# ------------------------------------------------------------------ a full disk under the state folder
@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 2 MB tmpfs mounted where the configuration's state folder goes (we run as root)."""
    folder = tmp_path / "run" / "state"
    folder.mkdir(parents=True)
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small tmpfs needs root and mount(8); a full disk cannot be made here")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(folder)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({mounted.stderr.decode().strip()}): no full disk to test with")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def small_batches(config: Path) -> Path:
    """Batches of 5 items: many checkpoints and fingerprint commits, so the disk fills midway."""
    data = json.loads(config.read_text())
    config.write_text(json.dumps({**data, "batch_size": 5}, indent=2))
    return config


def fill(folder: Path, leave: int) -> Path:
    """Fill the filesystem of ``folder`` but ``leave`` bytes, with a file of our own."""
    filler = folder / "filler"
    stats = os.statvfs(folder)
    size = max(0, stats.f_bavail * stats.f_frsize - leave)
    with open(filler, "wb") as handle:
        handle.write(b"\0" * size)
    return filler


def temp_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def full_disk_line(stderr: str, folder: Path) -> None:
    """One error line naming the state folder and the full disk; no traceback."""
    errors = [line for line in stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, stderr
    text = one_line(stderr)
    assert f"error: the state folder {folder} is full (no space left on device)" in text, stderr
    assert "Traceback" not in stderr


def checkpointed_plays_are_written(ddb: Any, table: str, state: Path) -> int:
    """Every play up to Play's checkpoint is in the table; returns the checkpoint."""
    saved = json.loads((state / "migration_state.json").read_text())["item_types"].get("Play", {})
    upto = (saved.get("cursor") or [0])[0] if saved.get("status") != "done" else PLAYS
    missing = [p for p in range(1, upto + 1) if not item(ddb, table, p)]
    assert not missing, f"checkpoint {upto} but plays {missing} are not in the table"
    return int(upto)


def test_a_full_state_disk_stops_migrate_in_one_line_and_resume_finishes(
    music: tuple[Path, Path], make_config: Any, ddb: Any, prefix: str, small_disk: Path
) -> None:
    source, mappings = music
    config = small_batches(make_config(source=source, mappings=mappings, workers=2))
    # nothing left at all: the lock file cannot take the run's PID
    filler = fill(small_disk, 0)
    result = run_cli(config, "migrate", "--no-validate")
    assert result.exit_code == 2, result.output
    full_disk_line(result.stderr, small_disk)
    assert temp_files(small_disk) == []
    filler.unlink()

    # room for the start of the run, not for all of it
    filler = fill(
        small_disk, 256 * 1024
    )  # the state, the fingerprints and the catch-up store start; the run does not end
    result = run_cli(config, "migrate", "--no-validate")
    assert result.exit_code == 2, result.output
    full_disk_line(result.stderr, small_disk)
    assert temp_files(small_disk) == [], "no temp file left behind"
    plays = f"{prefix}PlayHistory"
    checkpointed_plays_are_written(ddb, plays, small_disk)

    filler.unlink()
    result = run_cli(config, "resume", "--no-validate")
    assert result.exit_code == 0, result.output
    assert count_items(ddb, plays) == PLAYS and count_items(ddb, f"{prefix}MusicCatalog") == SONGS
    passes_validation(config)
    assert temp_files(small_disk) == []


def test_a_full_state_disk_stops_sync_in_one_line_and_the_next_sync_finishes(
    music: tuple[Path, Path], make_config: Any, ddb: Any, prefix: str, small_disk: Path
) -> None:
    source, mappings = music
    config = small_batches(make_config(source=source, mappings=mappings, workers=2))
    assert run_cli(config, "migrate", "--no-validate").exit_code == 0
    set_seconds(source, 7, *range(1, PLAYS + 1))
    filler = fill(small_disk, 64 * 1024)
    result = run_cli(config, "sync", "--no-validate")
    assert result.exit_code == 2, result.output
    full_disk_line(result.stderr, small_disk)
    assert temp_files(small_disk) == []

    filler.unlink()
    result = run_cli(config, "sync", "--no-validate")
    assert result.exit_code == 0, result.output
    plays = f"{prefix}PlayHistory"
    assert all(item(ddb, plays, p)["Seconds"] == {"N": "7"} for p in range(1, PLAYS + 1))
    passes_validation(config)
