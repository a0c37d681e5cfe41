"""Two checkouts of the engine, the same migration, alternately: is this change slower?

Usage::

    git worktree add /tmp/before main
    python benchmarks/ab.py --before /tmp/before --scale 10 --rounds 2

Runs ``cli.py migrate --no-validate --workers N`` of the checkout at
``--before`` and of this one, alternately (before, after, after, before, ...
so that a drift of the machine's load falls on both), each into fresh tables
of one in-memory DynamoDB Local started here, with no limits. Prints the
median write-phase seconds of each and their ratio (after / before; above 1.05
is a slowdown of more than 5%). On a shared machine only the ratio means
something, and only when the two alternate.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
import cli as _checkout  # noqa: E402, F401 - binds the name sqlite2ddb to this checkout's engine/
from benchmarks import run as bench  # noqa: E402
from benchmarks.hot_partitions import engine_run  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--before", type=Path, required=True, help="the checkout to compare with (e.g. main)")
    ap.add_argument("--scale", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=2, help="runs of each (default 2; median)")
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--seed", type=int, default=42)
    args = ap.parse_args(argv)
    from sqlite2ddb.dynamodb import local as local_dynamodb

    for key, value in bench.child_env().items():
        if key.startswith("AWS_"):
            os.environ.setdefault(key, value)
    db = bench.dataset(ROOT / "benchmarks" / "results" / "data", args.scale, args.seed, bench.SOURCE_DB)
    tmp = Path(tempfile.mkdtemp(prefix="bench-ab-"))
    server = local_dynamodb.start(None, in_memory=True)
    bench.SERVER_PID = server.pid
    prefixes = bench.Prefixes()
    times: dict[str, list[float]] = {"before": [], "after": []}
    roots = {"before": args.before.resolve(), "after": ROOT}
    try:
        engine_run(bench.dataset(ROOT / "benchmarks" / "results" / "data", 1, args.seed, bench.SOURCE_DB),
                   server.url, prefixes("wu"), args.workers, tmp)  # fmt: skip  # warm the server up
        order = [("before", "after") if i % 2 == 0 else ("after", "before") for i in range(args.rounds)]
        for name in (n for pair in order for n in pair):
            prefix = prefixes(name[:2])
            try:
                result = engine_run(db, server.url, prefix, args.workers, tmp, root=roots[name])
            finally:
                bench.drop_tables(bench.admin_client(server.url), prefix)
            times[name].append(result["write_s"])
            bench.log(f"{name}: {result['items']} items, write {result['write_s']:.1f}s, wall {result['wall_s']:.1f}s")
    finally:
        server.stop()
    before, after = statistics.median(times["before"]), statistics.median(times["after"])
    print(f"Chinook x{args.scale}, {args.rounds} rounds, workers {args.workers}, unthrottled DynamoDB Local")
    print(
        f"before {before:.1f} s, after {after:.1f} s (medians of write seconds): after / before = {after / before:.3f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
