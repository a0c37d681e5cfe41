"""Fuzzing ``plan`` and ``init`` with random and hostile mapping files and configurations (issue 24).

The only outcomes allowed: success, or exit 2 with one ``error:`` line. Never a traceback, never
another exit code, and no case may grow Python's heap beyond ``MEMORY_BOUND`` (tracemalloc's peak).
Bounded in time: a fixed number of examples, a deadline per example, no shrinking database kept.
"""

from __future__ import annotations

import json
import sqlite3
import tracemalloc
from pathlib import Path
from typing import Any

import yaml
from conftest import error_lines, run_cli
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from sqlite2ddb.config import CONFIG_SCHEMA

MEMORY_BOUND = 64 * 1024 * 1024  # bytes; the alias bomb of issue 24 reached 21 GB
FUZZ = settings(
    max_examples=40,
    phases=[Phase.explicit, Phase.generate],  # no shrinking: a failure is reported as found, in bounded time
    deadline=None,  # a loaded CI machine; the size of each case bounds its time
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

BASE = {
    "tables": [{"name": "Things", "partition_key": {"name": "PK", "type": "S"}}],
    "item_types": [
        {
            "name": "Thing",
            "table": "Things",
            "query": "SELECT id, v FROM t",
            "cursor": ["id"],
            "keys": {"PK": "T#{{ id }}"},
            "attributes": {"Entity": {"const": "Thing"}, "V": "v"},
        }
    ],
}
ODD_TEXT = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"])
    | st.sampled_from("\u202e\ufeff\u0000:&*!|>-[]{}#%@`'\""),
    max_size=40,
)
SCALARS = st.none() | st.booleans() | st.integers(-(10**30), 10**30) | st.floats() | ODD_TEXT
VALUES = st.recursive(
    SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(ODD_TEXT, inner, max_size=4), max_leaves=20
)


def _hostile_yaml() -> st.SearchStrategy[str]:
    bomb = st.integers(2, 9).map(
        lambda n: "\n".join(
            ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
            + [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, n)]
        )
    )
    deep = st.integers(50, 1200).map(lambda n: "tables: " + "[" * n + "]" * n)
    deep_maps = st.integers(50, 400).map(lambda n: "".join("  " * i + f"k{i}:\n" for i in range(n)) + "  " * n + "x")
    loop = st.just("tables: &l [1, *l]\nitem_types: *l\n")
    return bomb | deep | deep_maps | loop


def _mutated_mapping() -> st.SearchStrategy[str]:
    """The valid mapping with one value anywhere replaced by something random (wrong types per key)."""

    def mutate(data: Any, path: list[int], value: Any) -> Any:
        if not path or not isinstance(data, (dict, list)) or not data:
            return value
        keys = list(data) if isinstance(data, dict) else list(range(len(data)))
        key = keys[path[0] % len(keys)]
        copy = dict(data) if isinstance(data, dict) else list(data)
        copy[key] = mutate(copy[key], path[1:], value)
        return copy

    return st.builds(
        lambda path, value: yaml.safe_dump(mutate(BASE, path, value), allow_unicode=True),
        st.lists(st.integers(0, 10), max_size=5),
        VALUES,
    )


MAPPINGS = (
    st.builds(lambda v: yaml.safe_dump(v, allow_unicode=True), VALUES)
    | ODD_TEXT
    | st.binary(max_size=200).map(lambda b: b.decode("latin-1"))
    | _hostile_yaml()
    | _mutated_mapping()
)


def _configurations() -> st.SearchStrategy[dict[str, Any]]:
    """A valid configuration with one key (of the schema, or not) set to a random value."""
    keys = [*sorted(CONFIG_SCHEMA["properties"]), "migration_settings.timeout", "migration_settings.workers", "bogus"]
    return st.builds(lambda key, value: (key, value), st.sampled_from(keys), VALUES)


def _project(tmp_path: Path) -> tuple[Path, Path, Path]:
    source = tmp_path / "t.sqlite"
    if not source.exists():
        with sqlite3.connect(source) as db:
            db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
            db.executemany("INSERT INTO t VALUES (?, ?)", [(1, "a"), (2, "b")])
        db.close()
    mappings = tmp_path / "mappings"
    mappings.mkdir(exist_ok=True)
    return source, mappings, tmp_path / "migration.json"


def _config(source: Path, mappings: Path, tmp_path: Path) -> dict[str, Any]:
    return {
        "source_db": str(source),
        "mappings": str(mappings),
        "target": "endpoint",
        "endpoint_url": "http://127.0.0.1:9",
        # no target answers: plan hears it at once instead of retrying with backoff (35 s a case)
        "migration_settings": {"state_file": str(tmp_path / "state" / "s.json"), "max_retries": 0},
        "logging": {"file": str(tmp_path / "log.txt")},
    }


def _outcome_is_clean(config: Path, *args: str) -> None:
    tracemalloc.start()
    try:
        result = run_cli(config, *args)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert "Traceback" not in result.output, result.output
    assert peak < MEMORY_BOUND, f"{args}: {peak:,} bytes"
    if result.exit_code != 0:
        assert result.exit_code == 2, result.output
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and error_lines(result.stderr) == lines, result.stderr


@FUZZ
@given(text=MAPPINGS, command=st.sampled_from(["plan", "init"]))
@example(text='"a\\u2028b": 1\n"c\\x85d": 2\ntables: []\n', command="plan")  # keys that str.splitlines() breaks
@example(
    text="tables: []\nitem_types:\n  - {name: A, bogus: 1}\n  - {name: B, other: 2}\n", command="plan"
)  # 6 violations
def test_random_and_hostile_mapping_files(tmp_path: Path, text: str, command: str) -> None:
    source, mappings, config = _project(tmp_path)
    (mappings / "fuzz.yaml").write_text(text, encoding="utf-8", errors="surrogateescape")
    if command == "init":
        config.unlink(missing_ok=True)
        _outcome_is_clean(
            config, "init", "-s", str(source), "-m", str(mappings), "--endpoint-url", "http://127.0.0.1:9"
        )
    else:
        config.write_text(json.dumps(_config(source, mappings, tmp_path)))
        _outcome_is_clean(config, "plan")


@FUZZ
@given(change=_configurations())
def test_random_configurations(tmp_path: Path, change: tuple[str, Any]) -> None:
    source, mappings, config = _project(tmp_path)
    (mappings / "things.yaml").write_text(yaml.safe_dump(BASE))
    data = _config(source, mappings, tmp_path)
    key, value = change
    if "." in key:
        outer, inner = key.split(".")
        data[outer][inner] = value
    else:
        data[key] = value
    try:
        config.write_text(json.dumps(data, allow_nan=True))
    except ValueError:
        return
    _outcome_is_clean(config, "plan")
