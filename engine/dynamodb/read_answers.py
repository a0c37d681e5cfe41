"""The items of DynamoDB's read answers decoded by orjson instead of botocore's shape walker.

botocore turns a response into Python by walking the service model: a Python
call for every attribute value at every level of nesting. For Scan and Query
pages that walk was the largest share of validation's client CPU (24 of 83 s
at x10). Yet the items' JSON already is the form the engine works with
(``{"S": ...}``, ``{"N": "1.5"}``, ...), except binary values, which JSON
carries as base64 and botocore hands over as bytes.

So a ``before-parse`` handler (botocore's documented hook, which receives the
raw response and a dict merged into the parsed one) takes the items out of a
successful answer's body, decodes them with orjson, turns ``B`` and ``BS``
values into bytes, and hands them back; botocore parses what is left (keys,
counts, consumed capacity, unprocessed keys) as it always does. The result is
the same as botocore's (``tests/test_read_answers.py`` compares the two on
every attribute type). Checksums are verified on the raw response, before this.
"""

from __future__ import annotations

import base64
import re
from typing import Any

import orjson

#: Operation -> the fields of its answer that hold items (a list, one item, or lists per table).
ITEM_FIELDS = {
    "Scan": ("Items",),
    "Query": ("Items",),
    "GetItem": ("Item",),
    "BatchGetItem": ("Responses",),
}

#: A "B" or "BS" type tag (or a name spelled so, which costs only the walk): "Bytes", "Billing" do not match.
_BINARY_TAG = re.compile(rb'"BS?"\s*:')


def install(client: Any) -> Any:
    """Register the handler on a DynamoDB client (and return it)."""
    for operation in ITEM_FIELDS:
        client.meta.events.register(f"before-parse.dynamodb.{operation}", _take_items)
    return client


def _take_items(
    operation_model: Any, response_dict: dict[str, Any], customized_response_dict: dict[str, Any], **_: Any
) -> None:
    if response_dict.get("status_code") != 200 or not isinstance(response_dict.get("body"), bytes):
        return
    body = response_dict["body"]
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        return  # botocore reports it
    if not isinstance(document, dict):
        return
    taken = {f: document.pop(f) for f in ITEM_FIELDS[operation_model.name] if f in document}
    if not taken:
        return
    if _BINARY_TAG.search(body):  # a binary value may be inside ("B" or "BS"): decode them as botocore does
        taken = {field: _binary(value) for field, value in taken.items()}
    customized_response_dict.update(taken)
    response_dict["body"] = orjson.dumps(document)


def _binary(value: Any) -> Any:
    """Items (or lists or maps of them) with base64 ``B``/``BS`` values as bytes."""
    if isinstance(value, list):
        return [_binary(v) for v in value]
    if not isinstance(value, dict):
        return value
    if len(value) == 1:
        ((kind, inner),) = value.items()
        if kind == "B" and isinstance(inner, str):
            return {"B": base64.b64decode(inner)}
        if kind == "BS" and isinstance(inner, list):
            return {"BS": [base64.b64decode(v) for v in inner]}
    return {k: _binary(v) for k, v in value.items()}
