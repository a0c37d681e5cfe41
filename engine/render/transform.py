"""Source rows -> DynamoDB items in wire format, through a compiled plan.

A key built from a NULL column is left out when it feeds only an index
(that is what makes an index sparse) and is an error for the table's own
key. A NULL column attribute is left out. Children of embeds are fetched in
extract (``sqlite2ddb.extract.children``) and only folded here. Only the
render stream (``sqlite2ddb.render.stream``) imports this module.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from sqlite2ddb.canonical import content_hash
from sqlite2ddb.errors import RowError
from sqlite2ddb.extract.children import CHILDREN
from sqlite2ddb.extract.source import UNDECODABLE, Row
from sqlite2ddb.plan.compile import CompiledAttribute, CompiledEmbed, CompiledKey, ItemTypePlan
from sqlite2ddb.plan.limits import KeyTooLarge, check_key_sizes
from sqlite2ddb.render.offload import Upload, offload_values
from sqlite2ddb.spec.model import AttributeSpec
from sqlite2ddb.spec.templates import TemplateError
from sqlite2ddb.wire import KEY_CONVERTERS, ConversionError, Wire, convert, converter, from_python, number_text, set_of


def cursor_of(plan: ItemTypePlan, row: Row) -> dict[str, Any]:
    return {c: row[c] for c in plan.spec.cursor}


def keep_row(plan: ItemTypePlan, row: Row) -> bool:
    """False when the item type's filter rejects the row; RowError for a row that cannot be read."""
    if UNDECODABLE in row:
        bad = ", ".join(f"{name}={getattr(row[name], 'raw', row[name])!r:.80}" for name in row[UNDECODABLE])
        error = RowError(plan.name, cursor_of(plan, row), f"TEXT that is not valid UTF-8 in column(s) {bad}")
        error.exit_code = 2  # bad source data: with on_error stop, the run stops as for any bad input
        raise error
    if plan.filter is None:
        return True
    try:
        return bool(plan.filter(row))
    except TemplateError as exc:
        raise RowError(plan.name, cursor_of(plan, row), f"filter: {exc}") from None


def build_item(plan: ItemTypePlan, row: Row) -> tuple[dict[str, Wire], tuple[Upload, ...]]:
    """One row -> one item, and the S3 objects its offloaded values need; RowError names the row and why.

    Offloaded values are replaced by their pointers before the fingerprint attribute is computed,
    so the fingerprint covers what the table stores.
    """
    builder = _BUILDERS.get(id(plan))
    if builder is None or builder[0] is not plan:
        builder = _BUILDERS[id(plan)] = (plan, _compile_setters(plan))
    item: dict[str, Wire] = {}
    try:
        for setter in builder[1]:
            setter(item, row)
        check_key_sizes(plan, item)  # DynamoDB's 2,048 / 1,024-byte key limits (plan/limits.py)
    except (ConversionError, TemplateError, _KeyProblem, KeyTooLarge) as exc:
        raise RowError(plan.name, cursor_of(plan, row), str(exc)) from None
    uploads = offload_values(plan, item) if plan.offload is not None else ()
    marker = plan.table.spec.fingerprint_attribute
    if marker:
        item[marker] = {"S": content_hash(item)}
    return item, uploads


class _KeyProblem(ValueError):
    pass


# Each part of an item becomes one small function ``setter(item, row)``, chosen
# once per plan by the attribute's source and type, so the per-row work is a
# dictionary lookup and a type test instead of a walk over the spec.
Setter = Callable[[dict[str, Wire], Row], None]
_BUILDERS: dict[int, tuple[ItemTypePlan, tuple[Setter, ...]]] = {}


def _compile_setters(plan: ItemTypePlan) -> tuple[Setter, ...]:
    setters = [_key_setter(key) for key in plan.keys]
    setters += [_attribute_setter(attribute) for attribute in plan.attributes]
    setters += [_embed_setter(embed) for embed in plan.embeds]
    return tuple(setters)


def _key_setter(key: CompiledKey) -> Setter:
    name, primary, columns = key.name, key.primary, tuple(key.template.columns)
    render, convert_key, source = key.template.render, KEY_CONVERTERS[key.type], key.template.source
    as_string = key.type == "S"

    def set_key(item: dict[str, Wire], row: Row) -> None:
        for column in columns:
            if row[column] is None:
                if primary:
                    nulls = sorted(c for c in columns if row[c] is None)
                    raise _KeyProblem(f"key {name} is built from NULL column(s) {', '.join(nulls)}")
                return
        text = render(row)
        if not text:
            raise _KeyProblem(f"key {name} renders an empty string (template {source!r})")
        if as_string:
            item[name] = {"S": text}
            return
        try:
            item[name] = convert_key(text)
        except ConversionError as exc:
            raise _KeyProblem(f"key {name}: {exc}") from None

    return set_key


def _attribute_setter(attribute: CompiledAttribute) -> Setter:
    spec = attribute.spec
    name = spec.name
    if spec.source == "column":
        setter = _column_setter(name, spec.column or "", spec.type, _handler(spec))
        missing = _missing(spec)
        return setter if missing is None else _null_or(setter, name, spec.column or "", missing)
    if spec.source == "const":
        value = from_python(spec.const) if spec.type == "auto" else convert(spec.const, spec.type)
        return lambda item, row: item.__setitem__(name, value) if value is not None else None
    if spec.source == "template":
        template = attribute.template
        assert template is not None
        columns, render = tuple(template.columns), template.render
        handler, missing = _handler(spec, "string"), _missing(spec)

        def set_template(item: dict[str, Wire], row: Row) -> None:
            for column in columns:
                if row[column] is None:
                    if missing is not None:
                        item[name] = missing
                    return
            try:
                wire = handler(render(row))
            except ConversionError as exc:
                raise ConversionError(f"attribute {name}: {exc}") from None
            if wire is not None:
                item[name] = wire

        return set_template
    fields = tuple(_attribute_setter(f) for f in attribute.fields)

    def set_map(item: dict[str, Wire], row: Row) -> None:
        inner: dict[str, Wire] = {}
        for setter in fields:
            setter(inner, row)
        if inner:
            item[name] = {"M": inner}

    return set_map


def _handler(spec: AttributeSpec, auto: str = "auto") -> Callable[[Any], Wire | None]:
    """The type handler with the attribute's options (sets, date formats, zones)."""
    kind = auto if spec.type == "auto" else spec.type
    return converter(kind, spec.delimiter, spec.format, spec.timezone, spec.precision)


def _missing(spec: AttributeSpec) -> Wire | None:
    """What a NULL becomes: nothing (omit), the NULL type (keep), or the converted default."""
    if spec.null == "keep":
        return {"NULL": True}
    if spec.null == "default" and spec.default is not None:
        return from_python(spec.default) if spec.type == "auto" else _handler(spec)(spec.default)
    return None


def _null_or(setter: Setter, name: str, column: str, missing: Wire) -> Setter:
    """The rare case, a NULL with a value (keep or default): checked before the usual setter."""

    def set_or_default(item: dict[str, Wire], row: Row) -> None:
        if row[column] is None:
            item[name] = missing
        else:
            setter(item, row)

    return set_or_default


def _column_setter(name: str, column: str, kind: str, slow: Callable[[Any], Wire | None]) -> Setter:
    """The common case, a column: the usual Python type is handled inline."""

    def fallback(item: dict[str, Wire], value: Any) -> None:
        try:
            wire = slow(value)
        except ConversionError as exc:
            raise ConversionError(f"attribute {name}: {exc}") from None
        if wire is not None:
            item[name] = wire

    if kind == "number":

        def set_number(item: dict[str, Wire], row: Row) -> None:
            value = row[column]
            if value is None:
                return
            if value.__class__ is int and -_BIG < value < _BIG:
                item[name] = {"N": str(value)}
            elif value.__class__ is float and _plain_float(value):
                item[name] = {"N": repr(value)}
            else:
                fallback(item, value)

        return set_number
    if kind in ("string", "auto"):
        auto_type = kind == "auto"

        def set_text(item: dict[str, Wire], row: Row) -> None:
            value = row[column]
            if value is None:
                return
            if value.__class__ is str:
                item[name] = {"S": value}
            elif auto_type and value.__class__ is int and -_BIG < value < _BIG:
                item[name] = {"N": str(value)}
            else:
                fallback(item, value)

        return set_text

    def set_other(item: dict[str, Wire], row: Row) -> None:
        value = row[column]
        if value is not None:
            fallback(item, value)

    return set_other


_BIG = 10**38


def _plain_float(value: float) -> bool:
    """Finite, and repr in plain notation (so well inside DynamoDB's range and digits)."""
    return 1e-4 <= abs(value) < 1e16 or value == 0.0


def _embed_setter(embed: CompiledEmbed) -> Setter:
    spec = embed.spec
    key, list_name = spec.name, spec.list_attribute
    children_setters = tuple(_attribute_setter(a) for a in embed.attributes) + tuple(
        _embed_setter(e) for e in embed.embeds
    )
    aggregates = tuple((a.name, a.fn, a.column) for a in spec.aggregates)
    set_column, set_type = spec.set_column, spec.set_type
    one = spec.one

    def set_embed(item: dict[str, Wire], row: Row) -> None:
        children: list[Row] = row.get(CHILDREN, {}).get(key, [])
        if list_name and set_column and set_type:
            try:
                members = set_of(set_type, (child[set_column] for child in children))
            except ConversionError as exc:
                raise ConversionError(f"attribute {list_name}: {exc}") from None
            if members is not None:
                item[list_name] = members
        elif list_name:
            elements = []
            for child in children:
                fields: dict[str, Wire] = {}
                for setter in children_setters:
                    setter(fields, child)
                elements.append({"M": fields})
            if not one:
                item[list_name] = {"L": elements}
            elif len(elements) > 1:
                raise ConversionError(f"embed {key}: 'one: true' but the join returns {len(elements)} rows")
            elif elements:
                item[list_name] = elements[0]
        for name, fn, column in aggregates:
            value = _aggregate(fn, column, children)
            if value is not None:
                item[name] = {"N": value}

    return set_embed


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
