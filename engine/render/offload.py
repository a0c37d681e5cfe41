"""Large attribute values kept in S3: the pointer an item stores, and the bytes to upload beside it.

Pure: rendering an item computes the pointer map ``{bucket, key, size,
sha256, type}`` and hands back the object to write (an ``Upload``); the
writer uploads it before the item's batch is written. An attribute with an
``offload`` rule goes to S3 when its value is over ``over_kb``, and any of
them (the largest first) when the item would be over DynamoDB's 400 KB
otherwise. Only text (S) and bytes (B) are offloaded; the object holds the
UTF-8 text or the bytes themselves.

Object keys: ``<prefix>/<table>/<item key>/<attribute>/<sha256>``. The
content hash makes writing the same value again idempotent and a changed
value a new object (``sync`` deletes the old one once no item points at it).
"""

from __future__ import annotations

import hashlib
import urllib.parse
from typing import Any

from sqlite2ddb.dynamodb.objects import Upload
from sqlite2ddb.plan.compile import ItemTypePlan
from sqlite2ddb.wire import MAX_ITEM_BYTES, Wire, item_size

#: The fields of a pointer map, in the order documented.
POINTER_FIELDS = ("bucket", "key", "size", "sha256", "type")
#: S3's limit on an object key; a longer item key is replaced by its hash.
MAX_OBJECT_KEY = 1024

__all__ = ["POINTER_FIELDS", "Upload", "offload_values", "pointer_of", "value_bytes"]


def value_bytes(wire: Wire) -> bytes | None:
    """The bytes an S3 object holds for this value: UTF-8 text, or the bytes; None for any other type."""
    if "S" in wire:
        return str(wire["S"]).encode("utf-8")
    if "B" in wire:
        return bytes(wire["B"])
    return None


def pointer_of(wire: Wire | None) -> dict[str, Any] | None:
    """The pointer map an item stores, as plain values; None when the attribute is not a pointer."""
    fields = (wire or {}).get("M")
    if not isinstance(fields, dict) or set(fields) != set(POINTER_FIELDS):
        return None
    try:
        return {
            "bucket": fields["bucket"]["S"],
            "key": fields["key"]["S"],
            "size": int(fields["size"]["N"]),
            "sha256": fields["sha256"]["S"],
            "type": fields["type"]["S"],
        }
    except (KeyError, TypeError, ValueError):
        return None


def offload_values(plan: ItemTypePlan, item: dict[str, Wire]) -> tuple[Upload, ...]:
    """Replace the item's offloaded values by pointers (in place); the objects to upload first."""
    where = plan.offload
    if where is None:
        return ()
    candidates = {a.name: a.spec.offload for a in plan.offloaded if a.name in item and value_bytes(item[a.name])}
    uploads: list[Upload] = []
    for name, rule in candidates.items():
        limit = rule.over_bytes if rule is not None else None
        if limit is not None and len(value_bytes(item[name]) or b"") > limit:
            uploads.append(_move(plan, item, name))
    left = sorted((n for n in candidates if "M" not in item[n]), key=lambda n: -len(value_bytes(item[n]) or b""))
    for name in left:
        if item_size(item) <= MAX_ITEM_BYTES:
            break
        uploads.append(_move(plan, item, name))
    return tuple(uploads)


def _move(plan: ItemTypePlan, item: dict[str, Wire], name: str) -> Upload:
    """The attribute's value becomes a pointer; the object that holds it, to upload."""
    assert plan.offload is not None
    wire = item[name]
    kind = "S" if "S" in wire else "B"
    data = value_bytes(wire) or b""
    digest = hashlib.sha256(data).hexdigest()
    key = object_key(plan, item, name, digest)
    item[name] = {
        "M": {
            "bucket": {"S": plan.offload.bucket},
            "key": {"S": key},
            "size": {"N": str(len(data))},
            "sha256": {"S": digest},
            "type": {"S": kind},
        }
    }
    return Upload(plan.offload.bucket, key, data)


def object_key(plan: ItemTypePlan, item: dict[str, Wire], attribute: str, digest: str) -> str:
    """``<prefix>/<table>/<item key>/<attribute>/<sha256>``, the item key's values URL-quoted."""
    assert plan.offload is not None
    values = [str(next(iter(item[n].values()))) for n in plan.table.spec.primary_key_names]
    item_key = "/".join(urllib.parse.quote(v, safe="") or "_" for v in values)
    parts = [plan.table.name, item_key, urllib.parse.quote(attribute, safe=""), digest]
    if plan.offload.prefix:
        parts.insert(0, plan.offload.prefix)
    key = "/".join(parts)
    if len(key.encode()) > MAX_OBJECT_KEY:
        parts[-3] = "h-" + hashlib.sha256(item_key.encode()).hexdigest()
        key = "/".join(parts)
    return key
