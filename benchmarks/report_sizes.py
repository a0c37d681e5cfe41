"""How large the HTML report and the time series (``timeline.jsonl``) are for Chinook x1 and x10.

Usage::

    python benchmarks/report_sizes.py                 # scales 1 and 10, full validation
    python benchmarks/report_sizes.py --scale 1 --scale 3 --sample 200

For each scale: Chinook (x1) or ``benchmarks/generate.py --scale N --seed 42``
is migrated with ``cli.py migrate --no-validate`` into fresh tables of an
in-memory DynamoDB Local, then ``cli.py validate --report report.html`` runs
(``--sample`` to compare a sample instead of every item). Printed per scale:
items written, the migration's seconds, the lines and bytes of the time
series, and the bytes of the HTML and JSON reports.

The time series must stay under ``TIMELINE_LIMIT`` bytes for every scale
measured (its size follows the run's duration, not its item count; see
engine/migrate/timeline.py); the script exits 1 when it does not.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
import cli as _checkout  # noqa: E402, F401 - binds the name sqlite2ddb to this checkout's engine/
from sqlite2ddb.commands import init_config  # noqa: E402
from sqlite2ddb.config import load_config, save_config  # noqa: E402
from sqlite2ddb.dynamodb import local as local_dynamodb  # noqa: E402
from sqlite2ddb.migrate.timeline import FILE_NAME  # noqa: E402

CHINOOK = ROOT / "data" / "Chinook_Sqlite.sqlite"
TIMELINE_LIMIT = 100_000


def cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "cli.py"), "-c", str(config), *args], cwd=ROOT, capture_output=True, text=True
    )


def measure(scale: int, folder: Path, endpoint: str, sample: int | None) -> dict[str, float]:
    source = CHINOOK
    if scale > 1:
        source = folder / f"chinook-x{scale}.sqlite"
        subprocess.run(
            [sys.executable, str(ROOT / "benchmarks" / "generate.py"), "--scale", str(scale), "--seed", "42",
             "--out", str(source)],
            check=True, capture_output=True,
        )  # fmt: skip
    path = folder / f"x{scale}" / "migration.json"
    path.parent.mkdir(parents=True)
    config = init_config(str(path), str(source), str(ROOT / "mappings" / "chinook"), "us-east-1", 25,
                         f"x{scale}_", "local", endpoint, None)  # fmt: skip
    data = config.to_json()
    data["migration_settings"]["state_file"] = str(path.parent / "state" / "migration_state.json")
    data["logging"]["file"] = str(path.parent / "logs" / "migration.log")
    path.write_text(json.dumps(data, indent=2))
    save_config(load_config(path))
    started = time.monotonic()
    migrated = cli(path, "migrate", "--no-validate")
    seconds = time.monotonic() - started
    if migrated.returncode != 0:
        raise SystemExit(f"migrate x{scale} failed: {migrated.stderr[-2000:]}")
    report = path.parent / "report.html"
    validated = cli(path, "validate", "--report", str(report), *(["--sample", str(sample)] if sample else []))
    if validated.returncode != 0:
        raise SystemExit(f"validate x{scale} failed: {validated.stdout[-2000:]} {validated.stderr[-2000:]}")
    timeline = path.parent / "state" / FILE_NAME
    document = json.loads(report.with_suffix(".json").read_text())
    return {
        "scale": scale,
        "items": sum(i["items"] for i in document["run"]["migrate"]["item_types"]),
        "migrate_seconds": round(seconds, 1),
        "timeline_lines": len(timeline.read_text().splitlines()),
        "timeline_bytes": timeline.stat().st_size,
        "html_bytes": report.stat().st_size,
        "json_bytes": report.with_suffix(".json").stat().st_size,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=int, action="append", help="scale factors (default 1 and 10)")
    parser.add_argument("--sample", type=int, default=None, help="validate a sample of N items per item type")
    args = parser.parse_args()
    server = local_dynamodb.start(None, in_memory=True)
    rows = []
    try:
        with tempfile.TemporaryDirectory(prefix="report-sizes-") as folder:
            for scale in args.scale or [1, 10]:
                rows.append(measure(scale, Path(folder), server.url, args.sample))
                print(json.dumps(rows[-1]), flush=True)
    finally:
        server.stop()
    print(f"{'scale':>5} {'items':>8} {'migrate s':>9} {'timeline':>16} {'HTML':>9} {'JSON':>9}")
    for r in rows:
        print(
            f"x{r['scale']:<4} {r['items']:>8} {r['migrate_seconds']:>9} "
            f"{r['timeline_lines']:>5} l {r['timeline_bytes']:>7} B {r['html_bytes']:>7} B {r['json_bytes']:>7} B"
        )
    over = [r for r in rows if r["timeline_bytes"] > TIMELINE_LIMIT]
    if over:
        raise SystemExit(f"time series over {TIMELINE_LIMIT} bytes: {over}")
    print(f"time series under {TIMELINE_LIMIT} bytes at every scale")


if __name__ == "__main__":
    main()
