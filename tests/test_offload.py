"""Large attributes in S3 (``offload:``): migrate, validate, sync and plan on moto's S3 and DynamoDB Local.

moto's server runs as a real process (tests/motoserver.py) and answers S3;
DynamoDB Local holds the tables. The source is built here: documents whose
TEXT bodies are 10 KB .. 600 KB and one BLOB scan of 450 KB, mapped by the
example set mappings/documents (Body offloaded over 64 KB, Scan only when
the item would not fit in DynamoDB's 400 KB).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import motoserver
import pytest
from conftest import FAKE_CREDENTIALS, ROOT, error_lines, line_of, one_line, run_cli, scan_all, write_config

MAPPINGS = ROOT / "mappings" / "documents"
KB = 1024
#: doc_id -> (body size in bytes, scan size in bytes or 0)
SIZES = {1: (10 * KB, 0), 2: (50 * KB, 0), 3: (100 * KB, 0), 4: (300 * KB, 0), 5: (600 * KB, 0), 6: (20 * KB, 450 * KB)}


def body(doc_id: int, size: int, version: int = 0) -> str:
    seed = f"doc {doc_id} v{version} "
    return (seed * (size // len(seed) + 1))[:size]


def scan(doc_id: int, size: int) -> bytes | None:
    return bytes((doc_id * 31 + i) % 251 for i in range(size)) if size else None


def make_source(path: Path) -> Path:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE doc (doc_id INTEGER PRIMARY KEY, folder TEXT, title TEXT, body TEXT, scan BLOB)")
    for doc_id, (size, scan_size) in SIZES.items():
        conn.execute(
            "INSERT INTO doc VALUES (?, ?, ?, ?, ?)",
            (doc_id, "reports", f"Report {doc_id}", body(doc_id, size), scan(doc_id, scan_size)),
        )
    conn.commit()
    conn.close()
    return path


@pytest.fixture(scope="module")
def s3_url() -> Iterator[str]:
    server = motoserver.start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture()
def s3(s3_url: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", s3_url)
    monkeypatch.setenv("COLUMNS", "400")
    return boto3.client("s3", endpoint_url=s3_url, region_name="us-east-1", **FAKE_CREDENTIALS)


@pytest.fixture()
def bucket(s3: Any) -> str:
    name = f"offload-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    return name


def the_error(result: Any) -> str:
    lines = error_lines(result.stderr)
    assert len(lines) == 1, result.output
    assert "Traceback" not in result.output
    return lines[0]


def with_offload(config: Path, bucket: str, prefix: str = "values") -> Path:
    data = json.loads(config.read_text())
    data["offload"] = {"bucket": bucket, "prefix": prefix}
    config.write_text(json.dumps(data, indent=2))
    return config


@pytest.fixture()
def source(tmp_path: Path) -> Path:
    return make_source(tmp_path / "docs.sqlite")


@pytest.fixture()
def config(make_config: Any, source: Path, bucket: str) -> Path:
    return with_offload(make_config(source=source, mappings=MAPPINGS), bucket)


def keys_in(s3: Any, bucket: str) -> dict[str, bytes]:
    out = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for entry in page.get("Contents", []):
            out[entry["Key"]] = s3.get_object(Bucket=bucket, Key=entry["Key"])["Body"].read()
    return out


def documents(ddb: Any, prefix: str) -> dict[int, dict[str, Any]]:
    return {int(i["DocId"]["N"]): i for i in scan_all(ddb, f"{prefix}Documents")}


def pointer(item: dict[str, Any], name: str) -> dict[str, str]:
    fields = item[name]["M"]
    return {k: next(iter(v.values())) for k, v in fields.items()}


def test_migrate_keeps_large_values_in_s3_and_validate_reads_them_back(
    config: Path, ddb: Any, prefix: str, s3: Any, bucket: str, tmp_path: Path
) -> None:
    result = run_cli(config, "migrate")
    assert result.exit_code == 0, result.output
    items = documents(ddb, prefix)
    assert sorted(items) == sorted(SIZES)
    stored = keys_in(s3, bucket)
    # 10 KB and 50 KB bodies stay in the item; 100 KB and more go to S3 (over_kb: 64)
    assert items[1]["Body"] == {"S": body(1, 10 * KB)} and items[2]["Body"] == {"S": body(2, 50 * KB)}
    for doc_id in (3, 4, 5):
        found = pointer(items[doc_id], "Body")
        data = body(doc_id, SIZES[doc_id][0]).encode()
        assert found["bucket"] == bucket and found["type"] == "S"
        assert int(found["size"]) == len(data) and found["sha256"] == hashlib.sha256(data).hexdigest()
        assert found["key"].startswith(f"values/{prefix}Documents/FOLDER%23reports/DOC%23")
        assert found["key"].endswith(f"/Body/{found['sha256']}")
        assert stored[found["key"]] == data
    # the 450 KB scan cannot stay in the item: offloaded although it has no threshold; the 20 KB body stays
    assert items[6]["Body"] == {"S": body(6, 20 * KB)}
    scan_pointer = pointer(items[6], "Scan")
    assert scan_pointer["type"] == "B" and stored[scan_pointer["key"]] == scan(6, 450 * KB)
    assert len(stored) == 4
    checked = run_cli(config, "validate", "--report", str(tmp_path / "proof.json"))
    assert checked.exit_code == 0, checked.output
    assert "objects:documents" in checked.output
    assert "4 offloaded values read from S3 and compared" in one_line(checked.output)
    # the same set's access pattern goes through its multi-attribute index (Entity, Title): 6 titles, each proven
    index = ddb.describe_table(TableName=f"{prefix}Documents")["Table"]["GlobalSecondaryIndexes"][0]
    assert [(k["AttributeName"], k["KeyType"]) for k in index["KeySchema"]] == [
        ("Entity", "HASH"),
        ("Title", "HASH"),
        ("DocId", "RANGE"),
    ]
    proof = {c["name"]: c for c in json.loads((tmp_path / "proof.json").read_text())["checks"]}
    assert proof["pattern:d01-documents-titled"]["status"] == "pass", proof["pattern:d01-documents-titled"]
    assert proof["pattern:d01-documents-titled"]["compared"] >= 6, proof["pattern:d01-documents-titled"]


def test_validate_fails_naming_the_item_and_attribute_of_a_damaged_or_missing_object(
    config: Path, ddb: Any, prefix: str, s3: Any, bucket: str
) -> None:
    assert run_cli(config, "migrate").exit_code == 0
    items = documents(ddb, prefix)
    damaged, missing = pointer(items[4], "Body"), pointer(items[6], "Scan")
    s3.put_object(Bucket=bucket, Key=damaged["key"], Body=b"not the source value")
    s3.delete_object(Bucket=bucket, Key=missing["key"])
    report = config.parent / "report.json"
    result = run_cli(config, "validate", "--report", str(report))
    assert result.exit_code != 0, result.output
    assert "objects:documents" in result.output
    found = next(c for c in json.loads(report.read_text())["checks"] if c["name"] == "objects:documents")
    assert found["passed"] is False and found["compared"] == 4
    failures = {(json.dumps(f["key"], sort_keys=True), f["path"]): f for f in found["failures"]}
    assert len(failures) == 2
    wrong = failures[('{"PK": "FOLDER#reports", "SK": "DOC#00000004"}', "Body")]
    assert wrong["message"] == f"attribute Body: s3://{bucket}/{damaged['key']} does not hold the source value"
    assert wrong["actual"] == {"size": 20, "sha256": hashlib.sha256(b"not the source value").hexdigest()}
    assert wrong["expected"]["sha256"] == damaged["sha256"]
    gone = failures[('{"PK": "FOLDER#reports", "SK": "DOC#00000006"}', "Scan")]
    assert gone["message"] == f"attribute Scan: s3://{bucket}/{missing['key']} is missing"


def test_sync_writes_the_new_object_and_deletes_the_old_one(
    config: Path, source: Path, ddb: Any, prefix: str, s3: Any, bucket: str
) -> None:
    assert run_cli(config, "migrate").exit_code == 0
    before = documents(ddb, prefix)
    old_body, gone = pointer(before[3], "Body"), pointer(before[5], "Body")
    conn = sqlite3.connect(source)
    new_text = body(3, 120 * KB, version=1)
    conn.execute("UPDATE doc SET body = ? WHERE doc_id = 3", (new_text,))
    conn.execute("DELETE FROM doc WHERE doc_id = 5")
    conn.commit()
    conn.close()
    result = run_cli(config, "sync")
    assert result.exit_code == 0, result.output
    after = documents(ddb, prefix)
    assert 5 not in after
    new_body = pointer(after[3], "Body")
    assert new_body["sha256"] == hashlib.sha256(new_text.encode()).hexdigest() != old_body["sha256"]
    stored = keys_in(s3, bucket)
    assert stored[new_body["key"]] == new_text.encode()
    assert old_body["key"] not in stored and gone["key"] not in stored  # no item points at them any more
    assert pointer(after[4], "Body")["key"] in stored  # unchanged items keep theirs
    assert len(stored) == 3
    checked = run_cli(config, "validate")
    assert checked.exit_code == 0, checked.output


def test_plan_refuses_items_over_400_kb_with_nothing_offloaded_naming_the_mapping_line(
    tmp_path: Path, make_config: Any, source: Path, bucket: str
) -> None:
    mappings = tmp_path / "plain"
    mappings.mkdir()
    text = (MAPPINGS / "documents.yaml").read_text()
    text = text.replace(", offload: {over_kb: 64}}", "}").replace(", offload: {}}", "}")
    mapping = mappings / "documents.yaml"
    mapping.write_text(text)
    config = with_offload(make_config(source=source, mappings=mappings), bucket)
    result = run_cli(config, "plan", "--no-check-target")
    assert result.exit_code == 2, result.output
    line = line_of(text, "Body: {column: body")
    assert one_line(the_error(result)) == (
        f"error: {mapping}:{line}: item type Document: the item of row {{'doc_id': 5}} is at least "
        f"{600 * KB + len('Report 5') + len('TitleBodyScan'):,} bytes, over DynamoDB's 400 KB item limit, "
        f"with nothing left to offload (attribute Body is {600 * KB:,} bytes) (add 'offload: {{over_kb: 64}}' "
        "to attribute Body (and an offload bucket to the configuration))"
    )
    # the example set offloads Body and Scan: the same rows pass the plan
    offloaded = with_offload(make_config(source=source, mappings=MAPPINGS), bucket)
    assert run_cli(offloaded, "plan", "--no-check-target").exit_code == 0


def test_dry_run_reports_the_exact_largest_item_and_what_goes_to_s3(config: Path, s3: Any, bucket: str) -> None:
    result = run_cli(config, "migrate", "--dry-run")
    assert result.exit_code == 0, result.output
    text = one_line(result.output)
    # document 2: its 50 KB body stays in the item, the largest item left once 100 KB+ bodies are in S3
    size = 50 * KB + len("Report 2") + len("Entity") + len("Document") + len("DocId") + 2 + len("Title")
    size += len("Body") + len("PK") + len("FOLDER#reports") + len("SK") + len("DOC#00000002")
    found = re.search(
        r"Document: largest item ([\d,]+) bytes, key (\{.*?\}); (\d+) values \(([\d,]+) bytes\) in S3", text
    )
    assert found, text
    assert int(found.group(1).replace(",", "")) == size
    assert json.loads(found.group(2)) == {"PK": "FOLDER#reports", "SK": "DOC#00000002"}
    assert int(found.group(3)) == 4
    assert int(found.group(4).replace(",", "")) == (100 + 300 + 600 + 450) * KB
    assert keys_in(s3, bucket) == {}  # a dry run writes nothing, to S3 neither


@pytest.mark.parametrize("processes", ["1", "2"])
def test_export_parts_carry_the_pointers_and_the_objects_are_uploaded(
    config: Path, tmp_path: Path, s3: Any, bucket: str, processes: str
) -> None:
    out = tmp_path / "export"
    result = run_cli(config, "export", "--out", str(out), "--part-mb", "0.2", "--processes", processes)
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "manifest.json").read_text())
    items = {}
    for part in (p for table in manifest["tables"].values() for p in table["parts"]):
        for line in gzip.decompress((out / part["key"]).read_bytes()).splitlines():
            item = json.loads(line)["Item"]
            items[int(item["DocId"]["N"])] = item
    assert sorted(items) == sorted(SIZES)
    stored = keys_in(s3, bucket)
    for doc_id, name in ((3, "Body"), (4, "Body"), (5, "Body"), (6, "Scan")):
        found = pointer(items[doc_id], name)
        assert stored[found["key"]] and hashlib.sha256(stored[found["key"]]).hexdigest() == found["sha256"]
    assert items[1]["Body"] == {"S": body(1, 10 * KB)}
    assert len(stored) == 4


def test_plan_refuses_an_offload_rule_it_cannot_honour_naming_the_mapping_line(
    tmp_path: Path, make_config: Any, source: Path
) -> None:
    mappings = tmp_path / "rules"
    mappings.mkdir()
    mapping = mappings / "documents.yaml"
    original = (MAPPINGS / "documents.yaml").read_text()
    line = line_of(original, "Body: {column: body")
    # no bucket in the configuration
    mapping.write_text(original)
    config = make_config(source=source, mappings=mappings)
    result = run_cli(config, "plan", "--no-check-target")
    assert result.exit_code == 2, result.output
    assert one_line(the_error(result)).startswith(
        f"error: {mapping}:{line}: item type Document: attribute Body: 'offload' needs an S3 bucket, "
        "and the configuration names none"
    )
    # a number is not text or bytes
    mapping.write_text(
        original.replace("DocId: {column: doc_id, type: number}", "DocId: {column: doc_id, type: number, offload: {}}")
    )
    result = run_cli(config, "plan", "--no-check-target")
    assert result.exit_code == 2, result.output
    assert f"{mapping}:{line_of(original, 'DocId:')}" in the_error(result)
    assert "'offload' applies to type auto, string, binary" in the_error(result)


def test_migrate_via_s3_imports_items_with_pointers_and_validate_reads_the_objects(
    tmp_path: Path, source: Path, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import moto_bulk  # S3 and DynamoDB with ImportTable in one moto process (tests/moto_bulk.py)

    server = moto_bulk.start()
    try:
        monkeypatch.setenv("AWS_ENDPOINT_URL_S3", server.url)
        monkeypatch.setenv("COLUMNS", "400")
        s3 = boto3.client("s3", endpoint_url=server.url, region_name="us-east-1", **FAKE_CREDENTIALS)
        bucket = f"offload-{uuid.uuid4().hex[:12]}"
        s3.create_bucket(Bucket=bucket)
        config = with_offload(write_config(tmp_path / "run", source, server.url, prefix, MAPPINGS), bucket)
        result = run_cli(config, "migrate", "--via-s3", f"s3://{bucket}/load", "--no-validate")
        assert result.exit_code == 0, result.output
        values = {k: v for k, v in keys_in(s3, bucket).items() if k.startswith("values/")}
        assert len(values) == 4
        checked = run_cli(config, "validate", "--check", "items:", "--check", "count:", "--check", "objects:")
        assert checked.exit_code == 0, checked.output
        assert "4 offloaded values read from S3 and compared" in one_line(checked.output)
    finally:
        server.stop()
