"""What the source can make of a mapping over all its rows, bounded with SQL at plan time.

One aggregate query per item type (and one per embed) reads the longest value
of every column the item type uses, so ``plan`` can say before any write:

* a key that can exceed DynamoDB's key limits (2,048 bytes for a partition key
  value, 1,024 for a sort key value): an error naming the mapping's file:line;
* a value wider than its ``pad(n)``, which breaks text order in a key: a warning;
* an item type whose largest item may be above half of the 400 KB item limit,
  with the attribute (or embed) that makes it large: a warning;
* an item type with a row whose item is over 400 KB even with every value an
  ``offload`` rule allows in S3: an error naming the attribute's file:line.

Values an ``offload`` rule may send to S3 count as their pointers.

The key bound is exact for a template of columns and text (the longest sum
over the rows); filters are bounded by what they can produce. Templates that
are not plain columns and filters are left to the render check
(``sqlite2ddb.plan.limits``), which sees every row.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime
from typing import Any

from jinja2 import TemplateSyntaxError, nodes

from sqlite2ddb.errors import SpecError
from sqlite2ddb.extract.source import source_error
from sqlite2ddb.plan.compile import CompiledAttribute, CompiledEmbed, ItemTypePlan, Plan, quote_name
from sqlite2ddb.plan.limits import PARTITION_KEY_BYTES, key_limits
from sqlite2ddb.spec.templates import ENV
from sqlite2ddb.wire import MAX_ITEM_BYTES

LARGE_ITEM_BYTES = MAX_ITEM_BYTES // 2
#: What a pointer map to an offloaded value takes in an item, at most (bucket, key, size, sha256, type).
POINTER_BYTES = 1400
#: ... and at least (a lower bound must not refuse an item that fits).
POINTER_MIN_BYTES = 100
Part = str | tuple[str, tuple[tuple[str, tuple[Any, ...]], ...]]  # text, or (column, ((filter, args), ...))


def check_bounds(plan: Plan, conn: sqlite3.Connection) -> list[str]:
    """Raise SpecError for a key that can exceed its limit; return the pad and item-size warnings."""
    warnings: list[str] = []
    for item in plan.item_types:
        warnings += _item_bounds(item, conn)
    return warnings


def pad_warnings(plan: Plan, conn: sqlite3.Connection) -> list[str]:
    """Only the values wider than their pad(n) (what ``sync`` warns about)."""
    out: list[str] = []
    for item in plan.item_types:
        pads = _pads(item)
        if pads:
            found = _aggregate(conn, item, [sql for _, _, _, sqls in pads for sql in sqls])
            out += _pad_lines(item, pads, found)
    return out


def template_parts(source: str) -> list[Part] | None:
    """Literal text and ``{{ column | filter(args) }}`` parts, or None for any other template."""
    try:
        tree = ENV.parse(source)
    except TemplateSyntaxError:
        return None
    parts: list[Part] = []
    for statement in tree.body:
        if not isinstance(statement, nodes.Output):
            return None
        for node in statement.nodes:
            if isinstance(node, nodes.TemplateData):
                parts.append(node.data)
                continue
            filters: list[tuple[str, tuple[Any, ...]]] = []
            while isinstance(node, nodes.Filter):
                if not all(isinstance(a, nodes.Const) for a in node.args) or node.kwargs:
                    return None
                filters.append((node.name, tuple(a.value for a in node.args if isinstance(a, nodes.Const))))
                node = node.node  # type: ignore[assignment] # a Filter always has the node it filters
            if not isinstance(node, nodes.Name):
                return None
            parts.append((node.name, tuple(reversed(filters))))
    return parts


def _bytes(column: str) -> str:
    return f"length(CAST({quote_name(column)} AS BLOB))"


def _part_sql(column: str, filters: tuple[tuple[str, tuple[Any, ...]], ...]) -> str | None:
    """SQL for the most bytes one ``{{ column | filters }}`` part renders to; None when unbounded here."""
    sql = _bytes(column)
    for name, args in filters:
        if name == "pad":
            sql = f"max({int(args[0]) if args else 6} + 1, {sql})"
        elif name == "initial":
            sql = f"({sql} * 0 + 4)"
        elif name == "shard":
            sql = f"({sql} * 0 + {len(str(args[0])) if args else 10})"
        elif name == "date":
            fmt = str(args[0]) if args else "%Y-%m-%d"
            sql = f"({sql} * 0 + {len(datetime(2000, 12, 31, 23, 59, 59, 999999).strftime(fmt).encode())})"
        elif name not in ("lower", "upper", "trim"):
            return None
    return sql


def _key_sqls(item: ItemTypePlan) -> list[tuple[str, int, str, int, list[str], str]]:
    """(attribute, limit, role, text bytes, column parts, SQL of the longest rendering) for each key."""
    limits = {name: (limit, role) for name, limit, role in key_limits(item.table.spec)}
    out = []
    for key in item.keys:
        parts = template_parts(key.template.source)
        if parts is None or key.name not in limits or key.type == "N":
            continue
        text = sum(len(p.encode()) for p in parts if isinstance(p, str))
        columns = [p for p in parts if not isinstance(p, str)]
        sqls = [_part_sql(c, f) for c, f in columns]
        if not columns or None in sqls:
            continue
        out.append((key.name, *limits[key.name], text, [c for c, _ in columns], " + ".join(f"({s})" for s in sqls)))
    return out


def _pads(item: ItemTypePlan) -> list[tuple[str, str, int, list[str]]]:
    """(attribute, column, width, [SQL max, SQL min]) for every pad(n) in a key or attribute template."""
    templates = [(k.name, k.template.source) for k in item.keys]
    templates += [(a.name, a.template.source) for a in item.attributes if a.template is not None]
    out = []
    for attribute, source in templates:
        for part in template_parts(source) or []:
            if isinstance(part, str):
                continue
            column, filters = part
            for name, args in filters:
                if name == "pad":
                    value = f"CAST({quote_name(column)} AS INTEGER)"
                    out.append((attribute, column, int(args[0]) if args else 6, [f"max({value})", f"min({value})"]))
    return out


def _aggregate(conn: sqlite3.Connection, item: ItemTypePlan, expressions: list[str]) -> list[Any]:
    """One pass over the item type's rows: the aggregates asked for, in order."""
    if not expressions:
        return []
    sql = f"SELECT {', '.join(expressions)} FROM (\n{item.spec.query.strip().rstrip(';')}\n)"
    try:
        return list(conn.execute(sql).fetchone())
    except sqlite3.Error as exc:
        raise source_error(exc, f"{item.spec.location}: item type {item.name}: measuring its longest values") from None


def _item_bounds(item: ItemTypePlan, conn: sqlite3.Connection) -> list[str]:
    key_sqls = _key_sqls(item)
    pads = _pads(item)
    sizes = _column_sizes(item)
    expressions = [f"max({sql})" for *_, sql in key_sqls]
    expressions += [f"max({_bytes(c)})" for c in sorted({c for k in key_sqls for c in k[4]})]
    expressions += [sql for *_, sqls in pads for sql in sqls]
    expressions += [f"max({_bytes(c)})" for c in sizes]
    found = _aggregate(conn, item, expressions)
    longest_keys, found = found[: len(key_sqls)], found[len(key_sqls) :]
    key_columns = sorted({c for k in key_sqls for c in k[4]})
    column_bytes = dict(zip(key_columns, found[: len(key_columns)]))
    found = found[len(key_columns) :]
    for (name, limit, role, text, columns, _), longest in zip(key_sqls, longest_keys):
        if longest is not None and longest + text > limit:
            widest = max(columns, key=lambda c: column_bytes.get(c) or 0)
            raise SpecError(
                f"{item.spec.location}: item type {item.name}: key {name} ({role}) can be {longest + text:,} bytes "
                f"(its longest {widest} is {column_bytes.get(widest) or 0:,} bytes), over DynamoDB's {limit:,}-byte "
                f"limit for a {'partition' if limit == PARTITION_KEY_BYTES else 'sort'} key value",
                "hash the value into the key, or do not use this column in a key",
            )
    pad_found, found = found[: 2 * len(pads)], found[2 * len(pads) :]
    return _pad_lines(item, pads, pad_found) + _size_warning(item, conn, sizes, found)


def _pad_lines(item: ItemTypePlan, pads: list[tuple[str, str, int, list[str]]], found: list[Any]) -> list[str]:
    out = []
    for i, (attribute, column, width, _) in enumerate(pads):
        high, low = found[2 * i], found[2 * i + 1]
        wide = [v for v in (high, low) if v is not None and abs(int(v)) >= 10**width]
        if wide:
            out.append(
                f"item type {item.name}: attribute {attribute}: {column} {wide[0]} is wider than pad({width}), "
                f"so text order is no longer numeric order; widen the pad"
            )
    return out


def _column_sizes(item: ItemTypePlan) -> dict[str, str]:
    """Every column the item type writes -> the attribute it feeds (the first one)."""
    out: dict[str, str] = {}
    for key in item.keys:
        for column in sorted(key.template.columns):
            out.setdefault(column, key.name)
    for column, attribute in _attribute_columns(item.attributes):
        out.setdefault(column, attribute)
    return out


def _attribute_columns(attributes: tuple[CompiledAttribute, ...]) -> list[tuple[str, str]]:
    out = []
    for attribute in attributes:
        if attribute.spec.column:
            out.append((attribute.spec.column, attribute.name))
        if attribute.template is not None:
            out += [(c, attribute.name) for c in sorted(attribute.template.columns)]
        out += [(c, attribute.name) for c, _ in _attribute_columns(attribute.fields)]
    return out


def _size_warning(item: ItemTypePlan, conn: sqlite3.Connection, sizes: dict[str, str], found: list[Any]) -> list[str]:
    """A warning when the longest values and the largest embed groups add up to more than half of 400 KB.

    A value an ``offload`` rule may send to S3 counts as its pointer; an item type whose rows are
    certain to exceed the limit with nothing left to offload is refused first (``_refuse_too_large``).
    """
    parts = {f"attribute {sizes[c]}": n or 0 for c, n in zip(sizes, found)}
    longest = dict(zip(sizes, found))
    if sum(longest.get(a.spec.column or "") or 0 for a in item.attributes) > MAX_ITEM_BYTES:
        _refuse_too_large(item, conn)  # the longest values together could pass the limit: measure per row
    offloaded = {a.name for a in item.offloaded}
    for name in offloaded:
        if f"attribute {name}" in parts:
            parts[f"attribute {name}"] = min(parts[f"attribute {name}"], POINTER_BYTES)
    for embed in item.embeds:
        parts[f"embed {embed.spec.list_attribute or embed.spec.name}"] = _largest_group(embed, conn, item)
    total = sum(parts.values())
    if total <= LARGE_ITEM_BYTES:
        return []
    largest = max(parts, key=lambda p: parts[p])
    return [
        f"item type {item.name}: its largest item may be {total / 1024:,.0f} KB, above half of DynamoDB's 400 KB "
        f"item limit ({largest}: up to {parts[largest] / 1024:,.0f} KB); as the data grows, items will be refused"
        + (
            f" (an offload rule on {largest} keeps it in S3)"
            if largest.startswith("attribute ") and largest.removeprefix("attribute ") not in offloaded
            else ""
        )
    ]


def _inline_bytes(attribute: CompiledAttribute) -> str | None:
    """SQL for the bytes a plain column attribute stores for certain (text and blobs as they are), else None."""
    spec = attribute.spec
    if spec.source != "column" or not spec.column or spec.type not in ("auto", "string", "binary"):
        return None
    column = quote_name(spec.column)
    return f"(CASE WHEN typeof({column}) IN ('text', 'blob') THEN length(CAST({column} AS BLOB)) ELSE 0 END)"


def _refuse_too_large(item: ItemTypePlan, conn: sqlite3.Connection) -> None:
    """SpecError naming the attribute's file:line when a row's item exceeds 400 KB with nothing left to offload.

    The measure is a lower bound, exact per row: the bytes of the text and blob columns the item stores
    as they are (names included), offloadable ones counted as their pointers. Templates, numbers and
    embeds only add to it, so a refused mapping is one whose items DynamoDB would refuse.
    """
    measured = [(a, sql) for a in item.attributes if (sql := _inline_bytes(a)) is not None]
    if not measured:
        return
    terms = [f"min({sql}, {POINTER_MIN_BYTES})" if a.spec.offload is not None else sql for a, sql in measured]
    names = sum(len(a.name.encode()) for a, _ in measured)
    cursor = ", ".join(quote_name(c) for c in item.spec.cursor)
    sql = (
        f"SELECT {' + '.join(terms)} + {names} AS total, {', '.join(f'{s} AS v{i}' for i, (_, s) in enumerate(measured))}, "
        f"{cursor} FROM (\n{item.spec.query.strip().rstrip(';')}\n) ORDER BY total DESC LIMIT 1"
    )
    try:
        row = conn.execute(sql).fetchone()
    except sqlite3.Error as exc:
        raise source_error(exc, f"{item.spec.location}: item type {item.name}: measuring its largest item") from None
    if row is None or (row[0] or 0) <= MAX_ITEM_BYTES:
        return
    values = row[1 : 1 + len(measured)]
    widest = max(range(len(measured)), key=lambda i: values[i] or 0)
    attribute = measured[widest][0]
    at = dict(zip(item.spec.cursor, row[1 + len(measured) :]))
    raise SpecError(
        f"{attribute.spec.location}: item type {item.name}: the item of row {at} is at least {row[0]:,} bytes, over "
        f"DynamoDB's 400 KB item limit, with nothing left to offload (attribute {attribute.name} is "
        f"{values[widest] or 0:,} bytes)",
        f"add 'offload: {{over_kb: 64}}' to attribute {attribute.name} (and an offload bucket to the configuration)"
        if attribute.spec.offload is None
        else "offload another attribute, or store less in the item",
    )


def _largest_group(embed: CompiledEmbed, conn: sqlite3.Connection, item: ItemTypePlan) -> int:
    """The bytes of the largest group of child rows one parent embeds (names and values, about)."""
    columns = sorted({c for c, _ in _attribute_columns(embed.attributes)} | {embed.spec.set_column or ""} - {""})
    names = sum(len(a.name) + 3 for a in embed.attributes) + 3
    row = " + ".join([f"coalesce({_bytes(c)}, 0)" for c in columns] + [str(names)])
    keys = ", ".join(quote_name(c) for c in embed.spec.child_columns)
    sql = (
        f"SELECT max(s) FROM (SELECT sum({row}) AS s FROM (\n{embed.spec.query.strip().rstrip(';')}\n) GROUP BY {keys})"
    )
    try:
        found = conn.execute(sql).fetchone()
    except sqlite3.Error as exc:
        raise source_error(exc, f"{embed.spec.location}: item type {item.name}: embed {embed.spec.name}") from None
    return int(found[0] or 0)
