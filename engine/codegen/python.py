"""The generated Python module's text, from the description ``model.build_api`` gives.

Templates become Python expressions over the engine's own filter functions
(``runtime``) when they are simple, and a sandboxed Jinja render otherwise.
Each access pattern's request is the one ``dynamodb.key_condition`` builds for
validate (``PatternKey.request_shape``), written out with the key values as
expressions of the parameters; the copy-finders' queries come from its
``query_request`` too.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from typing import Any

from sqlite2ddb.codegen import runtime
from sqlite2ddb.codegen.model import Api, CopyPath, Field, Method, Record, Writer, identifier, snake
from sqlite2ddb.dynamodb.key_condition import KeyCondition, KeySlot, query_request
from sqlite2ddb.spec.templates import compile_template, template_parts


class Code(str):
    """Python source written as it is by ``literal`` (not quoted)."""


def literal(value: Any, indent: int) -> str:
    """``value`` as Python source; dicts one entry a line, indented by ``indent`` spaces."""
    if isinstance(value, Code):
        return str(value)
    if isinstance(value, dict) and value:
        pad = " " * (indent + 4)
        entries = "".join(f"{pad}{literal(k, 0)}: {literal(v, indent + 4)},\n" for k, v in value.items())
        return "{\n" + entries + " " * indent + "}"
    return repr(value)


def template_code(source: str, column: Callable[[str], str]) -> str:
    """A template as a Python expression giving the text the engine renders; ``column`` writes a column's value."""
    parts = template_parts(source)
    if parts is None:
        columns = sorted(compile_template(source).columns)
        row = ", ".join(f"{c!r}: {column(c)}" for c in columns)
        return f"_jinja({source!r}, {{{row}}})"
    pieces = []
    for part in parts:
        if isinstance(part, str):
            pieces.append(repr(part))
            continue
        name, filters = part
        code = column(name)
        for filter_name, args in filters:
            code = f"{filter_name}({', '.join([code, *map(repr, args)])})"
        pieces.append(code if filters else f"_text({code})")
    return " + ".join(pieces) or '""'


def module_source(api: Api, title: str, mapping: str, digest: str) -> str:
    """The whole generated module."""
    out = [runtime.HEADER.format(title=title, mapping=mapping, digest=digest)]
    out.append(runtime.filters_source())
    out.append(runtime.HELPERS)
    out += [_record(r) for r in api.records]
    out.append(_copies_table(api))
    out += [_key_builder(w) for w in api.writers]
    out.append(runtime.CLIENT)
    for method in api.methods:
        out.append(_method(method))
    writers = {w.item_type.name: w for w in api.writers}
    for writer in api.writers:
        out.append(_writes(writer, api.copies.get(writer.item_type.name, []), writers))
    out.append(runtime.CONNECT)
    return "".join(out).rstrip() + "\n"


def _record(record: Record) -> str:
    lines = ["", "", "@dataclass", f"class {record.name}:", f'    """{record.doc}"""', ""]
    lines.append(f"    MARKER: ClassVar[tuple[str, str] | None] = {record.marker!r}")
    nested = {f.name: Code(f.nested) for f in record.fields if f.nested}
    lines.append(f"    NESTED: ClassVar[dict[str, type[Any]]] = {literal(nested, 4)}")
    keep = sorted(f.name for f in record.fields if f.keep_null)
    lines.append(f"    KEEP_NULL: ClassVar[frozenset[str]] = frozenset({keep!r})")
    lines.append("")
    lines += [_field(f) for f in record.fields]
    return "\n".join(lines) + "\n"


def _field(field: Field) -> str:
    name = identifier(field.name)
    return f"    {name}: {field.hint} | None = {field.default!r}"


def _copies_table(api: Api) -> str:
    holders = {name: tuple(p.holder for p in paths) for name, paths in api.copies.items()}
    return (
        "\n\n#: Item type -> the item types holding copies of its attributes (from the mapping's embeds and query joins).\n"
        f"COPIES: dict[str, tuple[str, ...]] = {literal(holders, 0)}\n"
    )


def _row_code(writer: Writer, source: str = "record") -> str:
    """The dict of template columns a writer reads: from the record's fields, and its keyword arguments."""
    entries = {c: Code(f"{source}.{identifier(f)}") for c, f in writer.columns.items()}
    entries.update({c: Code(identifier(c)) for c in writer.extra})
    return literal(entries, 8)


def _key_builder(writer: Writer) -> str:
    name = snake(writer.item_type.name)
    lines = ["", "", f"def _{name}_keys(row: dict[str, Any]) -> dict[str, Wire]:"]
    lines.append(
        f'    """The keys of a {writer.item_type.name} item, built from ``row`` as the mapping\'s templates build them."""'
    )
    lines.append("    keys: dict[str, Wire] = {}")
    for attribute, template, kind, primary in writer.keys:
        columns = tuple(sorted(compile_template(template).columns))
        code = template_code(template, lambda c: f"row[{c!r}]")
        lines.append(f"    _key(keys, {attribute!r}, row, {columns!r}, {primary}, {kind!r}, lambda: {code})")
    lines.append("    return keys")
    return "\n".join(lines) + "\n"


def _docstring(text: str, indent: int = 8) -> list[str]:
    pad = " " * indent
    wrapped = textwrap.wrap(text.strip().replace('"""', "'''").replace("\\", "\\\\"), 100) or [""]
    if len(wrapped) == 1:
        return [f'{pad}"""{wrapped[0]}"""']
    return [f'{pad}"""{wrapped[0]}', *(f"{pad}{line}" for line in wrapped[1:]), f'{pad}"""']


def _wire_code(expression: str) -> Any:
    """Code standing where a request holds a wire value (the expression computing it)."""
    return Code(expression)


def _key_value_code(slot: KeySlot) -> Any:
    """The expression rendering a key value from the method's parameters, as the engine renders it."""
    return _wire_code(f"_key_value({template_code(slot.template.source, identifier)}, {slot.type!r})")


def _method(method: Method) -> str:
    params = ", ".join(f"{identifier(n)}: {hint}" for n, hint in method.params)
    signature = f"self, *, {params}" if params else "self"
    call = ", ".join(f"{identifier(n)}={identifier(n)}" for n, _ in method.params)
    builder = f"_{method.name}_request"
    types = "(" + ", ".join(method.returns) + ",)"
    union = " | ".join(method.returns)
    spec = method.pattern.request
    operation, kwargs = method.key.request_shape(Code(f"self.table_name({spec.table!r})"), _key_value_code)
    lines = ["", f"    def {builder}({signature}) -> dict[str, Any]:", f"        return {literal(kwargs, 8)}", ""]
    expand = None
    if method.expand:
        cls = method.expand if method.expand != "Any" else "None"
        expand = f"_expand({{items}}, {spec.expand!r}, {cls})"
        element = method.expand
    doc = _docstring(method.pattern.description or method.pattern.name)
    if operation == "get_item":
        returns = f"list[{element}]" if expand else f"{union} | None"
        lines += [f"    def {method.name}({signature}) -> {returns}:", *doc]
        lines.append(f"        item = self._get(self.{builder}({call}))")
        if expand:
            lines.append(f"        return {expand.format(items='[item] if item else []')}")
        else:
            lines.append(f"        return None if item is None else _record(item, {types})")
        return "\n".join(lines) + "\n"
    returns = f"list[{element}]" if expand else f"list[{union}]"
    answer = expand.format(items="items") if expand else f"[_record(i, {types}) for i in items]"
    lines += [f"    def {method.name}({signature}) -> {returns}:", *doc]
    lines += [f"        items = self._all(self.{builder}({call}))", f"        return {answer}", ""]
    paged = f"{signature}, limit: int | None = None, next_token: str | None = None"
    lines.append(f"    def {method.name}_page(\n        {paged}\n    ) -> tuple[{returns}, str | None]:")
    lines += _docstring(f"One page of {method.name}: its records and the token of the next page (None after the last).")
    lines.append(f"        items, token = self._page(self.{builder}({call}), limit, next_token)")
    lines.append(f"        return {answer}, token")
    return "\n".join(lines) + "\n"


def _writes(writer: Writer, copies: list[CopyPath], writers: dict[str, Writer]) -> str:
    spec, cls = writer.item_type, writer.record
    name = snake(spec.name)
    table = writer.table
    primary = tuple(table.primary_key_names)
    key_names = tuple(dict.fromkeys(k for k, _, _, _ in writer.keys))
    extra = "".join(f", {identifier(c)}: Any" for c in writer.extra)
    star = f"self, record: {cls}, *{extra}" if extra else f"self, record: {cls}"
    lines = [
        "",
        f"    def {name}_key({star}) -> dict[str, Any]:",
        f'        """The primary key of the {spec.name} item of ``record``."""',
        f"        keys = _{name}_keys({_row_code(writer)})",
        f"        return {{n: _decode(keys[n]) for n in {primary!r}}}",
        "",
        f"    def put_{name}({star}) -> dict[str, Any]:",
        *_docstring(
            f"Write a {spec.name} item to table {table.name}: the record's attributes, its keys built as the "
            "mapping's templates build them (the record's own key fields are ignored). Returns the primary key. "
            "The items holding copies of its attributes are yours to update: see copies_of_" + name + "."
        ),
        "        item = _encode_record(record)",
        f"        for key in {key_names!r}:",
        "            item.pop(key, None)",
        f"        item.update(_{name}_keys({_row_code(writer)}))",
        f"        self.client.put_item(TableName=self.table_name({table.name!r}), Item=item)",
        f"        return _plain_key(item, {primary!r})",
        "",
        f"    def get_{name}_by_key(self, key: dict[str, Any]) -> {cls} | None:",
        f'        """The {spec.name} item with this primary key, or None."""',
        f"        table = self.table_name({table.name!r})",
        '        item = self._get({"TableName": table, "Key": _wire_key(key), "ConsistentRead": True})',
        f"        return None if item is None else _record(item, ({cls},))",
        "",
        f"    def delete_{name}(self, key: dict[str, Any]) -> None:",
        f'        """Delete the {spec.name} item with this primary key (nothing happens when there is none)."""',
        f"        self.client.delete_item(TableName=self.table_name({table.name!r}), Key=_wire_key(key))",
    ]
    lines += _copy_finder(writer, copies, star, writers)
    return "\n".join(lines) + "\n"


def _copy_finder(writer: Writer, copies: list[CopyPath], star: str, writers: dict[str, Writer]) -> list[str]:
    name = snake(writer.item_type.name)
    reachable = [c for c in copies if c.how]
    missing = [c.holder for c in copies if not c.how]
    text = (
        f"The items holding a copy of this {writer.item_type.name}'s attributes, as (item type, primary key): "
        f"{', '.join(c.holder for c in copies) or 'none'}."
    )
    if missing:
        text += f" Not reachable from the record by a key or an index (find them another way): {', '.join(missing)}."
    lines = ["", f"    def copies_of_{name}({star}) -> list[tuple[str, dict[str, Any]]]:", *_docstring(text)]
    if not reachable:
        lines += ["        return []"]
        return lines
    lines += [
        f"        row: dict[str, Any] = {_row_code(writer)}",
        "        found: list[tuple[str, dict[str, Any]]] = []",
    ]
    for path in reachable:
        lines += _copy_lookup(path, writers[path.holder])
    lines.append("        return found")
    return lines


def _copy_lookup(path: CopyPath, holder: Writer) -> list[str]:
    table = holder.table
    primary = tuple(table.primary_key_names)
    spec = holder.item_type
    marker = (spec.marker, spec.marker_value()) if spec.marker_value() is not None else None
    hname = snake(spec.name)
    if path.how == "key":
        return [
            f"        keys = _{hname}_keys(row)",
            f"        found += self._copy_by_key({spec.name!r}, {table.name!r}, keys, {primary!r}, {marker!r})",
        ]
    types = table.all_key_attributes()
    partition = tuple(
        (name, _wire_code(f"_key_value({template_code(t, lambda c: f'row[{c!r}]')}, {types[name].type!r})"))
        for name, t in path.partition
    )
    sort = ((path.sort_prefix[0], "begins_with", ({"S": path.sort_prefix[1]},)),) if path.sort_prefix else ()
    request = query_request(Code(f"self.table_name({table.name!r})"), path.index, KeyCondition(partition, sort))
    return [
        f"        found += self._copy_by_query(\n            {spec.name!r},\n            {literal(request, 12)},",
        f"            {primary!r},\n            {marker!r},\n        )",
    ]
