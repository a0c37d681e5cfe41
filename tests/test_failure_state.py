"""Issue 24, the guard and the state folder: what the application added survives a guarded sync,
a corrupt fingerprint store is set aside, and a full disk under the state folder is one line.

Real DynamoDB Local, real SQLite files, a real full filesystem (tmpfs) where one can be mounted.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from conftest import one_line, run_cli
from songs_and_plays import MAPPING, PLAYS, play_key

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
