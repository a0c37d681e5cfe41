"""ImportTable's DYNAMODB_JSON format: one ``{"Item": {...}}`` object per line, binary as base64.

The item is the wire-format dictionary ``build_item`` returns (the one
``migrate`` sends in BatchWriteItem), written in its own key order with no
spaces, so the same item always gives the same bytes.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from sqlite2ddb.wire import Wire

_ENCODER = json.JSONEncoder(
    ensure_ascii=False, separators=(",", ":"), default=lambda value: _binary(value), check_circular=False
)


def _binary(value: Any) -> str:
    """Only binary values (B, and the members of BS) are bytes in a wire item."""
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    raise TypeError(f"cannot write {type(value).__name__} in DynamoDB JSON")


def item_line(item: dict[str, Wire]) -> bytes:
    """One line of a part: ``{"Item":{...}}`` and a newline, UTF-8."""
    return (_ENCODER.encode({"Item": item}) + "\n").encode("utf-8")


def read_line(line: bytes | str) -> dict[str, Any]:
    """A part's line back to a wire item with binary values as bytes (what boto3's TypeDeserializer takes)."""
    return _decode(json.loads(line)["Item"])


def _decode(item: dict[str, Any]) -> dict[str, Any]:
    return {name: _decode_value(value) for name, value in item.items()}


def _decode_value(value: dict[str, Any]) -> dict[str, Any]:
    kind, inner = next(iter(value.items()))
    if kind == "B":
        return {"B": base64.b64decode(inner)}
    if kind == "BS":
        return {"BS": [base64.b64decode(v) for v in inner]}
    if kind == "M":
        return {"M": _decode(inner)}
    if kind == "L":
        return {"L": [_decode_value(v) for v in inner]}
    return value
