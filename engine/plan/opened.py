"""A plan opened for a command: the mapping set loaded, the source (or the run's copy) open, the plan compiled."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from sqlite2ddb.config import Config
from sqlite2ddb.extract.source import open_source
from sqlite2ddb.plan.compile import Plan, compile_plan, offload_location
from sqlite2ddb.spec import MappingSet, load_mapping_set

if TYPE_CHECKING:
    from sqlite2ddb.state.snapshot import Snapshot


@contextmanager
def opened_plan(
    config: Config, count: bool = True, snapshot: Snapshot | None = None, mapping: MappingSet | None = None
) -> Iterator[tuple[Plan, sqlite3.Connection]]:
    """Load the mapping set (unless given, already loaded), open the source (or its snapshot) read-only, compile the plan."""
    mapping = mapping or load_mapping_set(config.mappings)
    conn = open_source(snapshot.path if snapshot else config.source_db, config.migration_settings.busy_timeout)
    try:
        yield compile_plan(mapping, conn, config.table_prefix, count=count, offload=offload_location(config)), conn
    finally:
        conn.close()
