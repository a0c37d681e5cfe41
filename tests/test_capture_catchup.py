"""The catch-up through the capture log, and a catch-up while the application writes (#27).

Real DynamoDB Local, real SQLite files. The first test is the randomised
catch-up of ``test_catchup_random.py`` with ``capture install`` on the source: the
rounds' writes go through the triggers and each sync says it found the change
through the capture log; ``capture prune`` runs between rounds, and the log
has gaps (removed and installed again; a trigger dropped by hand) where the
sync falls back to the row digests. After every round the fingerprint store
equals a full render of the source and the tables equal the store.

The second test runs a sync while an application commits random changes on
its own connection (WAL and rollback journal, without and with capture): the
sync's result equals a full render of the source at one moment (each
application transaction stamps its number on track 1 and leaves a copy of
the source as it was after it), and the next sync, the application stopped,
ends where a full render of the final source would. validate passes at the end.

Some rounds and phases make only changes every item type can follow (no item
type renders in full): a sync on a captured source may then read the live
source instead of a copy. The tests assert only what a user sees (the tables,
the fingerprint store against a full render, validate, how the change was
found), never how the source was read.
"""

from __future__ import annotations

import os
import random
import sqlite3
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from catchup_checks import FOLLOWED_CHANGES, Changer, full_difference, last_syncs, store_equals_tables, sync_ok
from conftest import passes_validation, run_cli

from sqlite2ddb.config import load_config
from sqlite2ddb.state import MigrationState, consumed_position

ROUNDS = max(int(os.environ.get("CAPTURE_ROUNDS", "8")), 8)  # 8: every kind of round below happens once
SEED = int(os.environ.get("CATCHUP_SEED", "27"))
LOG, DIGEST, FULL = "capture log", "digest", "full render"
FOLLOWED = {"Track", "Album", "Invoice", "Customer", "PlaylistTrack"}  # item types whose queries can be followed


@pytest.fixture(autouse=True)
def wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "500")


def cli_ok(config: Path, *args: str) -> str:
    result = run_cli(config, *args)
    assert result.exit_code == 0, (args, result.output, result.stderr)
    return result.output


def found_by(config: Path) -> dict[str, str]:
    """Per item type the last sync rendered in part: how it found the change (item types rendered in full left out)."""
    return {n: s["found_by"] for n, s in last_syncs(config).items() if s.get("found_by") not in (None, FULL)}


def consumed(config: Path) -> int | None:
    """The change-log position the state says the last sync consumed (what ``capture prune`` may delete)."""
    return consumed_position(MigrationState.load(load_config(config).state_path))


# ------------------------------------------------------------------ random rounds through the capture log
Round = tuple[str, str, tuple[str, ...] | None]


def expected_rounds(rounds: int) -> list[Round]:
    """Round by round: what happens to the capture in it, how its sync must find the change, and the changes
    made (every kind, or only changes every item type follows: then no item type renders in full)."""
    plan: list[Round] = [
        ("first sync with capture: no position yet", DIGEST, None),
        ("prune after", LOG, FOLLOWED_CHANGES),
        ("capture removed: the sync reads the changed tables", DIGEST, FOLLOWED_CHANGES),
        ("installed again: the new log does not hold the last position", DIGEST, None),
        ("", LOG, None),
        ("a capture trigger dropped by hand, installed again after", DIGEST, FOLLOWED_CHANGES),
        ("first sync after the trigger is back: the log restarted", DIGEST, FOLLOWED_CHANGES),
        ("prune after", LOG, FOLLOWED_CHANGES),
    ]
    more = [("prune after" if n % 2 else "", LOG, FOLLOWED_CHANGES if n % 2 else None) for n in range(8, rounds)]
    return plan + more


def change_round(config: Path, changer: Changer, event: str, operations: tuple[str, ...] | None) -> None:
    """The round's random changes, around what happens to the capture in it."""
    rng = changer.rng
    if event.startswith("capture removed"):
        assert "dropped 33 trigger(s)" in cli_ok(config, "capture", "remove")
    elif event.startswith("installed again"):
        changer.round(rng.randint(3, 8), operations)  # not logged: no trigger
        assert "triggers created: 33" in cli_ok(config, "capture", "install")
    elif event.startswith("a capture trigger dropped"):
        changer.db.execute('DROP TRIGGER "_sqlite2ddb_capture_Track_update"')
        changer.db.execute("UPDATE Track SET Name = 'unlogged' WHERE TrackId = ?", (changer.pick("Track", "TrackId"),))
        changer.db.commit()
    changer.round(rng.randint(3, 12), operations)


def test_random_changes_through_the_capture_log_end_where_a_full_sync_would(
    chinook_copy: Path, make_config: Any, ddb: Any
) -> None:
    config = make_config(source=chinook_copy)
    assert "triggers created: 33" in cli_ok(config, "capture", "install")
    cli_ok(config, "migrate", "--no-validate")
    rng = random.Random(SEED)
    db = sqlite3.connect(chinook_copy)
    changer = Changer(db, rng)
    caught: Counter[str] = Counter()
    rendered: Counter[str] = Counter()
    pruned = 0
    for number, (event, expected, operations) in enumerate(expected_rounds(ROUNDS)):
        change_round(config, changer, event, operations)
        output = sync_ok(config)  # what the user reads: how each item type's change was found
        print(f"\nround {number} ({event or 'changes'}): {output.strip().splitlines()[-1]}")
        assert f"found by {expected}" in output and (expected == LOG or f"found by {LOG}" not in output), output
        assert full_difference(config) == {}, f"round {number} ({event}): a full sync would still change items"
        store_equals_tables(config, ddb)
        how = found_by(config)
        assert how and set(how.values()) == {expected}, (number, event, how)
        for name, last in last_syncs(config).items():
            if last.get("found_by") == LOG:
                caught[name] += 1
                rendered[name] += last["rows_rendered"]
        if event.startswith("a capture trigger dropped"):
            assert "missing (dropped since install)" in cli_ok(config, "capture", "status")
            assert "triggers created: 1, already installed: 32" in cli_ok(config, "capture", "install")
        if event == "prune after":
            pruned += prune_consumed(config, chinook_copy)
    db.close()
    status = cli_ok(config, "status", "--no-check-target")
    track = next(line for line in status.splitlines() if line.startswith("last sync of Track:"))
    assert "change found by capture log" in track, track
    passes_validation(config)
    print(f"\n{ROUNDS} rounds, {sum(changer.done.values())} changes: {dict(changer.done)}")
    print(f"caught up from the capture log (rounds per item type): {dict(caught)}; rows rendered: {dict(rendered)}")
    print(f"log rows pruned: {pruned}")
    assert set(caught) >= FOLLOWED and pruned > 0
    assert rendered["Track"] < caught["Track"] * 3503 / 4  # far fewer rows than a full render


def prune_consumed(config: Path, source: Path) -> int:
    """``capture prune``: the log rows up to the position the last sync consumed go, the others stay."""
    position = consumed(config)
    assert position, "the sync consumed no log position"
    with sqlite3.connect(source) as conn:
        before = conn.execute("SELECT count(*) FROM _sqlite2ddb_changes WHERE seq <= ?", (position,)).fetchone()[0]
    output = cli_ok(config, "capture", "prune")
    assert f"deleted {before} log row(s) up to position {position}" in output, output
    with sqlite3.connect(source) as conn:
        assert conn.execute("SELECT count(*) FROM _sqlite2ddb_changes WHERE seq <= ?", (position,)).fetchone()[0] == 0
    conn.close()
    return int(before)


# ------------------------------------------------------------------ the source changed while the catch-up runs
MOMENT = "UPDATE Track SET Composer = ? WHERE TrackId = 1"  # track 1 is kept: never deleted nor given another key
#: The application's changes in a phase: all kinds, or only those every item type can follow (a catch-up of
#: every item type; lookups renamed left out: each reaches hundreds of tracks)
EVERY = None
FOLLOWED_ONLY = tuple(c for c in FOLLOWED_CHANGES if c != "lookup_renamed")


class Application(threading.Thread):
    """Random changes committed on the application's own read-write connection while a sync runs.

    Transaction ``n`` stamps ``moment n`` on track 1 and leaves ``copies/n.sqlite``, the source as it
    was after it (only this thread writes, so the copy is the source from that commit to the next).
    A transaction the sync's read blocks past the busy timeout is rolled back and tried again.
    """

    def __init__(self, source: Path, copies: Path, seed: int, moment: int, operations: tuple[str, ...] | None) -> None:
        super().__init__(daemon=True)
        self.source, self.copies, self.seed, self.operations = source, copies, seed, operations
        self.commits = moment  # the moment the source is at: its transactions count on from there
        with sqlite3.connect(source) as db:
            copy_source(db, copies / f"{moment}.sqlite")
        db.close()
        self.busy = 0
        self.longest = 0.0  # seconds, the longest an application transaction took (waiting for the sync included)
        self.stopping = threading.Event()
        self.failure: BaseException | None = None

    def run(self) -> None:
        db = sqlite3.connect(self.source, timeout=30)
        try:
            changer = Changer(db, random.Random(self.seed), keep={"Track": {1}})
            changer.next_id = 1_000_000 * self.seed  # new keys no earlier application gave
            while not self.stopping.is_set():
                self.commit(db, changer)
                time.sleep(0.15)
        except BaseException as exc:  # noqa: BLE001 - the test thread re-raises it
            self.failure = exc
        finally:
            db.close()

    def commit(self, db: sqlite3.Connection, changer: Changer) -> None:
        started = time.monotonic()
        try:
            with db:
                changer.apply(changer.rng.randint(1, 4), self.operations)
                db.execute(MOMENT, (f"moment {self.commits + 1}",))
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
            self.busy += 1
            return
        finally:
            self.longest = max(self.longest, time.monotonic() - started)
        self.commits += 1
        copy_source(db, self.copies / f"{self.commits}.sqlite")

    def wait_for(self, commits: int) -> None:
        while self.commits < commits:
            assert self.failure is None and self.is_alive(), self.failure
            time.sleep(0.01)

    def stop(self) -> None:
        self.stopping.set()
        self.join(60)
        assert not self.is_alive() and self.failure is None, self.failure


def copy_source(db: sqlite3.Connection, to: Path) -> None:
    """The source as ``db`` sees it now (its WAL included), copied with SQLite's backup API."""
    copy = sqlite3.connect(to)
    db.backup(copy)
    copy.close()


def moment_held(ddb: Any, prefix: str) -> int:
    """The application transaction whose moment the tables hold (0: before the first)."""
    item = ddb.get_item(TableName=f"{prefix}MusicCatalog", Key={"PK": {"S": "TRACK#1"}, "SK": {"S": "PROFILE"}})
    return int(item["Item"]["Composer"]["S"].removeprefix("moment "))


def set_journal_mode(source: Path, mode: str) -> None:
    conn = sqlite3.connect(source)
    assert conn.execute(f"PRAGMA journal_mode={mode}").fetchone()[0] == mode
    conn.close()


# journal mode, capture installed, the application's changes
PHASES = [("wal", False, EVERY), ("delete", True, FOLLOWED_ONLY), ("wal", True, FOLLOWED_ONLY), ("wal", True, EVERY)]


def test_a_sync_while_the_application_writes_holds_one_moment_and_the_next_catches_up(
    chinook_copy: Path, make_config: Any, ddb: Any, prefix: str, tmp_path: Path
) -> None:
    config = make_config(source=chinook_copy)
    with sqlite3.connect(chinook_copy) as db:
        db.execute(MOMENT, ("moment 0",))
    db.close()
    cli_ok(config, "migrate", "--no-validate")
    for number, (mode, capture, operations) in enumerate(PHASES):
        set_journal_mode(chinook_copy, mode)
        if capture and not PHASES[number - 1][1]:
            cli_ok(config, "capture", "install")
            sync_ok(config)  # the first sync with capture takes the log's position; the next ones read the log
        copies = tmp_path / f"moments-{number}"
        copies.mkdir()
        application = Application(chinook_copy, copies, SEED + number, moment_held(ddb, prefix), operations)
        application.start()
        application.wait_for(application.commits + 2)
        before = application.commits
        output = sync_ok(config)
        after = application.commits
        application.wait_for(after + 2)
        application.stop()
        held = moment_held(ddb, prefix)
        changes = "every kind of change" if operations is EVERY else "changes every item type follows"
        phase = f"phase {number} ({mode} journal, capture {'on' if capture else 'off'}, {changes})"
        print(f"\n{phase}: commits {before}..{after} during the sync, tables hold moment {held}")
        print(f"    {output.strip().splitlines()[-1]}")
        print(f"    application: longest transaction {application.longest:.2f} s, {application.busy} gave up waiting")
        assert before <= held <= after, (phase, before, held, after)
        # the fingerprint store is a full render of the source at that moment (that the tables hold the store
        # is checked once the next sync is done: a wrong item the sync left would still be wrong then)
        assert full_difference(config, copies / f"{held}.sqlite") == {}, f"{phase}: not the source at moment {held}"
        if mode == "wal":  # (a rollback journal's writer waits for the sync's reads, however long they take)
            assert after > before, f"{phase}: the application committed nothing while the sync ran"
        if capture:
            assert set(found_by(config).values()) == {LOG}, (phase, found_by(config))
        sync_ok(config)  # the application stopped: the next sync catches up with the last commit
        assert moment_held(ddb, prefix) == application.commits
        assert full_difference(config) == {}, f"{phase}: the next sync left the tables behind the source"
        store_equals_tables(config, ddb)
        if capture:
            assert set(found_by(config).values()) == {LOG}, (phase, found_by(config))
    passes_validation(config)
