"""Render parts on every core: each worker process opens the source and compiles the plan once.

A part is rendered the same way in any process (same rows, same item
builder, same serialiser, gzip without a timestamp), so the parts are
byte-identical whatever the number of processes. With one process the parts
are rendered in this process.
"""

from __future__ import annotations

import ctypes
import gzip
import hashlib
import multiprocessing
import os
import random
import signal
import sqlite3
import sys
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any, BinaryIO

from sqlite2ddb.bulk.dynamodb_json import item_line
from sqlite2ddb.bulk.parts import PartSpec
from sqlite2ddb.dynamodb.objects import ObjectStore, s3_client_for
from sqlite2ddb.errors import MigrationError, RowError
from sqlite2ddb.extract.source import open_source
from sqlite2ddb.plan.compile import OffloadLocation, Plan, compile_plan
from sqlite2ddb.render.stream import CHUNK_ROWS, Rows, render
from sqlite2ddb.spec import load_mapping_set

COMPRESS_LEVEL = 6
PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class SourceArgs:
    """What a worker needs to compile the plan on its own (a compiled plan does not cross processes)."""

    mappings: str
    source_db: str
    busy_timeout: float
    table_prefix: str
    on_error: str = "stop"
    offload: OffloadLocation | None = None  # the S3 bucket of offloaded values: objects uploaded with the parts
    aws_region: str = "us-east-1"
    profile: str | None = None
    shuffle: bool = False  # bulk put: each part's lines in a random order fixed by the part's key

    def objects(self) -> ObjectStore | None:
        """The S3 store of offloaded values, when the configuration names one."""
        return ObjectStore(s3_client_for(self.aws_region, self.profile)) if self.offload else None


@dataclass
class PartResult:
    key: str
    items: int = 0
    rows: int = 0
    skipped: int = 0
    uncompressed_bytes: int = 0
    compressed_bytes: int = 0
    sha256: str = ""
    rejects: list[str] = field(default_factory=list)  # on_error=skip: the rows left out and why

    def record(self) -> dict[str, Any]:
        return {
            "items": self.items,
            "rows": self.rows,
            "skipped": self.skipped,
            "rejected": len(self.rejects),
            "uncompressed_bytes": self.uncompressed_bytes,
            "compressed_bytes": self.compressed_bytes,
            "sha256": self.sha256,
        }


class _Hashing:
    """A write-only file that hashes and counts what goes through it."""

    def __init__(self, raw: BinaryIO) -> None:
        self.raw = raw
        self.digest = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        self.size += len(data)
        return self.raw.write(data)

    def flush(self) -> None:
        self.raw.flush()


def render_part(
    plan: Plan,
    conn: sqlite3.Connection,
    part: PartSpec,
    path: Path,
    on_error: str,
    objects: ObjectStore | None = None,
    shuffle: bool = False,
) -> PartResult:
    """Write one part to ``path``: its rows rendered through the plan, one DynamoDB JSON line per item, gzip.

    The S3 objects of offloaded values are uploaded as each chunk is rendered, before the part is finished:
    a part never holds a pointer to an object that is not there. ``shuffle``: the lines in an order drawn
    from the part's key (the same bytes in any process), so that a part read in order does not write one
    partition after another.
    """
    item = plan.item_type(part.item_type)
    result = PartResult(part.key)
    rows = render(conn, item, Rows(after=part.after, first=part.rows))
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as raw:
        hashing = _Hashing(raw)
        with gzip.GzipFile(filename="", mode="wb", fileobj=hashing, mtime=0, compresslevel=COMPRESS_LEVEL) as out:
            held: list[bytes] = []
            while chunk := list(islice(rows, CHUNK_ROWS)):
                result.rows += len(chunk)
                lines = []
                uploads = [u for row in chunk if row.item is not None for u in row.uploads]
                if uploads:
                    if objects is None:
                        raise MigrationError(f"part {part.key}: its items point at S3 objects and no store is open")
                    objects.put_all(uploads)
                for row in chunk:
                    if row.item is not None:
                        lines.append(item_line(row.item))
                    elif row.error is not None:
                        _row_error(result, row.error, on_error)
                    else:
                        result.skipped += 1
                result.items += len(lines)
                result.uncompressed_bytes += sum(len(line) for line in lines)
                if shuffle:
                    held += lines
                else:
                    out.write(b"".join(lines))
            if held:
                random.Random(part.key).shuffle(held)
                out.write(b"".join(held))
    result.compressed_bytes = hashing.size
    result.sha256 = hashing.digest.hexdigest()
    return result


def _row_error(result: PartResult, error: RowError, on_error: str) -> None:
    if on_error != "skip":
        raise error
    result.rejects.append(str(error))


_WORKER: dict[str, Any] = {}


def _die_with_parent() -> None:
    """Linux: a worker is killed when the process that started it dies (even by SIGKILL), never left orphaned."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL("libc.so.6", use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        except OSError:
            pass
        if os.getppid() == 1:  # the parent died before the call
            os._exit(1)


def _start_worker(args: SourceArgs) -> None:
    _die_with_parent()
    conn = open_source(args.source_db, args.busy_timeout)
    mapping = load_mapping_set(args.mappings)
    _WORKER["plan"] = compile_plan(mapping, conn, args.table_prefix, count=False, offload=args.offload)
    _WORKER["conn"] = conn
    _WORKER["on_error"] = args.on_error
    _WORKER["objects"] = args.objects()
    _WORKER["shuffle"] = args.shuffle


def _work(part: PartSpec, path: str) -> PartResult:
    try:
        return render_part(
            _WORKER["plan"],
            _WORKER["conn"],
            part,
            Path(path),
            _WORKER["on_error"],
            _WORKER["objects"],
            _WORKER["shuffle"],
        )
    except MigrationError as exc:
        # our exceptions carry arguments pickling does not restore: send the line back as a plain error
        raise MigrationError(str(exc)) from None


def render_parts(
    parts: Sequence[PartSpec],
    processes: int,
    args: SourceArgs,
    local: tuple[Plan, sqlite3.Connection],
    path_for: Callable[[PartSpec], Path],
) -> Iterator[tuple[PartSpec, PartResult]]:
    """Render the parts, ``processes`` at a time; yield each as it is finished (not in order).

    At most two parts per process are queued ahead, so the parts waiting for
    the caller (to upload, to record) stay few whatever the table's size.
    """
    if processes <= 1 or len(parts) <= 1:
        plan, conn = local
        objects = args.objects() if any(i.offload for i in plan.item_types) else None
        for part in parts:
            yield part, render_part(plan, conn, part, path_for(part), args.on_error, objects, args.shuffle)
        return
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(processes, mp_context=context, initializer=_start_worker, initargs=(args,)) as pool:
        pending: dict[Future[PartResult], PartSpec] = {}
        queue = iter(parts)
        try:
            while True:
                for part in islice(queue, max(0, 2 * processes - len(pending))):
                    pending[pool.submit(_work, part, str(path_for(part)))] = part
                if not pending:
                    return
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in sorted(done, key=lambda f: pending[f].key):
                    part = pending.pop(future)
                    yield part, future.result()
        finally:
            for future in pending:
                future.cancel()
