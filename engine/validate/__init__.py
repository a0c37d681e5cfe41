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
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, closing, contextmanager
from pathlib import Path
from typing import Any, cast

from sqlite2ddb.config import Config
from sqlite2ddb.dynamodb.reads import Reader, page_items
from sqlite2ddb.dynamodb.target import Target, check_reachable, connect, existing_tables
from sqlite2ddb.errors import TargetError, UsageError
from sqlite2ddb.extract.connections import SourceConnections, register_functions
from sqlite2ddb.extract.source import open_source
from sqlite2ddb.plan.compile import Plan, TablePlan
from sqlite2ddb.plan.opened import opened_plan
from sqlite2ddb.render.stream import Renderer
from sqlite2ddb.spec.model import AccessPatternSpec
from sqlite2ddb.state.checkpoints import record_last_validation
from sqlite2ddb.validate.generated import load_generated
from sqlite2ddb.validate.index_file import IndexFile
from sqlite2ddb.validate.pattern_proof import (
    DEFAULT_PROOF,
    FeedingReader,
    ProofSettings,
    file_key,
    open_file,
    provable,
    prove_group,
)
from sqlite2ddb.validate.patterns import param_count, pattern_check
from sqlite2ddb.validate.progress import NO_PROGRESS, Progress
from sqlite2ddb.validate.read_capacity import metered
from sqlite2ddb.validate.report import check_report, write_reports
from sqlite2ddb.validate.results import CheckResult, Failure, ValidationResult
from sqlite2ddb.validate.run_record import run_record
from sqlite2ddb.validate.samples import sample_items
from sqlite2ddb.validate.shape import shape_check
from sqlite2ddb.validate.table_pass import TablePass, table_check_names

__all__ = [
    "NO_PROGRESS",
    "CheckResult",
    "Failure",
    "ProofSettings",
    "ValidationResult",
    "check_names",
    "check_report",
    "run",
    "write_reports",
]


def run(
    config: Config,
    table: str | None = None,
    checks: Sequence[str] = (),
    sample: int | None = None,
    sample_pct: float | None = None,
    *,
    max_rcu: float | None = None,
    progress: Progress = NO_PROGRESS,
    proof: ProofSettings = DEFAULT_PROOF,
    strict: bool = False,
    generated: str | None = None,
) -> ValidationResult:
    """Run every check (or those named) and return the result; TargetError when it cannot run.

    Reads run on ``migration_settings.workers`` threads (parallel Scan
    segments, access patterns) and, with ``max_rcu``, within that many read
    units per second. ``proof`` says which access patterns are proven from
    one read of their index (``pattern_proof``) rather than one request per value.
    With ``strict`` a check that compared nothing (``empty``) fails the run;
    without, only a run where every check is empty does. With ``generated``
    (a folder ``codegen`` wrote) the access patterns are answered through the
    generated package's methods, one call per parameter value.
    """
    started, t0 = _now(), time.monotonic()
    results: list[CheckResult] = []
    settings = config.migration_settings
    sources = SourceConnections(lambda: open_source(config.source_db, settings.busy_timeout))
    pool = ThreadPoolExecutor(settings.workers, thread_name_prefix="pattern") if settings.workers > 1 else None
    with (
        opened_plan(config) as (plan, conn),
        connect(config) as target,
        closing(sources),
        _shutdown(pool),
        metered(target.client) as consumed,
    ):
        tables, described, wanted = _selection(plan, target, table, checks)
        register_functions(conn)
        reader = Reader(target, max_rcu, settings.workers)
        reader.page_items = {name: page_items(description) for name, description in described.items()}
        renderer = Renderer(conn, sample, sample_pct)
        patterns = _patterns_of(plan, tables, wanted)
        pattern_checks = _PatternChecks(plan, conn, reader, sources, progress, pool)
        if generated is not None:
            module = load_generated(generated, plan.mapping.digest)
            pattern_checks.generated = module.connect(client=target.client, table_prefix=plan.table_prefix)
        with closing(pattern_checks):
            pattern_checks.prepare(patterns, (sample, sample_pct), proof)
            for table_plan in tables:
                table_reader = pattern_checks.reader_for(table_plan.spec.name)
                results += _table_checks(
                    plan, table_plan, described[table_plan.name] or {}, wanted, table_reader, renderer, progress, target
                )
            results += pattern_checks.run(patterns, (sample, sample_pct), proof)
        record = run_record(config.state_dir, plan, conn, config.batch_size, consumed.units)
        samples = sample_items(plan, conn)
    result = _describe(config, plan, target, reader, max_rcu, [t.name for t in tables])
    validation = ValidationResult(
        checks=results,
        started_at=started,
        finished_at=_now(),
        seconds=time.monotonic() - t0,
        mode=_mode(sample, sample_pct),
        tool_version=_tool_version(),
        run=record,
        samples=samples,
        strict=strict,
        **result,
    )
    outcome = validation.to_json()
    record_last_validation(
        config.state_path, {k: outcome[k] for k in ("result", "started_at", "finished_at", "mode", "summary")}
    )
    return validation


class _PatternChecks:
    """The access pattern checks of a run: from index reads where ``provable``, else one request per value.

    ``prepare`` opens one IndexFile per table or index that provable patterns
    read; the item pass of a table fills them (``reader_for``) when it runs.
    """

    def __init__(
        self,
        plan: Plan,
        conn: sqlite3.Connection,
        reader: Reader,
        sources: SourceConnections,
        progress: Progress,
        pool: ThreadPoolExecutor | None,
    ) -> None:
        self.plan, self.conn, self.reader, self.sources = plan, conn, reader, sources
        self.progress, self.pool = progress, pool
        self.groups: dict[tuple[str, str | None], list[tuple[AccessPatternSpec, int]]] = {}
        self.files: dict[tuple[str, str | None], IndexFile] = {}
        self.generated: Any = None  # the generated package, connected: patterns are answered through it
        self._stack = ExitStack()

    def prepare(
        self, patterns: list[AccessPatternSpec], sampling: tuple[int | None, float | None], proof: ProofSettings
    ) -> None:
        """Group the patterns proven from an index read (a full run only) and open their files."""
        if sampling != (None, None) or proof.index_read_above is None or self.generated is not None:
            return
        for pattern in patterns:
            try:
                total = param_count(self.conn, pattern.params)
            except sqlite3.Error:
                continue  # the check reports it
            if provable(pattern, self.plan, total, proof):
                self.groups.setdefault(file_key(pattern), []).append((pattern, total))
        for key, group in self.groups.items():
            self.files[key] = self._stack.enter_context(open_file(self.plan, key, [p for p, _ in group]))

    def reader_for(self, table: str) -> Reader:
        """The reader of a table's item pass: its Scan fills the files of that table and its indexes."""
        files = [file for (name, _), file in self.files.items() if name == table]
        return cast(Reader, FeedingReader(self.reader, files[0].table, files)) if files else self.reader

    def run(
        self, patterns: list[AccessPatternSpec], sampling: tuple[int | None, float | None], proof: ProofSettings
    ) -> list[CheckResult]:
        """The results in the mapping's order, whichever way each pattern was proven."""
        done: dict[str, CheckResult] = {}
        for key, group in self.groups.items():
            args = (self.plan, self.reader, self.sources, self.conn, proof, self.progress, self.pool)
            for result in prove_group(self.files[key], group, *args):
                done[result.name] = result
            self.files[key].close()  # its connections' caches and its disk space go now
        for pattern in patterns:
            if f"pattern:{pattern.name}" in done:
                continue
            started, units = time.monotonic(), self.reader.units
            args2 = (self.plan, self.conn, self.reader, self.sources, sampling, self.progress, self.pool)
            result = _timed(pattern_check(pattern, *args2, generated=self.generated), started)
            _charge([result], self.reader.units - units)
            done[result.name] = result
        return [done[f"pattern:{p.name}"] for p in patterns]

    def close(self) -> None:
        self._stack.close()


def _patterns_of(plan: Plan, tables: list[TablePlan], wanted: Callable[[str], bool]) -> list[AccessPatternSpec]:
    """The access patterns on the selected tables that the run checks."""
    logical = {t.spec.name for t in tables}
    return [p for p in plan.mapping.access_patterns if p.request.table in logical and wanted(f"pattern:{p.name}")]


def _mode(sample: int | None, sample_pct: float | None) -> str:
    if sample is None and sample_pct is None:
        return "full"
    return f"sample {sample or ''}{f'{sample_pct}%' if sample_pct else ''}"


def _selection(
    plan: Plan, target: Target, table: str | None, checks: Sequence[str]
) -> tuple[list[TablePlan], dict[str, Any], Callable[[str], bool]]:
    """The tables to validate (they must exist) and which checks are wanted."""
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
    return tables, described, wanted


def _describe(
    config: Config, plan: Plan, target: Target, reader: Reader, max_rcu: float | None, tables: list[str]
) -> dict[str, Any]:
    """What the report says about the run: source, mapping set, target, reads."""
    source = Path(config.source_db)
    return {
        "source": {"path": str(source), "size": source.stat().st_size, "sha256": _sha256(source)},
        "mapping": {
            "path": plan.mapping.directory,
            "digest": plan.mapping.digest,
            "files": [{"file": f, "sha256": d} for f, d in plan.mapping.file_digests],
        },
        "target": {
            "endpoint": target.endpoint,
            "kind": target.kind,
            "table_prefix": plan.table_prefix,
            "region": target.region,
            "tables": tables,
        },
        "reads": {
            "read_units": round(reader.units, 1),
            "requests": reader.requests,
            "workers": reader.workers,
            "max_rcu": max_rcu,
        },
    }


def _table_checks(
    plan: Plan,
    table: TablePlan,
    described: dict[str, Any],
    wanted: Callable[[str], bool],
    reader: Reader,
    renderer: Renderer,
    progress: Progress,
    target: Target,
) -> list[CheckResult]:
    """The shape check and the checks of one pass over the table, timed."""
    results = []
    if wanted(f"shape:{table.config_name}"):
        started = time.monotonic()
        results.append(_timed(shape_check(table, described, target), started))
    if any(wanted(n) for n in table_check_names(plan, table)):
        started, units = time.monotonic(), reader.units
        objects = target.objects if any(i.offload for i in plan.item_types if i.table.name == table.name) else None
        passed = TablePass(plan, table, renderer, wanted, objects).run(reader, renderer.conn, progress)
        results += [_timed(r, started) for r in passed]
        _charge(passed, reader.units - units)
    return results


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
        result.summary = (
            "nothing compared" if result.empty else "ok" if result.passed else f"{result.failure_count} failure(s)"
        )
    return result


@contextmanager
def _shutdown(pool: ThreadPoolExecutor | None) -> Iterator[None]:
    try:
        yield
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)


def _charge(results: list[CheckResult], units: float) -> None:
    """Record the read units a step consumed on the first of its checks (the others share that read)."""
    if results:
        results[0].read_units = units


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


def _wanted(prefixes: Sequence[str]) -> Callable[[str], bool]:
    if not prefixes:
        return lambda name: True
    return lambda name: any(name == p or name.startswith(p) for p in prefixes)


def _tool_version() -> str:
    try:
        return importlib.metadata.version("sqlite-to-dynamodb")
    except importlib.metadata.PackageNotFoundError:
        return "unknown (not installed)"


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
