"""A small time series of a run (migrate or sync), one JSON line per interval, for the HTML report.

``timeline.jsonl`` in the state folder gets, per run: a ``start`` line, one
``tick`` line per interval with what was acknowledged in it (items and write
units per table, retries, throttles, capacity DynamoDB said it consumed), an
``item_type`` line when an item type finishes (its duration) and an ``end``
line. A ticker thread writes the ticks, so their number follows the run's
duration, never its item count: every second for the first
``FULL_RATE_TICKS`` seconds, then every ``elapsed / FULL_RATE_TICKS`` seconds,
which keeps a run of a day under ~2,000 lines. Only the last ``KEEP_RUNS``
runs are kept, so the file stays bounded however often one migrates.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loguru import logger

FILE_NAME = "timeline.jsonl"
INTERVAL = 1.0
FULL_RATE_TICKS = 300
KEEP_RUNS = 10


@dataclass
class _Window:
    """What was acknowledged since the last tick."""

    tables: dict[str, dict[str, float]] = field(default_factory=dict)
    retries: int = 0
    throttles: int = 0

    @property
    def empty(self) -> bool:
        return not self.tables and not self.retries and not self.throttles


class Timeline:
    """Thread-safe recorder; writer threads call ``acknowledged``, the ticker writes the lines."""

    def __init__(self, path: Path | None, command: str) -> None:
        self.path = path
        self.command = command
        self.run = uuid.uuid4().hex[:12]
        self._started = time.monotonic()
        self._last_tick = self._started
        self._window = _Window()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- recording -------------------------------------------------------------------
    def acknowledged(
        self, table: str, items: int, deleted: int = 0, wcu: int = 0, consumed: float = 0.0, **stats: int
    ) -> None:
        """One acknowledged batch: its items (and deletes), estimated and consumed write units, retries."""
        with self._lock:
            entry = self._window.tables.setdefault(table, {"items": 0, "deleted": 0, "wcu": 0, "consumed": 0.0})
            entry["items"] += items
            entry["deleted"] += deleted
            entry["wcu"] += wcu
            entry["consumed"] += consumed
            self._window.retries += stats.get("retries", 0)
            self._window.throttles += stats.get("throttles", 0)

    def item_type_done(self, name: str, table: str, seconds: float, items: int, status: str = "done") -> None:
        self._write(
            {"event": "item_type", "name": name, "table": table, "seconds": round(seconds, 3), "items": items,
             "status": status}
        )  # fmt: skip

    def counts(self, **counts: Any) -> None:
        """Totals of a run (e.g. a sync's new / updated / deleted per item type)."""
        self._write({"event": "counts", **counts})

    # -- ticking ---------------------------------------------------------------------
    def start(self) -> None:
        if self.path is None:
            return
        try:
            _keep_last_runs(self.path, KEEP_RUNS - 1)
        except OSError as exc:  # the time series is for the report; it never stops a run
            self.path.with_name(self.path.name + ".tmp").unlink(missing_ok=True)
            logger.warning("cannot write the time series {}: {}", self.path, exc)
            self.path = None
            return
        self._write({"event": "start", "command": self.command, "at": _now()})
        self._thread = threading.Thread(target=self._tick_loop, name="timeline", daemon=True)
        self._thread.start()

    def stop(self, status: str) -> None:
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join()
        self._tick()
        self._write({"event": "end", "status": status, "at": _now()})

    def _tick_loop(self) -> None:
        while not self._stop.wait(self._interval()):
            self._tick()

    def _interval(self) -> float:
        return max(INTERVAL, (time.monotonic() - self._started) / FULL_RATE_TICKS)

    def _tick(self) -> None:
        now = time.monotonic()
        with self._lock:
            window, self._window = self._window, _Window()
            seconds, self._last_tick = now - self._last_tick, now
        line: dict[str, Any] = {"event": "tick", "dt": round(seconds, 3)}
        if not window.empty:
            line["tables"] = {
                name: {k: round(v, 1) if k == "consumed" else int(v) for k, v in entry.items() if v}
                for name, entry in window.tables.items()
            }
            line.update({k: v for k, v in (("retries", window.retries), ("throttles", window.throttles)) if v})
        self._write(line)

    def _write(self, record: dict[str, Any]) -> None:
        if self.path is None:
            return
        line = {"run": self.run, "t": round(time.monotonic() - self._started, 3), **record}
        try:
            with open(self.path, "a", encoding="utf-8") as handle:
                handle.write(json.dumps(line, separators=(",", ":"), default=str) + "\n")
        except OSError as exc:  # the time series is for the report; it never stops a run
            logger.warning("cannot write the time series {}: {}", self.path, exc)
            self.path = None


@contextmanager
def recording(state_dir: Path | None, command: str) -> Iterator[Timeline]:
    """A timeline for one run, written to ``state_dir/timeline.jsonl`` (nowhere when None)."""
    path = None
    if state_dir is not None:
        state_dir.mkdir(parents=True, exist_ok=True)
        path = state_dir / FILE_NAME
    timeline = Timeline(path, command)
    timeline.start()
    status = "failed"
    try:
        yield timeline
        status = "done"
    finally:
        timeline.stop(status)


def read_runs(state_dir: Path) -> list[list[dict[str, Any]]]:
    """The recorded runs, oldest first, each its lines in order (a torn last line is ignored)."""
    path = state_dir / FILE_NAME
    if not path.exists():
        return []
    runs: dict[str, list[dict[str, Any]]] = {}
    for text in path.read_text(encoding="utf-8").splitlines():
        try:
            line = json.loads(text)
        except ValueError:
            continue
        if isinstance(line, dict) and "run" in line:
            runs.setdefault(line["run"], []).append(line)
    return list(runs.values())


def _keep_last_runs(path: Path, keep: int) -> None:
    """Drop all but the last ``keep`` runs from the file."""
    if not path.exists():
        return
    lines = path.read_text(encoding="utf-8").splitlines()
    order: list[str] = []
    for text in lines:
        run = text[8:20] if text.startswith('{"run":"') else ""
        if run and run not in order:
            order.append(run)
    if len(order) <= keep:
        return
    kept = set(order[len(order) - keep :]) if keep else set()
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text("".join(t + "\n" for t in lines if t[8:20] in kept), encoding="utf-8")
    temporary.replace(path)


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
