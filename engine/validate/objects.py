"""The ``objects:<table>`` check: every offloaded value's S3 object holds the bytes the source gives.

Fed by the table pass's rendering: for each rendered item with offloaded
values, the object its pointer names is read from S3 and its bytes are
compared with the source value (and with the pointer's size and SHA-256).
A missing object, or one whose bytes differ, is a failure naming the item's
key and the attribute.
"""

from __future__ import annotations

import hashlib
from typing import Any

from sqlite2ddb.canonical import key_of
from sqlite2ddb.dynamodb.objects import ObjectStore
from sqlite2ddb.render.offload import pointer_of
from sqlite2ddb.render.stream import Upload
from sqlite2ddb.validate.results import CheckResult, Failure
from sqlite2ddb.wire import Wire


class ObjectCheck:
    """One table's offloaded values, compared object by object with what the source renders."""

    def __init__(self, table: str, config_name: str, keys: list[str], objects: ObjectStore) -> None:
        # no value over its threshold is a legitimate outcome, not an empty proof: the check passes with 0
        self.result = CheckResult(f"objects:{config_name}", "objects", table)
        self.keys = keys
        self.objects = objects

    def add(self, item: dict[str, Wire], uploads: tuple[Upload, ...]) -> None:
        """Compare the objects of one rendered item."""
        by_key = {(u.bucket, u.key): u for u in uploads}
        for attribute, wire in item.items():
            pointer = pointer_of(wire)
            upload = by_key.get((pointer["bucket"], pointer["key"])) if pointer else None
            if pointer is None or upload is None:
                continue
            self.result.compared += 1
            failure = self._compare(pointer, upload, key_of(item, self.keys), attribute)
            if failure is not None:
                self.result.fail(failure)

    def _compare(self, pointer: dict[str, Any], upload: Upload, key: Any, attribute: str) -> Failure | None:
        where = f"s3://{upload.bucket}/{upload.key}"
        found = self.objects.get(upload.bucket, upload.key)
        expected = {"size": len(upload.data), "sha256": hashlib.sha256(upload.data).hexdigest()}
        if found is None:
            return Failure("object", f"attribute {attribute}: {where} is missing", key, attribute)
        actual = {"size": len(found), "sha256": hashlib.sha256(found).hexdigest()}
        if found != upload.data:
            return Failure(
                "object",
                f"attribute {attribute}: {where} does not hold the source value",
                key,
                attribute,
                expected,
                actual,
            )
        if (pointer["size"], pointer["sha256"]) != (actual["size"], actual["sha256"]):
            return Failure("object", f"attribute {attribute}: the pointer's size or sha256 is wrong", key, attribute)
        return None

    def finish(self) -> CheckResult:
        result = self.result
        if not result.compared:
            result.summary = "no rendered item keeps a value in S3: nothing to read"
            return result
        result.summary = f"{result.compared} offloaded values read from S3 and compared" + (
            "" if result.passed else f"; {result.failure_count} differences"
        )
        return result
