"""The cost of sync, in one run against one in-memory DynamoDB Local.

Chinook scaled (x10 by default) is migrated, then:

1. ``migrate --dry-run``: every row read and rendered, nothing written (the baseline);
2. ``sync`` with no change: must write 0 items, in at most 1.2x the dry run's time;
3. ``sync`` after renaming 1% of the tracks: must write exactly the items that render
   those tracks (counted with SQL: the tracks, the albums that embed them, their
   playlist entries and the invoices whose lines carry them), in at most the dry
   run's time plus those writes at the write rate ``migrate`` measured.

Each run also reports its CPU seconds (the client's, DynamoDB Local's, and the
cores other jobs took), and the renamed sync's bound in client CPU seconds:
the dry run's CPU plus those writes at ``migrate``'s CPU per item. On a
machine shared with other jobs the wall times swing with their load; the CPU
ratio does not.

    python benchmarks/sync.py [--scale 10] [--out benchmarks/results/]
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sqlite3
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import run as bench

import cli as _checkout  # noqa: F401 - binds the name sqlite2ddb to this checkout's engine/
from sqlite2ddb.dynamodb import local as local_dynamodb

CLI = str(bench.ROOT / "cli.py")


def cli(config: Path, *args: str, scratch: Path) -> bench.Child:
    child = bench.run_child([sys.executable, CLI, "-c", str(config), *args], scratch)
    if child.returncode != 0:
        raise child.failure(" ".join(args))
    return child


def expected_items(db: Path, where: str) -> int:
    """Items that render a renamed track: the track, its album, its playlist entries, invoices with it."""
    conn = sqlite3.connect(db)
    tracks = f"SELECT TrackId FROM Track WHERE {where}"
    counts = [
        conn.execute(f"SELECT count(*) FROM ({tracks})").fetchone()[0],
        conn.execute(f"SELECT count(DISTINCT AlbumId) FROM Track WHERE TrackId IN ({tracks})").fetchone()[0],
        conn.execute(f"SELECT count(*) FROM PlaylistTrack WHERE TrackId IN ({tracks})").fetchone()[0],
        conn.execute(f"SELECT count(DISTINCT InvoiceId) FROM InvoiceLine WHERE TrackId IN ({tracks})").fetchone()[0],
    ]
    conn.close()
    return sum(counts)


def sync_counts(child: bench.Child) -> tuple[int, int]:
    found = re.findall(r"^sync: (\d+) items put, (\d+) deleted", child.stdout, re.MULTILINE)
    return int(found[-1][0]), int(found[-1][1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=int, default=10)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--out", type=Path, default=bench.ROOT / "benchmarks" / "results")
    args = parser.parse_args(argv)
    server = local_dynamodb.start(None, in_memory=True)
    bench.SERVER_PID = server.pid
    try:
        with tempfile.TemporaryDirectory(prefix="bench-sync-") as tmp:
            results = measure(Path(tmp), server.url, args)
    finally:
        server.stop()
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "sync.json").write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    return 0


def measure(tmp: Path, url: str, args: argparse.Namespace) -> dict[str, Any]:
    source = bench.dataset(args.out / "data", args.scale, args.seed, bench.SOURCE_DB)
    db = tmp / "source.sqlite"
    shutil.copy(source, db)
    config = bench.engine_config(tmp / "run", db, bench.Prefixes()("sync"), url, 4, 2)
    path = Path(config.path)
    bench.log(f"x{args.scale}: migrate")
    migrate = cli(path, "migrate", "--no-validate", scratch=tmp / "migrate")
    written = int(re.findall(r"^(\d+) items written in", migrate.stdout, re.MULTILINE)[-1])
    rate = written / migrate.wall_s
    bench.log("dry run")
    dry = cli(path, "migrate", "--dry-run", scratch=tmp / "dry")
    bench.log("sync, no change")
    idle = cli(path, "sync", "--no-validate", scratch=tmp / "sync0")
    where = "TrackId % 100 = 0"
    expected = expected_items(db, where)
    with sqlite3.connect(db) as conn:
        conn.execute(f"UPDATE Track SET Name = Name || ' (renamed)' WHERE {where}")
    conn.close()
    bench.log(f"sync, 1% of tracks renamed ({expected} items expected)")
    renamed = cli(path, "sync", "--no-validate", scratch=tmp / "sync1")
    put, deleted = sync_counts(renamed)
    bound = dry.wall_s + put / rate
    cpu_bound = dry.cpu_s + put * migrate.cpu_s / written
    return {
        "scale": args.scale,
        "items": written,
        "migrate": {"seconds": round(migrate.wall_s, 2), "items_per_s": round(rate), **migrate.cpu_figures()},
        "dry_run_seconds": round(dry.wall_s, 2),
        "dry_run_cpu": dry.cpu_figures(),
        "no_change": {
            "seconds": round(idle.wall_s, 2),
            "items_written": sum(sync_counts(idle)),
            "ratio_to_dry_run": round(idle.wall_s / dry.wall_s, 2),
            "cpu": idle.cpu_figures(),
            "cpu_ratio_to_dry_run": round(idle.cpu_s / dry.cpu_s, 2),
            "target": "<= 1.2, 0 items",
        },
        "one_percent_renamed": {
            "seconds": round(renamed.wall_s, 2),
            "items_put": put,
            "items_deleted": deleted,
            "items_expected_by_sql": expected,
            "bound_seconds": round(bound, 2),
            "ratio_to_bound": round(renamed.wall_s / bound, 2),
            "cpu": renamed.cpu_figures(),
            "cpu_bound_s": round(cpu_bound, 2),
            "cpu_ratio_to_bound": round(renamed.cpu_s / cpu_bound, 2),
            "target": "items = expected, ratio <= 1.0",
        },
    }


if __name__ == "__main__":
    sys.exit(main())
