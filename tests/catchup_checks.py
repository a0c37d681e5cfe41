"""Random changes to Chinook and the checks that a catch-up ended where a full sync would.

Shared by the catch-up tests (``test_catchup.py`` and ``test_catchup_random.py``: row digests;
``test_capture_catchup.py``: the capture log, and a source changed while the catch-up runs). ``Changer`` makes the changes an
application could make; ``full_difference`` renders every item type in full and compares it with the
fingerprint store; ``store_equals_tables`` compares the store with what the tables hold.
"""

from __future__ import annotations

import dataclasses
import json
import random
import sqlite3
import zlib
from collections import Counter
from pathlib import Path
from typing import Any

from conftest import run_cli, scan_all

from sqlite2ddb.canonical import key_of
from sqlite2ddb.config import load_config
from sqlite2ddb.plan.opened import opened_plan
from sqlite2ddb.state.fingerprints import FingerprintStore, key_text
from sqlite2ddb.sync.diff import Differ
from sqlite2ddb.sync.item_diff import canonical_form


# ------------------------------------------------------------------ random changes an application could make
class Changer:
    """Random changes to Chinook, with fresh ids for new rows and new primary keys.

    ``keep``: table -> keys no change deletes or gives another key (a row a test reads back).
    """

    def __init__(self, db: sqlite3.Connection, rng: random.Random, keep: dict[str, set[Any]] | None = None) -> None:
        self.db = db
        self.rng = rng
        self.done: Counter[str] = Counter()
        self.next_id = 100_000
        self.keep = keep or {}

    def ids(self, table: str, column: str) -> list[Any]:
        return [r[0] for r in self.db.execute(f"SELECT {column} FROM {table}")]

    def pick(self, table: str, column: str) -> Any:
        kept = self.keep.get(table, set())
        return self.rng.choice([i for i in self.ids(table, column) if i not in kept])

    def fresh(self) -> int:
        self.next_id += 1
        return self.next_id

    def round(self, changes: int, operations: tuple[str, ...] | None = None) -> None:
        """``changes`` random changes, committed together."""
        with self.db:
            self.apply(changes, operations)

    def apply(self, changes: int, operations: tuple[str, ...] | None = None) -> None:
        """``changes`` random changes (of ``operations``, default all) in the connection's transaction (the
        caller commits)."""
        names = [f"op_{o}" for o in operations] if operations else [m for m in dir(self) if m.startswith("op_")]
        for _ in range(changes):
            name = self.rng.choice(names)
            getattr(self, name)()
            self.done[name[3:]] += 1

    # -- music
    def op_track_renamed(self) -> None:
        self.db.execute(
            "UPDATE Track SET Name = ? WHERE TrackId = ?", (f"T{self.fresh()}", self.pick("Track", "TrackId"))
        )

    def op_track_moved_to_another_album(self) -> None:
        album = self.pick("Album", "AlbumId")
        self.db.execute("UPDATE Track SET AlbumId = ? WHERE TrackId = ?", (album, self.pick("Track", "TrackId")))

    def op_track_genre_changed(self) -> None:
        genre = self.pick("Genre", "GenreId")
        self.db.execute("UPDATE Track SET GenreId = ? WHERE TrackId = ?", (genre, self.pick("Track", "TrackId")))

    def op_track_key_changed(self) -> None:  # the rows that refer to it follow (ON UPDATE CASCADE)
        old, new = self.pick("Track", "TrackId"), self.fresh()
        self.db.execute("UPDATE Track SET TrackId = ? WHERE TrackId = ?", (new, old))
        self.db.execute("UPDATE InvoiceLine SET TrackId = ? WHERE TrackId = ?", (new, old))
        self.db.execute("UPDATE PlaylistTrack SET TrackId = ? WHERE TrackId = ?", (new, old))

    def op_track_inserted(self) -> None:
        self.db.execute(
            "INSERT INTO Track (TrackId, Name, AlbumId, MediaTypeId, GenreId, Milliseconds, UnitPrice) "
            "VALUES (?, 'New', ?, ?, ?, 1000, 0.99)",
            (self.fresh(), self.pick("Album", "AlbumId"), self.pick("MediaType", "MediaTypeId"), 1),
        )

    def op_track_deleted(self) -> None:  # with the rows that refer to it (ON DELETE CASCADE)
        track = self.pick("Track", "TrackId")
        for table in ("InvoiceLine", "PlaylistTrack", "Track"):
            self.db.execute(f"DELETE FROM {table} WHERE TrackId = ?", (track,))

    def op_album_changed(self) -> None:
        album = self.pick("Album", "AlbumId")
        self.db.execute(
            "UPDATE Album SET Title = ?, ArtistId = ? WHERE AlbumId = ?",
            (f"A{self.fresh()}", self.pick("Artist", "ArtistId"), album),
        )

    def op_album_inserted_or_deleted(self) -> None:
        if self.rng.random() < 0.5:
            self.db.execute(
                "INSERT INTO Album VALUES (?, 'New album', ?)", (self.fresh(), self.pick("Artist", "ArtistId"))
            )
        else:
            self.db.execute("DELETE FROM Album WHERE AlbumId = ?", (self.pick("Album", "AlbumId"),))

    def op_artist_changed(self) -> None:
        choice = self.rng.random()
        if choice < 0.6:
            self.db.execute(
                "UPDATE Artist SET Name = ? WHERE ArtistId = ?", (f"R{self.fresh()}", self.pick("Artist", "ArtistId"))
            )
        elif choice < 0.8:
            self.db.execute("INSERT INTO Artist VALUES (?, 'New artist')", (self.fresh(),))
        else:
            alone = self.ids("Artist WHERE ArtistId NOT IN (SELECT ArtistId FROM Album)", "ArtistId")
            self.db.execute("DELETE FROM Artist WHERE ArtistId = ?", (self.rng.choice(alone),))

    def op_lookup_renamed(self) -> None:
        table, column = self.rng.choice([("Genre", "GenreId"), ("MediaType", "MediaTypeId")])
        self.db.execute(
            f"UPDATE {table} SET Name = ? WHERE {column} = ?", (f"L{self.fresh()}", self.pick(table, column))
        )

    def op_playlist_changed(self) -> None:
        choice = self.rng.random()
        playlist = self.pick("Playlist", "PlaylistId")
        if choice < 0.3:
            self.db.execute("UPDATE Playlist SET Name = ? WHERE PlaylistId = ?", (f"P{self.fresh()}", playlist))
        elif choice < 0.7:
            self.db.execute(
                "INSERT OR IGNORE INTO PlaylistTrack VALUES (?, ?)", (playlist, self.pick("Track", "TrackId"))
            )
        else:
            row = self.rng.choice(self.db.execute("SELECT PlaylistId, TrackId FROM PlaylistTrack").fetchall())
            self.db.execute("DELETE FROM PlaylistTrack WHERE PlaylistId = ? AND TrackId = ?", row)

    # -- customers and invoices
    def op_invoice_changed(self) -> None:
        invoice = self.pick("Invoice", "InvoiceId")
        choice = self.rng.random()
        if choice < 0.3:
            self.db.execute("UPDATE Invoice SET Total = Total + 1 WHERE InvoiceId = ?", (invoice,))
        elif choice < 0.55:  # its key moves: another customer's partition
            self.db.execute(
                "UPDATE Invoice SET CustomerId = ? WHERE InvoiceId = ?", (self.pick("Customer", "CustomerId"), invoice)
            )
        elif choice < 0.7:  # its sort key moves
            self.db.execute("UPDATE Invoice SET InvoiceDate = '2030-01-01 00:00:00' WHERE InvoiceId = ?", (invoice,))
        else:  # an invoice with its lines deleted
            self.db.execute("DELETE FROM InvoiceLine WHERE InvoiceId = ?", (invoice,))
            self.db.execute("DELETE FROM Invoice WHERE InvoiceId = ?", (invoice,))

    def op_invoice_inserted(self) -> None:
        invoice = self.fresh()
        self.db.execute(
            "INSERT INTO Invoice (InvoiceId, CustomerId, InvoiceDate, Total) VALUES (?, ?, '2031-02-03 00:00:00', 1.98)",
            (invoice, self.pick("Customer", "CustomerId")),
        )
        self.db.execute(
            "INSERT INTO InvoiceLine VALUES (?, ?, ?, 0.99, 2)", (self.fresh(), invoice, self.pick("Track", "TrackId"))
        )

    def op_invoice_line_changed(self) -> None:
        line = self.pick("InvoiceLine", "InvoiceLineId")
        choice = self.rng.random()
        if choice < 0.3:
            self.db.execute("UPDATE InvoiceLine SET Quantity = Quantity + 1 WHERE InvoiceLineId = ?", (line,))
        elif choice < 0.55:  # moved to another invoice: both invoices change
            self.db.execute(
                "UPDATE InvoiceLine SET InvoiceId = ? WHERE InvoiceLineId = ?",
                (self.pick("Invoice", "InvoiceId"), line),
            )
        elif choice < 0.7:
            self.db.execute("UPDATE InvoiceLine SET InvoiceLineId = ? WHERE InvoiceLineId = ?", (self.fresh(), line))
        elif choice < 0.85:
            self.db.execute(
                "UPDATE InvoiceLine SET TrackId = ? WHERE InvoiceLineId = ?", (self.pick("Track", "TrackId"), line)
            )
        else:
            self.db.execute("DELETE FROM InvoiceLine WHERE InvoiceLineId = ?", (line,))

    def op_customer_changed(self) -> None:
        customer = self.pick("Customer", "CustomerId")
        choice = self.rng.random()
        if choice < 0.4:
            self.db.execute(
                "UPDATE Customer SET Email = ? WHERE CustomerId = ?", (f"c{self.fresh()}@example.com", customer)
            )
        elif choice < 0.6:
            self.db.execute(
                "UPDATE Customer SET SupportRepId = ? WHERE CustomerId = ?",
                (self.pick("Employee", "EmployeeId"), customer),
            )
        elif choice < 0.75:
            self.db.execute("UPDATE Customer SET CustomerId = ? WHERE CustomerId = ?", (self.fresh(), customer))
        elif choice < 0.9:
            self.db.execute(
                "INSERT INTO Customer (CustomerId, FirstName, LastName, Email, SupportRepId) VALUES (?, 'N', 'C', ?, 3)",
                (self.fresh(), f"n{self.fresh()}@example.com"),
            )
        else:
            self.db.execute("DELETE FROM Customer WHERE CustomerId = ?", (customer,))

    def op_employee_changed(self) -> None:
        employee = self.pick("Employee", "EmployeeId")
        self.db.execute(
            "UPDATE Employee SET Title = ?, Email = ? WHERE EmployeeId = ?",
            (f"E{self.fresh()}", f"e{self.fresh()}@example.com", employee),
        )


#: The changes every item type reading their rows can follow to its items (in Chinook's mappings, Artist,
#: Employee and Playlist count with subqueries or a WITH clause, which cannot be followed: a change of their
#: tables renders them in full). A round of only these is a catch-up of every item type.
FOLLOWED_CHANGES = (
    "customer_changed",
    "invoice_changed",
    "invoice_inserted",
    "invoice_line_changed",
    "lookup_renamed",
    "track_genre_changed",
    "track_inserted",
    "track_moved_to_another_album",
    "track_renamed",
)


# ------------------------------------------------------------------ what a full sync gives
def full_difference(config: Path, source: Path | None = None) -> dict[str, int]:
    """Every item type rendered in full and compared with the fingerprints: per item type, the changes found.

    ``source``: render this copy of the source instead of the configuration's (the source at one moment).
    """
    loaded = load_config(config)
    if source is not None:
        loaded = dataclasses.replace(loaded, source_db=str(source))
    with opened_plan(loaded) as (plan, conn), FingerprintStore.of(loaded.state_dir) as store:
        differ = Differ(plan)
        for table in plan.tables:
            items = [i for i in plan.item_types if i.table.name == table.name]
            for _ in differ.table(table, items, conn, store):
                pass
        return {d.name: d.changes for d in differ.results() if d.changes or d.errors}


def store_equals_tables(config: Path, ddb: Any) -> None:
    """The fingerprint store holds exactly the items the tables hold (same keys, same values)."""
    loaded = load_config(config)
    with opened_plan(loaded, count=False) as (plan, _):
        held = sqlite3.connect(loaded.state_dir / "fingerprints.sqlite")
        for table in plan.tables:
            keys = list(table.spec.primary_key_names)
            stored = {
                k: canonical_form(zlib.decompress(v).decode() if isinstance(v, bytes) else v)
                for k, v in held.execute("SELECT key, item FROM items WHERE tbl = ?", (table.name,))
            }
            live = {key_text(key_of(i, keys)): canonical_form(json.dumps(i)) for i in scan_all(ddb, table.name)}
            assert live.keys() == stored.keys(), (table.name, sorted(live.keys() ^ stored.keys())[:5])
            different = [k for k in live if live[k] != stored[k]]
            assert not different, (table.name, different[:5])
        held.close()


def last_syncs(config: Path) -> dict[str, dict[str, Any]]:
    state = json.loads((load_config(config).state_dir / "migration_state.json").read_text())
    return {name: entry.get("last_sync") or {} for name, entry in state["item_types"].items()}


def sync_ok(config: Path) -> str:
    result = run_cli(config, "sync", "--no-validate")
    assert result.exit_code == 0, result.output
    return result.output
