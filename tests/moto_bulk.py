"""moto's server for the bulk path, with ImportTable reading DYNAMODB_JSON as JSON.

moto 5.2.1's ImportTable parses the S3 objects with py_partiql_parser's
``JsonParser``, a PartiQL tokenizer that ends a string at an apostrophe and
knows no escapes: ``Guns N' Roses`` arrives as ``Guns N``, and a line with
``\\"`` or a list of maps comes apart. AWS reads the format as JSON Lines. So
this server process replaces that one step, reading each line with
``json.loads`` and counting a line that does not parse, or an item DynamoDB
refuses, in ``ErrorCount`` (as AWS does); the table creation, the S3 listing,
the puts and DescribeImport are moto's own. Everything else is the plain moto
server, a real process on a free port reached over HTTP.

Run: ``python tests/moto_bulk.py -H 127.0.0.1 -p PORT``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT_S = 30.0


def _process_s3_files(self: Any, s3_backend: Any, bucket: Any) -> None:
    from moto.core.utils import gzip_decompress
    from moto.dynamodb.models import dynamodb_backends

    dynamo = dynamodb_backends[self.account_id][self.region_name]
    self.table = dynamo.create_table(
        name=self.table_name,
        billing_mode=self.billing_mode,
        throughput=self.throughput,
        schema=self.key_schema,
        global_indexes=self.global_indexes,
        indexes=None,
        attr=self.attrs,
        sse_specification=None,
        streams=None,
        tags=[],
        deletion_protection_enabled=False,
        warm_throughput=None,
    )
    keys, _, _, _ = s3_backend.list_objects(
        bucket, prefix=self.s3_source.get("S3KeyPrefix"), delimiter=None, marker=None, max_keys=None
    )
    for key in keys:
        content = gzip_decompress(key.value) if self.compression_type == "GZIP" else key.value
        for line in content.decode("utf-8").splitlines():
            if not line.strip():
                continue
            self.processed_count += 1
            self.processed_bytes += len(line.encode("utf-8"))
            try:
                self.table.put_item(item_attrs=json.loads(line)["Item"])
                self.imported_count += 1
            except Exception as exc:  # noqa: BLE001 - each bad line is one error, as on AWS
                self.failure_message = str(exc)
                self.error_count += 1
    self.status = "COMPLETED" if self.error_count == 0 else "FAILED"


def start() -> Any:
    """This module as a server process on a free port (a tests/motoserver.MotoServer)."""
    import motoserver

    return motoserver.start([str(Path(__file__))], cwd=ROOT)


if __name__ == "__main__":
    from moto.dynamodb.models.table_import import TableImport
    from moto.server import main

    TableImport._process_s3_files = _process_s3_files  # type: ignore[method-assign]
    main(sys.argv[1:])
