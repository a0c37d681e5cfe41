"""Source rows -> DynamoDB items in wire format, through a compiled plan.

A key built from a NULL column is left out when it feeds only an index
(that is what makes an index sparse) and is an error for the table's own
key. A NULL column attribute is left out. Children of embeds are attached
to the parent rows by ``attach_children`` before ``build_item`` runs.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

from engine.errors import RowError
from engine.extract import Row, fetch_children
from engine.plan import CompiledAttribute, CompiledEmbed, CompiledKey, ItemTypePlan
from engine.templates import TemplateError
from engine.types import KEY_CONVERTERS, ConversionError, Wire, convert, from_python, number_text

CHILDREN = "__children__"


def attach_children(conn: sqlite3.Connection, embeds: Sequence[CompiledEmbed], rows: Sequence[Row]) -> None:
    """Fetch the children of every embed for these rows in one query each, recursively."""
    for embed in embeds:
        spec = embed.spec
        keys = [tuple(row[c] for c in spec.parent_columns) for row in rows]
        wanted = [k for k in keys if None not in k]
        grouped = fetch_children(conn, spec.query, spec.child_columns, spec.order_by, wanted)
        for row, key in zip(rows, keys):
            row.setdefault(CHILDREN, {})[spec.name] = grouped.get(key, [])
        if embed.embeds:
            attach_children(conn, embed.embeds, [child for group in grouped.values() for child in group])


def cursor_of(plan: ItemTypePlan, row: Row) -> dict[str, Any]:
    return {c: row[c] for c in plan.spec.cursor}


def keep_row(plan: ItemTypePlan, row: Row) -> bool:
    """False when the item type's filter rejects the row."""
    if plan.filter is None:
        return True
    try:
        return bool(plan.filter(row))
    except TemplateError as exc:
        raise RowError(plan.name, cursor_of(plan, row), f"filter: {exc}") from None


def build_item(plan: ItemTypePlan, row: Row) -> dict[str, Wire]:
    """One row -> one item; RowError names the item type, the row's cursor and why."""
    try:
        item: dict[str, Wire] = {}
        for key in plan.keys:
            value = _render_key(key, row)
            if value is not None:
                item[key.name] = value
        _put_attributes(item, plan.attributes, row)
        for embed in plan.embeds:
            _put_embed(item, embed, row)
        return item
    except (ConversionError, TemplateError, _KeyProblem) as exc:
        raise RowError(plan.name, cursor_of(plan, row), str(exc)) from None


class _KeyProblem(ValueError):
    pass


def _render_key(key: CompiledKey, row: Row) -> Wire | None:
    nulls = [c for c in key.template.columns if row.get(c) is None]
    if nulls:
        if key.primary:
            raise _KeyProblem(f"key {key.name} is built from NULL column(s) {', '.join(sorted(nulls))}")
        return None
    text = key.template.render(row)
    if text == "":
        raise _KeyProblem(f"key {key.name} renders an empty string (template {key.template.source!r})")
    try:
        return KEY_CONVERTERS[key.type](text)
    except ConversionError as exc:
        raise _KeyProblem(f"key {key.name}: {exc}") from None


def _put_attributes(target: dict[str, Wire], attributes: Iterable[CompiledAttribute], row: Row) -> None:
    for attribute in attributes:
        value = _attribute_value(attribute, row)
        if value is not None:
            target[attribute.name] = value


def _attribute_value(attribute: CompiledAttribute, row: Row) -> Wire | None:
    spec = attribute.spec
    try:
        if spec.source == "column":
            return convert(row[spec.column or ""], spec.type)
        if spec.source == "template":
            template = attribute.template
            assert template is not None
            if any(row.get(c) is None for c in template.columns):
                return None
            return convert(template.render(row), "string" if spec.type == "auto" else spec.type)
        if spec.source == "const":
            return from_python(spec.const) if spec.type == "auto" else convert(spec.const, spec.type)
        fields: dict[str, Wire] = {}
        _put_attributes(fields, attribute.fields, row)
        return {"M": fields} if fields else None
    except ConversionError as exc:
        raise ConversionError(f"attribute {spec.name}: {exc}") from None


def _put_embed(item: dict[str, Wire], embed: CompiledEmbed, row: Row) -> None:
    children: list[Row] = row.get(CHILDREN, {}).get(embed.spec.name, [])
    spec = embed.spec
    if spec.list_attribute:
        elements = []
        for child in children:
            fields: dict[str, Wire] = {}
            _put_attributes(fields, embed.attributes, child)
            for nested in embed.embeds:
                _put_embed(fields, nested, child)
            elements.append({"M": fields})
        item[spec.list_attribute] = {"L": elements}
    for aggregate in spec.aggregates:
        value = _aggregate(aggregate.fn, aggregate.column, children)
        if value is not None:
            item[aggregate.name] = {"N": value}


def _aggregate(fn: str, column: str | None, children: list[Row]) -> str | None:
    if fn == "count":
        return str(len(children))
    values = [Decimal(number_text(c[column])) for c in children if column and c.get(column) is not None]
    if fn == "sum":
        return number_text(sum(values, Decimal(0)))
    if not values:
        return None
    return number_text(min(values) if fn == "min" else max(values))


def primary_key(plan: ItemTypePlan, item: dict[str, Wire]) -> tuple[Any, ...]:
    return tuple(next(iter(item[name].values())) for name in plan.table.spec.primary_key_names)
