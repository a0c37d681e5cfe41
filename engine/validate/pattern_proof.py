"""Access patterns proven from one read of their table or index, with a sample of real requests.

A pattern with more parameter values than ``ProofSettings.index_read_above``
(and no ``sample``) is not sent to DynamoDB once per value: its table or
index is read once into an ``IndexFile`` (patterns on the same table or
index share that read, projected to the union of what they compare; when
the run's item pass scans the table, its pages fill the file, see
``FeedingReader``, else the file gets a parallel Scan of its own), and
each value's answer is taken from the file exactly as the Query (or GetItem)
would give it, then compared with the SQL answer by the same comparison as a
real request (``PatternRunner.compare``: the same failures, messages and
keys). See ``index_file`` for why that answer equals the Query's.

The file proves the data; it cannot prove the request (index name, key
condition, key types as sent). So real requests still go out for a sample
of the values: the first ``real_queries``, as many chosen at random (seeded
by the pattern's name, so every run picks the same), and the values with
the ``real_queries`` largest answers. Each real answer must equal the
file's; a request DynamoDB refuses, or an answer that differs, is a failure.

Memory: parameter values stream from the source in chunks, and a worker
holds one value's two answers at a time.
"""

from __future__ import annotations

import heapq
import json
import random
import sqlite3
import threading
import time
import zlib
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from itertools import islice
from typing import Any

from sqlite2ddb.canonical import jsonable
from sqlite2ddb.dynamodb.reads import Reader
from sqlite2ddb.errors import TargetError
from sqlite2ddb.extract.connections import SourceConnections
from sqlite2ddb.plan.compile import Plan
from sqlite2ddb.spec.model import AccessPatternSpec, IndexSpec
from sqlite2ddb.validate.answers import Aligned, sorted_stream
from sqlite2ddb.validate.index_file import IndexFile
from sqlite2ddb.validate.pattern_runner import PatternRunner, answer_projection, parted
from sqlite2ddb.validate.patterns import CHUNK, in_order, stream_params
from sqlite2ddb.validate.progress import Progress
from sqlite2ddb.validate.results import CheckResult, Failure
from sqlite2ddb.wire import Wire


@dataclass(frozen=True)
class ProofSettings:
    """When a pattern is proven from an index read, and how many real requests check it."""

    index_read_above: int | None = 100  # None: never (one request per value, as with --sample)
    real_queries: int = 10  # per kind: the first, at random, the largest answers


DEFAULT_PROOF = ProofSettings()


def file_key(pattern: AccessPatternSpec) -> tuple[str, str | None]:
    """The table and index a pattern reads: patterns with one key share one read."""
    return pattern.request.table, pattern.request.index


def provable(pattern: AccessPatternSpec, plan: Plan, total: int, settings: ProofSettings) -> bool:
    """Whether the pattern is proven from an index read: enough values, and an answer the file can order."""
    if settings.index_read_above is None or pattern.sample is not None or total <= settings.index_read_above:
        return False
    request = pattern.request
    spec = plan.table(request.table).spec
    key_source = spec.index(request.index) if request.index else spec
    if key_source is None:
        return False  # an undeclared index: the requests report it
    if request.get is not None:
        names = {name for name, _ in request.get}
        return names == {k.name for k in spec.key_attributes}
    # a partition of a hash-only index holds many items in an order DynamoDB does not specify
    return key_source.sort_key is not None or not pattern.ordered or request.index is None


def open_file(plan: Plan, key: tuple[str, str | None], patterns: list[AccessPatternSpec]) -> IndexFile:
    """The (empty) file of the table or index ``key``, projected to what its patterns compare."""
    table = plan.table(key[0])
    spec = table.spec
    source = spec.index(key[1]) if key[1] else spec
    assert source is not None
    attributes = [
        n
        for p in patterns
        for n in answer_projection(p, [k for k, _ in p.request.get or ()])["ExpressionAttributeNames"].values()
    ]
    kept = None
    if isinstance(source, IndexSpec) and source in spec.indexes and source.projection != "ALL":
        keys = [k.name for k in (*spec.key_attributes, *source.key_attributes)]
        kept = frozenset([*keys, *source.non_key_attributes])
    table_keys = [k.name for k in spec.key_attributes]
    return IndexFile(table.name, key[1], source.partition_keys, source.sort_keys, table_keys, attributes, kept)


class FeedingReader:
    """The run's Reader, except that a whole Scan of ``table`` also fills ``files`` (see IndexFile.feed).

    The item pass reads every item of the table anyway; its pages fill the
    files of the patterns on that table and its indexes, so they need no read
    of their own. A Scan that stops early leaves the files to their own read.
    """

    def __init__(self, reader: Reader, table: str, files: list[IndexFile]) -> None:
        self.reader = reader
        self.table = table
        self.files = files

    def __getattr__(self, name: str) -> Any:
        return getattr(self.reader, name)

    def scan(self, table: str, segments: int = 1, **extra: Any) -> Iterator[list[dict[str, Wire]]]:
        if extra or table != self.table:
            yield from self.reader.scan(table, segments, **extra)
            return
        for page in self.reader.scan(table, segments):
            for file in self.files:
                file.feed(page)
            yield page
        for file in self.files:
            file.complete(fed=True)


def prove_group(
    file: IndexFile,
    patterns: list[tuple[AccessPatternSpec, int]],
    plan: Plan,
    reader: Reader,
    sources: SourceConnections,
    conn: sqlite3.Connection,
    settings: ProofSettings,
    progress: Progress,
    pool: ThreadPoolExecutor | None,
) -> list[CheckResult]:
    """The checks of the patterns (with their value counts) that read one table or index, from one read."""
    runners = [PatternRunner(p, plan, reader, sources) for p, _ in patterns]
    started, units = time.monotonic(), reader.units
    try:
        file.load(reader, progress)
    except TargetError as exc:
        return [_unread(plan, pattern, file.label, exc) for pattern, _ in patterns]
    read_seconds, read_units = time.monotonic() - started, reader.units - units
    results = []
    for runner, (_, total) in zip(runners, patterns):
        check_started, check_units = time.monotonic(), reader.units
        result = FileProof(runner, file, settings, total).run(plan, conn, progress, pool)
        result.seconds = time.monotonic() - check_started
        result.read_units = reader.units - check_units
        results.append(result)
    results[0].seconds += read_seconds  # the shared read is charged to the first pattern
    results[0].read_units += read_units
    return results


def _unread(plan: Plan, pattern: AccessPatternSpec, label: str, exc: TargetError) -> CheckResult:
    """A pattern whose table or index could not be read: one failure that says why."""
    result = CheckResult(f"pattern:{pattern.name}", "access_pattern", plan.table_prefix + pattern.request.table)
    result.fail(Failure("pattern", f"{pattern.location}: reading {label} failed: {exc}"))
    result.summary = f"index read of {label} failed"
    return result


class FileProof:
    """One pattern's check against an IndexFile, with its sample of real requests."""

    def __init__(self, runner: PatternRunner, file: IndexFile, settings: ProofSettings, total: int) -> None:
        self.runner = runner
        self.file = file
        self.total = total
        self.keep = set(runner.projection["ExpressionAttributeNames"].values())
        n = settings.real_queries
        chosen = random.Random(zlib.crc32(runner.pattern.name.encode())).sample(
            range(n, total), min(n, max(0, total - n))
        )
        self.real_at = set(range(min(n, total))) | set(chosen)
        self.largest_n = n
        self.largest: list[tuple[int, int, dict[str, Any]]] = []  # (answer size, -position, parameters)
        self._lock = threading.Lock()
        self.real_sent = 0

    def run(
        self, plan: Plan, conn: sqlite3.Connection, progress: Progress, pool: ThreadPoolExecutor | None
    ) -> CheckResult:
        pattern = self.runner.pattern
        table = plan.table_prefix + pattern.request.table
        result = CheckResult(f"pattern:{pattern.name}", "access_pattern", table, compares_values=True)
        task = progress.task(result.name, self.total)
        try:
            rows = enumerate(stream_params(conn, pattern.params, self.total, None))
            for outcome in in_order(self.check_many, _chunks(rows), pool, self.runner.reader.workers):
                for failures in outcome:
                    result.compared += 1
                    for failure in failures:
                        result.fail(failure)
                task.advance(len(outcome))
            for _, _, params in sorted(self.largest, key=lambda entry: -entry[1]):
                for failure in self._real(params):
                    result.fail(failure)
        except sqlite3.Error as exc:
            result.fail(Failure("pattern", f"{pattern.location}: params SQL does not run: {exc}"))
            return result
        finally:
            task.close()
        fed = " (from the item pass's Scan)" if self.file.fed else ""
        how = f"index read of {self.file.label}{fed} + {self.real_sent} real requests"
        result.summary = (
            f"{result.compared} parameter values, answers equal to SQL ({how})"
            if result.passed
            else f"{result.failure_count} differences over {result.compared} parameter values ({how})"
        )
        return result

    def check_many(self, chunk: list[tuple[int, dict[str, Any]]]) -> list[list[Failure]]:
        return [self.check(position, params) for position, params in chunk]

    def check(self, position: int, params: dict[str, Any]) -> list[Failure]:
        """One parameter value: the file's answer against SQL, and against DynamoDB's when sampled."""
        failure, got = self._from_file(params)
        if failure is not None:
            return [failure]
        try:
            failures, size = self.runner.compare(params, self.runner.sql_rows(params), got)
        except sqlite3.Error as exc:
            return [Failure("pattern", f"{self.runner.pattern.location}: SQL does not run: {exc}")]
        if position in self.real_at:
            failures += self._real(params)
        else:
            self._note_size(position, params, size)
        return failures

    def _from_file(self, params: dict[str, Any]) -> tuple[Failure | None, Iterator[dict[str, Any]]]:
        try:
            condition = self.runner.key_condition(params)
            items = self.file.query(condition, self.runner.pattern.request.forward)
        except Exception as exc:  # noqa: BLE001 - a key that does not render is this value's failure
            return Failure("pattern", f"params {params}: key condition does not render: {exc}"), iter(())
        return None, self.runner.plain_answer({k: v for k, v in item.items() if k in self.keep} for item in items)

    def _note_size(self, position: int, params: dict[str, Any], size: int) -> None:
        """Keep the values with the largest answers (the earliest on a tie) for real requests at the end."""
        entry = (size, -position, params)  # positions differ: the parameters are never compared
        with self._lock:
            if len(self.largest) < self.largest_n:
                heapq.heappush(self.largest, entry)
            elif self.largest and entry > self.largest[0]:
                heapq.heapreplace(self.largest, entry)

    def _real(self, params: dict[str, Any]) -> list[Failure]:
        """Send the real request: DynamoDB must accept it and give the file's answer, item for item."""
        with self._lock:
            self.real_sent += 1
        try:
            real = self.runner.answer(params)
        except TargetError as exc:
            return [Failure("pattern", f"params {params}: DynamoDB request failed: {exc}")]
        id_name = self.runner.pattern.id_attribute
        ordered = self.runner.pattern.ordered
        try:
            aligned = Aligned(
                _canonical(self._from_file(params)[1], ordered),
                _canonical(real, ordered),
                key=lambda entry: entry[0],
                shown=lambda entry: jsonable(entry[1].get(id_name)),
            )
            for _ in aligned:
                pass
        except TargetError as exc:  # a later page refused
            return [Failure("pattern", f"params {params}: DynamoDB request failed: {exc}")]
        difference = aligned.difference
        if difference is None:
            return []
        label = json.dumps(params, default=jsonable, sort_keys=True)
        return [parted(label, "the real request's answer differs from the index read", id_name, difference)]


def _canonical(answer: Iterable[dict[str, Any]], ordered: bool) -> Iterator[tuple[str, dict[str, Any]]]:
    """Each item with its canonical text, in the answer's order, or in text order for an unordered pattern."""
    texts = ((json.dumps(item, default=jsonable, sort_keys=True), item) for item in answer)
    return texts if ordered else sorted_stream(texts, lambda entry: entry[0])


def _chunks(rows: Iterator[tuple[int, dict[str, Any]]]) -> Iterator[list[tuple[int, dict[str, Any]]]]:
    while chunk := list(islice(rows, CHUNK)):
        yield chunk
