"""Choose a DynamoDB design for a SQLite schema: item types, keys, embeds.

Each source table becomes one item type. The rules, in order:

- a pure join table (its primary key is exactly two foreign keys) becomes
  adjacency items, readable from either side (table key one way, GSI1 the other);
- a table with exactly one foreign key, never NULL, to another table's primary
  key is a child: it lives in its parent's partition (single-table style) and
  GSI1 finds it by its own id;
- every other table is an entity with its own partition and a fixed sort key.

A child table whose largest group per parent is small is also embedded in the
parent as a list with a count. Access patterns are chosen in ``patterns.py``.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, replace
from typing import Any, Literal

import sqlite2ddb.scaffold.names as names
from sqlite2ddb.scaffold.schema_reader import (
    ColumnInfo,
    ForeignKey,
    SchemaInfo,
    TableInfo,
    group_sizes,
    quote,
    row_sizes,
)

Kind = Literal["entity", "child", "join"]
Style = Literal["single-table", "table-per-entity"]
MARKER = "Entity"
KEY_NAMES = ("PK", "SK", "GSI1PK", "GSI1SK", "GSI2PK", "GSI2SK")
EMBED_MAX_ROWS = 100
EMBED_MAX_BYTES = 40_000
EMBED_MAX_TOTAL_BYTES = 120_000
ITEM_LIMIT = 400 * 1024  # DynamoDB's largest item
EMBED_GROWTH = 10  # an embedded group today is at most a tenth of what fits in one item
LOOKUP_REFERENCES = 3  # a table this many other tables reference is a lookup: nothing is embedded into it
PARTITION_KEY_LIMIT = 2048  # bytes of a partition key value (tables and indexes)
SORT_KEY_LIMIT = 1024  # bytes of a sort key value
# 19 digits hold every non-negative 64-bit INTEGER (SQLite's whole range, rowids included): the text order of
# a padded id stays its number order however far the ids grow, for at most 18 bytes more per key.
PAD_WIDTH = 19


@dataclass(frozen=True)
class Field:
    """One column of an item type's query and the attribute it becomes."""

    column: str | None  # source column; None for the rowid
    alias: str  # the query's name for it, also the attribute name
    type: str  # number, string, binary, auto
    note: str | None  # one-line comment, when the choice needs one
    json_hint: bool
    comparable: bool  # SQL and DynamoDB give equal values (access pattern checks compare it)
    sortable: str | None  # SQL expression with the text order of its key rendering, or None


@dataclass(frozen=True)
class Embed:
    child: str  # item type name
    as_name: str
    count_name: str
    join: tuple[tuple[str, str], ...]  # (parent alias, child alias)
    fields: tuple[Field, ...]  # the child's fields, without the join columns
    order_by: tuple[str, ...]
    note: str


@dataclass(frozen=True)
class ItemDesign:
    source: TableInfo
    name: str
    kind: Kind
    prefix: str
    table: str  # DynamoDB table (logical name)
    fields: tuple[Field, ...]
    identity: tuple[str, ...]  # aliases that identify a row
    parents: tuple[ForeignKey, ...]  # the child's parent, or a join table's two sides
    keys: tuple[tuple[str, str], ...] = ()
    embeds: tuple[Embed, ...] = ()
    notes: tuple[str, ...] = ()
    lookup: str | None = None  # alias of a unique column GSI2 finds the item by
    gsi1: tuple[tuple[tuple[str, str], ...], tuple[tuple[str, str], ...]] | None = None  # multi-attribute GSI1 key

    def field(self, alias: str) -> Field:
        return next(f for f in self.fields if f.alias == alias)

    def alias_of(self, column: str) -> str:
        return next(f.alias for f in self.fields if f.column == column)

    @property
    def query(self) -> str:
        columns = ", ".join(
            "rowid AS " + quote(f.alias)
            if f.column is None
            else (quote(f.column) if f.column == f.alias else f"{quote(f.column)} AS {quote(f.alias)}")
            for f in self.fields
        )
        return f"SELECT {columns}\nFROM {quote(self.source.name)}"

    def select_list(self) -> str:
        return self.query.removeprefix("SELECT ").rsplit("\nFROM ", 1)[0]


@dataclass(frozen=True)
class TableDesign:
    name: str
    has_gsi1: bool
    note: str
    has_gsi2: bool = False
    # GSI1 keyed on the items' own attributes: ((alias, S|N) partition attributes, (alias, S|N) sort attributes)
    gsi1_key: tuple[tuple[tuple[str, str], ...], tuple[tuple[str, str], ...]] | None = None


@dataclass(frozen=True)
class Design:
    schema: SchemaInfo
    style: Style
    tables: tuple[TableDesign, ...]
    items: tuple[ItemDesign, ...]

    def item(self, name: str) -> ItemDesign:
        return next(i for i in self.items if i.name == name)

    def item_of(self, table: str) -> ItemDesign | None:
        return next((i for i in self.items if i.source.name == table), None)


def design(
    conn: sqlite3.Connection, schema: SchemaInfo, style: Style, table_name: str, multi_attribute_keys: bool = False
) -> Design:
    """The whole design: item types with keys and embeds, and the DynamoDB tables they need.

    ``multi_attribute_keys`` (a target with multi-attribute index keys: AWS, DynamoDB Local 3.3.0 and
    later): in table-per-entity style, where GSI1's synthetic keys would only concatenate columns, GSI1
    is keyed on the items' own attributes instead (see ``_natural_gsi1``).
    """
    taken: set[str] = set()
    items = [_item(t, names.item_name(t.name, taken), table_name) for t in schema.tables]
    items = [_classify(i, items) for i in items]
    by_table = {i.source.name: i for i in items}
    items = [_with_lookup(replace(i, keys=_keys(i, by_table, style))) for i in items]
    items = [_with_embeds(conn, i, items) for i in items]
    if style == "single-table":
        gsi1 = any(i.kind != "entity" for i in items)
        gsi2 = any(i.lookup for i in items)
        tables: tuple[TableDesign, ...] = (TableDesign(table_name, gsi1, _single_table_note(items), gsi2),)
    else:
        items = [replace(i, table=i.name) for i in items]
        if multi_attribute_keys:
            items = [_natural_gsi1(i, by_table) for i in items]
        tables = tuple(
            TableDesign(i.name, i.kind != "entity", f"{i.name}: the rows of {i.source.name}", bool(i.lookup), i.gsi1)
            for i in items
        )
    return Design(schema, style, tables, tuple(items))


def _single_table_note(items: list[ItemDesign]) -> str:
    counts = {k: sum(1 for i in items if i.kind == k) for k in ("entity", "child", "join")}
    return (
        f"one table for {len(items)} item types: {counts['entity']} in their own partition, "
        f"{counts['child']} in their parent's, {counts['join']} join tables as adjacency items"
    )


# --------------------------------------------------------------------------- fields
def _item(table: TableInfo, name: str, table_name: str) -> ItemDesign:
    """Fields for every column (plus the rowid when the primary key cannot identify a row, or is too long)."""
    taken = set(KEY_NAMES) | {MARKER}
    fields: list[Field] = []
    prefix = names.key_prefix(name)
    why = _rowid_reason(table, prefix)
    if why:
        alias = names.identifier("row_id", taken | {c.name for c in table.columns})
        taken.add(alias)
        fields.append(
            Field(
                column=None,
                alias=alias,
                type="number",
                note=f"{why}: rowid is its id",
                json_hint=False,
                comparable=True,
                sortable=f"printf('%0{PAD_WIDTH}d', rowid)",
            )
        )
    fields += [_field(column, names.identifier(column.name, taken), table.rows) for column in table.columns]
    by_column = {f.column: f.alias for f in fields}
    ids = (fields[0].alias,) if why else tuple(by_column[c] for c in table.primary_key)
    return ItemDesign(table, name, "entity", prefix, table_name, tuple(fields), ids, ())


def _rowid_reason(table: TableInfo, prefix: str) -> str | None:
    """Why the rowid identifies the rows instead of the primary key, or None when the key serves.

    An id can land in a sort key (a child's, a join's), whose value DynamoDB caps at 1,024 bytes: a
    primary key whose longest value today is over half of that is left out of the keys, with headroom
    for longer values to come.
    """
    if table.without_rowid:
        return None
    if not table.primary_key:
        return "the table has no primary key"
    nulls = [c for c in table.primary_key if table.column(c).nulls]
    if nulls:
        return f"primary key column(s) {', '.join(nulls)} hold NULLs"
    longest = key_bytes(table, table.primary_key, prefix)
    if longest > SORT_KEY_LIMIT // 2:
        return (
            f"its primary key ({', '.join(table.primary_key)}) makes key values of up to {longest:,} bytes, over "
            f"half of DynamoDB's {SORT_KEY_LIMIT:,}-byte sort key limit"
        )
    return None


def key_bytes(table: TableInfo, columns: tuple[str, ...], prefix: str) -> int:
    """The longest key value (UTF-8 bytes) ``prefix#a#b`` can make from today's longest values of ``columns``."""
    widths = [PAD_WIDTH if table.column(c).classes == {"integer"} else table.column(c).max_bytes for c in columns]
    return len(prefix.encode()) + sum(widths) + len(columns)


def _field(column: ColumnInfo, alias: str, rows: int) -> Field:
    """The attribute type from the storage classes the values actually have."""
    classes = column.classes
    base: dict[str, Any] = {"column": column.name, "alias": alias, "json_hint": False, "sortable": None}
    if not classes:
        note = "always NULL in the source" if rows else None  # an empty table says nothing about its columns
        return Field(**base, type="auto", note=note, comparable=False)
    if classes <= {"integer", "real"}:
        if classes == {"integer"} and (column.minimum or 0) >= 0:
            base["sortable"] = f"printf('%0{PAD_WIDTH}d', {quote(column.name)})"
        note = "REAL values keep their exact decimal text" if "real" in classes else None
        return Field(**base, type="number", note=note, comparable=True)
    if classes == {"text"}:
        numeric = any(t in column.declared.upper() for t in ("INT", "REAL", "NUM", "DEC"))
        note = f"declared {column.declared} but stored as TEXT" if numeric else None
        base.update(json_hint=column.json_text, sortable=quote(column.name))
        return Field(**base, type="string", note=note, comparable=True)
    if classes == {"blob"}:
        size = f"{column.max_bytes:,} byte{'s' if column.max_bytes != 1 else ''}"
        return Field(**base, type="binary", note=f"BLOB, up to {size}", comparable=False)
    mixed = ", ".join(sorted(classes))
    return Field(
        **base, type="auto", note=f"mixed storage classes ({mixed}): each value keeps its own", comparable=False
    )


# --------------------------------------------------------------------------- kinds
def _classify(item: ItemDesign, items: list[ItemDesign]) -> ItemDesign:
    table = item.source
    by_table = {i.source.name: i for i in items}
    usable = [fk for fk in table.foreign_keys if _references_identity(fk, by_table)]
    own_columns = {f.column for f in item.fields if f.alias in item.identity}
    if len(table.foreign_keys) == 2 and len(usable) == 2:
        fk_columns = {c for fk in usable for c in fk.columns}
        if fk_columns == own_columns and len(fk_columns) == sum(len(fk.columns) for fk in usable):
            sides = " and ".join(fk.table for fk in usable)
            note = f"join table between {sides}: adjacency items, read from either side"
            return replace(item, kind="join", parents=tuple(usable), notes=(note,))
    if len(table.foreign_keys) == 1 and len(usable) == 1 and usable[0].table != table.name:
        fk = usable[0]
        if not any(table.column(c).nulls for c in fk.columns):
            note = f"one foreign key ({', '.join(fk.columns)}) to {fk.table}, never NULL: in its parent's partition"
            return replace(item, kind="child", parents=(fk,), notes=(note,))
        return replace(item, notes=(f"its foreign key to {fk.table} is sometimes NULL: its own partition",))
    if any(fk.table == table.name for fk in table.foreign_keys):
        return replace(item, notes=("self-reference kept as an attribute: its own partition",))
    if table.foreign_keys:
        return replace(item, notes=(f"{len(table.foreign_keys)} foreign keys: its own partition",))
    return replace(item, notes=("no parent: its own partition",))


def _references_identity(fk: ForeignKey, by_table: dict[str, ItemDesign]) -> bool:
    parent = by_table.get(fk.table)
    if parent is None:
        return False
    identity_columns = tuple(parent.field(a).column for a in parent.identity)
    return set(fk.references) == set(identity_columns) and len(fk.references) == len(identity_columns)


# --------------------------------------------------------------------------- keys
def _id_template(item: ItemDesign, aliases: tuple[str, ...], prefix: str) -> str:
    return prefix + "#" + "#".join("{{ " + a + " }}" for a in aliases)


def _sort_template(item: ItemDesign, aliases: tuple[str, ...], prefix: str) -> str:
    parts = []
    for alias in aliases:
        sortable = item.field(alias).sortable or ""
        width = sortable.split("%0", 1)[1].split("d", 1)[0] if sortable.startswith("printf") else ""
        parts.append("{{ " + alias + (f" | pad({width})" if width else "") + " }}")
    return prefix + "#" + "#".join(parts)


def parent_aliases(item: ItemDesign, fk: ForeignKey, parent: ItemDesign) -> tuple[str, ...]:
    """The child's columns for the parent's identity, in the parent's identity order."""
    return tuple(item.alias_of(c) for c in _in_order(fk, parent))


def sort_aliases(item: ItemDesign) -> tuple[str, ...]:
    """A child's id within its parent's partition: its identity without the parent's columns."""
    fk_aliases = {item.alias_of(c) for fk in item.parents for c in fk.columns}
    return tuple(a for a in item.identity if a not in fk_aliases) or item.identity


def _keys(item: ItemDesign, by_table: dict[str, ItemDesign], style: Style) -> tuple[tuple[str, str], ...]:
    own = _id_template(item, item.identity, item.prefix)
    if item.kind == "entity":
        return (("PK", own), ("SK", item.prefix))
    if item.kind == "child":
        fk = item.parents[0]
        parent = by_table[fk.table]
        home = _id_template(item, parent_aliases(item, fk, parent), parent.prefix)
        sort = _sort_template(item, sort_aliases(item), item.prefix)
        if style == "single-table":
            return (("PK", home), ("SK", sort), ("GSI1PK", own), ("GSI1SK", item.prefix))
        return (("PK", own), ("SK", item.prefix), ("GSI1PK", home), ("GSI1SK", sort))
    left, right = (by_table[fk.table] for fk in item.parents)
    a = parent_aliases(item, item.parents[0], left)
    b = parent_aliases(item, item.parents[1], right)
    return (
        ("PK", _id_template(item, a, left.prefix)),
        ("SK", _sort_template(item, b, item.prefix)),
        ("GSI1PK", _id_template(item, b, right.prefix)),
        ("GSI1SK", _sort_template(item, a, item.prefix)),
    )


_KEY_TYPES = {"number": "N", "string": "S"}


def _natural_gsi1(item: ItemDesign, by_table: dict[str, ItemDesign]) -> ItemDesign:
    """A child's or join row's GSI1 on its own attributes (a multi-attribute key) instead of GSI1PK/GSI1SK.

    In a table of one item type, ``GSI1PK: "ALBUM#{{ AlbumId }}"`` only concatenates columns: the
    attributes themselves, typed, make the key (numbers sort as numbers, nothing to keep in sync). Kept
    as it was when a column is not always a number or always text, or when it needs more than four.
    """
    if item.kind == "entity":
        return item
    if item.kind == "child":
        fk = item.parents[0]
        partition, sort = parent_aliases(item, fk, by_table[fk.table]), sort_aliases(item)
    else:
        left, right = (by_table[fk.table] for fk in item.parents)
        partition = parent_aliases(item, item.parents[1], right)
        sort = parent_aliases(item, item.parents[0], left)
    aliases = (*partition, *sort)
    if len(partition) > 4 or len(sort) > 4 or any(item.field(a).type not in _KEY_TYPES for a in aliases):
        return item
    typed = lambda group: tuple((a, _KEY_TYPES[item.field(a).type]) for a in group)  # noqa: E731
    keys = tuple((name, template) for name, template in item.keys if name not in ("GSI1PK", "GSI1SK"))
    note = f"GSI1 keyed on its own attributes {', '.join(partition)} / {', '.join(sort)} (a multi-attribute key)"
    return replace(item, keys=keys, gsi1=(typed(partition), typed(sort)), notes=(*item.notes, note))


def _with_lookup(item: ItemDesign) -> ItemDesign:
    """The first single-column unique index (TEXT or INTEGER values) short enough for a key becomes a GSI2 lookup."""
    notes = list(item.notes)
    for columns in item.source.unique:
        if len(columns) != 1 or columns[0] in {item.field(a).column for a in item.identity}:
            continue
        field = item.field(item.alias_of(columns[0]))
        if item.source.column(columns[0]).classes not in ({"integer"}, {"text"}):
            continue
        prefix = f"{item.prefix}_{names.key_prefix(field.alias)}"
        longest = key_bytes(item.source, columns, prefix)
        if longest > PARTITION_KEY_LIMIT // 2:
            notes.append(
                f"unique {columns[0]} not indexed: its key value would be up to {longest:,} bytes, over half of "
                f"DynamoDB's {PARTITION_KEY_LIMIT:,}-byte partition key limit"
            )
            continue
        template = f"{prefix}#{{{{ {field.alias} }}}}"
        note = f"unique {columns[0]}: GSI2 finds it by that value (key values up to {longest:,} bytes)"
        return replace(
            item,
            keys=(*item.keys, ("GSI2PK", template), ("GSI2SK", item.prefix)),
            lookup=field.alias,
            notes=(*notes, note),
        )
    return replace(item, notes=tuple(notes))


# --------------------------------------------------------------------------- embeds
def _with_embeds(conn: sqlite3.Connection, parent: ItemDesign, items: list[ItemDesign]) -> ItemDesign:
    embeds: list[Embed] = []
    notes = list(parent.notes)
    taken = {f.alias for f in parent.fields} | set(KEY_NAMES) | {MARKER}
    referrers = {i.source.name for i in items for fk in i.source.foreign_keys if fk.table == parent.source.name}
    referrers.discard(parent.source.name)
    total = 0
    for child in items:
        for fk in child.source.foreign_keys:
            if fk.table != parent.source.name or child is parent:
                continue
            label = f"{child.source.name} ({', '.join(fk.columns)})"
            if not _references_identity(fk, {parent.source.name: parent}):
                notes.append(f"{label} not embedded: its foreign key does not reference the primary key")
                continue
            if len(referrers) >= LOOKUP_REFERENCES:
                notes.append(
                    f"{label} not embedded: {len(referrers)} tables reference {parent.source.name}, a lookup "
                    "whose items would grow with every one of them"
                )
                continue
            why_not, size, note = _embed_sizes(conn, child, fk, label, parent.source.name, total)
            fields = tuple(f for f in child.fields if f.column not in set(fk.columns))
            if why_not or not fields:
                notes += [why_not] if why_not else []
                continue
            total += size
            embeds.append(
                Embed(
                    child=child.name,
                    as_name=names.identifier(names.plural(child.name), taken),
                    count_name=names.identifier(child.name + "Count", taken),
                    join=tuple(zip(parent.identity, (child.alias_of(c) for c in _in_order(fk, parent)))),
                    fields=fields,
                    order_by=child.identity,
                    note=note,
                )
            )
    return replace(parent, embeds=tuple(embeds), notes=tuple(notes))


def _embed_sizes(
    conn: sqlite3.Connection, child: ItemDesign, fk: ForeignKey, label: str, parent: str, total: int
) -> tuple[str | None, int, str]:
    """(why not embedded or None, bytes of the largest group, the comment of an embed).

    Embedding is decided for the data to come, not only today's: a group may grow into a parent item
    (400 KB at most) when the child belongs to its parent (the foreign key is part of the child's
    primary key, as an invoice's lines) or when the largest group today is at most a tenth of what fits.
    """
    rows, size = group_sizes(conn, child.source, fk.columns)
    if rows == 0:
        return f"{label} not embedded: no rows", 0, ""
    average, _largest = row_sizes(conn, child.source)
    fits = ITEM_LIMIT // max(average, 1)
    headroom = (
        f"largest group {rows:,} row{'s' if rows != 1 else ''} (~{_kb(size)}); "
        f"~{fits:,} rows of ~{_kb(average)} would reach 400 KB"
    )
    if rows > EMBED_MAX_ROWS or size > EMBED_MAX_BYTES or total + size > EMBED_MAX_TOTAL_BYTES:
        why = (
            f"{label} not embedded: up to {rows:,} rows (~{_kb(size)}) per {parent} row, "
            f"over the {EMBED_MAX_ROWS} rows / {_kb(EMBED_MAX_BYTES)} this scaffold embeds"
        )
        return why, size, ""
    identifying = set(fk.columns) <= set(child.source.primary_key)
    room = rows * EMBED_GROWTH <= fits and size * EMBED_GROWTH <= ITEM_LIMIT
    if not identifying and not room:
        why = f"{label} not embedded: {headroom}, less than {EMBED_GROWTH}x room to grow"
        return why, size, ""
    kind = "part of its primary key" if identifying else f"at least {EMBED_GROWTH}x room to grow"
    return None, size, f"{label} embedded too ({kind}): {headroom}"


def _in_order(fk: ForeignKey, parent: ItemDesign) -> tuple[str, ...]:
    """The foreign key's columns in the order of the parent's identity."""
    mapping: dict[str | None, str] = dict(zip(fk.references, fk.columns))  # identity columns are named here
    return tuple(mapping[parent.field(a).column] for a in parent.identity)


def _kb(size: int) -> str:
    return f"{size / 1024:,.0f} KB" if size >= 1024 else f"{size} bytes"
