"""Load a mapping set: YAML with lines -> JSON Schema -> model -> cross-references.

The order is fixed so that each stage can trust the one before it: the
builder only sees documents the schema accepted, and the cross-reference
checks only see a complete model.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from sqlite2ddb.errors import SpecError
from sqlite2ddb.spec.model import (
    MAX_KEY_ATTRIBUTES,
    AccessPatternSpec,
    AggregateCheckSpec,
    AggregateSpec,
    AttributeSpec,
    EmbedSpec,
    IndexSpec,
    ItemCheckSpec,
    ItemTypeSpec,
    KeyAttribute,
    Location,
    MappingSet,
    OffloadRule,
    RequestSpec,
    SortCondition,
    TableSettings,
    TableSpec,
)
from sqlite2ddb.spec.schema import validate_document
from sqlite2ddb.spec.yamlfile import DocPath, YamlDocument, format_path, read_yaml
from sqlite2ddb.wire import SET_TYPES, TIME_TYPES, ConversionError, converter

#: The attribute types whose values can be kept in S3: text and bytes.
OFFLOAD_TYPES = ("auto", "string", "binary")

DEFAULT_MARKER = "Entity"


def load_mapping_set(directory: str | os.PathLike[str]) -> MappingSet:
    """Read every ``*.yaml``/``*.yml`` file of ``directory`` into a MappingSet."""
    folder = Path(directory)
    if not folder.is_dir():
        raise SpecError(f"mapping set not found: {folder} is not a folder")
    paths = sorted(p for p in folder.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
    if not paths:
        raise SpecError(f"mapping set {folder} has no .yaml files")
    documents = [read_yaml(p, _display(p)) for p in paths]
    for doc in documents:
        validate_document(doc)
    builder = _Builder()
    for doc in documents:
        builder.add(doc)
    digests = tuple((doc.file, hashlib.sha256(p.read_bytes()).hexdigest()) for doc, p in zip(documents, paths))
    overall = hashlib.sha256("".join(f"{Path(f).name}:{d}\n" for f, d in digests).encode()).hexdigest()
    mapping = MappingSet(
        directory=_display(folder),
        files=tuple(doc.file for doc in documents),
        digest=overall,
        tables=tuple(builder.tables),
        item_types=tuple(builder.item_types),
        access_patterns=tuple(builder.access_patterns),
        aggregate_checks=tuple(builder.aggregate_checks),
        file_digests=digests,
    )
    check_references(mapping)
    return mapping


def _display(path: Path) -> str:
    """A path relative to the working folder when it is below it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


class _Builder:
    """Turns schema-valid documents into model objects, checking duplicate names."""

    def __init__(self) -> None:
        self.tables: list[TableSpec] = []
        self.item_types: list[ItemTypeSpec] = []
        self.access_patterns: list[AccessPatternSpec] = []
        self.aggregate_checks: list[AggregateCheckSpec] = []
        self._seen: dict[tuple[str, str], Location] = {}

    def add(self, doc: YamlDocument) -> None:
        data = doc.data or {}
        for i, raw in enumerate(data.get("tables", [])):
            self.tables.append(self._table(doc, ("tables", i), raw))
        for i, raw in enumerate(data.get("item_types", [])):
            self.item_types.append(self._item_type(doc, ("item_types", i), raw))
        for i, raw in enumerate(data.get("access_patterns", [])):
            self.access_patterns.append(self._access_pattern(doc, ("access_patterns", i), raw))
        for i, raw in enumerate(data.get("aggregate_checks", [])):
            self.aggregate_checks.append(self._aggregate_check(doc, ("aggregate_checks", i), raw))

    def _unique(self, kind: str, name: str, location: Location) -> None:
        earlier = self._seen.get((kind, name))
        if earlier:
            raise SpecError(f"{location}: duplicate {kind} name '{name}' (first defined at {earlier})")
        self._seen[(kind, name)] = location

    @staticmethod
    def _loc(doc: YamlDocument, path: DocPath) -> Location:
        return Location(doc.file, doc.line_of(path))

    def _table(self, doc: YamlDocument, path: DocPath, raw: dict[str, Any]) -> TableSpec:
        location = self._loc(doc, path)
        self._unique("table", raw["name"], location)
        indexes = []
        for i, idx in enumerate(raw.get("indexes", [])):
            projection, include = _projection(idx)
            indexes.append(
                IndexSpec(
                    name=idx["name"],
                    partition_keys=_keys(idx["partition_key"]),
                    sort_keys=_keys(idx.get("sort_key", [])),
                    projection=projection,
                    non_key_attributes=include,
                    location=self._loc(doc, (*path, "indexes", i)),
                )
            )
            self._unique(f"index of table {raw['name']}", idx["name"], self._loc(doc, (*path, "indexes", i)))
        local_indexes = []
        for i, idx in enumerate(raw.get("local_indexes", [])):
            projection, include = _projection(idx)
            local_indexes.append(
                IndexSpec(
                    idx["name"],
                    (_key(raw["partition_key"]),),
                    (_key(idx["sort_key"]),),
                    projection,
                    include,
                    self._loc(doc, (*path, "local_indexes", i)),
                )
            )
            self._unique(f"index of table {raw['name']}", idx["name"], self._loc(doc, (*path, "local_indexes", i)))
        if local_indexes and "sort_key" not in raw:
            raise SpecError(f"{location}: table {raw['name']}: local_indexes need a table with a sort_key")
        if "max_throughput" in raw and raw.get("billing_mode") == "PROVISIONED":
            raise SpecError(
                f"{self._loc(doc, (*path, 'max_throughput'))}: table {raw['name']}: max_throughput caps an on-demand "
                "table; DynamoDB refuses it with billing_mode PROVISIONED (write_capacity is the cap there)"
            )
        return TableSpec(
            name=raw["name"],
            partition_key=_key(raw["partition_key"]),
            sort_key=_key(raw["sort_key"]) if "sort_key" in raw else None,
            billing_mode=raw.get("billing_mode", "PAY_PER_REQUEST"),
            read_capacity=raw.get("read_capacity"),
            write_capacity=raw.get("write_capacity"),
            indexes=tuple(indexes),
            location=location,
            local_indexes=tuple(local_indexes),
            settings=_settings(raw),
            fingerprint_attribute=raw.get("fingerprint_attribute"),
        )

    def _item_type(self, doc: YamlDocument, path: DocPath, raw: dict[str, Any]) -> ItemTypeSpec:
        location = self._loc(doc, path)
        self._unique("item type", raw["name"], location)
        return ItemTypeSpec(
            name=raw["name"],
            table=raw["table"],
            query=raw["query"],
            cursor=tuple(raw["cursor"]),
            filter=raw.get("filter"),
            marker=raw.get("marker", DEFAULT_MARKER),
            keys=tuple(raw["keys"].items()),
            attributes=_attributes(doc, (*path, "attributes"), raw["attributes"]),
            embeds=tuple(_embed(doc, (*path, "embeds", i), e) for i, e in enumerate(raw.get("embeds", []))),
            checks=tuple(
                ItemCheckSpec(
                    name=c.get(
                        "name", f"{raw['name']}.{c['kind']}" + (f".{c['attribute']}" if "attribute" in c else "")
                    ),
                    kind=c["kind"],
                    attribute=c.get("attribute"),
                    value=c.get("value"),
                    location=self._loc(doc, (*path, "checks", i)),
                )
                for i, c in enumerate(raw.get("checks", []))
            ),
            location=location,
            query_location=self._loc(doc, (*path, "query")),
            cursor_location=self._loc(doc, (*path, "cursor")),
        )

    def _access_pattern(self, doc: YamlDocument, path: DocPath, raw: dict[str, Any]) -> AccessPatternSpec:
        location = self._loc(doc, path)
        self._unique("access pattern", raw["name"], location)
        req = raw["request"]
        query = req.get("query") or {}
        partition, sort = query.get("partition"), query.get("sort")
        per_attribute = isinstance(partition, dict) or isinstance(sort, list)
        request = RequestSpec(
            table=req["table"],
            index=req.get("index"),
            get=tuple(req["get"].items()) if "get" in req else None,
            partition=partition if isinstance(partition, str) else None,
            sort=_sort_condition(sort) if isinstance(sort, dict) else None,
            forward=query.get("forward", True),
            expand=req.get("expand"),
            partition_terms=_partition_terms(partition or "") if query and per_attribute else None,
            sort_terms=tuple((name, _sort_condition(c)) for term in sort or () for name, c in term.items())
            if isinstance(sort, list)
            else (),
        )
        if per_attribute and isinstance(sort, dict):
            raise SpecError(
                f"{location}: access pattern {raw['name']}: with partition as attribute: value, give sort as a "
                "list of attribute: condition (e.g. sort: [{Attr: {eq: ...}}])"
            )
        compare = raw["compare"]
        return AccessPatternSpec(
            name=raw["name"],
            description=raw.get("description", ""),
            params=raw["params"],
            sample=raw.get("sample"),
            request=request,
            sql=raw["sql"],
            id_attribute=compare["id"],
            attributes=tuple(compare.get("attributes", [])),
            ordered=compare.get("ordered", True),
            location=location,
        )

    def _aggregate_check(self, doc: YamlDocument, path: DocPath, raw: dict[str, Any]) -> AggregateCheckSpec:
        location = self._loc(doc, path)
        self._unique("aggregate check", raw["name"], location)
        return AggregateCheckSpec(
            name=raw["name"],
            description=raw.get("description", ""),
            sql=raw["sql"],
            item_type=raw["item_type"],
            fn=raw["fn"],
            attribute=raw.get("attribute"),
            location=location,
        )


def _key(raw: dict[str, Any]) -> KeyAttribute:
    return KeyAttribute(raw["name"], raw.get("type", "S"))


def _keys(raw: dict[str, Any] | list[dict[str, Any]]) -> tuple[KeyAttribute, ...]:
    """An index key: one attribute, or a list of them (a multi-attribute key)."""
    return tuple(_key(k) for k in raw) if isinstance(raw, list) else (_key(raw),)


def _sort_condition(raw: dict[str, Any]) -> SortCondition:
    op, value = next(iter(raw.items()))
    return SortCondition(op, tuple(value) if isinstance(value, list) else (value,))


def _partition_terms(raw: str | dict[str, str]) -> tuple[tuple[str, str], ...]:
    """Per-attribute partition values; a plain template (with a sort list) names no attribute: ''."""
    return tuple(raw.items()) if isinstance(raw, dict) else (("", raw),)


def _projection(raw: dict[str, Any]) -> tuple[str, tuple[str, ...]]:
    projection = raw.get("projection", "ALL")
    if isinstance(projection, dict):
        return "INCLUDE", tuple(projection["include"])
    return projection, ()


def _settings(raw: dict[str, Any]) -> TableSettings:
    sse = raw.get("sse")
    tags = raw.get("tags")
    return TableSettings(
        ttl_attribute=raw["ttl"]["attribute"] if "ttl" in raw else None,
        stream=raw.get("stream"),
        point_in_time_recovery=raw.get("point_in_time_recovery"),
        deletion_protection=raw.get("deletion_protection"),
        table_class=raw.get("table_class"),
        max_write=raw.get("max_throughput", {}).get("write"),
        max_read=raw.get("max_throughput", {}).get("read"),
        tags=tuple((str(k), v) for k, v in tags.items()) if tags is not None else None,
        sse="kms" if isinstance(sse, dict) else sse,
        sse_kms_key=sse["kms_key"] if isinstance(sse, dict) else None,
    )


def _attributes(doc: YamlDocument, path: DocPath, raw: dict[str, Any]) -> tuple[AttributeSpec, ...]:
    return tuple(_attribute(doc, (*path, name), name, value) for name, value in raw.items())


def _attribute(doc: YamlDocument, path: DocPath, name: str, raw: Any) -> AttributeSpec:
    location = Location(doc.file, doc.line_of(path))
    if isinstance(raw, str):
        return AttributeSpec(name=name, source="column", column=raw, location=location)
    kind = raw.get("type", "auto")
    if "column" in raw:
        return _converted(path, location, raw, name=name, source="column", column=raw["column"], type=kind)
    if "template" in raw:
        return _converted(path, location, raw, name=name, source="template", template=raw["template"], type=kind)
    if "const" in raw:
        return AttributeSpec(name=name, source="const", const=raw["const"], type=kind, location=location)
    fields = _attributes(doc, (*path, "fields"), raw["fields"])
    return AttributeSpec(name=name, source="fields", type="map", fields=fields, location=location)


def _converted(path: DocPath, location: Location, raw: dict[str, Any], **fields: Any) -> AttributeSpec:
    """A column or template attribute with its conversion options and NULL rule, checked."""
    kind, where = fields["type"], f"{location}: {format_path(path)}"
    for option, kinds in (("delimiter", SET_TYPES), ("format", TIME_TYPES), ("timezone", TIME_TYPES)):
        if option in raw and kind not in kinds:
            raise SpecError(f"{where}: '{option}' applies to type {' or '.join(kinds)}, not {kind}")
    if "precision" in raw and kind != "iso8601":
        raise SpecError(f"{where}: 'precision' applies to type iso8601, not {kind}")
    if "offload" in raw and kind not in OFFLOAD_TYPES:
        raise SpecError(
            f"{where}: 'offload' applies to type {', '.join(OFFLOAD_TYPES)} (S3 holds text or bytes), not {kind}"
        )
    null = raw.get("null", "omit")
    spec = AttributeSpec(
        location=location,
        null="default" if isinstance(null, dict) else null,
        default=null["default"] if isinstance(null, dict) else None,
        delimiter=raw.get("delimiter"),
        format=raw.get("format"),
        timezone=raw.get("timezone"),
        precision=raw.get("precision"),
        offload=OffloadRule(raw["offload"].get("over_kb")) if isinstance(raw.get("offload"), dict) else None,
        **fields,
    )
    try:
        handler = converter(kind, spec.delimiter, spec.format, spec.timezone, spec.precision)
        if spec.null == "default" and spec.default is not None:
            handler(spec.default)
    except (ConversionError, ValueError) as exc:
        raise SpecError(f"{where}: {exc}") from None
    return spec


def _embed(doc: YamlDocument, path: DocPath, raw: dict[str, Any]) -> EmbedSpec:
    location = Location(doc.file, doc.line_of(path))
    if "as" not in raw and not raw.get("aggregates"):
        raise SpecError(f"{location}: {format_path(path)}: an embed needs 'as' (a list attribute) or 'aggregates'")
    if raw.get("one") and "as" not in raw:
        raise SpecError(f"{location}: {format_path(path)}: 'one: true' needs 'as' (the attribute for the map)")
    if raw.get("one") and "set" in raw:
        raise SpecError(f"{location}: {format_path(path)}: 'one: true' and 'set' exclude each other")
    if "as" in raw and "attributes" not in raw and "set" not in raw:
        raise SpecError(
            f"{location}: {format_path(path)}: an embed with 'as' needs 'attributes' for its maps, or 'set'"
        )
    if "set" in raw and ("attributes" in raw or "as" not in raw):
        raise SpecError(f"{location}: {format_path(path)}: 'set' needs 'as' and replaces 'attributes'")
    return EmbedSpec(
        name=raw.get("name") or raw.get("as") or next(iter(raw["aggregates"])),
        query=raw["query"],
        join=tuple(raw["join"].items()),
        order_by=tuple(raw.get("order_by", [])),
        list_attribute=raw.get("as"),
        attributes=_attributes(doc, (*path, "attributes"), raw["attributes"]) if "attributes" in raw else (),
        aggregates=tuple(
            AggregateSpec(name, a["fn"], a.get("column")) for name, a in (raw.get("aggregates") or {}).items()
        ),
        embeds=tuple(_embed(doc, (*path, "embeds", i), e) for i, e in enumerate(raw.get("embeds", []))),
        location=location,
        set_column=raw["set"]["column"] if "set" in raw else None,
        set_type=raw["set"]["type"] if "set" in raw else None,
        one=bool(raw.get("one", False)),
    )


def check_references(mapping: MappingSet) -> None:
    """Cross-reference checks that need the whole set: tables, key coverage, names."""
    tables = {t.name: t for t in mapping.tables}
    for table_spec in mapping.tables:
        _check_index_keys(table_spec)
        _check_key_types(table_spec)
    for item in mapping.item_types:
        table = tables.get(item.table)
        if table is None:
            raise SpecError(
                f"{item.location}: item type {item.name}: table '{item.table}' is not defined "
                f"(tables: {', '.join(sorted(tables)) or 'none'})"
            )
        _check_item_keys(item, table)
        _check_key_attribute_types(item, table)
    item_names = {i.name for i in mapping.item_types}
    for pattern in mapping.access_patterns:
        table = tables.get(pattern.request.table)
        if table is None:
            raise SpecError(
                f"{pattern.location}: access pattern {pattern.name}: unknown table '{pattern.request.table}'"
            )
        if pattern.request.index and table.index(pattern.request.index) is None:
            raise SpecError(
                f"{pattern.location}: access pattern {pattern.name}: table {table.name} has no index "
                f"'{pattern.request.index}'"
            )
        if pattern.request.index:
            _check_projection(pattern, table)
        if pattern.request.get is None:
            _check_key_terms(pattern, table)
        if pattern.request.get is not None:
            if pattern.request.index:
                raise SpecError(f"{pattern.location}: access pattern {pattern.name}: 'get' cannot use an index")
            missing = set(table.primary_key_names) - {k for k, _ in pattern.request.get}
            if missing:
                raise SpecError(
                    f"{pattern.location}: access pattern {pattern.name}: get needs key attribute(s) "
                    f"{', '.join(sorted(missing))}"
                )
    for check in mapping.aggregate_checks:
        if check.item_type not in item_names:
            raise SpecError(f"{check.location}: aggregate check {check.name}: unknown item type '{check.item_type}'")
        if check.fn != "count" and not check.attribute:
            raise SpecError(f"{check.location}: aggregate check {check.name}: fn '{check.fn}' needs 'attribute'")


def _check_key_types(table: TableSpec) -> None:
    """One attribute, one type: a GSI key cannot be N where the table says S."""
    seen: dict[str, str] = {}
    for owner, keys in [(table.name, table.key_attributes)] + [
        (f"{table.name} index {i.name}", i.key_attributes) for i in table.indexes + table.local_indexes
    ]:
        for key in keys:
            if seen.setdefault(key.name, key.type) != key.type:
                raise SpecError(
                    f"{table.location}: table {table.name}: key attribute {key.name} is type {key.type} in {owner} "
                    f"but {seen[key.name]} elsewhere; DynamoDB gives an attribute one type"
                )


def _check_index_keys(table: TableSpec) -> None:
    """What DynamoDB refuses in a multi-attribute key: more than four attributes, one attribute twice."""
    for index in table.indexes:
        where = f"{index.location or table.location}: table {table.name} index {index.name}"
        for part, keys in (("partition", index.partition_keys), ("sort", index.sort_keys)):
            if len(keys) > MAX_KEY_ATTRIBUTES:
                raise SpecError(
                    f"{where}: the {part} key has {len(keys)} attributes ({', '.join(k.name for k in keys)}); "
                    f"DynamoDB allows at most {MAX_KEY_ATTRIBUTES}"
                )
        names = [k.name for k in index.key_attributes]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise SpecError(f"{where}: attribute {', '.join(twice)} appears twice in the key; DynamoDB refuses that")


#: Attribute types -> the DynamoDB type they write (those that can be a key).
_KEY_TYPE_OF = {"string": "S", "iso8601": "S", "number": "N", "epoch_seconds": "N", "binary": "B"}


def _check_key_attribute_types(item: ItemTypeSpec, table: TableSpec) -> None:
    """An attribute that an index uses as a key must be written with the key's type (DynamoDB refuses the item)."""
    keys = table.all_key_attributes()
    for attribute in item.attributes:
        key = keys.get(attribute.name)
        if key is None or attribute.type == "auto":
            continue
        written = _KEY_TYPE_OF.get(attribute.type, attribute.type)
        if written != key.type:
            raise SpecError(
                f"{attribute.location}: item type {item.name}: attribute {attribute.name} is written as "
                f"{attribute.type} ({written}) but table {table.name} declares the key attribute {key.name} as "
                f"{key.type}; DynamoDB refuses an item whose index key has another type"
            )


def _check_key_terms(pattern: AccessPatternSpec, table: TableSpec) -> None:
    """A query names every partition attribute (equality) and sort conditions left to right, only the last a range."""
    source = table.index(pattern.request.index) if pattern.request.index else table
    assert source is not None
    where = f"{pattern.location}: access pattern {pattern.name}"
    partition_names = tuple(k.name for k in source.partition_keys)
    sort_names = tuple(k.name for k in source.sort_keys)
    what = f"index {source.name}" if pattern.request.index else f"table {table.name}"
    if pattern.request.partition_terms is None:
        if len(partition_names) > 1 or len(sort_names) > 1:
            raise SpecError(
                f"{where}: {what} has a multi-attribute key (partition {', '.join(partition_names)}; sort "
                f"{', '.join(sort_names) or 'none'}): give partition as {{attribute: value}} for each partition "
                "attribute and sort as a list of {attribute: condition}"
            )
        return
    partition, sort = pattern.request.key_terms(partition_names, sort_names)
    given = [name for name, _ in partition]
    missing = [n for n in partition_names if n not in given]
    unknown = [n for n in given if n not in partition_names]
    if missing or unknown:
        raise SpecError(
            f"{where}: a query needs equality on every partition attribute of {what} "
            f"({', '.join(partition_names)})"
            + (f"; missing {', '.join(missing)}" if missing else "")
            + (f"; {', '.join(unknown)} is not one" if unknown else "")
        )
    _check_sort_terms(where, what, sort, source.sort_keys)


def _check_sort_terms(
    where: str, what: str, sort: tuple[tuple[str, SortCondition], ...], keys: tuple[KeyAttribute, ...]
) -> None:
    names = [k.name for k in keys]
    for position, (name, condition) in enumerate(sort):
        if name not in names:
            raise SpecError(f"{where}: {name} is not a sort attribute of {what} ({', '.join(names) or 'none'})")
        if names.index(name) != position:
            skipped = ", ".join(names[position : names.index(name)]) if names.index(name) > position else name
            raise SpecError(
                f"{where}: the sort condition on {name} skips {skipped}: conditions go on the sort attributes "
                f"of {what} from the left ({', '.join(names)}), one each"
            )
        if condition.op != "eq" and position < len(sort) - 1:
            raise SpecError(
                f"{where}: the {condition.op} condition on {name} is not on the last attribute the query uses; "
                "every sort condition but the last must be eq"
            )
        if condition.op == "begins_with" and keys[position].type == "N":
            raise SpecError(f"{where}: begins_with on {name}, a number (N); DynamoDB allows it on S and B only")


def _check_item_keys(item: ItemTypeSpec, table: TableSpec) -> None:
    keys = dict(item.keys)
    for name in table.primary_key_names:
        if name not in keys:
            raise SpecError(
                f"{item.location}: item type {item.name}: keys: '{name}' is required (key of table {table.name})"
            )
    known = table.all_key_attributes()
    for name in keys:
        if name not in known:
            raise SpecError(
                f"{item.location}: item type {item.name}: keys: '{name}' is not a key of table {table.name} "
                f"or its indexes ({', '.join(known)})"
            )
    for attribute in item.attributes:
        if attribute.name in keys:
            raise SpecError(
                f"{attribute.location}: item type {item.name}: attribute '{attribute.name}' is also a key; "
                "define it once, under keys"
            )
    embeds = list(item.embeds)
    while embeds:
        embed = embeds.pop()
        _no_nested_offload(item, embed.attributes)
        embeds += embed.embeds
    for attribute in item.attributes:
        _no_nested_offload(item, attribute.fields)
    if item.marker_value() is None:
        raise SpecError(
            f"{item.location}: item type {item.name}: needs a constant marker attribute "
            f"'{item.marker}' (e.g. {item.marker}: {{const: {item.name}}}) so its items can be counted"
        )


def _check_projection(pattern: AccessPatternSpec, table: TableSpec) -> None:
    """A query on an index returns only what the index projects: the compared attributes must be there."""
    index = table.index(pattern.request.index or "")
    if index is None or index.projection == "ALL":
        return
    projected = set(table.primary_key_names) | {k.name for k in index.key_attributes} | set(index.non_key_attributes)
    expand = pattern.request.expand
    needed = [expand] if expand else [pattern.id_attribute, *pattern.attributes]
    missing = [name for name in dict.fromkeys(n.split(".")[0] for n in needed) if name not in projected]
    if missing:
        shown = "KEYS_ONLY" if index.projection == "KEYS_ONLY" else f"INCLUDE [{', '.join(index.non_key_attributes)}]"
        raise SpecError(
            f"{pattern.location}: access pattern {pattern.name}: index {index.name} of table {table.name} projects "
            f"{shown}, which lacks {', '.join(missing)} that the pattern compares "
            "(add them to the projection's include list, or use projection: ALL)"
        )


def _no_nested_offload(item: ItemTypeSpec, attributes: tuple[AttributeSpec, ...]) -> None:
    """Only an item's own attributes go to S3: a pointer inside a map or a list would be one the checks miss."""
    for attribute in attributes:
        if attribute.offload is not None:
            raise SpecError(
                f"{attribute.location}: item type {item.name}: attribute '{attribute.name}': 'offload' applies to "
                "the item's own attributes, not to those of a map or an embed"
            )
        _no_nested_offload(item, attribute.fields)
