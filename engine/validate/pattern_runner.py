"""One access pattern's request against DynamoDB and its SQL against the source, for one parameter row."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator
from itertools import chain
from typing import Any

from sqlite2ddb.canonical import at_path, jsonable, plain_value
from sqlite2ddb.dynamodb.failures import describe_error
from sqlite2ddb.dynamodb.key_condition import KeyCondition, PatternKey
from sqlite2ddb.dynamodb.reads import PAGE_ITEMS, Reader
from sqlite2ddb.errors import TargetError
from sqlite2ddb.extract.connections import SourceConnections
from sqlite2ddb.plan.compile import Plan
from sqlite2ddb.spec.model import AccessPatternSpec
from sqlite2ddb.validate.answers import Aligned, Difference, sorted_stream
from sqlite2ddb.validate.generated import GeneratedMethod
from sqlite2ddb.validate.results import Failure
from sqlite2ddb.wire import Wire, to_python


class PatternRunner:
    """Runs one access pattern for one parameter row on both sides and compares."""

    def __init__(self, pattern: AccessPatternSpec, plan: Plan, reader: Reader, sources: SourceConnections) -> None:
        self.pattern = pattern
        self.reader = reader
        self.sources = sources
        request = pattern.request
        table = plan.table(request.table)
        self.table_name = table.name
        self.key = PatternKey(request, table.spec)
        self.get = self.key.get
        self.projection = answer_projection(pattern, [name for name, _ in request.get or ()])
        self.generated: GeneratedMethod | None = None  # answers from the generated code (validate --generated)

    def check_many(self, chunk: list[dict[str, Any]]) -> list[list[Failure]]:
        """Check a chunk of parameter rows; GetItem patterns fetch the chunk in one BatchGetItem."""
        prefetched: dict[str, dict[str, Wire] | None] | None = None
        if self.get is not None and self.generated is None:
            try:
                prefetched = self._batch_get(chunk)
            except TargetError as exc:
                return [[Failure("pattern", f"params {p}: DynamoDB request failed: {exc}")] for p in chunk]
        return [self.check(params, prefetched) for params in chunk]

    def check(self, params: dict[str, Any], prefetched: dict[str, Any] | None = None) -> list[Failure]:
        try:
            got = self._dynamodb(params, prefetched)
            want = self.sql_rows(params)
            return self.compare(params, want, got)[0]
        except TargetError as exc:
            return [Failure("pattern", f"params {params}: DynamoDB request failed: {exc}")]
        except sqlite3.Error as exc:
            return [Failure("pattern", f"{self.pattern.location}: SQL does not run: {exc}")]

    def sql_rows(self, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """The rows the pattern's SQL gives for one parameter row, as they are read (sqlite3.Error when it does not run)."""
        cursor = self.sources.get().execute(self.pattern.sql, params)
        names = [d[0] for d in cursor.description]
        return (dict(zip(names, values)) for values in cursor)

    def key_condition(self, params: dict[str, Any]) -> KeyCondition:
        """The request's key condition for one parameter row (a GetItem's key as a Query's condition)."""
        return self.key.condition(params)

    def plain_answer(self, items: Iterable[dict[str, Wire]]) -> Iterator[dict[str, Any]]:
        """Wire items of an answer -> the plain values compared with SQL (``expand`` applied), one by one."""
        plain = ({k: to_python(v) for k, v in item.items()} for item in items)
        expand = self.pattern.request.expand
        if not expand:
            return plain
        # a list of maps, or one map (an embed with one: true)
        values = (item.get(expand, []) for item in plain)
        return (element for value in values for element in (value if isinstance(value, list) else [value]))

    def answer(self, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """DynamoDB's answer for one parameter row, one request (no batching); TargetError when it fails."""
        return self._dynamodb(params)

    def _get_key(self, params: dict[str, Any]) -> dict[str, Wire]:
        return self.key.get_key(params)

    def _batch_get(self, chunk: list[dict[str, Any]]) -> dict[str, dict[str, Wire] | None]:
        keys = {json.dumps(self._get_key(p), sort_keys=True, default=jsonable): self._get_key(p) for p in chunk}
        found: dict[str, dict[str, Wire] | None] = dict.fromkeys(keys)
        names = [name for name, _ in self.get or ()]
        request: dict[str, Any] = {
            self.table_name: {"Keys": list(keys.values()), "ConsistentRead": True, **self.projection}
        }
        for item in self.reader.batch_get(self.table_name, request, f"access pattern {self.pattern.name}"):
            found[json.dumps({n: item[n] for n in names}, sort_keys=True, default=jsonable)] = item
        return found

    def _dynamodb(self, params: dict[str, Any], prefetched: dict[str, Any] | None = None) -> Iterator[dict[str, Any]]:
        """DynamoDB's answer, plain, page by page; the first page is read now, so a refused request raises here."""
        if self.generated is not None:
            return self.generated.answer(params)
        pages = self._pages(params, prefetched)
        first = next(pages, [])
        return self.plain_answer(chain(first, chain.from_iterable(pages)))

    def _pages(self, params: dict[str, Any], prefetched: dict[str, Any] | None) -> Iterator[list[dict[str, Wire]]]:
        action = f"access pattern {self.pattern.name}"
        try:
            if self.get is None:
                yield from self._query(params)
                return
            key = self._get_key(params)
            if prefetched is not None:
                stored = prefetched.get(json.dumps(key, sort_keys=True, default=jsonable))
                yield [stored] if stored else []
                return
            response = self.reader.call(
                "get_item", action, **self.key.request_for(self.table_name, params), **self.projection
            )
            yield [response["Item"]] if "Item" in response else []
        except TargetError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise describe_error(exc, action, self.reader.target) from None

    def _query(self, params: dict[str, Any]) -> Iterator[list[dict[str, Wire]]]:
        kwargs = self.key.request_for(self.table_name, params)
        kwargs["ExpressionAttributeNames"].update(self.projection["ExpressionAttributeNames"])
        kwargs["ProjectionExpression"] = self.projection["ProjectionExpression"]
        kwargs["Limit"] = PAGE_ITEMS  # a 1 MB page is tens of MB as Python objects, held by each worker
        while True:
            page = self.reader.call("query", f"access pattern {self.pattern.name}", **kwargs)
            yield page.get("Items", [])
            if not page.get("LastEvaluatedKey"):
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def compare(
        self, params: dict[str, Any], want: Iterable[dict[str, Any]], got: Iterable[dict[str, Any]]
    ) -> tuple[list[Failure], int]:
        """The failures of one answer against SQL's, and how many of its items matched SQL's ids in order.

        Both answers stream (see ``answers``): ids are compared pair by pair
        in the pattern's order (id order for an unordered pattern), and the
        attributes of each pair with equal ids. When the ids part, only that
        one failure is reported, with the ids of each side from where they part.
        """
        id_name = self.pattern.id_attribute

        def ident(row: dict[str, Any]) -> Any:
            return plain_value(row.get(id_name))

        def shown(row: dict[str, Any]) -> Any:
            return jsonable(ident(row))

        if not self.pattern.ordered:  # both in the order of the id's text as reports show it (3000, not 3E+3)
            want, got = sorted_stream(want, lambda r: str(shown(r))), sorted_stream(got, lambda r: str(shown(r)))
        aligned = Aligned(want, got, ident, shown)
        label = json.dumps(params, default=jsonable, sort_keys=True)
        failures = [f for row, item in aligned for f in self._attribute_failures(label, row, item)]
        difference = aligned.difference
        if difference is None:
            return failures, aligned.count
        return [parted(label, f"{id_name} values differ from SQL", id_name, difference)], aligned.count

    def _attribute_failures(self, label: str, row: dict[str, Any], item: dict[str, Any]) -> Iterator[Failure]:
        for attribute in self.pattern.attributes:
            expected, actual = plain_value(row.get(attribute)), plain_value(at_path(item, attribute))
            if expected != actual:
                ident = jsonable(plain_value(row.get(self.pattern.id_attribute)))
                yield Failure(
                    "pattern",
                    f"params {label}: {self.pattern.id_attribute} {ident}: attribute differs from SQL",
                    key={self.pattern.id_attribute: ident},
                    path=attribute,
                    expected=jsonable(expected) if expected is not None else None,
                    actual=jsonable(actual) if actual is not None else None,
                )


def parted(label: str, what: str, id_name: str, difference: Difference) -> Failure:
    """The failure of two answers whose ids part: ``what``, where, and the ids each side shows from there."""
    return Failure(
        "pattern",
        f"params {label}: {what}{difference.where}",
        path=id_name,
        expected=difference.first,
        actual=difference.second,
    )


def answer_projection(pattern: AccessPatternSpec, key_names: list[str]) -> dict[str, Any]:
    """Read only the attributes the comparison looks at (and the key, for batched gets).

    The answer's items are the same; botocore parses and converts less.
    """
    if pattern.request.expand:
        roots = [pattern.request.expand]
    else:
        roots = [pattern.id_attribute, *(a.split(".")[0] for a in pattern.attributes)]
    roots = list(dict.fromkeys([*key_names, *roots]))
    names = {f"#p{i}": name for i, name in enumerate(roots)}
    return {"ProjectionExpression": ", ".join(names), "ExpressionAttributeNames": names}
