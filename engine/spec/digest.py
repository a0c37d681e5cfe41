"""The digest of an item type: what its mapping says, stable when the typed model gains a field.

A checkpoint and the fingerprints are trusted only for the mapping they were
written with, so the state keeps one digest per item type. The digest hashes
what the mapping file says: each field of the typed spec that holds a value
other than its default, where in the file it stands left out. A field the
model gains later has a default, which a mapping that does not use it keeps:
its digest does not move, and ``resume`` and ``sync`` keep trusting the state.

States written before this rule (up to main 6495872) hold the digest of every
field the model had then, defaults included; ``matches`` still accepts it,
computed over those fields only (``LEGACY_FIELDS``), so that upgrading the
tool rewrites nothing.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Any

from sqlite2ddb.spec.model import ItemTypeSpec


def _is_place(name: str) -> bool:
    """Where a spec (or a part of it: its query, its cursor) stands in its file: never part of what it says."""
    return name == "location" or name.endswith("_location")


def _names(text: str) -> tuple[str, ...]:
    return tuple(text.split())


#: The fields of the spec classes an item type reaches, as the model had them at main 6495872.
LEGACY_FIELDS: dict[str, tuple[str, ...]] = {
    "ItemTypeSpec": _names(
        "name table query cursor filter marker keys attributes embeds checks location query_location"
    ),
    "AttributeSpec": _names(
        "name source type column template const fields location null default delimiter format timezone precision"
    ),
    "EmbedSpec": _names(
        "name query join order_by list_attribute attributes aggregates embeds location set_column set_type one"
    ),
    "AggregateSpec": ("name", "fn", "column"),
    "ItemCheckSpec": ("name", "kind", "attribute", "value", "location"),
}


def spec_digest(item: ItemTypeSpec) -> str:
    """A hash of what an item type's mapping says (fields at their default left out)."""
    return _hash(_said(item))


def legacy_digest(item: ItemTypeSpec) -> str:
    """The digest main 6495872 recorded: ``asdict`` of the fields it knew, defaults included."""
    return _hash(_legacy(item))


def matches(recorded: str | None, item: ItemTypeSpec) -> bool:
    """Whether a digest the state recorded is that of this item type's mapping (by either rule)."""
    return recorded is not None and recorded in (spec_digest(item), legacy_digest(item))


def _hash(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _said(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        said = {}
        for field in dataclasses.fields(value):
            if _is_place(field.name):
                continue
            content = getattr(value, field.name)
            if _is_default(field, content):
                continue
            said[field.name] = _said(content)
        return said
    if isinstance(value, dict):
        return {str(k): _said(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_said(v) for v in value]
    return value


def _is_default(field: dataclasses.Field[Any], content: Any) -> bool:
    if field.default is not dataclasses.MISSING:
        return bool(content == field.default)
    if field.default_factory is not dataclasses.MISSING:
        return bool(content == field.default_factory())
    return False


def _legacy(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        known = LEGACY_FIELDS.get(type(value).__name__)
        names = known if known is not None else tuple(f.name for f in dataclasses.fields(value))
        return {n: _legacy(getattr(value, n)) for n in names if not _is_place(n) and hasattr(value, n)}
    if isinstance(value, dict):
        return {str(k): _legacy(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_legacy(v) for v in value]
    return value
