"""A NoSQL Workbench data model (format version 3.0) of the plan.

One entry of ``DataModel`` per table with its key attributes, GSIs and the
non-key attributes the item types write; sample items rendered by the plan
as ``TableData``; one facet per item type (its key templates as aliases) and
one per access pattern on the table's own key, so the model opens in the
Workbench's visualizer for review.

``AccessPatterns`` lists every access pattern as the data modeler of NoSQL
Workbench 3.20 (February 2026) holds them: a name, a description, the
operation (``Query`` or ``GetItem``), the table and index it runs against,
its parameters with a sample value each, and the request itself with those
values, built by the engine's ``PatternKey`` exactly as ``validate`` sends it
(a multi-attribute key included), so the pattern runs as exported. AWS
publishes the modeler's steps, not the file's schema: the field names here
follow the data model's own (``TableName``, ``IndexName``, the DynamoDB API's
request fields); ``docs/export.md`` says so.
"""

from __future__ import annotations

import base64
import sqlite3
import time
from collections.abc import Iterable
from typing import Any

from sqlite2ddb.dynamodb.key_condition import PatternKey
from sqlite2ddb.plan.compile import ItemTypePlan, Plan, TablePlan
from sqlite2ddb.spec.model import AccessPatternSpec
from sqlite2ddb.validate.pattern_runner import answer_projection
from sqlite2ddb.wire import Wire

_TYPES = {"number": "N", "string": "S", "binary": "B", "boolean": "BOOL", "map": "M", "list": "L", "json": "M"}


def model(
    plan: Plan,
    samples: dict[str, list[dict[str, Wire]]],
    name: str,
    params: dict[str, dict[str, Any] | None] | None = None,
) -> dict[str, Any]:
    """The data model; ``params``: each access pattern's first parameter row (see ``first_params``),
    whose values make the exported requests ready to run."""
    today = time.strftime("%b %d, %Y, %I:%M %p", time.gmtime())
    return {
        "ModelName": name,
        "ModelMetadata": {
            "Author": "sqlite2ddb export-model",
            "DateCreated": today,
            "DateLastModified": today,
            "Description": f"mapping set {plan.mapping.directory} (digest {plan.mapping.digest[:12]})",
            "AWSService": "Amazon DynamoDB",
            "Version": "3.0",
        },
        "DataModel": [_table(plan, table, samples) for table in plan.tables],
        "AccessPatterns": [access_pattern(plan, p, (params or {}).get(p.name)) for p in plan.mapping.access_patterns],
    }


def first_params(conn: sqlite3.Connection, patterns: Iterable[AccessPatternSpec]) -> dict[str, dict[str, Any] | None]:
    """Each pattern's first parameter row from the source (None when its SQL gives none or does not run)."""
    out: dict[str, dict[str, Any] | None] = {}
    for pattern in patterns:
        try:
            cursor = conn.execute(pattern.params)
            row = cursor.fetchone()
        except sqlite3.Error:
            row = None
        out[pattern.name] = dict(zip([d[0] for d in cursor.description], row)) if row is not None else None
    return out


def access_pattern(plan: Plan, pattern: AccessPatternSpec, params: dict[str, Any] | None) -> dict[str, Any]:
    """One access pattern as the Workbench's data modeler (3.20) holds it: name, description, operation
    (Query or GetItem), table and index, its parameters, and the request itself, built by the engine's
    own ``PatternKey`` (as validate sends it) with the first parameter row's values, so it runs as is."""
    request = pattern.request
    table = plan.table(request.table)
    key = PatternKey(request, table.spec)
    entry: dict[str, Any] = {
        "Name": pattern.name,
        "Description": pattern.description or pattern.name,
        "Type": "GetItem" if key.get is not None else "Query",
        "TableName": table.name,
    }
    if request.index:
        entry["IndexName"] = request.index
    entry["Parameters"] = [
        {"Name": name} | ({"SampleValue": _text(params.get(name))} if params is not None else {})
        for name in key.parameters
    ]
    entry["KeyTemplates"] = _key_templates(key)
    projection = answer_projection(pattern, [name for name, _ in request.get or ()])
    if params is None:
        return entry
    try:
        call = key.request_for(table.name, params)
        call.setdefault("ExpressionAttributeNames", {}).update(projection["ExpressionAttributeNames"])
        call["ProjectionExpression"] = projection["ProjectionExpression"]
    except Exception:  # noqa: BLE001 - a row the key does not render for: the pattern without a ready request
        return entry
    entry["Request"] = _request_json(call)
    return entry


def _key_templates(key: PatternKey) -> dict[str, str]:
    """Attribute -> how its value is made from the parameters (a sort condition: operator and templates)."""
    if key.get is not None:
        return {name: t.source for name, t in key.get}
    out = {name: t.source for name, t in key.partition}
    for name, op, templates in key.sort:
        out[name] = f"{op} {' and '.join(t.source for t in templates)}"
    return out


def _request_json(call: dict[str, Any]) -> dict[str, Any]:
    """A request as JSON: wire values (keys, expression values) as DynamoDB JSON."""
    out = dict(call)
    if "Key" in out:
        out["Key"] = _jsonable(out["Key"])
    if "ExpressionAttributeValues" in out:
        out["ExpressionAttributeValues"] = _jsonable(out["ExpressionAttributeValues"])
    return out


def _text(value: Any) -> str | None:
    return None if value is None else (value.hex() if isinstance(value, bytes) else str(value))


def _key(name: str, kind: str) -> dict[str, str]:
    return {"AttributeName": name, "AttributeType": kind}


def _keys(source: Any) -> dict[str, Any]:
    """PartitionKey and SortKey; a multi-attribute key also lists every attribute, in order, under
    PartitionKeys and SortKeys (PartitionKey and SortKey are then its first attributes)."""
    keys: dict[str, Any] = {"PartitionKey": _key(source.partition_key.name, source.partition_key.type)}
    if source.sort_key:
        keys["SortKey"] = _key(source.sort_key.name, source.sort_key.type)
    if len(source.partition_keys) > 1 or len(source.sort_keys) > 1:
        keys["PartitionKeys"] = [_key(k.name, k.type) for k in source.partition_keys]
        keys["SortKeys"] = [_key(k.name, k.type) for k in source.sort_keys]
    return keys


def _table(plan: Plan, table: TablePlan, samples: dict[str, list[dict[str, Wire]]]) -> dict[str, Any]:
    spec = table.spec
    items = [i for i in plan.item_types if i.table.spec.name == spec.name]
    data = [_jsonable(item) for i in items for item in samples.get(i.name, [])]
    entry: dict[str, Any] = {
        "TableName": table.name,
        "KeyAttributes": _keys(spec),
        "NonKeyAttributes": _non_key_attributes(table, items, samples),
        "TableFacets": [_item_facet(i) for i in items]
        + [
            _pattern_facet(p)
            for p in plan.mapping.access_patterns
            if p.request.table == spec.name and not p.request.index
        ],
        "GlobalSecondaryIndexes": [
            {
                "IndexName": index.name,
                "KeyAttributes": _keys(index),
                "Projection": {"ProjectionType": index.projection}
                | ({"NonKeyAttributes": list(index.non_key_attributes)} if index.projection == "INCLUDE" else {}),
            }
            for index in spec.indexes
        ],
        "TableData": data,
        "DataAccess": {"MySql": {}},
        "BillingMode": spec.billing_mode,
    }
    if spec.billing_mode == "PROVISIONED":
        entry["ProvisionedCapacitySettings"] = {
            "ProvisionedThroughput": {
                "ReadCapacityUnits": spec.read_capacity or 5,
                "WriteCapacityUnits": spec.write_capacity or 5,
            }
        }
    return entry


def _non_key_attributes(
    table: TablePlan, items: list[ItemTypePlan], samples: dict[str, list[dict[str, Wire]]]
) -> list[dict[str, str]]:
    """Every attribute an item type writes, typed from the rendered samples, else from the mapping."""
    keys = set(table.spec.all_key_attributes())
    types: dict[str, str] = {}
    for item in items:
        for sample in samples.get(item.name, []):
            for name, value in sample.items():
                types.setdefault(name, next(iter(value)))
        for attribute in item.attributes:
            types.setdefault(attribute.name, _TYPES.get(attribute.spec.type, "S"))
        for embed in item.embeds:
            if embed.spec.list_attribute:
                types.setdefault(embed.spec.list_attribute, "M" if embed.spec.one else "L")
            for aggregate in embed.spec.aggregates:
                types.setdefault(aggregate.name, "N")
    return [_key(name, kind) for name, kind in types.items() if name not in keys]


def _item_facet(item: ItemTypePlan) -> dict[str, Any]:
    keys = {k.name: k.template.source for k in item.keys if k.primary}
    names = item.table.spec.key_attributes
    alias = {"PartitionKeyAlias": keys[names[0].name]}
    if len(names) > 1:
        alias["SortKeyAlias"] = keys[names[1].name]
    return {
        "FacetName": item.name,
        "KeyAttributeAlias": alias,
        "TableData": [],
        "NonKeyAttributes": [a.name for a in item.attributes]
        + [n for e in item.embeds for n in ([e.spec.list_attribute] if e.spec.list_attribute else [])]
        + [a.name for e in item.embeds for a in e.spec.aggregates],
        "DataAccess": {"MySql": {}},
    }


def _pattern_facet(pattern: AccessPatternSpec) -> dict[str, Any]:
    request = pattern.request
    if request.get is not None:
        get = dict(request.get)
        values = list(get.values())
        alias = {"PartitionKeyAlias": values[0]} | ({"SortKeyAlias": values[1]} if len(values) > 1 else {})
    else:
        alias = {"PartitionKeyAlias": request.partition or ""}
        if request.sort:
            alias["SortKeyAlias"] = f"{request.sort.op} {' and '.join(request.sort.templates)}"
    where = f" (index {request.index})" if request.index else ""
    return {
        "FacetName": pattern.name,
        "KeyAttributeAlias": alias,
        "TableData": [],
        "NonKeyAttributes": [pattern.id_attribute, *pattern.attributes],
        "DataAccess": {"MySql": {}},
        "Description": (pattern.description or pattern.name) + where,
    }


def _jsonable(item: dict[str, Wire]) -> dict[str, Any]:
    return {name: _wire_json(value) for name, value in item.items()}


def _wire_json(value: Wire) -> Any:
    """A wire value as DynamoDB JSON writes it: binary as base64."""
    ((kind, inner),) = value.items()
    if kind == "B":
        return {"B": base64.b64encode(bytes(inner)).decode("ascii")}
    if kind == "BS":
        return {"BS": [base64.b64encode(bytes(v)).decode("ascii") for v in inner]}
    if kind == "M":
        return {"M": {k: _wire_json(v) for k, v in inner.items()}}
    if kind == "L":
        return {"L": [_wire_json(v) for v in inner]}
    return value
