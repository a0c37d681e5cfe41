"""Read-only connections to the source, one per thread, so pattern SQL runs without a shared lock."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable

#: Page cache of each worker's connection (SQLite's default is 2 MB): a pattern's SQL reads
#: from the operating system's file cache, and one cache per worker would grow with the source.
CACHE_KIB = 512


def register_functions(conn: sqlite3.Connection) -> sqlite3.Connection:
    """SQL functions the mapping's check SQL may call (``py_lower``: Python's ``str.lower``)."""
    conn.create_function("py_lower", 1, lambda s: s.lower() if isinstance(s, str) else s, deterministic=True)
    return conn


class SourceConnections:
    """A connection per thread, opened on first use and closed together."""

    def __init__(self, opener: Callable[[], sqlite3.Connection]) -> None:
        self._opener = opener
        self._local = threading.local()
        self._opened: list[sqlite3.Connection] = []
        self._lock = threading.Lock()

    def get(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = register_functions(self._opener())
            conn.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
            self._local.conn = conn
            with self._lock:
                self._opened.append(conn)
        return conn

    def close(self) -> None:
        with self._lock:
            for conn in self._opened:
                conn.close()
            self._opened.clear()
