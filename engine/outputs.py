"""Files the tool writes for people: validation reports, reviewed plans, model exports.

Never overwrite a file the tool did not write. Every command that writes such
a file calls ``check`` with all of them BEFORE any work starts (a validation
that ran for an hour must not end by replacing the configuration). A target
is refused, in one line naming it (``UsageError``, exit 2), when it is:

- the configuration file, a file of the state folder, a mapping file, the
  source database (or its -wal, -shm, -journal), the log file, or one of the
  command's own input files (``report R.json -o R.json``);
- an existing file that does not carry the marker of the same kind of output,
  which the tool writes into each of them: a ``generator`` field first in the
  JSON, a ``<meta name="generator">`` tag in the HTML head, a first line in the
  Markdown (model exports, whose formats allow no extra field, are recognised
  by the ``sqlite2ddb export-model`` their own fields carry);
- a folder, a read-only file (by its permission bits, so root is stopped
  too), or a place whose folder cannot be created or written.

``write`` writes one checked output atomically (temp file, rename), checking
it once more first: the file may have appeared during the run.
"""

from __future__ import annotations

import base64
import json
import os
import re
import stat
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlite2ddb.errors import UsageError

if TYPE_CHECKING:
    from sqlite2ddb.config import Config

TOOL = "sqlite2ddb"
HEAD_BYTES = 4096  # the markers are all at the start of a file
VALIDATION_REPORT = "validation report"
REVIEWED_PLAN = "reviewed plan"
MODEL_EXPORT = "export-model"


def marker(kind: str) -> str:
    """The text every marker of this kind carries: ``sqlite2ddb validation report``."""
    return f"{TOOL} {kind}"


def json_marker(kind: str) -> dict[str, str]:
    """The field a JSON output starts with (put it first: ``{**json_marker(k), **document}``)."""
    return {"generator": marker(kind)}


def html_marker(kind: str) -> str:
    return f'<meta name="generator" content="{marker(kind)}">'


def markdown_marker(kind: str) -> str:
    """The first line of a Markdown output (an HTML comment: invisible when rendered)."""
    return f"<!-- generator: {marker(kind)} -->"


@dataclass(frozen=True)
class Output:
    """One file a command will write: where, what kind (a marker's text), in which form."""

    path: Path
    kind: str
    form: str  # json | html | markdown | model (a JSON whose own fields name the tool)

    def carries_marker(self) -> bool:
        """True when the file now at ``path`` is an output of the same kind and form, written by the tool."""
        head = _head(self.path)
        text = re.escape(marker(self.kind))
        if self.form == "json":
            return re.match(r'\{\s*"generator"\s*:\s*"' + text + '"', head) is not None
        if self.form == "html":
            return re.search(r'<meta\s+name="generator"\s+content="' + text + '"', head[:HEAD_BYTES]) is not None
        if self.form == "markdown":
            return head.split("\n", 1)[0].strip() == markdown_marker(self.kind)
        return head.lstrip().startswith("{") and marker(self.kind) in head


@dataclass(frozen=True)
class Protected:
    """Paths no output may name: files, and folders whose whole content is the tool's or the user's own."""

    files: dict[Path, str]  # resolved path -> what it is
    folders: dict[Path, str]

    def reason(self, path: Path) -> str | None:
        resolved = _resolved(path)
        if resolved in self.files:
            return self.files[resolved]
        for folder, what in self.folders.items():
            if resolved.is_relative_to(folder):
                return what
        for file, what in self.files.items():
            if resolved.exists() and file.exists() and os.path.samefile(resolved, file):
                return what  # a hard link to a protected file
        return None


def protected(config: Config | None = None, inputs: Iterable[str | os.PathLike[str]] = ()) -> Protected:
    """What a command with this configuration and these input files must never write over."""
    files: dict[Path, str] = {_resolved(Path(p)): "is an input file of this command" for p in inputs}
    folders: dict[Path, str] = {}
    if config is not None:
        files[_resolved(Path(config.path))] = "is the configuration file"
        source = Path(config.source_db)
        for name in (source.name, *(f"{source.name}{s}" for s in ("-wal", "-shm", "-journal"))):
            files[_resolved(source.with_name(name))] = "is the source database"
        files[_resolved(config.log_path)] = "is the log file"
        mappings = Path(config.mappings)
        if mappings.is_dir():
            folders[_resolved(mappings)] = "is in the mapping set"
        else:
            files[_resolved(mappings)] = "is the mapping file"
        state_dir = _resolved(config.state_dir)
        if _resolved(Path.cwd()).is_relative_to(state_dir):
            # a state file named in the working folder: its own files only, not every file around it
            for file in config.state_dir.glob(f"{config.state_path.name}*"):
                files[_resolved(file)] = "is a file of the state folder"
            files[_resolved(config.state_path)] = "is the state file"
        else:
            folders[state_dir] = "is in the state folder"
    return Protected(files, folders)


def check(outputs: Sequence[Output], guard: Protected) -> None:
    """Refuse, naming the file, any output that would replace what the tool did not write."""
    for output in outputs:
        refusal = _refusal(output, guard)
        if refusal:
            raise UsageError(f"{output.path}: {refusal}; nothing was run")


def write(output: Output, text: str, guard: Protected) -> Path:
    """Write one output (checked again: a file may have appeared there meanwhile), atomically."""
    refusal = _refusal(output, guard)
    if refusal:
        raise UsageError(f"{output.path}: {refusal}; the file was left as it is")
    output.path.parent.mkdir(parents=True, exist_ok=True)
    temp = output.path.with_name(f".{output.path.name}.{os.getpid()}.tmp")
    try:
        temp.write_text(text, encoding="utf-8")
        os.replace(temp, output.path)
    except OSError as exc:
        temp.unlink(missing_ok=True)
        raise UsageError(f"{output.path}: cannot write it: {exc.strerror or exc}") from None
    return output.path


def _refusal(output: Output, guard: Protected) -> str | None:
    """Why this output may not be written, or None."""
    what = guard.reason(output.path)
    if what:
        return f"{what}: a {output.kind} is never written there; name another file"
    path = output.path
    if path.is_dir():
        return f"a folder; name a file for the {output.kind}"
    if path.exists() or path.is_symlink():
        if not path.exists() or not path.is_file():
            return "not a regular file; name another file"
        if not _writable(path):
            return "read-only; name another file"
        if not output.carries_marker():
            return (
                f"exists and was not written by {TOOL} (it lacks the {output.kind}'s marker); "
                "move it away or name another file"
            )
        return None
    folder = _nearest_existing(path.parent)
    if not folder.is_dir():
        return f"{folder} is not a folder"
    if not _writable(folder):
        return f"the folder {folder} is not writable"
    return None


def _writable(path: Path) -> bool:
    """Writable by us, and not marked read-only by its permission bits (which root would ignore)."""
    mode = path.stat().st_mode
    return os.access(path, os.W_OK) and bool(mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


def _nearest_existing(folder: Path) -> Path:
    """The folder itself, or the closest ancestor that exists (missing folders are created on writing)."""
    current = folder.absolute()
    while not current.exists() and current != current.parent:
        current = current.parent
    return current


def _resolved(path: Path) -> Path:
    return Path(os.path.realpath(path))


def _head(path: Path) -> str:
    try:
        with open(path, "rb") as handle:
            return handle.read(HEAD_BYTES).decode("utf-8", errors="replace")
    except OSError:
        return ""


def json_default(value: Any) -> Any:
    """JSON for what the documents hold besides plain data: Decimal numbers, bytes (base64), sets."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, set):
        return sorted(value)
    return str(value)


def json_text(document: Any) -> str:
    """A document as the commands print and write it: indented, non-ASCII kept, no trailing newline."""
    return json.dumps(document, indent=2, ensure_ascii=False, default=json_default)
