"""The bulk path against BatchWriteItem, by hand: export items/s with 1 and 2 processes, migrate items/s, peak RSS.

Usage::

    python benchmarks/bulk.py --scale 30 [--out /tmp/bulk-bench] [--processes 1,2]

Steps, in one session: generate Chinook x``scale`` (reused when present),
start one in-memory DynamoDB Local, then as child processes ``cli.py export
--out DIR --processes N`` for each N (a fresh folder and state each time) and
``cli.py migrate --no-validate`` into DynamoDB Local. Wall time, items and
peak RSS (``ru_maxrss`` of the child from ``os.wait4``; with N > 1 the worker
processes are the child's children and are counted in ``RUSAGE_CHILDREN`` of
this process, reported separately) are printed as JSON. Last, ``plan --format
json`` gives the load-path cost table for this scale.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
import cli as _checkout  # noqa: E402, F401 - binds the name sqlite2ddb to this checkout's engine/
from sqlite2ddb.commands import init_config  # noqa: E402
from sqlite2ddb.config import load_config, save_config  # noqa: E402
from sqlite2ddb.dynamodb import local as local_dynamodb  # noqa: E402


def run_child(args: list[str], logs: Path) -> dict[str, Any]:
    """Run ``cli.py`` with ``args``: wall seconds, exit code, and the peak RSS of its largest process (MiB).

    ``os.wait4`` reports the child's own peak or that of the descendants it
    waited for (the export's worker processes), whichever is larger.
    """
    logs.mkdir(parents=True, exist_ok=True)
    with open(logs / "stdout", "wb") as stdout, open(logs / "stderr", "wb") as stderr:
        started = time.monotonic()
        process = subprocess.Popen(
            [sys.executable, str(ROOT / "cli.py"), *args], cwd=ROOT, stdout=stdout, stderr=stderr
        )
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.monotonic() - started
    return {
        "seconds": round(seconds, 2),
        "exit": os.waitstatus_to_exitcode(status),
        "peak_rss_mib": round(usage.ru_maxrss / 1024, 1),
        "stdout": (logs / "stdout").read_text(errors="replace"),
        "stderr": (logs / "stderr").read_text(errors="replace")[-2000:],
    }


def config_for(folder: Path, db: Path, endpoint: str, prefix: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "bench.json"
    config = init_config(str(path), str(db), "mappings/chinook", "us-east-1", 25, prefix, "local", endpoint, None)
    data = config.to_json()
    data["migration_settings"]["state_file"] = str(folder / "state" / "migration_state.json")
    data["logging"]["file"] = str(folder / "bench.log")
    path.write_text(json.dumps(data, indent=2))
    save_config(load_config(path))
    return path


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=int, default=30)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--out", default="/tmp/bulk-bench")
    ap.add_argument("--processes", default="1,2")
    ap.add_argument("--part-mb", type=float, default=64.0)
    options = ap.parse_args()
    out = Path(options.out)
    out.mkdir(parents=True, exist_ok=True)
    db = out / f"chinook_x{options.scale}.sqlite"
    if not db.exists():
        subprocess.run(
            [
                sys.executable,
                "benchmarks/generate.py",
                "--scale",
                str(options.scale),
                "--seed",
                str(options.seed),
                "--out",
                str(db),
            ],
            cwd=ROOT,
            check=True,
        )
    server = local_dynamodb.start(None, in_memory=True)
    results: dict[str, Any] = {"scale": options.scale, "db_bytes": db.stat().st_size, "cores": os.cpu_count()}
    try:
        for n in [int(p) for p in options.processes.split(",")]:
            folder = out / f"export-{n}"
            shutil.rmtree(folder, ignore_errors=True)
            config = config_for(folder, db, server.url, f"bx{n}_")
            run = run_child(
                [
                    "-c",
                    str(config),
                    "export",
                    "--out",
                    str(folder / "parts"),
                    "--processes",
                    str(n),
                    "--part-mb",
                    str(options.part_mb),
                ],
                folder / "logs",
            )
            manifest = json.loads((folder / "parts" / "manifest.json").read_text())
            run["items"] = sum(t["items"] for t in manifest["tables"].values())
            run["items_per_s"] = round(run["items"] / run["seconds"], 1)
            results[f"export_{n}"] = run
        folder = out / "migrate"
        shutil.rmtree(folder, ignore_errors=True)
        config = config_for(folder, db, server.url, "bm_")
        run = run_child(["-c", str(config), "migrate", "--no-validate", "--workers", "4"], folder / "logs")
        run["items"] = results[f"export_{options.processes.split(',')[0]}"]["items"]
        run["items_per_s"] = round(run["items"] / run["seconds"], 1)
        results["migrate"] = run
        plan = run_child(["-c", str(config), "plan", "--format", "json", "--no-check-target"], folder / "plan-logs")
        results["load_paths"] = json.loads(plan.pop("stdout") or "{}").get("load_paths") if plan["exit"] == 0 else plan
    finally:
        server.stop()
    for key in [k for k in results if isinstance(results[k], dict)]:
        results[key].pop("stdout", None)
        if results[key].get("exit") == 0:
            results[key].pop("stderr", None)
    print(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
