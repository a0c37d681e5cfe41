"""One consistent view of the source per run: a copy taken with SQLite's online backup API.

A live database changes while a migration runs. ``migrate`` and ``sync``
read every item type from one copy of the source taken at the start of the
run (``snapshot-<time>.sqlite`` in the state folder), so all item types see
the same moment. ``resume`` continues on the copy its checkpoints belong to,
even when the live file changed since; the next ``sync`` catches up.

The copy also tells which item types can be skipped by a sync: SQLite's
authorizer reports every table a query reads (embeds included), and a digest
of each such table's rows, kept in the state after a run, says whether any of
them changed since.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loguru import logger

from sqlite2ddb.extract.capture_log import is_capture_table
from sqlite2ddb.extract.guard import authorize, chained
from sqlite2ddb.extract.source import lenient_text, open_source, source_error, undecodable
from sqlite2ddb.plan.compile import CompiledEmbed, ItemTypePlan
from sqlite2ddb.state.disk import is_full, state_write

PREFIX = "snapshot-"


@dataclass(frozen=True)
class Snapshot:
    path: Path  # the copy every reader of this run opens
    source: dict[str, Any]  # the live source when it was copied: path, size, SHA-256
    taken_at: str
    reused: bool = False

    def record(self) -> dict[str, Any]:
        return {"file": self.path.name, "taken_at": self.taken_at, "source": self.source}


def source_identity(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Path, size and SHA-256 of the source file (and of its WAL, which holds committed changes too)."""
    file = Path(path)
    digest = hashlib.sha256()
    for part in (file, file.with_name(file.name + "-wal")):
        if part.exists():
            with open(part, "rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
    return {"path": str(file), "size": file.stat().st_size, "sha256": digest.hexdigest()}


def take(source: str, state_dir: Path, busy_timeout: float) -> Snapshot:
    """Copy the source (read-only, page by page, consistent) into the state folder."""
    live = open_source(source, busy_timeout)  # a missing or broken source is said here, first
    identity = source_identity(source)
    taken_at = time.strftime("%Y%m%dT%H%M%S", time.gmtime()) + f"{time.time() % 1:.6f}"[1:]
    state_dir.mkdir(parents=True, exist_ok=True)
    final = state_dir / f"{PREFIX}{taken_at}.sqlite"
    temp = final.with_suffix(".tmp")
    try:
        with state_write(state_dir, f"a snapshot of the source ({final.name})", temp):
            copy = sqlite3.connect(temp)
            try:
                live.backup(copy)
            except sqlite3.Error as exc:
                if is_full(exc):
                    raise
                raise source_error(exc, f"copying {source} into {state_dir}") from None
            finally:
                copy.close()
        os.replace(temp, final)
    except BaseException:
        temp.unlink(missing_ok=True)  # an unfinished copy is never read: do not leave it
        raise
    finally:
        live.close()
    logger.debug("took a snapshot of {} in {}", source, final)
    return Snapshot(final, identity, taken_at)


def reuse(recorded: dict[str, Any] | None, state_dir: Path) -> Snapshot | None:
    """The snapshot a state's checkpoints belong to, if its copy is still there."""
    if not recorded:
        return None
    path = state_dir / recorded["file"]
    if not path.exists():
        logger.warning("the snapshot {} of the interrupted run is gone; reading the source itself", path)
        return None
    return Snapshot(path, recorded["source"], recorded["taken_at"], reused=True)


def remove_others(state_dir: Path, keep: Snapshot) -> None:
    """Delete snapshots of earlier runs (and copies a killed run left unfinished)."""
    for old in [*state_dir.glob(f"{PREFIX}*.sqlite"), *state_dir.glob(f"{PREFIX}*.tmp")]:
        if old != keep.path:
            old.unlink(missing_ok=True)


def remove_earlier(state_dir: Path, keep: Snapshot) -> list[Path]:
    """Delete the copies (finished or not) taken before ``keep``: their names sort by the time they were taken."""
    removed = []
    for old in [*state_dir.glob(f"{PREFIX}*.sqlite"), *state_dir.glob(f"{PREFIX}*.tmp")]:
        if old.stem < keep.path.stem:
            old.unlink(missing_ok=True)
            removed.append(old)
            logger.info("removed {}, a copy of the source an earlier run left", old)
    return removed


# --------------------------------------------------------------------------- what an item type reads
def tables_read(conn: sqlite3.Connection, item: ItemTypePlan) -> frozenset[str]:
    """Every table the item type's query and its embeds read, as SQLite's authorizer reports them."""
    tables: set[str] = set()

    def note(action: int, arg1: str | None, *_: Any) -> None:
        if action == sqlite3.SQLITE_READ and arg1:
            tables.add(arg1)

    conn.set_authorizer(chained(note))
    try:
        for query in [item.spec.query, *_embed_queries(item.embeds)]:
            conn.execute(f"EXPLAIN {query.strip().rstrip(';')}")
    finally:
        conn.set_authorizer(authorize)  # the source's own: reads only
    # the authorizer names common table expressions too; only stored tables have rows to digest
    # (the change log of 'capture install' is the capture's, never a source table digested or followed)
    stored = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    return frozenset(t for t in tables & stored if not is_capture_table(t))


def _embed_queries(embeds: tuple[CompiledEmbed, ...]) -> list[str]:
    out = []
    for embed in embeds:
        out.append(embed.spec.query)
        out += _embed_queries(embed.embeds)
    return out


def table_digest(conn: sqlite3.Connection, table: str) -> str:
    """A digest of every row of a table, in its storage order (rowid or primary key)."""
    sql = f'SELECT * FROM "{table.replace(chr(34), chr(34) * 2)}"'
    try:
        return _digest(conn.execute(sql))
    except sqlite3.OperationalError as exc:
        if not undecodable(exc):
            raise
    with lenient_text(conn):  # TEXT that is not UTF-8 enters the digest as its bytes
        return _digest(conn.execute(sql))


def _digest(cursor: sqlite3.Cursor) -> str:
    digest = hashlib.blake2b(digest_size=16)
    while True:
        rows = cursor.fetchmany(2000)
        if not rows:
            return digest.hexdigest()
        digest.update(repr(rows).encode())


def source_digests(
    conn: sqlite3.Connection, items: list[ItemTypePlan]
) -> tuple[dict[str, frozenset[str]], dict[str, str]]:
    """The tables each item type reads, and a digest of each of those tables."""
    reads = {item.name: tables_read(conn, item) for item in items}
    digests = {table: table_digest(conn, table) for table in sorted(set().union(*reads.values()))}
    return reads, digests


def unchanged(
    items: list[ItemTypePlan],
    reads: dict[str, frozenset[str]],
    digests: dict[str, str],
    recorded: dict[str, str],
    synced: dict[str, bool],
) -> dict[str, str]:
    """Item types a sync can skip, each with the reason: done, and none of the tables it reads changed."""
    skip = {}
    for item in items:
        tables = reads[item.name]
        if synced.get(item.name) and tables and all(recorded.get(t) == digests[t] for t in tables):
            skip[item.name] = f"none of {', '.join(sorted(tables))} changed since the last run"
    return skip
