"""The DynamoDB request of an access pattern: one function builds it, validate sends it, codegen writes it out.

``pattern_request`` turns a pattern's ``request:`` into what is fixed about
the request (operation, table, index, key condition, attribute names, order,
consistency) and the key values still to be rendered from a parameter row
(``KeyValue``: a placeholder or key attribute, its template and its key
type). ``request_kwargs`` puts the two together into the keyword arguments of
boto3's ``query`` or ``get_item``. Validation (``pattern_runner``) and the
generated data-access code (``sqlite2ddb.codegen``) both start from these, so
a new form of key condition added here reaches both.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlite2ddb.spec.model import AccessPatternSpec, TableSpec

#: A sort condition's operator -> its part of the key condition expression.
SORT_CONDITIONS = {
    "eq": " AND #sk = :sk0",
    "begins_with": " AND begins_with(#sk, :sk0)",
    "lt": " AND #sk < :sk0",
    "le": " AND #sk <= :sk0",
    "gt": " AND #sk > :sk0",
    "ge": " AND #sk >= :sk0",
    "between": " AND #sk BETWEEN :sk0 AND :sk1",
}


@dataclass(frozen=True)
class KeyValue:
    """One value of the request rendered from a parameter row.

    ``slot`` is the expression placeholder (``:pk``, ``:sk0``) of a Query, or
    the key attribute's name of a GetItem; ``attribute`` the key attribute it
    is compared with; ``type`` that attribute's key type (S, N or B).
    """

    slot: str
    attribute: str
    template: str
    type: str


@dataclass(frozen=True)
class PatternRequest:
    """What is fixed about an access pattern's request; ``values`` are rendered per parameter row."""

    operation: str  # "query" or "get_item"
    table: str  # the mapping's table name (the target's has the prefix)
    index: str | None
    values: tuple[KeyValue, ...]
    condition: str | None  # KeyConditionExpression of a Query
    names: tuple[tuple[str, str], ...]  # ExpressionAttributeNames of a Query
    forward: bool
    expand: str | None

    @property
    def consistent(self) -> bool:
        """Strongly consistent reads where DynamoDB offers them (not on a global index)."""
        return self.index is None


def pattern_request(pattern: AccessPatternSpec, table: TableSpec) -> PatternRequest:
    """The request of ``pattern`` on ``table`` (the table its ``request.table`` names)."""
    request = pattern.request
    key_source = table.index(request.index) if request.index else table
    assert key_source is not None, f"{pattern.name}: index {request.index} is not on table {table.name}"
    types = table.all_key_attributes()
    partition = key_source.partition_key.name
    sort = key_source.sort_key.name if key_source.sort_key else None
    if request.get is not None:
        values = tuple(KeyValue(name, name, t, types[name].type) for name, t in request.get)
        return PatternRequest(
            "get_item", request.table, request.index, values, None, (), request.forward, request.expand
        )
    assert request.partition is not None
    values_list = [KeyValue(":pk", partition, request.partition, types[partition].type)]
    condition, names = "#pk = :pk", [("#pk", partition)]
    if request.sort and sort:
        names.append(("#sk", sort))
        values_list += [KeyValue(f":sk{i}", sort, t, types[sort].type) for i, t in enumerate(request.sort.templates)]
        condition += SORT_CONDITIONS[request.sort.op]
    return PatternRequest(
        "query",
        request.table,
        request.index,
        tuple(values_list),
        condition,
        tuple(names),
        request.forward,
        request.expand,
    )


def request_kwargs(request: PatternRequest, table_name: Any, values: Mapping[str, Any]) -> dict[str, Any]:
    """boto3's keyword arguments for ``request`` on ``table_name``, ``values`` by slot (wire values, or
    anything standing for them: codegen passes the expressions it writes)."""
    if request.operation == "get_item":
        return {
            "TableName": table_name,
            "Key": {v.slot: values[v.slot] for v in request.values},
            "ConsistentRead": True,
        }
    kwargs: dict[str, Any] = {
        "TableName": table_name,
        "KeyConditionExpression": request.condition,
        "ExpressionAttributeNames": dict(request.names),
        "ExpressionAttributeValues": {v.slot: values[v.slot] for v in request.values},
        "ScanIndexForward": request.forward,
    }
    if request.index:
        kwargs["IndexName"] = request.index
    if request.consistent:
        kwargs["ConsistentRead"] = True
    return kwargs
