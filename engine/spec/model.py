"""Typed, immutable description of a mapping set.

Built once from the YAML files by ``engine.spec.load``; nothing downstream
reads the raw documents.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

AttributeSource = Literal["column", "template", "const", "fields"]


@dataclass(frozen=True)
class Location:
    """Where a definition starts: mapping file and line."""

    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True)
class KeyAttribute:
    name: str
    type: str  # S, N or B


@dataclass(frozen=True)
class IndexSpec:
    name: str
    partition_key: KeyAttribute
    sort_key: KeyAttribute | None
    projection: str  # ALL, KEYS_ONLY or INCLUDE
    non_key_attributes: tuple[str, ...] = ()

    @property
    def key_attributes(self) -> tuple[KeyAttribute, ...]:
        return (self.partition_key,) + ((self.sort_key,) if self.sort_key else ())


@dataclass(frozen=True)
class TableSettings:
    """Table settings beyond keys and indexes; None means "not declared, left alone"."""

    ttl_attribute: str | None = None
    stream: str | None = None  # NEW_AND_OLD_IMAGES, NEW_IMAGE, OLD_IMAGE, KEYS_ONLY
    point_in_time_recovery: bool | None = None
    deletion_protection: bool | None = None
    table_class: str | None = None  # STANDARD, STANDARD_INFREQUENT_ACCESS
    max_write: int | None = None  # on-demand maximum throughput: MaxWriteRequestUnits
    max_read: int | None = None  # ... MaxReadRequestUnits
    tags: tuple[tuple[str, str], ...] | None = None
    sse: str | None = None  # aws_owned, aws_managed, kms
    sse_kms_key: str | None = None


@dataclass(frozen=True)
class TableSpec:
    name: str
    partition_key: KeyAttribute
    sort_key: KeyAttribute | None
    billing_mode: str
    read_capacity: int | None
    write_capacity: int | None
    indexes: tuple[IndexSpec, ...]
    location: Location
    local_indexes: tuple[IndexSpec, ...] = ()  # partition key: the table's own
    settings: TableSettings = field(default_factory=TableSettings)
    fingerprint_attribute: str | None = None  # every item carries a hash of its other attributes here

    @property
    def key_attributes(self) -> tuple[KeyAttribute, ...]:
        return (self.partition_key,) + ((self.sort_key,) if self.sort_key else ())

    @property
    def primary_key_names(self) -> tuple[str, ...]:
        return tuple(k.name for k in self.key_attributes)

    def all_key_attributes(self) -> dict[str, KeyAttribute]:
        """Every attribute used as a key by the table or one of its indexes."""
        out = {k.name: k for k in self.key_attributes}
        for index in self.indexes + self.local_indexes:
            for key in index.key_attributes:
                out.setdefault(key.name, key)
        return out

    def index(self, name: str) -> IndexSpec | None:
        """A global or local secondary index by name."""
        return next((i for i in self.indexes + self.local_indexes if i.name == name), None)


@dataclass(frozen=True)
class AttributeSpec:
    """One attribute of an item or of an embedded map."""

    name: str
    source: AttributeSource
    type: str = "auto"
    column: str | None = None
    template: str | None = None
    const: Any = None
    fields: tuple[AttributeSpec, ...] = ()
    location: Location | None = None
    null: str = "omit"  # omit, keep or default
    default: Any = None  # the value when null == "default"
    delimiter: str | None = None  # sets from a column's text
    format: str | None = None  # epoch_seconds, iso8601: strptime format or None for ISO 8601
    timezone: str | None = None  # of source text without an offset; None is UTC
    precision: str | None = None  # iso8601: seconds, milliseconds, microseconds
    offload: OffloadRule | None = None  # the value may live in S3, a pointer map in the item


@dataclass(frozen=True)
class OffloadRule:
    """``offload: {over_kb: N}``: values over N KB go to S3; without N, only those the item cannot hold."""

    over_kb: float | None = None

    @property
    def over_bytes(self) -> int | None:
        return None if self.over_kb is None else int(self.over_kb * 1024)


@dataclass(frozen=True)
class AggregateSpec:
    name: str
    fn: str  # count, sum, min, max
    column: str | None


@dataclass(frozen=True)
class EmbedSpec:
    """Child rows of a second query folded into the parent item."""

    name: str
    query: str
    join: tuple[tuple[str, str], ...]  # (parent column, child column)
    order_by: tuple[str, ...]
    list_attribute: str | None
    attributes: tuple[AttributeSpec, ...]
    aggregates: tuple[AggregateSpec, ...]
    embeds: tuple[EmbedSpec, ...]
    location: Location
    set_column: str | None = None  # 'as' is a set of this child column ...
    set_type: str | None = None  # ... of this type (string_set, number_set, binary_set)
    one: bool = False  # list_attribute holds a single map (or is absent), not a list

    @property
    def parent_columns(self) -> tuple[str, ...]:
        return tuple(p for p, _ in self.join)

    @property
    def child_columns(self) -> tuple[str, ...]:
        return tuple(c for _, c in self.join)


@dataclass(frozen=True)
class ItemCheckSpec:
    name: str
    kind: str  # attribute_present, max_item_kb
    attribute: str | None
    value: float | None
    location: Location


@dataclass(frozen=True)
class ItemTypeSpec:
    name: str
    table: str
    query: str
    cursor: tuple[str, ...]
    filter: str | None
    marker: str
    keys: tuple[tuple[str, str], ...]  # (attribute, template)
    attributes: tuple[AttributeSpec, ...]
    embeds: tuple[EmbedSpec, ...]
    checks: tuple[ItemCheckSpec, ...]
    location: Location
    query_location: Location
    cursor_location: Location | None = None

    def marker_value(self) -> str | None:
        """The constant of the marker attribute, used to count this type's items."""
        for attribute in self.attributes:
            if attribute.name == self.marker and attribute.source == "const":
                return str(attribute.const)
        return None


@dataclass(frozen=True)
class SortCondition:
    op: str  # eq, begins_with, lt, le, gt, ge, between
    templates: tuple[str, ...]


@dataclass(frozen=True)
class RequestSpec:
    table: str
    index: str | None
    get: tuple[tuple[str, str], ...] | None
    partition: str | None
    sort: SortCondition | None
    forward: bool
    expand: str | None


@dataclass(frozen=True)
class AccessPatternSpec:
    name: str
    description: str
    params: str
    sample: int | None
    request: RequestSpec
    sql: str
    id_attribute: str
    attributes: tuple[str, ...]
    ordered: bool
    location: Location


@dataclass(frozen=True)
class AggregateCheckSpec:
    name: str
    description: str
    sql: str
    item_type: str
    fn: str
    attribute: str | None
    location: Location


@dataclass(frozen=True)
class MappingSet:
    directory: str
    files: tuple[str, ...]
    digest: str
    tables: tuple[TableSpec, ...]
    item_types: tuple[ItemTypeSpec, ...]
    access_patterns: tuple[AccessPatternSpec, ...] = ()
    aggregate_checks: tuple[AggregateCheckSpec, ...] = ()
    file_digests: tuple[tuple[str, str], ...] = field(default=())

    def table(self, name: str) -> TableSpec:
        return next(t for t in self.tables if t.name == name)

    def item_type(self, name: str) -> ItemTypeSpec:
        return next(i for i in self.item_types if i.name == name)
