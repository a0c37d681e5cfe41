"""The one family of exceptions the engine raises.

Every error carries a message written for a person: it names the file and
line, the item type or the row key at fault, and, where there is one, the
next step. The CLI prints the message on one line and exits with
``exit_code``. ``transient`` marks errors worth retrying.
"""

from __future__ import annotations


class MigrationError(Exception):
    """Base of every error the engine raises on purpose."""

    exit_code = 1
    transient = False

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class UsageError(MigrationError):
    """Bad command-line usage or configuration."""

    exit_code = 2


class SpecError(MigrationError):
    """A mapping file is invalid: syntax, schema, cross-reference, template."""

    exit_code = 2


class SourceError(MigrationError):
    """The source database is missing, unreadable, or lacks what a mapping needs."""

    exit_code = 2


class CaptureGap(SourceError):
    """The change log cannot tell what changed since a position: capture is not installed, or the
    position is before the log's start (pruned, reinstalled, a table added) or not from this log.
    A sync then finds the change by reading the source in full."""


class RowError(MigrationError):
    """One source row cannot become a valid DynamoDB item."""

    def __init__(self, item_type: str, cursor: dict, reason: str) -> None:
        super().__init__(f"item type {item_type}, row {cursor}: {reason}")
        self.item_type = item_type
        self.cursor = cursor
        self.reason = reason


class TargetError(MigrationError):
    """DynamoDB could not be reached or refused a request."""

    exit_code = 2


class WriteRefused(TargetError):
    """DynamoDB refused the writes for a reason no retry fixes (access, credentials, a missing
    table); the run stopped at a checkpoint, to resume once the cause is fixed."""


class WriteFailed(MigrationError):
    """Writes kept failing after every retry; the run stopped at a checkpoint."""

    exit_code = 1


class StateError(MigrationError):
    """The state file is corrupt, locked by another run, or does not match."""

    exit_code = 2


class ValidationFailed(MigrationError):
    """Validation ran and at least one check failed."""

    exit_code = 1


class Interrupted(MigrationError):
    """The run was stopped by a signal after saving its checkpoint."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"interrupted by signal {signum}", "run 'resume' to continue")
        self.exit_code = 128 + signum
