"""One read of a table or index into a temporary SQLite file, answering Queries from it.

Why an answer from this file is the answer a Query gives: a Query returns
exactly the items of its table or index whose partition key equals the value
and whose sort key satisfies the key condition, in sort-key order (strings
and binary by their bytes, numbers by value; reversed when
``ScanIndexForward`` is false), with the attributes its projection names. A
Scan of the same table or index, with the same projection, returns every one
of those items, and the others. So the items filed here under each partition
key, filtered and ordered by those rules, are what each Query would answer:
the table is read once instead of once per parameter value.

What the file cannot prove is the request itself (the index name, the key
condition and the key types as sent); ``pattern_proof`` sends a sample of real
Queries for that. Items whose sort keys are equal (possible in a secondary
index) come back from DynamoDB in an order it does not specify; here they
follow the table's primary key (as text).
"""

from __future__ import annotations

import marshal
import sqlite3
import tempfile
import threading
from collections.abc import Iterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlite2ddb.dynamodb.reads import Reader
from sqlite2ddb.spec.model import KeyAttribute
from sqlite2ddb.validate.progress import Progress
from sqlite2ddb.wire import Wire

BUFFER = 1000  # rows per executemany
CACHE_KIB = 512  # page cache of the writing connection and of each reading one (one per worker thread)

#: Sort conditions on string and binary keys, compared as bytes by SQLite (memcmp, then length).
_SQL_CONDITIONS = {
    "eq": ("sk = ?", 1),
    "lt": ("sk < ?", 1),
    "le": ("sk <= ?", 1),
    "gt": ("sk > ?", 1),
    "ge": ("sk >= ?", 1),
    "between": ("sk BETWEEN ? AND ?", 2),
}


class IndexFile:
    """The items of one table or index (projected), filed by partition key and sort key.

    Use as a context manager: ``load`` reads the table once (parallel Scan
    segments, through the Reader and so within its read budget), then
    ``query`` answers from any thread, each on its own connection.
    """

    def __init__(
        self,
        table: str,
        index: str | None,
        partition: KeyAttribute,
        sort: KeyAttribute | None,
        table_keys: Sequence[str],
        attributes: Sequence[str],
        kept: frozenset[str] | None = None,
    ) -> None:
        """``kept``: the attributes a secondary index projects (None: all, as for ALL or a local index)."""
        self.table = table
        self.index = index
        self.partition = partition
        self.sort = sort
        self.table_keys = list(table_keys)
        keys = [partition.name, *([sort.name] if sort else []), *self.table_keys]
        self.names = list(dict.fromkeys([*keys, *attributes]))
        self._names = frozenset(self.names)
        self.kept = kept
        self.count = 0
        self.ready = self.fed = False
        self._writer: sqlite3.Connection | None = None
        self._rows: list[tuple[Any, Any, str, bytes]] = []
        self._dir = tempfile.TemporaryDirectory(prefix="validate-index-")
        self.path = Path(self._dir.name) / "index.db"
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()

    @property
    def label(self) -> str:
        return f"{self.table} index {self.index}" if self.index else self.table

    def __enter__(self) -> IndexFile:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        """Close every connection and delete the file (as soon as its patterns are done)."""
        for connection in self._connections:
            connection.close()
        self._connections.clear()
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        self._dir.cleanup()

    def load(self, reader: Reader, progress: Progress) -> None:
        """Read the table or index once, projected to the attributes any of its patterns compares.

        Nothing to do when the file was fed from a complete read of the table (``feed``).
        """
        if self.ready:
            return
        self._start()
        placeholders = {f"#a{i}": name for i, name in enumerate(self.names)}
        request: dict[str, Any] = {
            "ProjectionExpression": ", ".join(placeholders),
            "ExpressionAttributeNames": placeholders,
        }
        if self.index:
            request["IndexName"] = self.index
        else:
            request["ConsistentRead"] = True
        task = progress.task(f"read {self.label}", None)
        try:
            for page in reader.scan(self.table, reader.workers, **request):
                self._add(page)
                task.advance(len(page))
            self.complete()
        finally:
            task.close()

    def feed(self, page: list[dict[str, Wire]]) -> None:
        """Items of a Scan of the table (not the index): those the index holds, as it projects them.

        A secondary index holds exactly the table's items that carry its key
        attributes, with the attributes its projection names (DynamoDB keeps
        it so); the shape check proves the index and its projection are the
        declared ones, and the sampled real requests read the index itself.
        """
        if self._writer is None:
            self._start()
        if self.kept is None:
            self._add([{k: v for k, v in item.items() if k in self._names} for item in page])
        else:
            self._add([{k: v for k, v in item.items() if k in self._names and k in self.kept} for item in page])

    def complete(self, fed: bool = False) -> None:
        """The read is whole: index the file and answer from it."""
        if self._writer is None:
            self._start()  # an empty table
        assert self._writer is not None
        self._insert(self._rows)
        self._writer.execute("CREATE INDEX by_key ON items (pk, sk, tk)")
        self._writer.commit()
        self._writer.close()
        self._writer = None
        self.ready, self.fed = True, fed

    def _start(self) -> None:
        """An empty file (what a read that did not finish left is dropped)."""
        if self._writer is not None:
            self._writer.close()
        self._writer = sqlite3.connect(self.path)
        self._writer.execute("PRAGMA journal_mode=OFF")
        self._writer.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
        self._writer.execute("PRAGMA synchronous=OFF")
        self._writer.execute("DROP TABLE IF EXISTS items")
        self._writer.execute("CREATE TABLE items (pk, sk, tk TEXT, item BLOB)")
        self._rows.clear()
        self.count = 0

    def _add(self, page: list[dict[str, Wire]]) -> None:
        self._rows += filter(None, map(self._row, page))
        if len(self._rows) >= BUFFER:
            self._insert(self._rows)

    def _row(self, item: dict[str, Wire]) -> tuple[Any, Any, str, bytes] | None:
        partition = item.get(self.partition.name)
        sort = item.get(self.sort.name) if self.sort else None
        if partition is None or (self.sort and sort is None):
            return None  # not in this index (a Scan of an index returns none such)
        tie = "\x00".join(str(next(iter(item[k].values()))) for k in self.table_keys if k in item)
        return _cell(partition), _sort_cell(sort) if sort else None, tie, marshal.dumps(item)

    def _insert(self, rows: list[tuple[Any, Any, str, bytes]]) -> None:
        assert self._writer is not None
        self._writer.executemany("INSERT INTO items VALUES (?, ?, ?, ?)", rows)
        self.count += len(rows)
        rows.clear()

    def query(
        self, partition: Wire, op: str | None, values: Sequence[Wire], forward: bool
    ) -> Iterator[dict[str, Wire]]:
        """The items a Query with this key condition returns, in its order (all pages), as they are read."""
        if self.sort is not None and self.sort.type == "N":
            return self._numeric_query(partition, op, values, forward)
        sql = "SELECT item FROM items WHERE pk = ?"
        args: list[Any] = [_cell(partition)]
        if op is not None:
            cells = [_sort_cell(v) for v in values]
            if op == "begins_with":
                sql += " AND substr(sk, 1, ?) = ?"
                args += [len(cells[0]), cells[0]]
            else:
                condition, arity = _SQL_CONDITIONS[op]
                sql += f" AND {condition}"
                args += cells[:arity]
        direction = "" if forward else " DESC"
        sql += f" ORDER BY sk{direction}, tk{direction}"
        return (marshal.loads(blob) for (blob,) in self._db().execute(sql, args))

    def _numeric_query(
        self, partition: Wire, op: str | None, values: Sequence[Wire], forward: bool
    ) -> Iterator[dict[str, Wire]]:
        """A numeric sort key: filtered and ordered by value in Python (SQLite's REAL would round).

        The partition's matching keys are held to sort them (its items are decoded one at a time).
        """
        bounds = [Decimal(_number(v)) for v in values]
        found = []
        for sk, tk, blob in self._db().execute("SELECT sk, tk, item FROM items WHERE pk = ?", [_cell(partition)]):
            value = Decimal(sk)
            if _numeric_match(op, value, bounds):
                found.append((value, tk, blob))
        found.sort(key=lambda row: (row[0], row[1]), reverse=not forward)
        return (marshal.loads(blob) for _, _, blob in found)

    def _db(self) -> sqlite3.Connection:
        """This thread's read-only connection to the file."""
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, check_same_thread=False)
            db.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
            self._local.db = db
            with self._lock:
                self._connections.append(db)
        return db


def _numeric_match(op: str | None, value: Decimal, bounds: list[Decimal]) -> bool:
    if op is None:
        return True
    if op == "eq":
        return value == bounds[0]
    if op == "lt":
        return value < bounds[0]
    if op == "le":
        return value <= bounds[0]
    if op == "gt":
        return value > bounds[0]
    if op == "ge":
        return value >= bounds[0]
    if op == "between":
        return bounds[0] <= value <= bounds[1]
    return False  # begins_with is for strings and binary; DynamoDB refuses it (the sampled Queries say so)


def _number(wire: Wire) -> str:
    ((kind, value),) = wire.items()
    return str(value) if kind == "N" else "NaN"


def _cell(wire: Wire) -> Any:
    """A partition key as SQLite compares it for equality: text, canonical number text, or bytes."""
    ((kind, value),) = wire.items()
    if kind == "N":
        return str(Decimal(value).normalize())
    if kind == "B":
        return bytes(value)
    return value


def _sort_cell(wire: Wire) -> Any:
    """A sort key as SQLite orders it: strings as their UTF-8 bytes (DynamoDB's order), binary as is."""
    ((kind, value),) = wire.items()
    if kind == "S":
        return value.encode("utf-8")
    if kind == "B":
        return bytes(value)
    return str(Decimal(value))
