"""export: every selected item type as DynamoDB JSON parts (gzip) in a folder or under an S3 prefix, plus a manifest.

Parts are checkpointed one by one in the state folder (``bulk_state.json``):
a resumed export renders and writes only the parts not finished before. The
manifest (``manifest.json`` beside the table folders) lists every part with
its item count, sizes and SHA-256, the mapping digest and the source
snapshot (path, size, SHA-256).
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loguru import logger

from sqlite2ddb.bulk.parallel import PartResult, SourceArgs, render_parts
from sqlite2ddb.bulk.parts import PartSpec, plan_parts
from sqlite2ddb.bulk.progress import BulkProgress
from sqlite2ddb.bulk.s3 import S3Location, S3Sink, s3_client
from sqlite2ddb.config import Config
from sqlite2ddb.errors import UsageError
from sqlite2ddb.faults import crash_point
from sqlite2ddb.migrate.run import select_item_types, source_identity
from sqlite2ddb.plan.compile import ItemTypePlan, Plan, offload_location
from sqlite2ddb.plan.opened import opened_plan

DEFAULT_PART_MB = 64.0
DEFAULT_PART_BYTES = int(DEFAULT_PART_MB * 1024 * 1024)
MANIFEST = "manifest.json"
#: How ``plan_parts`` names a part; only files named so are ever deleted from an export folder.
PART_KEY = re.compile(r"[A-Za-z0-9_.-]+/[0-9]{2,}-[^/]+-[0-9]{5,}\.json\.gz")


def _listed_parts(manifest: Path) -> set[str]:
    """The part keys an export's manifest lists; a manifest.json that is not one is refused."""
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
        keys = {p["key"] for t in data["tables"].values() for p in t["parts"]}
        assert data["format"] == "DYNAMODB_JSON" and all(isinstance(k, str) for k in keys)
    except (OSError, ValueError, KeyError, TypeError, AttributeError, AssertionError):
        raise UsageError(
            f"{manifest}: not the manifest of an export; nothing was exported", "export into another folder"
        ) from None
    return {k for k in keys if PART_KEY.fullmatch(k) and ".." not in k.split("/")}


class LocalSink:
    """Parts go to ``DIR/<key>``, renamed in once complete; the manifest to ``DIR/manifest.json``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    @property
    def url(self) -> str:
        return str(self.directory.absolute())

    def check(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)

    def staging(self, key: str) -> Path:
        return self.directory / (key + ".tmp")

    def put(self, staged: Path, key: str) -> None:
        os.replace(staged, self.directory / key)

    def has(self, key: str, record: dict[str, Any]) -> bool:
        path = self.directory / key
        return path.exists() and path.stat().st_size == record["compressed_bytes"]

    def earlier_parts(self, recorded: Iterable[str]) -> set[str]:
        """The parts earlier exports wrote here: those the manifest lists, and those the checkpoints recorded."""
        keys = {k for k in recorded if PART_KEY.fullmatch(k)}
        manifest = self.directory / MANIFEST
        if manifest.exists():
            keys |= _listed_parts(manifest)
        return keys

    def refuse_foreign(self, known: set[str]) -> None:
        """Refuse a folder holding a file no export wrote (naming one): never mixed in, never written over."""
        if not self.directory.is_dir():
            return
        for path in sorted(self.directory.rglob("*")):
            key = path.relative_to(self.directory).as_posix()
            if path.is_dir() or key in known or key.removesuffix(".tmp") in {*known, MANIFEST}:
                continue
            raise UsageError(
                f"{path}: not written by an export, in the export folder {self.directory}; nothing was exported",
                "export into an empty folder, or into one only an export wrote",
            )

    def remove_stale(self, earlier: set[str], kept: set[str]) -> list[str]:
        """Delete the parts earlier exports wrote that the new manifest does not list, and unfinished parts."""
        removed = []
        for key in sorted(earlier | kept):
            for name in ([key] if key not in kept else []) + [key + ".tmp"]:
                path = self.directory / name
                if path.is_file() or path.is_symlink():
                    path.unlink()
                    removed.append(name)
        for folder in {(self.directory / key).parent for key in earlier - kept}:
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
        if removed:
            logger.info("removed {} files of earlier exports that the new manifest does not list", len(removed))
        return removed

    def put_manifest(self, data: bytes) -> str:
        path = self.directory / MANIFEST
        temp = path.with_name(MANIFEST + ".tmp")
        temp.write_bytes(data)
        os.replace(temp, path)
        return str(path)


@dataclass
class ExportResult:
    location: str
    manifest: dict[str, Any]
    manifest_at: str
    parts_written: int = 0
    parts_skipped: int = 0
    items_written: int = 0  # items in the parts written by this run
    seconds: float = 0.0
    rejects: list[str] = field(default_factory=list)

    def table_items(self, table: str) -> int:
        return int(self.manifest["tables"].get(table, {}).get("items", 0))


def sink_for(config: Config, location: str) -> LocalSink | S3Sink:
    if location.startswith("s3://"):
        return S3Sink(s3_client(config), S3Location.parse(location))
    return LocalSink(Path(location))


def _source_args(config: Config, plan: Plan, shuffle: bool = False) -> SourceArgs:
    """What a worker process needs to open the source and render parts on its own."""
    settings = config.migration_settings
    return SourceArgs(
        config.mappings,
        config.source_db,
        settings.busy_timeout,
        plan.table_prefix,
        settings.on_error,
        offload_location(config),
        config.aws_region,
        config.profile,
        shuffle,
    )


def export_items(
    config: Config,
    plan: Plan,
    conn: Any,
    items: Sequence[ItemTypePlan],
    location: str,
    part_mb: float | None = None,
    processes: int | None = None,
    on_part: Callable[[PartSpec, PartResult | None], None] | None = None,
    progress: BulkProgress | None = None,
    shuffle: bool = False,
) -> ExportResult:
    """Export ``items`` to ``location`` (a folder or s3://bucket/prefix), skipping the parts finished before.

    ``progress``: the caller's checkpoints, when it records more in the same file (one writer, no lost update).
    ``shuffle``: each part's lines in a fixed random order (bulk put: no rolling hot partition).
    """
    started = time.monotonic()
    sink = sink_for(config, location)
    sink.check()
    progress = progress or BulkProgress.load(config.state_dir)
    part_bytes = max(1, int(part_mb * 1024 * 1024)) if part_mb else progress.part_bytes(sink.url, DEFAULT_PART_BYTES)
    source = source_identity(config.source_db)
    identity = {
        "mapping_digest": plan.mapping.digest,
        "source_sha256": source["sha256"],
        "part_bytes": part_bytes,
        "table_prefix": plan.table_prefix,
        **({"shuffled": True} if shuffle else {}),
    }
    if config.offload:  # the parts hold pointers into this bucket and prefix
        identity["offload"] = dict(config.offload)
    earlier = _earlier_parts(sink, progress)  # before a new identity forgets the parts recorded
    finished = progress.export_parts(sink.url, identity)
    cut: dict[str, int] = {}
    parts: list[PartSpec] = []
    for item in items:
        cut[item.name], item_parts = plan_parts(plan, conn, item, part_bytes)
        parts += item_parts
    if isinstance(sink, LocalSink):
        sink.refuse_foreign(earlier | {p.key for p in parts})
    progress.save()
    todo = [p for p in parts if p.key not in finished or not sink.has(p.key, finished[p.key])]
    result = ExportResult(sink.url, {}, "", parts_skipped=len(parts) - len(todo))
    logger.info(
        "export to {}: {} parts, {} finished before, {} to write", sink.url, len(parts), result.parts_skipped, len(todo)
    )
    staging = _staging_for(config, sink)
    args = _source_args(config, plan, shuffle)
    for part, rendered in render_parts(todo, processes or os.cpu_count() or 1, args, (plan, conn), staging):
        sink.put(staging(part), part.key)
        progress.part_done(sink.url, part.key, {"item_type": part.item_type, **rendered.record()})
        crash_point("part_uploaded" if isinstance(sink, S3Sink) else "part_written")
        result.parts_written += 1
        result.items_written += rendered.items
        result.rejects += rendered.rejects
        if on_part:
            on_part(part, rendered)
    result.manifest = build_manifest(plan, parts, finished, cut, identity, source)
    # an export of some tables keeps the tables an earlier run exported to the same place in the manifest
    result.manifest["tables"] = progress.merge_tables(sink.url, result.manifest["tables"])
    _write_rejects(config, location, result.rejects)
    if isinstance(sink, LocalSink):
        sink.remove_stale(earlier | {p.key for p in parts}, _listed(result.manifest))
    result.manifest_at = sink.put_manifest(json.dumps(result.manifest, indent=1).encode("utf-8"))
    result.seconds = time.monotonic() - started
    return result


def _earlier_parts(sink: LocalSink | S3Sink, progress: BulkProgress) -> set[str]:
    """The parts earlier exports wrote to a folder (none looked for under S3)."""
    if not isinstance(sink, LocalSink):
        return set()
    return sink.earlier_parts(progress.data["exports"].get(sink.url, {}).get("parts", {}))


def _listed(manifest: dict[str, Any]) -> set[str]:
    return {p["key"] for t in manifest["tables"].values() for p in t["parts"]}


def _staging_for(config: Config, sink: LocalSink | S3Sink) -> Callable[[PartSpec], Path]:
    if isinstance(sink, LocalSink):
        return lambda part: sink.staging(part.key)
    folder = config.state_dir / "export-staging"
    return lambda part: folder / part.key


def build_manifest(
    plan: Plan,
    parts: Sequence[PartSpec],
    finished: dict[str, dict[str, Any]],
    cut: dict[str, int],
    identity: dict[str, Any],
    source: dict[str, Any],
) -> dict[str, Any]:
    """What the export holds: per table its parts (items, sizes, SHA-256), the mapping and the source."""
    tables: dict[str, dict[str, Any]] = {}
    for part in parts:
        record = finished[part.key]
        table = tables.setdefault(
            part.table,
            {"prefix": f"{part.table}/", "items": 0, "uncompressed_bytes": 0, "compressed_bytes": 0, "parts": []},
        )
        table["items"] += record["items"]
        table["uncompressed_bytes"] += record["uncompressed_bytes"]
        table["compressed_bytes"] += record["compressed_bytes"]
        table["parts"].append({"key": part.key, "source_rows": part.rows, **record})
    return {
        "format": "DYNAMODB_JSON",
        "compression": "GZIP",
        "mapping_set": plan.mapping.directory,
        "mapping_digest": plan.mapping.digest,
        "source": source,
        "table_prefix": plan.table_prefix,
        "part_target_bytes": identity["part_bytes"],
        "rows_per_part": cut,
        "tables": tables,
    }


def run_export(
    config: Config,
    location: str,
    part_mb: float | None = None,
    processes: int | None = None,
    tables: Sequence[str] | None = None,
    on_part: Callable[[PartSpec, PartResult | None], None] | None = None,
) -> ExportResult:
    """The ``export`` command: the selected tables' item types to ``location``; rejected rows to the rejects file."""
    with opened_plan(config, count=False) as (plan, conn):
        return export_items(config, plan, conn, select_item_types(plan, tables), location, part_mb, processes, on_part)


def _write_rejects(config: Config, location: str, reasons: list[str]) -> None:
    """on_error=skip: the rows left out, with the reason, in the rejects file as ``migrate`` writes it."""
    if not reasons:
        return
    rejects = config.state_dir / "rejects.jsonl"
    with open(rejects, "a", encoding="utf-8") as handle:
        for reason in reasons:
            handle.write(json.dumps({"export": location, "reason": reason, "at": time.time()}) + "\n")
    logger.warning("{} rows left out of the export (on_error: skip); see {}", len(reasons), rejects)
