"""SQLite values -> DynamoDB attribute values (wire format), and item sizes.

One small handler per declared type. Numbers keep the exact decimal text of
the source value: a REAL 0.99 becomes ``{"N": "0.99"}``, never 0.98999...
A NULL becomes ``None``, which callers read as "leave the attribute out".
"""

from __future__ import annotations

import decimal
import json
import math
from collections.abc import Callable
from decimal import Decimal
from typing import Any

Wire = dict[str, Any]

MAX_DIGITS = 38
MAX_ITEM_BYTES = 400 * 1024
_MIN_EXP, _MAX_EXP = -130, 125
_TRUE = {"1", "true", "t", "yes", "y"}
_FALSE = {"0", "false", "f", "no", "n"}


class ConversionError(ValueError):
    """A value cannot be stored as the declared DynamoDB type."""


def number_text(value: Any) -> str:
    """Exact decimal text DynamoDB accepts, or ConversionError."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        text = str(value)
        if len(text.lstrip("-")) <= MAX_DIGITS:
            return text
        return _checked_decimal(Decimal(value), text)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ConversionError(f"{value!r} is not a number DynamoDB can store")
        text = repr(value)
        return _checked_decimal(Decimal(text), text)
    if isinstance(value, Decimal):
        return _checked_decimal(value, str(value))
    if isinstance(value, str):
        try:
            parsed = Decimal(value.strip())
        except decimal.InvalidOperation:
            raise ConversionError(f"text {value!r} is not a number") from None
        return _checked_decimal(parsed, value.strip())
    raise ConversionError(f"{type(value).__name__} value {value!r} is not a number")


def _checked_decimal(number: Decimal, text: str) -> str:
    if not number.is_finite():
        raise ConversionError(f"{text} is not a number DynamoDB can store")
    if number.is_zero():
        return text
    significant = "".join(map(str, number.as_tuple().digits)).strip("0")
    if len(significant) > MAX_DIGITS:
        raise ConversionError(f"{text} has {len(significant)} significant digits; DynamoDB keeps at most 38")
    if not _MIN_EXP <= number.adjusted() <= _MAX_EXP:
        raise ConversionError(f"{text} is out of DynamoDB's number range (1E-130 to 9.99E+125)")
    return text


def _string(value: Any) -> Wire:
    if isinstance(value, bytes):
        raise ConversionError("binary value declared as string")
    if isinstance(value, float):
        return {"S": repr(value)}
    return {"S": str(value)}


def _number(value: Any) -> Wire:
    return {"N": number_text(value)}


def _boolean(value: Any) -> Wire:
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, int | float) and value in (0, 1):
        return {"BOOL": bool(value)}
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return {"BOOL": value.strip().lower() in _TRUE}
    raise ConversionError(f"{value!r} is not a boolean (0/1, true/false, yes/no)")


def _binary(value: Any) -> Wire:
    if isinstance(value, bytes | bytearray | memoryview):
        return {"B": bytes(value)}
    if isinstance(value, str):
        return {"B": value.encode("utf-8")}
    raise ConversionError(f"{type(value).__name__} value is not binary")


def _json(value: Any) -> Wire:
    parsed = _parse_json(value)
    return from_python(parsed)


def _list(value: Any) -> Wire:
    parsed = _parse_json(value) if isinstance(value, str | bytes) else value
    if not isinstance(parsed, list):
        raise ConversionError("value is not a JSON array")
    return from_python(parsed)


def _map(value: Any) -> Wire:
    parsed = _parse_json(value) if isinstance(value, str | bytes) else value
    if not isinstance(parsed, dict):
        raise ConversionError("value is not a JSON object")
    return from_python(parsed)


def _parse_json(value: Any) -> Any:
    if not isinstance(value, str | bytes):
        raise ConversionError(f"{type(value).__name__} value is not JSON text")
    try:
        return json.loads(value, parse_float=Decimal, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise ConversionError(f"invalid JSON text: {exc.msg} at char {exc.pos}") from None


def _reject_constant(name: str) -> Any:
    raise ConversionError(f"JSON constant {name} is not a number DynamoDB can store")


def auto(value: Any) -> Wire:
    """Type from the SQLite storage class: INTEGER/REAL -> N, TEXT -> S, BLOB -> B."""
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, int | float | Decimal):
        return {"N": number_text(value)}
    if isinstance(value, bytes):
        return {"B": value}
    raise ConversionError(f"unsupported value type {type(value).__name__}")


def from_python(value: Any) -> Wire:
    """A JSON-like Python value -> wire format (dicts become maps, lists lists)."""
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, dict):
        return {"M": {str(k): from_python(v) for k, v in value.items()}}
    if isinstance(value, list | tuple):
        return {"L": [from_python(v) for v in value]}
    return auto(value)


CONVERTERS: dict[str, Callable[[Any], Wire]] = {
    "auto": auto,
    "string": _string,
    "number": _number,
    "boolean": _boolean,
    "binary": _binary,
    "json": _json,
    "list": _list,
    "map": _map,
}

KEY_CONVERTERS: dict[str, Callable[[Any], Wire]] = {"S": _string, "N": _number, "B": _binary}


def convert(value: Any, kind: str) -> Wire | None:
    """Convert one source value; ``None`` (SQL NULL) stays ``None``."""
    if value is None:
        return None
    return CONVERTERS[kind](value)


def to_python(wire: Wire) -> Any:
    """Wire format -> plain Python (N as Decimal), for comparisons and reports."""
    ((kind, value),) = wire.items()
    if kind == "S" or kind == "BOOL":
        return value
    if kind == "N":
        return Decimal(value)
    if kind == "B":
        return bytes(value)
    if kind == "NULL":
        return None
    if kind == "M":
        return {k: to_python(v) for k, v in value.items()}
    if kind == "L":
        return [to_python(v) for v in value]
    if kind in ("SS", "BS"):
        return sorted(value)
    if kind == "NS":
        return sorted(Decimal(v) for v in value)
    raise ValueError(f"unknown attribute type {kind}")


def item_size(item: dict[str, Wire]) -> int:
    """Bytes DynamoDB counts for an item: names plus values, as its docs describe."""
    total = 0
    for name, value in item.items():
        total += len(name) if name.isascii() else len(name.encode("utf-8"))
        total += _value_size(value)
    return total


def _value_size(wire: Wire) -> int:
    for kind, value in wire.items():
        if kind == "S":
            return len(value) if value.isascii() else len(value.encode("utf-8"))
        if kind == "N":
            return _number_size(value)
        if kind == "M":
            return 3 + sum(
                (len(k) if k.isascii() else len(k.encode("utf-8"))) + _value_size(v) + 1 for k, v in value.items()
            )
        if kind == "L":
            return 3 + sum(_value_size(v) + 1 for v in value)
        if kind == "B":
            return len(value)
        if kind in ("BOOL", "NULL"):
            return 1
        if kind == "SS":
            return sum(len(v.encode("utf-8")) for v in value)
        if kind == "NS":
            return sum(_number_size(v) for v in value)
        if kind == "BS":
            return sum(len(v) for v in value)
    return 0


def _number_size(text: str) -> int:
    """About one byte per two significant digits, plus one (DynamoDB's documented rule)."""
    digits = len(text) - (text[0] == "-") - ("." in text)
    return (digits + 1) // 2 + 1


def write_units(size: int) -> int:
    """Write capacity units for one put: 1 per started KB."""
    return max(1, -(-size // 1024))
