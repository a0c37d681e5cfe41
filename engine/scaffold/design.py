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
from typing import Literal

from engine.scaffold import names
from engine.scaffold.schema_reader import ColumnInfo, ForeignKey, SchemaInfo, TableInfo, group_sizes, quote

Kind = Literal["entity", "child", "join"]
Style = Literal["single-table", "table-per-entity"]
MARKER = "Entity"
KEY_NAMES = ("PK", "SK", "GSI1PK", "GSI1SK", "GSI2PK", "GSI2SK")
EMBED_MAX_ROWS = 100
EMBED_MAX_BYTES = 40_000
EMBED_MAX_TOTAL_BYTES = 120_000


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


def design(conn: sqlite3.Connection, schema: SchemaInfo, style: Style, table_name: str) -> Design:
    """The whole design: item types with keys and embeds, and the DynamoDB tables they need."""
    taken: set[str] = set()
    items = [_item(t, names.item_name(t.name, taken), table_name) for t in schema.tables]
    items = [_classify(i, items) for i in items]
    by_table = {i.source.name: i for i in items}
    items = [_with_lookup(replace(i, keys=_keys(i, by_table, style))) for i in items]
    items = [_with_embeds(conn, i, items) for i in items]
    if style == "single-table":
        gsi1 = any(i.kind != "entity" for i in items)
        gsi2 = any(i.lookup for i in items)
        tables = (TableDesign(table_name, gsi1, _single_table_note(items), gsi2),)
    else:
        items = [replace(i, table=i.name) for i in items]
        tables = tuple(
            TableDesign(i.name, i.kind != "entity", f"{i.name}: the rows of {i.source.name}", bool(i.lookup))
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
    """Fields for every column (plus the rowid when the primary key cannot identify a row)."""
    taken = set(KEY_NAMES) | {MARKER}
    fields: list[Field] = []
    nulls = [c for c in table.primary_key if table.column(c).nulls]
    use_rowid = not table.without_rowid and (not table.primary_key or bool(nulls))
    if use_rowid:
        why = f"primary key column(s) {', '.join(nulls)} hold NULLs" if nulls else "the table has no primary key"
        alias = names.identifier("row_id", taken | {c.name for c in table.columns})
        taken.add(alias)
        width = len(str(table.max_rowid or 1))
        fields.append(
            Field(
                column=None,
                alias=alias,
                type="number",
                note=f"{why}: rowid is its id",
                json_hint=False,
                comparable=True,
                sortable=f"printf('%0{width}d', rowid)",
            )
        )
    fields += [_field(column, names.identifier(column.name, taken)) for column in table.columns]
    by_column = {f.column: f.alias for f in fields}
    ids = (fields[0].alias,) if use_rowid else tuple(by_column[c] for c in table.primary_key)
    return ItemDesign(table, name, "entity", names.key_prefix(name), table_name, tuple(fields), ids, ())


def _field(column: ColumnInfo, alias: str) -> Field:
    """The attribute type from the storage classes the values actually have."""
    classes = column.classes
    base = {"column": column.name, "alias": alias, "json_hint": False, "sortable": None}
    if not classes:
        return Field(**base, type="auto", note="always NULL in the source", comparable=False)
    if classes <= {"integer", "real"}:
        if classes == {"integer"} and (column.minimum or 0) >= 0:
            width = len(str(int(column.maximum or 0)))
            base["sortable"] = f"printf('%0{width}d', {quote(column.name)})"
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


def _with_lookup(item: ItemDesign) -> ItemDesign:
    """The first single-column unique index (TEXT or INTEGER values) becomes a GSI2 lookup."""
    for columns in item.source.unique:
        if len(columns) != 1 or columns[0] in {item.field(a).column for a in item.identity}:
            continue
        field = item.field(item.alias_of(columns[0]))
        if item.source.column(columns[0]).classes not in ({"integer"}, {"text"}):
            continue
        template = f"{item.prefix}_{names.key_prefix(field.alias)}#{{{{ {field.alias} }}}}"
        note = f"unique {columns[0]}: GSI2 finds it by that value"
        return replace(
            item,
            keys=(*item.keys, ("GSI2PK", template), ("GSI2SK", item.prefix)),
            lookup=field.alias,
            notes=(*item.notes, note),
        )
    return item


# --------------------------------------------------------------------------- embeds
def _with_embeds(conn: sqlite3.Connection, parent: ItemDesign, items: list[ItemDesign]) -> ItemDesign:
    embeds: list[Embed] = []
    notes = list(parent.notes)
    taken = {f.alias for f in parent.fields} | set(KEY_NAMES) | {MARKER}
    total = 0
    for child in items:
        for fk in child.source.foreign_keys:
            if fk.table != parent.source.name or child is parent:
                continue
            if not _references_identity(fk, {parent.source.name: parent}):
                notes.append(f"{child.source.name} not embedded: its foreign key does not reference the primary key")
                continue
            rows, size = group_sizes(conn, child.source, fk.columns)
            label = f"{child.source.name} ({', '.join(fk.columns)})"
            if rows == 0:
                notes.append(f"{label} not embedded: no rows")
                continue
            if rows > EMBED_MAX_ROWS or size > EMBED_MAX_BYTES or total + size > EMBED_MAX_TOTAL_BYTES:
                notes.append(
                    f"{label} not embedded: up to {rows:,} rows (~{_kb(size)}) per {parent.source.name} row, "
                    f"over the {EMBED_MAX_ROWS} rows / {_kb(EMBED_MAX_BYTES)} this scaffold embeds"
                )
                continue
            join_columns = set(fk.columns)
            fields = tuple(f for f in child.fields if f.column not in join_columns)
            if not fields:
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
                    note=f"{label} embedded too: at most {rows:,} per {parent.source.name} row, ~{_kb(size)}",
                )
            )
    return replace(parent, embeds=tuple(embeds), notes=tuple(notes))


def _in_order(fk: ForeignKey, parent: ItemDesign) -> tuple[str, ...]:
    """The foreign key's columns in the order of the parent's identity."""
    mapping = dict(zip(fk.references, fk.columns))
    return tuple(mapping[parent.field(a).column] for a in parent.identity)


def _kb(size: int) -> str:
    return f"{size / 1024:,.0f} KB" if size >= 1024 else f"{size} bytes"
