"""export-model: the model as a NoSQL Workbench data model and as a CloudFormation template.

Both outputs are parsed and checked against the mapping (every table, key and
index); the template is linted with cfn-lint, its tables are created with
boto3 from the template's own properties on DynamoDB Local, and validate's
shape check passes against them.
"""

from __future__ import annotations

import base64
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from cfnlint.api import lint_all
from conftest import CHINOOK_MAPPINGS, run_cli

from sqlite2ddb.spec import load_mapping_set

SMALL = """\
tables:
  - name: Gallery
    partition_key: {name: pid, type: N}
    billing_mode: PROVISIONED
    read_capacity: 3
    write_capacity: 2
    indexes:
      - name: ByName
        partition_key: {name: name_key, type: S}
        projection: KEYS_ONLY
      - name: ByYear
        partition_key: {name: year_key, type: N}
        sort_key: {name: name_key, type: S}
        projection: {include: [Title]}
item_types:
  - name: Picture
    table: Gallery
    query: SELECT id, title, year, image FROM picture
    cursor: [id]
    keys: {pid: "{{ id }}", name_key: "{{ title | lower }}", year_key: "{{ year }}"}
    attributes:
      Entity: {const: Picture}
      Title: title
      Image: {column: image, type: binary}
"""


def _small(tmp_path: Path) -> tuple[Path, Path]:
    source = tmp_path / "gallery.sqlite"
    conn = sqlite3.connect(source)
    conn.execute("CREATE TABLE picture (id INTEGER PRIMARY KEY, title TEXT, year INTEGER, image BLOB)")
    conn.executemany(
        "INSERT INTO picture VALUES (?, ?, ?, ?)", [(1, "Dawn", 1901, b"\x00\xffpng"), (2, "Dusk", 1902, None)]
    )
    conn.commit()
    conn.close()
    folder = tmp_path / "gallery"
    folder.mkdir()
    (folder / "gallery.yaml").write_text(SMALL)
    return source, folder


@pytest.fixture(params=["chinook", "gallery"])
def exported(request: Any, tmp_path: Path, make_config: Any) -> tuple[Path, Path]:
    """(config, mapping folder) for the Chinook mapping set and a small one with other key types."""
    if request.param == "chinook":
        return make_config(enable_validation=False), CHINOOK_MAPPINGS
    source, folder = _small(tmp_path)
    return make_config(source=source, mappings=folder, enable_validation=False), folder


def _key_schema(spec: Any) -> list[dict[str, str]]:
    keys = [{"AttributeName": spec.partition_key.name, "KeyType": "HASH"}]
    if spec.sort_key:
        keys.append({"AttributeName": spec.sort_key.name, "KeyType": "RANGE"})
    return keys


def test_cloudformation_template_lints_and_its_tables_pass_the_shape_check(
    exported: tuple[Path, Path], tmp_path: Path, ddb: Any, prefix: str
) -> None:
    config, folder = exported
    out = tmp_path / "cfn" / "tables.json"
    result = run_cli(config, "export-model", "--format", "cloudformation", "--out", str(out))
    assert result.exit_code == 0, result.output
    text = out.read_text()
    assert [f"{m.rule.id} {m.message}" for m in lint_all(text) if m.rule.id[0] in "EW"] == []  # cfn-lint: clean

    template = json.loads(text)
    mapping = load_mapping_set(str(folder))
    resources = template["Resources"]
    assert len(resources) == len(mapping.tables)
    for table in mapping.tables:
        resource = resources[f"{table.name}Table"]
        assert resource["Type"] == "AWS::DynamoDB::Table"
        properties = resource["Properties"]
        assert properties["TableName"] == f"{prefix}{table.name}"
        assert properties["KeySchema"] == _key_schema(table)
        assert properties["BillingMode"] == table.billing_mode
        assert properties["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
        indexes = {g["IndexName"]: g for g in properties.get("GlobalSecondaryIndexes", [])}
        assert set(indexes) == {i.name for i in table.indexes}
        for index in table.indexes:
            assert indexes[index.name]["KeySchema"] == _key_schema(index)
            assert indexes[index.name]["Projection"]["ProjectionType"] == index.projection
        # the infrastructure-as-code path: tables made from the template, not by migrate
        ddb.create_table(**{k: v for k, v in properties.items() if k != "PointInTimeRecoverySpecification"})

    result = run_cli(config, "validate", "--check", "shape:")
    assert result.exit_code == 0, result.output
    assert f"{len(mapping.tables)} passed, 0 failed" in result.stdout

    off = run_cli(config, "export-model", "--format", "cloudformation", "--no-pitr")
    assert off.exit_code == 0
    specs = [r["Properties"]["PointInTimeRecoverySpecification"] for r in json.loads(off.stdout)["Resources"].values()]
    assert specs == [{"PointInTimeRecoveryEnabled": False}] * len(mapping.tables)


def test_nosql_workbench_model_has_every_table_key_index_and_sample_items(
    exported: tuple[Path, Path], tmp_path: Path, prefix: str
) -> None:
    config, folder = exported
    out = tmp_path / "model.json"
    result = run_cli(config, "export-model", "--format", "nosql-workbench", "--out", str(out), "--samples", "2")
    assert result.exit_code == 0, result.output
    document = json.loads(out.read_text())
    assert document["ModelMetadata"]["AWSService"] == "Amazon DynamoDB"
    mapping = load_mapping_set(str(folder))
    tables = {t["TableName"]: t for t in document["DataModel"]}
    assert set(tables) == {f"{prefix}{t.name}" for t in mapping.tables}
    for table in mapping.tables:
        model = tables[f"{prefix}{table.name}"]
        keys = model["KeyAttributes"]
        assert keys["PartitionKey"] == {
            "AttributeName": table.partition_key.name,
            "AttributeType": table.partition_key.type,
        }
        if table.sort_key:
            assert keys["SortKey"]["AttributeName"] == table.sort_key.name
        indexes = {g["IndexName"]: g for g in model["GlobalSecondaryIndexes"]}
        assert set(indexes) == {i.name for i in table.indexes}
        for index in table.indexes:
            assert indexes[index.name]["KeyAttributes"]["PartitionKey"]["AttributeName"] == index.partition_key.name
            assert indexes[index.name]["Projection"]["ProjectionType"] == index.projection
        items = [i for i in mapping.item_types if i.table == table.name]
        facets = {f["FacetName"] for f in model["TableFacets"]}
        assert {i.name for i in items} <= facets
        patterns = [p.name for p in mapping.access_patterns if p.request.table == table.name and not p.request.index]
        assert set(patterns) <= facets
        names = {i.marker for i in items}
        markers = [row[n].get("S") for row in model["TableData"] for n in names if n in row]
        for item in items:
            assert 1 <= markers.count(item.marker_value()) <= 2  # the samples the plan renders
        non_key = {a["AttributeName"] for a in model["NonKeyAttributes"]}
        assert {a.name for i in items for a in i.attributes} <= non_key
    if folder.name == "gallery":
        (dawn, _dusk) = tables[f"{prefix}Gallery"]["TableData"]
        assert base64.b64decode(dawn["Image"]["B"]) == b"\x00\xffpng"
        assert dawn["pid"] == {"N": "1"}


def test_cloudformation_template_spells_streams_and_encryption_as_cloudformation_does(
    tmp_path: Path, make_config: Any
) -> None:
    """A table with a stream and KMS encryption: CloudFormation has no StreamEnabled and says SSEEnabled (the
    CreateTable spelling failed cfn-lint with E3002)."""
    folder = tmp_path / "streamed"
    folder.mkdir()
    (folder / "gallery.yaml").write_text(
        SMALL.replace(
            "    billing_mode: PROVISIONED\n",
            "    billing_mode: PROVISIONED\n    stream: NEW_AND_OLD_IMAGES\n    sse: {kms_key: alias/gallery}\n",
        )
    )
    source, _ = _small(tmp_path)
    config = make_config(source=source, mappings=folder, enable_validation=False)
    result = run_cli(config, "export-model", "--format", "cloudformation")
    assert result.exit_code == 0, result.output
    assert [f"{m.rule.id} {m.message}" for m in lint_all(result.stdout) if m.rule.id[0] in "EW"] == []
    (resource,) = json.loads(result.stdout)["Resources"].values()
    properties = resource["Properties"]
    assert properties["StreamSpecification"] == {"StreamViewType": "NEW_AND_OLD_IMAGES"}
    assert properties["SSESpecification"] == {"SSEEnabled": True, "SSEType": "KMS", "KMSMasterKeyId": "alias/gallery"}
