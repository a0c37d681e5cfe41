"""Checkpoints and counters, one JSON file, changed only through named methods.

Writes are atomic (temp file in the same folder, fsync, rename, fsync of the
folder) and keep the previous generation as ``.bak``. Each file carries a
SHA-256 of its content: a truncated or edited file is detected, and the
backup is used instead, with a warning. An advisory lock (fcntl) held for the
whole run keeps two runs off the same state.
"""

from __future__ import annotations

import copy
import fcntl
import hashlib
import json
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import orjson
from loguru import logger

from sqlite2ddb.errors import StateError
from sqlite2ddb.faults import crash_point
from sqlite2ddb.state.disk import state_write

VERSION = 2
#: Versions this code reads; older ones are upgraded in memory by ``_upgrade`` and saved as VERSION.
READABLE_VERSIONS = (1, 2)
Status = Literal["pending", "running", "done", "failed"]
COUNTERS = ("rows_read", "rows_skipped", "items_written", "rows_rejected", "retries", "throttles", "batches")


def _checksum(body: dict[str, Any], canonical: str | None = None) -> str:
    """The body's checksum; ``canonical`` is its ``_canonical`` text when the caller has it already."""
    return hashlib.sha256((canonical if canonical is not None else _canonical(body)).encode()).hexdigest()


def _canonical(body: dict[str, Any]) -> str:
    return json.dumps(body, sort_keys=True, separators=(",", ":"))


def _file_text(document: dict[str, Any], canonical: str) -> str:
    """The state file's text, written by orjson (the standard encoder indents in Python: ~1 ms a save).

    The standard encoder takes what orjson would write differently from what
    the checksum read (NaN and infinities, which orjson writes as null) and
    what it refuses (integers past 64 bits).
    """
    if "NaN" not in canonical and "Infinity" not in canonical:
        try:
            return orjson.dumps(document, option=orjson.OPT_INDENT_2).decode()
        except TypeError:  # orjson.JSONEncodeError
            pass
    return json.dumps(document, indent=1, default=str)


def _new_item_state() -> dict[str, Any]:
    return {
        "status": "pending",
        "cursor": None,
        "total_rows": None,
        **{counter: 0 for counter in COUNTERS},
        "elapsed_s": 0.0,
        "started_at": None,
        "finished_at": None,
        "error": None,
        "table_generation": None,
    }


@dataclass
class Lock:
    """An fcntl lock on ``<state file>.lock`` holding our PID."""

    path: Path
    handle: Any = None

    def acquire(self) -> None:
        with state_write(self.path.parent, f"the lock file {self.path.name}"):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            handle = open(self.path, "a+")  # noqa: SIM115
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            handle.close()
            raise StateError(
                f"another run holds the state lock {self.path} (PID {holder})",
                "wait for it to finish, or stop it",
            ) from None
        try:
            with state_write(self.path.parent, f"the lock file {self.path.name}"):
                handle.seek(0)
                handle.truncate()
                handle.write(str(os.getpid()))
                handle.flush()
        except StateError:
            fcntl.flock(handle, fcntl.LOCK_UN)
            handle.close()
            raise
        self.handle = handle

    def release(self) -> None:
        if self.handle is not None:
            fcntl.flock(self.handle, fcntl.LOCK_UN)
            self.handle.close()
            self.handle = None


class MigrationState:
    """The state of one migration: identity, and per item type status and counters."""

    def __init__(self, path: Path, data: dict[str, Any]) -> None:
        self.path = path
        self._data = data
        self._mutex = threading.Lock()
        # After recovering from the backup, the main file is damaged: it must not
        # be rotated over the only good copy by the next save.
        self._main_damaged = False

    # -- loading -----------------------------------------------------------------
    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> MigrationState:
        """Read the state (or the backup when the file is damaged); a new state if none exists."""
        file = Path(path)
        backup = file.with_name(file.name + ".bak")
        if not file.exists() and not backup.exists():
            return cls(file, _upgrade({"version": VERSION, "identity": {}, "item_types": {}, "runs": 0}))
        data, problem = _read_checked(file)
        if data is not None:
            return cls(file, _upgrade(data))
        backup_data, backup_problem = _read_checked(backup)
        if backup_data is not None:
            logger.warning("state file {} is {}; using the backup {}", file, problem, backup)
            state = cls(file, _upgrade(backup_data))
            state._main_damaged = file.exists()
            return state
        raise StateError(
            f"state file {file} is {problem} and its backup is {backup_problem}",
            "run 'reset' to start over (the tables are left as they are)",
        )

    # -- reading -----------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        with self._mutex:
            return copy.deepcopy(self._data)

    @property
    def identity(self) -> dict[str, Any]:
        return dict(self._data.get("identity", {}))

    @property
    def owner(self) -> str | None:
        """The configuration file (absolute path) this state belongs to."""
        return self._data.get("owner")

    @property
    def tables(self) -> dict[str, dict[str, Any]]:
        """Per table written: its ARN and generation (TableId, or creation time) when last bound."""
        with self._mutex:
            return copy.deepcopy(self._data["tables"])

    @property
    def source_tables(self) -> dict[str, str]:
        """A digest of each source table as the last complete run read it."""
        with self._mutex:
            return dict(self._data.get("source_tables", {}))

    def record_source_tables(self, digests: dict[str, str]) -> None:
        with self._mutex:
            self._data.setdefault("source_tables", {}).update(digests)
        self.save()

    @property
    def capture_position(self) -> int | None:
        """The change-log position the last sync consumed (``sqlite2ddb.sync.capture``); None before any."""
        with self._mutex:
            recorded = self._data.get("capture")
            return None if not recorded else int(recorded["position"])

    def record_capture_position(self, position: int) -> None:
        """Keep the change-log position whose changes are all written and acknowledged."""
        if isinstance(position, bool) or not isinstance(position, int) or position < 0:
            raise StateError(f"a change-log position is a whole number >= 0, not {position!r}")
        with self._mutex:
            self._data["capture"] = {"position": position, "recorded_at": _now()}
        self.save()

    def item_names(self) -> list[str]:
        with self._mutex:
            return list(self._data["item_types"])

    def item(self, name: str) -> dict[str, Any]:
        with self._mutex:
            return dict(self._data["item_types"].get(name) or _new_item_state())

    def status(self, name: str) -> Status:
        return self.item(name)["status"]

    def cursor(self, name: str) -> list[Any] | None:
        return self.item(name)["cursor"]

    def ranges(self, name: str) -> list[dict[str, Any]] | None:
        """The cursor ranges an item type is written in, each with its own checkpoint (None: one stream)."""
        ranges = self.item(name).get("ranges")
        return [dict(r) for r in ranges] if ranges else None

    # -- transitions -------------------------------------------------------------
    def set_identity(self, identity: dict[str, Any]) -> None:
        with self._mutex:
            self._data["identity"] = identity
        self.save()

    def set_owner(self, config_path: str) -> None:
        with self._mutex:
            self._data["owner"] = config_path

    def bind_table(self, name: str, record: dict[str, Any]) -> None:
        """Record which table (ARN, generation) the checkpoints of ``name`` now belong to (saved when it changed)."""
        with self._mutex:
            if self._data["tables"].get(name) == record:
                return
            self._data["tables"][name] = record
        self.save()

    def start_run(self) -> None:
        with self._mutex:
            self._data["runs"] = int(self._data.get("runs", 0)) + 1
            self._data["last_run_started_at"] = _now()

    def mark_running(self, name: str, total_rows: int, table_generation: str | None = None) -> None:
        with self._mutex:
            entry = self._data["item_types"].setdefault(name, _new_item_state())
            entry.update(status="running", total_rows=total_rows, error=None, table_generation=table_generation)
            entry["started_at"] = entry["started_at"] or _now()
        self.save()

    def advance(self, name: str, cursor: list[Any], counters: dict[str, int], elapsed_s: float) -> None:
        """Record an acknowledged position: every row up to ``cursor`` is in DynamoDB.

        In memory only: ``engine.state.commit.Committer`` saves it, after the fingerprints it covers.
        """
        with self._mutex:
            entry = self._data["item_types"][name]
            entry["cursor"] = cursor
            for key, value in counters.items():
                entry[key] = entry.get(key, 0) + value
            entry["elapsed_s"] = round(entry.get("elapsed_s", 0.0) + elapsed_s, 3)

    def set_ranges(self, name: str, bounds: list[tuple[list[Any] | None, list[Any] | None]]) -> None:
        """Split an item type into cursor ranges ``(after, upto]``, written concurrently, none started."""
        with self._mutex:
            entry = self._data["item_types"][name]
            entry["ranges"] = [{"after": a, "upto": u, "cursor": None, "done": False} for a, u in bounds]
        self.save()

    def advance_range(
        self, name: str, index: int, cursor: list[Any], counters: dict[str, int], elapsed_s: float
    ) -> None:
        """Record an acknowledged position in one range: its rows up to ``cursor`` are in DynamoDB (in memory)."""
        with self._mutex:
            entry = self._data["item_types"][name]
            entry["ranges"][index]["cursor"] = cursor
            for key, value in counters.items():
                entry[key] = entry.get(key, 0) + value
            entry["elapsed_s"] = round(entry.get("elapsed_s", 0.0) + elapsed_s, 3)

    def finish_range(self, name: str, index: int) -> None:
        with self._mutex:
            self._data["item_types"][name]["ranges"][index]["done"] = True
        self.save()

    def add_counters(self, name: str, counters: dict[str, int]) -> None:
        """Counters that do not move the checkpoint (retries, throttles)."""
        with self._mutex:
            entry = self._data["item_types"].setdefault(name, _new_item_state())
            for key, value in counters.items():
                entry[key] = entry.get(key, 0) + value

    def mark_done(self, name: str) -> None:
        with self._mutex:
            entry = self._data["item_types"][name]
            entry.update(status="done", finished_at=_now(), error=None)
        self.save()

    def mark_failed(self, name: str, reason: str) -> None:
        with self._mutex:
            entry = self._data["item_types"].setdefault(name, _new_item_state())
            entry.update(status="failed", error=reason)
        self.save()

    def restart(self, name: str) -> None:
        """Forget an item type's progress (``--force``): it is written again from the start."""
        self.void([name])

    def void(self, names: list[str]) -> None:
        """Forget the progress of these item types at once (one save): they start again."""
        with self._mutex:
            for name in names:
                self._data["item_types"][name] = _new_item_state()
        self.save()

    def mark_synced(self, name: str, summary: dict[str, Any], table_generation: str | None, save: bool = True) -> None:
        """A sync made the item type's items equal to what it renders now (or says why not).

        ``save`` False: the caller saves once after marking several (one atomic write for all of them).
        """
        with self._mutex:
            entry = self._data["item_types"].setdefault(name, _new_item_state())
            failed = summary.get("errors", 0) > 0
            entry.update(
                status="failed" if failed else "done",
                cursor=None,
                ranges=None,
                error=f"{summary['errors']} row(s) could not be rendered" if failed else None,
                finished_at=_now(),
                table_generation=table_generation,
                last_sync={**summary, "at": _now()},
            )
        if save:
            self.save()

    def record_validation(self, summary: dict[str, Any]) -> None:
        with self._mutex:
            self._data["last_validation"] = summary
        self.save()

    # -- writing -----------------------------------------------------------------
    def save(self) -> None:
        with self._mutex:
            body = {k: v for k, v in self._data.items() if k != "checksum"}
            body["version"] = VERSION
            body["saved_at"] = _now()
            canonical = _canonical(body)
            text = _file_text({**body, "checksum": _checksum(body, canonical)}, canonical)
            if self._main_damaged:
                os.replace(self.path, self.path.with_name(self.path.name + ".corrupt"))
                self._main_damaged = False
            _atomic_write(self.path, text)


def record_last_validation(path: Path, summary: dict[str, Any]) -> bool:
    """Keep a validation's outcome in the state, for ``status``; False when there is no state or a run holds it.

    A validation reads only, so it never waits for the lock a migrate or sync holds: that run's
    own state is the newer one, and the outcome is still in the validation's report.
    """
    if not path.exists():
        return False
    lock = Lock(path.with_name(path.name + ".lock"))
    try:
        lock.acquire()
    except StateError:
        logger.debug("the state is locked by another run: the validation's outcome is not kept in it")
        return False
    try:
        MigrationState.load(path).record_validation(summary)
    finally:
        lock.release()
    return True


def record_position(state: MigrationState, pos: int) -> None:
    """Record (and save) the change-log position a sync consumed: call it only once the writes it covers
    are acknowledged."""
    state.record_capture_position(pos)


def consumed_position(state: MigrationState) -> int | None:
    """The change-log position the state last consumed; None when no sync recorded one."""
    return state.capture_position


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _read_checked(file: Path) -> tuple[dict[str, Any] | None, str]:
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None, "missing"
    except (OSError, UnicodeDecodeError) as exc:
        return None, f"unreadable ({exc})"
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return None, "truncated or not JSON"
    if not isinstance(data, dict) or "checksum" not in data:
        return None, "not a state file"
    body = {k: v for k, v in data.items() if k != "checksum"}
    if _checksum(body) != data["checksum"]:
        return None, "corrupt (checksum mismatch)"
    if data.get("version") not in READABLE_VERSIONS:
        return None, f"of unsupported version {data.get('version')}"
    return body, "ok"


def _upgrade(data: dict[str, Any]) -> dict[str, Any]:
    """Bring a state of an older version up to date, in memory (it is saved as VERSION).

    Version 1 had no owner and no table generations: both are filled in by the
    next run, from the configuration and the live tables.
    """
    data.setdefault("owner", None)
    data.setdefault("tables", {})
    data.setdefault("identity", {})
    data.setdefault("item_types", {})
    for entry in data["item_types"].values():
        entry.setdefault("table_generation", None)
    return data


def remove_stale_temps(path: Path) -> list[Path]:
    """Delete temp files a killed run left beside the state file; only call under the lock.

    A temp file is never read back: the run that wrote it either renamed it or
    died before the rename, in which case the previous state is the real one.
    """
    stale = sorted(path.parent.glob(f".{path.name}.*.tmp"))
    for temp in stale:
        temp.unlink(missing_ok=True)
        logger.debug("removed {} left by an interrupted run", temp)
    return stale


def _atomic_write(path: Path, text: str) -> None:
    """Temp file, fsync, keep the previous file as .bak, rename, fsync the folder.

    A write that fails (a full disk) removes its temp file and leaves the
    previous state file as it was: one ``StateError`` line, nothing lost.
    """
    temp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    with state_write(path.parent, f"the state file {path.name}", temp):
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(temp, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
    crash_point("state_temp_written")
    with state_write(path.parent, f"the state file {path.name}", temp):
        if path.exists():
            os.replace(path, path.with_name(path.name + ".bak"))
            crash_point("state_backup_moved")
        os.replace(temp, path)
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
