"""DynamoDB's limits on key values, checked on every rendered item.

A partition key value holds at most 2,048 bytes and a sort key value at most
1,024 bytes, for the table's key and for every index key alike. DynamoDB
refuses a longer one with "Size limit exceeded", naming neither the attribute
nor the limit; this says both, for the row, before anything is written.

Key values are never offloaded to S3 (``offload`` applies to an item type's
own non-key attributes): these limits hold whatever an item keeps in S3. The
400 KB item limit, net of offloaded values, is checked by the render stream
(``sqlite2ddb.render.stream``) for every row and bounded by ``plan`` with SQL
(``sqlite2ddb.plan.bounds``).
"""

from __future__ import annotations

from sqlite2ddb.plan.compile import ItemTypePlan
from sqlite2ddb.spec.model import TableSpec
from sqlite2ddb.wire import Wire

PARTITION_KEY_BYTES = 2048
SORT_KEY_BYTES = 1024

# per table spec: (attribute, limit, what it is), the tightest role when one attribute has two
_LIMITS: dict[int, tuple[TableSpec, tuple[tuple[str, int, str], ...]]] = {}


class KeyTooLarge(ValueError):
    """A key attribute's value is over DynamoDB's limit for its role."""


def key_limits(table: TableSpec) -> tuple[tuple[str, int, str], ...]:
    """Every key attribute of the table and its indexes, with its byte limit and role."""
    cached = _LIMITS.get(id(table))
    if cached is not None and cached[0] is table:
        return cached[1]
    roles: dict[str, tuple[int, str]] = {}

    def note(name: str, limit: int, role: str) -> None:
        if name not in roles or limit < roles[name][0]:
            roles[name] = (limit, role)

    for index_name, source in [("the table", table)] + [
        (f"index {i.name}", i) for i in table.indexes + table.local_indexes
    ]:
        for partition in source.partition_keys:  # each attribute of a multi-attribute key has the limit
            note(partition.name, PARTITION_KEY_BYTES, f"partition key of {index_name}")
        for sort in source.sort_keys:
            note(sort.name, SORT_KEY_BYTES, f"sort key of {index_name}")
    limits = tuple((name, limit, role) for name, (limit, role) in roles.items())
    _LIMITS[id(table)] = (table, limits)
    return limits


def check_key_sizes(plan: ItemTypePlan, item: dict[str, Wire]) -> None:
    """KeyTooLarge naming the attribute, its size and the limit, when a key value the item carries is too long."""
    for name, limit, role in key_limits(plan.table.spec):
        wire = item.get(name)
        if wire is None:
            continue
        value = next(iter(wire.values()))
        if isinstance(value, str):
            if len(value) * 4 <= limit:  # UTF-8 takes at most 4 bytes a character
                continue
            size = len(value.encode("utf-8"))
        elif isinstance(value, (bytes, bytearray)):
            size = len(value)
        else:
            continue  # a number key: DynamoDB's 38 digits come first
        if size > limit:
            raise KeyTooLarge(
                f"key attribute {name} ({role}) is {size:,} bytes, over DynamoDB's {limit:,}-byte limit "
                f"for a {'partition' if limit == PARTITION_KEY_BYTES else 'sort'} key value"
            )
