"""Issue 24, case 9: what a killed sync leaves in the state folder goes with the next sync.

A real SIGKILL (``SQLITE2DDB_KILL_AT``, engine/faults.py) of ``python3 cli.py
sync`` in the middle of its writes leaves its copy of the source
(``snapshot-*.sqlite``) and its comparison folder (``diff-<pid>-*``) in the
state folder; the next sync, which finishes, removes both, and its own.
"""

from __future__ import annotations

import signal
import sqlite3
from pathlib import Path

from conftest import count_items, run_process, write_config
from songs_and_plays import PLAYS, SONGS

KILL_AT = "SQLITE2DDB_KILL_AT"
EXTRA = 4000


def leftovers(state_dir: Path) -> list[str]:
    return sorted(p.name for p in state_dir.iterdir() if p.name.startswith(("snapshot-", "diff-")))


def test_a_later_sync_removes_what_a_killed_sync_left(
    music: tuple[Path, Path], tmp_path: Path, ddb_url: str, ddb: object, prefix: str
) -> None:
    source, mappings = music
    with sqlite3.connect(source) as conn:  # enough plays that the sync is still comparing when it is killed
        conn.executemany("INSERT INTO play VALUES (?, 1, 'zoe', 60)", [(PLAYS + i,) for i in range(1, EXTRA + 1)])
    conn.close()
    config = write_config(tmp_path / "run", source, ddb_url, prefix, mappings)
    state_dir = tmp_path / "run" / "state"
    migrated = run_process(config, "migrate", "--no-validate")
    assert migrated.returncode == 0, migrated.stderr[-2000:]
    assert leftovers(state_dir) == []
    with sqlite3.connect(source) as conn:  # something for the sync to write
        conn.execute("UPDATE play SET listener = listener || '!'")
    conn.close()

    killed = run_process(config, "sync", "--no-validate", env={KILL_AT: "fingerprints_saved:3"})
    assert killed.returncode == -signal.SIGKILL, (killed.returncode, killed.stderr[-2000:])
    left = leftovers(state_dir)
    assert any(n.startswith("snapshot-") for n in left), left  # the kill left both, as the issue found
    assert any(n.startswith("diff-") for n in left), left

    synced = run_process(config, "sync", "--no-validate")
    assert synced.returncode == 0, synced.stderr[-2000:]
    assert leftovers(state_dir) == []
    assert count_items(ddb, f"{prefix}PlayHistory") == PLAYS + EXTRA
    assert count_items(ddb, f"{prefix}MusicCatalog") == SONGS
