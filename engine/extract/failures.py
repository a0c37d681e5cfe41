"""SQLite failures while reading the source, as one line for a person (a lock named as a lock)."""

from __future__ import annotations

import sqlite3

from sqlite2ddb.errors import SourceError

LOCKED_HINT = "wait for the writer to finish, raise busy_timeout in the configuration, or migrate from a copy"


def is_locked(exc: sqlite3.Error) -> bool:
    text = str(exc)
    return "locked" in text or "busy" in text


def source_error(exc: sqlite3.Error, what: str) -> SourceError:
    """A SQLite failure while reading, as one line for a person."""
    if is_locked(exc):
        return SourceError(f"{what}: the source database is locked by another process", LOCKED_HINT)
    return SourceError(f"{what}: {exc}")
