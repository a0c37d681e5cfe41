"""The catch-up: sync renders only the rows a change reaches, and ends where a full sync would.

Real DynamoDB Local, real SQLite files. A query whose joins cannot be
followed renders in full and says why; a sync killed mid-way is finished by
the next one; a moved track reaches every item that holds it. The seeded
random stream of changes is in test_catchup_random.py (a file of its own, so
that parallel test workers run it beside these).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from catchup_checks import full_difference, last_syncs, store_equals_tables, sync_ok
from conftest import passes_validation, run_cli, run_process

KILL_AT = "SQLITE2DDB_KILL_AT"


@pytest.fixture(autouse=True)
def wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "500")


# ------------------------------------------------------------------ the tests
def test_a_query_whose_joins_cannot_be_followed_renders_in_full_and_says_why(
    chinook_copy: Path, make_config: Any
) -> None:
    config = make_config(source=chinook_copy)
    assert run_cli(config, "migrate", "--no-validate").exit_code == 0
    with sqlite3.connect(chinook_copy) as db:
        db.execute("UPDATE Album SET Title = 'Renamed' WHERE AlbumId = 1")
        db.execute("UPDATE Employee SET Title = 'Boss' WHERE EmployeeId = 1")
    db.close()
    sync_ok(config)
    last = last_syncs(config)
    assert last["Artist"]["found_by"] == "full render"
    assert "subquery" in last["Artist"]["found_why"]
    assert last["Employee"]["found_by"] == "full render" and "WITH clause" in last["Employee"]["found_why"]
    assert last["Album"]["found_by"] == "digest" and last["Album"]["rows_rendered"] == 1
    assert last["Track"]["found_by"] == "digest" and last["Track"]["rows_rendered"] == 10  # album 1's tracks
    assert full_difference(config) == {}


def test_a_catch_up_killed_while_writing_is_finished_by_the_next(
    chinook_copy: Path, make_config: Any, ddb: Any
) -> None:
    config = make_config(source=chinook_copy, workers=1, parallel_tables=1)
    assert run_cli(config, "migrate", "--no-validate").exit_code == 0
    with sqlite3.connect(chinook_copy) as db:
        db.execute("UPDATE Track SET Name = Name || ' (live)' WHERE TrackId <= 40")
        db.execute("UPDATE Track SET AlbumId = 2 WHERE TrackId BETWEEN 41 AND 45")
        db.execute("DELETE FROM InvoiceLine WHERE InvoiceId <= 3")
        db.execute("DELETE FROM Invoice WHERE InvoiceId <= 3")
    db.close()
    killed = run_process(config, "sync", "--no-validate", env={KILL_AT: "after_write:3"})
    assert killed.returncode == -9, killed.stdout + killed.stderr
    assert full_difference(config) != {}, "the kill left work to do"
    sync_ok(config)
    assert full_difference(config) == {}
    store_equals_tables(config, ddb)
    last = last_syncs(config)
    assert last["Track"]["found_by"] == "digest" and last["Track"]["rows_rendered"] == 45
    passes_validation(config)


# ------------------------------------------------------------------ following rows, without DynamoDB
@pytest.fixture()
def plan_and_conn() -> Any:
    from conftest import CHINOOK, CHINOOK_MAPPINGS

    from sqlite2ddb.extract.source import open_source
    from sqlite2ddb.plan.compile import compile_plan
    from sqlite2ddb.spec import load_mapping_set

    conn = open_source(CHINOOK)
    yield compile_plan(load_mapping_set(CHINOOK_MAPPINGS), conn, "x_", count=False), conn
    conn.close()


def test_a_moved_track_reaches_both_albums_its_playlist_entries_and_invoices(plan_and_conn: Any) -> None:
    from sqlite2ddb.plan.follow import follower
    from sqlite2ddb.state.snapshot import tables_read

    plan, conn = plan_and_conn

    def cursors(name: str, table: str, rows: list[dict[str, Any]]) -> set[tuple[Any, ...]]:
        item = plan.item_type(name)
        found = follower(conn, item, tables_read(conn, item))
        assert not isinstance(found, str), found
        return {c for r in found.routes if r.table == table for c in r.cursors(conn, rows)}

    old, new = {"trackid": 1, "albumid": 1, "genreid": 1, "mediatypeid": 1}, {"trackid": 1, "albumid": 2}
    assert cursors("Album", "Track", [old, new]) == {(1,), (2,)}
    assert cursors("Track", "Track", [old, new]) == {(1,)}
    playlists = {r[0] for r in conn.execute("SELECT PlaylistId FROM PlaylistTrack WHERE TrackId = 1")}
    assert cursors("PlaylistTrack", "Track", [old]) == {(p, 1) for p in playlists}
    invoices = {r[0] for r in conn.execute("SELECT InvoiceId FROM InvoiceLine WHERE TrackId = 1")}
    assert cursors("Invoice", "Track", [old]) == {(i,) for i in invoices}
    genre_tracks = conn.execute("SELECT count(*) FROM Track WHERE GenreId = 1").fetchone()[0]
    assert len(cursors("Track", "Genre", [{"genreid": 1}])) == genre_tracks


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ("SELECT t.TrackId, t.Name FROM Track t JOIN Album al ON al.AlbumId < t.AlbumId", "not an equality"),
        (
            "SELECT t.TrackId, (SELECT count(*) FROM PlaylistTrack p WHERE p.TrackId = t.TrackId) AS n FROM Track t",
            "subquery",
        ),
        ("SELECT AlbumId AS TrackId, count(*) AS n FROM Track GROUP BY AlbumId", "GROUP BY"),
        ("SELECT TrackId + 0 AS TrackId FROM Track", "not a plain column"),
    ],
)
def test_what_cannot_be_followed_says_why(plan_and_conn: Any, query: str, reason: str) -> None:
    import dataclasses

    from sqlite2ddb.plan.follow import Unfollowable, follower
    from sqlite2ddb.state.snapshot import tables_read

    plan, conn = plan_and_conn
    item = plan.item_type("Track")
    changed = dataclasses.replace(item, spec=dataclasses.replace(item.spec, query=query, cursor=("TrackId",)))
    found = follower(conn, changed, tables_read(conn, changed))
    assert isinstance(found, Unfollowable) and reason in found, found


def test_a_change_log_reader_plugs_in_where_the_row_digests_are_read(plan_and_conn: Any, tmp_path: Path) -> None:
    """The capture's ``read_changes(conn, since) -> (table -> keys, position)`` feeds the same catch-up."""
    from sqlite2ddb.state.catchup import CatchupStore
    from sqlite2ddb.state.row_digests import record_all
    from sqlite2ddb.state.snapshot import source_digests
    from sqlite2ddb.sync.catchup import CAPTURE, CaptureLog, find_changes

    plan, conn = plan_and_conn
    items = list(plan.item_types)
    reads, digests = source_digests(conn, items)
    calls: list[int] = []

    def read_changes(live: sqlite3.Connection, since: int) -> tuple[dict[str, set[tuple[Any, ...]]], int]:
        calls.append(since)
        return {"Track": {(1,)}}, 7

    with CatchupStore.of(tmp_path) as store:
        record_all(conn, plan, store, reads, digests, "r0")
        store.commit("r0", [], {}, {}, position=3)
        moved = {**digests, "Track": "moved"}  # the Track table's content digest moved
        settled = {i.name: True for i in items}
        found = find_changes(
            conn, plan, items, store, reads, moved, settled, CaptureLog(conn, read_changes, lambda live: 0)
        )
    assert calls == [3] and found.position == 7
    assert found.found["Track"].how == CAPTURE and found.found["Track"].cursors == {(1,)}
    albums = {r[0] for r in conn.execute("SELECT AlbumId FROM Track WHERE TrackId = 1")}
    assert found.found["Album"].cursors == {(a,) for a in albums}
    assert found.found["Artist"].how == "full render"
