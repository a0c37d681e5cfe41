"""Prove a migration: shape, counts, item by item, access patterns, aggregates, rules.

Every item is rendered again from the source through the same plan and
compared with what DynamoDB holds. In full mode the rendered items go to a
temporary SQLite file on disk and the target table is scanned once, so memory
stays flat however large the table; ``sample``/``sample_pct`` compare a
deterministic sample fetched with BatchGetItem instead.
"""

from __future__ import annotations

import base64
import hashlib
import heapq
import json
import sqlite3
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from engine.commands import opened_plan
from engine.config import Config
from engine.errors import RowError, TargetError, UsageError
from engine.extract import stream_rows
from engine.plan import ItemTypePlan, Plan, TablePlan
from engine.retry import backoff_delay
from engine.spec.model import AccessPatternSpec, AggregateCheckSpec
from engine.target import Target, check_reachable, connect, create_table_request, describe_error, existing_tables
from engine.templates import compile_template
from engine.transform import attach_children, build_item, keep_row
from engine.types import KEY_CONVERTERS, Wire, item_size, number_text, to_python

MAX_FAILURES_KEPT = 50
PATTERN_WORKERS = 4
CHUNK_ROWS = 500


# --------------------------------------------------------------------------- results
@dataclass
class Failure:
    """One difference, with the item key and attribute path where there is one."""

    kind: str
    message: str
    key: Any = None
    path: str | None = None
    expected: Any = None
    actual: Any = None

    def line(self) -> str:
        parts = [self.kind]
        if self.key is not None:
            parts.append(f"key {json.dumps(self.key, default=_plain, sort_keys=True)}")
        if self.path:
            parts.append(f"at {self.path}")
        text = " ".join(parts) + f": {self.message}"
        if self.expected is not None or self.actual is not None:
            text += f" (expected {_short(self.expected)}, found {_short(self.actual)})"
        return text

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "message": self.message,
            "key": self.key,
            "path": self.path,
            "expected": self.expected,
            "actual": self.actual,
        }


@dataclass
class CheckResult:
    name: str
    kind: str
    table: str | None
    compared: int = 0
    summary: str = ""
    failures: list[Failure] = field(default_factory=list)
    failure_count: int = 0
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return self.failure_count == 0

    def fail(self, failure: Failure) -> None:
        self.failure_count += 1
        if len(self.failures) < MAX_FAILURES_KEPT:
            self.failures.append(failure)

    def failure_lines(self, limit: int) -> list[str]:
        lines = [f.line() for f in self.failures[:limit]]
        if self.failure_count > limit:
            lines.append(f"... {self.failure_count - limit} more")
        return lines

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "table": self.table,
            "passed": self.passed,
            "compared": self.compared,
            "summary": self.summary,
            "failure_count": self.failure_count,
            "failures": [f.to_json() for f in self.failures],
            "seconds": round(self.seconds, 3),
        }


@dataclass
class ValidationResult:
    checks: list[CheckResult]
    started_at: str
    finished_at: str
    seconds: float
    source: dict[str, Any]
    mapping: dict[str, Any]
    target: dict[str, Any]
    mode: str

    @property
    def failed_count(self) -> int:
        return sum(1 for c in self.checks if not c.passed)

    @property
    def passed(self) -> bool:
        return self.failed_count == 0

    def to_json(self) -> dict[str, Any]:
        return {
            "result": "pass" if self.passed else "fail",
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "seconds": round(self.seconds, 3),
            "mode": self.mode,
            "source": self.source,
            "mapping": self.mapping,
            "target": self.target,
            "summary": {
                "checks": len(self.checks),
                "passed": len(self.checks) - self.failed_count,
                "failed": self.failed_count,
            },
            "checks": [c.to_json() for c in self.checks],
        }


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else str(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    return str(value)


def _short(value: Any, limit: int = 80) -> str:
    text = json.dumps(value, default=_plain, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# --------------------------------------------------------------------------- canonical values
def canonical(wire: Wire) -> Any:
    """A JSON-able form in which equal DynamoDB values are equal (numbers normalised)."""
    ((kind, value),) = wire.items()
    if kind == "N":
        return {"N": _norm_number(value)}
    if kind == "B":
        return {"B": base64.b64encode(bytes(value)).decode()}
    if kind == "M":
        return {"M": {k: canonical(v) for k, v in value.items()}}
    if kind == "L":
        return {"L": [canonical(v) for v in value]}
    if kind in ("SS", "NS", "BS"):
        items = [_norm_number(v) for v in value] if kind == "NS" else list(value)
        return {kind: sorted(str(i) for i in items)}
    return {kind: value}


def _norm_number(text: str) -> str:
    number = Decimal(text)
    return (
        "0"
        if number.is_zero()
        else format(number.normalize(), "f")
        if abs(number.adjusted()) < 40
        else str(number.normalize())
    )


def canonical_item(item: dict[str, Wire]) -> str:
    return json.dumps({k: canonical(v) for k, v in item.items()}, sort_keys=True, ensure_ascii=False)


def diff(expected: Any, actual: Any, path: str = "") -> Iterator[tuple[str, Any, Any]]:
    """Paths where two canonical values differ, e.g. ``Tracks[3].UnitPrice``."""
    if isinstance(expected, dict) and isinstance(actual, dict) and len(expected) == 1 == len(actual):
        (ek, ev), (ak, av) = next(iter(expected.items())), next(iter(actual.items()))
        if ek == ak == "M":
            for name in sorted(set(ev) | set(av)):
                sub = f"{path}.{name}" if path else name
                if name not in av:
                    yield sub, _show(ev[name]), None
                elif name not in ev:
                    yield sub, None, _show(av[name])
                else:
                    yield from diff(ev[name], av[name], sub)
            return
        if ek == ak == "L":
            for i in range(max(len(ev), len(av))):
                sub = f"{path}[{i}]"
                if i >= len(av):
                    yield sub, _show(ev[i]), None
                elif i >= len(ev):
                    yield sub, None, _show(av[i])
                else:
                    yield from diff(ev[i], av[i], sub)
            return
    if expected != actual:
        if _tag(expected) != _tag(actual) and None not in (_tag(expected), _tag(actual)):
            yield (
                path,
                f"{_short(_show(expected))} (type {_tag(expected)})",
                f"{_short(_show(actual))} (type {_tag(actual)})",
            )
        else:
            yield path, _show(expected), _show(actual)


def _tag(value: Any) -> str | None:
    """The DynamoDB type of a canonical value (N, S, M, ...)."""
    return next(iter(value)) if isinstance(value, dict) and len(value) == 1 else None


def _show(value: Any) -> Any:
    """Canonical value -> plain value for reports."""
    if not isinstance(value, dict) or len(value) != 1:
        return value
    ((kind, inner),) = value.items()
    if kind == "M":
        return {k: _show(v) for k, v in inner.items()}
    if kind == "L":
        return [_show(v) for v in inner]
    return inner


def diff_items(expected: dict[str, Wire], actual: dict[str, Wire]) -> list[tuple[str, Any, Any]]:
    left = {"M": {k: canonical(v) for k, v in expected.items()}}
    right = {"M": {k: canonical(v) for k, v in actual.items()}}
    return list(diff(left, right))


def plain_value(value: Any) -> Any:
    """SQL or DynamoDB value -> comparable value (numbers as Decimal)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float | Decimal):
        return Decimal(number_text(value)).normalize() if value != 0 else Decimal(0)
    return value


# --------------------------------------------------------------------------- entry point
def run(
    config: Config,
    table: str | None = None,
    checks: Sequence[str] = (),
    sample: int | None = None,
    sample_pct: float | None = None,
) -> ValidationResult:
    """Run every check (or those named) and return the result; TargetError when it cannot run."""
    started, t0 = _now(), time.monotonic()
    with opened_plan(config) as (plan, conn), connect(config) as target:
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
        validator = _Validator(plan, conn, target, wanted, sample, sample_pct)
        for table_plan in tables:
            validator.shape(table_plan, described[table_plan.name] or {})
            validator.table_pass(table_plan)
        validator.patterns({t.spec.name for t in tables})
    source = Path(config.source_db)
    return ValidationResult(
        checks=validator.results,
        started_at=started,
        finished_at=_now(),
        seconds=time.monotonic() - t0,
        source={"path": str(source), "size": source.stat().st_size, "sha256": _sha256(source)},
        mapping={
            "path": plan.mapping.directory,
            "digest": plan.mapping.digest,
            "files": [{"file": f, "sha256": d} for f, d in plan.mapping.file_digests],
        },
        target={"endpoint": target.endpoint, "kind": target.kind, "table_prefix": plan.table_prefix},
        mode="full"
        if sample is None and sample_pct is None
        else f"sample {sample or ''}{f'{sample_pct}%' if sample_pct else ''}",
    )


def check_names(plan: Plan, tables: Sequence[TablePlan]) -> list[str]:
    """Every check validate would run on these tables, by name."""
    names: list[str] = []
    logical = {t.spec.name for t in tables}
    for table in tables:
        items = [i for i in plan.item_types if i.table.spec.name == table.spec.name]
        names += [f"shape:{table.config_name}", f"count:{table.config_name}", f"items:{table.config_name}"]
        names += [f"count:{i.name}" for i in items] + [f"rule:{c.name}" for i in items for c in i.spec.checks]
        item_names = {i.name for i in items}
        names += [f"aggregate:{a.name}" for a in plan.mapping.aggregate_checks if a.item_type in item_names]
    names += [f"pattern:{p.name}" for p in plan.mapping.access_patterns if p.request.table in logical]
    return names


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


# --------------------------------------------------------------------------- the checks
class _Validator:
    def __init__(
        self,
        plan: Plan,
        conn: sqlite3.Connection,
        target: Target,
        wanted: Callable[[str], bool],
        sample: int | None,
        sample_pct: float | None,
    ) -> None:
        self.plan = plan
        self.conn = conn
        self.target = target
        self.wanted = wanted
        self.sample = sample
        self.sample_pct = sample_pct
        self.results: list[CheckResult] = []
        conn.create_function("py_lower", 1, lambda s: s.lower() if isinstance(s, str) else s, deterministic=True)

    @property
    def sampling(self) -> bool:
        return self.sample is not None or self.sample_pct is not None

    def _add(self, result: CheckResult, started: float) -> None:
        result.seconds = time.monotonic() - started
        if not result.summary:
            result.summary = "ok" if result.passed else f"{result.failure_count} failure(s)"
        self.results.append(result)

    # -- shape -----------------------------------------------------------------
    def shape(self, table: TablePlan, described: dict[str, Any]) -> None:
        name = f"shape:{table.config_name}"
        if not self.wanted(name):
            return
        t0 = time.monotonic()
        result = CheckResult(name, "shape", table.name, compared=1)
        for problem in shape_drift(table, described):
            result.fail(Failure("drift", problem))
        result.summary = "key schema and indexes as declared" if result.passed else "table differs from the mapping"
        self._add(result, t0)

    # -- one pass over a table ---------------------------------------------------
    def table_pass(self, table: TablePlan) -> None:
        items = [i for i in self.plan.item_types if i.table.spec.name == table.spec.name]
        names = [f"count:{table.config_name}", f"items:{table.config_name}"]
        names += [f"count:{i.name}" for i in items] + [f"rule:{c.name}" for i in items for c in i.spec.checks]
        names += [
            f"aggregate:{a.name}"
            for a in self.plan.mapping.aggregate_checks
            if any(i.name == a.item_type for i in items)
        ]
        if not any(self.wanted(n) for n in names):
            return
        t0 = time.monotonic()
        counts = {i.name: CheckResult(f"count:{i.name}", "count", table.name) for i in items}
        total = CheckResult(f"count:{table.config_name}", "count", table.name)
        compare = CheckResult(f"items:{table.config_name}", "items", table.name)
        rules = {
            (i.name, c.name): (c, CheckResult(f"rule:{c.name}", "rule", table.name))
            for i in items
            for c in i.spec.checks
        }
        aggregates = [
            (spec, CheckResult(f"aggregate:{spec.name}", "aggregate", table.name))
            for spec in self.plan.mapping.aggregate_checks
            if any(i.name == spec.item_type for i in items)
        ]
        markers = {i.spec.marker for i in items}
        by_marker = {(i.spec.marker, i.spec.marker_value()): i for i in items}
        tally = {i.name: 0 for i in items}
        aggregate_values: dict[str, list[Decimal]] = {spec.name: [] for spec, _ in aggregates}
        keys = list(table.spec.primary_key_names)
        do_items = self.wanted(compare.name)

        with _RenderedStore() as store:
            expected = {i.name: 0 for i in items}
            for item in items:
                for rendered in self._render(item, compare if do_items else None):
                    expected[item.name] += 1
                    if do_items:
                        store.add(_key_of(rendered, keys), item.name, rendered)
                if self.sampling:
                    expected[item.name] = self._rows_written(item)
            for key, first, second in store.duplicates:
                compare.fail(
                    Failure(
                        "duplicate",
                        f"a {second} row renders the same key as a {first} row: the table keeps only the last written",
                        key=key,
                    )
                )
            sampled_keys = store.keys() if do_items and self.sampling else None
            scanned = 0
            for stored in self._scan(table, None):
                scanned += 1
                item_type = _type_of(stored, markers, by_marker)
                if item_type is not None:
                    tally[item_type.name] += 1
                    self._apply_rules(item_type, stored, rules, keys)
                    self._collect_aggregates(item_type, stored, aggregates, aggregate_values)
                if do_items and not self.sampling:
                    self._compare_stored(store, stored, keys, compare)
            if do_items and sampled_keys is not None:
                self._compare_sample(table, store, sampled_keys, keys, compare)
            if do_items and not self.sampling:
                for key, item_name in store.unseen():
                    compare.fail(Failure("missing", f"{item_name} item is not in the table", key=key))
            compare.compared = store.count
        for item in items:
            result = counts[item.name]
            result.compared = expected[item.name]
            if tally[item.name] != expected[item.name]:
                result.fail(
                    Failure(
                        "count",
                        f"{item.name}: {tally[item.name]} items in the table, source gives {expected[item.name]}",
                        expected=expected[item.name],
                        actual=tally[item.name],
                    )
                )
            result.summary = f"{tally[item.name]} of {expected[item.name]}"
            if self.wanted(result.name):
                self._add(result, t0)
        total.compared = sum(expected.values())
        if scanned != total.compared:
            total.fail(
                Failure(
                    "count",
                    f"table holds {scanned} items, the plan writes {total.compared}",
                    expected=total.compared,
                    actual=scanned,
                )
            )
        total.summary = f"{scanned} of {total.compared} (whole table)"
        if self.wanted(total.name):
            self._add(total, t0)
        if do_items:
            compare.summary = (
                f"{compare.compared} items rendered and compared"
                if not self.sampling
                else f"{compare.compared} sampled items compared"
            ) + ("" if compare.passed else f"; {compare.failure_count} differences")
            self._add(compare, t0)
        for spec, result in rules.values():
            if self.wanted(result.name):
                result.compared = tally.get(next(i for i in items if spec in i.spec.checks).name, 0)
                self._add(result, t0)
        for spec, result in aggregates:
            if self.wanted(result.name):
                self._finish_aggregate(spec, result, aggregate_values[spec.name])
                self._add(result, t0)

    def _render(self, item: ItemTypePlan, compare: CheckResult | None) -> Iterator[dict[str, Wire]]:
        """The items the plan writes for this item type (all, or the sample)."""
        chosen = self._sampler(item)
        rows = stream_rows(self.conn, item.spec.query, item.spec.cursor)
        while True:
            chunk = [row for _, row in zip(range(CHUNK_ROWS), rows)]
            if not chunk:
                return
            kept = []
            for row in chunk:
                try:
                    if chosen(row) and keep_row(item, row):
                        kept.append(row)
                except RowError as error:
                    if compare is not None:
                        compare.fail(Failure("unrenderable", str(error)))
            attach_children(self.conn, item.embeds, kept)
            for row in kept:
                try:
                    yield build_item(item, row)
                except RowError as error:
                    if compare is not None:
                        compare.fail(Failure("unrenderable", str(error)))

    def _rows_written(self, item: ItemTypePlan) -> int:
        """How many items the plan writes for this type: its rows that pass the filter."""
        if item.filter is None:
            return item.expected_rows
        count = 0
        for row in stream_rows(self.conn, item.spec.query, item.spec.cursor):
            try:
                count += bool(keep_row(item, row))
            except RowError:
                pass
        return count

    def _sampler(self, item: ItemTypePlan) -> Callable[[dict[str, Any]], bool]:
        """Which rows the sample takes: deterministic, by a well-mixed hash of the cursor.

        ``--sample N`` takes the N rows with the smallest hashes (one extra pass over
        the cursor values, holding N hashes); ``--sample-pct P`` takes the rows whose
        hash falls in the first P percent.
        """
        if self.sample_pct is not None:
            limit = int(max(0.0, min(100.0, self.sample_pct)) / 100 * 2**64)
            return lambda row: _cursor_hash(item, row) < limit
        if self.sample is None or item.expected_rows <= self.sample:
            return lambda row: True
        smallest = heapq.nsmallest(
            self.sample, (_cursor_hash(item, row) for row in stream_rows(self.conn, item.spec.query, item.spec.cursor))
        )
        threshold = smallest[-1] if smallest else -1
        return lambda row: _cursor_hash(item, row) <= threshold

    def _scan(self, table: TablePlan, projection: list[str] | None) -> Iterator[dict[str, Wire]]:
        kwargs: dict[str, Any] = {"TableName": table.name}
        start = None
        while True:
            if start:
                kwargs["ExclusiveStartKey"] = start
            page = self.target.call("scan", f"scanning {table.name}", **kwargs)
            yield from page.get("Items", [])
            start = page.get("LastEvaluatedKey")
            if not start:
                return

    def _compare_stored(
        self, store: _RenderedStore, stored: dict[str, Wire], keys: list[str], result: CheckResult
    ) -> None:
        key = _key_of(stored, keys)
        found = store.take(key)
        if found is None:
            marker = next((to_python(stored[m]) for m in ("Entity",) if m in stored), None)
            result.fail(
                Failure(
                    "extra",
                    f"item in the table that the plan does not produce{f' ({marker})' if marker else ''}",
                    key=key,
                )
            )
            return
        item_name, rendered_text = found
        if rendered_text == canonical_item(stored):
            return
        rendered = json.loads(rendered_text)
        for path, expected, actual in diff({"M": rendered}, {"M": json.loads(canonical_item(stored))}):
            result.fail(
                Failure(
                    "differs", f"{item_name} attribute differs", key=key, path=path, expected=expected, actual=actual
                )
            )

    def _compare_sample(
        self, table: TablePlan, store: _RenderedStore, wanted: list[Any], keys: list[str], result: CheckResult
    ) -> None:
        for start in range(0, len(wanted), 100):
            chunk = wanted[start : start + 100]
            request = {table.name: {"Keys": [_wire_key(k, keys, table) for k in chunk], "ConsistentRead": True}}
            found: dict[str, dict[str, Wire]] = {}
            for stored in batch_get(self.target, table.name, request, f"reading {table.name}"):
                found[json.dumps(_key_of(stored, keys), default=_plain, sort_keys=True)] = stored
            for key in chunk:
                stored = found.get(json.dumps(key, default=_plain, sort_keys=True))
                if stored is None:
                    name = store.type_of(key)
                    result.fail(Failure("missing", f"{name} item is not in the table", key=key))
                else:
                    self._compare_stored(store, stored, keys, result)

    def _apply_rules(self, item: ItemTypePlan, stored: dict[str, Wire], rules: dict[Any, Any], keys: list[str]) -> None:
        for check in item.spec.checks:
            _, result = rules[(item.name, check.name)]
            if check.kind == "attribute_present" and check.attribute not in stored:
                result.fail(
                    Failure(
                        "rule",
                        f"{item.name} item lacks attribute {check.attribute}",
                        key=_key_of(stored, keys),
                        path=check.attribute,
                    )
                )
            elif check.kind == "max_item_kb" and check.value is not None:
                size = item_size(stored)
                if size > check.value * 1024:
                    result.fail(
                        Failure(
                            "rule",
                            f"{item.name} item is {size} bytes, over {check.value} KB",
                            key=_key_of(stored, keys),
                        )
                    )

    def _collect_aggregates(
        self, item: ItemTypePlan, stored: dict[str, Wire], aggregates: list[Any], values: dict[str, list[Decimal]]
    ) -> None:
        for spec, _ in aggregates:
            if spec.item_type != item.name:
                continue
            if spec.fn == "count":
                values[spec.name].append(Decimal(1))
            elif spec.attribute in stored and "N" in stored[spec.attribute]:
                values[spec.name].append(Decimal(stored[spec.attribute]["N"]))

    def _finish_aggregate(self, spec: AggregateCheckSpec, result: CheckResult, values: list[Decimal]) -> None:
        try:
            sql_value = self.conn.execute(spec.sql).fetchone()[0]
        except sqlite3.Error as exc:
            result.fail(Failure("aggregate", f"{spec.location}: SQL does not run: {exc}"))
            return
        if spec.fn in ("count", "sum"):
            actual: Decimal | None = sum(values, Decimal(0))
        else:
            actual = (min(values) if spec.fn == "min" else max(values)) if values else None
        expected = plain_value(sql_value) if sql_value is not None else None
        result.compared = len(values)
        actual_norm = plain_value(actual) if actual is not None else None
        result.summary = f"SQL {_plain(expected) if expected is not None else 'NULL'} = DynamoDB {spec.fn}({spec.attribute or '*'}) {_plain(actual_norm) if actual_norm is not None else 'none'}"
        if expected != actual_norm:
            result.fail(
                Failure(
                    "aggregate",
                    f"{spec.fn} of {spec.item_type}.{spec.attribute or '*'} differs from the SQL",
                    path=spec.attribute,
                    expected=_plain(expected),
                    actual=_plain(actual_norm),
                )
            )

    # -- access patterns ---------------------------------------------------------
    def patterns(self, table_names: set[str]) -> None:
        lock = threading.Lock()
        for pattern in self.plan.mapping.access_patterns:
            name = f"pattern:{pattern.name}"
            if pattern.request.table not in table_names or not self.wanted(name):
                continue
            t0 = time.monotonic()
            result = CheckResult(name, "access_pattern", self.plan.table_prefix + pattern.request.table)
            runner = _PatternRunner(pattern, self.plan, self.conn, self.target, lock)
            try:
                params = runner.params(self.sample, self.sample_pct)
            except sqlite3.Error as exc:
                result.fail(Failure("pattern", f"{pattern.location}: params SQL does not run: {exc}"))
                self._add(result, t0)
                continue
            chunks = [params[i : i + 100] for i in range(0, len(params), 100)]
            with ThreadPoolExecutor(PATTERN_WORKERS) as pool:
                for outcome in pool.map(runner.check_many, chunks):
                    for failures in outcome:
                        result.compared += 1
                        for failure in failures:
                            result.fail(failure)
            result.summary = (
                f"{result.compared} parameter values, answers equal to SQL"
                if result.passed
                else (f"{result.failure_count} differences over {result.compared} parameter values")
            )
            self._add(result, t0)


class _PatternRunner:
    """Runs one access pattern for one parameter row on both sides and compares."""

    def __init__(
        self, pattern: AccessPatternSpec, plan: Plan, conn: sqlite3.Connection, target: Target, lock: threading.Lock
    ) -> None:
        self.pattern = pattern
        self.conn = conn
        self.target = target
        self.lock = lock
        request = pattern.request
        table = plan.table(request.table)
        self.table_name = table.name
        key_source = table.spec.index(request.index) if request.index else table.spec
        assert key_source is not None
        self.partition_name = key_source.partition_key.name
        self.sort_name = key_source.sort_key.name if key_source.sort_key else None
        self.get = [(name, compile_template(t)) for name, t in request.get] if request.get else None
        self.partition = compile_template(request.partition) if request.partition else None
        self.sort = [compile_template(t) for t in request.sort.templates] if request.sort else []
        types = table.spec.all_key_attributes()
        self.convert = {name: KEY_CONVERTERS[key.type] for name, key in types.items()}

    def params(self, sample: int | None, sample_pct: float | None) -> list[dict[str, Any]]:
        cursor = self.conn.execute(self.pattern.params)
        names = [d[0] for d in cursor.description]
        rows = [dict(zip(names, values)) for values in cursor]
        limit = (
            self.pattern.sample
            if sample is None and sample_pct is None
            else (sample if sample is not None else max(1, int(len(rows) * (sample_pct or 100) / 100)))
        )
        if limit and len(rows) > limit:
            step = len(rows) / limit
            rows = [rows[int(i * step)] for i in range(limit)]
        return rows

    def check_many(self, chunk: list[dict[str, Any]]) -> list[list[Failure]]:
        """Check a chunk of parameter rows; GetItem patterns fetch the chunk in one BatchGetItem."""
        prefetched: dict[str, dict[str, Wire] | None] | None = None
        if self.get is not None:
            try:
                prefetched = self._batch_get(chunk)
            except TargetError as exc:
                return [[Failure("pattern", f"params {p}: DynamoDB request failed: {exc}")] for p in chunk]
        return [self.check(params, prefetched) for params in chunk]

    def check(self, params: dict[str, Any], prefetched: dict[str, Any] | None = None) -> list[Failure]:
        try:
            got = self._dynamodb(params, prefetched)
        except TargetError as exc:
            return [Failure("pattern", f"params {params}: DynamoDB request failed: {exc}")]
        try:
            with self.lock:
                cursor = self.conn.execute(self.pattern.sql, params)
                names = [d[0] for d in cursor.description]
                want = [dict(zip(names, values)) for values in cursor]
        except sqlite3.Error as exc:
            return [Failure("pattern", f"{self.pattern.location}: SQL does not run: {exc}")]
        return list(self._compare(params, want, got))

    def _get_key(self, params: dict[str, Any]) -> dict[str, Wire]:
        assert self.get is not None
        return {name: self.convert[name](template.render(params)) for name, template in self.get}

    def _batch_get(self, chunk: list[dict[str, Any]]) -> dict[str, dict[str, Wire] | None]:
        keys = {json.dumps(self._get_key(p), sort_keys=True, default=_plain): self._get_key(p) for p in chunk}
        found: dict[str, dict[str, Wire] | None] = dict.fromkeys(keys)
        names = [name for name, _ in self.get or ()]
        request: dict[str, Any] = {self.table_name: {"Keys": list(keys.values()), "ConsistentRead": True}}
        for item in batch_get(self.target, self.table_name, request, f"access pattern {self.pattern.name}"):
            found[json.dumps({n: item[n] for n in names}, sort_keys=True, default=_plain)] = item
        return found

    def _dynamodb(self, params: dict[str, Any], prefetched: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        action = f"access pattern {self.pattern.name}"
        try:
            if self.get is not None:
                key = self._get_key(params)
                if prefetched is not None:
                    stored = prefetched.get(json.dumps(key, sort_keys=True, default=_plain))
                    items = [stored] if stored else []
                else:
                    response = self.target.call(
                        "get_item", action, TableName=self.table_name, Key=key, ConsistentRead=True
                    )
                    items = [response["Item"]] if "Item" in response else []
            else:
                items = list(self._query(params))
        except TargetError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise describe_error(exc, action, self.target) from None
        plain = [{k: to_python(v) for k, v in item.items()} for item in items]
        expand = self.pattern.request.expand
        if expand:  # a list of maps, or one map (an embed with one: true)
            values = [item.get(expand, []) for item in plain]
            return [element for value in values for element in (value if isinstance(value, list) else [value])]
        return plain

    def _query(self, params: dict[str, Any]) -> Iterator[dict[str, Wire]]:
        assert self.partition is not None
        values: dict[str, Any] = {":pk": self.convert[self.partition_name](self.partition.render(params))}
        condition = "#pk = :pk"
        names = {"#pk": self.partition_name}
        sort = self.pattern.request.sort
        if sort and self.sort_name:
            names["#sk"] = self.sort_name
            rendered = [t.render(params) for t in self.sort]
            for i, text in enumerate(rendered):
                values[f":sk{i}"] = self.convert[self.sort_name](text)
            condition += {
                "eq": " AND #sk = :sk0",
                "begins_with": " AND begins_with(#sk, :sk0)",
                "lt": " AND #sk < :sk0",
                "le": " AND #sk <= :sk0",
                "gt": " AND #sk > :sk0",
                "ge": " AND #sk >= :sk0",
                "between": " AND #sk BETWEEN :sk0 AND :sk1",
            }[sort.op]
        kwargs: dict[str, Any] = {
            "TableName": self.table_name,
            "KeyConditionExpression": condition,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
            "ScanIndexForward": self.pattern.request.forward,
        }
        if self.pattern.request.index:
            kwargs["IndexName"] = self.pattern.request.index
        else:
            kwargs["ConsistentRead"] = True
        while True:
            page = self.target.call("query", f"access pattern {self.pattern.name}", **kwargs)
            yield from page.get("Items", [])
            if not page.get("LastEvaluatedKey"):
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def _compare(
        self, params: dict[str, Any], want: list[dict[str, Any]], got: list[dict[str, Any]]
    ) -> Iterator[Failure]:
        id_name = self.pattern.id_attribute
        label = json.dumps(params, default=_plain, sort_keys=True)
        want_ids = [plain_value(r.get(id_name)) for r in want]
        got_ids = [plain_value(r.get(id_name)) for r in got]
        if not self.pattern.ordered:
            order = sorted(range(len(want)), key=lambda i: str(want_ids[i]))
            want, want_ids = [want[i] for i in order], [want_ids[i] for i in order]
            order = sorted(range(len(got)), key=lambda i: str(got_ids[i]))
            got, got_ids = [got[i] for i in order], [got_ids[i] for i in order]
        if want_ids != got_ids:
            yield Failure(
                "pattern",
                f"params {label}: {id_name} values differ from SQL",
                path=id_name,
                expected=[_plain(i) for i in want_ids][:20],
                actual=[_plain(i) for i in got_ids][:20],
            )
            return
        for row, item in zip(want, got):
            for attribute in self.pattern.attributes:
                expected, actual = plain_value(row.get(attribute)), plain_value(_at_path(item, attribute))
                if expected != actual:
                    yield Failure(
                        "pattern",
                        f"params {label}: {id_name} {_plain(got_ids[0]) if got_ids else ''}".strip()
                        + ": attribute differs from SQL",
                        key={id_name: _plain(plain_value(row.get(id_name)))},
                        path=attribute,
                        expected=_plain(expected) if expected is not None else None,
                        actual=_plain(actual) if actual is not None else None,
                    )


# --------------------------------------------------------------------------- helpers
def batch_get(target: Target, table: str, request: dict[str, Any], action: str) -> Iterator[dict[str, Wire]]:
    """The items of one BatchGetItem request, asking again for UnprocessedKeys after a backoff."""
    attempt = 0
    while request:
        response = target.call("batch_get_item", action, RequestItems=request)
        yield from response.get("Responses", {}).get(table, [])
        request = response.get("UnprocessedKeys") or {}
        if request:
            if attempt >= target.retry.max_retries:
                raise TargetError(f"{action}: DynamoDB left keys unprocessed after {attempt} retries")
            attempt += 1
            time.sleep(backoff_delay(attempt, target.retry.delay))


def _at_path(item: dict[str, Any], path: str) -> Any:
    """``SupportRep.FirstName`` -> the nested value, or None."""
    value: Any = item
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def shape_drift(table: TablePlan, described: dict[str, Any]) -> list[str]:
    """Differences between the declared table and what DescribeTable reports."""
    wanted = create_table_request(table)
    problems = []
    if described.get("KeySchema") != wanted["KeySchema"]:
        problems.append(
            f"{table.name}: key schema is {described.get('KeySchema')}, mapping declares {wanted['KeySchema']}"
        )
    types = {d["AttributeName"]: d["AttributeType"] for d in described.get("AttributeDefinitions", [])}
    for definition in wanted["AttributeDefinitions"]:
        if types.get(definition["AttributeName"]) != definition["AttributeType"]:
            problems.append(
                f"{table.name}: attribute {definition['AttributeName']} is {types.get(definition['AttributeName'])}, "
                f"mapping declares {definition['AttributeType']}"
            )
    have = {g["IndexName"]: g for g in described.get("GlobalSecondaryIndexes", [])}
    for gsi in wanted.get("GlobalSecondaryIndexes", []):
        actual = have.pop(gsi["IndexName"], None)
        if actual is None:
            problems.append(f"{table.name}: index {gsi['IndexName']} is missing")
            continue
        if actual.get("KeySchema") != gsi["KeySchema"]:
            problems.append(
                f"{table.name}: index {gsi['IndexName']} key schema is {actual.get('KeySchema')}, mapping declares {gsi['KeySchema']}"
            )
        projection = actual.get("Projection", {})
        if projection.get("ProjectionType") != gsi["Projection"]["ProjectionType"] or sorted(
            projection.get("NonKeyAttributes", [])
        ) != sorted(gsi["Projection"].get("NonKeyAttributes", [])):
            problems.append(
                f"{table.name}: index {gsi['IndexName']} projection is {projection}, mapping declares {gsi['Projection']}"
            )
    for extra in have:
        problems.append(f"{table.name}: index {extra} exists but is not in the mapping")
    return problems


def _key_of(item: dict[str, Wire], keys: list[str]) -> dict[str, Any]:
    return {k: _plain(to_python(item[k])) if k in item else None for k in keys}


def _wire_key(key: dict[str, Any], keys: list[str], table: TablePlan) -> dict[str, Wire]:
    types = {k.name: k.type for k in table.spec.key_attributes}
    out: dict[str, Wire] = {}
    for name in keys:
        kind = types[name]
        value = key[name]
        out[name] = (
            {"S": value} if kind == "S" else ({"N": str(value)} if kind == "N" else {"B": base64.b64decode(value)})
        )
    return out


def _type_of(item: dict[str, Wire], markers: Iterable[str], by_marker: dict[Any, ItemTypePlan]) -> ItemTypePlan | None:
    for marker in markers:
        value = item.get(marker)
        if value and "S" in value:
            found = by_marker.get((marker, value["S"]))
            if found:
                return found
    return None


def _cursor_hash(item: ItemTypePlan, row: dict[str, Any]) -> int:
    text = json.dumps([row[c] for c in item.spec.cursor], default=str)
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")


class _RenderedStore:
    """Rendered items on disk (a temporary SQLite file), keyed by primary key."""

    def __init__(self) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="validate-")
        self.db = sqlite3.connect(Path(self._dir.name) / "rendered.db")
        self.db.execute("PRAGMA journal_mode=OFF")
        self.db.execute("PRAGMA synchronous=OFF")
        self.db.execute("CREATE TABLE rendered (k TEXT PRIMARY KEY, t TEXT, item TEXT, seen INTEGER DEFAULT 0)")
        self.count = 0
        self.duplicates: list[tuple[dict[str, Any], str, str]] = []  # key, first item type, second

    def __enter__(self) -> _RenderedStore:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.db.close()
        self._dir.cleanup()

    def add(self, key: dict[str, Any], item_type: str, item: dict[str, Wire]) -> None:
        text = json.dumps(key, default=_plain, sort_keys=True)
        try:
            self.db.execute(
                "INSERT INTO rendered (k, t, item) VALUES (?, ?, ?)", (text, item_type, canonical_item(item))
            )
            self.count += 1
        except sqlite3.IntegrityError:
            self.duplicates.append((key, self.type_of(key), item_type))

    def take(self, key: dict[str, Any]) -> tuple[str, str] | None:
        text = json.dumps(key, default=_plain, sort_keys=True)
        row = self.db.execute("SELECT t, item FROM rendered WHERE k = ?", (text,)).fetchone()
        if row is not None:
            self.db.execute("UPDATE rendered SET seen = 1 WHERE k = ?", (text,))
        return row

    def type_of(self, key: dict[str, Any]) -> str:
        row = self.db.execute(
            "SELECT t FROM rendered WHERE k = ?", (json.dumps(key, default=_plain, sort_keys=True),)
        ).fetchone()
        return row[0] if row else "?"

    def keys(self) -> list[dict[str, Any]]:
        return [json.loads(k) for (k,) in self.db.execute("SELECT k FROM rendered ORDER BY k")]

    def unseen(self) -> Iterator[tuple[dict[str, Any], str]]:
        for key, item_type in self.db.execute("SELECT k, t FROM rendered WHERE seen = 0 ORDER BY k"):
            yield json.loads(key), item_type


# --------------------------------------------------------------------------- reports
def write_reports(result: ValidationResult, path: str) -> list[Path]:
    """Write the report named by ``path`` (.json, .md or .html); a JSON copy goes beside a .md/.html."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    written = []
    document = result.to_json()
    if target.suffix == ".json":
        target.write_text(json.dumps(document, indent=2, default=_plain), encoding="utf-8")
        return [target]
    json_path = target.with_suffix(".json")
    json_path.write_text(json.dumps(document, indent=2, default=_plain), encoding="utf-8")
    written.append(json_path)
    if target.suffix == ".html":
        target.write_text(_html(document), encoding="utf-8")
    else:
        target.write_text(_markdown(document), encoding="utf-8")
    written.append(target)
    return written


def _markdown(doc: dict[str, Any]) -> str:
    lines = [
        "# Migration validation report",
        "",
        f"**Result: {doc['result'].upper()}**: {doc['summary']['passed']} of {doc['summary']['checks']} checks passed"
        f" ({doc['mode']} comparison, {doc['seconds']} s).",
        "",
        "| | |",
        "|---|---|",
        f"| Started | {doc['started_at']} |",
        f"| Finished | {doc['finished_at']} |",
        f"| Source | `{doc['source']['path']}`, {doc['source']['size']} bytes, SHA-256 `{doc['source']['sha256']}` |",
        f"| Mapping set | `{doc['mapping']['path']}`, digest `{doc['mapping']['digest']}` |",
        f"| Target | {doc['target']['endpoint']}, table prefix `{doc['target']['table_prefix']}` |",
        "",
        "Mapping files:",
        "",
        *[f"- `{f['file']}` SHA-256 `{f['sha256']}`" for f in doc["mapping"]["files"]],
        "",
        "## Checks",
        "",
        "| Check | Result | Compared | Summary |",
        "|---|---|---|---|",
    ]
    for check in doc["checks"]:
        mark = "pass" if check["passed"] else "**FAIL**"
        lines.append(f"| `{check['name']}` | {mark} | {check['compared']} | {check['summary'].replace('|', '/')} |")
    failed = [c for c in doc["checks"] if not c["passed"]]
    if failed:
        lines += ["", "## Failures", ""]
        for check in failed:
            lines += [f"### `{check['name']}` ({check['failure_count']} failures)", ""]
            for failure in check["failures"]:
                where = f" key `{json.dumps(failure['key'], default=_plain)}`" if failure["key"] is not None else ""
                path = f" at `{failure['path']}`" if failure["path"] else ""
                values = ""
                if failure["expected"] is not None or failure["actual"] is not None:
                    values = (
                        f": expected `{_short(failure['expected'], 200)}`, found `{_short(failure['actual'], 200)}`"
                    )
                lines.append(f"- {failure['kind']}{where}{path}: {failure['message']}{values}")
            if check["failure_count"] > len(check["failures"]):
                lines.append(f"- ... and {check['failure_count'] - len(check['failures'])} more (see the JSON report)")
            lines.append("")
    return "\n".join(lines) + "\n"


def _html(doc: dict[str, Any]) -> str:
    import html

    body = html.escape(_markdown(doc))
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>Migration validation report</title>"
        "<style>body{font-family:sans-serif;max-width:70em;margin:2em auto}pre{white-space:pre-wrap}</style></head>"
        f"<body><pre>{body}</pre></body></html>\n"
    )
