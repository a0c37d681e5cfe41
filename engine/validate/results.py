"""What validation returns: failures, one result per check, the whole run."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from sqlite2ddb.canonical import jsonable, short

MAX_FAILURES_KEPT = 50


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
            parts.append(f"key {json.dumps(self.key, default=jsonable, sort_keys=True)}")
        if self.path:
            parts.append(f"at {self.path}")
        text = " ".join(parts) + f": {self.message}"
        if self.expected is not None or self.actual is not None:
            text += f" (expected {short(self.expected)}, found {short(self.actual)})"
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
    """One check's outcome: ``pass``, ``fail``, or ``empty`` (it found nothing wrong but compared nothing).

    ``compares_values`` marks checks whose ``compared`` counts values set side
    by side (items, rule subjects, parameter values, aggregated values): with
    none compared they prove nothing. A count check that finds 0 where the
    source says 0 did compare, and passes. ``available`` is how many values
    exist when the check compared a sample of them (None: it compared all).
    """

    name: str
    kind: str
    table: str | None
    compared: int = 0
    summary: str = ""
    failures: list[Failure] = field(default_factory=list)
    failure_count: int = 0
    seconds: float = 0.0
    read_units: float = 0.0
    compares_values: bool = False
    available: int | None = None

    @property
    def passed(self) -> bool:
        """No failure found (an empty check too: see ``status``)."""
        return self.failure_count == 0

    @property
    def empty(self) -> bool:
        return self.passed and self.compares_values and self.compared == 0

    @property
    def status(self) -> str:
        return "fail" if not self.passed else "empty" if self.empty else "pass"

    @property
    def compared_text(self) -> str:
        """``500 of 6,819`` for a sample, else the number compared."""
        if self.available is None:
            return str(self.compared)
        return f"{self.compared:,} of {self.available:,}"

    def fail(self, failure: Failure) -> None:
        self.failure_count += 1
        if len(self.failures) < MAX_FAILURES_KEPT:
            self.failures.append(failure)

    def absorb(self, found: SortedFailures) -> None:
        """Take the failures collected out of order, smallest key first."""
        kept = found.smallest()
        for failure in kept:
            self.fail(failure)
        self.failure_count += found.count - len(kept)

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
            "status": self.status,
            "passed": self.status == "pass",
            "compared": self.compared,
            "available": self.available,
            "summary": self.summary,
            "failure_count": self.failure_count,
            "failures": [f.to_json() for f in self.failures],
            "seconds": round(self.seconds, 3),
            "read_units": round(self.read_units, 1),
        }


def status_of(check: dict[str, Any]) -> str:
    """A reported check's pass, empty or fail (a report written before ``status`` existed knew pass and fail)."""
    return str(check.get("status") or ("pass" if check["passed"] else "fail"))


class SortedFailures:
    """Failures met in an order that varies between runs (parallel Scan segments).

    Keeps the ``MAX_FAILURES_KEPT`` smallest by key and path, so the report
    names the same failures every run; the count is exact.
    """

    def __init__(self) -> None:
        self.count = 0
        self._kept: list[tuple[tuple[str, str, str, str], Failure]] = []

    def add(self, failure: Failure) -> None:
        self.count += 1
        order = (
            json.dumps(failure.key, default=jsonable, sort_keys=True),
            failure.path or "",
            failure.kind,
            failure.message,
        )
        self._kept.append((order, failure))
        if len(self._kept) >= 4 * MAX_FAILURES_KEPT:
            self._trim()

    def smallest(self) -> list[Failure]:
        self._trim()
        return [failure for _, failure in self._kept]

    def _trim(self) -> None:
        self._kept.sort(key=lambda entry: entry[0])
        del self._kept[MAX_FAILURES_KEPT:]


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
    tool_version: str = ""
    run: dict[str, Any] | None = None  # the last migrate/sync's time series and capacity (validate.run_record)
    samples: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # a few items per item type
    reads: dict[str, Any] = field(default_factory=dict)
    strict: bool = False  # an empty check fails the run

    @property
    def failed_count(self) -> int:
        return sum(1 for c in self.checks if not c.passed)

    @property
    def empty_count(self) -> int:
        return sum(1 for c in self.checks if c.empty)

    @property
    def passed_count(self) -> int:
        return len(self.checks) - self.failed_count - self.empty_count

    @property
    def passed(self) -> bool:
        """No check failed, something was compared, and (``strict``) no check compared nothing."""
        return self.failed_count == 0 and self.passed_count > 0 and not (self.strict and self.empty_count)

    def counts_line(self) -> str:
        """``190 passed, 8 empty, 0 failed`` (the empty count only when there is one)."""
        empty = f"{self.empty_count} empty, " if self.empty_count else ""
        return f"{self.passed_count} passed, {empty}{self.failed_count} failed"

    def verdict(self) -> str:
        """Why the run did not pass, in one line (empty when it passed)."""
        total = len(self.checks)
        if self.passed:
            return ""
        if self.failed_count:
            return f"validation failed: {self.failed_count} of {total} checks failed"
        if total == 0:
            return "validation proved nothing: no check ran"
        if self.passed_count == 0:
            which = f"all {total} checks" if total > 1 else "its one check"
            return f"validation proved nothing: {which} compared nothing (empty)"
        return f"validation failed: {self.empty_count} of {total} checks compared nothing (--strict)"

    def to_json(self) -> dict[str, Any]:
        return {
            "result": "pass" if self.passed else "fail",
            "strict": self.strict,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "seconds": round(self.seconds, 3),
            "mode": self.mode,
            "tool_version": self.tool_version,
            "source": self.source,
            "mapping": self.mapping,
            "target": self.target,
            "reads": self.reads,
            "summary": {
                "checks": len(self.checks),
                "passed": self.passed_count,
                "empty": self.empty_count,
                "failed": self.failed_count,
            },
            "checks": [c.to_json() for c in self.checks],
            "run": self.run,
            "samples": self.samples,
        }
