"""``validate --generated DIR``: the access patterns answered through the generated data-access code.

``load_generated`` imports the package ``codegen`` wrote into DIR (in this
process, by file path: nothing is installed) after checking that it was
generated from the mapping set being validated, and connects it to the
validation's own DynamoDB client. ``GeneratedMethod`` answers one pattern
through its generated method, as plain dicts for the same comparison with SQL
that validate makes of its own requests, and counts its calls so that a
pattern is never reported proven by code that did not run.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import re
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

from sqlite2ddb.errors import TargetError, UsageError
from sqlite2ddb.spec.model import AccessPatternSpec

#: The file codegen writes first into its output folder; it lists what codegen wrote there.
MARKER = ".sqlite2ddb-codegen.json"


def method_name(pattern_name: str) -> str:
    """``p02-albums-of-artist`` -> ``p02_albums_of_artist`` (a Python identifier)."""
    name = re.sub(r"[^0-9A-Za-z]+", "_", pattern_name).strip("_").lower() or "pattern"
    return f"p_{name}" if name[0].isdigit() else name


def read_marker(directory: Path) -> dict[str, Any] | None:
    """What codegen recorded in ``directory``, or None when it did not write there."""
    marker = directory / MARKER
    if not marker.is_file():
        return None
    try:
        data = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("tool") == "sqlite2ddb codegen" else None


def load_generated(directory: str | Path, mapping_digest: str) -> ModuleType:
    """The generated package in ``directory``, imported; UsageError when it is not there or is stale."""
    folder = Path(directory)
    marker = read_marker(folder)
    if marker is None:
        raise UsageError(f"--generated {folder}: no generated code there ({MARKER} missing)", "run codegen first")
    if marker.get("mapping_digest") != mapping_digest:
        raise UsageError(
            f"--generated {folder}: generated from another version of the mapping set "
            f"({marker.get('mapping_digest', '?')[:12]}, now {mapping_digest[:12]})",
            "run codegen again",
        )
    package = str(marker["package"])
    init = folder / package / "__init__.py"
    unique = f"_sqlite2ddb_generated_{abs(hash((str(folder.resolve()), init.stat().st_mtime_ns)))}"
    spec = importlib.util.spec_from_file_location(unique, init)
    if spec is None or spec.loader is None:
        raise UsageError(f"--generated {folder}: cannot import {init}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[unique] = module  # dataclasses look their module up while the class is made
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # noqa: BLE001 - a broken generated file is bad input
        sys.modules.pop(unique, None)
        raise UsageError(f"--generated {folder}: {init} does not import: {type(exc).__name__}: {exc}") from None
    return module


class GeneratedMethod:
    """One access pattern answered by its generated method; ``calls`` counts the answers it gave."""

    def __init__(self, api: Any, pattern: AccessPatternSpec) -> None:
        self.name = method_name(pattern.name)
        self.method = getattr(api, self.name, None)
        self.calls = 0
        self._lock = threading.Lock()

    def answer(self, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """The method's answer for one parameter row, as plain dicts; TargetError when it fails or is missing."""
        if self.method is None:
            raise TargetError(f"the generated code has no method {self.name}")
        try:
            result = self.method(**params)
        except Exception as exc:  # noqa: BLE001 - whatever the generated code raises fails this answer
            raise TargetError(f"generated {self.name} raised {type(exc).__name__}: {exc}") from None
        with self._lock:
            self.calls += 1
        records = [] if result is None else result if isinstance(result, list) else [result]
        return iter([_plain(record) for record in records])


def _plain(record: Any) -> Any:
    """A generated record (a dataclass, maybe nesting others) as the dict DynamoDB's item gives."""
    if dataclasses.is_dataclass(record) and not isinstance(record, type):
        return {f.name: _plain(getattr(record, f.name)) for f in dataclasses.fields(record)}
    if isinstance(record, list):
        return [_plain(v) for v in record]
    if isinstance(record, dict):
        return {k: _plain(v) for k, v in record.items()}
    return record
