"""A stand-in for DynamoDB's bulk put items API, in front of DynamoDB Local, reading its input from moto's S3.

What it is: an HTTP server (JSON 1.0, ``X-Amz-Target: DynamoDB_20120810.<op>``)
that answers StartBulkPutItems, DescribeBulkOperation, ListBulkOperations and
CancelBulkOperation with the request and response shapes of botocore 1.44's
service model and the API reference (operation states IN_PROGRESS, COMPLETED,
COMPLETED_WITH_ERRORS, CANCELLING, CANCELLED, FAILED; ClientToken idempotent
with IdempotentParameterMismatchException for other parameters;
ResourceNotFoundException for a missing table or operation; ValidationException
for a MaxWriteRequestUnits under 1,024 or a bad enum value). An operation runs
in a thread: it lists the objects under the input prefix on moto's S3 server
(at most 50,000, each at most 5 GB), reads DynamoDB JSON lines (GZIP or NONE;
ZSTD when the ``zstandard`` module is installed), and writes each item with
PutItem into DynamoDB Local, with the line's own ConditionExpression,
ExpressionAttributeNames and ExpressionAttributeValues, at most
MaxWriteRequestUnits write units a second. Items it cannot write go to the
output prefix: ``<prefix>/<operation id>/manifest.json`` listing the data files
``<prefix>/<operation id>/data/<n>.json`` (JSON lines with the OutputType,
the source object and line, the error code and message, the item, and for a
condition failure the existing item). Every other operation is passed to
DynamoDB Local unchanged, so a client needs one endpoint.

What it is not: DynamoDB. No Ion input, no performance tiers (ACCELERATED is
accepted and runs at the same pace), no KMS on the report, no account quotas,
no billing; BulkOperationUsage counts item bytes, not DynamoDB's metering.
The per-line condition fields and the report's field names follow the
developer guide's BulkPutItems.Format and BulkPutItems.Output pages as far as
they could be read here; they are collected in ``report_record`` and
``put_request`` so that a correction touches one place. State lives in memory:
restarting the server forgets its operations.

Run: ``python tests/bulk_put_server.py -p PORT --dynamodb URL --s3 URL
[--start-delay S] [--item-delay S]`` (the delays stretch an operation for the
cancel and kill tests).
"""

from __future__ import annotations

import argparse
import base64
import gzip
import json
import threading
import time
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import botocore.exceptions

PREFIX = "DynamoDB_20120810."
OPS = ("StartBulkPutItems", "DescribeBulkOperation", "ListBulkOperations", "CancelBulkOperation")
MAX_OBJECTS, MAX_OBJECT_BYTES, MAX_ITEM_BYTES, MIN_WRU = 50_000, 5 * 1024**3, 400 * 1024, 1024
FINISHED = ("COMPLETED", "COMPLETED_WITH_ERRORS", "CANCELLED", "FAILED")
CREDENTIALS = {"aws_access_key_id": "local", "aws_secret_access_key": "local", "region_name": "us-east-1"}


class ApiError(Exception):
    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


def put_request(table: str, record: dict[str, Any]) -> dict[str, Any]:
    """A line of input as the PutItem the operation sends: the item and its own condition, if any."""
    request: dict[str, Any] = {"TableName": table, "Item": record["Item"]}
    for name in ("ConditionExpression", "ExpressionAttributeNames", "ExpressionAttributeValues"):
        if name in record:
            request[name] = record[name]
    if "ConditionExpression" in record:
        request["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
    return request


def report_record(kind: str, bucket: str, key: str, line: int, code: str, message: str, **more: Any) -> dict[str, Any]:
    """One line of the output report."""
    return {
        "OutputType": kind,
        "SourceObject": {"S3Bucket": bucket, "S3Key": key},
        "LineNumber": line,
        "ErrorCode": code,
        "ErrorMessage": message,
        **{k: v for k, v in more.items() if v is not None},
    }


class Operation:
    def __init__(self, server: Server, request: dict[str, Any], caller: tuple[str, str], table_id: str) -> None:
        self.server = server
        self.ddb = server.dynamodb(caller)
        region = caller[1]
        self.request = request
        self.id = uuid.uuid4().hex
        table = request["TableName"]
        self.arn = f"arn:aws:dynamodb:{region}:000000000000:table/{table}/bulk-operation/{self.id}"
        self.cancel = threading.Event()
        self.lock = threading.Lock()
        self.d: dict[str, Any] = {
            "BulkOperationArn": self.arn,
            "BulkOperationStatus": "IN_PROGRESS",
            "TableDetails": [{"TableName": table, "TableId": table_id}],
            "InputS3Configuration": request["InputS3Configuration"],
            "OutputS3Configuration": request["OutputS3Configuration"],
            "StartTime": time.time(),
            "ProcessedItemCount": 0,
            "ProcessedInputBytes": 0,
            "TotalInputBytes": 0,
            "FailedItemCount": 0,
            "MaxWriteRequestUnits": request.get("MaxWriteRequestUnits", MIN_WRU),
            "PerformanceTier": request.get("PerformanceTier", "STANDARD"),
            "BulkOperationUsage": [{"TableName": table, "BulkPutBytes": 0, "Table": {"BulkPutBytes": 0}}],
        }
        if request.get("ClientToken"):
            self.d["ClientToken"] = request["ClientToken"]
        self.report: list[dict[str, Any]] = []
        self.budget = (time.monotonic(), 0.0)

    def set(self, **fields: Any) -> None:
        with self.lock:
            self.d.update(fields)

    def description(self) -> dict[str, Any]:
        with self.lock:
            return json.loads(json.dumps(self.d))

    def run(self) -> None:
        try:
            time.sleep(self.server.start_delay)
            self._run()
        except Exception as exc:  # noqa: BLE001 - the operation fails, the server goes on
            self.set(BulkOperationStatus="FAILED", FailureCode="InternalError", FailureMessage=str(exc))
        self.set(EndTime=time.time())

    def _run(self) -> None:
        source = self.request["InputS3Configuration"]
        objects = self.server.list_objects(source["S3Bucket"], source.get("S3KeyPrefix", ""))
        if not objects:
            return self.set(BulkOperationStatus="FAILED", FailureCode="S3NoSuchKey", FailureMessage="no input objects")
        if len(objects) > MAX_OBJECTS:
            message = f"{len(objects)} input objects, more than {MAX_OBJECTS}"
            return self.set(BulkOperationStatus="FAILED", FailureCode="InputLimitExceeded", FailureMessage=message)
        self.set(TotalInputBytes=sum(size for _, size in objects))
        done = [0]

        def one(entry: tuple[str, int]) -> None:
            if not self.cancel.is_set():
                self._object(source, entry[0], entry[1])
            with self.lock:
                done[0] += entry[1]
            self.set(ProcessedInputBytes=done[0])

        with ThreadPoolExecutor(max_workers=4) as pool:
            list(pool.map(one, objects))
        self._write_report()
        if self.cancel.is_set():
            self.set(BulkOperationStatus="CANCELLED", FailureCode="Cancelled", FailureMessage="CancelBulkOperation")
        else:
            failed = self.description()["FailedItemCount"]
            self.set(BulkOperationStatus="COMPLETED_WITH_ERRORS" if failed else "COMPLETED")

    def _object(self, source: dict[str, Any], key: str, size: int) -> None:
        bucket = source["S3Bucket"]
        if size > MAX_OBJECT_BYTES:
            return self._error(bucket, key, 0, "ObjectTooLarge", f"{size} bytes, more than 5 GB")
        try:
            lines = decompress(self.server.s3.get_object(Bucket=bucket, Key=key)["Body"].read(), source)
        except (OSError, ValueError, EOFError) as exc:
            return self._error(bucket, key, 0, "DecompressionError", str(exc))
        plain: list[tuple[int, dict[str, Any]]] = []  # items without a condition, written 25 at a time
        for number, line in enumerate(lines, 1):
            if self.cancel.is_set():
                return
            if line.strip():
                record = self._record(bucket, key, number, line)
                if record is not None and "ConditionExpression" not in record:
                    plain.append((number, record))
                elif record is not None:
                    self._put(bucket, key, number, record)
                if len(plain) == 25:
                    self._batch(bucket, key, plain)
                    plain = []
                time.sleep(self.server.item_delay)
        self._batch(bucket, key, plain)

    def _record(self, bucket: str, key: str, number: int, line: bytes) -> dict[str, Any] | None:
        """The line's record when it parses and its item is one DynamoDB takes; else an ERROR, None."""
        with self.lock:
            self.d["ProcessedItemCount"] += 1
        try:
            record = json.loads(line)
            assert isinstance(record, dict) and isinstance(record.get("Item"), dict), "no Item object"
        except (ValueError, AssertionError) as exc:
            self._error(bucket, key, number, "ParseError", f"line {number}: {exc}")
            return None
        problem = self.server.check_item(self.ddb, self.request["TableName"], record["Item"])
        if problem:
            self._error(bucket, key, number, "ValidationError", problem, Item=record["Item"])
            return None
        return dict(record)

    def _batch(self, bucket: str, key: str, plain: list[tuple[int, dict[str, Any]]]) -> None:
        """Unconditional items in one BatchWriteItem; one by one when DynamoDB refuses the batch."""
        if not plain:
            return
        table = self.request["TableName"]
        for _, record in plain:
            self._pace(len(json.dumps(record["Item"])))
        requests = [{"PutRequest": {"Item": _to_boto(put_request(table, r))["Item"]}} for _, r in plain]
        try:
            while requests:
                answer = self.ddb.batch_write_item(RequestItems={table: requests})
                requests = answer.get("UnprocessedItems", {}).get(table, [])
        except botocore.exceptions.ClientError:
            for number, record in plain:
                self._put(bucket, key, number, record, paced=True)
            return
        for _, record in plain:
            self._count(len(json.dumps(record["Item"])))

    def _put(self, bucket: str, key: str, number: int, record: dict[str, Any], paced: bool = False) -> None:
        table = self.request["TableName"]
        size = len(json.dumps(record["Item"]))
        if not paced:
            self._pace(size)
        try:
            self.ddb.put_item(**_to_boto(put_request(table, record)))
        except botocore.exceptions.ClientError as exc:
            error = exc.response["Error"]
            if error["Code"] != "ConditionalCheckFailedException":
                return self._error(bucket, key, number, error["Code"], error.get("Message", ""), Item=record["Item"])
            if "CONDITION_CHECK_FAILURE" in self.request["OutputS3Configuration"]["OutputType"]:
                old = exc.response.get("Item")
                self.report.append(
                    report_record(
                        "CONDITION_CHECK_FAILURE", bucket, key, number, "ConditionalCheckFailed",
                        error.get("Message", ""), Item=record["Item"], ExistingItem=_from_boto(old) if old else None,
                    )
                )  # fmt: skip
            return
        self._count(size)

    def _count(self, size: int) -> None:
        with self.lock:
            usage = self.d["BulkOperationUsage"][0]
            usage["BulkPutBytes"] += size
            usage["Table"]["BulkPutBytes"] += size

    def _pace(self, size: int) -> None:
        """At most MaxWriteRequestUnits write units a second (1 per KB of item, rounded up)."""
        with self.lock:
            started, used = self.budget
            used += -(-size // 1024)
            self.budget = (started, used)
        ahead = used / self.d["MaxWriteRequestUnits"] - (time.monotonic() - started)
        if ahead > 0:
            time.sleep(ahead)

    def _error(self, bucket: str, key: str, number: int, code: str, message: str, **more: Any) -> None:
        with self.lock:
            self.d["FailedItemCount"] += 1
        if "ERROR" in self.request["OutputS3Configuration"]["OutputType"]:
            self.report.append(report_record("ERROR", bucket, key, number, code, message, **more))

    def _write_report(self) -> None:
        if not self.report:
            return
        out = self.request["OutputS3Configuration"]
        prefix = out.get("S3KeyPrefix", "").strip("/")
        base = f"{prefix}/{self.id}" if prefix else self.id
        bucket = out.get("S3Bucket") or self.request["InputS3Configuration"]["S3Bucket"]
        files = []
        for index in range(0, len(self.report), 1000):
            key = f"{base}/data/{index // 1000:05d}.json"
            body = "".join(json.dumps(r) + "\n" for r in self.report[index : index + 1000])
            self.server.s3.put_object(Bucket=bucket, Key=key, Body=body.encode())
            files.append({"S3Key": key, "RecordCount": len(self.report[index : index + 1000])})
        manifest = {"BulkOperationArn": self.arn, "Files": files, "RecordCount": len(self.report)}
        self.server.s3.put_object(Bucket=bucket, Key=f"{base}/manifest.json", Body=json.dumps(manifest).encode())


def decompress(data: bytes, source: dict[str, Any]) -> list[bytes]:
    kind = source.get("InputCompressionType", "NONE")
    if kind == "GZIP":
        data = gzip.decompress(data)
    elif kind == "ZSTD":
        import zstandard  # type: ignore[import-not-found]

        data = zstandard.ZstdDecompressor().decompress(data)
    return data.split(b"\n")


def _to_boto(request: dict[str, Any]) -> dict[str, Any]:
    """JSON wire values (binary as base64 text) to what boto3's low-level client takes (bytes)."""

    def value(v: dict[str, Any]) -> dict[str, Any]:
        kind, inner = next(iter(v.items()))
        if kind == "B":
            return {"B": base64.b64decode(inner)}
        if kind == "BS":
            return {"BS": [base64.b64decode(x) for x in inner]}
        if kind == "M":
            return {"M": {k: value(x) for k, x in inner.items()}}
        if kind == "L":
            return {"L": [value(x) for x in inner]}
        return v

    out = dict(request)
    out["Item"] = {k: value(v) for k, v in request["Item"].items()}
    if "ExpressionAttributeValues" in request:
        out["ExpressionAttributeValues"] = {k: value(v) for k, v in request["ExpressionAttributeValues"].items()}
    return out


def _from_boto(item: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(item, default=lambda b: base64.b64encode(bytes(b)).decode()))


class Server:
    def __init__(self, dynamodb: str, s3: str, start_delay: float, item_delay: float) -> None:
        self.dynamodb_url = dynamodb.rstrip("/")
        self.clients: dict[tuple[str, str], Any] = {}
        self.s3 = boto3.client("s3", endpoint_url=s3, **CREDENTIALS)
        self.start_delay, self.item_delay = start_delay, item_delay
        self.operations: list[Operation] = []
        self.lock = threading.Lock()
        self.keys: dict[str, dict[str, str]] = {}

    def dynamodb(self, caller: tuple[str, str]) -> Any:
        """A client to DynamoDB Local as the caller (DynamoDB Local without -sharedDb keeps a database per key)."""
        if caller not in self.clients:
            key, region = caller
            self.clients[caller] = boto3.client(
                "dynamodb", endpoint_url=self.dynamodb_url, aws_access_key_id=key, aws_secret_access_key="x",
                region_name=region,
            )  # fmt: skip
        return self.clients[caller]

    def list_objects(self, bucket: str, prefix: str) -> list[tuple[str, int]]:
        out = []
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            out += [(o["Key"], o["Size"]) for o in page.get("Contents", []) if not o["Key"].endswith("/")]
        return sorted(out)

    def check_item(self, ddb: Any, table: str, item: dict[str, Any]) -> str | None:
        """A reason DynamoDB refuses the item before writing it (key attributes, size), or None."""
        if table not in self.keys:
            d = ddb.describe_table(TableName=table)["Table"]
            types = {a["AttributeName"]: a["AttributeType"] for a in d["AttributeDefinitions"]}
            self.keys[table] = {k["AttributeName"]: types[k["AttributeName"]] for k in d["KeySchema"]}
        for name, kind in self.keys[table].items():
            value = item.get(name)
            if not isinstance(value, dict) or kind not in value:
                return f"One or more parameter values were invalid: missing or wrong type key attribute {name}"
        if len(json.dumps(item)) > MAX_ITEM_BYTES:
            return "Item size has exceeded the maximum allowed size"
        return None

    # ------------------------------------------------------------------ the four operations
    def start(self, request: dict[str, Any], caller: tuple[str, str]) -> dict[str, Any]:
        validate_start(request)
        table = request["TableName"]
        token = request.get("ClientToken")
        with self.lock:
            for op in self.operations:
                if token and op.request.get("ClientToken") == token and time.time() - op.d["StartTime"] < 8 * 3600:
                    if op.request != request:
                        raise ApiError(
                            "IdempotentParameterMismatchException", "ClientToken reused with other parameters"
                        )
                    return {"BulkOperationDescription": op.description()}
            ddb = self.dynamodb(caller)
            try:
                described = ddb.describe_table(TableName=table)["Table"]
            except ddb.exceptions.ResourceNotFoundException:
                raise ApiError(
                    "ResourceNotFoundException", f"Requested resource not found: Table: {table} not found"
                ) from None
            if described["TableStatus"] != "ACTIVE":
                raise ApiError("ResourceInUseException", f"table {table} is {described['TableStatus']}")
            if any(
                o.request["TableName"] == table and o.d["BulkOperationStatus"] not in FINISHED for o in self.operations
            ):
                raise ApiError("LimitExceededException", f"a bulk operation is already active on table {table}")
            op = Operation(self, request, caller, described.get("TableId") or str(uuid.uuid4()))
            self.operations.append(op)
        threading.Thread(target=op.run, daemon=True).start()
        return {"BulkOperationDescription": op.description()}

    def find(self, request: dict[str, Any]) -> Operation:
        arn = request.get("BulkOperationArn")
        if not isinstance(arn, str) or not 37 <= len(arn) <= 1024:
            raise ApiError("ValidationException", "BulkOperationArn must be 37 to 1024 characters")
        for op in self.operations:
            if op.arn == arn:
                return op
        raise ApiError("ResourceNotFoundException", f"Bulk operation not found: {arn}")

    def describe(self, request: dict[str, Any]) -> dict[str, Any]:
        return {"BulkOperationDescription": self.find(request).description()}

    def cancel(self, request: dict[str, Any]) -> dict[str, Any]:
        op = self.find(request)
        with op.lock:
            if op.d["BulkOperationStatus"] == "IN_PROGRESS":
                op.d["BulkOperationStatus"] = "CANCELLING"
                op.cancel.set()
            status = op.d["BulkOperationStatus"]
        return {"BulkOperationArn": op.arn, "BulkOperationStatus": status}

    def list(self, request: dict[str, Any]) -> dict[str, Any]:
        size = request.get("MaxResults", 25)
        if not isinstance(size, int) or not 1 <= size <= 25:
            raise ApiError("ValidationException", "MaxResults must be between 1 and 25")
        start = int(request["NextToken"], 16) if request.get("NextToken") else 0
        newest = sorted(self.operations, key=lambda o: o.d["StartTime"], reverse=True)
        page = newest[start : start + size]
        summaries = []
        for op in page:
            d = op.description()
            summary = {k: d[k] for k in ("BulkOperationArn", "BulkOperationStatus", "StartTime") if k in d}
            if "EndTime" in d:
                summary["EndTime"] = d["EndTime"]
            summaries.append(summary)
        out: dict[str, Any] = {"BulkOperationsSummaryList": summaries}
        if start + size < len(newest):
            out["NextToken"] = f"{start + size:016x}"
        return out


def validate_start(request: dict[str, Any]) -> None:
    """The request checks the API reference lists for StartBulkPutItems."""
    problems = []
    table = request.get("TableName")
    if not isinstance(table, str) or not 1 <= len(table) <= 1024:
        problems.append("TableName must be 1 to 1024 characters")
    source = request.get("InputS3Configuration")
    if not isinstance(source, dict) or not source.get("S3Bucket") or not source.get("InputFormat"):
        problems.append("InputS3Configuration needs S3Bucket and InputFormat")
    else:
        if source["InputFormat"] not in ("DYNAMODB_JSON", "ION"):
            problems.append("InputFormat must be DYNAMODB_JSON or ION")
        if source["InputFormat"] == "ION":
            problems.append("InputFormat ION is not supported by this stand-in")
        if source.get("InputCompressionType", "NONE") not in ("GZIP", "ZSTD", "NONE"):
            problems.append("InputCompressionType must be GZIP, ZSTD or NONE")
        if len(source.get("S3KeyPrefix", "")) > 1024:
            problems.append("S3KeyPrefix longer than 1024")
    out = request.get("OutputS3Configuration")
    kinds = out.get("OutputType") if isinstance(out, dict) else None
    if not isinstance(kinds, list) or not kinds or any(k not in ("ERROR", "CONDITION_CHECK_FAILURE") for k in kinds):
        problems.append("OutputS3Configuration.OutputType must list ERROR and/or CONDITION_CHECK_FAILURE")
    units = request.get("MaxWriteRequestUnits", MIN_WRU)
    if not isinstance(units, int) or units < MIN_WRU:
        problems.append(f"MaxWriteRequestUnits must be at least {MIN_WRU}")
    if request.get("PerformanceTier", "STANDARD") not in ("STANDARD", "ACCELERATED"):
        problems.append("PerformanceTier must be STANDARD or ACCELERATED")
    if "$" in str(request.get("ClientToken", "")):
        problems.append("ClientToken must match ^[^\\$]+$")
    if problems:
        raise ApiError("ValidationException", f"{len(problems)} validation error(s) detected: " + "; ".join(problems))


def handler_for(server: Server) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            target = self.headers.get("X-Amz-Target", "")
            op = target.removeprefix(PREFIX)
            if target.startswith(PREFIX) and op in OPS:
                self._answer(op, body)
            else:
                self._forward(body)

        def _answer(self, op: str, body: bytes) -> None:
            auth = self.headers.get("Authorization", "")
            scope = auth.split("Credential=")[-1].split(",")[0].split("/") if "Credential=" in auth else []
            caller = (scope[0], scope[2]) if len(scope) > 2 else ("local", "us-east-1")
            try:
                request = json.loads(body or b"{}")
                calls = {
                    "StartBulkPutItems": lambda: server.start(request, caller),
                    "DescribeBulkOperation": lambda: server.describe(request),
                    "ListBulkOperations": lambda: server.list(request),
                    "CancelBulkOperation": lambda: server.cancel(request),
                }
                status, answer = 200, calls[op]()
            except ApiError as exc:
                status = exc.status
                answer = {"__type": f"com.amazonaws.dynamodb.v20120810#{exc.code}", "message": exc.message}
            except ValueError:
                status, answer = 400, {"__type": "com.amazon.coral.service#SerializationException"}
            self._send(status, json.dumps(answer).encode(), {"Content-Type": "application/x-amz-json-1.0"})

        def _forward(self, body: bytes) -> None:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
            request = urllib.request.Request(server.dynamodb_url + self.path, body, headers, method="POST")
            try:
                with urllib.request.urlopen(request, timeout=120) as answer:
                    status, data, got = answer.status, answer.read(), answer.headers
            except urllib.error.HTTPError as exc:
                status, data, got = exc.code, exc.read(), exc.headers
            keep = {k: v for k, v in got.items() if k.lower() in ("content-type", "x-amzn-requestid", "x-amz-crc32")}
            self._send(status, data, keep)

        def _send(self, status: int, data: bytes, headers: dict[str, str]) -> None:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("x-amzn-RequestId", headers.get("x-amzn-RequestId", uuid.uuid4().hex))
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, required=True)
    parser.add_argument("--dynamodb", required=True, help="DynamoDB Local's URL")
    parser.add_argument("--s3", required=True, help="moto's S3 server URL")
    parser.add_argument("--start-delay", type=float, default=0.0)
    parser.add_argument("--item-delay", type=float, default=0.0)
    args = parser.parse_args()
    server = Server(args.dynamodb, args.s3, args.start_delay, args.item_delay)
    httpd = ThreadingHTTPServer((args.host, args.port), handler_for(server))
    httpd.daemon_threads = True
    httpd.serve_forever()


def start(dynamodb: str, s3: str, start_delay: float = 0.0, item_delay: float = 0.0) -> Any:
    """This server as a process on a free port (a tests/motoserver.MotoServer: url, stop())."""
    import subprocess
    import sys
    from pathlib import Path

    import motoserver

    from sqlite2ddb.dynamodb.local import free_port

    port = free_port()
    command = [sys.executable, str(Path(__file__)), "-p", str(port), "--dynamodb", dynamodb, "--s3", s3]
    command += ["--start-delay", str(start_delay), "--item-delay", str(item_delay)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    server = motoserver.MotoServer(process, port)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"bulk put server exited with code {process.returncode}")
        try:
            request = urllib.request.Request(server.url, b"{}", {"X-Amz-Target": PREFIX + "ListBulkOperations"})
            with urllib.request.urlopen(request, timeout=1):
                return server
        except OSError:
            time.sleep(0.1)
    server.stop()
    raise RuntimeError("bulk put server did not answer within 30 s")


if __name__ == "__main__":
    main()
