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

from sqlite2ddb.dynamodb.key_condition import KeyCondition
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
        partition: KeyAttribute | Sequence[KeyAttribute],
        sort: KeyAttribute | Sequence[KeyAttribute] | None,
        table_keys: Sequence[str],
        attributes: Sequence[str],
        kept: frozenset[str] | None = None,
    ) -> None:
        """``partition`` and ``sort``: the key attributes, several for a multi-attribute key.

        ``kept``: the attributes a secondary index projects (None: all, as for ALL or a local index).
        """
        self.table = table
        self.index = index
        self.partitions = (partition,) if isinstance(partition, KeyAttribute) else tuple(partition)
        self.sorts = (sort,) if isinstance(sort, KeyAttribute) else tuple(sort or ())
        self.partition = self.partitions[0]
        self.sort = self.sorts[0] if self.sorts else None
        self.multi = len(self.partitions) > 1 or len(self.sorts) > 1
        self.table_keys = list(table_keys)
        keys = [*(k.name for k in self.partitions), *(k.name for k in self.sorts), *self.table_keys]
        self.names = list(dict.fromkeys([*keys, *attributes]))
        self._names = frozenset(self.names)
        self.kept = kept
        self.count = 0
        self.ready = self.fed = False
        self._writer: sqlite3.Connection | None = None
        self._rows: list[tuple[Any, ...]] = []
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
        if self.multi:  # equality on the leading sort attributes narrows a partition in SQL
            self._writer.execute("CREATE INDEX by_sort_attributes ON items (pk, s0, s1, s2)")
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
        self._writer.execute("CREATE TABLE items (pk, sk, tk TEXT, item BLOB, s0, s1, s2, s3)")
        self._rows.clear()
        self.count = 0

    def _add(self, page: list[dict[str, Wire]]) -> None:
        self._rows += filter(None, map(self._row, page))
        if len(self._rows) >= BUFFER:
            self._insert(self._rows)

    def _row(self, item: dict[str, Wire]) -> tuple[Any, ...] | None:
        partitions = [item.get(k.name) for k in self.partitions]
        sorts = [item.get(k.name) for k in self.sorts]
        if any(v is None for v in partitions + sorts):
            return None  # not in this index: it lacks a key attribute (a Scan of an index returns none such)
        tie = "\x00".join(str(next(iter(item[k].values()))) for k in self.table_keys if k in item)
        if self.multi:  # every attribute's cell, together (see _multi_query)
            pk = marshal.dumps(tuple(_cell(v) for v in partitions if v is not None))
            sk = marshal.dumps(tuple(_sort_cell(v) for v in sorts if v is not None))
            each = [_cell(v) for v in sorts if v is not None] + [None] * 4
            return (pk, sk, tie, marshal.dumps(item), *each[:4])
        partition, sort = partitions[0], sorts[0] if sorts else None
        assert partition is not None
        return _cell(partition), _sort_cell(sort) if sort else None, tie, marshal.dumps(item), None, None, None, None

    def _insert(self, rows: list[tuple[Any, ...]]) -> None:
        assert self._writer is not None
        self._writer.executemany("INSERT INTO items VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
        self.count += len(rows)
        rows.clear()

    def query(self, condition: KeyCondition, forward: bool) -> Iterator[dict[str, Wire]]:
        """The items a Query with this key condition returns, in its order (all pages), as they are read."""
        if self.multi:
            return self._multi_query(condition, forward)
        partition = condition.partition[0][1]
        op, values = (condition.sort[0][1], condition.sort[0][2]) if condition.sort else (None, ())
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
                expression, arity = _SQL_CONDITIONS[op]
                sql += f" AND {expression}"
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

    def _multi_query(self, condition: KeyCondition, forward: bool) -> Iterator[dict[str, Wire]]:
        """A multi-attribute key: the partition is the combination of its attributes' values; the items are
        filtered by the conditions on the sort attributes from the left and ordered by the sort attributes
        in turn, each by its type (numbers by value, strings and binary by their bytes), in Python.
        """
        pk = marshal.dumps(tuple(_cell(value) for value in condition.partition_values))
        tests = [
            (self.sorts.index(next(k for k in self.sorts if k.name == name)), op, [_ordered(_sort_cell(v)) for v in vs])
            for name, op, vs in condition.sort
        ]
        sql, args = "SELECT sk, tk, item FROM items WHERE pk = ?", [pk]
        for position, (_, op, values) in enumerate(condition.sort):
            if op == "eq":  # the leading equalities, in SQL (each attribute's canonical cell)
                sql += f" AND s{position} = ?"
                args.append(_cell(values[0]))
        found = []
        for sk, tk, blob in self._db().execute(sql, args):
            order = tuple(_ordered(cell) for cell in marshal.loads(sk))
            if all(_matches(op, order[position], bounds) for position, op, bounds in tests):
                found.append((order, tk, blob))
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


def _ordered(cell: Any) -> Any:
    """A sort cell as Python orders it the way DynamoDB does: bytes as they are, a number's text as a Decimal."""
    return Decimal(cell) if isinstance(cell, str) else cell


def _matches(op: str, value: Any, bounds: list[Any]) -> bool:
    """One sort attribute's condition; begins_with is for strings and binary (bytes here)."""
    if op == "begins_with":
        return isinstance(value, bytes) and isinstance(bounds[0], bytes) and value.startswith(bounds[0])
    if type(value) is not type(bounds[0]):
        return False
    return _numeric_match(op, value, bounds)


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
