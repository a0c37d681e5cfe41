"""The bulk path's checkpoints: finished parts per export location, ImportTable and bulk put calls per table.

One JSON file in the configuration's state folder (``bulk_state.json``),
written whole to a temporary file and renamed in, so a kill leaves the old
version or the new one. It is separate from the migration's state file:
the BatchWriteItem checkpoints are not touched by the bulk path.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from loguru import logger

from sqlite2ddb.errors import StateError

FILE_NAME = "bulk_state.json"


class BulkProgress:
    def __init__(self, path: Path, data: dict[str, Any]) -> None:
        self.path = path
        self.data = data

    @classmethod
    def load(cls, state_dir: Path) -> BulkProgress:
        path = state_dir / FILE_NAME
        data: dict[str, Any] = {"exports": {}, "imports": {}, "bulk_puts": {}, "via_s3": None}
        if path.exists():
            try:
                data.update(json.loads(path.read_text(encoding="utf-8")))
            except (OSError, ValueError) as exc:
                raise StateError(f"{path} cannot be read: {exc}", f"remove {path} to export everything again") from None
        return cls(path, data)

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temp = self.path.with_name(self.path.name + ".tmp")
        with open(temp, "w", encoding="utf-8") as handle:
            json.dump(self.data, handle, indent=1, sort_keys=True)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, self.path)

    # ------------------------------------------------------------------ exports
    def export_parts(self, location: str, identity: dict[str, Any]) -> dict[str, dict[str, Any]]:
        """The finished parts of an export to ``location``; forgotten when the mapping, source or part size changed."""
        exports = self.data["exports"]
        entry = exports.get(location)
        if entry is not None and entry.get("identity") != identity:
            logger.warning(
                "the export to {} was made from another mapping, source or part size: every part is written again",
                location,
            )
            entry = None
        if entry is None:
            entry = exports[location] = {"identity": identity, "parts": {}}
        parts: dict[str, dict[str, Any]] = entry["parts"]
        return parts

    def part_bytes(self, location: str, default: int) -> int:
        """The part size an earlier export to ``location`` used, so that resuming it needs no option."""
        entry = self.data["exports"].get(location) or {}
        size: int = entry.get("identity", {}).get("part_bytes", default)
        return size

    def merge_tables(self, location: str, tables: dict[str, Any]) -> dict[str, Any]:
        """The manifest's tables: those exported now, and those exported to the same place before."""
        entry = self.data["exports"][location]
        merged: dict[str, Any] = {**entry.get("tables", {}), **tables}
        entry["tables"] = merged
        self.save()
        return dict(sorted(merged.items()))

    def part_done(self, location: str, key: str, record: dict[str, Any]) -> None:
        self.data["exports"][location]["parts"][key] = record
        self.save()

    # ------------------------------------------------------------------ imports
    def import_record(self, table: str) -> dict[str, Any] | None:
        record: dict[str, Any] | None = self.data["imports"].get(table)
        return record

    def set_import(self, table: str, **fields: Any) -> None:
        self.data["imports"].setdefault(table, {}).update(fields)
        self.save()

    def forget_import(self, table: str) -> None:
        if self.data["imports"].pop(table, None) is not None:
            self.save()

    # ------------------------------------------------------------------ bulk puts
    def bulk_put_record(self, table: str) -> dict[str, Any] | None:
        record: dict[str, Any] | None = self.data["bulk_puts"].get(table)
        return record

    def set_bulk_put(self, table: str, **fields: Any) -> None:
        self.data["bulk_puts"].setdefault(table, {}).update(fields)
        self.save()

    def forget_bulk_put(self, table: str) -> None:
        if self.data["bulk_puts"].pop(table, None) is not None:
            self.save()

    def set_via_s3(self, location: str | None, tables: list[str] | None = None) -> None:
        """The ``migrate --via-s3`` under way (None: none), and the tables it was asked for (None: all)."""
        self.data["via_s3"] = {"location": location, "tables": tables} if location else None
        self.save()
