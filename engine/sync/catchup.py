"""Which rows each item type must render again: the changed rows, followed to the items that render them.

A change source names the keys of the rows that changed per table (the
same shape as the capture log's ``read_changes``: table -> set of key
tuples): ``DigestScan`` finds them from the row digests, reading only the
tables whose content digest moved; ``CaptureLog`` adapts a change-log reader
(``read_changes(conn, since) -> (changes, position)``), the seam where the
capture is wired in. The old values of those rows come from the catch-up
store, the new ones from the source; both go through the item type's routes
(``sqlite2ddb.plan.follow``) to cursor values. An item type renders in full,
and says why, when its query cannot be followed, when a table it reads has
no row digests yet, or when which rows rendered which keys is not recorded
for its mapping.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from loguru import logger

from sqlite2ddb.errors import CaptureGap
from sqlite2ddb.plan.compile import ItemTypePlan, Plan
from sqlite2ddb.plan.follow import Follower, Unfollowable, followers, watched_columns
from sqlite2ddb.spec.digest import spec_digest
from sqlite2ddb.state.catchup import CatchupStore, TableRows, new_run
from sqlite2ddb.state.row_digests import Key, key_text, old_values, read_rows, scan, table_rows, watched_values

DIGEST = "digest"
CAPTURE = "capture log"
FULL = "full render"


class ChangeSource(Protocol):
    """Names the changed keys of the given tables since the last complete run; None when it cannot say."""

    how: str

    def changed_keys(
        self, conn: sqlite3.Connection, tables: list[str], store: CatchupStore
    ) -> dict[str, set[Key]] | None: ...

    def position(self) -> int | None: ...


class DigestScan:
    """The changed keys from the row digests: each table read once, its rows' digests compared."""

    how = DIGEST

    def changed_keys(
        self, conn: sqlite3.Connection, tables: list[str], store: CatchupStore
    ) -> dict[str, set[Key]] | None:
        return {table: scan(conn, table, store.digests(table)) for table in tables}

    def position(self) -> int | None:
        return None


class CaptureLog:
    """The changed keys from the capture's change log, read from the position of the last complete run.

    Before the first complete run with the capture there is no position: the
    row digests say what changed this once (``how`` is then ``digest``), and
    the log's position is taken so the next run reads the log.
    """

    def __init__(
        self,
        live: sqlite3.Connection,
        read_changes: Callable[[sqlite3.Connection, int], tuple[dict[str, set[Key]], int]],
        current_position: Callable[[sqlite3.Connection], int],
    ) -> None:
        self.live = live
        self.read_changes = read_changes
        self.current_position = current_position
        self.how = CAPTURE
        self._position: int | None = None

    def changed_keys(
        self, conn: sqlite3.Connection, tables: list[str], store: CatchupStore
    ) -> dict[str, set[Key]] | None:
        since = store.position()
        if since is not None:
            try:
                changes, self._position = self.read_changes(self.live, since)
                return {t: set(changes.get(t, set())) for t in tables}
            except CaptureGap as gap:  # pruned past, reinstalled, a trigger dropped: the digests say it this once
                logger.warning("the change log cannot say what changed ({}): reading the changed tables", gap)
        try:
            self._position = self.current_position(self.live)  # read before the rows: a later change comes again
        except CaptureGap:
            self._position = None
        self.how = DIGEST
        return DigestScan().changed_keys(conn, tables, store)

    def position(self) -> int | None:
        return self._position


@dataclass
class Found:
    """How the change of one item type was found, and which cursors it renders again (None: all)."""

    how: str
    reason: str = ""
    cursors: set[Key] | None = None

    @property
    def rows(self) -> int | None:
        return None if self.cursors is None else len(self.cursors)


@dataclass
class Catchup:
    run: str
    found: dict[str, Found] = field(default_factory=dict)
    tables: list[TableRows] = field(default_factory=list)
    specs: dict[str, str] = field(default_factory=dict)
    position: int | None = None
    scan_seconds: float = 0.0
    follow_seconds: float = 0.0

    def commit(self, store: CatchupStore, clean: set[str]) -> None:
        """After every write was acknowledged: row digests, rendered keys and the position advance together."""
        complete = {n: self.specs[n] for n, f in self.found.items() if f.cursors is None and n in clean}
        caught = {n: [key_text(c) for c in f.cursors] for n, f in self.found.items() if f.cursors and n in clean}
        store.commit(self.run, self.tables, complete, caught, self.position)


def find_changes(
    conn: sqlite3.Connection,
    plan: Plan,
    render: list[ItemTypePlan],
    store: CatchupStore,
    reads: dict[str, frozenset[str]],
    digests: dict[str, str],
    settled: dict[str, bool],
    source: ChangeSource | None = None,
) -> Catchup:
    """Per item type to ``render``: its changed cursors (or a full render and why); the store's next state."""
    source = source or DigestScan()
    result = Catchup(new_run(), specs={i.name: spec_digest(i.spec) for i in render})
    started = time.monotonic()
    routes = followers(conn, plan, reads)
    watched = watched_columns(routes.values())
    unknown: dict[str, str] = {}
    moved: list[str] = []
    for table in sorted(digests):
        cols = watched.get(table, [])
        recorded = store.table_state(table)
        if recorded is None or recorded[1] != cols:
            unknown[table] = "no row digests" if recorded is None else "other columns watched"
            result.tables.append(table_rows(table, digests[table], cols, read_rows(conn, table, None, cols), [], True))
        elif recorded[0] != digests[table]:
            moved.append(table)
    keys = source.changed_keys(conn, moved, store)  # asked even when nothing moved: the log position advances
    result.position = source.position()
    rows = _changed_rows(conn, store, keys or {}, digests, watched, result)
    result.scan_seconds = time.monotonic() - started
    complete = store.complete_types()
    for item in render:
        result.found[item.name] = _found(
            conn, item, routes[item.name], reads[item.name], rows, unknown, keys, source.how, settled, complete, result
        )
    result.follow_seconds = time.monotonic() - started - result.scan_seconds
    return result


def _changed_rows(
    conn: sqlite3.Connection,
    store: CatchupStore,
    keys: dict[str, set[Key]],
    digests: dict[str, str],
    watched: dict[str, list[str]],
    result: Catchup,
) -> dict[str, list[dict[str, Any]]]:
    """Per table, the old and new watched values of every changed row; their new digests go to ``result``."""
    out: dict[str, list[dict[str, Any]]] = {}
    for table, changed in keys.items():
        cols = watched.get(table, [])
        now = read_rows(conn, table, changed, cols)
        gone = [k for k in changed if k not in now]
        old = old_values(store.values(table, [key_text(k) for k in changed]), cols)
        out[table] = [*old.values(), *(watched_values(cols, v) for _, v in now.values())]
        result.tables.append(table_rows(table, digests[table], cols, now, gone, False))
    return out


def _found(
    conn: sqlite3.Connection,
    item: ItemTypePlan,
    route: Follower | Unfollowable,
    reads: frozenset[str],
    rows: dict[str, list[dict[str, Any]]],
    unknown: dict[str, str],
    keys: dict[str, set[Key]] | None,
    how: str,
    settled: dict[str, bool],
    complete: dict[str, str],
    result: Catchup,
) -> Found:
    if not settled.get(item.name):
        return Found(FULL, "not rendered in full with this mapping yet")
    if complete.get(item.name) != result.specs[item.name]:
        return Found(FULL, "which rows rendered which items is not recorded for this mapping yet")
    if isinstance(route, Unfollowable):
        return Found(FULL, str(route))
    missing = sorted(t for t in reads if t in unknown)
    if missing:
        return Found(FULL, f"{', '.join(missing)}: {unknown[missing[0]]} yet")
    if keys is None:
        return Found(FULL, f"the {how} cannot say what changed")
    cursors: set[Key] = set()
    for r in route.routes:
        if rows.get(r.table):
            cursors |= r.cursors(conn, rows[r.table])
    return Found(how, cursors=cursors)
