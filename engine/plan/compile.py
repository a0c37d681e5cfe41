"""Mapping set + source -> an immutable Plan, checked before anything is written.

Compiling a plan opens the source (read-only), asks SQLite for the columns of
every query (so a bad query fails with SQLite's own message and the file and
line of the query), checks that every template and cursor uses columns the
query returns, and compiles every template once.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

from sqlite2ddb.config import Config
from sqlite2ddb.errors import SpecError
from sqlite2ddb.extract.capture_log import capture_tables_read
from sqlite2ddb.extract.connections import register_functions
from sqlite2ddb.extract.cursor_check import prove_unique
from sqlite2ddb.extract.guard import NamedNulls, parameter_names, refusal
from sqlite2ddb.extract.source import count_rows, is_locked, query_columns, source_error
from sqlite2ddb.spec.model import (
    AccessPatternSpec,
    AttributeSpec,
    EmbedSpec,
    ItemTypeSpec,
    Location,
    MappingSet,
    TableSpec,
)
from sqlite2ddb.spec.templates import CompiledTemplate, TemplateError, compile_expression, compile_template


@dataclass(frozen=True)
class CompiledKey:
    name: str
    template: CompiledTemplate
    type: str  # S, N, B
    primary: bool


@dataclass(frozen=True)
class CompiledAttribute:
    spec: AttributeSpec
    template: CompiledTemplate | None
    fields: tuple[CompiledAttribute, ...]

    @property
    def name(self) -> str:
        return self.spec.name


@dataclass(frozen=True)
class CompiledEmbed:
    spec: EmbedSpec
    attributes: tuple[CompiledAttribute, ...]
    embeds: tuple[CompiledEmbed, ...]


@dataclass(frozen=True)
class TablePlan:
    spec: TableSpec
    name: str  # with the configured prefix
    config_name: str  # e.g. music_catalog, as the config's dynamodb_tables names it


@dataclass(frozen=True)
class OffloadLocation:
    """The S3 bucket and key prefix that hold offloaded attribute values (the configuration's ``offload``)."""

    bucket: str
    prefix: str = ""  # without leading or trailing slash


def offload_location(config: Config) -> OffloadLocation | None:
    """The configuration's ``offload`` bucket and prefix, or None when it names none."""
    if not config.offload:
        return None
    return OffloadLocation(config.offload["bucket"], str(config.offload.get("prefix") or "").strip("/"))


@dataclass(frozen=True)
class ItemTypePlan:
    spec: ItemTypeSpec
    table: TablePlan
    keys: tuple[CompiledKey, ...]
    attributes: tuple[CompiledAttribute, ...]
    embeds: tuple[CompiledEmbed, ...]
    filter: Any  # Callable[[Row], Any] | None
    columns: tuple[str, ...]
    expected_rows: int
    offload: OffloadLocation | None = None  # where offloaded values go (set when an attribute offloads)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def offloaded(self) -> tuple[CompiledAttribute, ...]:
        """The item's own attributes with an ``offload`` rule."""
        return tuple(a for a in self.attributes if a.spec.offload is not None)


@dataclass(frozen=True)
class Plan:
    mapping: MappingSet
    table_prefix: str
    tables: tuple[TablePlan, ...]
    item_types: tuple[ItemTypePlan, ...]

    def table(self, logical_name: str) -> TablePlan:
        return next(t for t in self.tables if t.spec.name == logical_name)

    def item_type(self, name: str) -> ItemTypePlan:
        return next(i for i in self.item_types if i.name == name)


def config_table_name(logical: str) -> str:
    """MusicCatalog -> music_catalog: the name the config and --tables use."""
    out = ""
    for i, ch in enumerate(logical):
        if ch.isupper() and i and (logical[i - 1].islower() or logical[i - 1].isdigit()):
            out += "_"
        out += ch.lower()
    return out


def require_item_types(mapping: MappingSet) -> MappingSet:
    """The mapping set, when it has an item type: a set without one would migrate and prove nothing."""
    if not mapping.item_types:
        raise SpecError(
            f"no item types in {mapping.directory}: nothing to migrate or validate",
            "add an item_types: entry to one of its .yaml files",
        )
    return mapping


def compile_plan(
    mapping: MappingSet,
    conn: sqlite3.Connection,
    table_prefix: str,
    count: bool = True,
    offload: OffloadLocation | None = None,
) -> Plan:
    """Check every query and template against the source and compile them."""
    require_item_types(mapping)
    tables = tuple(TablePlan(t, f"{table_prefix}{t.name}", config_table_name(t.name)) for t in mapping.tables)
    by_name = {t.spec.name: t for t in tables}
    items = tuple(_compile_item(item, by_name[item.table], conn, count, offload) for item in mapping.item_types)
    if mapping.access_patterns:
        _register_check_functions(conn)
    for pattern in mapping.access_patterns:
        _check_pattern_fits(pattern, conn)
    return Plan(mapping=mapping, table_prefix=table_prefix, tables=tables, item_types=items)


def _read_only(conn: sqlite3.Connection, query: str, where: Location | None, what: str) -> None:
    """Refuse, before it runs, a statement of the mapping that is not a plain read of the source."""
    try:
        reason = refusal(conn, query)
    except sqlite3.OperationalError as exc:
        if is_locked(exc):
            raise source_error(exc, f"{where}: {what}") from None
        raise SpecError(f"{where}: {what}: query does not run on the source: {exc}") from None
    except sqlite3.Error as exc:
        raise SpecError(f"{where}: {what}: query does not run on the source: {exc}") from None
    if reason:
        raise SpecError(f"{where}: {what}: not a read-only query: {reason}")


def _columns_of(conn: sqlite3.Connection, query: str, where: Location, what: str) -> tuple[str, ...]:
    try:
        columns = query_columns(conn, query)
        log = capture_tables_read(conn, query)
    except sqlite3.Error as exc:
        if is_locked(exc):
            raise source_error(exc, f"{where}: {what}") from None
        if "authoriz" in str(exc):  # the source's authorizer stopped it: say what it asked for
            _read_only(conn, query, where, what)
        raise SpecError(f"{where}: {what}: query does not run on the source: {exc}") from None
    if log:
        raise SpecError(
            f"{where}: {what}: reads {', '.join(log)}, the change log 'capture install' added, "
            "not the application's data"
        )
    return columns


def _compile_item(
    item: ItemTypeSpec, table: TablePlan, conn: sqlite3.Connection, count: bool, offload: OffloadLocation | None
) -> ItemTypePlan:
    what = f"item type {item.name}"
    offloaded = [a for a in item.attributes if a.offload is not None]
    if offloaded and offload is None:
        raise SpecError(
            f"{offloaded[0].location}: {what}: attribute {offloaded[0].name}: 'offload' needs an S3 bucket, and the "
            "configuration names none",
            'add "offload": {"bucket": "...", "prefix": "..."} to the configuration file',
        )
    columns = _columns_of(conn, item.query, item.query_location, what)
    available = frozenset(columns)
    for name in item.cursor:
        if name not in available:
            raise SpecError(
                f"{item.location}: {what}: cursor column '{name}' is not returned by the query {_list(columns)}"
            )
    keys_by_name = table.spec.all_key_attributes()
    keys = tuple(
        CompiledKey(
            name=name,
            template=_template(source, available, item.location, f"{what}: key {name}"),
            type=keys_by_name[name].type,
            primary=name in table.spec.primary_key_names,
        )
        for name, source in item.keys
    )
    predicate = None
    if item.filter:
        try:
            predicate, used = compile_expression(item.filter)
        except TemplateError as exc:
            raise SpecError(f"{item.location}: {what}: filter: {exc}") from None
        _require_columns(used, available, item.location, f"{what}: filter")
    attributes = tuple(_attribute(a, available, what) for a in item.attributes)
    embeds = tuple(_embed(e, available, conn, what) for e in item.embeds)
    try:
        expected = count_rows(conn, item.query) if count else -1
    except sqlite3.Error as exc:
        raise source_error(exc, f"{item.query_location}: {what}: counting rows") from None
    if count:
        prove_unique(conn, item)
    return ItemTypePlan(
        item, table, keys, attributes, embeds, predicate, columns, expected, offload if offloaded else None
    )


def _template(source: str, available: frozenset[str], where: Location, what: str) -> CompiledTemplate:
    try:
        compiled = compile_template(source)
    except TemplateError as exc:
        raise SpecError(f"{where}: {what}: {exc}") from None
    _require_columns(compiled.columns, available, where, what)
    return compiled


def _require_columns(used: frozenset[str], available: frozenset[str], where: Location | None, what: str) -> None:
    missing = sorted(used - available)
    if missing:
        raise SpecError(
            f"{where}: {what}: uses column(s) {', '.join(missing)} that the query does not return {_list(available)}"
        )


def _list(columns: Any) -> str:
    return "(it returns: " + ", ".join(sorted(columns)) + ")"


def _attribute(spec: AttributeSpec, available: frozenset[str], what: str) -> CompiledAttribute:
    label = f"{what}: attribute {spec.name}"
    if spec.source == "column":
        _require_columns(frozenset([spec.column or ""]), available, spec.location, label)
        return CompiledAttribute(spec, None, ())
    if spec.source == "template":
        return CompiledAttribute(
            spec, _template(spec.template or "", available, spec.location or Location("?", 0), label), ()
        )
    if spec.source == "fields":
        return CompiledAttribute(spec, None, tuple(_attribute(f, available, label) for f in spec.fields))
    return CompiledAttribute(spec, None, ())


def _embed(spec: EmbedSpec, parent_columns: frozenset[str], conn: sqlite3.Connection, what: str) -> CompiledEmbed:
    label = f"{what}: embed {spec.name}"
    columns = frozenset(_columns_of(conn, spec.query, spec.location, label))
    _require_columns(frozenset(spec.parent_columns), parent_columns, spec.location, f"{label}: join (parent side)")
    _require_columns(
        frozenset(spec.child_columns) | frozenset(spec.order_by), columns, spec.location, f"{label}: join/order_by"
    )
    if spec.set_column:
        _require_columns(frozenset([spec.set_column]), columns, spec.location, f"{label}: set")
    for aggregate in spec.aggregates:
        if aggregate.fn != "count" and not aggregate.column:
            raise SpecError(f"{spec.location}: {label}: aggregate {aggregate.name}: fn {aggregate.fn} needs 'column'")
        if aggregate.column:
            _require_columns(
                frozenset([aggregate.column]), columns, spec.location, f"{label}: aggregate {aggregate.name}"
            )
    if spec.one:
        _check_one(spec, conn, label)
    attributes = tuple(_attribute(a, columns, label) for a in spec.attributes)
    embeds = tuple(_embed(e, columns, conn, label) for e in spec.embeds)
    return CompiledEmbed(spec, attributes, embeds)


def _check_one(spec: EmbedSpec, conn: sqlite3.Connection, label: str) -> None:
    """``one: true`` promises at most one child row per join key: find the first key with more."""
    keys = ", ".join(quote_name(c) for c in spec.child_columns)
    sql = (
        f"SELECT {keys}, count(*) FROM (\n{spec.query.strip().rstrip(';')}\n) "
        f"WHERE {' AND '.join(f'{quote_name(c)} IS NOT NULL' for c in spec.child_columns)} "
        f"GROUP BY {keys} HAVING count(*) > 1 LIMIT 1"
    )
    try:
        found = conn.execute(sql).fetchone()
    except sqlite3.Error as exc:
        raise source_error(exc, f"{spec.location}: {label}: checking 'one: true'") from None
    if found:
        key = dict(zip(spec.child_columns, found[:-1]))
        raise SpecError(
            f"{spec.location}: {label}: 'one: true' but the join returns {found[-1]} rows for {key}; "
            f"use a list (drop 'one') or narrow the query"
        )


def quote_name(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _register_check_functions(conn: sqlite3.Connection) -> None:
    register_functions(conn)  # the functions check SQL may call when validate runs it


def _statement_columns(conn: sqlite3.Connection, sql: str) -> frozenset[str]:
    """The columns a pattern's or check's statement returns (its ``:name`` parameters bound to NULL, no row read)."""
    cursor = conn.execute(f"SELECT * FROM (\n{sql.strip().rstrip(';')}\n) LIMIT 0", NamedNulls())
    return frozenset(d[0] for d in cursor.description or ())


def _check_pattern_fits(pattern: AccessPatternSpec, conn: sqlite3.Connection) -> None:
    """The request's templates and the pattern's ``:parameters`` use only what the params query returns.

    A params query or SQL that does not compile as a query is left for ``plan`` (``check_mapping_sql``)
    and ``validate`` to report.
    """
    what = f"access pattern {pattern.name}"
    try:
        params = _statement_columns(conn, pattern.params)
        used = parameter_names(conn, pattern.sql)
    except sqlite3.Error:
        return
    request = pattern.request
    templates = [t for _, t in request.get or ()] + ([request.partition] if request.partition else [])
    templates += list(request.sort.templates) if request.sort else []
    templates += [t for _, t in request.partition_terms or ()]  # the per-attribute form
    templates += [t for _, condition in request.sort_terms for t in condition.templates]
    for source in templates:
        _template(str(source), params, pattern.location, f"{what}: request (fed by the params query)")
    missing = sorted(used - params)
    if missing:
        raise SpecError(
            f"{pattern.location}: {what}: sql uses :{', :'.join(missing)} that the params query does not return "
            f"{_list(params)}"
        )


def check_mapping_sql(mapping: MappingSet, conn: sqlite3.Connection) -> None:
    """``plan``'s strict pass: every statement of the mapping is a plain read that returns columns.

    Item queries and embeds already compiled with the plan; this adds params, pattern SQL and
    aggregate SQL, which ``validate`` runs as written.
    """
    _register_check_functions(conn)
    for item in mapping.item_types:
        _read_only(conn, item.query, item.query_location, f"item type {item.name}")
        for embed in _embeds(item.embeds):
            _read_only(conn, embed.query, embed.location, f"item type {item.name}: embed {embed.name}")
    for pattern in mapping.access_patterns:
        what = f"access pattern {pattern.name}"
        _returns_columns(conn, pattern.params, pattern.location, f"{what}: params")
        _returns_columns(conn, pattern.sql, pattern.location, f"{what}: sql")
        if parameter_names(conn, pattern.params):
            raise SpecError(f"{pattern.location}: {what}: params: the params query cannot take :parameters itself")
    for check in mapping.aggregate_checks:
        _returns_columns(conn, check.sql, check.location, f"aggregate check {check.name}: sql")


def _embeds(embeds: tuple[EmbedSpec, ...]) -> list[EmbedSpec]:
    return [e for embed in embeds for e in (embed, *_embeds(embed.embeds))]


def _returns_columns(conn: sqlite3.Connection, sql: str, where: Location, what: str) -> None:
    _read_only(conn, sql, where, what)
    try:
        columns = _statement_columns(conn, sql)
    except sqlite3.Error as exc:
        raise SpecError(
            f"{where}: {what}: not a query that returns rows (a SELECT, WITH or VALUES statement): {exc}"
        ) from None
    if not columns:
        raise SpecError(f"{where}: {what}: returns no column")
