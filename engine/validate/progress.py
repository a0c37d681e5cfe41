"""How validation reports its progress: one task per check, advanced as work is done.

The engine only calls this interface; the CLI draws the bars (rich) on a
terminal and passes ``NO_PROGRESS`` otherwise.
"""

from __future__ import annotations

from typing import Protocol


class Task(Protocol):
    def advance(self, amount: int) -> None: ...

    def close(self) -> None: ...


class Progress(Protocol):
    def task(self, name: str, total: int | None) -> Task:
        """A task for the check ``name``; ``total`` units of work, None when unknown."""
        ...


class _Silent:
    def advance(self, amount: int) -> None:
        return None

    def close(self) -> None:
        return None

    def task(self, name: str, total: int | None) -> _Silent:
        return self


NO_PROGRESS: Progress = _Silent()
