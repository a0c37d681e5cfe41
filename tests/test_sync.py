"""sync and plan --diff: the target follows the source and the mapping, writing only the difference.

Real DynamoDB Local, real SQLite files: Chinook changed the way an application
changes it (a renamed track copied into albums, playlists and invoices; a
deleted customer with invoices; a new album with tracks), a key template
edited, an index added, a writer changing the source while migrate runs, and
sync killed at its crash points. Expected keys are computed with SQL.
"""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from conftest import count_items, one_line, passes_validation, run_cli, run_process, scan_all
from songs_and_plays import MAPPING, PLAYS, SONGS, play_key

KILL_AT = "SQLITE2DDB_KILL_AT"


@pytest.fixture(autouse=True)
def wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "500")


def diff_counts(config: Path, *args: str) -> dict[str, dict[str, int]]:
    result = run_cli(config, "plan", "--diff", "--format", "json", *args)
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    return {d["item_type"]: {k: d[k] for k in ("new", "updated", "deleted", "errors")} for d in document["item_types"]}


def sync(config: Path, *args: str) -> tuple[int, int]:
    result = run_cli(config, "sync", "--no-validate", *args)
    assert result.exit_code == 0, result.output
    found = re.findall(r"^sync: (\d+) items put, (\d+) deleted", result.output, re.MULTILINE)
    assert found, result.output
    return int(found[-1][0]), int(found[-1][1])


# ------------------------------------------------------------------ Chinook changed as an application would
def touched_by_track(db: sqlite3.Connection, track: int) -> set[tuple[str, str, str]]:
    """Every item that renders track ``track``: the track, its album, its playlist entries, its invoices."""
    keys = {("Track", f"TRACK#{track}", "PROFILE")}
    keys |= {
        ("Album", f"ARTIST#{a}", f"ALBUM#{al:06d}")
        for a, al in db.execute(
            "SELECT al.ArtistId, al.AlbumId FROM Track t JOIN Album al USING (AlbumId) WHERE t.TrackId = ?", (track,)
        )
    }
    keys |= {
        ("PlaylistTrack", f"PLAYLIST#{p}", f"TRACK#{track:06d}")
        for (p,) in db.execute("SELECT PlaylistId FROM PlaylistTrack WHERE TrackId = ?", (track,))
    }
    return keys | invoices(db, "SELECT InvoiceId FROM InvoiceLine WHERE TrackId = ?", track)


def invoices(db: sqlite3.Connection, ids_sql: str, *params: Any) -> set[tuple[str, str, str]]:
    return {
        ("Invoice", f"CUSTOMER#{c}", f"INVOICE#{d}#{i:06d}")
        for c, d, i in db.execute(
            f"SELECT CustomerId, InvoiceDate, InvoiceId FROM Invoice WHERE InvoiceId IN ({ids_sql})", params
        )
    }


def touched_by_genre(db: sqlite3.Connection, genre: int) -> set[tuple[str, str, str]]:
    tracks = [t for (t,) in db.execute("SELECT TrackId FROM Track WHERE GenreId = ?", (genre,))]
    keys: set[tuple[str, str, str]] = set()
    for track in tracks:
        # a genre's name is copied into tracks, album track lists and playlist entries, not invoices
        keys |= {k for k in touched_by_track(db, track) if k[0] != "Invoice"}
    return keys


def test_sync_writes_exactly_what_each_source_change_touches(
    chinook_copy: Path, make_config: Any, ddb: Any, prefix: str
) -> None:
    config = make_config(source=chinook_copy)
    first = run_cli(config, "migrate", "--no-validate")
    assert first.exit_code == 0, first.output
    assert all(sum(c.values()) == 0 for c in diff_counts(config).values()), "a fresh migration has no difference"

    db = sqlite3.connect(chinook_copy)
    updated = touched_by_track(db, 1) | touched_by_genre(db, 2)
    line_invoice = db.execute("SELECT InvoiceId FROM InvoiceLine WHERE InvoiceLineId = 10").fetchone()[0]
    updated |= invoices(db, "?", line_invoice)
    deleted = {("Customer", "CUSTOMER#59", "PROFILE")} | invoices(
        db, "SELECT InvoiceId FROM Invoice WHERE CustomerId = 59"
    )
    deleted |= {("Playlist", "PLAYLIST#9", "PROFILE")} | {
        ("PlaylistTrack", "PLAYLIST#9", f"TRACK#{t:06d}")
        for (t,) in db.execute("SELECT TrackId FROM PlaylistTrack WHERE PlaylistId = 9")
    }
    new_album, new_tracks = 1000, (90001, 90002, 90003)
    new = {("Album", "ARTIST#1", f"ALBUM#{new_album:06d}")} | {("Track", f"TRACK#{t}", "PROFILE") for t in new_tracks}
    updated.add(("Artist", "ARTIST#1", "PROFILE"))  # its album count grows
    updated -= deleted

    with db:
        db.execute("UPDATE Track SET Name = 'Renamed for sync' WHERE TrackId = 1")
        db.execute("UPDATE Genre SET Name = 'Jazz, renamed' WHERE GenreId = 2")
        db.execute("UPDATE InvoiceLine SET UnitPrice = 1.29 WHERE InvoiceLineId = 10")
        db.execute("DELETE FROM InvoiceLine WHERE InvoiceId IN (SELECT InvoiceId FROM Invoice WHERE CustomerId = 59)")
        db.execute("DELETE FROM Invoice WHERE CustomerId = 59")
        db.execute("DELETE FROM Customer WHERE CustomerId = 59")
        db.execute("DELETE FROM PlaylistTrack WHERE PlaylistId = 9")
        db.execute("DELETE FROM Playlist WHERE PlaylistId = 9")
        db.execute("INSERT INTO Album (AlbumId, Title, ArtistId) VALUES (?, 'Sync Sessions', 1)", (new_album,))
        db.executemany(
            "INSERT INTO Track (TrackId, Name, AlbumId, MediaTypeId, GenreId, Milliseconds, UnitPrice) "
            "VALUES (?, ?, ?, 1, 1, 1000, 0.99)",
            [(t, f"Sync {t}", new_album) for t in new_tracks],
        )
    db.close()

    def per_type(keys: set[tuple[str, str, str]]) -> Counter[str]:
        return Counter(k[0] for k in keys)

    counts = diff_counts(config)
    for kind, keys in (("new", new), ("updated", updated), ("deleted", deleted)):
        found = Counter({name: c[kind] for name, c in counts.items() if c[kind]})
        assert found == per_type(keys), kind

    put, removed = sync(config)
    assert (put, removed) == (len(new) + len(updated), len(deleted))
    for table, key in ((f"{prefix}MusicCatalog", new), (f"{prefix}CustomerData", deleted)):
        stored = {(i["PK"]["S"], i["SK"]["S"]) for i in scan_all(ddb, table)}
        for _, pk, sk in key:
            assert ((pk, sk) in stored) == (table.endswith("MusicCatalog")), (pk, sk)
    passes_validation(config)
    assert sync(config) == (0, 0), "a second sync with no change writes nothing"


def test_tables_synced_at_once_apply_the_difference_found_one_table_after_another(
    chinook_copy: Path, make_config: Any
) -> None:
    config = make_config(source=chinook_copy, parallel_tables=1)
    first = run_cli(config, "migrate", "--no-validate")
    assert first.exit_code == 0, first.output
    with sqlite3.connect(chinook_copy) as db:  # changes in three tables: music, playlists, customers
        db.execute("UPDATE Track SET Name = Name || ' (live)' WHERE TrackId % 50 = 0")
        db.execute("DELETE FROM InvoiceLine WHERE InvoiceId IN (SELECT InvoiceId FROM Invoice WHERE CustomerId = 7)")
        db.execute("DELETE FROM Invoice WHERE CustomerId = 7")
        db.execute("DELETE FROM Customer WHERE CustomerId = 7")
    db.close()
    reviewed = run_cli(config, "plan", "--diff", "--format", "json")
    assert reviewed.exit_code == 0, reviewed.output
    document = json.loads(reviewed.output)
    changed = {d["table"] for d in document["item_types"] if d["new"] + d["updated"] + d["deleted"]}
    assert len(changed) >= 3, changed

    parallel = run_cli(config, "sync", "--no-validate", "--parallel-tables", "4")
    assert parallel.exit_code == 0, parallel.output
    assert f"change digest {document['change_digest']}" in parallel.output, "the same difference, whatever the order"
    found = re.findall(r"^sync: (\d+) items put, (\d+) deleted", parallel.output, re.MULTILINE)
    put = sum(d["new"] + d["updated"] for d in document["item_types"])
    deleted = sum(d["deleted"] for d in document["item_types"])
    assert (int(found[-1][0]), int(found[-1][1])) == (put, deleted)
    passes_validation(config)
    assert sync(config, "--parallel-tables", "4") == (0, 0)


# ------------------------------------------------------------------ mapping edits
INDEXED = (
    MAPPING.replace(
        """  - name: PlayHistory
    partition_key: {name: PK, type: S}
    sort_key: {name: SK, type: S}
""",
        """  - name: PlayHistory
    partition_key: {name: PK, type: S}
    sort_key: {name: SK, type: S}
    indexes:
      - name: BySong
        partition_key: {name: GSI1PK, type: S}
        sort_key: {name: GSI1SK, type: S}
""",
    ).replace(
        '      SK: "PLAY#{{ id | pad(6) }}"\n',
        '      SK: "PLAY#{{ id | pad(6) }}"\n      GSI1PK: "SONG#{{ song_id }}"\n      GSI1SK: "PLAY#{{ id | pad(6) }}"\n',
    )
    + """
access_patterns:
  - name: plays-of-song
    params: SELECT id FROM song
    request:
      table: PlayHistory
      index: BySong
      query: {partition: "SONG#{{ id }}"}
    sql: SELECT id AS Id FROM play WHERE song_id = :id ORDER BY id
    compare: {id: Id}
"""
)


def test_a_key_template_edit_moves_the_items_and_an_added_index_is_built(
    music: tuple[Path, Path], make_config: Any, ddb: Any, prefix: str
) -> None:
    source, mappings = music
    config = make_config(source=source, mappings=mappings)
    assert run_cli(config, "migrate", "--no-validate").exit_code == 0
    mapping = mappings / "music.yaml"

    mapping.write_text(MAPPING.replace('SK: "PLAY#{{ id | pad(6) }}"', 'SK: "PLAY#{{ id | pad(8) }}"'))
    assert diff_counts(config)["Play"] == {"new": PLAYS, "updated": 0, "deleted": PLAYS, "errors": 0}
    assert sync(config) == (PLAYS, PLAYS)
    sks = {i["SK"]["S"] for i in scan_all(ddb, f"{prefix}PlayHistory")}
    assert sks == {f"PLAY#{i:08d}" for i in range(1, PLAYS + 1)}
    passes_validation(config)

    mapping.write_text(INDEXED)
    plan = run_cli(config, "plan", "--diff")
    assert f"index change: {prefix}PlayHistory: create index BySong (added to the mapping)" in one_line(plan.output)
    assert sync(config) == (PLAYS, PLAYS), "every play moves back to the 6-digit key and gains the index keys"
    indexes = ddb.describe_table(TableName=f"{prefix}PlayHistory")["Table"]["GlobalSecondaryIndexes"]
    assert [(i["IndexName"], i["IndexStatus"]) for i in indexes] == [("BySong", "ACTIVE")]
    result = run_cli(config, "validate", "--check", "pattern:plays-of-song", "--check", "items:")
    assert result.exit_code == 0, result.output
    assert "pattern:plays-of-song" in result.output

    mapping.write_text(MAPPING)
    assert sync(config) == (PLAYS, 0), "the index keys are dropped from every play"
    assert "GlobalSecondaryIndexes" not in ddb.describe_table(TableName=f"{prefix}PlayHistory")["Table"]


def test_validate_and_a_diff_against_the_table_find_the_same_damage(
    music: tuple[Path, Path], make_config: Any, ddb: Any, prefix: str, tmp_path: Path
) -> None:
    source, mappings = music
    config = make_config(source=source, mappings=mappings)
    assert run_cli(config, "migrate", "--no-validate").exit_code == 0
    table = f"{prefix}MusicCatalog"
    ddb.delete_item(TableName=table, Key={"PK": {"S": "SONG#1"}, "SK": {"S": "SONG"}})
    ddb.update_item(
        TableName=table,
        Key={"PK": {"S": "SONG#2"}, "SK": {"S": "SONG"}},
        UpdateExpression="SET Title = :t",
        ExpressionAttributeValues={":t": {"S": "changed outside"}},
    )
    ddb.put_item(TableName=table, Item={"PK": {"S": "SONG#999"}, "SK": {"S": "SONG"}})

    report = tmp_path / "items.json"
    checked = run_cli(config, "validate", "--check", "items:", "--report", str(report))
    assert checked.exit_code == 1, checked.output
    failures = [f for c in json.loads(report.read_text())["checks"] for f in c["failures"]]
    found = {(f["kind"], json.dumps(f["key"], sort_keys=True), f.get("path")) for f in failures}
    song = '{{"PK": "SONG#{}", "SK": "SONG"}}'.format
    assert found == {("missing", song(1), None), ("differs", song(2), "Title"), ("extra", song(999), None)}

    diff = run_cli(config, "plan", "--diff", "--against-target", "--format", "json")
    assert diff.exit_code == 0, diff.output
    types = [d for d in json.loads(diff.stdout)["item_types"] if d["table"] == table]
    samples = {
        kind: sorted(json.dumps(k, sort_keys=True) for d in types for k in d["samples"][kind])
        for kind in ("new", "updated", "deleted")
    }
    assert samples == {"new": [song(1)], "updated": [song(2)], "deleted": [song(999)]}
    songs = next(d for d in types if d["item_type"] == "Song")
    assert songs["changed_paths"] == {"Title": 1}


def test_a_table_migrated_before_fingerprints_existed_is_compared_with_the_live_table(
    music: tuple[Path, Path], make_config: Any, ddb: Any, prefix: str
) -> None:
    source, mappings = music
    config = make_config(source=source, mappings=mappings)
    assert run_cli(config, "migrate", "--no-validate").exit_code == 0
    (config.parent / "state" / "fingerprints.sqlite").unlink()
    for suffix in ("-wal", "-shm"):
        (config.parent / "state" / f"fingerprints.sqlite{suffix}").unlink(missing_ok=True)
    # someone else wrote an item the mapping does not render
    ddb.put_item(TableName=f"{prefix}MusicCatalog", Item={"PK": {"S": "SONG#999"}, "SK": {"S": "SONG"}})
    result = run_cli(config, "sync", "--no-validate")
    assert result.exit_code == 0, result.output
    assert "no fingerprints recorded for" in one_line(result.stderr)
    assert "sync: 0 items put, 1 deleted" in result.output
    assert sync(config) == (0, 0), "the store now knows every item"
    passes_validation(config)


# ------------------------------------------------------------------ a source that keeps changing
WRITER = """
import random, sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], timeout=30)
db.execute("PRAGMA journal_mode=WAL")
rng = random.Random(7)
deadline = time.monotonic() + float(sys.argv[2])
n = 0
while time.monotonic() < deadline:
    with db:
        track = rng.randint(1, 3503)
        db.execute("UPDATE Track SET Name = Name || '+' WHERE TrackId = ?", (track,))
        db.execute("UPDATE InvoiceLine SET Quantity = Quantity + 1 WHERE InvoiceLineId = ?", (rng.randint(1, 2240),))
        if n % 5 == 0:
            db.execute("DELETE FROM PlaylistTrack WHERE rowid = (SELECT min(rowid) FROM PlaylistTrack)")
    n += 1
    time.sleep(0.01)
print(n)
"""


def test_a_source_written_while_migrate_runs_is_caught_up_by_sync(
    chinook_copy: Path, make_config: Any, tmp_path: Path
) -> None:
    with sqlite3.connect(chinook_copy) as db:
        db.execute("PRAGMA journal_mode=WAL")
    db.close()
    config = make_config(source=chinook_copy)
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    writer = subprocess.Popen([sys.executable, str(script), str(chinook_copy), "6"], stdout=subprocess.PIPE, text=True)
    try:
        time.sleep(0.5)
        result = run_cli(config, "migrate", "--no-validate", "-t", "music_catalog", "-t", "playlist_data")
        assert result.exit_code == 0, result.output
    finally:
        out, _ = writer.communicate(timeout=60)
    assert int(out) > 20, "the writer changed the source during the migration"
    put, _ = sync(config)
    assert put > 0
    passes_validation(config)


# ------------------------------------------------------------------ killed syncs
@pytest.mark.parametrize("point", ["before_write:3", "after_write:2", "fingerprints_saved:2", "before_write:5"])
def test_a_sync_killed_at_a_crash_point_is_finished_by_the_next(
    point: str, music: tuple[Path, Path], make_config: Any, ddb: Any, prefix: str
) -> None:
    source, mappings = music
    config = make_config(source=source, mappings=mappings, workers=1, parallel_tables=1)
    assert run_cli(config, "migrate", "--no-validate").exit_code == 0
    with sqlite3.connect(source) as db:
        db.execute("UPDATE play SET seconds = seconds + 1 WHERE id <= 60")  # 60 puts: 3 batches
        db.execute("DELETE FROM play WHERE id > 60")  # 60 deletes: 3 batches after them
    db.close()
    killed = run_process(config, "sync", "--no-validate", env={KILL_AT: point})
    assert killed.returncode == -9, killed.stdout + killed.stderr
    put, deleted = sync(config)
    assert put + deleted > 0 and put <= 60 and deleted <= 60
    assert count_items(ddb, f"{prefix}PlayHistory") == 60
    assert count_items(ddb, f"{prefix}MusicCatalog") == SONGS
    passes_validation(config)
    assert sync(config) == (0, 0)


# ------------------------------------------------------------------ a reviewed plan is the executed plan
def test_a_reviewed_plan_runs_only_while_mapping_source_and_target_are_those_reviewed(
    music: tuple[Path, Path], make_config: Any, tmp_path: Path
) -> None:
    source, mappings = music
    config = make_config(source=source, mappings=mappings)
    reviewed = tmp_path / "migrate-plan.json"
    assert run_cli(config, "plan", "--out", str(reviewed)).exit_code == 0
    (mappings / "music.yaml").write_text(MAPPING.replace("played song", "heard song"))
    refused = run_cli(config, "migrate", "--no-validate", "--plan", str(reviewed))
    assert refused.exit_code == 2, refused.output
    assert f"error: the plan {reviewed} was reviewed on" in one_line(refused.stderr)
    assert "since then the mapping (digest" in one_line(refused.stderr)
    assert run_cli(config, "plan", "--out", str(reviewed)).exit_code == 0
    done = run_cli(config, "migrate", "--no-validate", "--plan", str(reviewed))
    assert done.exit_code == 0, done.output

    with sqlite3.connect(source) as db:
        db.execute("UPDATE play SET seconds = 1 WHERE id = 1")
    db.close()
    diff_plan = tmp_path / "sync-plan.json"
    assert run_cli(config, "plan", "--diff", "--out", str(diff_plan)).exit_code == 0
    with sqlite3.connect(source) as db:
        db.execute("UPDATE play SET seconds = 2 WHERE id = 2")
    db.close()
    refused = run_cli(config, "sync", "--no-validate", "--plan", str(diff_plan))
    assert refused.exit_code == 2, refused.output
    assert f"since then the source {source} (SHA-256" in one_line(refused.stderr)
    assert sync(config) == (2, 0), "without the plan file, sync applies what is there now"

    assert run_cli(config, "plan", "--diff", "--out", str(diff_plan)).exit_code == 0
    with sqlite3.connect(source) as db:
        db.execute("UPDATE play SET seconds = 3 WHERE id = 3")
    db.close()
    assert run_cli(config, "plan", "--diff", "--out", str(diff_plan)).exit_code == 0
    assert sync(config, "--plan", str(diff_plan)) == (1, 0)
    # the plan was applied: the same difference is not there any more
    again = run_cli(config, "sync", "--no-validate", "--plan", str(diff_plan))
    assert again.exit_code == 2
    assert "the difference is not the one reviewed" in one_line(again.stderr)


def test_item_types_whose_source_tables_did_not_change_are_skipped_and_said_so(
    music: tuple[Path, Path], make_config: Any
) -> None:
    source, mappings = music
    config = make_config(source=source, mappings=mappings)
    assert run_cli(config, "migrate", "--no-validate").exit_code == 0
    result = run_cli(config, "plan", "--diff", "--format", "json")
    skipped = {d["item_type"]: d["skipped"] for d in json.loads(result.output)["item_types"]}
    assert skipped == {
        "Song": "none of song changed since the last run",
        "Play": "none of play changed since the last run",
    }

    with sqlite3.connect(source) as db:
        db.execute("UPDATE song SET title = 'Retitled' WHERE id = 3")
    db.close()
    document = json.loads(run_cli(config, "plan", "--diff", "--format", "json").output)
    by_type = {d["item_type"]: d for d in document["item_types"]}
    assert by_type["Song"]["skipped"] is None and by_type["Song"]["updated"] == 1
    assert by_type["Song"]["found_by"] == "digest" and by_type["Song"]["rows_rendered"] == 1
    assert by_type["Song"]["unchanged"] == 0, "of the one row rendered again (the others are not read)"
    assert by_type["Play"]["skipped"] == "none of play changed since the last run"
    assert sync(config) == (1, 0)
    status = run_cli(config, "status", "--no-check-target")
    assert "last sync of Play" in status.output and "0 unchanged" in status.output
    # a changed mapping is rendered even when its tables did not change
    (mappings / "music.yaml").write_text(MAPPING.replace("played song", "heard song"))
    counts = diff_counts(config)
    assert counts["Play"]["updated"] == PLAYS and counts["Song"]["updated"] == 0


# ------------------------------------------------------------------ items changed by someone else
def test_a_guarded_sync_leaves_items_changed_outside_the_tool_alone(
    music: tuple[Path, Path], make_config: Any, ddb: Any, prefix: str
) -> None:
    source, mappings = music
    (mappings / "music.yaml").write_text(
        MAPPING.replace("  - name: PlayHistory\n", "  - name: PlayHistory\n    fingerprint_attribute: _fp\n")
    )
    config = make_config(source=source, mappings=mappings)
    assert run_cli(config, "migrate", "--no-validate").exit_code == 0
    passes_validation(config)
    plays = f"{prefix}PlayHistory"
    assert "_fp" in ddb.get_item(TableName=plays, Key=play_key(5))["Item"]

    # the application changes plays 5 and 6 in DynamoDB; the source changes plays 5 and 7, and drops 6 and 8
    for play in (5, 6):
        ddb.update_item(
            TableName=plays,
            Key=play_key(play),
            UpdateExpression="SET Seconds = :s",
            ExpressionAttributeValues={":s": {"N": "999"}},
        )
    with sqlite3.connect(source) as db:
        db.execute("UPDATE play SET seconds = 1 WHERE id IN (5, 7)")
        db.execute("DELETE FROM play WHERE id IN (6, 8)")
    db.close()

    result = run_cli(config, "sync", "--no-validate", "--guard", "-t", "play_history")
    assert result.exit_code == 1, result.output
    text = one_line(result.stderr)
    assert "error: sync --guard: 2 item(s) were changed outside the tool and left as they are" in text
    for play in (5, 6):
        assert f'"SK": "PLAY#{play:06d}"' in text
        assert ddb.get_item(TableName=plays, Key=play_key(play))["Item"]["Seconds"] == {"N": "999"}, "kept"
    assert ddb.get_item(TableName=plays, Key=play_key(7))["Item"]["Seconds"] == {"N": "1"}
    assert "Item" not in ddb.get_item(TableName=plays, Key=play_key(8))
    # still reported until someone decides: the next guarded sync finds the same two
    again = run_cli(config, "sync", "--no-validate", "--guard", "-t", "play_history")
    assert again.exit_code == 1 and "2 item(s) were changed outside the tool" in one_line(again.stderr)
    # an unguarded sync overwrites them
    assert sync(config) == (1, 1)
    passes_validation(config)


def test_guard_needs_a_fingerprint_attribute(music: tuple[Path, Path], make_config: Any) -> None:
    source, mappings = music
    config = make_config(source=source, mappings=mappings)
    result = run_cli(config, "sync", "--no-validate", "--guard")
    assert result.exit_code == 2
    assert "error: sync --guard needs 'fingerprint_attribute' in the mapping of table MusicCatalog" in one_line(
        result.stderr
    )
