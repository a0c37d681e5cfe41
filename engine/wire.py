"""SQLite values -> DynamoDB attribute values (wire format), and item sizes.

One small handler per declared type. Numbers keep the exact decimal text of
the source value: a REAL 0.99 becomes ``{"N": "0.99"}``, never 0.98999...
A NULL becomes ``None``, which callers read as "leave the attribute out".
"""

from __future__ import annotations

import decimal
import json
import math
import re
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta, timezone, tzinfo
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

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


SET_TYPES = {"string_set": "SS", "number_set": "NS", "binary_set": "BS"}
TIME_TYPES = ("epoch_seconds", "iso8601")
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_OFFSET = re.compile(r"^([+-])(\d{2}):?(\d{2})$")
_TIMESPEC = {"seconds": "seconds", "milliseconds": "milliseconds", "microseconds": "microseconds"}


def set_of(kind: str, values: Iterable[Any]) -> Wire | None:
    """Members -> SS/NS/BS without duplicates (first one kept); None when empty (DynamoDB has no empty set)."""
    code = SET_TYPES[kind]
    seen: set[Any] = set()
    members: list[Any] = []
    for value in values:
        if value is None:
            continue
        if code == "SS":
            member: Any = _string(value)["S"]
            identity: Any = member
        elif code == "NS":
            member = number_text(value)
            identity = Decimal(member).normalize()
        else:
            member = _binary(value)["B"]
            identity = member
        if identity not in seen:
            seen.add(identity)
            members.append(member)
    return {code: members} if members else None


def split_set(kind: str, delimiter: str) -> Callable[[Any], Wire | None]:
    """A set from one column: text split at ``delimiter`` and trimmed; any other value is one member."""

    def convert_set(value: Any) -> Wire | None:
        if isinstance(value, str):
            return set_of(kind, (p.strip() for p in value.split(delimiter) if p.strip()))
        return set_of(kind, (value,))

    return convert_set


def zone(name: str | None) -> tzinfo:
    """UTC, an IANA zone name (Europe/Berlin) or a fixed offset (+02:00); ValueError otherwise."""
    if not name or name.upper() in ("UTC", "Z"):
        return timezone.utc
    match = _OFFSET.match(name)
    if match:
        sign = -1 if match.group(1) == "-" else 1
        return timezone(sign * timedelta(hours=int(match.group(2)), minutes=int(match.group(3))))
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r} (use UTC, an IANA name like Europe/Berlin, or +HH:MM)") from None


_NUMERIC_DIRECTIVES = {"Y": r"(\d{4})", "m": r"(\d{1,2})", "d": r"(\d{1,2})", "H": r"(\d{1,2})", "M": r"(\d{1,2})"}
_NUMERIC_DIRECTIVES |= {"S": r"(\d{1,2})", "f": r"(\d{1,6})"}


def _from_iso(text: str) -> datetime:
    return datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text)


def date_parser(fmt: str | None) -> Callable[[str], datetime]:
    """ISO 8601, or ``fmt``: a regular expression for formats of numbers only (%Y %m %d %H %M %S %f,
    each at most once, as strptime reads them, about ten times faster), strptime for the rest."""
    if fmt is None or fmt == "iso8601":
        return _from_iso
    order: list[str] = []
    pattern, rest = "", fmt
    while rest:
        if rest.startswith("%") and rest[1:2] in _NUMERIC_DIRECTIVES and rest[1] not in order:
            pattern, order, rest = pattern + _NUMERIC_DIRECTIVES[rest[1]], [*order, rest[1]], rest[2:]
        elif rest[0] == "%":
            return lambda text: datetime.strptime(text, fmt)
        else:
            pattern, rest = pattern + (r"\s+" if rest[0].isspace() else re.escape(rest[0])), rest[1:]
    if not {"Y", "m", "d"} <= set(order):
        return lambda text: datetime.strptime(text, fmt)
    match = re.compile(pattern + r"\Z").match
    fields = tuple(order.index(k) if k in order else -1 for k in "YmdHMSf")

    def parse(text: str) -> datetime:
        found = match(text)
        if found is None:
            raise ValueError(text)
        groups = found.groups()
        year, month, day, hour, minute, second = [int(groups[i]) if i >= 0 else 0 for i in fields[:6]]
        fraction = int(groups[fields[6]].ljust(6, "0")) if fields[6] >= 0 else 0
        return datetime(year, month, day, hour, minute, second, fraction)

    return parse


def parse_time(value: Any, parse: Callable[[str], datetime], fmt: str | None, where: tzinfo) -> datetime:
    """Source text -> an aware datetime through ``parse``; text without an offset is in ``where``."""
    if not isinstance(value, str):
        raise ConversionError(f"{type(value).__name__} value {value!r} is not date text")
    text = value.strip()
    try:
        parsed = parse(text)
    except ValueError:
        raise ConversionError(f"{text!r} does not match the date format {fmt or 'iso8601'}") from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=where)


def epoch_seconds(fmt: str | None = None, zone_name: str | None = None) -> Callable[[Any], Wire]:
    """Date text -> whole seconds since 1970-01-01 UTC, rounded down (a TTL attribute)."""
    where, parse = zone(zone_name), date_parser(fmt)

    def convert_epoch(value: Any) -> Wire:
        moment = parse_time(value, parse, fmt, where)
        return {"N": str((moment - _EPOCH) // timedelta(seconds=1))}

    return convert_epoch


def iso8601(
    fmt: str | None = None, zone_name: str | None = None, precision: str | None = None
) -> Callable[[Any], Wire]:
    """Date text -> ``YYYY-MM-DDTHH:MM:SSZ`` in UTC, one width for every value, so text order is time order."""
    where, parse = zone(zone_name), date_parser(fmt)
    spec = _TIMESPEC[precision or "seconds"]

    def convert_iso(value: Any) -> Wire:
        moment = parse_time(value, parse, fmt, where).astimezone(timezone.utc).replace(tzinfo=None)
        return {"S": moment.isoformat(timespec=spec) + "Z"}

    return convert_iso


def converter(
    kind: str,
    delimiter: str | None = None,
    fmt: str | None = None,
    zone_name: str | None = None,
    precision: str | None = None,
) -> Callable[[Any], Wire | None]:
    """The handler for a declared type with its options; ValueError for a bad time zone."""
    if kind in SET_TYPES:
        return split_set(kind, delimiter or ",")
    if kind == "epoch_seconds":
        return epoch_seconds(fmt, zone_name)
    if kind == "iso8601":
        return iso8601(fmt, zone_name, precision)
    return CONVERTERS[kind]


def convert(value: Any, kind: str) -> Wire | None:
    """Convert one source value; ``None`` (SQL NULL) stays ``None``."""
    if value is None:
        return None
    handler = CONVERTERS.get(kind) or converter(kind)
    return handler(value)


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
