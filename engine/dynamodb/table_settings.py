"""Table settings beyond keys and global indexes, from the mapping to DynamoDB and back.

Local secondary indexes, TTL, streams, point-in-time recovery, deletion
protection, table class, tags and encryption. For each one this module
builds the CreateTable part, reads what the endpoint reports, names the
differences (``drift``, what ``validate`` reports and ``plan`` shows), and
applies in place those that DynamoDB can change on an existing table (TTL,
stream, PITR, deletion protection, tags). A local index can only be created
with its table, so a missing one is an error, never a silent gap.

Settings the mapping does not declare are left alone and not checked. An
endpoint that does not offer an operation (DynamoDB Local refuses PITR and
tagging with UnknownOperationException; it and moto do not report the table
class; DynamoDB Local does not report encryption) gets one log line per
setting, and the setting is skipped. Only AWS itself is trusted to leave out
the table class and encryption when they are the defaults.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import botocore.exceptions
from loguru import logger

from sqlite2ddb.dynamodb.failures import describe_error
from sqlite2ddb.dynamodb.retry import error_code, with_retries
from sqlite2ddb.errors import TargetError
from sqlite2ddb.plan.compile import TablePlan
from sqlite2ddb.spec.model import IndexSpec, TableSettings, TableSpec

UNSUPPORTED_CODES = frozenset({"UnknownOperationException"})
_SSE_TYPES = {"aws_owned": None, "aws_managed": "KMS", "kms": "KMS"}


# --------------------------------------------------------------------------- CreateTable
def create_extras(table: TablePlan) -> dict[str, Any]:
    """The parts of CreateTable for local indexes, stream, class, protection, tags and SSE."""
    spec, settings = table.spec, table.spec.settings
    extras: dict[str, Any] = {}
    if spec.local_indexes:
        extras["LocalSecondaryIndexes"] = [_index_request(i) for i in spec.local_indexes]
    if settings.stream:
        extras["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": settings.stream}
    if settings.table_class:
        extras["TableClass"] = settings.table_class
    if settings.deletion_protection is not None:
        extras["DeletionProtectionEnabled"] = settings.deletion_protection
    if _max_throughput(settings):
        extras["OnDemandThroughput"] = _max_throughput(settings)
    if settings.tags:
        extras["Tags"] = [{"Key": k, "Value": v} for k, v in settings.tags]
    if settings.sse and settings.sse != "aws_owned":
        sse: dict[str, Any] = {"Enabled": True, "SSEType": "KMS"}
        if settings.sse_kms_key:
            sse["KMSMasterKeyId"] = settings.sse_kms_key
        extras["SSESpecification"] = sse
    return extras


def _max_throughput(settings: TableSettings) -> dict[str, int]:
    """The OnDemandThroughput of the mapping's ``max_throughput`` ({} when it declares none)."""
    out = {}
    if settings.max_write is not None:
        out["MaxWriteRequestUnits"] = settings.max_write
    if settings.max_read is not None:
        out["MaxReadRequestUnits"] = settings.max_read
    return out


def _index_request(index: IndexSpec) -> dict[str, Any]:
    projection: dict[str, Any] = {"ProjectionType": index.projection}
    if index.projection == "INCLUDE":
        projection["NonKeyAttributes"] = list(index.non_key_attributes)
    schema = [{"AttributeName": k.name, "KeyType": "HASH"} for k in index.partition_keys]
    schema += [{"AttributeName": k.name, "KeyType": "RANGE"} for k in index.sort_keys]
    return {"IndexName": index.name, "KeySchema": schema, "Projection": projection}


def declares_any(table: TablePlan) -> bool:
    """True when the mapping declares a local index or a setting for this table."""
    return bool(table.spec.local_indexes) or table.spec.settings != TableSettings()


def local_index_documents(spec: TableSpec) -> list[dict[str, Any]]:
    """The local indexes as plain data (for ``plan``)."""
    return [
        {"name": i.name, "key": [f"{k.name}:{k.type}" for k in i.key_attributes], "projection": i.projection}
        for i in spec.local_indexes
    ]


def declared(settings: TableSettings) -> dict[str, Any]:
    """The declared settings as plain data (for ``plan``)."""
    out: dict[str, Any] = {
        "ttl": settings.ttl_attribute,
        "stream": settings.stream,
        "point_in_time_recovery": settings.point_in_time_recovery,
        "deletion_protection": settings.deletion_protection,
        "table_class": settings.table_class,
        "max_throughput": {k: v for k, v in (("write", settings.max_write), ("read", settings.max_read)) if v} or None,
        "tags": dict(settings.tags) if settings.tags is not None else None,
        "sse": settings.sse_kms_key or settings.sse,
    }
    return {k: v for k, v in out.items() if v is not None}


# --------------------------------------------------------------------------- reading back
@dataclass(frozen=True)
class Difference:
    """One setting that is not as declared; ``fix`` changes it in place, or None when it cannot."""

    setting: str
    text: str
    fix: Callable[[Any, str], None] | None


def differences(target: Any, table: TablePlan, described: dict[str, Any]) -> list[Difference]:
    """Every declared setting that the table does not have (reading TTL, PITR and tags as needed)."""
    settings, name = table.spec.settings, table.name
    found = _local_index_differences(table, described)
    if settings.ttl_attribute:
        found += _ttl_difference(target, name, settings.ttl_attribute)
    if settings.stream:
        found += _stream_difference(name, settings.stream, described)
    if settings.point_in_time_recovery is not None:
        found += _pitr_difference(target, name, settings.point_in_time_recovery)
    if settings.deletion_protection is not None:
        found += _protection_difference(name, settings.deletion_protection, described)
    if settings.tags:
        found += _tag_differences(target, name, dict(settings.tags), described)
    if settings.table_class:
        found += _class_difference(target, name, settings.table_class, described)
    if settings.sse:
        found += _sse_difference(target, name, settings, described)
    if _max_throughput(settings):
        found += _max_throughput_difference(target, name, _max_throughput(settings), described)
    return found


def drift(target: Any, table: TablePlan, described: dict[str, Any]) -> list[str]:
    """What ``validate``'s shape check reports for the settings of one table."""
    return [d.text for d in differences(target, table, described)]


def _on(flag: bool) -> str:
    return "on" if flag else "off"


def _local_index_differences(table: TablePlan, described: dict[str, Any]) -> list[Difference]:
    name = table.name
    have = {i["IndexName"]: i for i in described.get("LocalSecondaryIndexes", [])}
    found = []
    for index in table.spec.local_indexes:
        wanted = _index_request(index)
        actual = have.pop(index.name, None)
        if actual is None:
            found.append(
                Difference(
                    "local_indexes",
                    f"{name}: local index {index.name} is missing; a local index can only be created with its table",
                    None,
                )
            )
            continue
        if actual.get("KeySchema") != wanted["KeySchema"]:
            found.append(
                Difference(
                    "local_indexes",
                    f"{name}: local index {index.name} key schema is {actual.get('KeySchema')}, "
                    f"mapping declares {wanted['KeySchema']}",
                    None,
                )
            )
        projection = actual.get("Projection", {})
        if projection.get("ProjectionType") != index.projection or sorted(
            projection.get("NonKeyAttributes", [])
        ) != sorted(index.non_key_attributes):
            found.append(
                Difference(
                    "local_indexes",
                    f"{name}: local index {index.name} projection is {projection}, "
                    f"mapping declares {wanted['Projection']}",
                    None,
                )
            )
    for extra in have:
        found.append(Difference("local_indexes", f"{name}: local index {extra} exists but is not in the mapping", None))
    return found


def _ttl_difference(target: Any, name: str, attribute: str) -> list[Difference]:
    answer = _optional(target, "describe_time_to_live", "time to live", TableName=name)
    if answer is None:
        return []
    description = answer.get("TimeToLiveDescription", {})
    status, actual = description.get("TimeToLiveStatus", "DISABLED"), description.get("AttributeName")
    if status in ("ENABLED", "ENABLING") and actual == attribute:
        return []
    now = f"on {actual}" if status in ("ENABLED", "ENABLING") else status.lower()

    def fix(client_target: Any, table_name: str) -> None:
        if status in ("ENABLED", "ENABLING"):
            _call(client_target, "update_time_to_live", table_name, {"Enabled": False, "AttributeName": actual})
        _call(client_target, "update_time_to_live", table_name, {"Enabled": True, "AttributeName": attribute})

    return [Difference("ttl", f"{name}: time to live is {now}, mapping declares it on {attribute}", fix)]


def _stream_difference(name: str, view: str, described: dict[str, Any]) -> list[Difference]:
    stream = described.get("StreamSpecification") or {}
    actual = stream.get("StreamViewType") if stream.get("StreamEnabled") else None
    if actual == view:
        return []

    def fix(client_target: Any, table_name: str) -> None:
        if actual is not None:  # a view type cannot be changed: the stream is turned off and on again
            _update_table(StreamSpecification={"StreamEnabled": False})(client_target, table_name)
        _update_table(StreamSpecification={"StreamEnabled": True, "StreamViewType": view})(client_target, table_name)

    return [Difference("stream", f"{name}: stream is {actual or 'off'}, mapping declares {view}", fix)]


def _protection_difference(name: str, wanted: bool, described: dict[str, Any]) -> list[Difference]:
    actual = bool(described.get("DeletionProtectionEnabled", False))
    if actual == wanted:
        return []
    text = f"{name}: deletion protection is {_on(actual)}, mapping declares {_on(wanted)}"
    return [Difference("deletion_protection", text, _update_table(DeletionProtectionEnabled=wanted))]


def _pitr_difference(target: Any, name: str, wanted: bool) -> list[Difference]:
    answer = _optional(target, "describe_continuous_backups", "point-in-time recovery", TableName=name)
    if answer is None:
        return []
    description = answer.get("ContinuousBackupsDescription", {}).get("PointInTimeRecoveryDescription", {})
    actual = description.get("PointInTimeRecoveryStatus") == "ENABLED"
    if actual == wanted:
        return []

    def fix(client_target: Any, table_name: str) -> None:
        spec = {"PointInTimeRecoveryEnabled": wanted}
        _call(client_target, "update_continuous_backups", table_name, spec)

    text = f"{name}: point-in-time recovery is {_on(actual)}, mapping declares {_on(wanted)}"
    return [Difference("point_in_time_recovery", text, fix)]


def _tag_differences(target: Any, name: str, wanted: dict[str, str], described: dict[str, Any]) -> list[Difference]:
    arn = described.get("TableArn")
    answer = _optional(target, "list_tags_of_resource", "tagging", ResourceArn=arn) if arn else None
    if answer is None:
        return []
    actual = {t["Key"]: t["Value"] for t in answer.get("Tags", [])}
    wrong = {k: v for k, v in wanted.items() if actual.get(k) != v}
    if not wrong:
        return []

    def fix(client_target: Any, table_name: str) -> None:
        tags = [{"Key": k, "Value": v} for k, v in wrong.items()]
        _call(client_target, "tag_resource", table_name, tags, arn=arn)

    shown = ", ".join(f"{k}={actual[k]!r}" if k in actual else f"{k} missing" for k in wrong)
    want = ", ".join(f"{k}={v!r}" for k, v in wrong.items())
    return [Difference("tags", f"{name}: tags {shown}, mapping declares {want}", fix)]


def _class_difference(target: Any, name: str, wanted: str, described: dict[str, Any]) -> list[Difference]:
    summary = described.get("TableClassSummary")
    if summary is None:
        if wanted != "STANDARD" and target.kind != "aws":
            _skip(target, "table class", "does not report the table class")
            return []
        actual = "STANDARD"  # AWS leaves the summary out for the default class
    else:
        actual = summary.get("TableClass", "STANDARD")
    if actual == wanted:
        return []
    return [
        Difference("table_class", f"{name}: table class is {actual}, mapping declares {wanted} (not changed)", None)
    ]


def _sse_difference(target: Any, name: str, settings: TableSettings, described: dict[str, Any]) -> list[Difference]:
    sse = described.get("SSEDescription")
    if sse is None and settings.sse != "aws_owned" and target.kind != "aws":
        _skip(target, "encryption", "does not report encryption settings")
        return []
    enabled = bool(sse and sse.get("Status") in ("ENABLED", "ENABLING", "UPDATING"))
    actual = "kms" if enabled else "aws_owned"
    wanted = "aws_owned" if settings.sse == "aws_owned" else "kms"
    key = (sse or {}).get("KMSMasterKeyArn", "")
    declared_key = settings.sse_kms_key or ""
    # DescribeTable names the key by ARN: a key id or ARN can be compared, an alias cannot
    wrong_key = (
        bool(declared_key) and not declared_key.startswith("alias/") and enabled and not key.endswith(declared_key)
    )
    if actual == wanted and not wrong_key:
        return []
    now = f"KMS key {key}" if enabled else "the AWS owned key"
    text = f"{name}: encryption uses {now}, mapping declares {settings.sse_kms_key or settings.sse} (not changed)"
    return [Difference("sse", text, None)]


def _max_throughput_difference(
    target: Any, name: str, wanted: dict[str, int], described: dict[str, Any]
) -> list[Difference]:
    actual = described.get("OnDemandThroughput") or {}
    changed = {k: v for k, v in wanted.items() if actual.get(k) != v}
    if not changed:
        return []
    now = ", ".join(f"{k} {actual.get(k, 'unset')}" for k in changed)
    text = f"{name}: on-demand maximum throughput is {now}, mapping declares " + ", ".join(
        f"{k} {v}" for k, v in changed.items()
    )

    def fix(client_target: Any, table_name: str) -> None:
        if client_target.kind == "aws":
            _update_table(OnDemandThroughput=wanted)(client_target, table_name)
            return
        try:  # DynamoDB Local 3.3.0 fails this UpdateTable with InternalFailure: one try, not eight
            client_target.client.update_table(TableName=table_name, OnDemandThroughput=wanted)
        except botocore.exceptions.ClientError as exc:
            _skip(client_target, "max_throughput", f"does not change the on-demand maximum throughput ({exc})")
            return
        _wait_active(client_target, table_name)

    return [Difference("max_throughput", text, fix)]


# --------------------------------------------------------------------------- applying in place
def apply(target: Any, table: TablePlan, described: dict[str, Any]) -> list[str]:
    """Change what can be changed in place; TargetError when a local index is missing. Returns what changed."""
    found = differences(target, table, described)
    fixed_later = [d for d in found if d.fix is None and d.setting == "local_indexes"]
    if fixed_later:
        raise TargetError(
            fixed_later[0].text,
            "drop the table ('reset --drop-tables', or delete_existing_tables and 'migrate --force'), then migrate",
        )
    done = []
    for difference in found:
        if difference.fix is None:
            logger.warning("{}", difference.text)
            continue
        logger.info("applying in place: {}", difference.text)
        difference.fix(target, table.name)
        done.append(difference.text)
    return done


def _update_table(**changes: Any) -> Callable[[Any, str], None]:
    def update(target: Any, name: str) -> None:
        _with_retries(target, f"updating table {name}", lambda: target.client.update_table(TableName=name, **changes))
        _wait_active(target, name)

    return update


def _call(target: Any, method: str, name: str, spec: Any, arn: str | None = None) -> None:
    """One in-place change other than UpdateTable, retried like every call."""
    arguments: dict[str, Any] = {
        "update_time_to_live": {"TableName": name, "TimeToLiveSpecification": spec},
        "update_continuous_backups": {"TableName": name, "PointInTimeRecoverySpecification": spec},
        "tag_resource": {"ResourceArn": arn, "Tags": spec},
    }[method]
    _with_retries(target, f"{method.replace('_', ' ')} on {name}", lambda: getattr(target.client, method)(**arguments))


def _wait_active(target: Any, name: str, limit: float = 600.0) -> None:
    deadline, pause = time.monotonic() + limit, 0.05
    while True:
        table = _with_retries(target, f"describing table {name}", lambda: target.client.describe_table(TableName=name))
        if table["Table"].get("TableStatus") == "ACTIVE":
            return
        if time.monotonic() > deadline:
            raise TargetError(f"table {name} is still {table['Table'].get('TableStatus')} after {limit:.0f} s")
        time.sleep(pause)
        pause = min(2.0, pause * 2)


# --------------------------------------------------------------------------- calls
def _optional(target: Any, method: str, what: str, **kwargs: Any) -> dict[str, Any] | None:
    """A read the endpoint may not offer: None (and one log line) when it does not."""
    try:
        return with_retries(
            lambda: getattr(target.client, method)(**kwargs), target.retry, f"reading {what}", target.throttles
        )
    except botocore.exceptions.ClientError as exc:
        if error_code(exc) in UNSUPPORTED_CODES:
            _skip(target, what, f"does not support {what} ({error_code(exc)})")
            return None
        raise _described(exc, f"reading {what}", target) from None
    except Exception as exc:  # noqa: BLE001 - every failure becomes one line
        raise _described(exc, f"reading {what}", target) from None


def _with_retries(target: Any, action: str, call: Callable[[], Any]) -> Any:
    try:
        return with_retries(call, target.retry, action, target.throttles)
    except Exception as exc:  # noqa: BLE001 - every failure becomes one line
        raise _described(exc, action, target) from None


def _described(exc: Exception, action: str, target: Any) -> TargetError:
    return describe_error(exc, action, target)


def _skip(target: Any, what: str, reason: str) -> None:
    """One line per endpoint and setting: it is skipped, not an error."""
    skipped = target.__dict__.setdefault("skipped_settings", set())
    if what in skipped:
        return
    skipped.add(what)
    logger.warning("{} {}: {} is not applied or checked there", target.endpoint, reason, what)
