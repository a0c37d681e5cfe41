"""Writing the generated files: only into an empty folder or one codegen wrote, never over a file it did not write.

The folder gets a marker file (``validate.generated.MARKER``) before anything
else, listing the files codegen writes there and the mapping set's digest.
A folder that holds files but no marker is refused; in a folder with one,
only the files the marker lists are replaced (and those it listed that are no
longer generated are removed).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from sqlite2ddb.errors import UsageError
from sqlite2ddb.validate.generated import MARKER, read_marker


def write_files(out: Path, files: dict[str, str], record: Mapping[str, object]) -> list[Path]:
    """Write ``files`` (relative path -> text) into ``out``; the paths written."""
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out}: is a file, not a folder")
    marker = read_marker(out) if out.is_dir() else None
    if marker is None and out.is_dir() and any(out.iterdir()):
        raise UsageError(
            f"--out {out}: the folder holds files codegen did not write ({MARKER} missing)",
            "choose an empty or new folder",
        )
    owned = set(marker.get("files", [])) if marker else set()
    for name in files:
        if (out / name).exists() and name not in owned:
            raise UsageError(f"--out {out}: {name} exists and was not written by codegen", "move it away first")
    out.mkdir(parents=True, exist_ok=True)
    listing: dict[str, object] = {**record, "tool": "sqlite2ddb codegen", "files": sorted(owned | set(files))}
    (out / MARKER).write_text(json.dumps(listing, indent=2) + "\n", encoding="utf-8")
    written = []
    for name, text in files.items():
        path = out / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    for name in sorted(owned - set(files)):
        (out / name).unlink(missing_ok=True)
    listing["files"] = sorted(files)
    (out / MARKER).write_text(json.dumps(listing, indent=2) + "\n", encoding="utf-8")
    return written
