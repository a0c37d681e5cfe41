"""codegen: the generated data-access package answers every access pattern as SQL does, and writes what sync expects.

Chinook, chinook-extended and a scaffolded set of a small database built here
are migrated to DynamoDB Local; ``codegen`` writes their packages (which pass
ruff and mypy) and ``validate --generated`` answers every pattern through the
generated methods. Damaged copies of the generated code (a wrong index, a
missing page, a reversed order, a missing method) fail, naming the pattern.
New rows written through the generated ``put_`` functions, and a rename
carried to every copy the generated copy-finder finds, leave ``plan --diff
--against-target`` nothing to change.
"""

from __future__ import annotations

import dataclasses
import shutil
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from conftest import CHINOOK, ROOT, error_lines, run_cli, write_config

from sqlite2ddb import commands
from sqlite2ddb.config import load_config
from sqlite2ddb.dynamodb.target import LOCAL_CREDENTIALS
from sqlite2ddb.validate.generated import MARKER, load_generated

PATTERNS = {"chinook": 21, "chinook-extended": 6}


@pytest.fixture(scope="module")
def chinook(tmp_path_factory: pytest.TempPathFactory, ddb_url: str) -> SimpleNamespace:
    """Chinook (a private copy) migrated once for this module, and its generated package."""
    folder = tmp_path_factory.mktemp("codegen")
    source = folder / "chinook.sqlite"
    shutil.copy(CHINOOK, source)
    prefix = f"t{uuid.uuid4().hex[:8]}_"
    config = write_config(folder / "run", source, ddb_url, prefix)
    assert run_cli(config, "migrate", "--no-validate").exit_code == 0
    out = folder / "generated"
    result = run_cli(config, "codegen", "--lang", "python", "--out", str(out))
    assert result.exit_code == 0, result.output
    return SimpleNamespace(config=config, source=source, out=out, prefix=prefix, url=ddb_url)


def generated_proof(config: Path, out: Path, checks: tuple[str, ...] = ("pattern:",)) -> Any:
    return commands.validate(load_config(config), checks=checks, generated=str(out))


@pytest.fixture(scope="module")
def mypy_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One mypy cache for the module's packages (each has its own name), so the standard library is read once."""
    return tmp_path_factory.mktemp("mypy_cache")


def lint(out: Path, cache: Path) -> None:
    """The generated package passes ruff and mypy (with the settings of its own pyproject.toml)."""
    for tool in (["ruff", "check", "."], ["mypy", "--cache-dir", str(cache), "."]):
        done = subprocess.run([sys.executable, "-m", *tool], cwd=out, capture_output=True, text=True)
        assert done.returncode == 0, f"{tool[0]}: {done.stdout}{done.stderr}"


def assert_all_proven(result: Any, count: int) -> None:
    patterns = [c for c in result.checks if c.name.startswith("pattern:")]
    assert len(patterns) == count
    for check in patterns:
        assert check.passed and check.compared > 0, (check.name, check.summary, check.failures[:3])
        assert "calls of the generated" in check.summary, check.summary


def test_chinook_every_pattern_through_the_generated_code(chinook: SimpleNamespace, mypy_cache: Path) -> None:
    lint(chinook.out, mypy_cache)
    source = (chinook.out / "chinook_data" / "__init__.py").read_text()
    assert "def p02_albums_of_artist(self, *, id: int) -> list[Album]:" in source
    assert "def p03_album_with_tracks(self, *, id: int) -> list[AlbumTracksEntry]:" in source
    assert "def put_playlist_track(self, record: PlaylistTrack) -> dict[str, Any]:" in source
    assert_all_proven(generated_proof(chinook.config, chinook.out), PATTERNS["chinook"])


def test_generated_api_reads_pages_and_typed_records(chinook: SimpleNamespace, monkeypatch: pytest.MonkeyPatch) -> None:
    # DynamoDB Local keeps tables apart by access key: the tool's local target uses "local"
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", LOCAL_CREDENTIALS["aws_access_key_id"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", LOCAL_CREDENTIALS["aws_secret_access_key"])
    module = load_generated(chinook.out, _digest(chinook.out))
    api = module.connect(region="us-east-1", endpoint_url=chinook.url, table_prefix=chinook.prefix)
    albums = api.p02_albums_of_artist(id=90)  # Iron Maiden: 21 albums
    assert [a.AlbumId for a in albums] == sorted(a.AlbumId for a in albums) and len(albums) == 21
    assert all(type(a).__name__ == "Album" and isinstance(a.Title, str) for a in albums)
    paged, token = [], None
    while True:
        page, token = api.p02_albums_of_artist_page(id=90, limit=4, next_token=token)
        paged += page
        if token is None:
            break
    assert paged == albums
    tracks = api.p03_album_with_tracks(id=1)
    assert [t.TrackId for t in tracks] == [1, *range(6, 15)] and tracks[0].UnitPrice == 0.99
    artist = api.p01_artist_by_id(id=1)
    assert dataclasses.asdict(artist)["Name"] == "AC/DC" and artist.AlbumCount == 2
    assert api.p01_artist_by_id(id=999999) is None
    assert set(module.COPIES["Track"]) >= {"Album", "PlaylistTrack"}


DAMAGE = [  # (what, pattern, edits, what the failure says)
    ("wrong index", "p05-tracks-of-genre", [("'IndexName': 'GSI2',", "'IndexName': 'GSI1',")], "request failed"),
    (
        "reversed order",
        "p02-albums-of-artist",
        [("'ScanIndexForward': True,", "'ScanIndexForward': False,")],
        "values differ from SQL",
    ),
    (
        "first page only",
        "p02-albums-of-artist",
        [("PAGE_SIZE: int | None = None", "PAGE_SIZE: int | None = 2"), ("while token is not None:", "while False:")],
        "values differ from SQL",
    ),
]


@pytest.mark.parametrize(("what", "pattern", "edits", "says"), DAMAGE, ids=[d[0] for d in DAMAGE])
def test_damaged_generated_code_fails_naming_the_pattern(
    chinook: SimpleNamespace, tmp_path: Path, what: str, pattern: str, edits: list[tuple[str, str]], says: str
) -> None:
    damaged = _damaged_copy(chinook.out, tmp_path, pattern, edits)
    result = generated_proof(chinook.config, damaged, (f"pattern:{pattern}",))
    (check,) = result.checks
    assert check.name == f"pattern:{pattern}" and not check.passed, what
    assert any(says in f.message for f in check.failures), check.failures[:3]
    assert not any(c.passed for c in result.checks)


def test_a_missing_generated_method_is_never_proven(chinook: SimpleNamespace, tmp_path: Path) -> None:
    damaged = tmp_path / "damaged"
    shutil.copytree(chinook.out, damaged)
    module = damaged / "chinook_data" / "__init__.py"
    module.write_text(module.read_text().replace("def p01_artist_by_id(", "def p01_artist_by_id_gone("))
    result = run_cli(chinook.config, "validate", "--generated", str(damaged), "--check", "pattern:p01-artist-by-id")
    assert result.exit_code == 1
    assert "pattern:p01-artist-by-id" in result.output and "FAIL" in result.output
    (check,) = generated_proof(chinook.config, damaged, ("pattern:p01-artist-by-id",)).checks
    assert not check.passed and check.compared == 275
    messages = [f.message for f in check.failures]
    assert any("the generated code has no method p01_artist_by_id" in m for m in messages), messages[:3]
    assert check.failure_count == 275 + 1  # each value, and "the generated p01_artist_by_id answered 0 of 275"


def test_codegen_never_writes_into_a_folder_it_did_not_write(chinook: SimpleNamespace, tmp_path: Path) -> None:
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    result = run_cli(chinook.config, "codegen", "--out", str(mine))
    assert result.exit_code == 2
    (line,) = error_lines(result.stderr)
    assert str(mine) in line and MARKER in line
    assert (mine / "notes.txt").read_text() == "keep me" and not (mine / MARKER).exists()
    again = tmp_path / "again"
    assert run_cli(chinook.config, "codegen", "--out", str(again)).exit_code == 0
    (again / "pyproject.toml").unlink()
    (again / "pyproject.toml").write_text("mine now")  # a file codegen wrote, replaced: still codegen's to write
    assert run_cli(chinook.config, "codegen", "--out", str(again)).exit_code == 0
    (again / "chinook_data" / "extra.py").write_text("x = 1\n")
    assert run_cli(chinook.config, "codegen", "--out", str(again)).exit_code == 0
    assert (again / "chinook_data" / "extra.py").read_text() == "x = 1\n"


def test_writes_through_the_generated_put_leave_nothing_to_sync(chinook: SimpleNamespace) -> None:
    """New rows written as the application would, through put_; then a rename carried to every copy found."""
    module = load_generated(chinook.out, _digest(chinook.out))
    import boto3

    client = boto3.client("dynamodb", endpoint_url=chinook.url, region_name="us-east-1", **LOCAL_CREDENTIALS)
    api = module.connect(client=client, table_prefix=chinook.prefix)
    conn = sqlite3.connect(chinook.source)
    with conn:
        _add_rows(conn)
    before = _changes(chinook.config)
    assert {t: before[t]["new"] for t in ("Artist", "Album", "Track", "Customer", "Invoice")} == {
        "Artist": 1,
        "Album": 1,
        "Track": 3,
        "Customer": 1,
        "Invoice": 1,
    }
    _put_new_items(module, api, conn)
    assert _nothing_to_change(chinook.config)

    track_id = conn.execute(
        "SELECT TrackId FROM Track WHERE TrackId IN (SELECT TrackId FROM PlaylistTrack)"
        " AND TrackId NOT IN (SELECT TrackId FROM InvoiceLine) ORDER BY TrackId LIMIT 1"
    ).fetchone()[0]
    with conn:
        conn.execute("UPDATE Track SET Name = 'Renamed By Codegen' WHERE TrackId = ?", (track_id,))
    track = dataclasses.replace(api.p04_track_by_id(id=track_id), Name="Renamed By Codegen")
    api.put_track(track)
    stale = _changes(chinook.config)
    assert stale["Album"]["updated"] == 1 and stale["PlaylistTrack"]["updated"] >= 1
    copies = api.copies_of_track(track)
    assert {t for t, _ in copies} == {"Album", "PlaylistTrack"}
    assert sum(1 for t, _ in copies if t == "PlaylistTrack") == stale["PlaylistTrack"]["updated"]
    for item_type, key in copies:
        if item_type == "Album":
            album = api.get_album_by_key(key)
            for entry in album.Tracks:
                if entry.TrackId == track_id:
                    entry.Name = track.Name
            api.put_album(album)
        else:
            api.put_playlist_track(dataclasses.replace(api.get_playlist_track_by_key(key), TrackName=track.Name))
    assert _nothing_to_change(chinook.config)
    conn.close()


def test_chinook_extended_through_the_generated_code(make_config: Any, tmp_path: Path, mypy_cache: Path) -> None:
    """Every pattern once, multi-attribute index keys (x04-x06) included; the command's exit on one of them."""
    config = make_config(mappings=ROOT / "mappings" / "chinook-extended")
    assert run_cli(config, "migrate", "--no-validate").exit_code == 0
    out = tmp_path / "sales"
    assert run_cli(config, "codegen", "--out", str(out)).exit_code == 0
    lint(out, mypy_cache)
    source = (out / "chinook_extended_data" / "__init__.py").read_text()
    assert "'#pk0 = :pk0 AND #pk1 = :pk1 AND #sk0 = :sk0_0 AND #sk1 >= :sk1_0'" in source
    pattern = "pattern:x05-tracks-of-genre-and-media-of-a-length"
    result = run_cli(config, "validate", "--generated", str(out), "--check", pattern)
    assert result.exit_code == 0, result.output
    assert pattern in result.output
    assert_all_proven(generated_proof(config, out), PATTERNS["chinook-extended"])


def test_scaffolded_set_through_the_generated_code(make_config: Any, tmp_path: Path, mypy_cache: Path) -> None:
    from test_scaffold import ORDERS, _orders_rows, build

    source = build(tmp_path / "orders.sqlite", ORDERS, _orders_rows)
    mappings = tmp_path / "mappings" / "orders"
    assert run_cli(None, "scaffold", "-s", str(source), "-o", str(mappings)).exit_code == 0
    config = make_config(source=source, mappings=mappings)
    assert run_cli(config, "migrate", "--no-validate").exit_code == 0
    out = tmp_path / "orders_code"
    assert run_cli(config, "codegen", "--out", str(out)).exit_code == 0
    lint(out, mypy_cache)
    count = len(commands.load_mapping_set(str(mappings)).access_patterns)
    assert count >= 10
    assert_all_proven(generated_proof(config, out), count)


def _digest(out: Path) -> str:
    import json

    return str(json.loads((out / MARKER).read_text())["mapping_digest"])


def _damaged_copy(out: Path, tmp_path: Path, pattern: str, edits: list[tuple[str, str]]) -> Path:
    """A copy of the generated package with ``edits`` made in the request (or paging) of ``pattern``'s method."""
    damaged = tmp_path / "damaged"
    shutil.copytree(out, damaged)
    module = damaged / "chinook_data" / "__init__.py"
    text = module.read_text()
    builder = f"def _{pattern.replace('-', '_')}_request("
    for old, new in edits:
        start = text.index(builder) if old.startswith("'") else 0
        at = text.index(old, start)
        text = text[:at] + new + text[at + len(old) :]
    module.write_text(text)
    return damaged


def _changes(config: Path) -> dict[str, dict[str, Any]]:
    difference = commands.plan_diff(load_config(config), against_target=True)
    return {d["item_type"]: d for d in difference["item_types"]}


def _nothing_to_change(config: Path) -> bool:
    changes = _changes(config)
    changed = {t: d for t, d in changes.items() if d["new"] or d["updated"] or d["deleted"] or d["errors"]}
    assert not changed, changed
    return True


def _add_rows(conn: sqlite3.Connection) -> None:
    conn.execute("INSERT INTO Artist (ArtistId, Name) VALUES (9001, 'Zed Codegen')")
    conn.execute("INSERT INTO Album (AlbumId, Title, ArtistId) VALUES (9001, 'Generated Hits', 9001)")
    tracks = [
        (90001, "First Call", 9001, 1, 1, "Zed", 201000, 4000000, 0.99),
        (90002, "Second Page", 9001, 1, 2, None, 187500, 3500000, 0.99),
        (90003, "Last Token", 9001, 3, 1, "Zed & Co", 240250, 5100000, 1.99),
    ]
    conn.executemany(
        "INSERT INTO Track (TrackId, Name, AlbumId, MediaTypeId, GenreId, Composer, Milliseconds, Bytes, UnitPrice)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        tracks,
    )
    conn.execute(
        "INSERT INTO Customer (CustomerId, FirstName, LastName, Company, Address, City, State, Country, PostalCode,"
        " Phone, Fax, Email, SupportRepId) VALUES (9001, 'Ada', 'Gen', NULL, '1 Code St', 'Basel', NULL,"
        " 'Switzerland', '4001', '+41 61 000', NULL, 'ada.gen@example.com', 3)"
    )
    conn.execute(
        "INSERT INTO Invoice (InvoiceId, CustomerId, InvoiceDate, BillingAddress, BillingCity, BillingState,"
        " BillingCountry, BillingPostalCode, Total) VALUES (9001, 9001, '2025-01-02 00:00:00', '1 Code St',"
        " 'Basel', NULL, 'Switzerland', '4001', 2.98)"
    )
    conn.executemany(
        "INSERT INTO InvoiceLine (InvoiceLineId, InvoiceId, TrackId, UnitPrice, Quantity) VALUES (?, 9001, ?, ?, 1)",
        [(90001, 90001, 0.99), (90002, 90003, 1.99)],
    )


def _rows(conn: sqlite3.Connection, sql: str, *args: Any) -> list[dict[str, Any]]:
    cursor = conn.execute(sql, args)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row)) for row in cursor]


def _put_new_items(m: Any, api: Any, conn: sqlite3.Connection) -> None:
    """The new rows as the application writes them: each record, copies included, from the rows."""
    tracks = _rows(
        conn,
        "SELECT t.*, g.Name AS Genre, mt.Name AS MediaType FROM Track t JOIN Genre g USING (GenreId)"
        " JOIN MediaType mt USING (MediaTypeId) WHERE AlbumId = 9001 ORDER BY TrackId",
    )
    api.put_artist(m.Artist(ArtistId=9001, Name="Zed Codegen", AlbumCount=1))
    entries = [
        m.AlbumTracksEntry(
            TrackId=t["TrackId"],
            Name=t["Name"],
            Milliseconds=t["Milliseconds"],
            UnitPrice=t["UnitPrice"],
            Genre=t["Genre"],
            MediaType=t["MediaType"],
            Composer=t["Composer"],
        )
        for t in tracks
    ]
    api.put_album(
        m.Album(
            AlbumId=9001,
            Title="Generated Hits",
            ArtistId=9001,
            ArtistName="Zed Codegen",
            Tracks=entries,
            TrackCount=len(tracks),
            DurationMs=sum(t["Milliseconds"] for t in tracks),
        )
    )
    for t in tracks:
        api.put_track(
            m.Track(
                TrackId=t["TrackId"],
                Name=t["Name"],
                AlbumId=9001,
                AlbumTitle="Generated Hits",
                ArtistId=9001,
                ArtistName="Zed Codegen",
                GenreId=t["GenreId"],
                Genre=t["Genre"],
                MediaTypeId=t["MediaTypeId"],
                MediaType=t["MediaType"],
                Composer=t["Composer"],
                Milliseconds=t["Milliseconds"],
                Bytes=t["Bytes"],
                UnitPrice=t["UnitPrice"],
            )
        )
    (customer,) = _rows(conn, "SELECT * FROM Customer WHERE CustomerId = 9001")
    (rep,) = _rows(conn, "SELECT EmployeeId, FirstName, LastName, Email FROM Employee WHERE EmployeeId = 3")
    api.put_customer(m.Customer(Entity="Customer", **customer, SupportRep=rep))
    (invoice,) = _rows(conn, "SELECT * FROM Invoice WHERE InvoiceId = 9001")
    lines = _rows(
        conn,
        "SELECT il.InvoiceLineId, il.TrackId, t.Name AS TrackName, il.UnitPrice, il.Quantity"
        " FROM InvoiceLine il JOIN Track t USING (TrackId) WHERE InvoiceId = 9001 ORDER BY InvoiceLineId",
    )
    api.put_invoice(m.Invoice(**invoice, Lines=[m.InvoiceLinesEntry(**line) for line in lines], LineCount=len(lines)))
