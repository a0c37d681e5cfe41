"""Canonical DynamoDB values: equal values compare equal, differences have a path.

Also the plain (JSON-able) forms of values and keys used in failures, reports
and fingerprints. Shared by ``validate``, ``plan --diff`` and ``sync``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Iterator
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import orjson

from sqlite2ddb.wire import Wire, number_text, to_python

if TYPE_CHECKING:
    from sqlite2ddb.plan.compile import TablePlan


def jsonable(value: Any) -> Any:
    """``json.dumps`` default: Decimal as int or text, bytes as base64, the rest as text."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else str(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    return str(value)


def short(value: Any, limit: int = 80) -> str:
    """A value as JSON, cut at ``limit`` characters."""
    text = json.dumps(value, default=jsonable, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def canonical(wire: Wire) -> Any:
    """A JSON-able form in which equal DynamoDB values are equal (numbers normalised).

    A value that is canonical already (a string, a normal number, a boolean) is
    returned as it is, not copied: most of an item's values are.
    """
    for kind, value in wire.items():
        if kind == "S" or kind == "BOOL" or kind == "NULL":
            return wire
        if kind == "N":
            text = _norm_number(value)
            return wire if text is value else {"N": text}
        if kind == "M":
            return {"M": {k: canonical(v) for k, v in value.items()}}
        if kind == "L":
            return {"L": [canonical(v) for v in value]}
        if kind == "B":  # bytes, or base64 text already when read back from ``wire_text``
            return {"B": value if isinstance(value, str) else base64.b64encode(bytes(value)).decode()}
        if kind == "NS":
            return {kind: sorted(_norm_number(v) for v in value)}
        if kind == "BS":
            return {kind: sorted(v if isinstance(v, str) else base64.b64encode(bytes(v)).decode() for v in value)}
        if kind == "SS":
            return {kind: sorted(value)}
        return {kind: value}
    raise ValueError("an attribute value with no type")


_NORMAL = re.compile(r"-?(?:[1-9][0-9]{0,38}|0\.[0-9]{0,38}[1-9]|[1-9][0-9]{0,38}\.[0-9]{0,38}[1-9])")


def _norm_number(text: str) -> str:
    if _NORMAL.fullmatch(text):  # already as Decimal.normalize would write it: most numbers
        return text
    number = Decimal(text)
    return (
        "0"
        if number.is_zero()
        else format(number.normalize(), "f")
        if abs(number.adjusted()) < 40
        else str(number.normalize())
    )


def from_canonical(value: Any) -> Wire:
    """A canonical value back in wire form (binary from base64), for requests."""
    ((kind, inner),) = value.items()
    if kind == "B":
        return {"B": base64.b64decode(inner)}
    if kind == "BS":
        return {"BS": [base64.b64decode(v) for v in inner]}
    if kind == "M":
        return {"M": {k: from_canonical(v) for k, v in inner.items()}}
    if kind == "L":
        return {"L": [from_canonical(v) for v in inner]}
    return {kind: inner}


def content_hash(item: dict[str, Wire]) -> str:
    """A short hash of an item's canonical form: the same for equal DynamoDB values."""
    return hashlib.blake2b(canonical_item(item).encode(), digest_size=16).hexdigest()


def wire_text(item: dict[str, Wire]) -> str:
    """The item exactly as it is on the wire, as JSON with sorted keys (binary values as base64).

    Cheap (the C encoder, no recursion in Python): two items with the same
    text are equal. Different texts may still be equal values (a set in
    another order, a number written differently), so compare those with
    ``canonical_item(json.loads(text))``. orjson writes the same text as the
    standard encoder, about four times faster (every item ``migrate`` writes
    and ``sync`` compares is fingerprinted from it); the standard encoder
    takes what orjson refuses (a lone surrogate, very deep nesting).
    """
    data = wire_bytes(item)
    return _WIRE_ENCODER.encode(item) if data is None else data.decode()


def wire_bytes(item: dict[str, Wire]) -> bytes | None:
    """``wire_text`` as orjson writes it, UTF-8 encoded; None for what orjson refuses (``wire_text`` takes it)."""
    try:
        return _dumps(item, option=_SORTED, default=base64_default)
    except TypeError:  # orjson.JSONEncodeError
        return None


def base64_default(value: Any) -> str:
    """orjson's ``default``: binary values as base64, as DynamoDB's JSON carries them."""
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


_dumps, _SORTED = orjson.dumps, orjson.OPT_SORT_KEYS
# one encoder for every item: ``json.dumps`` with options builds a new one per call
_WIRE_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=base64_default)


def canonical_item(item: dict[str, Wire]) -> str:
    return json.dumps({k: canonical(v) for k, v in item.items()}, sort_keys=True, ensure_ascii=False)


def diff(expected: Any, actual: Any, path: str = "") -> Iterator[tuple[str, Any, Any]]:
    """Paths where two canonical values differ, e.g. ``Tracks[3].UnitPrice``."""
    if isinstance(expected, dict) and isinstance(actual, dict) and len(expected) == 1 == len(actual):
        (ek, ev), (ak, av) = next(iter(expected.items())), next(iter(actual.items()))
        if ek == ak == "M":
            for name in sorted(set(ev) | set(av)):
                sub = f"{path}.{name}" if path else name
                if name not in av:
                    yield sub, _show(ev[name]), None
                elif name not in ev:
                    yield sub, None, _show(av[name])
                else:
                    yield from diff(ev[name], av[name], sub)
            return
        if ek == ak == "L":
            for i in range(max(len(ev), len(av))):
                sub = f"{path}[{i}]"
                if i >= len(av):
                    yield sub, _show(ev[i]), None
                elif i >= len(ev):
                    yield sub, None, _show(av[i])
                else:
                    yield from diff(ev[i], av[i], sub)
            return
    if expected != actual:
        if _tag(expected) != _tag(actual) and None not in (_tag(expected), _tag(actual)):
            yield (
                path,
                f"{short(_show(expected))} (type {_tag(expected)})",
                f"{short(_show(actual))} (type {_tag(actual)})",
            )
        else:
            yield path, _show(expected), _show(actual)


def _tag(value: Any) -> str | None:
    """The DynamoDB type of a canonical value (N, S, M, ...)."""
    return next(iter(value)) if isinstance(value, dict) and len(value) == 1 else None


def _show(value: Any) -> Any:
    """Canonical value -> plain value for reports."""
    if not isinstance(value, dict) or len(value) != 1:
        return value
    ((kind, inner),) = value.items()
    if kind == "M":
        return {k: _show(v) for k, v in inner.items()}
    if kind == "L":
        return [_show(v) for v in inner]
    return inner


_EXACT_INT = 10**38  # an int below this in size is a number DynamoDB stores as it is


def plain_value(value: Any) -> Any:
    """SQL or DynamoDB value -> comparable value (numbers as Decimal, which compare by value).

    Validation calls this for every compared value of both sides, so the
    common cases skip ``number_text``'s checks: an int of at most 38 digits and
    a finite Decimal (DynamoDB's own numbers) are numbers DynamoDB stores.
    """
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return Decimal(value) if -_EXACT_INT < value < _EXACT_INT else Decimal(number_text(value)).normalize()
    if isinstance(value, Decimal) and value.is_finite():
        return value.normalize()
    if isinstance(value, float | Decimal):
        return Decimal(number_text(value)).normalize() if value != 0 else Decimal(0)
    return value


def at_path(item: dict[str, Any], path: str) -> Any:
    """``SupportRep.FirstName`` -> the nested value, or None."""
    value: Any = item
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def key_of(item: dict[str, Wire], keys: list[str]) -> dict[str, Any]:
    """The primary key of a wire item as plain JSON-able values."""
    return {k: jsonable(to_python(item[k])) if k in item else None for k in keys}


def wire_key(key: dict[str, Any], keys: list[str], table: TablePlan) -> dict[str, Wire]:
    """A key from ``key_of`` back in wire form, for GetItem/BatchGetItem."""
    types = {k.name: k.type for k in table.spec.key_attributes}
    out: dict[str, Wire] = {}
    for name in keys:
        kind = types[name]
        value = key[name]
        out[name] = (
            {"S": value} if kind == "S" else ({"N": str(value)} if kind == "N" else {"B": base64.b64decode(value)})
        )
    return out
