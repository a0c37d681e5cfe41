"""Access patterns and aggregate checks for a scaffolded design.

Every pattern is one question the keys answer (an item by its id, the
children of a parent in order, either side of a join table, a parent with
its embedded list) beside the SQL that answers it on the source, so that
``validate`` proves the scaffold before anyone edits it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from sqlite2ddb.scaffold.design import Design, Embed, ItemDesign, parent_aliases, sort_aliases
from sqlite2ddb.scaffold.names import kebab
from sqlite2ddb.scaffold.schema_reader import quote

SAMPLE = 500  # parameter values tried per pattern on larger tables


@dataclass(frozen=True)
class Request:
    table: str
    index: str | None = None
    get: tuple[tuple[str, str], ...] | None = None
    partition: str | None = None
    sort: tuple[str, str] | None = None  # (op, template)
    expand: str | None = None
    partition_terms: tuple[tuple[str, str], ...] | None = None  # a multi-attribute key: attribute -> template


@dataclass(frozen=True)
class Pattern:
    name: str
    description: str
    params: str
    sample: int | None
    request: Request
    sql: str
    compare_id: str
    attributes: tuple[str, ...]
    ordered: bool
    empty: str | None = None  # a source table it reads is empty: written as a comment, nothing to prove yet


@dataclass(frozen=True)
class AggregateCheck:
    name: str
    description: str
    sql: str
    item_type: str
    attribute: str


def patterns(design: Design) -> tuple[Pattern, ...]:
    out: list[Pattern] = []
    for item in design.items:
        own = [item.source.name]
        sides = own + [fk.table for fk in item.parents]
        if item.kind != "join":
            out.append(_unless_empty(design, own, _get_by_id(item)))
        if item.lookup:
            out.append(_unless_empty(design, own, _by_unique(item)))
        if item.kind == "child":
            out.append(_unless_empty(design, sides, _children(design, item)))
        if item.kind == "join":
            out += [_unless_empty(design, sides, _join_side(design, item, side)) for side in (0, 1)]
        for embed in item.embeds:
            out.append(_unless_empty(design, own, _with_embed(design, item, embed)))
    return tuple(out)


def _unless_empty(design: Design, tables: list[str], pattern: Pattern) -> Pattern:
    """A pattern over a table that is empty in the source proves nothing: it is kept as a comment."""
    empty = sorted({t for t in tables if design.schema.table(t).rows == 0})
    if not empty:
        return pattern
    return replace(pattern, empty=f"{', '.join(empty)} empty in the source: uncomment it once there are rows")


def aggregate_checks(design: Design) -> tuple[AggregateCheck, ...]:
    out = []
    for parent in design.items:
        for embed in parent.embeds:
            child = design.item(embed.child)
            on = " AND ".join(
                f"c.{quote(child.field(c).column or '')} = p.{quote(parent.field(p).column or '')}"
                for p, c in embed.join
            )
            out.append(
                AggregateCheck(
                    name=f"every-{kebab(child.name)}-in-{kebab(parent.name)}-{kebab(embed.as_name)}",
                    description=f"every {child.source.name} row whose {parent.source.name} exists is counted once in {embed.as_name}",
                    sql=(
                        f"SELECT count(*) FROM {quote(child.source.name)} AS c\n"
                        f"JOIN {quote(parent.source.name)} AS p ON {on}"
                    ),
                    item_type=parent.name,
                    attribute=embed.count_name,
                )
            )
    return tuple(out)


def _where(item: ItemDesign, aliases: tuple[str, ...], params: tuple[str, ...] | None = None) -> str:
    parts = []
    for alias, param in zip(aliases, params or aliases):
        column = item.field(alias).column
        parts.append(f"{'rowid' if column is None else quote(column)} = :{param}")
    return " AND ".join(parts)


def _params(item: ItemDesign, aliases: tuple[str, ...], names: tuple[str, ...] | None = None) -> str:
    columns = []
    for alias, name in zip(aliases, names or aliases):
        column = item.field(alias).column
        source = "rowid" if column is None else quote(column)
        columns.append(source if source == quote(name) else f"{source} AS {quote(name)}")
    return f"SELECT {', '.join(columns)} FROM {quote(item.source.name)}"


def _sample(item: ItemDesign) -> int | None:
    return SAMPLE if item.source.rows > SAMPLE else None


def _compared(item: ItemDesign, fields: tuple[str, ...], id_alias: str) -> tuple[str, ...]:
    return tuple(a for a in fields if a != id_alias and item.field(a).comparable)


def _order(item: ItemDesign, aliases: tuple[str, ...]) -> str | None:
    """ORDER BY giving the text order of the sort key DynamoDB keeps, or None when SQL cannot give it."""
    parts = [item.field(a).sortable for a in aliases]
    if None in parts:
        return None
    return "(" + " || '#' || ".join(p for p in parts if p) + ") COLLATE BINARY"


def _get_request(item: ItemDesign) -> Request:
    keys = dict(item.keys)
    ids = set(item.identity)
    if _uses_only(keys["PK"], ids) and _uses_only(keys["SK"], ids):
        return Request(item.table, get=(("PK", keys["PK"]), ("SK", keys["SK"])))
    return Request(item.table, index="GSI1", partition=keys["GSI1PK"], sort=("eq", keys["GSI1SK"]))


def _uses_only(template: str, aliases: set[str]) -> bool:
    used = {m.split("|")[0].strip() for m in re.findall(r"{{(.*?)}}", template)}
    return used <= aliases


def _get_by_id(item: ItemDesign) -> Pattern:
    fields = tuple(f.alias for f in item.fields)
    id_alias = item.identity[0]
    return Pattern(
        name=f"get-{kebab(item.name)}",
        description=f"one {item.source.name} row by its id ({', '.join(item.identity)})",
        params=_params(item, item.identity),
        sample=_sample(item),
        request=_get_request(item),
        sql=f"SELECT {item.select_list()}\nFROM {quote(item.source.name)}\nWHERE {_where(item, item.identity)}",
        compare_id=id_alias,
        attributes=_compared(item, fields, id_alias),
        ordered=True,
    )


def _by_unique(item: ItemDesign) -> Pattern:
    alias = item.lookup or ""
    column = quote(item.field(alias).column or "")
    keys = dict(item.keys)
    fields = tuple(f.alias for f in item.fields)
    id_alias = item.identity[0]
    return Pattern(
        name=f"{kebab(item.name)}-by-{kebab(alias)}",
        description=f"one {item.source.name} row by its unique {item.field(alias).column}",
        params=f"{_params(item, (alias,))}\nWHERE {column} IS NOT NULL",
        sample=_sample(item),
        request=Request(item.table, index="GSI2", partition=keys["GSI2PK"], sort=("eq", keys["GSI2SK"])),
        sql=f"SELECT {item.select_list()}\nFROM {quote(item.source.name)}\nWHERE {column} = :{alias}",
        compare_id=id_alias,
        attributes=_compared(item, fields, id_alias),
        ordered=True,
    )


def _children(design: Design, item: ItemDesign) -> Pattern:
    fk = item.parents[0]
    parent = design.schema.table(fk.table)
    parent_item = design.item_of(fk.table)
    assert parent_item is not None
    aliases = parent_aliases(item, fk, parent_item)
    keys = dict(item.keys)
    single = design.style == "single-table"
    if item.gsi1:
        request = _natural_request(item)
    else:
        request = Request(
            item.table,
            index=None if single else "GSI1",
            partition=keys["PK"] if single else keys["GSI1PK"],
            sort=("begins_with", item.prefix + "#"),
        )
    return _list_pattern(
        item,
        name=f"{kebab(item.name)}-of-{kebab(parent_item.name)}",
        description=f"the {item.source.name} rows of one {parent.name}, in key order",
        params=_params(parent_item, parent_item.identity, aliases),
        request=request,
        where=_where(item, aliases),
        sort=sort_aliases(item),
        sample=_sample(parent_item),
    )


def _join_side(design: Design, item: ItemDesign, side: int) -> Pattern:
    this, other = item.parents[side], item.parents[1 - side]
    this_item, other_item = design.item_of(this.table), design.item_of(other.table)
    assert this_item is not None and other_item is not None
    aliases = parent_aliases(item, this, this_item)
    keys = dict(item.keys)
    if side == 1 and item.gsi1:
        request = _natural_request(item)
    else:
        request = Request(
            item.table,
            index=None if side == 0 else "GSI1",
            partition=keys["PK"] if side == 0 else keys["GSI1PK"],
            sort=("begins_with", item.prefix + "#"),
        )
    return _list_pattern(
        item,
        name=f"{kebab(item.name)}-by-{kebab(this_item.name)}{'' if side == 0 else '-reverse' if this.table == other.table else ''}",
        description=f"the {other.table} rows linked to one {this.table} through {item.source.name}",
        params=_params(this_item, this_item.identity, aliases),
        request=request,
        where=_where(item, aliases),
        sort=parent_aliases(item, other, other_item),
        sample=_sample(this_item),
    )


def _natural_request(item: ItemDesign) -> Request:
    """A query of GSI1 keyed on the item's own attributes: equality on each partition attribute."""
    assert item.gsi1 is not None
    terms = tuple((alias, "{{ " + alias + " }}") for alias, _ in item.gsi1[0])
    return Request(item.table, index="GSI1", partition_terms=terms)


def _list_pattern(
    item: ItemDesign,
    name: str,
    description: str,
    params: str,
    request: Request,
    where: str,
    sort: tuple[str, ...],
    sample: int | None,
) -> Pattern:
    order = _order(item, sort)
    if request.partition_terms and item.gsi1:  # ordered by the sort attributes' values, each by its type
        order = ", ".join(quote(a) + (" COLLATE BINARY" if t == "S" else "") for a, t in item.gsi1[1])
    fields = tuple(f.alias for f in item.fields)
    sql = f"SELECT {item.select_list()}\nFROM {quote(item.source.name)}\nWHERE {where}"
    unique_id = len(sort) == 1
    return Pattern(
        name=name,
        description=description,
        params=params,
        sample=sample,
        request=request,
        sql=sql + (f"\nORDER BY {order}" if order else ""),
        compare_id=sort[0],
        attributes=_compared(item, fields, sort[0]) if order or unique_id else (),
        ordered=order is not None,
    )


def _with_embed(design: Design, parent: ItemDesign, embed: Embed) -> Pattern:
    child = design.item(embed.child)
    request = _get_request(parent)
    request = Request(
        request.table,
        request.index,
        request.get,
        request.partition,
        request.sort,
        embed.as_name,
        request.partition_terms,
    )
    fields = tuple(f.alias for f in embed.fields)
    id_alias = next((a for a in embed.order_by if a in fields), fields[0])
    child_join = tuple(c for _, c in embed.join)
    parent_join = tuple(p for p, _ in embed.join)
    return Pattern(
        name=f"{kebab(parent.name)}-with-{kebab(embed.as_name)}",
        description=f"one {parent.source.name} item with its {child.source.name} rows embedded, in order",
        params=_params(parent, parent.identity),
        sample=_sample(parent),
        request=request,
        sql=(
            f"SELECT {child.select_list()}\nFROM {quote(child.source.name)}\n"
            f"WHERE {_where(child, child_join, parent_join)}\nORDER BY {', '.join(quote(a) for a in embed.order_by)}"
        ),
        compare_id=id_alias,
        attributes=_compared(child, fields, id_alias),
        ordered=True,
    )
