"""``sync --guard``: writes that leave alone an item someone else changed in DynamoDB.

After cutover the application writes DynamoDB directly. A table whose mapping
names a ``fingerprint_attribute`` keeps, in every item, a hash of the item's
other attributes as the tool wrote it. A guarded sync puts and deletes one
item at a time (BatchWriteItem takes no conditions) with a condition: the
item must still carry the fingerprint the tool last wrote and every attribute
the tool wrote, with the value it wrote; a new key must not exist yet. An
attribute the application added and nothing else is not seen. An item changed outside the tool fails the
condition; it is reported as a conflict with its key and never overwritten.
"""

from __future__ import annotations

import json
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from loguru import logger

from engine.canonical import from_canonical
from engine.diff import Delete, Put
from engine.errors import UsageError
from engine.plan import TablePlan
from engine.retry import error_code, with_retries
from engine.state.fingerprints import FingerprintStore
from engine.target import Target, describe_error


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
    """Conditional PutItem/DeleteItem on a pool of threads; the store follows each success."""

    def __init__(self, target: Target, table: TablePlan, store: FingerprintStore, workers: int) -> None:
        self.target = target
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
        kwargs = {"TableName": self.table.name, **self._condition(change.held)}
        if isinstance(change, Put):
            method, kwargs["Item"], action = "put_item", change.item, "put"
        else:
            method, kwargs["Key"], action = "delete_item", change.key, "delete"
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
            conflict = Conflict(self.table.name, key, action)
            logger.warning("{}", conflict.line())
            with self._lock:
                self.conflicts.append(conflict)
            return
        if isinstance(change, Put):
            self.store.record(self.table.name, [change.fingerprint])
        else:
            self.store.forget(self.table.name, [change.key_text])
        with self._lock:
            self.put += isinstance(change, Put)
            self.deleted += isinstance(change, Delete)

    def _condition(self, held: str | None) -> dict[str, Any]:
        """The item must still be the one the tool wrote (or, for a new key, not exist).

        The fingerprint attribute catches an item replaced by a PutItem of the
        application (it does not carry it); each attribute the tool wrote,
        compared by value, catches an UpdateItem that changed or removed one.
        """
        if held is None:
            names = {"#pk": self.table.spec.partition_key.name}
            return {"ConditionExpression": "attribute_not_exists(#pk)", "ExpressionAttributeNames": names}
        old = json.loads(held)
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
