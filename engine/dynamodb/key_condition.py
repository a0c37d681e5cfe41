"""A Query's key condition as data, and the one function that turns it into the request.

An access pattern's query names its key per attribute: an equality on every
partition attribute, then conditions on the sort attributes from the left,
each ``eq`` but the last (DynamoDB's rule for multi-attribute keys, where a
global secondary index has up to four partition and four sort attributes).
A single-attribute key is the case of one partition attribute and at most
one sort condition. Every Query the engine sends for a pattern is built by
``query_request`` (validation, the Workbench export, generated code), so a
key form reaches all of them at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlite2ddb.wire import Wire

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
