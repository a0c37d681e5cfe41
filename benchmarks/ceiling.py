"""Measure the write ceiling of a DynamoDB endpoint with pre-built requests.

All items are built and serialised into BatchWriteItem request dicts before
the clock starts, so the figure is what the endpoint (plus botocore's own
request handling) can absorb, with no transform cost. Each thread count is
run against a freshly created table.

Usage::

    python benchmarks/ceiling.py --endpoint-url http://127.0.0.1:8811 \\
        --items 20000 --avg-bytes 300
    python benchmarks/ceiling.py --endpoint-url http://127.0.0.1:8811 \\
        --like-db /work/shared/data/chinook.sqlite --with-gsis

``--like-db`` takes the item sizes (in stream order) from
``handwritten.iter_items`` of that database, so the payload matches the real
migration; ``--items`` then caps (or, cycling, extends) the number of items.

The default table ``<prefix>Ceiling`` has only PK/SK and no GSI. GSI writes
add cost (every GSI whose keys an item carries is one more write, and
DynamoDB Local maintains each index as its own SQLite table), so compare the
hand-written figure, whose tables have GSIs, with ``--with-gsis``: a table
with two GSIs (ALL projection) where every item carries both GSIs' keys,
which is an upper bound on the GSI work of the Chinook model.

Synthetic items carry their bytes in one flat ``Data`` string, which is
cheaper to validate, serialise and parse than the same bytes spread over many
attributes and nested maps. ``--like-db PATH --real-items`` therefore also
offers the tightest like-for-like ceiling: the hand-written baseline's own
items, pre-built, sent into its four tables (created as it creates them).
"""

from __future__ import annotations

import argparse
import json
import random
import string
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from itertools import cycle, islice
from typing import Any

try:  # run as ``python benchmarks/ceiling.py`` or imported as ``benchmarks.ceiling``
    from benchmarks import handwritten
except ImportError:  # pragma: no cover - depends on sys.path
    import handwritten  # type: ignore[no-redef]

WireItem = dict[str, dict[str, Any]]
Request = dict[str, Any]


def value_size(value: dict[str, Any]) -> int:
    """Approximate stored size of one wire-format value (DynamoDB's rules)."""
    (kind, v), *_ = value.items()
    if kind == "S":
        return len(v.encode())
    if kind == "N":
        digits = v.lstrip("-").replace(".", "").strip("0") or "0"
        return (len(digits) + 1) // 2 + 1
    if kind == "B":
        return len(v)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "L":
        return 3 + sum(1 + value_size(e) for e in v)
    if kind == "M":
        return 3 + sum(1 + len(k.encode()) + value_size(e) for k, e in v.items())
    if kind in ("SS", "BS"):
        return sum(len(e.encode() if isinstance(e, str) else e) for e in v)
    if kind == "NS":
        return sum(value_size({"N": e}) for e in v)
    raise ValueError(f"unknown type {kind}")


def item_size(item: WireItem) -> int:
    """Approximate DynamoDB item size: attribute names plus values."""
    return sum(len(k.encode()) + value_size(v) for k, v in item.items())


def sizes_like_db(db_path: str) -> list[int]:
    """Sizes of the hand-written baseline's items for a database, in stream order."""
    return [item_size(item) for _, item in handwritten.iter_items(db_path)]


def sizes_uniform(n: int, avg: int, rnd: random.Random) -> list[int]:
    """``n`` sizes uniformly spread over [avg/2, 3*avg/2]."""
    return [rnd.randint(max(1, avg // 2), max(1, avg + avg // 2)) for _ in range(n)]


def build_item(i: int, size: int, with_gsis: bool, filler: str) -> WireItem:
    """An item of about ``size`` bytes, padded with a ``Data`` string."""
    item: WireItem = {
        "PK": {"S": f"ITEM#{i}"},
        "SK": {"S": "ITEM"},
        "Entity": {"S": "Ceiling"},
    }
    if with_gsis:
        # Spread over many index partitions, like the sharded search keys.
        item["GSI1PK"] = {"S": f"G1#{i % 97}"}
        item["GSI1SK"] = {"S": f"{i:09}"}
        item["GSI2PK"] = {"S": f"G2#{i % 1009}"}
        item["GSI2SK"] = {"S": f"ITEM#{i:09}"}
    pad = max(0, size - item_size(item) - len("Data"))
    start = (i * 7919) % (len(filler) - pad) if pad < len(filler) else 0
    item["Data"] = {"S": filler[start : start + pad]}
    return item


def build_requests(table: str, sizes: list[int], with_gsis: bool, batch_size: int, seed: int) -> list[Request]:
    """Pre-serialised BatchWriteItem arguments for every item."""
    rnd = random.Random(seed)
    filler = "".join(rnd.choices(string.ascii_letters + string.digits, k=420_000))
    items = (build_item(i, s, with_gsis, filler) for i, s in enumerate(sizes))
    requests = []
    while chunk := list(islice(items, batch_size)):
        requests.append({table: [{"PutRequest": {"Item": it}} for it in chunk]})
    return requests


def run(
    client_factory: Callable[[], Any],
    requests: list[Request],
    threads: int,
) -> float:
    """Send every request with ``threads`` workers; return the elapsed seconds.

    Clients are created and their connections opened before the clock starts.
    """
    local = threading.local()
    barrier = threading.Barrier(threads)
    table = next(iter(requests[0]))

    def warm_up() -> None:
        local.client = client_factory()
        local.client.describe_table(TableName=table)
        barrier.wait()

    def send(request: Request) -> None:
        handwritten.batch_write(local.client, request)

    with ThreadPoolExecutor(max_workers=threads) as pool:
        for future in [pool.submit(warm_up) for _ in range(threads)]:
            future.result()
        t0 = time.perf_counter()
        for _ in pool.map(send, requests):
            pass
        return time.perf_counter() - t0


def real_requests(db_path: str, prefix: str, batch_size: int, limit: int | None) -> list[Request]:
    """The hand-written baseline's own items, pre-serialised into requests."""
    items = islice(handwritten.iter_items(db_path), limit)
    requests = []
    for batch in handwritten.batched(items, batch_size):
        request: Request = {}
        for table, item in batch:
            request.setdefault(prefix + table, []).append({"PutRequest": {"Item": item}})
        requests.append(request)
    return requests


def sample_sizes(args: argparse.Namespace) -> list[int]:
    """The item sizes to write, from ``--like-db`` or ``--items/--avg-bytes``."""
    if args.like_db:
        sizes = sizes_like_db(args.like_db)
        if args.items:
            sizes = list(islice(cycle(sizes), args.items))
        return sizes
    if not (args.items and args.avg_bytes):
        raise SystemExit("give --like-db PATH, or --items N --avg-bytes B")
    return sizes_uniform(args.items, args.avg_bytes, random.Random(args.seed))


def thread_counts(text: str) -> Iterator[int]:
    """Parse ``1,2,4,8``."""
    return (int(t) for t in text.split(",") if t.strip())


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; prints a JSON summary on stdout."""
    ap = argparse.ArgumentParser(description="Write ceiling of a DynamoDB endpoint.")
    ap.add_argument("--endpoint-url", help="DynamoDB endpoint (default: AWS)")
    ap.add_argument("--region", help="AWS region (default: from the environment)")
    ap.add_argument("--prefix", default="bench_", help="table name prefix (default bench_)")
    ap.add_argument("--items", type=int, help="number of items (caps/extends --like-db)")
    ap.add_argument("--avg-bytes", type=int, help="average item size in bytes")
    ap.add_argument("--like-db", help="use the item sizes of handwritten.iter_items(PATH)")
    ap.add_argument("--with-gsis", action="store_true", help="table with 2 GSIs, keys on all items")
    ap.add_argument(
        "--real-items",
        action="store_true",
        help="with --like-db: send the baseline's own items into its four tables",
    )
    ap.add_argument("--threads", default="1,2,4,8", help="thread counts to try (default 1,2,4,8)")
    ap.add_argument("--batch-size", type=int, default=25, help="items per BatchWriteItem")
    ap.add_argument("--seed", type=int, default=42, help="RNG seed for sizes and payload")
    ap.add_argument("--keep-table", action="store_true", help="do not delete the table at the end")
    args = ap.parse_args(argv)

    factory = handwritten.make_client_factory(args.endpoint_url, args.region)
    admin = factory()
    tables: list[str]
    if args.real_items:
        if not args.like_db:
            raise SystemExit("--real-items needs --like-db PATH")
        requests = real_requests(args.like_db, args.prefix, args.batch_size, args.items)
        sizes = [
            item_size(put["PutRequest"]["Item"]) for request in requests for puts in request.values() for put in puts
        ]
        tables = [args.prefix + name for name in handwritten.TABLES]

        def reset() -> None:
            handwritten.create_tables(admin, args.prefix)

    else:
        sizes = sample_sizes(args)
        table = f"{args.prefix}Ceiling"
        gsi_count = 2 if args.with_gsis else 0
        requests = build_requests(table, sizes, args.with_gsis, args.batch_size, args.seed)
        tables = [table]

        def reset() -> None:
            handwritten.recreate_table(admin, handwritten.table_definition(table, gsi_count))

    results: dict[str, dict[str, float]] = {}
    for threads in thread_counts(args.threads):
        reset()
        seconds = run(factory, requests, threads)
        results[str(threads)] = {
            "seconds": round(seconds, 3),
            "items_per_s": round(len(sizes) / seconds, 1),
        }
        print(f"threads={threads}: {results[str(threads)]}", file=sys.stderr)
    if not args.keep_table:
        for name in tables:
            admin.delete_table(TableName=name)

    best = max(results, key=lambda t: results[t]["items_per_s"])
    summary = {
        "items": len(sizes),
        "avg_item_bytes": round(sum(sizes) / len(sizes), 1),
        "max_item_bytes": max(sizes),
        "with_gsis": args.with_gsis,
        "real_items": args.real_items,
        "results": results,
        "best": {"threads": int(best), "items_per_s": results[best]["items_per_s"]},
    }
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
