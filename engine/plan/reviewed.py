"""A reviewed plan is the executed plan: ``plan --out FILE`` then ``migrate --plan FILE``,
``plan --diff --out FILE`` then ``sync --plan FILE``.

The file holds what the reviewer saw, with the three things it depends on:
the mapping digest, the source snapshot (SHA-256 of the database and its WAL)
and the target identity. Executing it refuses, naming what changed, when any
of the three differs since the review; for a sync, also when the difference
itself is not the one reviewed (someone else synced or changed the store).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from sqlite2ddb.errors import StateError, UsageError
from sqlite2ddb.outputs import REVIEWED_PLAN, Output, Protected, json_marker, write

VERSION = 1


def basis(mapping_digest: str, source: dict[str, Any], target: str) -> dict[str, Any]:
    """What a plan depends on."""
    return {
        "mapping_digest": mapping_digest,
        "source": {"path": source["path"], "sha256": source["sha256"]},
        "target": target,
    }


def output(path: str | Path) -> Output:
    """The file ``plan --out`` writes (check it with ``outputs.check`` before planning)."""
    return Output(Path(path), REVIEWED_PLAN, "json")


def save(path: str | Path, kind: str, document: dict[str, Any], depends_on: dict[str, Any], guard: Protected) -> Path:
    body = {
        **json_marker(REVIEWED_PLAN),
        "version": VERSION,
        "kind": kind,
        "saved_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    text = json.dumps({**body, "basis": depends_on, "plan": document}, indent=2, default=str) + "\n"
    return write(output(path), text, guard)


def load(path: str | Path, kind: str) -> dict[str, Any]:
    file = Path(path)
    try:
        data = json.loads(file.read_text())
    except FileNotFoundError:
        raise UsageError(
            f"plan file {file} not found", f"write it with 'plan {'--diff ' if kind == 'sync' else ''}--out {file}'"
        ) from None
    except (OSError, ValueError) as exc:
        raise UsageError(f"plan file {file} is not readable: {exc}") from None
    if not isinstance(data, dict) or data.get("version") != VERSION or data.get("kind") != kind:
        want = "plan --diff --out" if kind == "sync" else "plan --out"
        raise UsageError(f"{file} is not a plan file for {kind} (write one with '{want}')")
    return data


def check(path: str | Path, data: dict[str, Any], now: dict[str, Any]) -> None:
    """Refuse when the mapping, the source or the target changed since the plan was reviewed."""
    then = data["basis"]
    changed = []
    if then["mapping_digest"] != now["mapping_digest"]:
        changed.append(f"the mapping (digest {then['mapping_digest'][:12]} -> {now['mapping_digest'][:12]})")
    if then["source"]["sha256"] != now["source"]["sha256"]:
        changed.append(
            f"the source {now['source']['path']} (SHA-256 {then['source']['sha256'][:12]} -> {now['source']['sha256'][:12]})"
        )
    if then["target"] != now["target"]:
        changed.append(f"the target ({then['target']} -> {now['target']})")
    if changed:
        raise StateError(
            f"the plan {path} was reviewed on {data['saved_at']}; since then {'; '.join(changed)} changed",
            "review a new plan",
        )
