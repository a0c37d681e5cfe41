"""The cost of faults: a full Chinook migration with and without injected DynamoDB faults.

Usage::

    python benchmarks/faults.py                      # 3 rounds, fault rate 0.30, seed 1
    python benchmarks/faults.py --rounds 1 -t customer_data -t employee_data
    python benchmarks/faults.py --fault-rate 0.4 --seed 7 --direct --scale 2

What is measured: the seconds of ``cli.py migrate --no-validate`` (from its
summary line) into fresh tables, for two variants taken alternately in the
same session against the same in-memory DynamoDB Local (clean, faulty, clean,
faulty, ...; ``--rounds`` of each, median):

- **clean**: through ``tests/faultproxy.py`` with no fault rule, only a
  pass-through rule that counts the BatchWriteItem requests;
- **faulty**: through the same proxy with the fault mix of
  ``tests/test_faults.py`` on BatchWriteItem only (three kinds of throttle,
  500, 503, a connection reset before and after forwarding, a partial batch
  with ``UnprocessedItems``) at ``--fault-rate`` of the requests in all, plus
  ``--delays`` requests held past the client timeout.

Why the clean runs go through the proxy too: the proxy is a Python process
(this one) relaying every request; that hop costs time and CPU on the same
cores. Were the clean runs direct, its cost would be counted as the cost of
the faults. With both through the proxy, the ratio faulty / clean is the cost
of the faults alone: the backoff sleeps, the resent requests, the client
timeouts. ``--direct`` adds a third variant without the proxy, which shows
what the hop itself costs.

Both variants use the same engine settings (``--max-retries``,
``--retry-delay``, ``--timeout``, ``--workers``, ``--batch-size``); only the
endpoint's rules differ. A faulted request is counted from the proxy's rules
(each rule's ``fired``; the last rule is the pass-through), the engine's
retries and throttles from its state file. The proxy's RNG is seeded
(``--seed``; round r uses seed + r), so the n-th BatchWriteItem the proxy sees
meets the same fate in every run with that seed; which batch is the n-th
depends on how the engine's writer threads interleave.

After every faulty run, before its tables are dropped, ``cli.py validate
--check items:`` runs straight against DynamoDB Local (not through the proxy)
and must exit 0: every item the source renders is in the table, as rendered.
"items lost: 0" in the report comes only from that. Validation time is not
part of the migration time.

The report is printed at the end and the whole result written to
``<out>/faults-<UTC timestamp>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
for _path in (ROOT, ROOT / "tests"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))
from faultproxy import MIXED_FAULTS, THROTTLE_KINDS, FaultProxy  # noqa: E402

import cli as _checkout  # noqa: E402, F401 - binds the name sqlite2ddb to this checkout's engine/
from benchmarks import run as bench  # noqa: E402
from benchmarks.run import PYTHON, SUMMARY_LINE, admin_client, drop_tables, log, run_child  # noqa: E402

BATCH = {"BatchWriteItem"}

#: The fault kinds of the fault suite (all but delays) and their weights there;
#: ``--fault-rate`` is shared out between them by these weights.
FAULT_MIX = MIXED_FAULTS
#: Rate of the delay rule: about one BatchWriteItem in 50 until ``--delays`` have fired.
DELAY_RATE = 0.02

CLEAN, FAULTY, DIRECT = "clean", "faulty", "direct"


@dataclass(frozen=True)
class EngineSettings:
    """Migration settings shared by every variant; only the endpoint differs."""

    max_retries: int
    retry_delay: float
    timeout: float
    workers: int
    batch_size: int
    parallel_tables: int | None


@dataclass(frozen=True)
class FaultPlan:
    """The faults of a faulty run: the total rate of the mix, the delays past the timeout, the seed."""

    rate: float
    delays: int
    delay_seconds: float
    seed: int


@dataclass(frozen=True)
class Session:
    """What every run of this session shares."""

    url: str
    db: Path
    tables: tuple[str, ...]
    settings: EngineSettings
    faults: FaultPlan
    sample_pct: float | None
    tmp: Path
    prefixes: bench.Prefixes


# --------------------------------------------------------------------------
# The proxy and its rules
# --------------------------------------------------------------------------


def kind_of(fault: str, params: dict[str, Any]) -> str:
    """The label of a fault kind in the report: ``server_error 503`` apart from ``server_error 500``."""
    return f"{fault} {params['status']}" if fault == "server_error" else fault


def sequential_rates(total: float) -> list[float]:
    """Rates for the mix's rules, checked in order, so that in all ``total`` of the requests is faulted
    and each kind takes its weight's share.

    A rule only sees the requests the rules before it let through, so rule ``i``
    fires for ``P_i`` of all requests with rate ``P_i / (1 - sum(P_j, j < i))``.
    """
    weights = [w for _, w, _ in FAULT_MIX]
    shares = [total * w / sum(weights) for w in weights]
    rates, taken = [], 0.0
    for share in shares:
        rates.append(share / (1.0 - taken))
        taken += share
    return rates


def add_fault_rules(proxy: FaultProxy, plan: FaultPlan, timeout: float) -> None:
    """The delays first (capped at ``plan.delays``), then the mix at ``plan.rate`` in all."""
    if plan.delays:
        seconds = max(plan.delay_seconds, timeout + 1.0)  # past the client timeout
        proxy.add_rule("delay", rate=DELAY_RATE, operations=BATCH, count=plan.delays, seconds=seconds)
    for (fault, _, params), rate in zip(FAULT_MIX, sequential_rates(plan.rate)):
        proxy.add_rule(fault, rate=rate, operations=BATCH, **params)


def pass_through(proxy: FaultProxy) -> None:
    """The last rule: forwards every BatchWriteItem no fault took (a zero delay), and counts it."""
    proxy.add_rule("delay", rate=1.0, operations=BATCH, seconds=0)


def fault_counts(proxy: FaultProxy) -> dict[str, Any]:
    """BatchWriteItem requests, the faulted ones and their fraction, and the faults by kind."""
    rules = proxy.rules
    faults, through = rules[:-1], rules[-1]
    by_kind: dict[str, int] = {}
    for rule in faults:
        label = "delay past timeout" if rule.fault == "delay" else kind_of(rule.fault, rule.params)
        by_kind[label] = by_kind.get(label, 0) + rule.fired
    faulted = sum(by_kind.values())
    requests = faulted + through.fired
    return {
        "batch_requests": requests,
        "faulted": faulted,
        "fraction": round(faulted / requests, 4) if requests else None,
        "by_kind": by_kind,
        "throttles_injected": sum(by_kind.get(k, 0) for k in THROTTLE_KINDS),
    }


@contextmanager
def proxy_for(variant: str, upstream: str, plan: FaultPlan, timeout: float, seed: int) -> Iterator[FaultProxy | None]:
    """A fresh proxy with the variant's rules (none for ``direct``)."""
    if variant == DIRECT:
        yield None
        return
    with FaultProxy(upstream, seed=seed) as proxy:
        if variant == FAULTY:
            add_fault_rules(proxy, plan, timeout)
        pass_through(proxy)
        yield proxy


# --------------------------------------------------------------------------
# The engine
# --------------------------------------------------------------------------


def write_config(folder: Path, session: Session, prefix: str, endpoint: str) -> Any:
    """``run.engine_config`` with this benchmark's batch size, retries and timeout, saved and read back."""
    from sqlite2ddb.config import load_config, save_config, with_settings

    s = session.settings
    config = bench.engine_config(folder, session.db, prefix, endpoint, s.workers, s.parallel_tables)
    config = with_settings(config, max_retries=s.max_retries, retry_delay=s.retry_delay, timeout=s.timeout)
    save_config(replace(config, batch_size=s.batch_size))
    return load_config(config.path, env={})


def direct_config(config: Any, url: str) -> Path:
    """The same configuration (prefix, state file) straight to DynamoDB Local, for validate."""
    data = json.loads(Path(config.path).read_text())
    data["endpoint_url"] = url
    path = Path(config.path).with_name("direct.json")
    path.write_text(json.dumps(data, indent=2) + "\n")
    return path


def table_args(tables: tuple[str, ...]) -> list[str]:
    return [arg for t in tables for arg in ("-t", t)]


def migrate(config: Any, folder: Path, session: Session) -> tuple[int, float, bench.Child]:
    """``cli.py migrate --no-validate``: items and seconds of its summary line, and the child."""
    cmd = [PYTHON, "cli.py", "-c", config.path, "migrate", "--no-validate", *table_args(session.tables)]
    child = run_child(cmd, folder / "migrate")
    if child.returncode != 0:
        raise child.failure("cli.py migrate")
    match = SUMMARY_LINE.match(child.last_line().strip())
    if not match:
        raise RuntimeError(f"no summary line in the output of cli.py migrate: {child.last_line()!r}")
    return int(match.group(1)), float(match.group(2)), child


def engine_counters(config: Any) -> dict[str, int]:
    """Retries and throttles summed over the item types of the state file; every type must be done."""
    state = json.loads(Path(config.migration_settings.state_file).read_text())
    types = state["item_types"]
    not_done = {name: t.get("status") for name, t in types.items() if t.get("status") != "done"}
    if not_done:
        raise RuntimeError(f"item types not done after the migration: {not_done}")
    return {
        "retries": sum(t.get("retries", 0) for t in types.values()),
        "throttles": sum(t.get("throttles", 0) for t in types.values()),
    }


def validate(config: Any, folder: Path, session: Session) -> dict[str, Any]:
    """``cli.py validate --check items:`` straight to DynamoDB Local (once per ``-t`` table); exit 0 required."""
    direct = direct_config(config, session.url)
    docs, seconds = [], 0.0
    for n, table in enumerate(session.tables or (None,)):
        report = folder / f"validation-{n}.json"
        cmd = [PYTHON, "cli.py", "-c", str(direct), "validate", "--check", "items:", "--report", str(report)]
        cmd += ["-t", table] if table else []
        cmd += ["--sample-pct", str(session.sample_pct)] if session.sample_pct is not None else []
        child = run_child(cmd, folder / f"validate-{n}")
        if child.returncode != 0:
            raise child.failure("cli.py validate (items lost or changed)")
        docs.append(json.loads(report.read_text()))
        seconds += child.wall_s
    items = [c for doc in docs for c in doc["checks"] if c["kind"] == "items"]
    return {
        "exit_code": 0,
        "result": "pass" if all(doc["result"] == "pass" for doc in docs) else "fail",
        "checks": len(items),
        "items_compared": sum(c["compared"] for c in items),
        "failures": sum(c["failure_count"] for c in items),
        "mode": docs[0]["mode"],
        "seconds": round(seconds, 2),
    }


# --------------------------------------------------------------------------
# One run
# --------------------------------------------------------------------------


def cpu_figures(child: bench.Child, proxy_cpu_s: float) -> dict[str, float | None]:
    """Cores of the engine, DynamoDB Local, the proxy (this process) and everything else, over the wall time."""
    wall, server, machine = child.wall_s, child.server_cpu_s, child.machine_busy_s
    other = None if server is None or machine is None else max(0.0, machine - server - child.cpu_s - proxy_cpu_s)
    return {
        "client_cores": round(child.cpu_s / wall, 2),
        "server_cores": None if server is None else round(server / wall, 2),
        "proxy_cores": round(proxy_cpu_s / wall, 2),
        "other_cores": None if other is None else round(other / wall, 2),
    }


def run_once(session: Session, variant: str, round_no: int) -> dict[str, Any]:
    """One migration of ``variant`` into fresh tables; for ``faulty``, validated before the drop."""
    prefix = session.prefixes(variant[0])
    folder = Path(tempfile.mkdtemp(prefix=f"{variant}-", dir=session.tmp))
    seed = session.faults.seed + round_no
    try:
        with proxy_for(variant, session.url, session.faults, session.settings.timeout, seed) as proxy:
            config = write_config(folder, session, prefix, proxy.url if proxy else session.url)
            cpu_before = bench.self_cpu_s()
            items, seconds, child = migrate(config, folder, session)
            proxy_cpu = bench.self_cpu_s() - cpu_before
            counts = fault_counts(proxy) if proxy else None
        result: dict[str, Any] = {
            "variant": variant,
            "round": round_no,
            "prefix": prefix,
            "proxy_seed": seed if variant != DIRECT else None,
            "items": items,
            "seconds": seconds,
            "items_per_s": round(items / seconds, 1),
            "process_wall_s": round(child.wall_s, 3),
            **cpu_figures(child, proxy_cpu),
            "proxy": counts,
            "engine": engine_counters(config),
        }
        if variant == FAULTY:
            result["validation"] = validate(config, folder, session)
    finally:
        drop_tables(admin_client(session.url), prefix)
        shutil.rmtree(folder, ignore_errors=True)
    log_run(result)
    return result


def log_run(r: dict[str, Any]) -> None:
    when = f"warm-up {-r['round']}" if r["round"] < 0 else f"round {r['round']}"
    line = f"{r['variant']} {when}: {r['items']:,} items in {r['seconds']:.2f}s"
    line += (
        f" ({r['items_per_s']:,.0f} items/s), retries {r['engine']['retries']}, throttles {r['engine']['throttles']}"
    )
    if r["proxy"]:
        p = r["proxy"]
        line += f"; BatchWriteItem {p['batch_requests']}, faulted {p['faulted']} ({100 * (p['fraction'] or 0):.1f}%)"
    if "validation" in r:
        v = r["validation"]
        line += f"; validate: {v['items_compared']:,} items compared, {v['failures']} failures ({v['seconds']:.1f}s)"
    line += f"; cores {r['client_cores']} / {r['server_cores']} / proxy {r['proxy_cores']} / other {r['other_cores']}"
    log(line)


# --------------------------------------------------------------------------
# Summary and report
# --------------------------------------------------------------------------


def median(runs: list[dict[str, Any]], key: str) -> float | None:
    values = [r[key] for r in runs if r.get(key) is not None]
    return statistics.median(values) if values else None


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Median seconds of a variant, and its counters summed over its runs."""
    proxied = [r["proxy"] for r in runs if r["proxy"]]
    summary: dict[str, Any] = {
        "runs": len(runs),
        "items": runs[0]["items"],
        "median_seconds": round(statistics.median(r["seconds"] for r in runs), 3),
        "median_items_per_s": round(statistics.median(r["items_per_s"] for r in runs), 1),
        "seconds": [r["seconds"] for r in runs],
        "retries": sum(r["engine"]["retries"] for r in runs),
        "throttles": sum(r["engine"]["throttles"] for r in runs),
        "median_cores": {k: median(runs, k) for k in ("client_cores", "server_cores", "proxy_cores", "other_cores")},
    }
    if proxied:
        requests = sum(p["batch_requests"] for p in proxied)
        faulted = sum(p["faulted"] for p in proxied)
        by_kind: dict[str, int] = {}
        for p in proxied:
            for kind, n in p["by_kind"].items():
                by_kind[kind] = by_kind.get(kind, 0) + n
        summary.update(
            batch_requests=requests,
            faulted=faulted,
            fraction=round(faulted / requests, 4) if requests else None,
            by_kind=by_kind,
            throttles_injected=sum(p["throttles_injected"] for p in proxied),
        )
        # The engine's own counters against the proxy's: every injected throttle is one throttle,
        # every fault costs at least one retry.
        summary["engine_counts_consistent"] = (
            summary["throttles"] == summary["throttles_injected"] and summary["retries"] >= faulted
        )
    validations = [r["validation"] for r in runs if "validation" in r]
    if validations:
        summary["validation"] = {
            "runs": len(validations),
            "all_exit_0": all(v["exit_code"] == 0 for v in validations),
            "items_compared": sum(v["items_compared"] for v in validations),
            "failures": sum(v["failures"] for v in validations),
            "mode": sorted({v["mode"] for v in validations}),
        }
    return summary


def print_report(results: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=max(120, shutil.get_terminal_size((120, 40)).columns))
    m, s, v = results["machine"], results["settings"], results["variants"]
    console.print(
        f"\n[bold]Cost of faults[/bold] {results['date']} · {m['cpu_count']} cores · Python {m['python']} · "
        f"DynamoDB Local {m['dynamodb_local']} (in memory) · {results['data']['label']} "
        f"({v[CLEAN]['items']:,} items)",
        highlight=False,
    )
    e = s["engine"]
    console.print(
        f"engine: workers {e['workers']}, parallel tables {e['parallel_tables'] or 'default'}, batch {e['batch_size']}, "
        f"max_retries {e['max_retries']}, retry_delay {e['retry_delay']}s, timeout {e['timeout']}s · "
        f"faults: rate {s['faults']['rate']}, {s['faults']['delays']} delays of {s['faults']['delay_seconds']}s "
        f"per run, seed {s['faults']['seed']}",
        highlight=False,
    )
    others = m.get("other_cores_median")
    if others is not None and others > 0.2:
        console.print(f"[yellow]other processes used {others} cores during the runs (median): the figures are noisy")

    t = Table(title=f"Migration time (median of {s['rounds']} rounds)")
    for col in ("variant", "seconds", "per round", "items/s", "retries", "throttles", "cores"):
        t.add_column(col, justify="left" if col == "variant" else "right")
    for name, label in ((CLEAN, "clean (proxy)"), (FAULTY, "faulty (proxy)"), (DIRECT, "direct (no proxy)")):
        if name not in v:
            continue
        r, c = v[name], v[name]["median_cores"]
        t.add_row(
            label,
            f"{r['median_seconds']:.2f}",
            ", ".join(f"{x:.2f}" for x in r["seconds"]),
            f"{r['median_items_per_s']:,.0f}",
            str(r["retries"]),
            str(r["throttles"]),
            " / ".join("-" if c[k] is None else f"{c[k]:.2f}" for k in c),
        )
    console.print(t)
    console.print(
        "retries, throttles: the engine's state file, summed over the variant's runs. "
        "cores: engine / DynamoDB Local / proxy / other, medians.",
        style="dim",
        highlight=False,
    )

    f = v[FAULTY]
    t = Table(title="Faults injected (all faulty runs)")
    t.add_column("kind")
    t.add_column("requests", justify="right")
    for kind, n in f["by_kind"].items():
        t.add_row(kind, str(n))
    t.add_row("[bold]faulted[/bold]", f"[bold]{f['faulted']}[/bold]")
    t.add_row("BatchWriteItem requests", str(f["batch_requests"]))
    t.add_row("fraction faulted", f"{100 * f['fraction']:.1f}%")
    console.print(t)

    val = f["validation"]
    lost = "0" if val["all_exit_0"] and val["failures"] == 0 else "[red]SOME[/red]"
    sample = "" if s["sample_pct"] is None else f" (sampled: --sample-pct {s['sample_pct']})"
    r, cost = results["ratios"], results["cost"]
    each = "" if cost["ms_per_fault"] is None else f", {cost['ms_per_fault']:.1f} ms each on average"
    console.print(
        f"[bold]faulty / clean: {r['faulty_vs_clean']:.3f}[/bold] "
        f"({cost['extra_seconds']:+.2f}s per run; {cost['faults_per_run']:.0f} faults per run{each})",
        highlight=False,
    )
    if r.get("clean_vs_direct") is not None:
        console.print(f"clean (proxy) / direct: {r['clean_vs_direct']:.3f} (the proxy hop)", highlight=False)
    console.print(
        f"engine counted {f['throttles']} throttles ({f['throttles_injected']} injected) and {f['retries']} retries "
        f"({f['faulted']} faults){'' if f['engine_counts_consistent'] else ' [red]- does not add up[/red]'}",
        highlight=False,
    )
    clean_v = v[CLEAN]
    console.print(
        f"clean runs: {clean_v['batch_requests']} BatchWriteItem requests, {clean_v['retries']} retries "
        f"(a clean run should have none)",
        highlight=False,
    )
    console.print(
        f"items lost: {lost} - validate --check items: straight to DynamoDB Local after each of {val['runs']} faulty "
        f"runs, exit 0 each, {val['items_compared']:,} items compared, {val['failures']} failures{sample}",
        highlight=False,
    )


def build_results(
    args: argparse.Namespace, session: Session, runs: list[dict[str, Any]], started_at: datetime, extra: dict[str, Any]
) -> dict[str, Any]:
    names = [name for name in (CLEAN, FAULTY, DIRECT) if any(r["variant"] == name for r in runs)]
    variants = {name: summarise([r for r in runs if r["variant"] == name]) for name in names}
    clean, faulty = variants[CLEAN], variants[FAULTY]
    extra_s = faulty["median_seconds"] - clean["median_seconds"]
    per_run_faults = faulty["faulted"] / faulty["runs"]
    ratios = {"faulty_vs_clean": round(faulty["median_seconds"] / clean["median_seconds"], 3)}
    if DIRECT in variants:
        ratios["clean_vs_direct"] = round(clean["median_seconds"] / variants[DIRECT]["median_seconds"], 3)
    others = [r["other_cores"] for r in runs if r.get("other_cores") is not None]
    return {
        "date": started_at.strftime("%Y-%m-%d %H:%M:%S UTC"),
        "machine": {
            "cpu_count": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "other_cores_median": round(statistics.median(others), 2) if others else None,
            **extra["machine"],
        },
        "settings": {
            "rounds": args.rounds,
            "warmup_runs": args.warmup_runs,
            "tables": list(session.tables) or "all",
            "direct": args.direct,
            "sample_pct": session.sample_pct,
            "engine": asdict(session.settings),
            "faults": {
                **asdict(session.faults),
                "mix": [{"kind": kind_of(f, p), "weight": w} for f, w, p in FAULT_MIX],
                "rule_rates": [round(x, 4) for x in sequential_rates(session.faults.rate)],
                "delay_rule_rate": DELAY_RATE,
                "operations": sorted(BATCH),
            },
        },
        "data": extra["data"],
        "variants": variants,
        "ratios": ratios,
        "cost": {
            "extra_seconds": round(extra_s, 3),
            "faults_per_run": round(per_run_faults, 1),
            "ms_per_fault": round(1000 * extra_s / per_run_faults, 1) if per_run_faults else None,
        },
        "warmup": extra["warmup"],
        "runs": runs,
        "total_seconds": extra["total_seconds"],
        "notes": [
            "seconds: the migrate summary line (includes creating the tables, excludes process start-up)",
            "clean and faulty both go through tests/faultproxy.py; direct (optional) does not",
            "fraction: faulted BatchWriteItem requests over all BatchWriteItem requests the proxy saw, "
            "resent ones included",
            "validation: cli.py validate --check items: straight to DynamoDB Local after each faulty run, "
            "not part of the migration time",
        ],
    }


# --------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        description="Time a Chinook migration with and without injected DynamoDB faults (one DynamoDB Local)."
    )
    ap.add_argument("--rounds", type=int, default=3, help="rounds of clean + faulty (default 3; median)")
    ap.add_argument("--warmup-runs", type=int, default=3, help="untimed clean runs first (default 3)")
    ap.add_argument("--direct", action="store_true", help="also a third variant straight to DynamoDB Local")
    ap.add_argument("--fault-rate", type=float, default=0.30, help="share of BatchWriteItem faulted (default 0.30)")
    ap.add_argument("--delays", type=int, default=3, help="requests held past the client timeout per run (default 3)")
    ap.add_argument("--delay-seconds", type=float, default=3.0, help="how long (at least timeout + 1; default 3)")
    ap.add_argument("--seed", type=int, default=1, help="the proxy's RNG seed (round r uses seed + r; default 1)")
    ap.add_argument("--workers", type=int, default=4, help="engine workers (default 4)")
    ap.add_argument("--parallel-tables", type=int, default=None, help="engine parallel tables (default: engine's)")
    ap.add_argument("--batch-size", type=int, default=25, help="items per BatchWriteItem (default 25)")
    ap.add_argument("--max-retries", type=int, default=12, help="engine max_retries (default 12)")
    ap.add_argument("--retry-delay", type=float, default=0.05, help="engine retry_delay in s (default 0.05)")
    ap.add_argument("--timeout", type=float, default=2.0, help="engine request timeout in s (default 2)")
    ap.add_argument(
        "-t",
        "--table",
        dest="tables",
        metavar="TABLE",
        action="append",
        default=[],
        help="only this table (repeatable)",
    )
    ap.add_argument("--sample-pct", type=float, default=None, help="validate a sample instead of every item")
    ap.add_argument("--scale", type=int, default=1, help="a generated Chinook scaled by N (default 1: the file)")
    ap.add_argument("--data-seed", type=int, default=42, help="generator seed for --scale (default 42)")
    ap.add_argument("--source", type=Path, default=bench.SOURCE_DB, help="source Chinook database")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results", help="results folder")
    args = ap.parse_args(argv)
    if args.rounds < 1 or args.scale < 1 or not 0.0 < args.fault_rate < 1.0:
        ap.error("--rounds and --scale must be at least 1, --fault-rate within (0, 1)")
    return args


def source_db(args: argparse.Namespace, out: Path) -> tuple[Path, dict[str, Any]]:
    """The plain Chinook file, or at ``--scale N`` run.py's generated copy."""
    if args.scale == 1:
        return args.source.resolve(), {"scale": 1, "path": str(args.source), "label": "Chinook"}
    db = bench.dataset(out / "data", args.scale, args.data_seed, args.source)
    return db, {"scale": args.scale, "seed": args.data_seed, "path": str(db), "label": f"Chinook x{args.scale}"}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)

    from sqlite2ddb.dynamodb import local as local_dynamodb

    for key, value in bench.child_env().items():
        if key.startswith("AWS_"):
            os.environ.setdefault(key, value)
    started_at, started = datetime.now(timezone.utc), time.perf_counter()
    out: Path = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="faults-"))
    idle_before = bench.idle_check()
    db, data = source_db(args, out)
    settings = EngineSettings(
        args.max_retries, args.retry_delay, args.timeout, args.workers, args.batch_size, args.parallel_tables
    )
    faults = FaultPlan(args.fault_rate, args.delays, args.delay_seconds, args.seed)

    log("starting DynamoDB Local (in memory)")
    server = local_dynamodb.start(None, in_memory=True)
    bench.SERVER_PID = server.pid  # run_child reads the server's CPU time around every child
    runs: list[dict[str, Any]] = []
    try:
        log(f"DynamoDB Local at {server.url}")
        session = Session(server.url, db, tuple(args.tables), settings, faults, args.sample_pct, tmp, bench.Prefixes())
        log(f"warm-up: {args.warmup_runs} clean runs")
        warmup = [run_once(session, CLEAN, -1 - i) for i in range(args.warmup_runs)]
        order = [CLEAN, FAULTY] + ([DIRECT] if args.direct else [])
        for round_no in range(1, args.rounds + 1):
            runs += [run_once(session, variant, round_no) for variant in order]
    finally:
        log("stopping DynamoDB Local")
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)

    total_s = time.perf_counter() - started
    extra = {
        "machine": {"dynamodb_local": local_dynamodb.local_version(), "busy_cores_before_start": idle_before},
        "data": data,
        "warmup": warmup,
        "total_seconds": round(total_s, 1),
    }
    results = build_results(args, session, runs, started_at, extra)
    print_report(results)
    path = out / f"faults-{started_at.strftime('%Y%m%dT%H%M%SZ')}.json"
    path.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwrote {path}; total {total_s / 60:.1f} min", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
