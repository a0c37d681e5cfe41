"""The catch-up under a seeded random stream of changes ends where a full sync would.

Real DynamoDB Local, real SQLite files. Inserts, updates (names, join keys,
primary keys) and deletes across every Chinook table, each round followed by a
sync; after each round every item a full render gives is what the fingerprint
store holds, the store is what the tables hold, and at the end validate
passes. ``CATCHUP_ROUNDS`` and ``CATCHUP_SEED`` change the stream.
"""

from __future__ import annotations

import os
import random
import sqlite3
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from catchup_checks import Changer, full_difference, last_syncs, store_equals_tables, sync_ok
from conftest import passes_validation, run_cli

ROUNDS = int(os.environ.get("CATCHUP_ROUNDS", "15"))
SEED = int(os.environ.get("CATCHUP_SEED", "27"))


@pytest.fixture(autouse=True)
def wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "500")


def test_random_changes_caught_up_round_after_round_end_where_a_full_sync_would(
    chinook_copy: Path, make_config: Any, ddb: Any
) -> None:
    config = make_config(source=chinook_copy)
    assert run_cli(config, "migrate", "--no-validate").exit_code == 0
    rng = random.Random(SEED)
    db = sqlite3.connect(chinook_copy)
    changer = Changer(db, rng)
    rendered: Counter[str] = Counter()
    caught: Counter[str] = Counter()
    for number in range(ROUNDS):
        changer.round(rng.randint(3, 12))
        sync_ok(config)
        assert full_difference(config) == {}, f"round {number}: a full sync would still change items"
        store_equals_tables(config, ddb)
        for name, last in last_syncs(config).items():
            if last.get("found_by") == "digest":
                caught[name] += 1
                rendered[name] += last["rows_rendered"]
    db.close()
    passes_validation(config)
    print(f"\n{ROUNDS} rounds, {sum(changer.done.values())} changes: {dict(changer.done)}")
    print(f"caught up from row digests (rounds per item type): {dict(caught)}; rows rendered: {dict(rendered)}")
    # the item types whose queries can be followed caught up, rendering far fewer rows than a full render
    # (a renamed genre or media type still reaches all of its tracks)
    assert {"Track", "Album", "Invoice", "Customer", "PlaylistTrack"} <= set(caught)
    assert (
        rendered["Track"] < caught["Track"] * 3503 / 4
        and rendered["PlaylistTrack"] < caught["PlaylistTrack"] * 8715 / 4
    )
