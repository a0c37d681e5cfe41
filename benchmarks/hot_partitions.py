"""Hot partitions: the engine and the hand-written baseline at AWS's write limits, scaled down.

Usage::

    python benchmarks/hot_partitions.py                    # Chinook x1, key 100 / table 400 units/s
    python benchmarks/hot_partitions.py --scale 10 --key-wcu 1000 --table-wcu 4000

DynamoDB Local writes as fast as its CPU allows; AWS limits one partition key
value to 1,000 write units per second and a new on-demand table to about
4,000. ``tests/capacity_proxy.py`` enforces both (scaled down by default 10x,
so that this machine's CPU is not what bounds the load) in front of one
in-memory DynamoDB Local, and reports the lower bound of the load time those
limits allow: the maximum over every table and GSI of max(units / table
limit, hottest key's units / key limit). Runs, each into fresh tables:

0. a warm-up: one unthrottled x1 load (a fresh server's first writes run at half speed);
1. ``cli.py migrate --no-validate --workers N`` through a proxy (``engine-before``: the
   checkout at ``--before``, e.g. main, the same way);
2. ``handwritten.py --threads N`` through a new proxy with the same limits;
3. ``cli.py migrate --no-validate --workers N`` straight to DynamoDB Local
   (no limits), for the "no slower than today" check.

For each: wall seconds of the child process, the tool's own write-phase
seconds, the lower bound, lower bound / wall (target >= 0.8: the load within
1.25x of what the limits allow), items throttled (each refusal of an item
counts), requests, and the hottest keys. Every run's item count per table is
checked against ``plan --estimate-rows 0`` (the hand-written baseline against
its own total). The figures are written to
``benchmarks/results/hot_partitions.json`` and printed as a Markdown table.
"""

from __future__ import annotations

import argparse
import functools
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
for folder in (ROOT, ROOT / "tests"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
from capacity_proxy import CapacityProxy  # noqa: E402

import cli as _checkout  # noqa: E402, F401 - binds the name sqlite2ddb to this checkout's engine/
from benchmarks import run as bench  # noqa: E402


def table_counts(client: Any, prefix: str) -> dict[str, int]:
    """Items per table (without the prefix) of every table named ``prefix...``, by Scan with Select=COUNT."""
    counts: dict[str, int] = {}
    names = [n for page in client.get_paginator("list_tables").paginate() for n in page["TableNames"]]
    for name in (n for n in names if n.startswith(prefix)):
        total, kwargs = 0, {"TableName": name, "Select": "COUNT"}
        while True:
            page = client.scan(**kwargs)
            total += page["Count"]
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        counts[name[len(prefix) :]] = total
    return counts


def plan_figures(db: Path, url: str, tmp: Path, limits: dict[str, float]) -> tuple[dict[str, int], float]:
    """Items per table by ``plan --estimate-rows 0``, and the lower bound its units give at ``limits``.

    The bound is computed as the proxy computes it, from plan's units per table and GSI and its
    hottest keys: a check that ``plan`` predicts what the model then measures.
    """
    folder = Path(tempfile.mkdtemp(prefix="plan-", dir=tmp))
    config = bench.engine_config(folder, db, "plan_", url, 1, None)
    cmd = [bench.PYTHON, "cli.py", "-c", config.path, "plan", "--format", "json", "--estimate-rows", "0"]
    child = bench.run_child([*cmd, "--no-check-target"], folder)
    if child.returncode != 0:
        raise child.failure("cli.py plan")
    tables = json.loads(child.stdout)["capacity"]["tables"]
    bound = 0.0
    for table in tables:
        totals = [table["table_wcu"], *table["gsi_wcu"].values()]
        hottest = max((k["units"] for k in table["hot_keys"]), default=0)
        bound = max(bound, max(totals) / limits["table_wcu"], hottest / limits["key_wcu"])
    return {t["name"].removeprefix("plan_"): t["items"] for t in tables}, round(bound, 3)


def engine_run(db: Path, url: str, prefix: str, workers: int, tmp: Path, root: Path = ROOT) -> dict[str, Any]:
    """``root/cli.py migrate --no-validate`` into fresh tables through ``url``: wall and write-phase seconds."""
    folder = Path(tempfile.mkdtemp(prefix="engine-", dir=tmp))
    config = bench.engine_config(folder, db, prefix, url, workers, None)
    cmd = [bench.PYTHON, str(root / "cli.py"), "-c", config.path, "migrate", "--no-validate", "--workers", str(workers)]
    child = bench.run_child(cmd, folder)
    if child.returncode != 0:
        raise child.failure(f"{root}/cli.py migrate")
    match = bench.SUMMARY_LINE.match(child.last_line().strip())
    if not match:
        raise RuntimeError(f"no summary line in the output of cli.py migrate: {child.last_line()!r}")
    return {
        "items": int(match.group(1)),
        "wall_s": round(child.wall_s, 2),
        "write_s": float(match.group(2)),
        "peak_rss_mib": round(child.maxrss_kib / 1024, 1),
        **child.cpu_figures(),
    }


def handwritten_run(db: Path, url: str, prefix: str, workers: int, tmp: Path) -> dict[str, Any]:
    """``handwritten.py --threads workers`` into fresh tables through ``url``."""
    folder = Path(tempfile.mkdtemp(prefix="hw-", dir=tmp))
    cmd = [bench.PYTHON, "benchmarks/handwritten.py", "--db", str(db), "--endpoint-url", url, "--prefix", prefix]
    child = bench.run_child([*cmd, "--region", bench.REGION, "--threads", str(workers)], folder)
    if child.returncode != 0:
        raise child.failure("handwritten.py")
    summary = json.loads(child.last_line())
    return {
        "items": summary["items"],
        "wall_s": round(child.wall_s, 2),
        "write_s": summary["seconds"],
        "peak_rss_mib": round(child.maxrss_kib / 1024, 1),
        **child.cpu_figures(),
    }


def measure(name: str, run: Any, upstream: str, prefix: str, limits: dict[str, float] | None) -> dict[str, Any]:
    """One run into fresh tables, through a capacity proxy when ``limits`` are given; its counts per table."""
    bench.log(
        f"{name}: starting" + (f" at key {limits['key_wcu']:g} / table {limits['table_wcu']:g}" if limits else "")
    )
    try:
        if limits is None:
            result = run(upstream)
        else:
            with CapacityProxy(upstream, **limits) as proxy:
                result = run(proxy.url)
            result["model"] = proxy.report()
        result["tables"] = table_counts(bench.admin_client(upstream), prefix)
    finally:
        bench.drop_tables(bench.admin_client(upstream), prefix)
    model = result.get("model")
    if model:
        model["hottest_keys"] = [k | {"where": k["where"].removeprefix(prefix)} for k in model["hottest_keys"]]
        for row in model["per_index"]:
            row["where"] = row["where"].removeprefix(prefix)
        model["set_by"] = model["set_by"].removeprefix(prefix)
        result["bound_over_wall"] = round(model["lower_bound_s"] / result["wall_s"], 3)
        result["bound_over_write"] = round(model["lower_bound_s"] / result["write_s"], 3)
    bench.log(f"{name}: {result['wall_s']}s wall" + (f", lower bound {model['lower_bound_s']}s" if model else ""))
    return {"run": name, **result}


def check_complete(row: dict[str, Any], planned: dict[str, int]) -> None:
    """The run wrote every item: per table as the plan says (the baseline: its own total)."""
    if row["run"].startswith("handwritten"):
        row["complete"] = sum(row["tables"].values()) == row["items"]
    else:
        row["complete"] = row["tables"] == planned
    if not row["complete"]:
        bench.log(f"{row['run']}: INCOMPLETE: {row['tables']} (expected {planned})")


def print_table(document: dict[str, Any]) -> None:
    limits = document["limits"]
    print(f"Chinook x{document['scale']}, limits key {limits['key_wcu']:g} / table {limits['table_wcu']:g} units/s")
    print()
    print(
        "| run | wall s | write s | lower bound s | bound / wall | throttled items | requests | hottest keys | complete |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in document["runs"]:
        m = r.get("model")
        hot = ", ".join(f"{k['where']} {k['key']} ({k['units']})" for k in m["hottest_keys"][:3]) if m else ""
        cells = [r["run"], r["wall_s"], r["write_s"]]
        cells += [m["lower_bound_s"], r["bound_over_wall"], m["items_throttled"], m["requests"], hot] if m else [""] * 5
        print("| " + " | ".join(str(c) for c in [*cells, "yes" if r["complete"] else "NO"]) + " |")
    bound = next((r["model"] for r in document["runs"] if r.get("model")), None)
    if bound:
        print(f"\nlower bound set by {bound['set_by']}; plan's units give {document['plan_lower_bound_s']}s")


def warm_up(url: str, args: argparse.Namespace, tmp: Path, prefix: str) -> None:
    """One unthrottled x1 load into throwaway tables: a fresh server's first writes run at half speed (JIT)."""
    db = bench.dataset(args.out.resolve() / "data", 1, args.seed, args.source)
    try:
        engine_run(db, url, prefix, args.workers, tmp)
    finally:
        bench.drop_tables(bench.admin_client(url), prefix)
    bench.log("warmed the server up with one unthrottled x1 load")


def parse_args(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scale", type=int, default=1, help="Chinook scale (default 1)")
    ap.add_argument("--key-wcu", type=float, default=100.0, help="write units/s per partition key (default 100)")
    ap.add_argument("--table-wcu", type=float, default=400.0, help="write units/s per table and GSI (default 400)")
    ap.add_argument("--workers", type=int, default=4, help="engine --workers = hand-written --threads (default 4)")
    ap.add_argument(
        "--runs",
        default="engine,handwritten,unthrottled",
        help="which runs, in this order (with --before also engine-before and unthrottled-before)",
    )
    ap.add_argument("--before", type=Path, help="another checkout (e.g. main) whose engine runs as *-before")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--source", type=Path, default=bench.SOURCE_DB)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    from sqlite2ddb.dynamodb import local as local_dynamodb

    for key, value in bench.child_env().items():
        if key.startswith("AWS_"):
            os.environ.setdefault(key, value)
    out: Path = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="bench-hot-"))
    db = bench.dataset(out / "data", args.scale, args.seed, args.source)
    limits = {"key_wcu": args.key_wcu, "table_wcu": args.table_wcu}
    server = local_dynamodb.start(None, in_memory=True)
    bench.SERVER_PID = server.pid
    prefixes = bench.Prefixes()
    rows: list[dict[str, Any]] = []
    try:
        bench.log(f"DynamoDB Local at {server.url}")
        planned, plan_bound = plan_figures(db, server.url, tmp, limits)
        warm_up(server.url, args, tmp, prefixes("wu"))
        for name in args.runs.split(","):
            prefix = prefixes(name[:2])
            if name == "handwritten":
                run = functools.partial(handwritten_run, db, prefix=prefix, workers=args.workers, tmp=tmp)
            else:
                root = args.before.resolve() if name.endswith("-before") else ROOT
                run = functools.partial(engine_run, db, prefix=prefix, workers=args.workers, tmp=tmp, root=root)
            row = measure(name, run, server.url, prefix, None if name.startswith("unthrottled") else limits)
            check_complete(row, planned)
            rows.append(row)
    finally:
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    document = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "dynamodb_local": local_dynamodb.local_version(),
        "scale": args.scale,
        "limits": limits,
        "workers": args.workers,
        "planned_items": planned,
        "plan_lower_bound_s": plan_bound,
        "runs": rows,
    }
    (out / "hot_partitions.json").write_text(json.dumps(document, indent=2) + "\n")
    print_table(document)
    return 0 if all(r["complete"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
