"""The item-by-item check's failures: the differ's rows as ``validate`` reports them.

The comparison itself is ``sqlite2ddb.sync.item_diff``, the one ``plan --diff`` and
``sync`` run: a held item no rendered item has is ``extra``, an updated item
one ``differs`` failure per attribute path, a rendered item the table lacks
``missing``, and a rendered key that came earlier ``duplicate``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from sqlite2ddb.canonical import key_of, wire_text
from sqlite2ddb.sync.item_diff import ItemDiff, Row, canonical_form
from sqlite2ddb.validate.results import Failure
from sqlite2ddb.wire import Wire, to_python


def duplicates(compared: ItemDiff) -> Iterator[Failure]:
    """One failure per rendered item whose key an earlier rendered item has; ends the rendering."""
    for key, item_type, first in compared.duplicates():
        yield Failure(
            "duplicate",
            f"a {item_type} row renders the same key as a {first} row: the table keeps only the last written",
            key=json.loads(key),
        )


def differences(compared: ItemDiff) -> Iterator[Failure]:
    """Items extra in the table or different from the rendered one, then rendered items missing."""
    for row in compared.rows():
        key = json.loads(row.key)
        if row.kind == "deleted":
            yield _extra(key, json.loads(row.stored or "{}"))
        elif row.kind == "updated":
            yield from _differs(key, row)
        else:
            yield Failure("missing", f"{row.item_type} item is not in the table", key=key)


def compare(compared: ItemDiff, stored: dict[str, Wire]) -> Iterator[Failure]:
    """The differences between one item of the table and the item rendered with its key (sampled)."""
    key = key_of(stored, compared.keys)
    found = compared.rendered_of(key)
    if found is None:
        yield _extra(key, stored)
        return
    item_type, rendered = found
    text = wire_text(stored)
    if rendered != text:
        forms = (canonical_form(rendered), canonical_form(text))
        yield from _differs(key, Row("updated", "", item_type, rendered, None, text, forms))


def missing(compared: ItemDiff, key: dict[str, Any]) -> Failure:
    """The failure for one rendered key the table lacks (sampled comparison)."""
    found = compared.rendered_of(key)
    return Failure("missing", f"{found[0] if found else '?'} item is not in the table", key=key)


def _extra(key: dict[str, Any], stored: dict[str, Any]) -> Failure:
    marker = next((to_python(stored[m]) for m in ("Entity",) if m in stored), None)
    return Failure(
        "extra", f"item in the table that the plan does not produce{f' ({marker})' if marker else ''}", key=key
    )


def _differs(key: dict[str, Any], row: Row) -> Iterator[Failure]:
    """One failure per attribute path where the rendered and the held item differ as values."""
    for path, expected, actual in row.paths():
        yield Failure(
            "differs", f"{row.item_type} attribute differs", key=key, path=path, expected=expected, actual=actual
        )
