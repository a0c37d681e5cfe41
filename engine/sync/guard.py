"""``sync --guard``: writes that leave alone an item someone else changed in DynamoDB.

After cutover the application writes DynamoDB directly. A table whose mapping
names a ``fingerprint_attribute`` keeps, in every item, a hash of the item's
other attributes as the tool wrote it. A guarded sync writes one item at a
time (BatchWriteItem takes no conditions), on a pool of threads, each write
under a condition: the item must still carry the fingerprint the tool last
wrote and every attribute the tool wrote, with the value it wrote. A changed
item is an UpdateItem that SETs the tool's attributes and REMOVEs those the
tool wrote before and renders no more, so an attribute the application added
(and nothing else) survives; a new key is a PutItem that must not find the
key; a delete is a DeleteItem under the same condition. An item changed
outside the tool fails the condition; it is reported as a conflict with its
key and never overwritten.
"""

from __future__ import annotations

import json
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from loguru import logger

from sqlite2ddb.canonical import content_hash, from_canonical
from sqlite2ddb.dynamodb.failures import describe_error
from sqlite2ddb.dynamodb.retry import error_code, with_retries
from sqlite2ddb.dynamodb.target import Target
from sqlite2ddb.errors import MigrationError, UsageError
from sqlite2ddb.plan.compile import TablePlan
from sqlite2ddb.state.fingerprints import FingerprintStore
from sqlite2ddb.sync.diff import Delete, Put
from sqlite2ddb.wire import Wire

#: the longest UpdateExpression or ConditionExpression DynamoDB takes
MAX_EXPRESSION = 4096


@dataclass(frozen=True)
class Conflict:
    table: str
    key: str
    action: str  # put or delete

    def line(self) -> str:
        return f"{self.table}: key {self.key} was changed outside the tool; {self.action} skipped, item left as it is"


def guard_attribute(table: TablePlan) -> str:
    name = table.spec.fingerprint_attribute
    if not name:
        raise UsageError(
            f"sync --guard needs 'fingerprint_attribute' in the mapping of table {table.spec.name} "
            f"({table.spec.location})",
            "add it (e.g. fingerprint_attribute: _fp), run sync once without --guard, then guard",
        )
    return name


class GuardedWriter:
    """Conditional PutItem/UpdateItem/DeleteItem on a pool of threads; the store follows each success."""

    def __init__(
        self, target: Target, table: TablePlan, store: FingerprintStore, workers: int, against: bool = False
    ) -> None:
        self.target = target
        self.against = against  # the held items were read from the live table, not the store
        self.table = table
        self.store = store
        self.attribute = guard_attribute(table)
        self.conflicts: list[Conflict] = []
        self.put = self.deleted = 0
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"guard-{table.name}")
        self._futures: list[Future[None]] = []

    def submit(self, change: Put | Delete) -> None:
        self._futures.append(self._pool.submit(self._write, change))
        if len(self._futures) > 1000:
            self._drain(self._futures[:500])
            self._futures = self._futures[500:]

    def close(self) -> list[Conflict]:
        try:
            self._drain(self._futures)
        finally:
            self._pool.shutdown(wait=True)
        return self.conflicts

    @staticmethod
    def _drain(futures: list[Future[None]]) -> None:
        for future in futures:
            future.result()

    def _write(self, change: Put | Delete) -> None:
        key = change.fingerprint.key if isinstance(change, Put) else change.key_text
        action = "put" if isinstance(change, Put) else "delete"
        request = self._request(change)
        if request is None:
            return self._conflict(Conflict(self.table.name, key, action))
        method, kwargs = request
        try:
            with_retries(
                lambda: getattr(self.target.client, method)(**kwargs),
                self.target.retry,
                f"{action} in {self.table.name}",
                self.target.throttles,
            )
        except Exception as exc:  # noqa: BLE001 - a failed condition is a conflict; the rest one line
            if error_code(exc) != "ConditionalCheckFailedException":
                raise describe_error(exc, f"{action} in {self.table.name}", self.target) from None
            return self._conflict(Conflict(self.table.name, key, action))
        if isinstance(change, Put):
            self.store.record(self.table.name, [change.fingerprint])
        else:
            self.store.forget(self.table.name, [change.key_text])
        with self._lock:
            self.put += isinstance(change, Put)
            self.deleted += isinstance(change, Delete)

    def _conflict(self, conflict: Conflict) -> None:
        logger.warning("{}", conflict.line())
        with self._lock:
            self.conflicts.append(conflict)

    def _request(self, change: Put | Delete) -> tuple[str, dict[str, Any]] | None:
        """The conditional request for one change (None: what the tool wrote cannot be told, a conflict)."""
        held = None if change.held is None else json.loads(change.held)
        if isinstance(change, Delete):
            if held is not None and self._tool_attributes(held, {}) is None:
                return None  # read from the live table, and not as the tool wrote it
            return "delete_item", {"TableName": self.table.name, "Key": change.key, **self._condition(held)}
        if held is None:
            return "put_item", {"TableName": self.table.name, "Item": change.item, **self._condition(None)}
        update = self._update(change.item, held, change.fingerprint.key)
        return None if update is None else ("update_item", update)

    def _update(self, item: dict[str, Wire], old: dict[str, Any], key: str) -> dict[str, Any] | None:
        """SET the attributes the tool renders now, REMOVE those it wrote and renders no more.

        Attributes the application added are neither set nor removed: they
        survive. The condition is the one a put had (``_condition``).
        """
        tool = self._tool_attributes(old, item)
        if tool is None:
            return None
        keys = set(self.table.spec.primary_key_names)
        condition = self._condition(old)
        names: dict[str, str] = condition["ExpressionAttributeNames"]
        values: dict[str, Any] = condition.setdefault("ExpressionAttributeValues", {})
        placeholders = {name: placeholder for placeholder, name in names.items()}

        def ref(name: str) -> str:
            if name not in placeholders:
                placeholders[name] = f"#n{len(placeholders)}"
                names[placeholders[name]] = name
            return placeholders[name]

        sets = []
        for i, (name, value) in enumerate(sorted((n, v) for n, v in item.items() if n not in keys)):
            values[f":v{i}"] = value
            sets.append(f"{ref(name)} = :v{i}")
        removes = [ref(name) for name in sorted(tool - set(item) - keys)]
        expression = "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else "")
        if max(len(expression), len(condition["ConditionExpression"])) > MAX_EXPRESSION:
            raise MigrationError(
                f"sync --guard: the item {key} of {self.table.name} has too many attributes for one "
                f"conditional update ({len(item)} rendered, {len(tool)} held; DynamoDB takes expressions "
                f"of {MAX_EXPRESSION} characters)",
                "sync this table without --guard",
            )
        return {
            "TableName": self.table.name,
            "Key": {k: item[k] for k in self.table.spec.primary_key_names},
            "UpdateExpression": expression,
            **condition,
        }

    def _tool_attributes(self, old: dict[str, Any], item: dict[str, Wire]) -> set[str] | None:
        """The attributes of the held item the tool wrote (None: cannot be told).

        The fingerprint store holds what the tool wrote: all of it. A held item
        read from the live table (``--against-target``) may carry attributes
        the application added: its fingerprint attribute (a hash of what the
        tool wrote) tells whether that was all of it, or what the tool renders
        now, the rest being the application's. Anything else is a conflict.
        """
        if not self.against:
            return set(old)
        mark = old.get(self.attribute, {}).get("S")
        written = {name: value for name, value in old.items() if name != self.attribute}
        for names in (set(written), set(written) & set(item)):
            if mark and mark == content_hash({n: written[n] for n in names}):
                return names | {self.attribute}
        return None

    def _condition(self, old: dict[str, Any] | None) -> dict[str, Any]:
        """The item must still be the one the tool wrote (or, for a new key, not exist).

        The fingerprint attribute catches an item replaced by a PutItem of the
        application (it does not carry it); each attribute the tool wrote,
        compared by value, catches an UpdateItem that changed or removed one.
        """
        if old is None:
            names = {"#pk": self.table.spec.partition_key.name}
            return {"ConditionExpression": "attribute_not_exists(#pk)", "ExpressionAttributeNames": names}
        keys = set(self.table.spec.primary_key_names)
        names, values, terms = {}, {}, []
        for i, (name, value) in enumerate(sorted(old.items())):
            if name in keys:
                continue
            names[f"#a{i}"] = name
            values[f":a{i}"] = from_canonical(value)
            terms.append(f"#a{i} = :a{i}")
        if self.attribute not in old:
            names["#fp"] = self.attribute
            terms.append("attribute_not_exists(#fp)")
        condition: dict[str, Any] = {"ConditionExpression": " AND ".join(terms), "ExpressionAttributeNames": names}
        if values:
            condition["ExpressionAttributeValues"] = values
        return condition
