"""The everyday path: a small or medium Chinook load, whole process, against the hand-written peer.

Usage::

    python benchmarks/everyday.py              # x1 and x10, 5 pairs each, fixed costs, fsyncs, embedded
    python benchmarks/everyday.py --quick      # x1 only, 3 pairs
    make bench-everyday

What it measures, all in one session (ratios are only meaningful within it):

1. ``cli.py migrate --no-validate`` with default settings and the hand-written
   peer (``benchmarks/handwritten.py --threads 8``: BatchWriteItem from 8
   threads, no checkpoints), alternately (engine, peer, peer, engine, ...)
   into fresh tables of one in-memory DynamoDB Local started here: the median
   whole-process wall time of each with its spread (min-max), their ratio
   (peer / engine: above 1 the engine is faster), and client CPU seconds per
   1,000 items (``getrusage(RUSAGE_CHILDREN)`` deltas around each child);
2. one run of each under ``strace -f``: fsyncs (and fdatasyncs) per run and
   the seconds spent in them, and the time from ``execve`` to the first
   BatchWriteItem request sent on a socket (strace slows the traced process,
   so this run is not in the wall times);
3. the fixed cost per item type: ``migrate`` of a copy of Chinook with one row
   per table, each item type's seconds from the run's ``timeline.jsonl``
   (median of ``--fixed-runs``);
4. the embedded default: ``init`` without an endpoint and ``migrate
   --no-validate``, i.e. the tool's own DynamoDB Local on disk in the state
   folder, server start and stop included, against the in-memory engine runs.

The load average is printed at the start and the end: on a loaded 2-core
machine wall times move a lot, CPU seconds and syscall counts much less.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
import cli as _checkout  # noqa: E402, F401 - binds the name sqlite2ddb to this checkout's engine/
from benchmarks import run as bench  # noqa: E402

PEER_THREADS = 8
DATA_DIR = ROOT / "benchmarks" / "results" / "data"
STRACE_LINE = re.compile(r"^(\d+)\s+(\d+\.\d+)\s+(\w+)\(.*?(?:<(\d+\.\d+)>)?$")


@dataclass
class Timed:
    """One child process: wall seconds, client CPU seconds, items written, its folder."""

    wall_s: float
    cpu_s: float
    items: int
    folder: Path


@dataclass
class Series:
    """The runs of one contender at one scale."""

    runs: list[Timed] = field(default_factory=list)

    def median_wall(self) -> float:
        return statistics.median(r.wall_s for r in self.runs)

    def spread(self) -> str:
        walls = [r.wall_s for r in self.runs]
        return f"{min(walls):.2f}-{max(walls):.2f}"

    def cpu_per_1000(self) -> float:
        return statistics.median(1000 * r.cpu_s / r.items for r in self.runs if r.items)


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def timed(cmd: list[str], folder: Path, env: dict[str, str] | None = None) -> tuple[subprocess.CompletedProcess, Timed]:
    """Run ``cmd`` from the repository root; wall time and the CPU seconds of it and its children."""
    folder.mkdir(parents=True, exist_ok=True)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=env or bench.child_env(), capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    (folder / "stdout.txt").write_text(proc.stdout)
    (folder / "stderr.txt").write_text(proc.stderr)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
        raise RuntimeError(f"{' '.join(cmd[:4])} ... exited with code {proc.returncode}:\n{tail}")
    return proc, Timed(wall, cpu, items_of(proc.stdout), folder)


def items_of(stdout: str) -> int:
    """Items written, from the engine's summary line or the peer's JSON line."""
    for line in reversed(stdout.strip().splitlines()):
        match = bench.SUMMARY_LINE.match(line.strip())
        if match:
            return int(match.group(1))
        if line.startswith("{"):
            return int(json.loads(line)["items"])
    return 0


def write_config(folder: Path, db: Path, prefix: str, url: str | None) -> Path:
    """What ``init`` writes (the embedded server when ``url`` is None), state and log under ``folder``."""
    from dataclasses import replace

    from sqlite2ddb import commands
    from sqlite2ddb.config import save_config, with_settings

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "migration.json"
    config = commands.init_config(str(path), str(db), str(bench.MAPPINGS), bench.REGION, 25, prefix, "local", url, None)
    config = with_settings(config, state_file=str(folder / "state" / "migration_state.json"))
    save_config(replace(config, logging=replace(config.logging, file=str(folder / "state" / "migration.log"))))
    return path


#: The engine measured: this checkout's cli.py, or another checkout's (``--engine``), for a before/after table.
ENGINE_CLI = ROOT / "cli.py"


def engine_cmd(db: Path, url: str | None, prefix: str, folder: Path) -> list[str]:
    """``cli.py migrate --no-validate`` with default settings."""
    if ENGINE_CLI != ROOT / "cli.py":
        return [
            bench.PYTHON,
            str(ENGINE_CLI),
            "-c",
            str(foreign_config(folder, db, prefix, url)),
            "migrate",
            "--no-validate",
        ]
    return [bench.PYTHON, "cli.py", "-c", str(write_config(folder, db, prefix, url)), "migrate", "--no-validate"]


def foreign_config(folder: Path, db: Path, prefix: str, url: str | None) -> Path:
    """The configuration another checkout's ``init`` writes (its keys may differ from ours), state under ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "migration.json"
    endpoint = ["--endpoint-url", url] if url else []
    subprocess.run(
        [bench.PYTHON, str(ENGINE_CLI), "-c", str(path), "init", "-s", str(db), "-m", str(bench.MAPPINGS), "-p", prefix,
         *endpoint],
        cwd=ENGINE_CLI.parent, env=bench.child_env(), capture_output=True, text=True, check=True,
    )  # fmt: skip
    data = json.loads(path.read_text())
    data["migration_settings"]["state_file"] = str(folder / "state" / "migration_state.json")
    data["logging"]["file"] = str(folder / "state" / "migration.log")
    path.write_text(json.dumps(data, indent=2))
    return path


def peer_cmd(db: Path, url: str, prefix: str) -> list[str]:
    return [bench.PYTHON, "benchmarks/handwritten.py", "--db", str(db), "--endpoint-url", url, "--prefix", prefix,
            "--region", bench.REGION, "--threads", str(PEER_THREADS)]  # fmt: skip


def pairs(db: Path, url: str, count: int, tmp: Path, prefixes: bench.Prefixes) -> dict[str, Series]:
    """``count`` alternating pairs (engine first, then peer first, ...) into fresh tables."""
    series = {"engine": Series(), "peer": Series()}
    admin = bench.admin_client(url)
    for i in range(count):
        for name in ("engine", "peer") if i % 2 == 0 else ("peer", "engine"):
            prefix = prefixes(name[:2])
            folder = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=tmp))
            cmd = engine_cmd(db, url, prefix, folder) if name == "engine" else peer_cmd(db, url, prefix)
            try:
                _, run = timed(cmd, folder)
            finally:
                bench.drop_tables(admin, prefix)
            series[name].runs.append(run)
            bench.log(
                f"{name}: {run.items} items, wall {run.wall_s:.2f}s, cpu {run.cpu_s:.2f}s (load {load_average()})"
            )
    return series


def traced(cmd: list[str], folder: Path, env: dict[str, str] | None = None) -> dict[str, Any]:
    """One run under strace: fsyncs, seconds in them, seconds from execve to the first BatchWriteItem."""
    out = folder / "strace.txt"
    wrapped = ["strace", "-f", "--seccomp-bpf", "-qq", "-ttt", "-T", "-s", "2000", "-o", str(out),
               "-e", "trace=execve,fsync,fdatasync,sendto", *cmd]  # fmt: skip
    timed(wrapped, folder, env)
    start = first_write = None
    fsyncs, fsync_s = 0, 0.0
    for line in out.read_text(errors="replace").splitlines():
        match = STRACE_LINE.match(line)
        if not match:
            continue
        at, call = float(match.group(2)), match.group(3)
        start = at if start is None else start
        if call in ("fsync", "fdatasync"):
            fsyncs += 1
            fsync_s += float(match.group(4) or 0)
        elif first_write is None and "BatchWriteItem" in line and call in ("sendto", "write"):
            first_write = at
    return {
        "fsyncs": fsyncs,
        "fsync_s": round(fsync_s, 3),
        "first_write_s": None if first_write is None or start is None else round(first_write - start, 3),
    }


def one_row_copy(db: Path, out: Path) -> Path:
    """A copy of ``db`` keeping the first row (lowest rowid) of every table."""
    out.unlink(missing_ok=True)
    with sqlite3.connect(db) as src, sqlite3.connect(out) as dst:
        src.backup(dst)
    conn = sqlite3.connect(out)
    try:
        tables = [
            r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'")
        ]
        for table in tables:
            conn.execute(f'DELETE FROM "{table}" WHERE rowid <> (SELECT MIN(rowid) FROM "{table}")')
        conn.commit()
        conn.execute("VACUUM")
    finally:
        conn.close()
    return out


def item_type_seconds(folder: Path) -> dict[str, float]:
    """Each item type's seconds in the last run of the state folder's timeline."""
    seconds: dict[str, float] = {}
    for line in (folder / "state" / "timeline.jsonl").read_text().splitlines():
        record = json.loads(line)
        if record.get("event") == "start":
            seconds = {}
        elif record.get("event") == "item_type":
            seconds[record["name"]] = record["seconds"]
    return seconds


def fixed_costs(url: str, runs: int, tmp: Path, prefixes: bench.Prefixes) -> dict[str, Any]:
    """Per item type, the median seconds of a one-row load, and the whole process's wall time."""
    db = one_row_copy(bench.SOURCE_DB, tmp / "chinook_one_row.sqlite")
    per_type: dict[str, list[float]] = {}
    walls: list[float] = []
    admin = bench.admin_client(url)
    for _ in range(runs):
        prefix = prefixes("fx")
        folder = Path(tempfile.mkdtemp(prefix="fixed-", dir=tmp))
        try:
            _, run = timed(engine_cmd(db, url, prefix, folder), folder)
        finally:
            bench.drop_tables(admin, prefix)
        walls.append(run.wall_s)
        for name, seconds in item_type_seconds(folder).items():
            per_type.setdefault(name, []).append(seconds)
    return {
        "wall_s": statistics.median(walls),
        "item_types": {name: statistics.median(values) for name, values in sorted(per_type.items())},
    }


def embedded(db: Path, count: int, tmp: Path, keep_fsync: bool = False) -> Series:
    """``migrate --no-validate`` on what ``init`` without an endpoint gives: the tool's own DynamoDB Local on disk.

    ``keep_fsync``: the server without eatmydata (``MIGRATION_LOCAL_FSYNC=1``), as before issue 25.
    """
    series = Series()
    env = bench.child_env() | ({"MIGRATION_LOCAL_FSYNC": "1"} if keep_fsync else {})
    for _ in range(count):
        folder = Path(tempfile.mkdtemp(prefix="embedded-", dir=tmp))
        _, run = timed(engine_cmd(db, None, "chinook_", folder), folder, env)
        series.runs.append(run)
        label = "every fsync kept" if keep_fsync else "default"
        bench.log(f"embedded on disk ({label}): {run.items} items, wall {run.wall_s:.2f}s (load {load_average()})")
    return series


def scale_report(scale: int, series: dict[str, Series], traces: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Print one scale's table; its figures as a dictionary."""
    engine, peer = series["engine"], series["peer"]
    items = engine.runs[0].items
    print(f"\nChinook x{scale}: {items:,} items, {len(engine.runs)} alternating pairs, in-memory DynamoDB Local")
    print(f"{'':14} {'wall median (min-max) s':>24} {'client CPU s / 1,000 items':>27} {'first write s':>14} {'fsyncs':>7} {'s in fsync':>11}")  # fmt: skip
    figures: dict[str, Any] = {"items": items}
    for name, label in (("engine", "engine"), ("peer", f"hand-written {PEER_THREADS}t")):
        s, t = series[name], traces.get(name, {})
        first = t.get("first_write_s")
        print(f"{label:14} {s.median_wall():>11.2f} ({s.spread():>11}) {s.cpu_per_1000():>27.3f} "
              f"{'-' if first is None else f'{first:.2f}':>14} {t.get('fsyncs', '-'):>7} {t.get('fsync_s', '-'):>11}")  # fmt: skip
        figures[name] = {"walls": [round(r.wall_s, 3) for r in s.runs], "median_wall_s": round(s.median_wall(), 3),
                         "cpu_s_per_1000": round(s.cpu_per_1000(), 3), **t}  # fmt: skip
    figures["speed_ratio"] = round(peer.median_wall() / engine.median_wall(), 3)
    figures["cpu_ratio"] = round(engine.cpu_per_1000() / peer.cpu_per_1000(), 3)
    print(f"speed: peer wall / engine wall = {figures['speed_ratio']:.2f}x (above 1: the engine is faster); "
          f"client CPU per item engine / peer = {figures['cpu_ratio']:.2f}")  # fmt: skip
    return figures


def fixed_report(fixed: dict[str, Any]) -> None:
    print(f"\nFixed cost: one row per table, whole process {fixed['wall_s']:.2f}s; seconds per item type:")
    for name, seconds in fixed["item_types"].items():
        print(f"  {name:14} {seconds:.3f}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="x1 only, 3 pairs, 1 embedded run")
    ap.add_argument("--scales", default="1,10", help="Chinook scales (default 1,10)")
    ap.add_argument("--pairs", type=int, default=5, help="alternating pairs per scale (default 5)")
    ap.add_argument("--fixed-runs", type=int, default=3, help="one-row loads (default 3)")
    ap.add_argument("--embedded-runs", type=int, default=3, help="embedded on-disk runs at x1 (default 3; 0: none)")
    ap.add_argument("--embedded-fsync", action="store_true", help="also the embedded server with every fsync kept")
    ap.add_argument("--no-strace", action="store_true", help="skip the traced runs")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--engine", type=Path, default=None, help="another checkout's cli.py to measure (a baseline)")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = ap.parse_args(argv)
    if args.engine:
        global ENGINE_CLI
        ENGINE_CLI = args.engine.resolve()
    args.scales = [int(s) for s in args.scales.split(",")]
    if args.quick:
        args.scales, args.pairs, args.embedded_runs = [1], 3, min(args.embedded_runs, 1)
    if shutil.which("strace") is None and not args.no_strace:
        bench.log("strace not found (apt-get install strace): no fsync counts or first-write times")
        args.no_strace = True
    return args


def measure_scale(
    scale: int, args: argparse.Namespace, url: str, tmp: Path, prefixes: bench.Prefixes
) -> dict[str, Any]:
    db = bench.dataset(DATA_DIR, scale, args.seed, bench.SOURCE_DB)
    series = pairs(db, url, args.pairs, tmp, prefixes)
    traces: dict[str, dict[str, Any]] = {}
    if not args.no_strace:
        for name in ("engine", "peer"):
            prefix, folder = prefixes(f"t{name[0]}"), Path(tempfile.mkdtemp(prefix=f"trace-{name}-", dir=tmp))
            try:
                cmd = engine_cmd(db, url, prefix, folder) if name == "engine" else peer_cmd(db, url, prefix)
                traces[name] = traced(cmd, folder)
            finally:
                bench.drop_tables(bench.admin_client(url), prefix)
    return scale_report(scale, series, traces) | {"in_memory_engine_wall_s": series["engine"].median_wall()}


def embedded_report(db: Path, args: argparse.Namespace, tmp: Path, in_memory_s: float) -> dict[str, Any]:
    """The embedded default on disk, as shipped and with every fsync kept; ratios to the in-memory engine."""
    print("\nEmbedded default on disk (init without an endpoint; server start and stop included), x1:")
    figures: dict[str, Any] = {}
    for keep in (False, True) if args.embedded_fsync else (False,):
        runs = embedded(db, args.embedded_runs, tmp, keep)
        trace: dict[str, Any] = {}
        if not args.no_strace:
            folder = Path(tempfile.mkdtemp(prefix="trace-embedded-", dir=tmp))
            env = bench.child_env() | ({"MIGRATION_LOCAL_FSYNC": "1"} if keep else {})
            trace = traced(engine_cmd(db, None, "chinook_", folder), folder, env)
        ratio = in_memory_s / runs.median_wall()
        label = "every fsync kept" if keep else "as shipped"
        print(f"  {label:17} {runs.median_wall():.2f}s ({runs.spread()}); in memory {in_memory_s:.2f}s: "
              f"in-memory / embedded = {ratio:.2f}x; fsyncs {trace.get('fsyncs', '-')} ({trace.get('fsync_s', '-')} s in fsync)")  # fmt: skip
        figures[label] = {"walls": [round(r.wall_s, 3) for r in runs.runs], "median_wall_s": round(runs.median_wall(), 3),
                          "ratio_to_in_memory": round(ratio, 3), **trace}  # fmt: skip
    return figures


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from sqlite2ddb.dynamodb import local as local_dynamodb

    for key, value in bench.child_env().items():
        if key.startswith("AWS_"):
            os.environ.setdefault(key, value)
    tmp = Path(tempfile.mkdtemp(prefix="bench-everyday-"))
    results: dict[str, Any] = {"load_average_start": load_average(), "scales": {}}
    print(f"load average at start: {results['load_average_start']} ({os.cpu_count()} cores)")
    server = local_dynamodb.start(None, in_memory=True)
    bench.SERVER_PID = server.pid
    prefixes = bench.Prefixes()
    try:
        db1 = bench.dataset(DATA_DIR, 1, args.seed, bench.SOURCE_DB)
        for name, cmd in (
            ("peer", peer_cmd(db1, server.url, "wu1_")),
            ("engine", engine_cmd(db1, server.url, "wu2_", tmp / "wu")),
        ):
            timed(cmd, tmp / f"warmup-{name}")  # the first load after the server starts runs slower
        for scale in args.scales:
            results["scales"][scale] = measure_scale(scale, args, server.url, tmp, prefixes)
        results["fixed"] = fixed_costs(server.url, args.fixed_runs, tmp, prefixes)
        fixed_report(results["fixed"])
    finally:
        server.stop()
    if args.embedded_runs and 1 in results["scales"]:
        in_memory = results["scales"][1]["in_memory_engine_wall_s"]
        results["embedded"] = embedded_report(db1, args, tmp, in_memory)
    results["load_average_end"] = load_average()
    print(f"\nload average at the end: {results['load_average_end']}")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"everyday-{time.strftime('%Y%m%d-%H%M%S')}.json").write_text(json.dumps(results, indent=2) + "\n")
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
