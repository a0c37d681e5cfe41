"""Prove a migration: shape, counts, item by item, access patterns, aggregates, rules.

Every item is rendered again from the source through the same plan and
compared with what DynamoDB holds. In full mode the rendered items go to a
temporary SQLite file on disk and the target table is scanned once, so memory
stays flat however large the table; ``sample``/``sample_pct`` compare a
deterministic sample fetched with BatchGetItem instead.

One module per check family: ``shape``, ``table_pass`` (counts, ``items``,
``rules``, ``aggregates`` from one read of a table), ``patterns``; the
results in ``results`` and the reports in ``report``.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from engine.commands import opened_plan
from engine.config import Config
from engine.errors import TargetError, UsageError
from engine.plan import Plan, TablePlan
from engine.target import check_reachable, connect, existing_tables
from engine.validate.patterns import pattern_check
from engine.validate.read_capacity import metered
from engine.validate.render import Renderer
from engine.validate.report import write_reports
from engine.validate.results import CheckResult, Failure, ValidationResult
from engine.validate.run_record import run_record
from engine.validate.samples import sample_items
from engine.validate.shape import shape_check
from engine.validate.table_pass import TablePass, table_check_names

__all__ = ["CheckResult", "Failure", "ValidationResult", "check_names", "run", "write_reports"]


def run(
    config: Config,
    table: str | None = None,
    checks: Sequence[str] = (),
    sample: int | None = None,
    sample_pct: float | None = None,
) -> ValidationResult:
    """Run every check (or those named) and return the result; TargetError when it cannot run."""
    started, t0 = _now(), time.monotonic()
    results: list[CheckResult] = []
    with opened_plan(config) as (plan, conn), connect(config) as target, metered(target.client) as reads:
        check_reachable(target)
        tables = _select_tables(plan, table)
        described = existing_tables(target, [t.name for t in tables])
        missing = [name for name, d in described.items() if d is None]
        if missing:
            raise TargetError(f"cannot validate: table(s) {', '.join(missing)} do not exist", "run migrate first")
        known = check_names(plan, tables)
        wanted = _wanted(resolve_bare_names(checks, known))
        if checks and not any(wanted(name) for name in known):
            raise UsageError(f"--check {' '.join(checks)} matches no check (checks: {', '.join(known)})")
        conn.create_function("py_lower", 1, lambda s: s.lower() if isinstance(s, str) else s, deterministic=True)
        renderer = Renderer(conn, sample, sample_pct)
        for table_plan in tables:
            if wanted(f"shape:{table_plan.config_name}"):
                started_check = time.monotonic()
                results.append(_timed(shape_check(table_plan, described[table_plan.name] or {}, target), started_check))
            if any(wanted(n) for n in table_check_names(plan, table_plan)):
                started_check = time.monotonic()
                passed = TablePass(plan, table_plan, renderer, wanted).run(target, conn)
                results += [_timed(r, started_check) for r in passed]
        logical = {t.spec.name for t in tables}
        for pattern in plan.mapping.access_patterns:
            if pattern.request.table in logical and wanted(f"pattern:{pattern.name}"):
                started_check = time.monotonic()
                results.append(_timed(pattern_check(pattern, plan, conn, target, sample, sample_pct), started_check))
        record = run_record(config.state_dir, plan, conn, config.batch_size, reads.units)
        samples = sample_items(plan, conn)
    source = Path(config.source_db)
    return ValidationResult(
        checks=results,
        started_at=started,
        finished_at=_now(),
        seconds=time.monotonic() - t0,
        source={"path": str(source), "size": source.stat().st_size, "sha256": _sha256(source)},
        mapping={
            "path": plan.mapping.directory,
            "digest": plan.mapping.digest,
            "files": [{"file": f, "sha256": d} for f, d in plan.mapping.file_digests],
        },
        target={
            "endpoint": target.endpoint,
            "kind": target.kind,
            "table_prefix": plan.table_prefix,
            "region": target.region,
            "tables": [t.name for t in tables],
        },
        mode="full"
        if sample is None and sample_pct is None
        else f"sample {sample or ''}{f'{sample_pct}%' if sample_pct else ''}",
        tool_version=_tool_version(),
        run=record,
        samples=samples,
    )


def check_names(plan: Plan, tables: Sequence[TablePlan]) -> list[str]:
    """Every check validate would run on these tables, by name."""
    names: list[str] = []
    logical = {t.spec.name for t in tables}
    for table in tables:
        names.append(f"shape:{table.config_name}")
        names += table_check_names(plan, table)
    names += [f"pattern:{p.name}" for p in plan.mapping.access_patterns if p.request.table in logical]
    return names


def _timed(result: CheckResult, started: float) -> CheckResult:
    """Stamp the check's duration and a default summary."""
    result.seconds = time.monotonic() - started
    if not result.summary:
        result.summary = "ok" if result.passed else f"{result.failure_count} failure(s)"
    return result


def _tool_version() -> str:
    try:
        return importlib.metadata.version("sqlite-to-dynamodb")
    except importlib.metadata.PackageNotFoundError:
        return "unknown (not installed)"


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _select_tables(plan: Plan, name: str | None) -> list[TablePlan]:
    if not name:
        return list(plan.tables)
    for table in plan.tables:
        if name in (table.config_name, table.spec.name, table.name):
            return [table]
    raise UsageError(f"unknown table {name} (known: {', '.join(t.config_name for t in plan.tables)})")


def resolve_bare_names(checks: Sequence[str], known: Sequence[str]) -> list[str]:
    """``s06-x`` -> ``pattern:s06-x`` when the name without its kind picks checks of one kind only."""
    out = []
    for check in checks:
        if any(name == check or name.startswith(check) for name in known):
            out.append(check)
            continue
        bare = {name.split(":", 1)[0] for name in known if name.split(":", 1)[-1] == check}
        bare = bare or {name.split(":", 1)[0] for name in known if name.split(":", 1)[-1].startswith(check)}
        if len(bare) > 1:
            raise UsageError(
                f"--check {check} is ambiguous: say which, e.g. {', '.join(f'{k}:{check}' for k in sorted(bare))}"
            )
        out.append(f"{bare.pop()}:{check}" if bare else check)
    return out


def _wanted(prefixes: Sequence[str]) -> Callable[[str], bool]:
    if not prefixes:
        return lambda name: True
    return lambda name: any(name == p or name.startswith(p) for p in prefixes)
