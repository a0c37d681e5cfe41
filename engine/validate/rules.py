"""Per-item rules declared in the mapping (``checks:``): attribute present, item size."""

from __future__ import annotations

from engine.canonical import key_of
from engine.plan import ItemTypePlan
from engine.spec.model import ItemCheckSpec
from engine.types import Wire, item_size
from engine.validate.results import CheckResult, Failure


def apply_rule(
    item: ItemTypePlan, check: ItemCheckSpec, stored: dict[str, Wire], result: CheckResult, keys: list[str]
) -> None:
    """Record a failure in ``result`` when ``stored`` breaks ``check``."""
    if check.kind == "attribute_present" and check.attribute not in stored:
        result.fail(
            Failure(
                "rule",
                f"{item.name} item lacks attribute {check.attribute}",
                key=key_of(stored, keys),
                path=check.attribute,
            )
        )
    elif check.kind == "max_item_kb" and check.value is not None:
        size = item_size(stored)
        if size > check.value * 1024:
            result.fail(
                Failure("rule", f"{item.name} item is {size} bytes, over {check.value} KB", key=key_of(stored, keys))
            )
