"""Opt-in change capture (#27): ``capture install/status/remove/prune`` and ``read_changes``.

Real SQLite files; no DynamoDB is needed (the capture commands never reach the target), so the
configuration points at an endpoint nothing listens on.
"""

from __future__ import annotations

import ast
import hashlib
import json
import shutil
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest
from conftest import CHINOOK, ROOT, error_lines, run_cli, write_config

from sqlite2ddb.commands import build_plan, info, load_config, scaffold
from sqlite2ddb.errors import CaptureGap
from sqlite2ddb.extract.capture_log import LOG_TABLE, META_TABLE, open_source_for_capture
from sqlite2ddb.extract.source import open_source
from sqlite2ddb.state import MigrationState
from sqlite2ddb.sync.capture import (
    consumed_position,
    current_position,
    key_columns,
    read_changes,
    record_position,
)
from sqlite2ddb.sync.capture_install import install, prune, remove

NOWHERE = "http://127.0.0.1:9"  # the capture commands never reach DynamoDB


@pytest.fixture()
def chinook(tmp_path: Path) -> tuple[Path, Path]:
    """A private Chinook copy in WAL mode and a configuration on it."""
    source = tmp_path / "chinook.sqlite"
    shutil.copy(CHINOOK, source)
    with sqlite3.connect(source) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
    return source, write_config(tmp_path / "run", source, NOWHERE, "cap_")


def app(source: Path) -> sqlite3.Connection:
    """The application's own connection: plain read-write, autocommit."""
    return sqlite3.connect(source, isolation_level=None)


def capture_objects(source: Path) -> list[str]:
    with sqlite3.connect(source) as conn:
        return [
            r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE name LIKE '\\_sqlite2ddb%' ESCAPE '\\'")
        ]


def test_install_status_prune_remove_round_trip(chinook: tuple[Path, Path]) -> None:
    source, config = chinook
    first = run_cli(config, "capture", "install")
    assert first.exit_code == 0, first.output
    assert "change capture on 11 table(s)" in first.output and "triggers created: 33" in first.output
    again = run_cli(config, "capture", "install")  # idempotent
    assert again.exit_code == 0 and "triggers created: 0, already installed: 33" in again.output

    status = run_cli(config, "capture", "status")
    assert status.exit_code == 0
    assert status.output.count(": installed") == 33 and "log: 0 row(s), empty" in status.output
    assert "consumed nothing yet" in status.output

    conn = open_source(source)
    start = current_position(conn)
    writer = app(source)
    writer.execute("UPDATE Track SET Name = 'x' WHERE TrackId IN (1, 2, 3)")
    changes, middle = read_changes(conn, start)
    assert changes == {"Track": {(1,), (2,), (3,)}} and middle == start + 3
    writer.execute("DELETE FROM Genre WHERE GenreId = 25")
    writer.execute("UPDATE PlaylistTrack SET TrackId = 2819 WHERE PlaylistId = 1 AND TrackId = 3402")  # composite key

    nothing = run_cli(config, "capture", "prune")  # no position consumed yet: every row may be needed
    assert nothing.exit_code == 0 and "nothing pruned" in nothing.output
    state = MigrationState.load(load_config(config).state_path)
    record_position(state, middle)
    assert consumed_position(MigrationState.load(state.path)) == middle

    pruned = run_cli(config, "capture", "prune")
    assert pruned.exit_code == 0 and f"deleted 3 log row(s) up to position {middle}" in pruned.output
    assert read_changes(conn, middle) == (  # the unconsumed rows stay
        {"Genre": {(25,)}, "PlaylistTrack": {(1, 3402), (1, 2819)}},
        middle + 3,
    )
    with pytest.raises(CaptureGap):
        read_changes(conn, start)  # pruned: the log no longer answers for it
    status = run_cli(config, "capture", "status")
    assert "log: 3 row(s)" in status.output and f"the state consumed {middle}" in status.output
    conn.close()

    removed = run_cli(config, "capture", "remove")
    assert removed.exit_code == 0 and "dropped 33 trigger(s) and the change log (3 row(s))" in removed.output
    assert capture_objects(source) == []
    writer.execute("UPDATE Track SET Name = 'y' WHERE TrackId = 1")  # the application writes on, unlogged
    assert "not installed" in run_cli(config, "capture", "status").output
    with pytest.raises(CaptureGap, match="not installed"):
        read_changes(open_source(source), middle)


def keyed_source(path: Path) -> Path:
    conn = app(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE pair (a TEXT, b INTEGER, v, PRIMARY KEY (a, b))")
    conn.execute("CREATE TABLE bare (x, y)")
    conn.execute("CREATE TABLE blobs (k BLOB PRIMARY KEY, v) WITHOUT ROWID")
    conn.close()
    return path


def test_read_changes_keys_of_every_kind(tmp_path: Path) -> None:
    source = keyed_source(tmp_path / "keys.sqlite")
    writable = open_source_for_capture(source)
    install(writable, ["pair", "bare", "blobs"])
    conn = open_source(source)
    start = current_position(conn)
    writer = app(source)
    writer.execute("INSERT INTO pair VALUES ('it''s', 1, 'a'), ('b', 2, 'b')")
    writer.execute("INSERT INTO bare VALUES (10, 20), (11, 21)")
    writer.execute("INSERT INTO blobs VALUES (x'00ff', 1)")
    changes, position = read_changes(conn, start)
    assert changes == {"pair": {("it's", 1), ("b", 2)}, "bare": {(1,), (2,)}, "blobs": {(b"\x00\xff",)}}
    keys = {table: key_columns(conn, table) for table in changes}  # what each tuple holds, read-only
    assert keys == {"pair": ("a", "b"), "bare": ("rowid",), "blobs": ("k",)}
    assert conn.execute("SELECT rowid, x FROM bare ORDER BY rowid").fetchall() == [(1, 10), (2, 11)]

    writer.execute("UPDATE pair SET b = 5 WHERE a = 'it''s'")  # the key changes: old and new
    writer.execute("UPDATE pair SET v = 'c' WHERE a = 'b'")  # the key stays: once
    writer.execute("UPDATE bare SET y = 0 WHERE x = 11")
    writer.execute("DELETE FROM bare WHERE x = 10")
    writer.execute("UPDATE blobs SET k = x'01' WHERE k = x'00ff'")
    changes, after = read_changes(conn, position)
    assert changes == {
        "pair": {("it's", 1), ("it's", 5), ("b", 2)},
        "bare": {(1,), (2,)},
        "blobs": {(b"\x00\xff",), (b"\x01",)},
    }
    assert after == position + 7  # two rows for each key change
    assert read_changes(conn, after) == ({}, after)  # nothing since

    writer.execute("BEGIN")
    writer.execute("INSERT INTO pair VALUES ('rolled', 0, 'back')")
    writer.execute("ROLLBACK")
    assert read_changes(conn, after) == ({}, after)  # a change rolled back is not a change


def test_read_changes_while_the_application_writes(tmp_path: Path) -> None:
    """WAL source: each read sees whole transactions; the reads together see every key written, in order."""
    source = keyed_source(tmp_path / "busy.sqlite")
    install(open_source_for_capture(source), ["pair"])
    conn = open_source(source)
    position = current_position(conn)
    written: set[tuple[str, int]] = set()
    done = threading.Event()

    def application() -> None:
        writer = app(source)
        for n in range(300):
            writer.execute("BEGIN IMMEDIATE")
            writer.executemany("INSERT INTO pair VALUES (?, ?, 'v')", [("t", n * 2), ("t", n * 2 + 1)])
            writer.execute("COMMIT")
            written.update({("t", n * 2), ("t", n * 2 + 1)})
        writer.close()
        done.set()

    thread = threading.Thread(target=application)
    thread.start()
    seen: set[tuple[str, int]] = set()
    reads = 0
    while not done.is_set() or reads == 0:
        changes, new = read_changes(conn, position)
        keys = changes.get("pair", set())
        assert new >= position and not keys & seen, "a change was read twice"
        assert len(keys) % 2 == 0, "a read saw half of a transaction"
        seen |= keys
        position, reads = new, reads + 1
    thread.join()
    changes, position = read_changes(conn, position)
    seen |= changes.get("pair", set())
    assert seen == written and len(seen) == 600
    assert reads > 1


def test_install_refuses_a_trigger_of_its_name_it_did_not_create(chinook: tuple[Path, Path]) -> None:
    source, config = chinook
    foreign = 'CREATE TRIGGER "_sqlite2ddb_capture_Album_insert" AFTER INSERT ON Album BEGIN SELECT 1; END'
    with sqlite3.connect(source) as conn:
        conn.execute(foreign)
    before = hashlib.sha256(source.read_bytes()).hexdigest()
    result = run_cli(config, "capture", "install")
    assert result.exit_code == 2
    [line] = error_lines(result.stderr)
    assert "_sqlite2ddb_capture_Album_insert already exists" in line and "did not create it" in line
    assert capture_objects(source) == ["_sqlite2ddb_capture_Album_insert"]  # nothing added, theirs kept
    assert hashlib.sha256(source.read_bytes()).hexdigest() == before
    status = run_cli(config, "capture", "status")
    assert "_sqlite2ddb_capture_Album_insert: not created by 'capture install'" in status.output
    removed = run_cli(config, "capture", "remove")
    assert removed.exit_code == 0 and capture_objects(source) == ["_sqlite2ddb_capture_Album_insert"]


def test_a_dropped_trigger_or_a_reinstall_makes_the_log_refuse_old_positions(tmp_path: Path) -> None:
    source = keyed_source(tmp_path / "gap.sqlite")
    writable = open_source_for_capture(source)
    install(writable, ["pair"])
    conn = open_source(source)
    position = current_position(conn)
    writer = app(source)
    writer.execute('DROP TRIGGER "_sqlite2ddb_capture_pair_delete"')
    with pytest.raises(CaptureGap, match="dropped or changed"):
        read_changes(conn, position)
    install(writable, ["pair"])  # put back: the deletes in between were not logged
    with pytest.raises(CaptureGap, match="not those after"):
        read_changes(conn, position)
    remove(writable)
    install(writable, ["pair", "bare"])
    with pytest.raises(CaptureGap):
        read_changes(conn, position)  # a new log never answers for a position of the old one
    newest = current_position(conn)
    assert newest > position
    install(writable, ["pair", "bare", "blobs"])  # a table added: its earlier changes are not in the log
    with pytest.raises(CaptureGap):
        read_changes(conn, newest)
    with pytest.raises(Exception, match="ahead of the change log"):
        prune(writable, current_position(conn) + 10)


def test_the_source_stays_read_only_for_every_other_command(chinook: tuple[Path, Path], tmp_path: Path) -> None:
    source, config = chinook
    assert run_cli(config, "capture", "install").exit_code == 0
    conn = open_source(source)
    for statement in (
        f"INSERT INTO \"{LOG_TABLE}\"(tbl, op, key, at) VALUES ('Album', 'insert', '1', 'now')",
        f'DELETE FROM "{LOG_TABLE}"',
        "UPDATE Album SET Title = 'x' WHERE AlbumId = 1",
        'DROP TRIGGER "_sqlite2ddb_capture_Album_insert"',
        f'DROP TABLE "{META_TABLE}"',
    ):
        with pytest.raises(sqlite3.OperationalError, match=r"readonly|read-only|not authorized"):
            conn.execute(statement)
    before = hashlib.sha256(source.read_bytes()).hexdigest()
    build_plan(load_config(config))
    assert run_cli(config, "capture", "status").exit_code == 0
    scaffold(str(source), str(tmp_path / "scaffolded"), None, "single-table")
    assert hashlib.sha256(source.read_bytes()).hexdigest() == before


def test_scaffold_does_not_map_the_change_log_nor_info_list_it(chinook: tuple[Path, Path], tmp_path: Path) -> None:
    source, config = chinook
    assert run_cli(config, "capture", "install").exit_code == 0
    app(source).execute("UPDATE Artist SET Name = 'x' WHERE ArtistId = 1")  # the log has a row
    out = tmp_path / "mapped"
    scaffold(str(source), str(out), None, "table-per-entity")
    written = "\n".join(p.read_text(encoding="utf-8") for p in out.rglob("*") if p.is_file())
    assert "Artist" in written and "_sqlite2ddb" not in written
    listed = info(load_config(config))["source"]["tables"]
    assert listed["Artist"] == 275 and not [t for t in listed if t.startswith("_sqlite2ddb")]


def test_only_the_capture_commands_open_the_source_for_writing() -> None:
    """``open_source_for_capture`` is the one read-write opener; only commands/capture.py calls it."""
    users = []
    for path in (ROOT / "engine").rglob("*.py"):
        if path.name == "capture_log.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        if any(isinstance(n, ast.Name) and n.id == "open_source_for_capture" for n in ast.walk(tree)):
            users.append(path.relative_to(ROOT).as_posix())
    assert users == ["engine/commands/capture.py"]


def test_install_while_the_application_holds_the_write_lock_says_so(tmp_path: Path) -> None:
    source = tmp_path / "chinook.sqlite"
    shutil.copy(CHINOOK, source)
    config = write_config(tmp_path / "run", source, NOWHERE, "cap_", busy_timeout=0.3)
    writer = app(source)
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("UPDATE Album SET Title = 'x' WHERE AlbumId = 1")
    result = run_cli(config, "capture", "install")
    assert result.exit_code == 2
    [line] = error_lines(result.stderr)
    assert "installing the change capture" in line and "locked" in line
    writer.execute("ROLLBACK")
    assert capture_objects(source) == []
    assert run_cli(config, "capture", "install").exit_code == 0


def test_a_table_of_the_logs_name_it_did_not_create_is_neither_used_nor_dropped(chinook: tuple[Path, Path]) -> None:
    source, config = chinook
    with sqlite3.connect(source) as conn:
        conn.execute(f'CREATE TABLE "{LOG_TABLE}" (mine TEXT)')
        conn.execute(f"INSERT INTO \"{LOG_TABLE}\" VALUES ('keep me')")
    result = run_cli(config, "capture", "install")
    assert result.exit_code == 2
    [line] = error_lines(result.stderr)
    assert f"table {LOG_TABLE} exists in the source and 'capture install' did not create it" in line
    assert "not installed: nothing removed" in run_cli(config, "capture", "remove").output
    with sqlite3.connect(source) as conn:
        assert conn.execute(f'SELECT mine FROM "{LOG_TABLE}"').fetchall() == [("keep me",)]
    assert capture_objects(source) == [LOG_TABLE]


def test_read_changes_inside_the_callers_read_transaction(tmp_path: Path) -> None:
    """The log and the rows it names can be read at one moment: a later commit is seen by neither."""
    source = keyed_source(tmp_path / "moment.sqlite")
    install(open_source_for_capture(source), ["pair"])
    conn = open_source(source)
    start = current_position(conn)
    writer = app(source)
    writer.execute("INSERT INTO pair VALUES ('a', 1, 'first')")
    conn.execute("BEGIN")
    changes, position = read_changes(conn, start)
    writer.execute("UPDATE pair SET v = 'second' WHERE a = 'a'")  # committed while the caller reads
    assert conn.in_transaction, "read_changes ended the caller's transaction"
    assert conn.execute("SELECT v FROM pair").fetchall() == [("first",)]
    assert read_changes(conn, start) == (changes, position) == ({"pair": {("a", 1)}}, start + 1)
    conn.execute("COMMIT")
    assert read_changes(conn, position) == ({"pair": {("a", 1)}}, position + 1)  # read again next time


def test_foreign_key_cascades_are_logged(tmp_path: Path) -> None:
    source = tmp_path / "cascade.sqlite"
    writer = app(source)
    writer.execute("PRAGMA foreign_keys = ON")
    writer.execute("CREATE TABLE parent (id INTEGER PRIMARY KEY)")
    writer.execute(
        "CREATE TABLE child (id INTEGER PRIMARY KEY, parent REFERENCES parent(id) ON DELETE CASCADE ON UPDATE CASCADE)"
    )
    writer.execute("INSERT INTO parent VALUES (1), (2)")
    writer.execute("INSERT INTO child VALUES (10, 1), (11, 2)")
    install(open_source_for_capture(source), ["parent", "child"])
    conn = open_source(source)
    start = current_position(conn)
    writer.execute("DELETE FROM parent WHERE id = 1")  # deletes child 10
    writer.execute("UPDATE parent SET id = 3 WHERE id = 2")  # updates child 11
    changes, _ = read_changes(conn, start)
    assert changes == {"parent": {(1,), (2,), (3,)}, "child": {(10,), (11,)}}


def test_rows_a_replace_removes_through_a_unique_constraint_are_logged(tmp_path: Path) -> None:
    """INSERT OR REPLACE fires no DELETE trigger for the row it removes: the capture logs it beforehand."""
    source = tmp_path / "replace.sqlite"
    writer = app(source)
    writer.execute(
        "CREATE TABLE person (id INTEGER PRIMARY KEY, email TEXT UNIQUE COLLATE NOCASE, a, b, UNIQUE (a, b))"
    )
    writer.execute("INSERT INTO person VALUES (1, 'x@y', 1, 1), (2, 'z@y', 2, 2)")
    writable = open_source_for_capture(source)
    created = install(writable, ["person"]).created
    assert sorted(created) == [
        f"_sqlite2ddb_capture_person_{op}" for op in ("delete", "insert", "ireplace", "update", "ureplace")
    ]
    conn = open_source(source)
    position = current_position(conn)
    writer.execute("INSERT OR REPLACE INTO person VALUES (3, 'X@Y', 9, 9)")  # removes 1 (same email, any case)
    changes, position = read_changes(conn, position)
    assert changes == {"person": {(1,), (3,)}}
    writer.execute("UPDATE OR REPLACE person SET a = 2, b = 2 WHERE id = 3")  # removes 2
    changes, position = read_changes(conn, position)
    assert changes == {"person": {(2,), (3,)}}
    with pytest.raises(sqlite3.IntegrityError):
        writer.execute("INSERT INTO person VALUES (4, 'x@y', 0, 0)")  # fails: nothing logged
    writer.execute("UPDATE person SET email = 'new@y' WHERE id = 3")  # its own unique values: logged once
    assert read_changes(conn, position) == ({"person": {(3,)}}, position + 1)
    assert conn.execute("SELECT id FROM person").fetchall() == [(3,)]


LOG_MAPPING = """\
tables:
  - name: Changes
    partition_key: {name: PK, type: S}
    sort_key: {name: SK, type: S}

item_types:
  - name: Change
    table: Changes
    query: SELECT seq, tbl FROM _sqlite2ddb_changes
    cursor: [seq]
    keys:
      PK: "CHANGE#{{ seq }}"
      SK: CHANGE
    attributes:
      Entity: {const: Change}
      Table: tbl
"""


def test_a_mapping_reading_the_change_log_is_refused(chinook: tuple[Path, Path], tmp_path: Path) -> None:
    source, config = chinook
    assert run_cli(config, "capture", "install").exit_code == 0
    mappings = tmp_path / "log_mapping"
    mappings.mkdir()
    (mappings / "changes.yaml").write_text(LOG_MAPPING, encoding="utf-8")
    other = write_config(tmp_path / "other", source, NOWHERE, "log_", mappings=mappings)
    result = run_cli(other, "plan")
    assert result.exit_code == 2
    [line] = error_lines(result.stderr)
    assert "changes.yaml" in line and "item type Change" in line
    assert f"reads {LOG_TABLE}, the change log 'capture install' added" in line


def test_sync_follows_the_change_log_once_capture_is_installed(
    chinook_copy: Path, make_config: Any, ddb: Any, prefix: str
) -> None:
    """After `capture install`, the catch-up reads the log (found by capture log), renders the changed rows
    only, the state consumes the log's position, and `validate` proves the tables."""
    config = make_config(source=chinook_copy)
    assert run_cli(config, "capture", "install").exit_code == 0
    assert run_cli(config, "migrate", "--no-validate").exit_code == 0
    first = run_cli(config, "sync")  # no position yet: the digests say it this once, and the position is taken
    assert first.exit_code == 0, first.output
    with sqlite3.connect(chinook_copy) as db:
        db.execute("UPDATE Track SET Name = 'Renamed by the application' WHERE TrackId = 1")
        db.execute("UPDATE Customer SET Email = 'new@example.com' WHERE CustomerId = 1")
    synced = run_cli(config, "sync")
    assert synced.exit_code == 0, synced.output
    assert "read the live source through the change log: no copy" in synced.output
    state = json.loads((config.parent / "state" / "migration_state.json").read_text())
    track = state["item_types"]["Track"]["last_sync"]
    assert track["found_by"] == "capture log" and 0 < track["rows_rendered"] < 10, track
    held = ddb.get_item(TableName=f"{prefix}MusicCatalog", Key={"PK": {"S": "TRACK#1"}, "SK": {"S": "PROFILE"}})
    assert "Renamed by the application" in json.dumps(held.get("Item", {})), held
    newest = sqlite3.connect(chinook_copy).execute("SELECT max(seq) FROM _sqlite2ddb_changes").fetchone()[0]
    capture = state["capture"]
    assert capture["position"] == newest, (capture, newest)
    assert run_cli(config, "validate").exit_code == 0
    with sqlite3.connect(chinook_copy) as db:  # a change the log cannot follow to rows: a copy is read
        db.execute(f"DELETE FROM {META_TABLE} WHERE name = 'base'")
        db.execute("UPDATE Track SET Name = 'Renamed again' WHERE TrackId = 1")
    fallback = run_cli(config, "sync")
    assert fallback.exit_code == 0, fallback.output
    assert "no copy" not in fallback.output
    held = ddb.get_item(TableName=f"{prefix}MusicCatalog", Key={"PK": {"S": "TRACK#1"}, "SK": {"S": "PROFILE"}})
    assert "Renamed again" in json.dumps(held.get("Item", {})), held
