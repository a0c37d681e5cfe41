"""Writes into the state folder that fail: one line naming the folder, and no temp file left behind.

A full disk (or quota) under the state folder stops the run with a
``StateError`` (exit 2) that says so. Nothing DynamoDB acknowledged is lost:
the checkpoint file is replaced only once its new text is on disk, and the
fingerprint store only ever lags behind the table, so the next run, once
there is room again, continues from the last checkpoint.
"""

from __future__ import annotations

import errno
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlite2ddb.errors import StateError

_FULL_ERRNOS = {errno.ENOSPC, errno.EDQUOT}
_SQLITE_FULL = 13  # SQLITE_FULL: "database or disk is full"
_SQLITE_IOERR = 10  # "disk I/O error": what SQLite says when it cannot grow its -shm file
_LOW = 1 << 20  # a folder with less room than this that fails a write is taken for full


def is_full(exc: BaseException) -> bool:
    """True when the error says the disk (or the quota) is full."""
    if isinstance(exc, OSError):
        return exc.errno in _FULL_ERRNOS
    if isinstance(exc, sqlite3.Error):
        code = getattr(exc, "sqlite_errorcode", None)
        return (code is not None and code & 0xFF == _SQLITE_FULL) or "disk is full" in str(exc)
    return False


def full_here(folder: Path, exc: BaseException) -> bool:
    """A full disk, or an I/O error of SQLite in a folder with (almost) no room left."""
    if is_full(exc):
        return True
    code = getattr(exc, "sqlite_errorcode", None)
    if not isinstance(exc, sqlite3.Error) or code is None or code & 0xFF != _SQLITE_IOERR:
        return False
    try:
        stats = os.statvfs(folder)
    except OSError:
        return False
    return stats.f_bavail * stats.f_frsize < _LOW


def write_error(folder: Path, exc: BaseException, what: str) -> StateError:
    """The one line for a state write that failed."""
    if full_here(folder, exc):
        return StateError(
            f"the state folder {folder} is full (no space left on device) while writing {what}; "
            "what DynamoDB acknowledged is kept",
            "free space there, then run the command again: it continues from the last checkpoint",
        )
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    return StateError(f"cannot write {what} in the state folder {folder}: {reason}", "check the folder, then run again")


@contextmanager
def state_write(folder: Path, what: str, temp: Path | None = None) -> Iterator[None]:
    """Turn a failed write into one line; remove ``temp`` (the write's temp file) when it fails.

    Every ``OSError`` becomes a ``StateError``; of SQLite's errors only a full
    disk does (a locked or corrupt store keeps its own handling).
    """
    try:
        yield
    except (OSError, sqlite3.Error) as exc:
        if temp is not None:
            try:
                temp.unlink(missing_ok=True)
            except OSError:
                pass
        if isinstance(exc, sqlite3.Error) and not full_here(folder, exc):
            raise
        raise write_error(folder, exc, what) from None
