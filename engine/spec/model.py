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


MAX_KEY_ATTRIBUTES = 4  # of a global secondary index's partition key, and of its sort key


@dataclass(frozen=True)
class IndexSpec:
    """A secondary index. A global one may have multi-attribute keys: up to four partition and four
    sort attributes, each a natural attribute of its own type (DynamoDB, November 2025).

    A single ``KeyAttribute`` (or None for no sort key) is accepted where a tuple is expected.
    """

    name: str
    partition_keys: tuple[KeyAttribute, ...]
    sort_keys: tuple[KeyAttribute, ...]
    projection: str  # ALL, KEYS_ONLY or INCLUDE
    non_key_attributes: tuple[str, ...] = ()
    location: Location | None = None

    def __post_init__(self) -> None:
        for name in ("partition_keys", "sort_keys"):
            value = getattr(self, name)
            if value is None:
                object.__setattr__(self, name, ())
            elif isinstance(value, KeyAttribute):
                object.__setattr__(self, name, (value,))
            else:
                object.__setattr__(self, name, tuple(value))

    @property
    def partition_key(self) -> KeyAttribute:
        """The first partition attribute (the only one unless ``multi_attribute``)."""
        return self.partition_keys[0]

    @property
    def sort_key(self) -> KeyAttribute | None:
        """The first sort attribute (the only one unless ``multi_attribute``), or None."""
        return self.sort_keys[0] if self.sort_keys else None

    @property
    def multi_attribute(self) -> bool:
        return len(self.partition_keys) > 1 or len(self.sort_keys) > 1

    @property
    def key_attributes(self) -> tuple[KeyAttribute, ...]:
        return self.partition_keys + self.sort_keys


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
    def partition_keys(self) -> tuple[KeyAttribute, ...]:
        return (self.partition_key,)

    @property
    def sort_keys(self) -> tuple[KeyAttribute, ...]:
        return (self.sort_key,) if self.sort_key else ()

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
    """A pattern's request. A query names its key either in the single-attribute form (``partition``
    a template, ``sort`` one condition) or per attribute (``partition_terms``: attribute -> template,
    for every partition attribute; ``sort_terms``: conditions on the sort attributes from the left,
    all ``eq`` but the last), which a multi-attribute index needs.
    """

    table: str
    index: str | None
    get: tuple[tuple[str, str], ...] | None
    partition: str | None
    sort: SortCondition | None
    forward: bool
    expand: str | None
    partition_terms: tuple[tuple[str, str], ...] | None = None
    sort_terms: tuple[tuple[str, SortCondition], ...] = ()

    def key_terms(
        self, partition_names: tuple[str, ...], sort_names: tuple[str, ...]
    ) -> tuple[tuple[tuple[str, str], ...], tuple[tuple[str, SortCondition], ...]]:
        """The query's key condition per attribute: (attribute, template) pairs and (attribute, condition)
        pairs, whichever form the mapping used (the key source's attribute names complete the short form)."""
        if self.partition_terms is not None:
            partition = tuple((name or partition_names[0], t) for name, t in self.partition_terms)
            return partition, self.sort_terms
        partition = ((partition_names[0], self.partition or ""),)
        sort = ((sort_names[0], self.sort),) if self.sort and sort_names else ()
        return partition, sort


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
