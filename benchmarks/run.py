"""Run the whole benchmark in one session against one in-memory DynamoDB Local.

Usage::

    python benchmarks/run.py                 # main scale x10 (about 9 minutes on 2 idle cores)
    python benchmarks/run.py --quick         # main scale x1 (about 4 minutes)
    python benchmarks/run.py --scales 1,10 --rss-scales 1,10,50 --threads 4 --out benchmarks/results/

Steps, all against one DynamoDB Local started here with ``-inMemory`` and
stopped at the end:

1. generate the scaled databases into ``<out>/data/`` (reused when present
   with the same scale, seed, source and generator);
2. transform only, no network, at the main scale: the engine's own pass over
   every row (``commands.estimate``) against ``handwritten.iter_items``,
   in-process, best of ``--transform-rounds``;
3. a warm-up: ``--warmup-runs`` writes of the hand-written baseline at x1,
   then one of the engine (the first x1 write after the server starts runs
   at about half the rate of the later ones);
4. the write ceiling: the baseline's own items, pre-built, sent into its four
   tables at each of ``--ceiling-threads`` (best counts), capped at
   ``--ceiling-items`` by keeping evenly spaced batches of the main-scale
   stream (see "Ceiling sample" below). Two variants: ``boto3``, the clients
   of ``ceiling.py``, and ``unvalidated``, the same with botocore's parameter
   validation off as the engine's client has it (validating every nested
   attribute costs 0.08 ms of client CPU per item at x1 and 0.18 ms at x10,
   so with it on the "ceiling" is below what the engine reaches). The
   targets use the higher;
5. end to end at the main scale, engine and hand-written alternately for
   ``--rounds`` rounds each (median): ``handwritten.py --threads N`` and
   ``cli.py migrate --no-validate --workers N``;
6. peak RSS (``ru_maxrss`` from ``os.wait4`` of the child) of ``cli.py
   migrate`` at each of ``--rss-scales``, and its ratio to x1: the highest of
   the engine runs at that scale (warm-up and timed runs count; a scale with
   none gets a run of its own).

Each child run also records its CPU time, DynamoDB Local's (from /proc) and
the rest of the machine's over its wall time: on 2 cores the figures are only
comparable when "other" stays near 0; a busy machine is reported.

Every run writes into tables with a unique prefix, dropped right after the run
so the in-memory server stays small. The figures are printed as tables and
written to ``<out>/bench-<timestamp>.json`` and ``<out>/latest.json``.

Ceiling sample: ``ceiling.py --real-items --items N`` keeps the *first* N
items of the stream, which at x10 are only MusicCatalog items (albums with
their track lists and tracks, two GSIs, about twice the average size); such a
prefix reaches about half of the full mix's rate, so it is not the ceiling of
this payload. Here the cap keeps every k-th batch of 25 instead, so the sample
has the stream's mix of tables and item shapes (at x10, unvalidated, 8
threads: two 20,000-item samples gave 2,113 and 2,369 items/s, all 133,298
items 2,501, so the sample does not flatter the ceiling); the timing itself
is ``ceiling.run`` on fresh ``handwritten.create_tables`` tables, as in
``ceiling.py``.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
import cli as _checkout  # noqa: E402, F401 - binds the name sqlite2ddb to this checkout's engine/
from benchmarks import ceiling, generate, handwritten  # noqa: E402

PYTHON = sys.executable
SOURCE_DB = ROOT / "data" / "Chinook_Sqlite.sqlite"
MAPPINGS = ROOT / "mappings" / "chinook"
REGION = "us-east-1"
SUMMARY_LINE = re.compile(r"^(\d+) items written in ([0-9.]+)s \(([0-9.]+) items/s\)\s*$")

#: Targets the project reports against: (key, label, comparison, bound).
TARGETS = (
    ("engine_vs_handwritten", "engine / hand-written, end to end", ">=", 1.0),
    ("engine_vs_ceiling", "engine / ceiling (higher variant), end to end", ">=", 0.9),
    ("transform_engine_vs_handwritten", "engine / hand-written, transform only", ">=", 1.0),
    ("rss_x10_vs_x1", "engine peak RSS x10 / x1", "<=", 1.25),
)

_T0 = time.monotonic()


def log(message: str) -> None:
    """A progress line on stderr, with the time since the start."""
    elapsed = time.monotonic() - _T0
    print(f"[{int(elapsed // 60):02d}:{elapsed % 60:04.1f}] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------
# Child processes
# --------------------------------------------------------------------------


@dataclass
class Child:
    """A finished child process: exit code, wall time, peak RSS, CPU time and output."""

    returncode: int
    wall_s: float
    maxrss_kib: int
    stdout: str
    stderr: str
    cpu_s: float
    server_cpu_s: float | None
    machine_busy_s: float | None

    def cpu_figures(self) -> dict[str, float | None]:
        """CPU seconds of the child, of DynamoDB Local and of the whole machine, and the cores each used."""
        server, machine = self.server_cpu_s, self.machine_busy_s
        return {
            "client_cpu_s": round(self.cpu_s, 2),
            "client_cores": round(self.cpu_s / self.wall_s, 2),
            "server_cpu_s": None if server is None else round(server, 2),
            "server_cores": None if server is None else round(server / self.wall_s, 2),
            "machine_busy_cores": None if machine is None else round(machine / self.wall_s, 2),
            # Everything else on the machine: other processes competing for the same cores.
            "other_cores": None
            if machine is None or server is None
            else round(max(0.0, machine - server - self.cpu_s) / self.wall_s, 2),
        }

    def per_item(self, items: int) -> dict[str, float | None]:
        """CPU milliseconds per item written, of the child and of DynamoDB Local."""
        server = self.server_cpu_s
        return {
            "client_cpu_ms_per_item": round(1000 * self.cpu_s / items, 3) if items else None,
            "server_cpu_ms_per_item": round(1000 * server / items, 3) if items and server is not None else None,
        }

    def last_line(self) -> str:
        lines = [line for line in self.stdout.splitlines() if line.strip()]
        return lines[-1] if lines else ""

    def failure(self, what: str) -> RuntimeError:
        tail = "\n".join((self.stdout + "\n" + self.stderr).strip().splitlines()[-15:])
        return RuntimeError(f"{what} exited with code {self.returncode}:\n{tail}")


def child_env() -> dict[str, str]:
    """The environment of every child: fake credentials for DynamoDB Local, no overrides."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MIGRATION_")}
    env.pop("AWS_ENDPOINT_URL_DYNAMODB", None)
    env.pop("AWS_ENDPOINT_URL", None)
    env.setdefault("AWS_ACCESS_KEY_ID", "local")
    env.setdefault("AWS_SECRET_ACCESS_KEY", "local")
    env.setdefault("AWS_DEFAULT_REGION", REGION)
    env["COLUMNS"] = "200"  # rich: keep the summary on one line
    env["PYTHONUNBUFFERED"] = "1"
    # As on a user's machine: Python caches compiled modules (an installed package has them from pip; a checkout
    # writes __pycache__ on its first run). Without this, a shell that sets it makes every run compile the engine's
    # hundred modules from source (about 0.5 s) while the one-file peer compiles almost nothing.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


#: The DynamoDB Local (java) process, whose CPU time is read around every child run.
SERVER_PID: int | None = None


def process_cpu_s(pid: int | None) -> float | None:
    """User + system CPU seconds of a process (all its threads) from /proc; None where unknown."""
    if pid is None:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    # After the command name: state is field 3, utime and stime are fields 14 and 15.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy_s() -> float | None:
    """CPU seconds the whole machine has spent busy (not idle or waiting on I/O), from /proc/stat."""
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    except (OSError, ValueError, IndexError):
        return None
    # user nice system idle iowait irq softirq steal [guest guest_nice, already counted in user]
    return (sum(fields[:8]) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def idle_check(seconds: float = 3.0) -> float | None:
    """Cores the machine is busy with before the benchmark starts (other processes); logged."""
    before = machine_busy_s()
    time.sleep(seconds)
    after = machine_busy_s()
    busy = delta(before, after)
    if busy is None:
        return None
    cores = round(busy / seconds, 2)
    note = " (other processes: the figures will be noisy)" if cores > 0.2 else ""
    log(f"machine busy before the start: {cores} of {os.cpu_count()} cores{note}")
    return cores


def self_cpu_s() -> float:
    """User + system CPU seconds of this process, all threads."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def delta(before: float | None, after: float | None) -> float | None:
    return None if before is None or after is None else after - before


def run_child(cmd: list[str], scratch: Path) -> Child:
    """Run ``cmd`` from the repository root; peak RSS and CPU from ``os.wait4`` of exactly this child."""
    scratch.mkdir(parents=True, exist_ok=True)
    out_path, err_path = scratch / "stdout.txt", scratch / "stderr.txt"
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        server_before, machine_before = process_cpu_s(SERVER_PID), machine_busy_s()
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=ROOT, env=child_env(), stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        wall = time.perf_counter() - started
        server_after, machine_after = process_cpu_s(SERVER_PID), machine_busy_s()
    proc.returncode = os.waitstatus_to_exitcode(status)
    maxrss = usage.ru_maxrss // 1024 if sys.platform == "darwin" else usage.ru_maxrss  # bytes on macOS
    return Child(
        proc.returncode,
        wall,
        int(maxrss),
        out_path.read_text(errors="replace"),
        err_path.read_text(errors="replace"),
        usage.ru_utime + usage.ru_stime,
        delta(server_before, server_after),
        delta(machine_before, machine_after),
    )


# --------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def dataset(data_dir: Path, scale: int, seed: int, source: Path) -> Path:
    """The scaled database, generated unless a complete one with the same inputs is there."""
    db = data_dir / f"chinook_x{scale}_seed{seed}.sqlite"
    meta_path = db.with_suffix(".meta.json")
    want = {
        "scale": scale,
        "seed": seed,
        "source_sha256": file_digest(source),
        "generator_sha256": file_digest(Path(generate.__file__)),
    }
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, ValueError):
        meta = {}
    if db.exists() and all(meta.get(k) == v for k, v in want.items()):
        log(f"x{scale}: reusing {db.relative_to(ROOT) if db.is_relative_to(ROOT) else db}")
        return db
    data_dir.mkdir(parents=True, exist_ok=True)
    meta_path.unlink(missing_ok=True)
    started = time.perf_counter()
    counts = generate.generate(str(source), str(db), scale, seed)
    meta_path.write_text(json.dumps({**want, "rows": counts}, indent=2) + "\n")
    log(f"x{scale}: generated {sum(counts.values()):,} rows in {time.perf_counter() - started:.1f}s")
    return db


# --------------------------------------------------------------------------
# DynamoDB helpers
# --------------------------------------------------------------------------


def admin_client(url: str) -> Any:
    return handwritten.make_client_factory(url, REGION)()


def drop_tables(client: Any, prefix: str) -> list[str]:
    """Delete every table whose name starts with ``prefix``."""
    names: list[str] = []
    for page in client.get_paginator("list_tables").paginate():
        names += [n for n in page.get("TableNames", []) if n.startswith(prefix)]
    for name in names:
        try:
            client.delete_table(TableName=name)
        except client.exceptions.ResourceNotFoundException:
            pass
    return names


class Prefixes:
    """Unique table prefixes for one session: ``b<hhmmss>_<label><n>_``."""

    def __init__(self) -> None:
        self.stamp = time.strftime("%H%M%S")
        self.count = 0

    def __call__(self, label: str) -> str:
        self.count += 1
        return f"b{self.stamp}_{label}{self.count}_"


# --------------------------------------------------------------------------
# The measured runs
# --------------------------------------------------------------------------


def engine_config(folder: Path, db: Path, prefix: str, url: str, workers: int, parallel_tables: int | None) -> Any:
    """A configuration for the engine with its state and log under ``folder``."""
    from sqlite2ddb import commands
    from sqlite2ddb.config import load_config, save_config, with_settings

    path = folder / "migration.json"
    config = commands.init_config(str(path), str(db), str(MAPPINGS), REGION, 25, prefix, "local", url, None)
    config = with_settings(
        config,
        state_file=str(folder / "state" / "migration_state.json"),
        workers=workers,
        parallel_tables=parallel_tables,
    )
    config = replace(config, logging=replace(config.logging, file=str(folder / "state" / "migration.log")))
    save_config(config)
    return load_config(path, env={})


def run_engine(
    db: Path, scale: int, url: str, prefix: str, workers: int, parallel_tables: int | None, tmp: Path
) -> dict[str, Any]:
    """``cli.py migrate --no-validate`` into fresh tables; the items/s of its summary line."""
    folder = Path(tempfile.mkdtemp(prefix="engine-", dir=tmp))
    config = engine_config(folder, db, prefix, url, workers, parallel_tables)
    cmd = [PYTHON, "cli.py", "-c", config.path, "migrate", "--no-validate", "--workers", str(workers)]
    if parallel_tables is not None:
        cmd += ["--parallel-tables", str(parallel_tables)]
    try:
        child = run_child(cmd, folder)
        if child.returncode != 0:
            raise child.failure("cli.py migrate")
        match = SUMMARY_LINE.match(child.last_line().strip())
        if not match:
            raise RuntimeError(f"no summary line in the output of cli.py migrate: {child.last_line()!r}")
        items, seconds = int(match.group(1)), float(match.group(2))
    finally:
        drop_tables(admin_client(url), prefix)
        shutil.rmtree(folder, ignore_errors=True)
    return {
        "scale": scale,
        "prefix": prefix,
        "items": items,
        "seconds": seconds,
        "items_per_s": round(items / seconds, 1),
        "process_wall_s": round(child.wall_s, 3),
        "process_items_per_s": round(items / child.wall_s, 1),
        "maxrss_kib": child.maxrss_kib,
        **child.cpu_figures(),
        **child.per_item(items),
        "workers": workers,
        "parallel_tables": config.migration_settings.parallel_tables,
    }


def run_handwritten(db: Path, scale: int, url: str, prefix: str, threads: int, tmp: Path) -> dict[str, Any]:
    """``handwritten.py --threads N`` into fresh tables; its own write-phase timing."""
    folder = Path(tempfile.mkdtemp(prefix="hw-", dir=tmp))
    cmd = [PYTHON, "benchmarks/handwritten.py", "--db", str(db), "--endpoint-url", url, "--prefix", prefix]
    cmd += ["--region", REGION, "--threads", str(threads)]
    try:
        child = run_child(cmd, folder)
        if child.returncode != 0:
            raise child.failure("handwritten.py")
        summary = json.loads(child.last_line())
    finally:
        drop_tables(admin_client(url), prefix)
        shutil.rmtree(folder, ignore_errors=True)
    return {
        "scale": scale,
        "prefix": prefix,
        "items": summary["items"],
        "seconds": summary["seconds"],
        "items_per_s": summary["items_per_s"],
        "process_wall_s": round(child.wall_s, 3),
        "process_items_per_s": round(summary["items"] / child.wall_s, 1),
        "maxrss_kib": child.maxrss_kib,
        **child.cpu_figures(),
        **child.per_item(summary["items"]),
        "threads": threads,
    }


#: Ceiling variants: the clients of ceiling.py (boto3 defaults), and the same with botocore's
#: parameter validation off, as the engine's client has it.
CEILING_VARIANTS = {"boto3": True, "unvalidated": False}


def run_ceiling(
    db: Path,
    url: str,
    prefix: str,
    cap: int,
    threads: str,
    total_items: int | None,
    variant: str,
    tmp: Path,
) -> dict[str, Any]:
    """The ceiling worker (below) in a fresh process; its JSON summary."""
    folder = Path(tempfile.mkdtemp(prefix="ceiling-", dir=tmp))
    cmd = [PYTHON, "benchmarks/run.py", "ceiling-worker", "--db", str(db), "--endpoint-url", url]
    cmd += ["--prefix", prefix, "--items", str(cap), "--threads", threads]
    if not CEILING_VARIANTS[variant]:
        cmd.append("--no-parameter-validation")
    if SERVER_PID is not None:
        cmd += ["--server-pid", str(SERVER_PID)]
    if total_items:
        cmd += ["--total-items", str(total_items)]
    try:
        child = run_child(cmd, folder)
        if child.returncode != 0:
            raise child.failure("ceiling worker")
        summary = json.loads(child.last_line())
    finally:
        drop_tables(admin_client(url), prefix)
        shutil.rmtree(folder, ignore_errors=True)
    summary["process_wall_s"] = round(child.wall_s, 3)
    summary["variant"] = variant
    return summary


def transform_only(db: Path, rounds: int, tmp: Path) -> dict[str, Any]:
    """Engine ``commands.estimate`` vs ``handwritten.iter_items``, in-process, best of ``rounds``."""
    from sqlite2ddb import commands

    folder = Path(tempfile.mkdtemp(prefix="transform-", dir=tmp))
    config = engine_config(folder, db, "transform_", "http://127.0.0.1:1", 1, None)
    engine_runs: list[dict[str, Any]] = []
    hw_runs: list[dict[str, Any]] = []
    for r in range(rounds):
        gc.collect()
        started = time.perf_counter()
        per_item, _per_table = commands.estimate(config, None)
        seconds = time.perf_counter() - started
        items = sum(e.items for e in per_item)
        engine_runs.append({"items": items, "seconds": round(seconds, 3), "items_per_s": round(items / seconds, 1)})
        gc.collect()
        started = time.perf_counter()
        n = sum(1 for _ in handwritten.iter_items(str(db)))
        seconds = time.perf_counter() - started
        hw_runs.append({"items": n, "seconds": round(seconds, 3), "items_per_s": round(n / seconds, 1)})
        log(
            f"transform round {r + 1}/{rounds}: engine {engine_runs[-1]['items_per_s']:,.0f} items/s, "
            f"hand-written {hw_runs[-1]['items_per_s']:,.0f} items/s"
        )
    shutil.rmtree(folder, ignore_errors=True)
    engine_best = max(engine_runs, key=lambda x: x["items_per_s"])
    hw_best = max(hw_runs, key=lambda x: x["items_per_s"])
    return {
        "engine": {"best": engine_best, "runs": engine_runs, "what": "engine.commands.estimate(config, None)"},
        "handwritten": {"best": hw_best, "runs": hw_runs, "what": "sum(1 for _ in handwritten.iter_items(db))"},
        "items_match": engine_best["items"] == hw_best["items"],
        "ratio": round(engine_best["items_per_s"] / hw_best["items_per_s"], 3),
    }


# --------------------------------------------------------------------------
# Ceiling worker (run in its own process by run_ceiling)
# --------------------------------------------------------------------------


def sampled_requests(
    db: str, prefix: str, batch_size: int, cap: int | None, total: int | None
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Requests as ``ceiling.real_requests`` builds them, keeping ``cap`` items' worth of evenly spaced batches."""
    if total is None:
        total = sum(1 for _ in handwritten.iter_items(db))
    n_batches = -(-total // batch_size)
    keep = n_batches if not cap or cap >= total else max(1, -(-cap // batch_size))
    requests: list[dict[str, Any]] = []
    for i, batch in enumerate(handwritten.batched(handwritten.iter_items(db), batch_size)):
        # Bresenham: exactly ``keep`` of ``n_batches`` batches, evenly spread over the stream.
        if (i * keep) % n_batches >= keep:
            continue
        request: dict[str, Any] = {}
        for table, item in batch:
            request.setdefault(prefix + table, []).append({"PutRequest": {"Item": item}})
        requests.append(request)
    return requests, {"stream_items": total, "stream_batches": n_batches, "kept_batches": len(requests)}


def ceiling_worker(argv: list[str]) -> int:
    """Like ``ceiling.py --real-items --like-db DB`` with an evenly spaced sample instead of a prefix."""
    ap = argparse.ArgumentParser(prog="run.py ceiling-worker")
    ap.add_argument("--db", required=True)
    ap.add_argument("--endpoint-url", required=True)
    ap.add_argument("--prefix", required=True)
    ap.add_argument("--items", type=int, default=0, help="cap (0: every item)")
    ap.add_argument("--total-items", type=int, default=None, help="items in the stream, when known")
    ap.add_argument("--threads", default="1,2,4,8")
    ap.add_argument("--batch-size", type=int, default=25)
    ap.add_argument("--server-pid", type=int, default=None, help="DynamoDB Local's pid, for its CPU time")
    ap.add_argument("--no-parameter-validation", action="store_true", help="botocore parameter_validation=False")
    args = ap.parse_args(argv)

    factory = handwritten.make_client_factory(args.endpoint_url, REGION)
    if args.no_parameter_validation:
        import boto3
        from botocore.config import Config

        # handwritten.make_client_factory's settings, with validation off as in engine.target.
        config = Config(
            retries={"max_attempts": 10, "mode": "standard"}, max_pool_connections=4, parameter_validation=False
        )

        def factory() -> Any:
            return boto3.session.Session().client(
                "dynamodb", endpoint_url=args.endpoint_url, region_name=REGION, config=config
            )

    admin = factory()
    requests, sampling = sampled_requests(args.db, args.prefix, args.batch_size, args.items, args.total_items)
    sizes = [ceiling.item_size(p["PutRequest"]["Item"]) for r in requests for puts in r.values() for p in puts]
    entities: dict[str, int] = {}
    for r in requests:
        for puts in r.values():
            for p in puts:
                e = p["PutRequest"]["Item"]["Entity"]["S"]
                entities[e] = entities.get(e, 0) + 1
    results: dict[str, dict[str, Any]] = {}
    n = len(sizes)
    try:
        for threads in ceiling.thread_counts(args.threads):
            handwritten.create_tables(admin, args.prefix)
            client0, server0, machine0 = self_cpu_s(), process_cpu_s(args.server_pid), machine_busy_s()
            seconds = ceiling.run(factory, requests, threads)
            client = self_cpu_s() - client0
            server, machine = delta(server0, process_cpu_s(args.server_pid)), delta(machine0, machine_busy_s())
            results[str(threads)] = {
                "seconds": round(seconds, 3),
                "items_per_s": round(n / seconds, 1),
                # CPU around ceiling.run, which also opens one connection per thread before its clock starts.
                "client_cores": round(client / seconds, 2),
                "server_cores": None if server is None else round(server / seconds, 2),
                "other_cores": None
                if server is None or machine is None
                else round(max(0.0, machine - server - client) / seconds, 2),
                "client_cpu_ms_per_item": round(1000 * client / n, 3),
                "server_cpu_ms_per_item": None if server is None else round(1000 * server / n, 3),
            }
            print(f"threads={threads}: {results[str(threads)]}", file=sys.stderr, flush=True)
    finally:
        drop_tables(admin, args.prefix)
    best = max(results, key=lambda t: results[t]["items_per_s"])
    summary = {
        "items": len(sizes),
        "avg_item_bytes": round(sum(sizes) / len(sizes), 1),
        "max_item_bytes": max(sizes),
        "real_items": True,
        "parameter_validation": not args.no_parameter_validation,
        "sampling": {**sampling, "method": "evenly spaced batches of the stream"},
        "entities": dict(sorted(entities.items())),
        "results": results,
        "best": {"threads": int(best), **results[best]},
    }
    print(json.dumps(summary))
    return 0


# --------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------


def judge(value: float | None, op: str, bound: float) -> str:
    if value is None:
        return "n/a"
    ok = value >= bound if op == ">=" else value <= bound
    return "pass" if ok else "miss"


def ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a is not None and b else None


def other_cores(runs: list[dict[str, Any]]) -> float | None:
    """Median cores used by other processes during the runs."""
    values = [r["other_cores"] for r in runs if r.get("other_cores") is not None]
    return round(statistics.median(values), 2) if values else None


def print_report(results: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=max(140, shutil.get_terminal_size((120, 40)).columns))
    m = results["machine"]
    s = results["settings"]
    main = s["main_scale"]
    e2e = results["end_to_end"]
    n_items = e2e["engine"]["median"]["items"]
    console.print(
        f"\n[bold]Benchmark[/bold] {results['date']} · {m['cpu_count']} cores · Python {m['python']} · "
        f"DynamoDB Local {m['dynamodb_local']} (in memory) · main scale x{main} ({n_items:,} items)",
        highlight=False,
    )

    def rate(x: float | None) -> str:
        return "-" if x is None else f"{x:,.0f}"

    others = m.get("other_cores_during_timed_runs")
    if others is not None and others > 0.2:
        console.print(
            f"[yellow]other processes used {others} of {m['cpu_count']} cores during the timed runs "
            "(median): the figures are noisy[/yellow]"
        )

    def med(runs: list[dict[str, Any]], key: str, fmt: str = "{:.2f}") -> str:
        values = [r[key] for r in runs if r.get(key) is not None]
        return fmt.format(statistics.median(values)) if values else "-"

    def cores(runs: list[dict[str, Any]]) -> str:
        return " / ".join(med(runs, k) for k in ("client_cores", "server_cores", "other_cores"))

    def cpu_per_item(runs: list[dict[str, Any]]) -> str:
        return " / ".join(med(runs, k, "{:.3f}") for k in ("client_cpu_ms_per_item", "server_cpu_ms_per_item"))

    t = Table(title=f"Writes, end to end at x{main} (items/s; median of {s['rounds']} rounds)")
    for col in ("run", "items/s", "per round", "whole process", "cores client/server/other", "CPU ms/item", "how"):
        t.add_column(col, justify="left" if col in ("run", "how") else "right")
    for variant, c in e2e["ceiling"]["variants"].items():
        sampling = c["sampling"]
        sample = (
            f"all {c['items']:,}"
            if sampling["kept_batches"] == sampling["stream_batches"]
            else f"{c['items']:,} of {sampling['stream_items']:,}"
        )
        validation = "on" if c["parameter_validation"] else "off"
        t.add_row(
            f"ceiling ({variant})",
            rate(c["best"]["items_per_s"]),
            ", ".join(f"{k}t {v['items_per_s']:,.0f}" for k, v in c["results"].items()),
            "-",
            cores([c["best"]]),
            cpu_per_item([c["best"]]),
            f"pre-built items ({sample}); validation {validation}; best {c['best']['threads']}t",
        )
    hw = e2e["handwritten"]
    t.add_row(
        "hand-written",
        rate(hw["median"]["items_per_s"]),
        ", ".join(rate(r["items_per_s"]) for r in hw["runs"]),
        med(hw["runs"], "process_items_per_s", "{:,.0f}"),
        cores(hw["runs"]),
        cpu_per_item(hw["runs"]),
        f"--threads {s['threads']}; validation on",
    )
    en = e2e["engine"]
    t.add_row(
        "engine",
        rate(en["median"]["items_per_s"]),
        ", ".join(rate(r["items_per_s"]) for r in en["runs"]),
        med(en["runs"], "process_items_per_s", "{:,.0f}"),
        cores(en["runs"]),
        cpu_per_item(en["runs"]),
        f"--workers {s['threads']} × {en['runs'][0]['parallel_tables']} tables; validation off",
    )
    console.print(t)
    console.print(
        "whole process: items over the child's wall time. cores: CPU of the client process / DynamoDB Local / "
        "everything else, over the wall time. CPU ms/item: client / DynamoDB Local.",
        style="dim",
        highlight=False,
    )

    tr = results["transform_only"]
    t = Table(title=f"Transform only at x{main}, no network (items/s; best of {s['transform_rounds']})")
    for col in ("run", "items/s", "per round", "what"):
        t.add_column(col, justify="left" if col in ("run", "what") else "right")
    for key, label in (("handwritten", "hand-written"), ("engine", "engine")):
        t.add_row(
            label,
            rate(tr[key]["best"]["items_per_s"]),
            ", ".join(rate(r["items_per_s"]) for r in tr[key]["runs"]),
            tr[key]["what"],
        )
    console.print(t)

    t = Table(title="Peak RSS of cli.py migrate --no-validate (ru_maxrss)")
    for col in ("scale", "items", "engine MiB", "ratio to x1", "hand-written MiB"):
        t.add_column(col, justify="right")
    for scale, r in results["rss"]["scales"].items():
        t.add_row(
            f"x{scale}",
            f"{r['items']:,}",
            f"{r['engine_kib'] / 1024:,.1f}",
            "-" if r["ratio_to_x1"] is None else f"{r['ratio_to_x1']:.3f}",
            "-" if r["handwritten_kib"] is None else f"{r['handwritten_kib'] / 1024:,.1f}",
        )
    console.print(t)

    t = Table(title="Ratios against the project's targets")
    for col in ("ratio", "value", "target", "result"):
        t.add_column(col, justify="left" if col == "ratio" else "right")
    for key, label, op, bound in TARGETS:
        r = results["ratios"][key]
        verdict = r["result"]
        style = {"pass": "green", "miss": "red"}.get(verdict, "dim")
        t.add_row(
            label, "-" if r["value"] is None else f"{r['value']:.3f}", f"{op} {bound}", f"[{style}]{verdict}[/{style}]"
        )
    # For context, without a target: each side against each ceiling variant.
    for key, r in results["ratios"].items():
        if r["target"] is None and r["value"] is not None:
            side, _, against = key.partition("_vs_")
            variant = against.partition("_")[2] or "higher variant"
            label = f"{'hand-written' if side == 'handwritten' else side} / ceiling ({variant}), end to end"
            t.add_row(label, f"{r['value']:.3f}", "-", "[dim]info[/dim]")
    console.print(t)


# --------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------


def variant_list(text: str) -> list[str]:
    values = [t.strip() for t in text.split(",") if t.strip()]
    unknown = [v for v in values if v not in CEILING_VARIANTS]
    if not values or unknown:
        raise argparse.ArgumentTypeError(f"ceiling variants are {', '.join(CEILING_VARIANTS)}, not {text!r}")
    return values


def int_list(text: str) -> list[int]:
    values = sorted({int(t) for t in text.split(",") if t.strip()})
    if not values or values[0] < 1:
        raise argparse.ArgumentTypeError(f"expected positive integers like 1,10, not {text!r}")
    return values


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description="Run the benchmarks against one in-memory DynamoDB Local.")
    ap.add_argument("--quick", action="store_true", help="main scale x1 and peak RSS at x1,x2 (about 4 minutes)")
    ap.add_argument("--scales", type=int_list, help="scales to generate; the largest is the main one (default 1,10)")
    ap.add_argument("--rss-scales", type=int_list, help="scales for the engine's peak RSS (default 1,10)")
    ap.add_argument("--threads", type=int, default=4, help="hand-written threads = engine --workers (default 4)")
    ap.add_argument(
        "--parallel-tables", type=int, default=None, help="engine --parallel-tables (default: the engine's, 2)"
    )
    ap.add_argument("--rounds", type=int, default=2, help="end-to-end rounds of each (default 2; median)")
    ap.add_argument(
        "--warmup-runs", type=int, default=3, help="hand-written x1 warm-up writes before the engine's (default 3)"
    )
    ap.add_argument("--transform-rounds", type=int, default=3, help="transform-only rounds (default 3; best)")
    ap.add_argument(
        "--ceiling-items", type=int, default=20000, help="items sent per ceiling thread count (default 20000; 0: all)"
    )
    ap.add_argument("--ceiling-threads", default="1,2,4,8", help="ceiling thread counts (default 1,2,4,8)")
    ap.add_argument(
        "--ceiling-variants",
        type=variant_list,
        default=list(CEILING_VARIANTS),
        help="boto3 (ceiling.py's clients), unvalidated (parameter validation off, like the engine's); "
        "default both, the higher counts",
    )
    ap.add_argument("--seed", type=int, default=42, help="generator seed (default 42)")
    ap.add_argument("--source", type=Path, default=SOURCE_DB, help="source Chinook database")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results", help="results folder")
    args = ap.parse_args(argv)
    if args.scales is None:
        args.scales = [1] if args.quick else [1, 10]
    if args.rss_scales is None:
        args.rss_scales = [1, 2] if args.quick else [1, 10]
    args.main_scale = max(args.scales)
    return args


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["ceiling-worker"]:
        return ceiling_worker(argv[1:])
    args = parse_args(argv)

    import boto3

    from sqlite2ddb.dynamodb import local as local_dynamodb

    for key, value in child_env().items():
        if key.startswith("AWS_"):
            os.environ.setdefault(key, value)
    started_at = datetime.now(timezone.utc)
    started = time.perf_counter()
    out: Path = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="bench-"))
    main_scale = args.main_scale

    idle_before = idle_check()
    scales = sorted({1, *args.scales, *args.rss_scales})
    dbs = {s: dataset(out / "data", s, args.seed, args.source) for s in scales}

    # Transform only first: no network, and the item count sizes the ceiling sample.
    log(f"transform only at x{main_scale}")
    transform = transform_only(dbs[main_scale], args.transform_rounds, tmp)
    main_items = transform["handwritten"]["best"]["items"]

    log("starting DynamoDB Local (in memory)")
    global SERVER_PID
    server = local_dynamodb.start(None, in_memory=True)
    SERVER_PID = server.pid
    prefixes = Prefixes()
    engine_runs: dict[int, list[dict[str, Any]]] = {}
    hw_runs: dict[int, list[dict[str, Any]]] = {}
    try:
        url = server.url
        log(f"DynamoDB Local at {url}")

        def engine(scale: int) -> dict[str, Any]:
            r = run_engine(dbs[scale], scale, url, prefixes("en"), args.threads, args.parallel_tables, tmp)
            engine_runs.setdefault(scale, []).append(r)
            log(
                f"engine x{scale}: {r['items']:,} items, {r['items_per_s']:,.0f} items/s "
                f"(process {r['process_wall_s']:.1f}s, cores {r['client_cores']} / {r['server_cores']} / other {r['other_cores']}), "
                f"peak RSS {r['maxrss_kib'] / 1024:.0f} MiB"
            )
            return r

        def hand(scale: int) -> dict[str, Any]:
            r = run_handwritten(dbs[scale], scale, url, prefixes("hw"), args.threads, tmp)
            hw_runs.setdefault(scale, []).append(r)
            log(
                f"hand-written x{scale}: {r['items']:,} items, {r['items_per_s']:,.0f} items/s "
                f"(process {r['process_wall_s']:.1f}s, cores {r['client_cores']} / {r['server_cores']} / other {r['other_cores']}), "
                f"peak RSS {r['maxrss_kib'] / 1024:.0f} MiB"
            )
            return r

        # DynamoDB Local (the JVM) needs some 40,000 writes before its rate settles.
        log(f"warm-up at x1: hand-written x{args.warmup_runs}, then engine")
        warmup = {"handwritten": [hand(1) for _ in range(args.warmup_runs)], "engine": [engine(1)]}

        cap = args.ceiling_items or 0
        ceilings: dict[str, dict[str, Any]] = {}
        for variant in args.ceiling_variants:
            log(
                f"ceiling ({variant}) at x{main_scale}: threads {args.ceiling_threads}, "
                f"{min(cap or main_items, main_items):,} items"
            )
            c = run_ceiling(dbs[main_scale], url, prefixes("ce"), cap, args.ceiling_threads, main_items, variant, tmp)
            ceilings[variant] = c
            log(
                f"ceiling ({variant}): best {c['best']['items_per_s']:,.0f} items/s at {c['best']['threads']} threads "
                f"(client {c['best']['client_cpu_ms_per_item']} ms/item)"
            )
        top = max(ceilings.values(), key=lambda c: c["best"]["items_per_s"])
        ceiling_result = {"variants": ceilings, "best": {"variant": top["variant"], **top["best"]}}

        timed_engine: list[dict[str, Any]] = []
        timed_hw: list[dict[str, Any]] = []
        for r in range(args.rounds):
            # ABBA order so a drift of the machine or the server does not favour one side.
            order = (hand, engine) if r % 2 == 0 else (engine, hand)
            for run in order:
                result = run(main_scale)
                (timed_hw if run is hand else timed_engine).append(result)

        for scale in args.rss_scales:
            if scale not in engine_runs:
                log(f"peak RSS run at x{scale}")
                engine(scale)
    finally:
        log("stopping DynamoDB Local")
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)

    def median_of(runs: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "items": runs[0]["items"],
            "items_per_s": round(statistics.median(r["items_per_s"] for r in runs), 1),
            "seconds": round(statistics.median(r["seconds"] for r in runs), 3),
        }

    engine_median = median_of(timed_engine)
    hw_median = median_of(timed_hw)
    rss_base = max(r["maxrss_kib"] for r in engine_runs[1]) if 1 in engine_runs else None
    rss_scales: dict[str, Any] = {}
    for scale in sorted(set(args.rss_scales) | {1}):
        runs = engine_runs.get(scale, [])
        if not runs:
            continue
        peak = max(r["maxrss_kib"] for r in runs)
        hw_peak = [r["maxrss_kib"] for r in hw_runs.get(scale, [])]
        rss_scales[str(scale)] = {
            "items": runs[0]["items"],
            "engine_kib": peak,
            "engine_runs_kib": [r["maxrss_kib"] for r in runs],
            "ratio_to_x1": ratio(peak, rss_base),
            "handwritten_kib": max(hw_peak) if hw_peak else None,
        }
    rss_x10 = rss_scales.get("10", {}).get("ratio_to_x1")

    ratio_values = {
        "engine_vs_handwritten": ratio(engine_median["items_per_s"], hw_median["items_per_s"]),
        "engine_vs_ceiling": ratio(engine_median["items_per_s"], ceiling_result["best"]["items_per_s"]),
        "transform_engine_vs_handwritten": transform["ratio"],
        "rss_x10_vs_x1": rss_x10,
    }
    ratios = {
        key: {"value": ratio_values[key], "target": f"{op} {bound}", "result": judge(ratio_values[key], op, bound)}
        for key, _label, op, bound in TARGETS
    }
    ratios["handwritten_vs_ceiling"] = {
        "value": ratio(hw_median["items_per_s"], ceiling_result["best"]["items_per_s"]),
        "target": None,
        "result": "n/a",
    }
    for variant, c in ceilings.items():
        for side, figure in (("engine", engine_median), ("handwritten", hw_median)):
            ratios[f"{side}_vs_ceiling_{variant}"] = {
                "value": ratio(figure["items_per_s"], c["best"]["items_per_s"]),
                "target": None,
                "result": "n/a",
            }
    total_s = time.perf_counter() - started
    results: dict[str, Any] = {
        "date": started_at.strftime("%Y-%m-%d %H:%M:%S UTC"),
        "total_seconds": round(total_s, 1),
        "machine": {
            "cpu_count": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "boto3": boto3.__version__,
            "dynamodb_local": local_dynamodb.local_version(),
            "busy_cores_before_start": idle_before,
            "other_cores_during_timed_runs": other_cores([*timed_engine, *timed_hw]),
        },
        "settings": {
            "quick": args.quick,
            "main_scale": main_scale,
            "scales": args.scales,
            "rss_scales": args.rss_scales,
            "threads": args.threads,
            "parallel_tables": args.parallel_tables,
            "rounds": args.rounds,
            "transform_rounds": args.transform_rounds,
            "ceiling_items": args.ceiling_items,
            "ceiling_threads": args.ceiling_threads,
            "ceiling_variants": args.ceiling_variants,
            "seed": args.seed,
        },
        "datasets": {str(s): str(p) for s, p in dbs.items()},
        "warmup": warmup,
        "end_to_end": {
            "ceiling": ceiling_result,
            "handwritten": {"median": hw_median, "runs": timed_hw},
            "engine": {"median": engine_median, "runs": timed_engine},
            "notes": [
                "items/s of the write phase: hand-written after its tables exist; engine from its summary line "
                "(includes creating its tables, excludes process start-up)",
                "process_items_per_s: items over the child's whole wall time",
                "client_cores / server_cores / machine_busy_cores: CPU seconds of the child / of DynamoDB Local "
                "/ of the whole machine (every process) over the child's wall time; other_cores: the machine's "
                "less the child's and the server's (other processes competing for the cores)",
            ],
        },
        "transform_only": {**transform, "scale": main_scale},
        "rss": {"scales": rss_scales, "how": "ru_maxrss from os.wait4 of the cli.py migrate child"},
        "ratios": ratios,
    }
    print_report(results)
    stamp = started_at.strftime("%Y%m%dT%H%M%SZ")
    path = out / f"bench-{stamp}.json"
    text = json.dumps(results, indent=2) + "\n"
    path.write_text(text)
    (out / "latest.json").write_text(text)
    print(f"\nwrote {path} (and latest.json); total {total_s / 60:.1f} min", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
