"""What the change capture's triggers cost the application's writes: the same writes with and without them.

Usage::

    python benchmarks/capture_cost.py --writes 2000 --rounds 3

Two copies of Chinook (WAL, ``synchronous=NORMAL``, as an application would
open it), one with ``capture install``'s log and triggers on every table. Each
round runs on both, alternately (so a drift of the machine's load falls on
both): inserts of new tracks, updates of their names, deletes of them; first
one transaction per write (what an application committing each change pays,
fsync included), then all writes of a kind in one transaction (the triggers'
own work, without the commit). Prints the median microseconds per write of
each, the ratio with/without, and the load average: on a shared machine only
the ratio means something.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
import cli as _checkout  # noqa: E402, F401 - binds the name sqlite2ddb to this checkout's engine/
from sqlite2ddb.extract.capture_log import open_source_for_capture  # noqa: E402
from sqlite2ddb.sync.capture_install import install  # noqa: E402

CHINOOK = ROOT / "data" / "Chinook_Sqlite.sqlite"
FIRST_ID = 1_000_000  # the new tracks' ids, above Chinook's


def prepare(folder: Path, name: str, capture: bool) -> Path:
    path = folder / f"{name}.sqlite"
    shutil.copy(CHINOOK, path)
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    if capture:
        writable = open_source_for_capture(path)
        install(writable, tables)
        writable.close()
    return path


def operations(n: int) -> dict[str, tuple[str, Callable[[int], tuple]]]:
    return {
        "insert": (
            "INSERT INTO Track (TrackId, Name, AlbumId, MediaTypeId, GenreId, Milliseconds, UnitPrice) "
            "VALUES (?, ?, 1, 1, 1, 1000, 0.99)",
            lambda i: (FIRST_ID + i, f"track {i}"),
        ),
        "update": ("UPDATE Track SET Name = ? WHERE TrackId = ?", lambda i: (f"renamed {i}", FIRST_ID + i)),
        "delete": ("DELETE FROM Track WHERE TrackId = ?", lambda i: (FIRST_ID + i,)),
    }


def one_round(path: Path, n: int, batched: bool) -> dict[str, float]:
    """Microseconds per write of each kind, on one database."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous=NORMAL")
    out = {}
    for kind, (sql, args) in operations(n).items():
        start = time.perf_counter()
        if batched:
            conn.execute("BEGIN")
        for i in range(n):
            conn.execute(sql, args(i))
        if batched:
            conn.execute("COMMIT")
        out[kind] = (time.perf_counter() - start) / n * 1e6
    conn.close()
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--writes", type=int, default=2000, help="writes of each kind per round (default 2000)")
    ap.add_argument("--rounds", type=int, default=3, help="rounds on each database (default 3; median)")
    args = ap.parse_args(argv)
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        paths = {"without": prepare(folder, "plain", False), "with": prepare(folder, "captured", True)}
        print(f"{args.writes} writes of each kind, {args.rounds} rounds, sqlite {sqlite3.sqlite_version}")
        print(f"{'mode':<22}{'write':<8}{'without µs':>12}{'with µs':>10}{'ratio':>8}")
        for batched, mode in ((False, "a transaction each"), (True, "one transaction")):
            times: dict[str, dict[str, list[float]]] = {"without": {}, "with": {}}
            for r in range(args.rounds):
                order = ("without", "with") if r % 2 == 0 else ("with", "without")
                for which in order:
                    for kind, value in one_round(paths[which], args.writes, batched).items():
                        times[which].setdefault(kind, []).append(value)
            for kind in operations(0):
                plain = statistics.median(times["without"][kind])
                captured = statistics.median(times["with"][kind])
                print(f"{mode:<22}{kind:<8}{plain:>12.1f}{captured:>10.1f}{captured / plain:>8.2f}")
        with sqlite3.connect(paths["with"]) as conn:
            logged = conn.execute("SELECT count(*) FROM _sqlite2ddb_changes").fetchone()[0]
    print(f"log rows written: {logged}")
    print(f"load average before: {load_before[0]:.2f}, after: {os.getloadavg()[0]:.2f} ({os.cpu_count()} CPUs)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
