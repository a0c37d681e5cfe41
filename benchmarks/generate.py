"""Generate a Chinook-shaped SQLite database scaled by an integer factor.

Usage::

    python benchmarks/generate.py --scale 10 --seed 42 --out /tmp/chinook_x10.sqlite

The schema (tables and indexes) is copied verbatim from the source's
``sqlite_master``. Genre, MediaType and Employee are copied unchanged. The
other tables are replicated ``scale`` times: copy ``k`` gets every id shifted
by ``k * max(id)`` of its table and its foreign keys remapped into the same
copy, so referential integrity holds. Track.GenreId, Track.MediaTypeId and
Customer.SupportRepId keep pointing at the unscaled reference tables.

Copy 0 is a faithful copy of the source (``--scale 1`` reproduces it). Copies
``k > 0`` are varied deterministically from ``--seed``: names and titles get a
`` (k)`` suffix, Milliseconds and Bytes are perturbed by a small amount,
customer e-mails get ``+k`` before the ``@``. UnitPrice keeps the source
value, NULLs stay NULL, and Invoice.Total is recomputed as the rounded sum of
its lines.
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import sys
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

DEFAULT_SOURCE = "/work/shared/data/chinook.sqlite"

#: Tables copied as they are.
REFERENCE_TABLES = ("Genre", "MediaType", "Employee")
#: Tables replicated ``scale`` times, in insertion (parent-first) order.
SCALED_TABLES = (
    "Artist",
    "Album",
    "Track",
    "Customer",
    "Invoice",
    "InvoiceLine",
    "Playlist",
    "PlaylistTrack",
)
#: Primary id column of each scaled table with a single-column key.
ID_COLUMNS = {
    "Artist": "ArtistId",
    "Album": "AlbumId",
    "Track": "TrackId",
    "Customer": "CustomerId",
    "Invoice": "InvoiceId",
    "InvoiceLine": "InvoiceLineId",
    "Playlist": "PlaylistId",
}

Row = tuple[Any, ...]


def suffix(value: str | None, k: int) -> str | None:
    """Append `` (k)`` to a text value for copies after the first; keep NULL."""
    if value is None or k == 0:
        return value
    return f"{value} ({k})"


def email_for(email: str | None, k: int) -> str | None:
    """Make an e-mail unique per copy by inserting ``+k`` before the ``@``."""
    if email is None or k == 0:
        return email
    local, at, domain = email.partition("@")
    return f"{local}+{k}{at}{domain}" if at else f"{email}+{k}"


class Generator:
    """Reads the source once and writes the scaled copy."""

    def __init__(self, source: sqlite3.Connection, scale: int, seed: int) -> None:
        self.src = source
        self.scale = scale
        self.seed = seed
        self.columns: dict[str, list[str]] = {}
        self.rows: dict[str, list[Row]] = {}
        self.max_id: dict[str, int] = {}

    def load(self) -> None:
        """Load every source table into memory (the source is small)."""
        for table in REFERENCE_TABLES + SCALED_TABLES:
            cur = self.src.execute(f"SELECT * FROM [{table}] ORDER BY rowid")
            self.columns[table] = [d[0] for d in cur.description]
            self.rows[table] = cur.fetchall()
        for table, col in ID_COLUMNS.items():
            (mx,) = self.src.execute(f"SELECT max([{col}]) FROM [{table}]").fetchone()
            self.max_id[table] = int(mx or 0)

    def rng(self, table: str, k: int) -> random.Random:
        """An RNG per (table, copy) so a table's output does not depend on others."""
        return random.Random(f"{self.seed}:{table}:{k}")

    def col(self, table: str, name: str) -> int:
        """Position of a column in a table's rows."""
        return self.columns[table].index(name)

    # One generator per scaled table; each yields rows in source column order.

    def artist(self, k: int) -> Iterator[Row]:
        """Artist copy k."""
        off = k * self.max_id["Artist"]
        for artist_id, name in self.rows["Artist"]:
            yield artist_id + off, suffix(name, k)

    def album(self, k: int) -> Iterator[Row]:
        """Album copy k, ArtistId remapped into the same copy."""
        off = k * self.max_id["Album"]
        art = k * self.max_id["Artist"]
        for album_id, title, artist_id in self.rows["Album"]:
            yield album_id + off, suffix(title, k), artist_id + art

    def track(self, k: int) -> Iterator[Row]:
        """Track copy k; Milliseconds/Bytes perturbed for k > 0."""
        cols = self.columns["Track"]
        i_id, i_name, i_album = (cols.index(c) for c in ("TrackId", "Name", "AlbumId"))
        i_ms, i_bytes = cols.index("Milliseconds"), cols.index("Bytes")
        off = k * self.max_id["Track"]
        alb = k * self.max_id["Album"]
        rnd = self.rng("Track", k)
        for src in self.rows["Track"]:
            row = list(src)
            row[i_id] += off
            if row[i_album] is not None:
                row[i_album] += alb
            if k:
                row[i_name] = suffix(row[i_name], k)
                ms = row[i_ms]
                # +-2% of the duration, at least 1 ms.
                row[i_ms] = max(1, ms + rnd.randint(-ms // 50, ms // 50))
                if row[i_bytes] is not None:
                    b = row[i_bytes]
                    row[i_bytes] = max(1, b + rnd.randint(-b // 50, b // 50))
            yield tuple(row)

    def customer(self, k: int) -> Iterator[Row]:
        """Customer copy k; e-mail made unique, SupportRepId unchanged."""
        i_id, i_email = self.col("Customer", "CustomerId"), self.col("Customer", "Email")
        off = k * self.max_id["Customer"]
        for src in self.rows["Customer"]:
            row = list(src)
            row[i_id] += off
            row[i_email] = email_for(row[i_email], k)
            yield tuple(row)

    def invoice_line(self, k: int) -> Iterator[Row]:
        """InvoiceLine copy k, InvoiceId/TrackId remapped into the same copy."""
        cols = self.columns["InvoiceLine"]
        i_id, i_inv, i_trk = (cols.index(c) for c in ("InvoiceLineId", "InvoiceId", "TrackId"))
        off = k * self.max_id["InvoiceLine"]
        inv = k * self.max_id["Invoice"]
        trk = k * self.max_id["Track"]
        for src in self.rows["InvoiceLine"]:
            row = list(src)
            row[i_id] += off
            row[i_inv] += inv
            row[i_trk] += trk
            yield tuple(row)

    def invoice(self, k: int) -> Iterator[Row]:
        """Invoice copy k; Total recomputed from the lines of the same copy."""
        cols = self.columns["Invoice"]
        i_id, i_cust, i_total = (cols.index(c) for c in ("InvoiceId", "CustomerId", "Total"))
        lcols = self.columns["InvoiceLine"]
        l_inv, l_price, l_qty = (lcols.index(c) for c in ("InvoiceId", "UnitPrice", "Quantity"))
        totals: dict[int, float] = defaultdict(float)
        for line in self.rows["InvoiceLine"]:
            totals[line[l_inv]] += line[l_price] * line[l_qty]
        off = k * self.max_id["Invoice"]
        cus = k * self.max_id["Customer"]
        for src in self.rows["Invoice"]:
            row = list(src)
            row[i_total] = round(totals.get(row[i_id], 0.0), 2)
            row[i_id] += off
            row[i_cust] += cus
            yield tuple(row)

    def playlist(self, k: int) -> Iterator[Row]:
        """Playlist copy k."""
        off = k * self.max_id["Playlist"]
        for playlist_id, name in self.rows["Playlist"]:
            yield playlist_id + off, suffix(name, k)

    def playlist_track(self, k: int) -> Iterator[Row]:
        """PlaylistTrack copy k, both ids remapped into the same copy."""
        cols = self.columns["PlaylistTrack"]
        i_pl, i_trk = cols.index("PlaylistId"), cols.index("TrackId")
        pl = k * self.max_id["Playlist"]
        trk = k * self.max_id["Track"]
        for src in self.rows["PlaylistTrack"]:
            row = list(src)
            row[i_pl] += pl
            row[i_trk] += trk
            yield tuple(row)

    def scaled_rows(self, table: str) -> Iterable[Row]:
        """All copies of one scaled table."""
        make = {
            "Artist": self.artist,
            "Album": self.album,
            "Track": self.track,
            "Customer": self.customer,
            "Invoice": self.invoice,
            "InvoiceLine": self.invoice_line,
            "Playlist": self.playlist,
            "PlaylistTrack": self.playlist_track,
        }[table]
        for k in range(self.scale):
            yield from make(k)

    def write(self, out: sqlite3.Connection) -> dict[str, int]:
        """Create the schema, insert every table in one transaction, add indexes."""
        ddl = self.src.execute(
            "SELECT type, sql FROM sqlite_master WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%' ORDER BY rowid"
        ).fetchall()
        out.execute("PRAGMA journal_mode = OFF")
        out.execute("PRAGMA synchronous = OFF")
        for kind, sql in ddl:
            if kind == "table":
                out.execute(sql)
        counts: dict[str, int] = {}
        out.execute("BEGIN")
        for table in REFERENCE_TABLES + SCALED_TABLES:
            n = len(self.columns[table])
            rows: Iterable[Row] = self.rows[table] if table in REFERENCE_TABLES else self.scaled_rows(table)
            cur = out.executemany(
                f"INSERT INTO [{table}] VALUES ({', '.join('?' * n)})",
                rows,
            )
            counts[table] = cur.rowcount
        # Secondary indexes after the bulk insert: same schema, faster load.
        for kind, sql in ddl:
            if kind != "table":
                out.execute(sql)
        out.execute("COMMIT")
        return counts


def generate(source: str, out_path: str, scale: int, seed: int) -> dict[str, int]:
    """Write the scaled database to ``out_path`` (replaced if present)."""
    if scale < 1:
        raise ValueError("scale must be >= 1")
    out_file = Path(out_path)
    for p in (out_file, Path(f"{out_path}-journal"), Path(f"{out_path}-wal")):
        p.unlink(missing_ok=True)
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    out = sqlite3.connect(out_path, isolation_level=None)
    try:
        gen = Generator(src, scale, seed)
        gen.load()
        return gen.write(out)
    finally:
        out.close()
        src.close()


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=int, required=True, help="integer scale factor (>= 1)")
    ap.add_argument("--seed", type=int, default=42, help="RNG seed (default 42)")
    ap.add_argument("--out", required=True, help="output SQLite file (overwritten)")
    ap.add_argument("--source", default=DEFAULT_SOURCE, help="source Chinook database")
    args = ap.parse_args(argv)

    t0 = time.perf_counter()
    counts = generate(args.source, args.out, args.scale, args.seed)
    elapsed = time.perf_counter() - t0
    width = max(len(t) for t in counts)
    for table, n in counts.items():
        print(f"{table:<{width}}  {n:>9,}")
    print(f"{'total':<{width}}  {sum(counts.values()):>9,}")
    print(f"wrote {args.out} (scale {args.scale}, seed {args.seed}) in {elapsed:.2f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
