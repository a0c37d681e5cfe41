"""S3 objects that hold offloaded attribute values: upload, read back, delete.

An item whose attribute is offloaded (``offload:`` in the mapping) stores a
pointer map ``{bucket, key, size, sha256, type}``; the bytes live in S3 under
a key that ends with their SHA-256, so writing the same value twice writes
the same object (idempotent) and a changed value gets a new key. The writer
uploads a batch's objects before it writes the batch's items, so an item in
DynamoDB never points at an object that is not there.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NamedTuple

import boto3
import botocore.exceptions

from sqlite2ddb.config import Config
from sqlite2ddb.errors import TargetError

LOCAL_CREDENTIALS = {"aws_access_key_id": "local", "aws_secret_access_key": "local"}
#: Objects of one batch uploaded at the same time.
UPLOAD_THREADS = 4


class Upload(NamedTuple):
    """One object to write before the item that points at it."""

    bucket: str
    key: str
    data: bytes


def s3_client(config: Config) -> Any:
    """An S3 client in the configuration's region and profile; ``AWS_ENDPOINT_URL_S3`` names another endpoint."""
    return s3_client_for(config.aws_region, config.profile)


def s3_client_for(region: str, profile: str | None) -> Any:
    """``s3_client`` from the region and profile alone (a worker process has no configuration)."""
    session = boto3.session.Session(profile_name=profile) if profile else boto3.session.Session()
    kwargs: dict[str, Any] = {"region_name": region}
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3")
    if endpoint:
        kwargs["endpoint_url"] = endpoint
        if session.get_credentials() is None:
            kwargs.update(LOCAL_CREDENTIALS)
    return session.client("s3", **kwargs)


class ObjectStore:
    """The offloaded values' objects, through one S3 client."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def put_all(self, uploads: list[Upload]) -> None:
        """Write every object (the same key always holds the same bytes: writing again changes nothing)."""
        unique = list({(u.bucket, u.key): u for u in uploads}.values())
        if len(unique) == 1:
            self._put(unique[0])
        elif unique:
            with ThreadPoolExecutor(min(UPLOAD_THREADS, len(unique)), thread_name_prefix="s3-put") as pool:
                list(pool.map(self._put, unique))

    def _put(self, upload: Upload) -> None:
        try:
            self.client.put_object(Bucket=upload.bucket, Key=upload.key, Body=upload.data)
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            raise TargetError(
                f"uploading an offloaded value to s3://{upload.bucket}/{upload.key}: {_message(exc)}",
                "check the configuration's offload bucket and the S3 permissions, then run the command again",
            ) from None

    def get(self, bucket: str, key: str) -> bytes | None:
        """The object's bytes, or None when there is no such object."""
        try:
            return bytes(self.client.get_object(Bucket=bucket, Key=key)["Body"].read())
        except botocore.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NotFound"):
                return None
            raise TargetError(f"reading s3://{bucket}/{key}: {_message(exc)}") from None
        except botocore.exceptions.BotoCoreError as exc:
            raise TargetError(f"reading s3://{bucket}/{key}: {exc}") from None

    def delete(self, bucket: str, key: str) -> None:
        try:
            self.client.delete_object(Bucket=bucket, Key=key)
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            raise TargetError(f"deleting s3://{bucket}/{key}: {_message(exc)}") from None


def _message(exc: Exception) -> str:
    if isinstance(exc, botocore.exceptions.ClientError):
        error = exc.response.get("Error", {})
        return f"{error.get('Code', '')}: {error.get('Message', '')}"
    return str(exc)
