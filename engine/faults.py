"""Crash points for the crash-recovery tests: a real SIGKILL at a named place.

Set ``SQLITE2DDB_KILL_AT=<point>:<n>`` and the process kills itself with
SIGKILL the n-th time it reaches ``crash_point(<point>)``. Unset (always, in
normal use) the check is one dictionary lookup. The points mark the moments
where a crash is most likely to lose or duplicate work:

- ``table_created``: CreateTable sent, table not yet ACTIVE
- ``before_write``: a batch is about to be sent
- ``after_write``: DynamoDB acknowledged a batch, its checkpoint not yet saved
- ``state_temp_written``: the new state file is on disk under its temp name
- ``state_backup_moved``: the old state is now the .bak, the new one not yet renamed
- ``after_checkpoint``: a checkpoint was saved
"""

from __future__ import annotations

import os
import signal
import threading

ENV = "SQLITE2DDB_KILL_AT"
_spec = os.environ.get(ENV, "")
_point, _, _nth = _spec.partition(":")
_target = int(_nth or 1) if _spec else 0
_hits = 0
_lock = threading.Lock()


def crash_point(name: str) -> None:
    """SIGKILL this process if the environment asks for a crash here."""
    global _hits
    if name != _point:
        return
    with _lock:
        _hits += 1
        if _hits == _target:
            os.kill(os.getpid(), signal.SIGKILL)
