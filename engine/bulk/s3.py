"""S3 locations and clients for the bulk path: ``s3://bucket/prefix``, uploads through boto3's transfer manager."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import boto3.s3.transfer
import botocore.exceptions

from sqlite2ddb.dynamodb.objects import s3_client
from sqlite2ddb.errors import TargetError, UsageError

__all__ = ["MULTIPART_BYTES", "S3Location", "S3Sink", "s3_client"]

#: Parts above this are sent as multipart uploads, in chunks of this size.
MULTIPART_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class S3Location:
    bucket: str
    prefix: str  # without leading or trailing slash; may be empty

    @classmethod
    def parse(cls, url: str) -> S3Location:
        if not url.startswith("s3://"):
            raise UsageError(f"not an S3 location: {url!r} (expected s3://bucket/prefix)")
        bucket, _, prefix = url[len("s3://") :].partition("/")
        if not bucket:
            raise UsageError(f"no bucket in {url!r} (expected s3://bucket/prefix)")
        return cls(bucket, prefix.strip("/"))

    def key(self, relative: str) -> str:
        return f"{self.prefix}/{relative}" if self.prefix else relative

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"


class S3Sink:
    """Parts go to ``s3://bucket/prefix/<key>`` (multipart above 16 MB); the manifest beside the table folders."""

    def __init__(self, client: Any, location: S3Location) -> None:
        self.client = client
        self.location = location
        self.transfer = boto3.s3.transfer.TransferConfig(
            multipart_threshold=MULTIPART_BYTES, multipart_chunksize=MULTIPART_BYTES, max_concurrency=4
        )

    @property
    def url(self) -> str:
        return self.location.url

    def check(self) -> None:
        """The bucket answers (before anything is rendered)."""
        try:
            self.client.list_objects_v2(Bucket=self.location.bucket, Prefix=self.location.key(""), MaxKeys=1)
        except botocore.exceptions.BotoCoreError as exc:
            raise TargetError(f"cannot reach S3 for {self.url}: {exc}") from None
        except botocore.exceptions.ClientError as exc:
            raise TargetError(f"cannot list {self.url}: {_message(exc)}", "check the bucket name and IAM") from None

    def put(self, staged: Path, key: str) -> None:
        try:
            self.client.upload_file(str(staged), self.location.bucket, self.location.key(key), Config=self.transfer)
        except (botocore.exceptions.BotoCoreError, boto3.exceptions.S3UploadFailedError) as exc:
            raise TargetError(f"uploading {key} to {self.url}: {exc}", "run 'resume' to upload the rest") from None
        staged.unlink(missing_ok=True)

    def has(self, key: str, record: dict[str, Any]) -> bool:
        """The checkpoint is trusted for S3: a finished part was acknowledged by S3."""
        return True

    def keys(self, relative_prefix: str) -> list[str]:
        """Every key under ``prefix/<relative_prefix>``, relative to the location's prefix."""
        out: list[str] = []
        start = len(self.location.key(""))
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.location.bucket, Prefix=self.location.key(relative_prefix)):
            out += [o["Key"][start:] for o in page.get("Contents", [])]
        return out

    def put_manifest(self, data: bytes) -> str:
        key = self.location.key("manifest.json")
        self.client.put_object(Bucket=self.location.bucket, Key=key, Body=data, ContentType="application/json")
        return f"s3://{self.location.bucket}/{key}"


def _message(exc: botocore.exceptions.ClientError) -> str:
    error = exc.response.get("Error", {})
    return f"{error.get('Code', '')}: {error.get('Message', '')}"
