"""Per-item rules declared in the mapping (``checks:``): attribute present, item size."""

from __future__ import annotations

from engine.plan import ItemTypePlan
from engine.spec.model import ItemCheckSpec
from engine.types import Wire, item_size
from engine.validate.items import key_of
from engine.validate.results import Failure


def rule_failure(item: ItemTypePlan, check: ItemCheckSpec, stored: dict[str, Wire], keys: list[str]) -> Failure | None:
    """The failure when ``stored`` breaks ``check``, else None."""
    if check.kind == "attribute_present" and check.attribute not in stored:
        return Failure(
            "rule",
            f"{item.name} item lacks attribute {check.attribute}",
            key=key_of(stored, keys),
            path=check.attribute,
        )
    if check.kind == "max_item_kb" and check.value is not None:
        size = item_size(stored)
        if size > check.value * 1024:
            return Failure("rule", f"{item.name} item is {size} bytes, over {check.value} KB", key=key_of(stored, keys))
    return None
