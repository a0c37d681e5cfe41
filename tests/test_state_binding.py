"""A state belongs to one configuration, one target and one generation of each table.

The three ways of losing data that issue 9 reported, each reproduced for real:
two configuration files in one folder, the same prefix on a second DynamoDB
Local, and a table dropped behind the tool's back (also halfway through a
killed run). Each ends with every item written and validated, or with a
refusal that names the way out; never with "0 items written" on an empty table.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from conftest import (
    FAKE_CREDENTIALS,
    count_items,
    items_written,
    one_line,
    passes_validation,
    run_cli,
    run_process,
    table_rows,
    write_config,
)
from songs_and_plays import PLAYS, SONGS

from sqlite2ddb.dynamodb import local as local_dynamodb
from sqlite2ddb.state.checkpoints import _checksum


@pytest.fixture(autouse=True)
def wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "500")


@pytest.fixture(scope="module")
def second_ddb_url() -> Iterator[str]:
    """Another DynamoDB Local, for a target the state has never seen."""
    server = local_dynamodb.start(None, in_memory=True)
    try:
        yield server.url
    finally:
        server.stop()


# ------------------------------------------------------------------ case 1: two configurations, one folder
def test_two_configurations_in_one_folder_keep_their_own_state_and_embedded_data(
    tmp_path: Path, music: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    source, mappings = music
    monkeypatch.chdir(tmp_path)
    configs = {name: Path("config") / f"{name}.json" for name in ("dev", "prod")}
    for name, config in configs.items():
        result = run_cli(config, "init", "-s", str(source), "-m", str(mappings), "-p", "same_")
        assert result.exit_code == 0, result.output
        assert f"will live in {Path('state') / name}" in one_line(result.output)

    first = run_cli(configs["dev"], "migrate", "--no-validate")
    assert first.exit_code == 0, first.output
    assert items_written(first.output) == SONGS + PLAYS
    # the second configuration does not see the first one's checkpoints: it writes everything
    second = run_cli(configs["prod"], "migrate", "--no-validate")
    assert second.exit_code == 0, second.output
    assert items_written(second.output) == SONGS + PLAYS
    for config in configs.values():
        passes_validation(config)

    for name in configs:
        assert (tmp_path / "state" / name / "migration_state.json").exists()
        assert (tmp_path / "state" / name / "dynamodb-local" / "data").is_dir()
    assert not (tmp_path / "state" / "migration_state.json").exists()

    # resetting one leaves the other's progress alone
    assert run_cli(configs["prod"], "reset", "--confirm").exit_code == 0
    status = run_cli(configs["dev"], "status")
    assert status.exit_code == 0, status.output
    assert table_rows(status.output)["Play"][2] == "done"
    again = run_cli(configs["dev"], "migrate", "--no-validate")
    assert items_written(again.output) == 0, "dev is still done"


def test_a_state_folder_owned_by_another_configuration_is_refused_and_reset_spares_it(
    tmp_path: Path, music: tuple[Path, Path], ddb_url: str, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    source, mappings = music
    monkeypatch.chdir(tmp_path)
    # two files whose derived names collide: config/prod-eu.json and config/prod/eu.json
    first, second = Path("config/prod-eu.json"), Path("config/prod/eu.json")
    for config in (first, second):
        args = ["init", "-s", str(source), "-m", str(mappings), "-p", prefix, "--endpoint-url", ddb_url]
        assert run_cli(config, *args).exit_code == 0
    assert run_cli(first, "migrate", "--no-validate").exit_code == 0
    before = (tmp_path / "state" / "prod-eu" / "migration_state.json").read_text()

    for command in (["migrate", "--no-validate"], ["reset", "--confirm"]):
        result = run_cli(second, *command)
        assert result.exit_code == 2, result.output
        assert (
            f"error: the state in {Path('state') / 'prod-eu'} belongs to the configuration "
            f"{first.absolute()}, not {second.absolute()} (give this configuration a state of its own: "
            "set migration_settings.state_file, or name its file differently)"
        ) in one_line(result.stderr)
    assert (tmp_path / "state" / "prod-eu" / "migration_state.json").read_text() == before

    # pointing both at one state file on purpose is allowed
    data = json.loads(second.read_text())
    data["migration_settings"]["state_file"] = "state/prod-eu/migration_state.json"
    second.write_text(json.dumps(data))
    shared = run_cli(second, "migrate", "--no-validate")
    assert shared.exit_code == 0, shared.output
    assert items_written(shared.output) == 0


# ------------------------------------------------------------------ case 2: same prefix, another endpoint
def test_the_same_state_pointed_at_another_endpoint_is_refused_then_written_fully_with_its_own_state(
    tmp_path: Path, music: tuple[Path, Path], ddb_url: str, second_ddb_url: str, prefix: str
) -> None:
    source, mappings = music
    config = write_config(tmp_path / "a", source, ddb_url, prefix, mappings)
    assert run_cli(config, "migrate", "--no-validate").exit_code == 0

    # the same configuration, now aimed at B: its state holds A's progress
    data = json.loads(config.read_text())
    data["endpoint_url"] = second_ddb_url
    config.write_text(json.dumps(data))
    refused = run_cli(config, "migrate", "--no-validate")
    assert refused.exit_code == 2, refused.output
    assert (
        f"holds the progress of a migration to {ddb_url}, and this configuration targets {second_ddb_url} "
        "(use another state_file for the new target, or run 'reset' to forget the progress on the old one)"
    ) in one_line(refused.stderr)
    other = boto3.client("dynamodb", endpoint_url=second_ddb_url, region_name="us-east-1", **FAKE_CREDENTIALS)
    assert not [n for n in other.list_tables()["TableNames"] if n.startswith(prefix)], "nothing written to B"
    status = run_cli(config, "status")
    assert "the checkpoints do not apply there" in one_line(status.output)

    # the way out: a state of its own for B
    config_b = write_config(tmp_path / "b", source, second_ddb_url, prefix, mappings)
    written = run_cli(config_b, "migrate", "--no-validate")
    assert written.exit_code == 0, written.output
    assert items_written(written.output) == SONGS + PLAYS
    passes_validation(config_b)
    # or 'reset' on the first one, which then writes B in full
    assert run_cli(config, "reset", "--confirm").exit_code == 0
    assert items_written(run_cli(config, "migrate", "--no-validate").output) == SONGS + PLAYS


# ------------------------------------------------------------------ case 3: a table dropped behind our back
@pytest.mark.parametrize("command", ["migrate", "resume"])
def test_a_dropped_table_is_refilled_in_full_and_validates(
    command: str, tmp_path: Path, music: tuple[Path, Path], make_config: Any, ddb: Any, prefix: str
) -> None:
    source, mappings = music
    config = make_config(source=source, mappings=mappings)
    assert run_cli(config, "migrate", "--no-validate").exit_code == 0
    plays = f"{prefix}PlayHistory"
    ddb.delete_table(TableName=plays)
    ddb.get_waiter("table_not_exists").wait(TableName=plays)

    status = run_cli(config, "status")
    assert table_rows(status.output)["Play"][11].endswith("(table missing: to rewrite)")
    assert table_rows(status.output)["Song"][11].endswith("(same table)")

    result = run_cli(config, command, "--no-validate")
    assert result.exit_code == 0, result.output
    assert (
        f"WARNING table {plays} does not exist any more, so its checkpoints are void (created again now): Play written again "
        "from the start"
    ) in one_line(result.stderr)
    assert items_written(result.output) == PLAYS, "only the dropped table's item types are written again"
    assert count_items(ddb, plays) == PLAYS
    passes_validation(config)


def test_a_table_recreated_empty_is_refilled(
    tmp_path: Path, music: tuple[Path, Path], make_config: Any, ddb: Any, prefix: str
) -> None:
    source, mappings = music
    config = make_config(source=source, mappings=mappings)
    assert run_cli(config, "migrate", "--no-validate").exit_code == 0
    songs = f"{prefix}MusicCatalog"
    description = ddb.describe_table(TableName=songs)["Table"]
    ddb.delete_table(TableName=songs)
    ddb.get_waiter("table_not_exists").wait(TableName=songs)
    # a teardown script recreates it the same way, empty
    ddb.create_table(
        TableName=songs,
        KeySchema=description["KeySchema"],
        AttributeDefinitions=description["AttributeDefinitions"],
        BillingMode="PAY_PER_REQUEST",
    )
    result = run_cli(config, "migrate", "--no-validate")
    assert result.exit_code == 0, result.output
    assert f"WARNING table {songs} was recreated" in one_line(result.stderr)
    assert items_written(result.output) == SONGS
    passes_validation(config)


def test_a_table_dropped_after_a_kill_is_refilled_and_the_other_checkpoints_are_kept(
    tmp_path: Path, music: tuple[Path, Path], make_config: Any, ddb: Any, prefix: str
) -> None:
    source, mappings = music
    # one table at a time, 5 items a batch: Song is done, Play is killed after its 4th checkpoint
    config = make_config(source=source, mappings=mappings, parallel_tables=1, workers=1)
    data = json.loads(config.read_text())
    data["batch_size"] = 5
    config.write_text(json.dumps(data))
    killed = run_process(config, "migrate", "--no-validate", env={"SQLITE2DDB_KILL_AT": "after_checkpoint:7"})
    assert killed.returncode == -9, killed.stderr
    state = json.loads((config.parent / "state" / "migration_state.json").read_text())
    assert state["item_types"]["Song"]["status"] == "done"
    assert state["item_types"]["Play"]["status"] == "running"
    written_before = state["item_types"]["Play"]["items_written"]
    assert 0 < written_before < PLAYS

    songs = f"{prefix}MusicCatalog"
    ddb.delete_table(TableName=songs)
    ddb.get_waiter("table_not_exists").wait(TableName=songs)
    resumed = run_cli(config, "resume", "--no-validate")
    assert resumed.exit_code == 0, resumed.output
    # Song written in full again; Play continued from its checkpoint, not from the start
    assert items_written(resumed.output) == SONGS + PLAYS - written_before
    assert count_items(ddb, songs) == SONGS
    passes_validation(config)


# ------------------------------------------------------------------ a state written before this version
def test_a_state_without_target_identity_is_upgraded_on_the_next_run(
    tmp_path: Path, music: tuple[Path, Path], make_config: Any, ddb: Any, prefix: str
) -> None:
    source, mappings = music
    config = make_config(source=source, mappings=mappings)
    assert run_cli(config, "migrate", "--no-validate").exit_code == 0
    path = config.parent / "state" / "migration_state.json"
    state = json.loads(path.read_text())
    # what version 1 wrote: no owner, no table generations, no endpoint in the target
    body = {k: v for k, v in state.items() if k not in ("checksum", "owner", "tables")}
    body["version"] = 1
    body["identity"]["target"] = {k: body["identity"]["target"][k] for k in ("kind", "region", "table_prefix")}
    for entry in body["item_types"].values():
        entry.pop("table_generation")
    path.write_text(json.dumps({**body, "checksum": _checksum(body)}))

    result = run_cli(config, "migrate", "--no-validate")
    assert result.exit_code == 0, result.output
    assert "INFO    state" in result.stderr and "upgraded: its checkpoints are bound to" in one_line(result.stderr)
    assert items_written(result.output) == 0, "the live tables are the ones written: nothing to redo"
    upgraded = json.loads(path.read_text())
    assert upgraded["version"] == 2
    assert upgraded["owner"] == str(config.absolute())
    assert sorted(upgraded["tables"]) == sorted(f"{prefix}{t}" for t in ("MusicCatalog", "PlayHistory"))
    assert upgraded["identity"]["target"]["endpoint"]
