"""Shared fixtures: one DynamoDB Local per test session, real SQLite files, the CLI.

DynamoDB Local runs in memory with -sharedDb on a free port. Each test gets
its own table prefix, state folder and configuration file, so tests do not
see each other's tables or checkpoints.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from click.testing import CliRunner, Result

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cli import cli  # noqa: E402
from sqlite2ddb.commands import init_config  # noqa: E402
from sqlite2ddb.config import load_config, save_config  # noqa: E402
from sqlite2ddb.dynamodb import local as local_dynamodb  # noqa: E402

CHINOOK = ROOT / "data" / "Chinook_Sqlite.sqlite"
CHINOOK_MAPPINGS = ROOT / "mappings" / "chinook"
FAKE_CREDENTIALS = {"aws_access_key_id": "test", "aws_secret_access_key": "test"}


def every_attribute_type(n: int) -> dict[str, Any]:
    """An item (key: "pk" S, "sk" B) with every DynamoDB attribute type, binary values at every level, and
    text that JSON must escape: what the tool's own request and answer handling must carry as botocore does."""
    return {
        "pk": {"S": "P"},
        "sk": {"B": bytes([n, 0, 255])},
        "text": {"S": f'é "quoted" \\ {n} \u2028 \U0001f600'},
        "number": {"N": f"{n}.50"},
        "big": {"N": "-1234567890123456789012345678901234567.8"},
        "blob": {"B": b"\x00\x01binary"},
        "strings": {"SS": ["a", "b"]},
        "numbers": {"NS": ["1", "2.5"]},
        "blobs": {"BS": [b"x", b"\xff"]},
        "flag": {"BOOL": n % 2 == 0},
        "nothing": {"NULL": True},
        "list": {"L": [{"S": "s"}, {"B": b"in a list"}, {"M": {"deep": {"BS": [b"deep"]}}}]},
        "map": {"M": {"B": {"S": "an attribute named B"}, "bytes": {"B": b"in a map"}}},
    }


# The test files that take longest, longest first (the first eight in the order --durations=0 gave under
# xdist; the rest from the serial --durations=25). `make test` runs the suite with pytest-xdist, --dist
# loadfile --no-loadscope-reorder: each file stays on one worker (its module fixtures are built once) and
# the files go out in collection order, so these start first instead of keeping one worker busy alone at
# the end. The order changes the wall time only, never a result.
LONGEST_FIRST = (
    "test_catchup_random.py",
    "test_catchup.py",
    "test_capture_catchup.py",
    "test_crash_recovery.py",
    "test_bulk_put.py",
    "test_sync.py",
    "test_via_s3.py",
    "test_codegen.py",
    "test_state_binding.py",
    "test_capture.py",
    "test_validate_damage.py",
    "test_security.py",
    "test_validate_concurrency.py",
    "test_scaffold.py",
    "test_scaffold_growth.py",
    "test_chinook_end_to_end.py",
    "test_html_report.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The files of LONGEST_FIRST first, in that order; the others after them, as collected."""
    missing = [name for name in LONGEST_FIRST if not (Path(__file__).parent / name).exists()]
    if missing:
        raise pytest.UsageError(f"tests/conftest.py: LONGEST_FIRST names no test file {', '.join(missing)}")
    rank = {name: number for number, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))


@pytest.fixture(scope="session")
def ddb_url() -> Iterator[str]:
    """A DynamoDB Local for the whole session (or DDB_TEST_ENDPOINT if set)."""
    if os.environ.get("DDB_TEST_ENDPOINT"):
        yield os.environ["DDB_TEST_ENDPOINT"]
        return
    server = local_dynamodb.start(None, in_memory=True)
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    """moto's DynamoDB server, a real process on a free port, for APIs DynamoDB Local refuses (PITR, tags)."""
    import motoserver

    server = motoserver.start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def ddb(ddb_url: str) -> Any:
    """A plain boto3 client on the test endpoint, for checking and damaging tables."""
    return boto3.client("dynamodb", endpoint_url=ddb_url, region_name="us-east-1", **FAKE_CREDENTIALS)


@pytest.fixture()
def prefix() -> str:
    return f"t{uuid.uuid4().hex[:8]}_"


@pytest.fixture()
def chinook_copy(tmp_path: Path) -> Path:
    """A private copy of Chinook, for tests that change the source."""
    target = tmp_path / "chinook.sqlite"
    shutil.copy(CHINOOK, target)
    return target


def write_config(
    folder: Path,
    source: Path,
    endpoint: str,
    prefix: str,
    mappings: Path = CHINOOK_MAPPINGS,
    **settings: Any,
) -> Path:
    """A configuration file whose state and logs live in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "migration.json"
    config = init_config(
        str(path), str(source), str(mappings), "us-east-1", 25, prefix, "local", endpoint, None, force=True
    )
    data = config.to_json()
    data["migration_settings"].update({"state_file": str(folder / "state" / "migration_state.json"), **settings})
    data["logging"]["file"] = str(folder / "logs" / "migration.log")
    path.write_text(__import__("json").dumps(data, indent=2))
    save_config(load_config(path))
    return path


@pytest.fixture()
def make_config(tmp_path: Path, ddb_url: str, prefix: str) -> Any:
    """make_config(source=..., mappings=..., **migration_settings) -> config path."""

    def factory(
        source: Path = CHINOOK, mappings: Path = CHINOOK_MAPPINGS, endpoint: str | None = None, **settings: Any
    ) -> Path:
        return write_config(tmp_path / "run", source, endpoint or ddb_url, prefix, mappings, **settings)

    return factory


def run_cli(config: Path | None, *args: str, input: str | None = None) -> Result:
    """Run a command in-process with click's runner; the exit code is the real one."""
    argv = (["-c", str(config)] if config else []) + list(args)
    return CliRunner().invoke(cli, argv, input=input, catch_exceptions=False)


def run_process(
    config: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """Run ``python cli.py`` as a separate process (for signals and kills)."""
    return subprocess.run(
        [sys.executable, str(ROOT / "cli.py"), "-c", str(config), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=timeout,
    )


def count_items(ddb: Any, table: str) -> int:
    total, kwargs = 0, {"TableName": table, "Select": "COUNT"}
    while True:
        page = ddb.scan(**kwargs)
        total += page["Count"]
        if "LastEvaluatedKey" not in page:
            return total
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def scan_all(ddb: Any, table: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"TableName": table}
    while True:
        page = ddb.scan(**kwargs)
        items += page["Items"]
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def table_rows(output: str) -> dict[str, list[str]]:
    """First cell -> cells, for every row of the rich tables in ``output`` (wrapped cells joined again)."""
    rows: list[list[str]] = []
    for line in output.splitlines():
        if line.count("│") <= 2:
            continue
        cells = [c.strip() for c in line.split("│")[1:-1]]
        if rows and not cells[0] and len(cells) == len(rows[-1]):
            rows[-1] = [f"{a} {b}".strip() for a, b in zip(rows[-1], cells)]
        else:
            rows.append(cells)
    return {r[0]: r for r in rows if r and r[0]}


def items_written(output: str) -> int:
    """The number in the summary's last line, '<n> items written in <s>s'."""
    found = re.findall(r"^(\d+) items written in ", output, re.MULTILINE)
    assert found, output
    return int(found[-1])


def one_line(text: str) -> str:
    """The CLI's output with rich's soft line breaks undone."""
    return " ".join(text.split())


def error_lines(stderr: str) -> list[str]:
    """The ``error: ...`` lines the CLI printed."""
    return [line for line in stderr.splitlines() if line.startswith("error: ")]


def line_of(text: str, needle: str, occurrence: int = 1) -> int:
    """1-based line of the ``occurrence``-th line of ``text`` containing ``needle``."""
    hits = [n for n, line in enumerate(text.splitlines(), start=1) if needle in line]
    assert len(hits) >= occurrence, f"{needle!r} not in the text"
    return hits[occurrence - 1]


def own_tables(ddb: Any, prefix: str) -> list[str]:
    """The tables this test's prefix owns."""
    return [n for n in ddb.list_tables(ExclusiveStartTableName=prefix[:-1])["TableNames"] if n.startswith(prefix)]


@pytest.fixture()
def music(tmp_path: Path) -> tuple[Path, Path]:
    """A clean songs-and-plays source (tests/songs_and_plays.py) and its mapping folder."""
    from songs_and_plays import MAPPING, make_source

    source = make_source(tmp_path / "music.sqlite", bad=False)
    mappings = tmp_path / "mappings"
    mappings.mkdir()
    (mappings / "music.yaml").write_text(MAPPING)
    return source, mappings


def passes_validation(config: Path) -> None:
    """validate exits 0 with every check passed."""
    result = run_cli(config, "validate")
    assert result.exit_code == 0, result.output
    assert " 0 failed" in result.output
