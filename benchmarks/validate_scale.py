"""The cost of the proof: full ``validate`` against ``migrate`` at several scales, in one run.

Usage::

    python benchmarks/validate_scale.py                       # x1, x10, x30 (about 10 minutes on 2 cores)
    python benchmarks/validate_scale.py --scales 1,10 --workers 4
    python benchmarks/validate_scale.py --cli /path/to/other/checkout/cli.py   # a baseline

One in-memory DynamoDB Local is started for the whole run. For each scale the
Chinook database is generated (``generate.py --seed 42``, reused when
present), ``cli.py migrate --no-validate`` loads it into fresh tables, then
``cli.py validate`` runs every check against them. Both are timed as child
processes (wall time) and their peak RSS is ``ru_maxrss`` from ``os.wait4``
of exactly that child. The tables are dropped after each scale. The table is
printed and written to ``<out>/validate-<timestamp>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
import cli as _checkout  # noqa: E402, F401 - binds the name sqlite2ddb to this checkout's engine/
from benchmarks import run as bench  # noqa: E402


def measure(db: Path, scale: int, url: str, prefix: str, workers: int, cli: Path, tmp: Path) -> dict[str, Any]:
    """Migrate then validate one scale into fresh tables; wall time and peak RSS of each child."""
    folder = Path(tempfile.mkdtemp(prefix=f"x{scale}-", dir=tmp))
    config = bench.engine_config(folder, db, prefix, url, workers, None)
    base = [bench.PYTHON, str(cli), "-c", config.path]
    try:
        migrate = bench.run_child([*base, "migrate", "--no-validate", "--workers", str(workers)], folder / "m")
        if migrate.returncode != 0:
            raise migrate.failure("cli.py migrate")
        bench.log(f"x{scale}: migrate {migrate.wall_s:.1f}s, {migrate.maxrss_kib / 1024:.0f} MB")
        report = folder / "validation.json"
        validate = bench.run_child([*base, "validate", "--report", str(report)], folder / "v")
        if validate.returncode != 0:
            raise validate.failure("cli.py validate")
        checks = json.loads(report.read_text())["checks"]
        bench.log(f"x{scale}: validate {validate.wall_s:.1f}s, {validate.maxrss_kib / 1024:.0f} MB")
    finally:
        bench.drop_tables(bench.admin_client(url), prefix)
        shutil.rmtree(folder, ignore_errors=True)
    slowest = sorted(checks, key=lambda c: -c.get("seconds", 0))[:5]
    return {
        "scale": scale,
        "migrate_s": round(migrate.wall_s, 1),
        "validate_s": round(validate.wall_s, 1),
        "ratio": round(validate.wall_s / migrate.wall_s, 2),
        "migrate_rss_mb": round(migrate.maxrss_kib / 1024, 1),
        "validate_rss_mb": round(validate.maxrss_kib / 1024, 1),
        "rss_ratio": round(validate.maxrss_kib / migrate.maxrss_kib, 2),
        "migrate_cpu": migrate.cpu_figures(),
        "validate_cpu": validate.cpu_figures(),
        "cpu_ratio": round(validate.cpu_s / migrate.cpu_s, 2),
        "checks": len(checks),
        "failed": sum(1 for c in checks if not c["passed"]),
        "slowest_checks": [(c["name"], c.get("seconds")) for c in slowest],
    }


def print_table(rows: list[dict[str, Any]]) -> None:
    base_rss = rows[0]["validate_rss_mb"] if rows else None
    print(
        "| scale | migrate s | validate s | validate / migrate | client CPU v/m | migrate RSS MB | validate RSS MB"
        " | RSS v/m | validate RSS / first scale |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        flat = round(r["validate_rss_mb"] / base_rss, 2) if base_rss else ""
        print(
            f"| x{r['scale']} | {r['migrate_s']} | {r['validate_s']} | {r['ratio']} | {r['cpu_ratio']} "
            f"| {r['migrate_rss_mb']} | {r['validate_rss_mb']} | {r['rss_ratio']} | {flat} |"
        )


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scales", default="1,10,30", help="comma-separated scale factors")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--workers", type=int, default=4, help="workers of migrate and validate")
    parser.add_argument("--source", type=Path, default=bench.SOURCE_DB)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    parser.add_argument("--cli", type=Path, default=ROOT / "cli.py", help="the cli.py to measure (a baseline checkout)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    from sqlite2ddb.dynamodb import local as local_dynamodb

    for key, value in bench.child_env().items():
        if key.startswith("AWS_"):
            os.environ.setdefault(key, value)
    scales = [int(s) for s in args.scales.split(",")]
    out: Path = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="bench-validate-"))
    dbs = {s: bench.dataset(out / "data", s, args.seed, args.source) for s in scales}
    server = local_dynamodb.start(None, in_memory=True)
    bench.SERVER_PID = server.pid
    prefixes = bench.Prefixes()
    rows: list[dict[str, Any]] = []
    try:
        bench.log(f"DynamoDB Local at {server.url}")
        for scale in scales:
            rows.append(measure(dbs[scale], scale, server.url, prefixes("v"), args.workers, args.cli.resolve(), tmp))
    finally:
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    document = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "dynamodb_local": local_dynamodb.local_version(),
        "cli": str(args.cli),
        "workers": args.workers,
        "rows": rows,
    }
    (out / f"validate-{time.strftime('%Y%m%d-%H%M%S')}.json").write_text(json.dumps(document, indent=2) + "\n")
    print(f"{document['date']}, {document['machine']}, DynamoDB Local {document['dynamodb_local']}")
    print_table(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
