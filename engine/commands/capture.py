"""capture install, status, remove and prune: the opt-in change log in the source.

``install``, ``remove`` and ``prune`` are the only commands that open the
source for writing (``open_source_for_capture``), on the user's explicit
request; ``status`` reads it read-only like every other command.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlite2ddb.config import Config
from sqlite2ddb.errors import MigrationError
from sqlite2ddb.extract.capture_log import is_capture_table, open_source_for_capture
from sqlite2ddb.extract.failures import source_error
from sqlite2ddb.extract.source import open_source
from sqlite2ddb.plan.opened import opened_plan
from sqlite2ddb.state import MigrationState, consumed_position
from sqlite2ddb.state.snapshot import tables_read
from sqlite2ddb.sync import capture as change_log
from sqlite2ddb.sync import capture_install as change_log_writes


def source_tables(config: Config) -> list[str]:
    """Every table the mapping set's item types read (queries and embeds), as SQLite reports them."""
    with opened_plan(config, count=False) as (plan, conn):
        tables: set[str] = set()
        for item in plan.item_types:
            tables |= tables_read(conn, item)
    return sorted(t for t in tables if not is_capture_table(t))


def _consumed(config: Config) -> int | None:
    return consumed_position(MigrationState.load(config.state_path)) if config.state_path.exists() else None


@contextmanager
def _writable(config: Config, what: str) -> Iterator[sqlite3.Connection]:
    """The source opened for writing, for one capture command; a SQLite failure becomes one line."""
    conn = open_source_for_capture(config.source_db, config.migration_settings.busy_timeout)
    try:
        yield conn
    except sqlite3.Error as exc:
        raise source_error(exc, f"{what} in {config.source_db}") from None
    finally:
        conn.close()


def capture_install(config: Config) -> dict[str, Any]:
    """Add the change log and triggers on every table the mapping set reads (idempotent)."""
    tables = source_tables(config)
    with _writable(config, "installing the change capture") as conn:
        return change_log_writes.install(conn, tables).to_json()


def capture_status(config: Config) -> dict[str, Any]:
    """The capture's triggers, the log's size and positions, and the position the state last consumed."""
    conn = open_source(config.source_db, config.migration_settings.busy_timeout)
    try:
        status = change_log.capture_status(conn).to_json()
    except sqlite3.Error as exc:
        raise source_error(exc, f"reading the change capture of {config.source_db}") from None
    finally:
        conn.close()
    status["consumed"] = _consumed(config)
    if status["installed"]:
        captured = {t["table"] for t in status["triggers"] if t["state"] == "installed"}
        try:
            status["not_captured"] = [t for t in source_tables(config) if t not in captured]
        except MigrationError as exc:  # the log is still worth telling about when the mapping does not compile
            status["not_captured_unknown"] = str(exc)
    return status


def capture_remove(config: Config) -> dict[str, Any]:
    """Drop the capture's triggers, the log and its table from the source."""
    with _writable(config, "removing the change capture") as conn:
        return change_log_writes.remove(conn).to_json()


def capture_prune(config: Config) -> dict[str, Any]:
    """Delete the log rows up to the position the state consumed, never beyond."""
    consumed = _consumed(config)
    with _writable(config, "pruning the change log") as conn:
        deleted = change_log_writes.prune(conn, consumed)
    return {"deleted": deleted, "consumed": consumed}
