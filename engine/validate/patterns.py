"""Access pattern checks: the parameter values streamed from the source, checked on a pool of workers.

The parameter rows are read from a cursor in chunks of at most ``CHUNK`` (fewer
when a pattern has few values, see ``chunk_size``) and handed to ``workers``
threads; at most ``2 * workers`` chunks are in flight, so memory does not grow
with the number of parameter values. Each worker runs
the pattern's SQL on its own connection to the source, and GetItem patterns
fetch a chunk in one BatchGetItem. Results are taken in submission order, so
the failures come out in the same order as a sequential run.
"""

from __future__ import annotations

import sqlite3
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from itertools import islice
from typing import Any

from sqlite2ddb.dynamodb.reads import Reader
from sqlite2ddb.extract.connections import SourceConnections
from sqlite2ddb.plan.compile import Plan
from sqlite2ddb.spec.model import AccessPatternSpec
from sqlite2ddb.validate.generated import GeneratedMethod
from sqlite2ddb.validate.pattern_runner import PatternRunner
from sqlite2ddb.validate.progress import Progress
from sqlite2ddb.validate.results import CheckResult, Failure

CHUNK = 100


def pattern_check(
    pattern: AccessPatternSpec,
    plan: Plan,
    conn: sqlite3.Connection,
    reader: Reader,
    sources: SourceConnections,
    sampling: tuple[int | None, float | None],
    progress: Progress,
    pool: ThreadPoolExecutor | None = None,
    generated: Any = None,
) -> CheckResult:
    """The ``pattern:<name>`` check: every parameter value (or the sample) on both sides.

    With ``generated`` (the connected generated package) DynamoDB's side is
    the answer of the pattern's generated method, not the engine's request.
    """
    table = plan.table_prefix + pattern.request.table
    result = CheckResult(f"pattern:{pattern.name}", "access_pattern", table, compares_values=True)
    runner = PatternRunner(pattern, plan, reader, sources)
    method = runner.generated = GeneratedMethod(generated, pattern) if generated is not None else None
    try:
        total = param_count(conn, pattern.params)
        limit = _limit(pattern, total, *sampling)
        params = stream_params(conn, pattern.params, total, limit)
        checked = min(total, limit) if limit else total
        result.available = total if checked < total else None
        task = progress.task(result.name, checked)
        try:
            size = chunk_size(checked, reader.workers)
            for outcome in in_order(runner.check_many, _chunks(params, size), pool, reader.workers):
                for failures in outcome:
                    result.compared += 1
                    for failure in failures:
                        result.fail(failure)
                task.advance(len(outcome))
        finally:
            task.close()
    except sqlite3.Error as exc:
        result.fail(Failure("pattern", f"{pattern.location}: params SQL does not run: {exc}"))
        return result
    if method is not None and method.calls < result.compared:
        result.fail(Failure("pattern", f"the generated {method.name} answered {method.calls} of {result.compared}"))
    result.summary = _summary(result, pattern, method.name if method else None)
    return result


def _summary(result: CheckResult, pattern: AccessPatternSpec, generated: str | None = None) -> str:
    """What the check compared: ``500 of 6,819 parameter values`` for a sample; nothing, said so."""
    if result.empty:
        return "nothing compared: the params query returns no rows"
    how = f"{result.compared} {'gets' if pattern.request.get is not None else 'queries'}"
    if generated:
        how = f"{result.compared} calls of the generated {generated}"
    values = f"{result.compared_text} parameter values"
    if result.passed:
        return f"{values}, answers equal to SQL ({how})"
    return f"{result.failure_count} differences over {values} ({how})"


def param_count(conn: sqlite3.Connection, sql: str) -> int:
    """How many rows the params SQL gives: one pass, nothing kept.

    The statement runs as written (not wrapped in a COUNT), so one that is not
    a query fails with SQLite's own error, as it does when its rows are read.
    """
    return sum(1 for _ in conn.execute(sql))


def _limit(pattern: AccessPatternSpec, total: int, sample: int | None, sample_pct: float | None) -> int | None:
    """How many parameter values to check: the pattern's ``sample``, or the run's ``--sample``/``--sample-pct``."""
    if sample is None and sample_pct is None:
        return pattern.sample
    return sample if sample is not None else max(1, int(total * (sample_pct or 100) / 100))


def stream_params(conn: sqlite3.Connection, sql: str, total: int, limit: int | None) -> Iterator[dict[str, Any]]:
    """The parameter rows, evenly spaced down to ``limit`` of ``total`` when there are more."""
    cursor = conn.execute(sql)
    names = [d[0] for d in cursor.description]
    rows: Iterable[tuple[Any, ...]] = cursor
    if limit and total > limit:
        step = total / limit
        wanted = iter(int(i * step) for i in range(limit))
        rows = _pick(cursor, wanted)
    for values in rows:
        yield dict(zip(names, values))


def _pick(rows: Iterable[Any], wanted: Iterator[int]) -> Iterator[Any]:
    """The rows at the increasing positions ``wanted``."""
    next_index = next(wanted, None)
    for index, row in enumerate(rows):
        if next_index is None:
            return
        if index == next_index:
            yield row
            next_index = next(wanted, None)


def chunk_size(values: int, workers: int) -> int:
    """Parameter values per job: ``CHUNK``, or fewer so that a pattern with few values still
    gives every worker several jobs (25 values on 4 workers: 2 per job, not one job of 25)."""
    return max(1, min(CHUNK, -(-values // (4 * workers))))


def _chunks(rows: Iterator[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    while chunk := list(islice(rows, size)):
        yield chunk


def in_order(
    fn: Callable[[Any], Any], jobs: Iterable[Any], pool: ThreadPoolExecutor | None, workers: int
) -> Iterator[Any]:
    """``fn`` over ``jobs`` on the pool's ``workers`` threads, at most ``2 * workers`` in flight, results in job order.

    One pool serves every pattern of a run, so each of its threads opens one
    source connection for the whole run (a connection per pattern and thread
    would keep dozens of page caches alive).
    """
    if pool is None or workers <= 1:
        yield from map(fn, jobs)
        return
    pending: deque[Future[Any]] = deque()
    try:
        for job in jobs:
            pending.append(pool.submit(fn, job))
            if len(pending) >= 2 * workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        for future in pending:
            future.cancel()
