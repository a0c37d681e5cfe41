"""Per-item rules declared in the mapping (``checks:``): attribute present, item size."""

from __future__ import annotations

from sqlite2ddb.canonical import key_of
from sqlite2ddb.plan.compile import ItemTypePlan
from sqlite2ddb.spec.model import ItemCheckSpec
from sqlite2ddb.validate.results import Failure
from sqlite2ddb.wire import Wire, item_size


def rule_failure(
    item: ItemTypePlan, check: ItemCheckSpec, stored: dict[str, Wire], keys: list[str], text: str | None = None
) -> Failure | None:
    """The failure when ``stored`` breaks ``check``, else None.

    ``text`` is the item's ``wire_text``: its UTF-8 length is never below the
    item's size (JSON adds quotes, type tags and base64), so an item whose
    text fits needs no exact count.
    """
    if check.kind == "attribute_present" and check.attribute not in stored:
        return Failure(
            "rule",
            f"{item.name} item lacks attribute {check.attribute}",
            key=key_of(stored, keys),
            path=check.attribute,
        )
    if check.kind == "max_item_kb" and check.value is not None:
        if text is not None and _fits(text, check.value * 1024):
            return None
        size = item_size(stored)
        if size > check.value * 1024:
            return Failure("rule", f"{item.name} item is {size} bytes, over {check.value} KB", key=key_of(stored, keys))
    return None


def _fits(text: str, limit: float) -> bool:
    """True when the UTF-8 form of ``text`` is at most ``limit`` bytes (at most 4 bytes a character)."""
    return len(text) * 4 <= limit or len(text.encode("utf-8")) <= limit
