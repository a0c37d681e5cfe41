"""export --out DIR: ImportTable's DYNAMODB_JSON in gzip parts, checkpointed, the same for any number of processes.

The parts are read back as a user of ImportTable would: gunzip, one JSON
object per line, boto3's TypeDeserializer. What they hold must be exactly
what ``plan --samples`` renders (the items ``migrate`` writes).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from boto3.dynamodb.types import TypeDeserializer
from conftest import CHINOOK, error_lines, run_cli, run_process, write_config

from sqlite2ddb.bulk.dynamodb_json import read_line
from sqlite2ddb.commands import plan_samples
from sqlite2ddb.config import load_config

NO_DYNAMODB = "http://127.0.0.1:9"  # export never talks to DynamoDB
deserialize = TypeDeserializer().deserialize


def parts_of(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*.json.gz"))}


def exported_items(folder: Path) -> dict[str, list[dict[str, Any]]]:
    """Item type -> its items in part order, as Python values through TypeDeserializer."""
    manifest = json.loads((folder / "manifest.json").read_text())
    out: dict[str, list[dict[str, Any]]] = {}
    for table in manifest["tables"].values():
        for part in table["parts"]:
            lines = gzip.decompress((folder / part["key"]).read_bytes()).splitlines()
            items = [{k: deserialize(v) for k, v in read_line(line).items()} for line in lines]
            out.setdefault(part["item_type"], []).extend(items)
    return out


@pytest.fixture()
def chinook_config(tmp_path: Path, prefix: str) -> Path:
    return write_config(tmp_path / "run", CHINOOK, NO_DYNAMODB, prefix)


def test_export_holds_exactly_the_items_plan_renders_and_a_true_manifest(chinook_config: Path, tmp_path: Path) -> None:
    out = tmp_path / "export"
    result = run_cli(chinook_config, "export", "--out", str(out), "--part-mb", "0.5", "--processes", "1")
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["format"] == "DYNAMODB_JSON" and manifest["compression"] == "GZIP"
    assert manifest["source"]["sha256"] == hashlib.sha256(CHINOOK.read_bytes()).hexdigest()
    assert len(manifest["mapping_digest"]) == 64
    for name, table in manifest["tables"].items():
        assert all(p["key"].startswith(f"{name}/") for p in table["parts"])  # one folder per table
        for part in table["parts"]:
            data = (out / part["key"]).read_bytes()
            assert hashlib.sha256(data).hexdigest() == part["sha256"]
            assert len(data) == part["compressed_bytes"]
            text = gzip.decompress(data)
            assert len(text) == part["uncompressed_bytes"]
            assert len(text.splitlines()) == part["items"]
            assert all(set(json.loads(line)) == {"Item"} for line in text.splitlines())
    assert sum(len(t["parts"]) for t in manifest["tables"].values()) > 4  # 0.5 MB cuts several item types

    config = load_config(chinook_config)
    expected = plan_samples(config, 1_000_000)  # every item, as plan --samples renders it
    exported = exported_items(out)
    assert set(exported) == set(expected)
    for name, items in expected.items():
        assert exported[name] == [{k: deserialize(v) for k, v in item.items()} for item in items], name
    assert sum(len(v) for v in exported.values()) == 13337


def test_one_and_two_processes_give_byte_identical_parts(chinook_config: Path, tmp_path: Path) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    assert run_cli(chinook_config, "export", "--out", str(one), "--part-mb", "0.3", "--processes", "1").exit_code == 0
    assert run_cli(chinook_config, "export", "--out", str(two), "--part-mb", "0.3", "--processes", "2").exit_code == 0
    first, second = parts_of(one), parts_of(two)
    assert len(first) > 8
    assert first == second
    assert (one / "manifest.json").read_bytes() == (two / "manifest.json").read_bytes()


def test_a_killed_export_resumes_with_the_parts_it_did_not_finish(chinook_config: Path, tmp_path: Path) -> None:
    out = tmp_path / "export"
    args = ("export", "--out", str(out), "--part-mb", "0.3", "--processes", "1")
    killed = run_process(chinook_config, *args, env={"SQLITE2DDB_KILL_AT": "part_written:4"})
    assert killed.returncode == -9, killed.stderr
    assert not (out / "manifest.json").exists()
    before = {key: (out / key).stat().st_mtime_ns for key in parts_of(out)}
    assert len(before) == 4
    resumed = run_process(chinook_config, *args)
    assert resumed.returncode == 0, resumed.stderr
    assert "4 finished before" in " ".join(resumed.stdout.split())
    after = parts_of(out)
    assert {key: (out / key).stat().st_mtime_ns for key in before} == before  # not written again
    clean = tmp_path / "clean"
    assert run_cli(chinook_config, "export", "--out", str(clean), "--part-mb", "0.3", "--processes", "1").exit_code == 0
    assert after == parts_of(clean)


FILES = """\
tables:
  - name: Files
    partition_key: {name: PK, type: S}
item_types:
  - name: File
    table: Files
    query: SELECT id, name, data FROM file
    cursor: [id]
    keys:
      PK: "FILE#{{ id }}"
    attributes:
      Entity: {const: File}
      Name: name
      Data: data
"""


def files_source(tmp_path: Path, rows: list[tuple[int, str, bytes]]) -> tuple[Path, Path]:
    db, mappings = tmp_path / "files.sqlite", tmp_path / "mappings"
    mappings.mkdir()
    (mappings / "files.yaml").write_text(FILES)
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE file (id INTEGER PRIMARY KEY, name TEXT, data BLOB)")
    conn.executemany("INSERT INTO file VALUES (?, ?, ?)", rows)
    conn.commit()
    conn.close()
    return db, mappings


def test_binary_values_round_trip_as_base64_exactly(tmp_path: Path, prefix: str) -> None:
    blobs = [bytes(range(256)), b"\x00", b"\xff\xfe" * 1000, "é€".encode()]
    db, mappings = files_source(tmp_path, [(i, f"f{i}", b) for i, b in enumerate(blobs)])
    config = write_config(tmp_path / "run", db, NO_DYNAMODB, prefix, mappings)
    out = tmp_path / "export"
    assert run_cli(config, "export", "--out", str(out)).exit_code == 0
    (part,) = parts_of(out).values()
    lines = gzip.decompress(part).splitlines()
    assert [json.loads(line)["Item"]["Data"] for line in lines] == [
        {"B": __import__("base64").b64encode(b).decode()} for b in blobs
    ]
    assert [deserialize(read_line(line)["Data"]).value for line in lines] == blobs


def test_an_item_over_400_kb_is_refused_at_export_like_at_migrate(tmp_path: Path, prefix: str) -> None:
    db, mappings = files_source(tmp_path, [(1, "small", b"x"), (2, "huge", b"y" * 420_000)])
    config = write_config(tmp_path / "run", db, NO_DYNAMODB, prefix, mappings)
    result = run_process(config, "export", "--out", str(tmp_path / "export"))
    assert result.returncode == 1
    (line,) = error_lines(result.stderr)
    assert "item type File, row {'id': 2}" in line and "over DynamoDB's 400 KB item limit" in line
    assert not (tmp_path / "export" / "manifest.json").exists()


def test_plan_prices_the_import_by_the_bytes_export_writes(chinook_config: Path, tmp_path: Path) -> None:
    out = tmp_path / "export"
    assert run_cli(chinook_config, "export", "--out", str(out), "--processes", "1").exit_code == 0
    manifest = json.loads((out / "manifest.json").read_text())
    args = ("plan", "--format", "json", "--no-check-target", "--estimate-rows", "0")
    document = json.loads(run_cli(chinook_config, *args, "--import-price", "0.30").output)
    paths = {t["table"]: t for t in document["load_paths"]["tables"]}
    capacity = {t["name"]: t for t in document["capacity"]["tables"]}
    assert set(paths) == set(manifest["tables"])
    for name, table in manifest["tables"].items():
        load = paths[name]["import_table"]
        assert load["uncompressed_bytes"] == table["uncompressed_bytes"]  # every row rendered: exact
        assert load["usd"] == round(table["uncompressed_bytes"] / 1024**3 * 0.30, 6)
        write = paths[name]["batch_write"]
        assert write["write_units"] == capacity[name]["total_wcu"]
        assert write["usd"] == capacity[name]["on_demand_cost_usd"]
        assert paths[name]["cheaper"] == ("ImportTable" if load["usd"] < write["usd"] else "BatchWriteItem")
    assert document["load_paths"]["import_price_source"] == "given with --import-price"
    default = json.loads(run_cli(chinook_config, "plan", "--format", "json", "--no-check-target").output)
    assert "us-east-1" in default["load_paths"]["import_price_source"]
    assert default["load_paths"]["import_price_per_gb"] == 0.15


def test_an_export_into_a_folder_used_before_leaves_exactly_the_parts_its_manifest_lists(
    chinook_config: Path, tmp_path: Path
) -> None:
    """Issue 24, case 9: a second export with bigger parts (fewer of them) removes the parts of the first."""
    out = tmp_path / "export"
    assert run_cli(chinook_config, "export", "--out", str(out), "--part-mb", "0.1", "--processes", "1").exit_code == 0
    first = set(parts_of(out))
    again = run_cli(chinook_config, "export", "--out", str(out), "--part-mb", "5", "--processes", "1")
    assert again.exit_code == 0, again.output
    manifest = json.loads((out / "manifest.json").read_text())
    listed = {p["key"] for t in manifest["tables"].values() for p in t["parts"]}
    on_disk = {str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()}
    assert on_disk == listed | {"manifest.json"}  # no stale part, no temp file
    assert len(first - listed) > 0  # the first export's extra parts were there, and are gone
    assert sum(len(v) for v in exported_items(out).values()) == 13337


def test_an_export_refuses_a_folder_holding_files_no_export_wrote(chinook_config: Path, tmp_path: Path) -> None:
    out = tmp_path / "export"
    out.mkdir()
    notes = out / "notes.txt"
    notes.write_bytes(b"my own notes\n")
    result = run_process(chinook_config, "export", "--out", str(out), "--processes", "1")
    assert result.returncode == 2, result.stderr
    (line,) = error_lines(result.stderr)
    assert str(notes) in line and "not written by an export" in line
    assert "Traceback" not in result.stderr
    assert notes.read_bytes() == b"my own notes\n"
    assert sorted(p.name for p in out.rglob("*")) == ["notes.txt"]  # nothing written beside it

    foreign = tmp_path / "other"
    foreign.mkdir()
    (foreign / "manifest.json").write_text('{"mine": true}\n')
    result = run_process(chinook_config, "export", "--out", str(foreign), "--processes", "1")
    assert result.returncode == 2, result.stderr
    (line,) = error_lines(result.stderr)
    assert str(foreign / "manifest.json") in line and "not the manifest of an export" in line
    assert (foreign / "manifest.json").read_text() == '{"mine": true}\n'
    assert sorted(p.name for p in foreign.rglob("*")) == ["manifest.json"]
