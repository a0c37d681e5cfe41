"""Progress on the terminal: a bar per item type while migrating, a bar per check while validating; plain lines off a terminal."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn

from sqlite2ddb.cli.views import console, print_bulk_put_progress, print_import_progress


@contextmanager
def migration_progress() -> Iterator[RichReporter]:
    """A reporter for migrate and resume: a bar per item type on a terminal, lines otherwise."""
    columns = [
        TextColumn("{task.description:<14}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(show_speed=True),
        TimeRemainingColumn(),
    ]
    progress = Progress(*columns, console=console, transient=False) if console.is_terminal else None
    with progress if progress else nullcontext():
        yield RichReporter(progress)


@contextmanager
def check_progress(interactive: bool = True) -> Iterator[CheckProgress | None]:
    """validate's progress as a bar per check on a terminal; None (no progress) otherwise."""
    if not (interactive and console.is_terminal):
        yield None
        return
    columns = [TextColumn("{task.description:<40}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn()]
    with Progress(*columns, console=console, transient=True) as bars:
        yield CheckProgress(bars)


@contextmanager
def s3_load_progress() -> Iterator[Callable[[str, dict[str, Any]], None]]:
    """migrate --via-s3: a bar per bulk put (input bytes read) on a terminal; lines otherwise and for imports."""
    bars = Progress(*_BYTES_COLUMNS, console=console, transient=False) if console.is_terminal else None
    tasks: dict[str, Any] = {}

    def report(table: str, d: dict[str, Any]) -> None:
        if "BulkOperationArn" not in d:
            print_import_progress(table, d)
        elif bars is None:
            print_bulk_put_progress(table, d)
        else:
            if table not in tasks:
                tasks[table] = bars.add_task(f"bulk put {table}", total=d.get("TotalInputBytes") or None)
            bars.update(
                tasks[table],
                total=d.get("TotalInputBytes") or None,
                completed=d.get("ProcessedInputBytes") or 0,
                description=f"bulk put {table} {d.get('BulkOperationStatus', '')}",
            )

    with bars if bars else nullcontext():
        yield report


_BYTES_COLUMNS = [TextColumn("{task.description:<40}"), BarColumn(), TaskProgressColumn(), TimeRemainingColumn()]


class RichReporter:
    """A progress bar per item type on a terminal; plain log lines otherwise."""

    def __init__(self, progress: Progress | None) -> None:
        self.progress = progress
        self.tasks: dict[str, Any] = {}
        self.started: dict[str, float] = {}

    def start(self, name: str, total: int, done: int) -> None:
        self.started[name] = time.monotonic()
        if self.progress:
            self.tasks[name] = self.progress.add_task(name, total=total or None, completed=done)
        else:
            click.echo(f"{name}: {total} rows ({done} already done)", err=True)

    def advance(self, name: str, rows: int, items: int) -> None:
        if self.progress and name in self.tasks:
            self.progress.advance(self.tasks[name], rows)

    def finish(self, name: str, outcome: str = "finished") -> None:
        seconds = time.monotonic() - self.started.get(name, time.monotonic())
        if outcome == "finished":
            if not self.progress:
                click.echo(f"{name}: finished in {seconds:.1f}s", err=True)
            return
        click.echo(f"{name}: {outcome} after {seconds:.1f}s", err=True)

    def not_started(self, name: str) -> None:
        click.echo(f"{name}: not started", err=True)


class CheckProgress:
    """validate's progress interface drawn as one rich bar per check."""

    def __init__(self, bars: Progress) -> None:
        self.bars = bars

    def task(self, name: str, total: int | None) -> CheckTask:
        return CheckTask(self.bars, self.bars.add_task(name, total=total))


class CheckTask:
    def __init__(self, bars: Progress, task_id: Any) -> None:
        self.bars, self.task_id = bars, task_id

    def advance(self, amount: int) -> None:
        self.bars.advance(self.task_id, amount)

    def close(self) -> None:
        self.bars.remove_task(self.task_id)
