"""How long ``scaffold`` takes as the source grows: Chinook x1 against Chinook xN.

Usage::

    python benchmarks/scaffold.py --db /tmp/chinook_x30.sqlite [--baseline data/Chinook_Sqlite.sqlite] [--repeat 3]

Both databases are scaffolded in this process, alternating, ``--repeat``
times each; the medians and their ratio are printed as one JSON object.
Make the large database first with ``benchmarks/generate.py``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
import cli as _checkout  # noqa: E402, F401 - binds the name sqlite2ddb to this checkout's engine/
from sqlite2ddb.scaffold import scaffold  # noqa: E402


def timed(source: str, out: Path) -> tuple[float, dict[str, int]]:
    shutil.rmtree(out, ignore_errors=True)
    started = time.perf_counter()
    result = scaffold(source, str(out))
    seconds = time.perf_counter() - started
    counts = {"item_types": result.item_types, "embeds": result.embeds, "access_patterns": result.access_patterns}
    return seconds, counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True, help="the large database")
    parser.add_argument("--baseline", default=str(ROOT / "data" / "Chinook_Sqlite.sqlite"))
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    runs: dict[str, list[float]] = {"baseline": [], "db": []}
    counts: dict[str, dict[str, int]] = {}
    with tempfile.TemporaryDirectory() as folder:
        for _ in range(args.repeat):
            for name, source in (("baseline", args.baseline), ("db", args.db)):
                seconds, counts[name] = timed(source, Path(folder) / name / "scaffolded")
                runs[name].append(seconds)
    medians = {name: statistics.median(times) for name, times in runs.items()}
    print(
        json.dumps(
            {
                "baseline": {"path": args.baseline, "median_s": round(medians["baseline"], 3), **counts["baseline"]},
                "db": {"path": args.db, "median_s": round(medians["db"], 3), **counts["db"]},
                "ratio_db_to_baseline": round(medians["db"] / medians["baseline"], 1),
                "size_ratio": round(Path(args.db).stat().st_size / Path(args.baseline).stat().st_size, 1),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
