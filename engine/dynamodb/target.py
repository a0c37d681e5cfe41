"""DynamoDB endpoints: the embedded DynamoDB Local, a custom URL, or AWS.

``connect`` yields a Target with a low-level boto3 client whose retries are
switched off on purpose (one attempt per call): the loader does its own
backoff so that it can count retries and throttles and checkpoint between
them. Errors become TargetError with one line naming what to fix.
"""

from __future__ import annotations

import os
import threading
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

import boto3
import botocore.config
import botocore.exceptions
from loguru import logger

from sqlite2ddb.config import Config
from sqlite2ddb.dynamodb import local as local_dynamodb
from sqlite2ddb.dynamodb import read_answers, table_settings, write_requests
from sqlite2ddb.dynamodb.failures import describe_error
from sqlite2ddb.dynamodb.objects import ObjectStore, s3_client
from sqlite2ddb.dynamodb.retry import RetryPolicy, ThrottleLog, with_retries
from sqlite2ddb.errors import TargetError
from sqlite2ddb.faults import crash_point
from sqlite2ddb.plan.compile import Plan, TablePlan
from sqlite2ddb.spec.model import IndexSpec, TableSpec

LOCAL_CREDENTIALS = {"aws_access_key_id": "local", "aws_secret_access_key": "local"}
TABLE_WAIT_S = 600.0
_OBJECTS_LOCK = threading.Lock()


@dataclass
class Target:
    client: Any
    endpoint: str  # for people: a URL, or "AWS <region>"
    kind: str
    region: str
    make_client: Any = field(repr=False)  # () -> new client with the same settings
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    throttles: ThrottleLog = field(default_factory=ThrottleLog, repr=False)
    identity: str = ""  # what stays the same across runs: the data folder, the URL, or the AWS region
    make_objects: Any = field(default=None, repr=False)  # () -> ObjectStore for offloaded values
    write_capacity: bool = True  # whether writes ask for the capacity they consumed (``consumed_capacity``)
    _objects: ObjectStore | None = field(default=None, repr=False)

    @property
    def objects(self) -> ObjectStore:
        """The S3 store of offloaded attribute values (its client is made on first use)."""
        with _OBJECTS_LOCK:  # lanes of an item type make their writers in threads
            if self._objects is None:
                if self.make_objects is None:
                    raise TargetError("this target has no S3 store for offloaded values")
                self._objects = self.make_objects()
            return self._objects

    def call(self, method: str, action: str, **kwargs: Any) -> Any:
        """A client call retried through throttles, 5xx and dropped connections.

        Any other error, or one that outlasts the retries, becomes a TargetError
        whose message starts with ``action``.
        """
        client = self.client
        try:
            return with_retries(lambda: getattr(client, method)(**kwargs), self.retry, action, self.throttles)
        except Exception as exc:  # noqa: BLE001 - every failure becomes one line
            raise describe_error(exc, action, self) from None


def _client_config(config: Config, workers: int) -> botocore.config.Config:
    timeout = config.migration_settings.timeout
    return botocore.config.Config(
        retries={"mode": "standard", "total_max_attempts": 1},
        connect_timeout=timeout,
        read_timeout=timeout,
        max_pool_connections=max(10, workers + 4),
        tcp_keepalive=True,
        # items are built in wire format by our own serialiser; botocore re-checking
        # every attribute of every item costs more CPU than building them
        parameter_validation=False,
    )


def asks_write_capacity(setting: str, kind: str, url: str | None = None) -> bool:
    """Whether writes ask for their consumed capacity: see ``MigrationSettings.consumed_capacity``.

    With ``aws``: AWS itself, also through an endpoint URL of its own (a FIPS or VPC endpoint).
    """
    if setting != "aws":
        return setting == "always"
    host = urllib.parse.urlsplit(url or "").hostname or ""
    return kind == "aws" or host.endswith((".amazonaws.com", ".amazonaws.com.cn"))


def endpoint_for(config: Config) -> str | None:
    """The explicit endpoint: config, then AWS_ENDPOINT_URL_DYNAMODB."""
    return config.endpoint_url or os.environ.get("AWS_ENDPOINT_URL_DYNAMODB") or None


@contextmanager
def connect(config: Config, need_server: bool = True) -> Iterator[Target]:
    """A Target for the configured endpoint; starts and stops DynamoDB Local if needed."""
    workers = config.migration_settings.workers
    client_config = _client_config(config, workers)
    server: local_dynamodb.LocalServer | None = None
    url: str | None
    try:
        if config.target == "local" and not endpoint_for(config):
            state_dir = config.state_dir
            server = local_dynamodb.running(state_dir)
            if server is None and need_server:
                server = local_dynamodb.start_recorded(state_dir)
                logger.debug("started DynamoDB Local on port {}", server.port)
            url = server.url if server else "http://127.0.0.1:0"
            kwargs: dict[str, Any] = {"endpoint_url": url, "region_name": config.aws_region, **LOCAL_CREDENTIALS}
            session = boto3.session.Session()
            kind, label = "local", f"DynamoDB Local {url}"
            identity = f"the embedded DynamoDB Local with its data in {local_dynamodb.data_dir(state_dir).absolute()}"
        else:
            url = endpoint_for(config)
            session = boto3.session.Session(profile_name=config.profile) if config.profile else boto3.session.Session()
            kwargs = {"region_name": config.aws_region}
            if url:
                kwargs["endpoint_url"] = url
                if session.get_credentials() is None:
                    kwargs.update(LOCAL_CREDENTIALS)
                kind, label = "endpoint", url
                identity = normalize_url(url)
            else:
                kind, label = "aws", f"AWS DynamoDB ({config.aws_region})"
                identity = f"AWS DynamoDB in {config.aws_region}"
    except botocore.exceptions.ProfileNotFound as exc:
        raise TargetError(
            f"AWS profile not found: {exc.kwargs.get('profile')}", "check --profile or AWS_PROFILE"
        ) from None

    def make_client() -> Any:
        return write_requests.install(read_answers.install(session.client("dynamodb", config=client_config, **kwargs)))

    try:
        settings = config.migration_settings
        retry = RetryPolicy(settings.max_retries, settings.retry_delay)
        yield Target(
            make_client(),
            label,
            kind,
            config.aws_region,
            make_client,
            retry,
            identity=identity,
            make_objects=lambda: ObjectStore(s3_client(config)),
            write_capacity=asks_write_capacity(settings.consumed_capacity, kind, url),
        )
    finally:
        if server is not None and server.owned:
            server.stop()
            local_dynamodb.record_path(config.state_dir).unlink(missing_ok=True)


def normalize_url(url: str) -> str:
    """``HTTP://LocalHost:8000/`` -> ``http://localhost:8000``: one spelling per endpoint."""
    parts = urllib.parse.urlsplit(url.strip())
    return urllib.parse.urlunsplit((parts.scheme.lower(), parts.netloc.lower(), parts.path.rstrip("/"), "", ""))


def check_reachable(target: Target) -> None:
    """One call to see that the endpoint answers.

    Two retries, not ``max_retries``: a wrong URL or a stopped server should
    be said at once, not after the full backoff meant for a busy table.
    """
    quick = replace(target, retry=RetryPolicy(min(2, target.retry.max_retries), target.retry.delay))
    quick.call("list_tables", "connecting", Limit=1)


def describe_table(target: Target, name: str) -> dict[str, Any] | None:
    """The table's description, or None when it does not exist."""
    action = f"describing table {name}"
    try:
        return with_retries(
            lambda: target.client.describe_table(TableName=name)["Table"], target.retry, action, target.throttles
        )
    except botocore.exceptions.ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
            return None
        raise describe_error(exc, action, target) from None
    except Exception as exc:  # noqa: BLE001 - every failure becomes one line
        raise describe_error(exc, action, target) from None


def existing_tables(target: Target, names: list[str]) -> dict[str, dict[str, Any] | None]:
    """describe_table for each name; None where the table does not exist."""
    return {name: describe_table(target, name) for name in names}


def create_table_request(table: TablePlan) -> dict[str, Any]:
    """The CreateTable request a table plan asks for."""
    spec = table.spec
    definitions = {k.name: k.type for k in spec.key_attributes}
    for index in spec.indexes + spec.local_indexes:
        for key in index.key_attributes:
            definitions[key.name] = key.type
    request: dict[str, Any] = {
        "TableName": table.name,
        "KeySchema": key_schema(spec),
        "AttributeDefinitions": [{"AttributeName": n, "AttributeType": t} for n, t in definitions.items()],
        "BillingMode": spec.billing_mode,
    }
    throughput = {"ReadCapacityUnits": spec.read_capacity or 5, "WriteCapacityUnits": spec.write_capacity or 5}
    if spec.billing_mode == "PROVISIONED":
        request["ProvisionedThroughput"] = throughput
    if spec.indexes:
        request["GlobalSecondaryIndexes"] = []
        for index in spec.indexes:
            projection: dict[str, Any] = {"ProjectionType": index.projection}
            if index.projection == "INCLUDE":
                projection["NonKeyAttributes"] = list(index.non_key_attributes)
            gsi: dict[str, Any] = {
                "IndexName": index.name,
                "KeySchema": key_schema(index),
                "Projection": projection,
            }
            if spec.billing_mode == "PROVISIONED":
                gsi["ProvisionedThroughput"] = throughput
            request["GlobalSecondaryIndexes"].append(gsi)
    request.update(table_settings.create_extras(table))
    return request


def key_schema(source: TableSpec | IndexSpec) -> list[dict[str, str]]:
    """A KeySchema: every partition attribute (HASH), then every sort attribute (RANGE), in order.

    A multi-attribute index key lists several of each, as DescribeTable reports them.
    """
    return [{"AttributeName": k.name, "KeyType": "HASH"} for k in source.partition_keys] + [
        {"AttributeName": k.name, "KeyType": "RANGE"} for k in source.sort_keys
    ]


def ensure_tables(
    target: Target,
    plan: Plan,
    tables: list[TablePlan],
    recreate: bool = False,
    described: dict[str, dict[str, Any] | None] | None = None,
) -> list[str]:
    """Create the tables that are missing (drop them first when ``recreate``); return those created.

    ``described``: what DescribeTable said of them just before (DynamoDB Local
    counts every item of a table at each DescribeTable: a call fewer per table
    is seconds fewer on a large one).
    """
    current = dict(described) if described is not None else existing_tables(target, [t.name for t in tables])
    created = []
    for table in tables:
        if recreate and current[table.name] is not None:
            target.call("delete_table", f"deleting table {table.name}", TableName=table.name)
            _wait(target, table.name, exists=False)
            current[table.name] = None
        if current[table.name] is None:
            logger.info("creating table {}", table.name)
            target.call("create_table", f"creating table {table.name}", **create_table_request(table))
            crash_point("table_created")
            created.append(table.name)
    for table in tables:
        described = current.get(table.name)
        if table.name in created or (described is not None and described.get("TableStatus") != "ACTIVE"):
            _wait(target, table.name, exists=True)
        if table_settings.declares_any(table):
            fresh = table.name in created or current.get(table.name) is None
            table_settings.apply(
                target, table, (describe_table(target, table.name) if fresh else current[table.name]) or {}
            )
    return created


def delete_tables(target: Target, names: list[str]) -> list[str]:
    current = existing_tables(target, names)
    deleted = []
    for name, description in current.items():
        if description is not None:
            target.call("delete_table", f"deleting table {name}", TableName=name)
            deleted.append(name)
    for name in deleted:
        _wait(target, name, exists=False)
    return deleted


def _wait(target: Target, name: str, *, exists: bool) -> None:
    """Poll DescribeTable until the table is ACTIVE (or gone), each call retried on its own."""
    deadline = time.monotonic() + TABLE_WAIT_S
    pause = 0.05
    while True:
        described = describe_table(target, name)
        if (described is not None and described.get("TableStatus") == "ACTIVE") if exists else described is None:
            return
        if time.monotonic() > deadline:
            state = described.get("TableStatus") if described else "gone"
            raise TargetError(
                f"table {name} is still {state} after {TABLE_WAIT_S:.0f} s",
                "check the table in the DynamoDB console, then run the command again",
            )
        time.sleep(pause)
        pause = min(2.0, pause * 2)
