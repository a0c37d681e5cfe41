"""What the generated code holds, read from a compiled plan: records, access methods, writes, copies.

Nothing here writes code (``python`` does): ``build_api`` turns the plan into
plain descriptions. A record is a dataclass per item type (and per embedded
list), its fields the item's attributes under their DynamoDB names with the
Python type the mapping's type gives. A method is an access pattern with its
request key (``dynamodb.key_condition.PatternKey``, from which validate builds
its requests too), its parameters typed from the params query's first row,
and the record types its answer can hold. Copies: the item types whose
queries (or embeds) read another item type's source table.
"""

from __future__ import annotations

import keyword
import re
import sqlite3
from dataclasses import dataclass, field
from typing import Any

from sqlite2ddb.dynamodb.key_condition import PatternKey
from sqlite2ddb.errors import UsageError
from sqlite2ddb.extract.connections import register_functions
from sqlite2ddb.plan.compile import Plan
from sqlite2ddb.spec.model import AccessPatternSpec, AttributeSpec, EmbedSpec, ItemTypeSpec, TableSpec
from sqlite2ddb.validate.generated import method_name

#: The mapping's attribute types -> Python type hints of the generated fields.
HINTS = {
    "auto": "Any",
    "string": "str",
    "number": "float",
    "boolean": "bool",
    "binary": "bytes",
    "json": "Any",
    "list": "list[Any]",
    "map": "dict[str, Any]",
    "string_set": "set[str]",
    "number_set": "set[float]",
    "binary_set": "set[bytes]",
    "iso8601": "str",
    "epoch_seconds": "int",
}
KEY_HINTS = {"S": "str", "N": "float", "B": "bytes"}
#: Attribute types whose stored value is the column's value, so a key template can read it from the record.
SAME_AS_COLUMN = ("auto", "string", "number")


@dataclass
class Field:
    name: str  # the DynamoDB attribute name
    hint: str
    default: Any = None
    keep_null: bool = False
    nested: str | None = None  # the record class of an embedded list's elements (or one map)


@dataclass
class Record:
    name: str  # the class name
    doc: str
    fields: list[Field]
    marker: tuple[str, str] | None = None


@dataclass
class Method:
    pattern: AccessPatternSpec
    name: str
    key: PatternKey
    params: list[tuple[str, str]]  # (name, hint)
    returns: list[str]  # record class names
    expand: str | None = None  # the element record of an expanded list


@dataclass
class Writer:
    item_type: ItemTypeSpec
    table: TableSpec
    record: str
    columns: dict[str, str]  # template column -> record field it is read from
    extra: list[str]  # template columns the record does not hold: keyword arguments of put_
    keys: list[tuple[str, str, str, bool]]  # (attribute, template, key type, primary)


@dataclass
class CopyPath:
    holder: str  # the item type holding a copy
    how: str  # "key", "query" or "" (no key or index reachable from the record)
    index: str | None = None
    partition: tuple[tuple[str, str], ...] = ()  # (key attribute, template) per partition attribute
    sort_prefix: tuple[str, str] | None = None  # (key attribute, literal prefix)


@dataclass
class Api:
    records: list[Record] = field(default_factory=list)
    methods: list[Method] = field(default_factory=list)
    writers: list[Writer] = field(default_factory=list)
    copies: dict[str, list[CopyPath]] = field(default_factory=dict)


def build_api(plan: Plan, conn: sqlite3.Connection) -> Api:
    """The description of the generated package for ``plan`` (``conn``: the source, for parameter types)."""
    register_functions(conn)
    api = Api()
    for item in plan.mapping.item_types:
        table = plan.mapping.table(item.table)
        api.records += _records(item, table)
        api.writers.append(_writer(item, table))
    for pattern in plan.mapping.access_patterns:
        api.methods.append(_method(plan, conn, pattern))
    api.copies = _copies(plan, conn, {w.item_type.name: w for w in api.writers})
    _check_names(api)
    return api


#: The generated client's own attributes, which no method may take the name of.
RESERVED = ("client", "table_prefix", "table_name", "_page", "_all", "_get", "_copy_by_key", "_copy_by_query")


def _check_names(api: Api) -> None:
    """UsageError when two generated methods would have one name (an access pattern's and a write's)."""
    owners: dict[str, str] = dict.fromkeys(RESERVED, "the client itself")
    for method in api.methods:
        what = f"access pattern {method.pattern.name} ({method.pattern.location})"
        for name in (method.name, f"{method.name}_page", f"_{method.name}_request"):
            if name in owners:
                raise UsageError(f"codegen: {what} would be named {name}, as {owners[name]} is", "rename the pattern")
            owners[name] = what
    for writer in api.writers:
        name = snake(writer.item_type.name)
        for method_name_ in (f"put_{name}", f"get_{name}_by_key", f"delete_{name}", f"{name}_key", f"copies_of_{name}"):
            if method_name_ in owners:
                raise UsageError(
                    f"codegen: item type {writer.item_type.name} ({writer.item_type.location}) needs the method "
                    f"{method_name_}, which is {owners[method_name_]}",
                    "rename the access pattern or the item type",
                )
            owners[method_name_] = f"item type {writer.item_type.name}'s"


def identifier(name: str) -> str:
    """A DynamoDB or column name as a Python identifier (keywords get a trailing underscore)."""
    text = re.sub(r"\W", "_", name)
    text = f"_{text}" if text[:1].isdigit() else text
    return f"{text}_" if keyword.iskeyword(text) else text


def snake(name: str) -> str:
    """``PlaylistTrack`` -> ``playlist_track``: an item type's name in method names."""
    text = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", identifier(name))
    return re.sub(r"_+", "_", text).strip("_").lower() or "item"


def class_name(*parts: str) -> str:
    return "".join(identifier(p)[:1].upper() + identifier(p)[1:] for p in parts)


def _records(item: ItemTypeSpec, table: TableSpec) -> list[Record]:
    """The item type's record and, before it, one per embedded list."""
    out: list[Record] = []
    fields = [_attribute_field(a) for a in item.attributes]
    fields += _embed_fields(item.name, item.embeds, out)
    known = {f.name for f in fields}
    types = table.all_key_attributes()
    fields += [
        Field(name, KEY_HINTS[types[name].type if name in types else "S"]) for name, _ in item.keys if name not in known
    ]
    if table.fingerprint_attribute and table.fingerprint_attribute not in known:
        fields.append(Field(table.fingerprint_attribute, "str"))
    marker = item.marker_value()
    doc = f"An item of type {item.name} (table {item.table}, {item.location})."
    out.append(Record(class_name(item.name), doc, fields, (item.marker, marker) if marker is not None else None))
    return out


def _attribute_field(attribute: AttributeSpec) -> Field:
    if attribute.source == "const":
        hint = type(attribute.const).__name__ if attribute.type == "auto" else HINTS.get(attribute.type, "Any")
        hint = hint if hint in ("str", "int", "float", "bool") else "Any"
        return Field(attribute.name, hint, default=attribute.const)
    if attribute.source == "fields":
        return Field(attribute.name, "dict[str, Any]")
    if attribute.source == "template":
        return Field(attribute.name, HINTS.get(attribute.type, "Any") if attribute.type != "auto" else "str")
    return Field(attribute.name, HINTS.get(attribute.type, "Any"), keep_null=attribute.null == "keep")


def _embed_fields(owner: str, embeds: tuple[EmbedSpec, ...], out: list[Record]) -> list[Field]:
    fields: list[Field] = []
    for embed in embeds:
        if embed.list_attribute and embed.set_type:
            fields.append(Field(embed.list_attribute, HINTS[embed.set_type]))
        elif embed.list_attribute:
            name = class_name(owner, embed.list_attribute, "Entry")
            inner = [_attribute_field(a) for a in embed.attributes]
            inner += _embed_fields(name, embed.embeds, out)
            inner += [Field(a.name, "float") for a in embed.aggregates]
            out.append(Record(name, f"An element of {owner}.{embed.list_attribute} ({embed.location}).", inner))
            hint = name if embed.one else f"list[{name}]"
            fields.append(Field(embed.list_attribute, hint, nested=name))
        fields += [Field(a.name, "float") for a in embed.aggregates]
    return fields


def _writer(item: ItemTypeSpec, table: TableSpec) -> Writer:
    from sqlite2ddb.spec.templates import compile_template

    types = table.all_key_attributes()
    primary = set(table.primary_key_names)
    columns: dict[str, str] = {}
    for attribute in item.attributes:
        if attribute.source == "column" and attribute.type in SAME_AS_COLUMN and attribute.column:
            columns.setdefault(attribute.column, attribute.name)
    needed: list[str] = []
    keys = []
    for name, template in item.keys:
        keys.append((name, template, types[name].type if name in types else "S", name in primary))
        needed += sorted(compile_template(template).columns)
    extra = [c for c in dict.fromkeys(needed) if c not in columns]
    return Writer(item, table, class_name(item.name), columns, extra, keys)


def _method(plan: Plan, conn: sqlite3.Connection, pattern: AccessPatternSpec) -> Method:
    table = plan.mapping.table(pattern.request.table)
    key = PatternKey(pattern.request, table)
    candidates = _answer_types(plan, pattern, key)
    expand = None
    list_attribute = pattern.request.expand
    if list_attribute:
        elements = {
            class_name(i.name, list_attribute, "Entry")
            for i in candidates
            if any(e.list_attribute == list_attribute and not e.set_type for e in i.embeds)
        }
        expand = elements.pop() if len(elements) == 1 else "Any"
    return Method(
        pattern,
        method_name(pattern.name),
        key,
        _params(conn, pattern),
        [class_name(i.name) for i in candidates],
        expand,
    )


def _params(conn: sqlite3.Connection, pattern: AccessPatternSpec) -> list[tuple[str, str]]:
    """The params query's columns, typed from its first row (Any when it has none or gives a NULL)."""
    try:
        cursor = conn.execute(f"SELECT * FROM (\n{pattern.params.strip().rstrip(';')}\n) LIMIT 1")
        row = cursor.fetchone()
    except sqlite3.Error:
        cursor, row = conn.execute(pattern.params), None
    names = [d[0] for d in cursor.description]
    hints = {int: "int", float: "float", str: "str", bytes: "bytes"}
    return [(n, hints.get(type(row[i]), "Any") if row else "Any") for i, n in enumerate(names)]


def literal_prefix(template: str) -> str:
    """The text before a template's first ``{{`` or ``{%``."""
    return re.split(r"\{[{%#]", template, maxsplit=1)[0]


def _compatible(a: str, b: str) -> bool:
    return a.startswith(b) or b.startswith(a)


def _answer_types(plan: Plan, pattern: AccessPatternSpec, key: PatternKey) -> list[ItemTypeSpec]:
    """The item types whose items the pattern's request can return: on its table (and index), with key
    templates whose literal beginnings agree with the request's. All of the table's when none agree."""
    request = pattern.request
    table = plan.mapping.table(request.table)
    on_table = [i for i in plan.mapping.item_types if i.table == table.name]
    key_source = table.index(request.index) if request.index else table
    assert key_source is not None
    wanted = [(name, literal_prefix(t.source)) for name, t in key.get or key.partition]
    wanted += [(name, literal_prefix(ts[0].source)) for name, op, ts in key.sort if op in ("eq", "begins_with")]
    if request.index:  # a sparse index holds the item types that have its keys (as keys or attributes)
        names = {k.name for k in key_source.key_attributes}
        on_table = [i for i in on_table if names <= _attribute_names(i)] or on_table
    found = []
    for item in on_table:
        keys, names = dict(item.keys), _attribute_names(item)
        # a key attribute the item holds as an ordinary attribute (a multi-attribute index's) agrees with any value
        if all(
            _compatible(literal_prefix(keys[name]), prefix) if name in keys else name in names
            for name, prefix in wanted
        ):
            found.append(item)
    return found or on_table


def _attribute_names(item: ItemTypeSpec) -> set[str]:
    return {name for name, _ in item.keys} | {a.name for a in item.attributes}


def _copies(plan: Plan, conn: sqlite3.Connection, writers: dict[str, Writer]) -> dict[str, list[CopyPath]]:
    """For each item type, the item types whose queries or embeds read its source table, and how to find them."""
    base = {i.name: _base_table(i.query) for i in plan.mapping.item_types}
    reads = {i.name: _tables_read(conn, [i.query, *_embed_queries(i.embeds)]) for i in plan.mapping.item_types}
    out: dict[str, list[CopyPath]] = {}
    for item in plan.mapping.item_types:
        table = base[item.name]
        holders = [h for h in plan.mapping.item_types if h.name != item.name and table and table in reads[h.name]]
        out[item.name] = [_copy_path(writers[item.name], writers[h.name]) for h in holders]
    return out


def _copy_path(source: Writer, holder: Writer) -> CopyPath:
    """How the keys of ``holder``'s items are found from a ``source`` record: its primary key built from the
    record, else a query of the table or an index whose partition key the record's columns build."""
    from sqlite2ddb.spec.templates import compile_template

    available = set(source.columns)
    keys = {name: (template, primary) for name, template, _, primary in holder.keys}
    primary = [name for name, (_, p) in keys.items() if p]
    if all(compile_template(keys[k][0]).columns <= available for k in primary):
        return CopyPath(holder.item_type.name, "key")
    spec = holder.table
    for index in (None, *spec.indexes, *spec.local_indexes):
        key_source = spec if index is None else index
        parts = [k.name for k in key_source.partition_keys]
        if all(p in keys and compile_template(keys[p][0]).columns <= available for p in parts):
            sort_key = key_source.sort_key.name if key_source.sort_key else None
            prefix = literal_prefix(keys[sort_key][0]) if sort_key in keys else ""
            return CopyPath(
                holder.item_type.name,
                "query",
                index.name if index else None,
                tuple((p, keys[p][0]) for p in parts),
                (sort_key, prefix) if sort_key and prefix else None,
            )
    return CopyPath(holder.item_type.name, "")


def _embed_queries(embeds: tuple[EmbedSpec, ...]) -> list[str]:
    return [q for e in embeds for q in (e.query, *_embed_queries(e.embeds))]


def _base_table(query: str) -> str | None:
    """The table of a query's first top-level FROM (subqueries in parentheses skipped)."""
    text = query
    while True:
        stripped = re.sub(r"\([^()]*\)", " ", text)
        if stripped == text:
            break
        text = stripped
    match = re.search(r"\bFROM\s+(\"[^\"]+\"|\[[^\]]+\]|`[^`]+`|[\w$]+)", text, re.IGNORECASE)
    return match.group(1).strip('"[]`').lower() if match else None


def _tables_read(conn: sqlite3.Connection, queries: list[str]) -> set[str]:
    """The source tables the queries read, as SQLite's authorizer reports them while it prepares them."""
    found: set[str] = set()

    def authorizer(action: int, table: str | None, *_: Any) -> int:
        if action == sqlite3.SQLITE_READ and table:
            found.add(table.lower())
        return sqlite3.SQLITE_OK

    conn.set_authorizer(authorizer)
    try:
        for query in queries:
            try:
                conn.execute(f"SELECT * FROM (\n{query.strip().rstrip(';')}\n) LIMIT 0").fetchall()
            except sqlite3.Error:
                continue
    finally:
        conn.set_authorizer(None)
    return found
