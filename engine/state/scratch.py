"""Scratch folders of a run in the state folder: ``diff-<pid>-<random>``, each holding one temporary SQLite file.

A run removes its own when it ends (``ItemDiff`` closes and deletes it, in
``finally`` through its context manager). A run killed with SIGKILL cannot:
the next ``sync`` or ``plan --diff`` removes the folders whose process is gone
(``remove_abandoned``). Only folders named so, in the state folder, holding
nothing but SQLite files, are ever removed; a folder of a live process (a
concurrent ``validate`` or ``plan --diff``) is left alone.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

from loguru import logger

PREFIX = "diff-"
_NAME = re.compile(PREFIX + r"(\d+)-[A-Za-z0-9_]+")
_FILES = re.compile(r"[a-z]+\.db(-journal|-wal|-shm)?")


def scratch_dir(state_dir: Path | None) -> tempfile.TemporaryDirectory[str]:
    """A new scratch folder named for this process, in ``state_dir`` (None: the system's temporary folder)."""
    if state_dir is not None:
        state_dir.mkdir(parents=True, exist_ok=True)
    return tempfile.TemporaryDirectory(prefix=f"{PREFIX}{os.getpid()}-", dir=state_dir)


def remove_abandoned(state_dir: Path) -> list[Path]:
    """Delete the scratch folders runs that are no longer alive left in ``state_dir``."""
    removed = []
    for folder in sorted(state_dir.glob(f"{PREFIX}*")) if state_dir.is_dir() else []:
        found = _NAME.fullmatch(folder.name)
        if not found or not folder.is_dir() or folder.is_symlink() or _alive(int(found.group(1))):
            continue
        if all(f.is_file() and _FILES.fullmatch(f.name) for f in folder.iterdir()):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
            logger.info("removed {}, left by a run that was killed", folder)
    return removed


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True
