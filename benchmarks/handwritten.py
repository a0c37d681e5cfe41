"""Hand-written Chinook -> DynamoDB migration: the no-framework baseline.

Plain Python + sqlite3 + boto3, producing exactly the items described in
``/work/shared/docs/chinook-model.md`` (tables MusicCatalog, CustomerData,
PlaylistData, EmployeeData). It is split into importable parts so each can be
timed on its own:

- :func:`iter_items` streams ``(logical table, wire-format item)`` pairs;
- :func:`create_tables` (re)creates the four tables with their GSIs;
- :func:`write_all` sends the items with BatchWriteItem from a thread pool.

Usage::

    python benchmarks/handwritten.py --db chinook.sqlite \\
        --endpoint-url http://127.0.0.1:8811 --prefix hw_ --threads 4
    python benchmarks/handwritten.py --db chinook.sqlite --transform-only

Credentials and region come from the usual AWS environment variables
(``--region`` overrides the region).
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from decimal import Decimal
from itertools import groupby, islice
from typing import Any

from boto3.dynamodb.types import TypeSerializer

#: Logical table names; the physical name is ``prefix + name``.
TABLES = ("MusicCatalog", "CustomerData", "PlaylistData", "EmployeeData")
#: Number of GSIs per table (GSI1, GSI2, ...), each keyed GSInPK / GSInSK.
GSI_COUNT = {"MusicCatalog": 2, "CustomerData": 2, "PlaylistData": 1, "EmployeeData": 2}

WireItem = dict[str, dict[str, Any]]


# --------------------------------------------------------------------------
# Small value helpers
# --------------------------------------------------------------------------


def num(value: int | float | None) -> Decimal | None:
    """A source number as an exact Decimal (REAL via its shortest repr)."""
    if value is None:
        return None
    if isinstance(value, float):
        return Decimal(repr(value))
    return Decimal(value)


def plain(value: Any) -> Any:
    """A source column value in the Python type TypeSerializer expects."""
    if isinstance(value, (int, float)):
        return num(value)
    return value


def first(text: str) -> str:
    """First character of an (already lower-cased) text, or ``#`` if not alphanumeric."""
    c = text[:1]
    return c if c.isalnum() else "#"


def search_keys(kind: str, text: str | None, ident: int) -> dict[str, str]:
    """GSI1 keys of the sharded name search; none when the name is NULL."""
    if text is None:
        return {}
    low = text.lower()
    return {"GSI1PK": f"SEARCH#{kind}#{first(low)}", "GSI1SK": f"{low}#{ident}"}


def non_null(item: dict[str, Any]) -> dict[str, Any]:
    """Drop the attributes whose value is None (NULL in the source)."""
    return {k: v for k, v in item.items() if v is not None}


def columns(cursor: sqlite3.Cursor, row: tuple[Any, ...]) -> dict[str, Any]:
    """Every non-NULL column of a row, keyed by column name."""
    return {d[0]: plain(v) for d, v in zip(cursor.description, row, strict=True) if v is not None}


# --------------------------------------------------------------------------
# Transform
# --------------------------------------------------------------------------


def iter_items(db_path: str) -> Iterator[tuple[str, WireItem]]:
    """Yield ``(logical table, item in DynamoDB wire format)`` for every item."""
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    ser = TypeSerializer()

    def wire(item: dict[str, Any]) -> WireItem:
        return {k: ser.serialize(v) for k, v in item.items()}

    try:
        yield from _music_catalog(conn, wire)
        yield from _customer_data(conn, wire)
        yield from _playlist_data(conn, wire)
        yield from _employee_data(conn, wire)
    finally:
        conn.close()


Wire = Callable[[dict[str, Any]], WireItem]


def _lookup(conn: sqlite3.Connection, sql: str) -> dict[int, Any]:
    """A small lookup table as a dict keyed by its first column."""
    return {row[0]: row[1] if len(row) == 2 else row[1:] for row in conn.execute(sql)}


def _music_catalog(conn: sqlite3.Connection, wire: Wire) -> Iterator[tuple[str, WireItem]]:
    """Artist, Album (with embedded Tracks) and Track items."""
    table = "MusicCatalog"
    genres = _lookup(conn, "SELECT GenreId, Name FROM Genre")
    media = _lookup(conn, "SELECT MediaTypeId, Name FROM MediaType")
    artists = _lookup(conn, "SELECT ArtistId, Name FROM Artist")
    albums = _lookup(conn, "SELECT AlbumId, Title, ArtistId FROM Album")
    album_count = Counter(artist_id for _, artist_id in albums.values())

    for artist_id, name in artists.items():
        item = {
            "PK": f"ARTIST#{artist_id}",
            "SK": "PROFILE",
            **search_keys("ARTIST", name, artist_id),
            "Entity": "Artist",
            "ArtistId": num(artist_id),
            "Name": name,
            "AlbumCount": num(album_count[artist_id]),
        }
        yield table, wire(non_null(item))

    # Albums with their tracks: one ordered LEFT JOIN, grouped by album.
    rows = conn.execute(
        "SELECT al.AlbumId, al.Title, al.ArtistId, t.TrackId, t.Name, t.Milliseconds,"
        " t.UnitPrice, t.GenreId, t.MediaTypeId, t.Composer"
        " FROM Album al LEFT JOIN Track t ON t.AlbumId = al.AlbumId"
        " ORDER BY al.AlbumId, t.TrackId"
    )
    for (album_id, title, artist_id), group in groupby(rows, key=lambda r: r[:3]):
        tracks = []
        duration = 0
        for *_, track_id, name, ms, price, genre_id, media_id, composer in group:
            if track_id is None:  # album without tracks (LEFT JOIN)
                continue
            duration += ms
            tracks.append(
                non_null(
                    {
                        "TrackId": num(track_id),
                        "Name": name,
                        "Milliseconds": num(ms),
                        "UnitPrice": num(price),
                        "Genre": genres.get(genre_id),
                        "MediaType": media.get(media_id),
                        "Composer": composer,
                    }
                )
            )
        item = {
            "PK": f"ARTIST#{artist_id}",
            "SK": f"ALBUM#{album_id:06}",
            **search_keys("ALBUM", title, album_id),
            "GSI2PK": f"ALBUM#{album_id}",
            "GSI2SK": "ALBUM",
            "Entity": "Album",
            "AlbumId": num(album_id),
            "Title": title,
            "ArtistId": num(artist_id),
            "ArtistName": artists.get(artist_id),
            "TrackCount": num(len(tracks)),
            "DurationMs": num(duration),
            "Tracks": tracks,
        }
        yield table, wire(non_null(item))

    rows = conn.execute(
        "SELECT TrackId, Name, AlbumId, MediaTypeId, GenreId, Composer, Milliseconds,"
        " Bytes, UnitPrice FROM Track ORDER BY TrackId"
    )
    for track_id, name, album_id, media_id, genre_id, composer, ms, size, price in rows:
        album_title, artist_id = albums.get(album_id, (None, None))
        item = {
            "PK": f"TRACK#{track_id}",
            "SK": "PROFILE",
            **search_keys("TRACK", name, track_id),
            "Entity": "Track",
            "TrackId": num(track_id),
            "Name": name,
            "AlbumId": num(album_id),
            "AlbumTitle": album_title,
            "ArtistId": num(artist_id),
            "ArtistName": artists.get(artist_id),
            "GenreId": num(genre_id),
            "Genre": genres.get(genre_id),
            "MediaTypeId": num(media_id),
            "MediaType": media.get(media_id),
            "Composer": composer,
            "Milliseconds": num(ms),
            "Bytes": num(size),
            "UnitPrice": num(price),
        }
        if genre_id is not None:
            item["GSI2PK"] = f"GENRE#{genre_id}"
            item["GSI2SK"] = f"TRACK#{track_id:06}"
        yield table, wire(non_null(item))


def _employees(conn: sqlite3.Connection) -> dict[int, dict[str, Any]]:
    """Every Employee row as a dict of its non-NULL columns, keyed by id."""
    cur = conn.execute("SELECT * FROM Employee ORDER BY EmployeeId")
    return {row[0]: columns(cur, row) for row in cur}


def _customer_data(conn: sqlite3.Connection, wire: Wire) -> Iterator[tuple[str, WireItem]]:
    """Customer (with SupportRep) and Invoice (with Lines) items."""
    table = "CustomerData"
    employees = _employees(conn)

    cur = conn.execute("SELECT * FROM Customer ORDER BY CustomerId")
    for row in cur:
        cols = columns(cur, row)
        customer_id = int(cols["CustomerId"])
        item: dict[str, Any] = {"PK": f"CUSTOMER#{customer_id}", "SK": "PROFILE"}
        if "Email" in cols:
            item["GSI1PK"] = f"EMAIL#{cols['Email'].lower()}"
            item["GSI1SK"] = "CUSTOMER"
        rep_id = cols.get("SupportRepId")
        if rep_id is not None:
            item["GSI2PK"] = f"REP#{rep_id}"
            item["GSI2SK"] = f"CUSTOMER#{customer_id:06}"
        item["Entity"] = "Customer"
        item.update(cols)
        rep = employees.get(int(rep_id)) if rep_id is not None else None
        if rep is not None:
            item["SupportRep"] = {k: rep[k] for k in ("EmployeeId", "FirstName", "LastName", "Email") if k in rep}
        yield table, wire(item)

    # Invoices with their lines: one ordered LEFT JOIN, grouped by invoice.
    n_cols = len(conn.execute("SELECT * FROM Invoice LIMIT 0").description)
    cur = conn.execute(
        "SELECT i.*, l.InvoiceLineId, l.TrackId, t.Name, l.UnitPrice, l.Quantity"
        " FROM Invoice i"
        " LEFT JOIN InvoiceLine l ON l.InvoiceId = i.InvoiceId"
        " LEFT JOIN Track t ON t.TrackId = l.TrackId"
        " ORDER BY i.InvoiceId, l.InvoiceLineId"
    )
    names = [d[0] for d in cur.description[:n_cols]]
    for head, group in groupby(cur, key=lambda r: r[:n_cols]):
        cols = {k: plain(v) for k, v in zip(names, head, strict=True) if v is not None}
        lines = [
            non_null(
                {
                    "InvoiceLineId": num(line_id),
                    "TrackId": num(track_id),
                    "TrackName": track_name,
                    "UnitPrice": num(price),
                    "Quantity": num(qty),
                }
            )
            for line_id, track_id, track_name, price, qty in (r[n_cols:] for r in group)
            if line_id is not None
        ]
        invoice_id = int(cols["InvoiceId"])
        item = {
            "PK": f"CUSTOMER#{int(cols['CustomerId'])}",
            "SK": f"INVOICE#{cols['InvoiceDate']}#{invoice_id:06}",
            "GSI1PK": f"INVOICE#{invoice_id}",
            "GSI1SK": "INVOICE",
            "Entity": "Invoice",
            **cols,
            "Lines": lines,
            "LineCount": num(len(lines)),
        }
        yield table, wire(item)


def _playlist_data(conn: sqlite3.Connection, wire: Wire) -> Iterator[tuple[str, WireItem]]:
    """Playlist (with TrackCount) and PlaylistTrack items."""
    table = "PlaylistData"
    rows = conn.execute(
        "SELECT p.PlaylistId, p.Name, COUNT(pt.TrackId) FROM Playlist p"
        " LEFT JOIN PlaylistTrack pt ON pt.PlaylistId = p.PlaylistId"
        " GROUP BY p.PlaylistId ORDER BY p.PlaylistId"
    )
    for playlist_id, name, count in rows:
        item = {
            "PK": f"PLAYLIST#{playlist_id}",
            "SK": "PROFILE",
            "Entity": "Playlist",
            "PlaylistId": num(playlist_id),
            "Name": name,
            "TrackCount": num(count),
        }
        yield table, wire(non_null(item))

    genres = _lookup(conn, "SELECT GenreId, Name FROM Genre")
    artists = _lookup(conn, "SELECT ArtistId, Name FROM Artist")
    albums = _lookup(conn, "SELECT AlbumId, Title, ArtistId FROM Album")
    rows = conn.execute(
        "SELECT pt.PlaylistId, pt.TrackId, t.Name, t.AlbumId, t.GenreId, t.Milliseconds"
        " FROM PlaylistTrack pt LEFT JOIN Track t ON t.TrackId = pt.TrackId"
        " ORDER BY pt.PlaylistId, pt.TrackId"
    )
    for playlist_id, track_id, name, album_id, genre_id, ms in rows:
        album_title, artist_id = albums.get(album_id, (None, None))
        item = {
            "PK": f"PLAYLIST#{playlist_id}",
            "SK": f"TRACK#{track_id:06}",
            "GSI1PK": f"TRACK#{track_id}",
            "GSI1SK": f"PLAYLIST#{playlist_id:06}",
            "Entity": "PlaylistTrack",
            "PlaylistId": num(playlist_id),
            "TrackId": num(track_id),
            "TrackName": name,
            "AlbumTitle": album_title,
            "ArtistName": artists.get(artist_id),
            "Genre": genres.get(genre_id),
            "Milliseconds": num(ms),
        }
        yield table, wire(non_null(item))


def _employee_data(conn: sqlite3.Connection, wire: Wire) -> Iterator[tuple[str, WireItem]]:
    """Employee items with Manager, Path and Level."""
    table = "EmployeeData"
    employees = _employees(conn)

    def chain(emp_id: int) -> list[int]:
        """Ids from the root down to ``emp_id`` (stops on a cycle or a dangling id)."""
        ids: list[int] = []
        current: int | None = emp_id
        while current is not None and current not in ids and current in employees:
            ids.append(current)
            boss = employees[current].get("ReportsTo")
            current = int(boss) if boss is not None else None
        return ids[::-1]

    for emp_id, cols in employees.items():
        ids = chain(emp_id)
        path = "/".join(f"{i:06}" for i in ids)
        item: dict[str, Any] = {"PK": f"EMPLOYEE#{emp_id}", "SK": "PROFILE"}
        boss_id = cols.get("ReportsTo")
        if boss_id is not None:
            item["GSI1PK"] = f"MANAGER#{boss_id}"
            item["GSI1SK"] = f"EMPLOYEE#{emp_id:06}"
        item["GSI2PK"] = "ORG"
        item["GSI2SK"] = path
        item["Entity"] = "Employee"
        item.update(cols)
        boss = employees.get(int(boss_id)) if boss_id is not None else None
        if boss is not None:
            item["Manager"] = {k: boss[k] for k in ("EmployeeId", "FirstName", "LastName", "Title") if k in boss}
        item["Path"] = path
        item["Level"] = num(len(ids) - 1)
        yield table, wire(item)


# --------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------


def table_definition(name: str, gsi_count: int) -> dict[str, Any]:
    """CreateTable arguments: PK/SK (S), ``gsi_count`` GSIs projecting ALL, on demand."""
    keys = ["PK", "SK"] + [f"GSI{n}{k}" for n in range(1, gsi_count + 1) for k in ("PK", "SK")]
    definition: dict[str, Any] = {
        "TableName": name,
        "AttributeDefinitions": [{"AttributeName": k, "AttributeType": "S"} for k in keys],
        "KeySchema": [
            {"AttributeName": "PK", "KeyType": "HASH"},
            {"AttributeName": "SK", "KeyType": "RANGE"},
        ],
        "BillingMode": "PAY_PER_REQUEST",
    }
    if gsi_count:
        definition["GlobalSecondaryIndexes"] = [
            {
                "IndexName": f"GSI{n}",
                "KeySchema": [
                    {"AttributeName": f"GSI{n}PK", "KeyType": "HASH"},
                    {"AttributeName": f"GSI{n}SK", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
            for n in range(1, gsi_count + 1)
        ]
    return definition


def recreate_table(client: Any, definition: dict[str, Any]) -> None:
    """Delete the table if it exists, create it and wait until it is ACTIVE."""
    name = definition["TableName"]
    waiter_config = {"Delay": 1, "MaxAttempts": 300}
    try:
        client.delete_table(TableName=name)
        client.get_waiter("table_not_exists").wait(TableName=name, WaiterConfig=waiter_config)
    except client.exceptions.ResourceNotFoundException:
        pass
    client.create_table(**definition)
    client.get_waiter("table_exists").wait(TableName=name, WaiterConfig=waiter_config)


def create_tables(client: Any, prefix: str) -> None:
    """(Re)create ``<prefix>MusicCatalog`` and the three other tables."""
    for name in TABLES:
        recreate_table(client, table_definition(prefix + name, GSI_COUNT[name]))


# --------------------------------------------------------------------------
# Write
# --------------------------------------------------------------------------


def batch_write(client: Any, request_items: dict[str, list[dict[str, Any]]]) -> None:
    """One BatchWriteItem, retrying UnprocessedItems with exponential backoff."""
    attempt = 0
    while request_items:
        response = client.batch_write_item(RequestItems=request_items)
        request_items = response.get("UnprocessedItems") or {}
        if request_items:
            attempt += 1
            if attempt > 12:
                raise RuntimeError(f"items still unprocessed after {attempt} attempts")
            time.sleep(min(2.0, 0.025 * 2**attempt))


def batched(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    """Consecutive lists of ``size`` items (the last one may be shorter)."""
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk


def write_all(
    client_factory: Callable[[], Any],
    items: Iterable[tuple[str, WireItem]],
    prefix: str,
    threads: int,
    batch_size: int = 25,
) -> int:
    """Write every ``(table, item)`` with BatchWriteItem from ``threads`` workers.

    The items are consumed lazily; at most ``4 * threads`` batches are in
    flight, so memory stays bounded. Each worker thread has its own client.
    Returns the number of items written.
    """
    local = threading.local()

    def send(batch: list[tuple[str, WireItem]]) -> None:
        client = getattr(local, "client", None)
        if client is None:
            client = local.client = client_factory()
        request: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for table, item in batch:
            request[prefix + table].append({"PutRequest": {"Item": item}})
        batch_write(client, dict(request))

    written = 0
    with ThreadPoolExecutor(max_workers=threads) as pool:
        pending: set[Future[None]] = set()
        for batch in batched(items, batch_size):
            if len(pending) >= 4 * threads:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    future.result()
            pending.add(pool.submit(send, batch))
            written += len(batch)
        for future in pending:
            future.result()
    return written


def make_client_factory(endpoint_url: str | None, region: str | None) -> Callable[[], Any]:
    """A factory of DynamoDB clients, one boto3 Session each (thread-safe)."""
    import boto3
    from botocore.config import Config

    config = Config(retries={"max_attempts": 10, "mode": "standard"}, max_pool_connections=4)

    def factory() -> Any:
        return boto3.session.Session().client("dynamodb", endpoint_url=endpoint_url, region_name=region, config=config)

    return factory


# --------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; prints a JSON summary on stdout."""
    ap = argparse.ArgumentParser(description="Hand-written Chinook -> DynamoDB baseline.")
    ap.add_argument("--db", required=True, help="source SQLite database")
    ap.add_argument("--endpoint-url", help="DynamoDB endpoint (default: AWS)")
    ap.add_argument("--region", help="AWS region (default: from the environment)")
    ap.add_argument("--prefix", default="hw_", help="table name prefix (default hw_)")
    ap.add_argument("--threads", type=int, default=4, help="writer threads (default 4)")
    ap.add_argument("--batch-size", type=int, default=25, help="items per BatchWriteItem")
    ap.add_argument("--transform-only", action="store_true", help="only build the items (no network)")
    args = ap.parse_args(argv)

    entities: Counter[str] = Counter()

    def counted(items: Iterable[tuple[str, WireItem]]) -> Iterator[tuple[str, WireItem]]:
        for table, item in items:
            entities[item["Entity"]["S"]] += 1
            yield table, item

    if args.transform_only:
        t0 = time.perf_counter()
        n = sum(1 for _ in counted(iter_items(args.db)))
        seconds = time.perf_counter() - t0
    else:
        factory = make_client_factory(args.endpoint_url, args.region)
        create_tables(factory(), args.prefix)
        t0 = time.perf_counter()
        n = write_all(factory, counted(iter_items(args.db)), args.prefix, args.threads, args.batch_size)
        seconds = time.perf_counter() - t0

    print(json.dumps(dict(sorted(entities.items()))), file=sys.stderr)
    result = {"items": n, "seconds": round(seconds, 3), "items_per_s": round(n / seconds, 1)}
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
