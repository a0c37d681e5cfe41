"""A Query's key condition as data, and the one function that turns it into the request.

An access pattern's query names its key per attribute: an equality on every
partition attribute, then conditions on the sort attributes from the left,
each ``eq`` but the last (DynamoDB's rule for multi-attribute keys, where a
global secondary index has up to four partition and four sort attributes).
A single-attribute key is the case of one partition attribute and at most
one sort condition. Every Query the engine sends for a pattern is built by
``query_request`` (validation, the Workbench export, generated code), so a
key form reaches all of them at once; ``PatternKey.request_shape`` gives the
request's fixed shape with each key value left to a caller (codegen writes
the expression that renders it).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlite2ddb.spec.model import RequestSpec, TableSpec
from sqlite2ddb.spec.templates import CompiledTemplate, compile_template
from sqlite2ddb.wire import KEY_CONVERTERS, Wire

#: Sort operator -> the KeyConditionExpression text, with {a} the attribute and {v0}, {v1} the values.
SORT_EXPRESSIONS = {
    "eq": "{a} = {v0}",
    "begins_with": "begins_with({a}, {v0})",
    "lt": "{a} < {v0}",
    "le": "{a} <= {v0}",
    "gt": "{a} > {v0}",
    "ge": "{a} >= {v0}",
    "between": "{a} BETWEEN {v0} AND {v1}",
}


@dataclass(frozen=True)
class KeyCondition:
    """Values of one Query's key condition: (attribute, value) per partition attribute, and
    (attribute, operator, values) per sort attribute the query uses, from the left."""

    partition: tuple[tuple[str, Wire], ...]
    sort: tuple[tuple[str, str, tuple[Wire, ...]], ...] = ()

    @property
    def partition_values(self) -> tuple[Wire, ...]:
        return tuple(value for _, value in self.partition)


def query_request(table: str, index: str | None, condition: KeyCondition, forward: bool = True) -> dict[str, Any]:
    """The Query parameters (TableName, IndexName or ConsistentRead, KeyConditionExpression, names, values,
    ScanIndexForward) for a key condition; the caller adds projection, limit and paging.

    One partition attribute and one sort condition give the names ``#pk``/``#sk`` and values
    ``:pk``/``:sk0``/``:sk1``; a multi-attribute key gives ``#pk0``.. and ``#sk0``.. per attribute.
    """
    single = len(condition.partition) == 1 and len(condition.sort) <= 1
    names: dict[str, str] = {}
    values: dict[str, Wire] = {}
    terms = []
    for i, (attribute, value) in enumerate(condition.partition):
        name, placeholder = ("#pk", ":pk") if single else (f"#pk{i}", f":pk{i}")
        names[name], values[placeholder] = attribute, value
        terms.append(f"{name} = {placeholder}")
    for i, (attribute, op, operands) in enumerate(condition.sort):
        name = "#sk" if single else f"#sk{i}"
        names[name] = attribute
        placeholders = [f":sk{j}" if single else f":sk{i}_{j}" for j in range(len(operands))]
        values.update(zip(placeholders, operands))
        terms.append(SORT_EXPRESSIONS[op].format(a=name, **{f"v{j}": p for j, p in enumerate(placeholders)}))
    request: dict[str, Any] = {
        "TableName": table,
        "KeyConditionExpression": " AND ".join(terms),
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": values,
        "ScanIndexForward": forward,
    }
    if index:
        request["IndexName"] = index
    else:
        request["ConsistentRead"] = True
    return request


@dataclass(frozen=True)
class KeySlot:
    """One key value of a pattern's request, rendered from a parameter row: the key attribute it is
    compared with, its template and the attribute's key type (S, N or B)."""

    attribute: str
    template: CompiledTemplate
    type: str


class PatternKey:
    """An access pattern's request key, compiled once: its GetItem key, or its Query's key condition,
    for one parameter row (each value converted to its key attribute's type)."""

    def __init__(self, request: RequestSpec, table: TableSpec) -> None:
        source = table.index(request.index) if request.index else table
        assert source is not None, f"table {table.name} has no index {request.index}"
        self.request = request
        self.partition_names = tuple(k.name for k in source.partition_keys)
        self.sort_names = tuple(k.name for k in source.sort_keys)
        self.get = [(name, compile_template(t)) for name, t in request.get] if request.get is not None else None
        partition, sort = request.key_terms(self.partition_names, self.sort_names)
        self.partition = [(name, compile_template(t)) for name, t in partition] if self.get is None else []
        self.sort = [(name, c.op, [compile_template(t) for t in c.templates]) for name, c in sort]
        if self.get is not None:
            self.sort = []
        self.types = {name: key.type for name, key in table.all_key_attributes().items()}
        self.convert = {name: KEY_CONVERTERS[kind] for name, kind in self.types.items()}

    @property
    def parameters(self) -> tuple[str, ...]:
        """The parameter names the key's templates read, in a stable order."""
        templates = [t for _, t in self.get or ()] + [t for _, t in self.partition]
        templates += [t for _, _, ts in self.sort for t in ts]
        return tuple(sorted({c for t in templates for c in t.columns}))

    def get_key(self, params: Mapping[str, Any]) -> dict[str, Wire]:
        """A GetItem pattern's key for one parameter row."""
        assert self.get is not None
        return {name: self.convert[name](template.render(params)) for name, template in self.get}

    def condition(self, params: Mapping[str, Any]) -> KeyCondition:
        """The key condition for one parameter row; a GetItem is ``partition = pk AND sort = sk`` on the table."""
        if self.get is not None:
            key = self.get_key(params)
            partition = ((self.partition_names[0], key[self.partition_names[0]]),)
            if not self.sort_names:
                return KeyCondition(partition)
            return KeyCondition(partition, ((self.sort_names[0], "eq", (key[self.sort_names[0]],)),))
        return KeyCondition(
            tuple((name, self.convert[name](t.render(params))) for name, t in self.partition),
            tuple(
                (name, op, tuple(self.convert[name](t.render(params)) for t in templates))
                for name, op, templates in self.sort
            ),
        )

    def request_for(self, table_name: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """The GetItem or Query parameters for one parameter row (see ``request_shape``); the caller adds
        projection, limit and paging."""
        return self.request_shape(table_name, lambda slot: self.convert[slot.attribute](slot.template.render(params)))[
            1
        ]

    def request_shape(self, table_name: str, value: Callable[[KeySlot], Any]) -> tuple[str, dict[str, Any]]:
        """The pattern's operation (``get_item`` or ``query``) and its parameters, each key value given by
        ``value`` from its slot: generated code gets the request validate sends (``query``), with the
        expressions that render the values in their places."""
        if self.get is not None:
            key = {name: value(KeySlot(name, t, self.types[name])) for name, t in self.get}
            return "get_item", {"TableName": table_name, "Key": key, "ConsistentRead": True}
        condition = KeyCondition(
            tuple((name, value(KeySlot(name, t, self.types[name]))) for name, t in self.partition),
            tuple(
                (name, op, tuple(value(KeySlot(name, t, self.types[name])) for t in templates))
                for name, op, templates in self.sort
            ),
        )
        return "query", query_request(table_name, self.request.index, condition, self.request.forward)
