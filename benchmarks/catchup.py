"""The final catch-up before a cutover: its time against the full load and against detecting plus writing the change.

Chinook scaled (x30 by default) is migrated (the full load), then the change of
issue 27 is made to the source: 10 track names, one invoice deleted with its
lines, one customer's email (13 rows). Then ``sync`` catches up. Reported, in one
run against one in-memory DynamoDB Local:

- ``full_load_seconds``: the migrate;
- ``catchup_seconds``: the sync after the change (snapshot copy, table digests,
  row digests of the changed tables, following the rows, rendering them, writing);
- ``detect_seconds``: what the sync's timeline says finding the change took (row
  digests and following them to cursors), and ``write_seconds``: the items it
  wrote or deleted at the write rate the full load measured;
- ``sync_seconds``: the sync's own figure (``sync: ... in N s``), the process
  without the interpreter's start and imports;
- the ratios: catchup / full load (target <= 0.02) and catchup / (detect + write)
  (target <= 3), the latter also for ``sync_seconds``.

    python benchmarks/catchup.py [--scales 30,100] [--out benchmarks/results/]

Run it small (``--scale 1`` or ``3``) to check it works; the figures mean
something only on a quiet machine.
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


def change_13_rows(db: Path) -> None:
    """10 track names, one invoice with its lines deleted, one customer's email."""
    conn = sqlite3.connect(db)
    with conn:
        conn.execute(
            "UPDATE Track SET Name = Name || ' (cutover)' WHERE TrackId IN (SELECT TrackId FROM Track LIMIT 10)"
        )
        invoice = conn.execute("SELECT max(InvoiceId) FROM Invoice").fetchone()[0]
        conn.execute("DELETE FROM InvoiceLine WHERE InvoiceId = ?", (invoice,))
        conn.execute("DELETE FROM Invoice WHERE InvoiceId = ?", (invoice,))
        conn.execute("UPDATE Customer SET Email = 'cutover@example.com' WHERE CustomerId = 1")
    conn.close()


def sync_counts(child: bench.Child) -> tuple[int, int]:
    found = re.findall(r"^sync: (\d+) items put, (\d+) deleted", child.stdout, re.MULTILINE)
    return int(found[-1][0]), int(found[-1][1])


def detect_seconds(state_dir: Path) -> float:
    """What finding the change cost the last sync (its timeline's catch-up line)."""
    found = [
        json.loads(line) for line in (state_dir / "timeline.jsonl").read_text().splitlines() if '"catchup"' in line
    ]
    return found[-1]["catchup"]["rows_s"] + found[-1]["catchup"]["follow_s"] if found else float("nan")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scales", default="30", help="comma-separated Chinook scales, e.g. 30,100")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--out", type=Path, default=bench.ROOT / "benchmarks" / "results")
    args = parser.parse_args(argv)
    scales = [int(s) for s in args.scales.split(",")]
    server = local_dynamodb.start(None, in_memory=True)
    bench.SERVER_PID = server.pid
    results: dict[str, Any] = {"load_average_start": bench_load(), "scales": []}
    try:
        for scale in scales:
            with tempfile.TemporaryDirectory(prefix="bench-catchup-") as tmp:
                results["scales"].append(measure(Path(tmp), server.url, scale, args))
    finally:
        server.stop()
    results["load_average_end"] = bench_load()
    if len(scales) > 1:
        first, last = results["scales"][0], results["scales"][-1]
        results["capture_growth"] = {
            "scales": f"x{last['scale']} / x{first['scale']}",
            "ratio": round(last["capture"]["catchup_seconds"] / first["capture"]["catchup_seconds"], 2),
            "target": "<= 1.2",
        }
        results["digest_growth"] = {
            "scales": f"x{last['scale']} / x{first['scale']}",
            "ratio": round(last["digests"]["catchup_seconds"] / first["digests"]["catchup_seconds"], 2),
        }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"catchup_x{'_x'.join(map(str, scales))}.json").write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    return 0


def bench_load() -> str:
    return " ".join(f"{x:.2f}" for x in __import__("os").getloadavg())


def measure(tmp: Path, url: str, scale: int, args: argparse.Namespace) -> dict[str, Any]:
    source = bench.dataset(args.out / "data", scale, args.seed, bench.SOURCE_DB)
    db = tmp / "source.sqlite"
    shutil.copy(source, db)
    config = bench.engine_config(tmp / "run", db, bench.Prefixes()("catchup"), url, 4, 2)
    path = Path(config.path)
    bench.log(f"x{scale}: full load (migrate)")
    load = cli(path, "migrate", "--no-validate", scratch=tmp / "migrate")
    written = int(re.findall(r"^(\d+) items written in", load.stdout, re.MULTILINE)[-1])
    rate = written / load.wall_s
    bench.log("sync, no change")
    idle = cli(path, "sync", "--no-validate", scratch=tmp / "sync0")
    out: dict[str, Any] = {
        "scale": scale,
        "items": written,
        "source_mb": round(db.stat().st_size / 1e6, 1),
        "full_load_seconds": round(load.wall_s, 2),
        "no_change_sync_seconds": round(idle.wall_s, 2),
    }
    change_13_rows(db)
    bench.log("sync after the 13-row change (the catch-up, row digests)")
    out["digests"] = catchup_figures(path, config.state_dir, load.wall_s, rate, tmp / "sync1")
    bench.log("capture install, a sync to take the log's position")
    cli(path, "capture", "install", scratch=tmp / "capture")
    cli(path, "sync", "--no-validate", scratch=tmp / "sync2")
    change_13_rows(db)
    bench.log("sync after the 13-row change (the catch-up, capture log)")
    out["capture"] = catchup_figures(path, config.state_dir, load.wall_s, rate, tmp / "sync3")
    return out


def catchup_figures(path: Path, state_dir: Path, load_s: float, rate: float, scratch: Path) -> dict[str, Any]:
    catchup = cli(path, "sync", "--no-validate", scratch=scratch)
    put, deleted = sync_counts(catchup)
    detect = detect_seconds(state_dir)
    write = (put + deleted) / rate
    inside = float(re.findall(r"^sync: .* in ([0-9.]+)s", catchup.stdout, re.MULTILINE)[-1])
    return {
        "catchup_seconds": round(catchup.wall_s, 2),
        "sync_seconds": inside,  # the command's own work, without the interpreter's start and imports
        "ratio_sync_to_detect_plus_write": round(inside / (detect + write), 2),
        "read_live": "no copy" in catchup.stdout,
        "items_put": put,
        "items_deleted": deleted,
        "detect_seconds": round(detect, 3),
        "write_seconds": round(write, 3),
        "ratio_to_full_load": round(catchup.wall_s / load_s, 4),
        "ratio_to_detect_plus_write": round(catchup.wall_s / (detect + write), 2),
        "targets": {"ratio_to_full_load": "<= 0.02", "ratio_to_detect_plus_write": "<= 3"},
    }


if __name__ == "__main__":
    sys.exit(main())
