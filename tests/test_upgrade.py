"""A state written by an earlier version of the tool keeps working: nothing is rewritten after an upgrade.

main 6495872 recorded each item type's digest as ``asdict`` of the typed spec,
so any field the model gained changed every digest: ``resume`` refused and
``sync`` rendered everything again. The digest now hashes what the mapping
says; the digests 6495872 recorded (below, as it computed them for the
Chinook mapping set) are still accepted.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from conftest import CHINOOK_MAPPINGS, items_written, run_cli

from sqlite2ddb.spec import load_mapping_set
from sqlite2ddb.spec.digest import legacy_digest, matches, spec_digest
from sqlite2ddb.state import MigrationState

#: What main 6495872 wrote as ``identity.item_type_digests`` for mappings/chinook.
DIGESTS_6495872 = {
    "Customer": "96da68904a29b031",
    "Invoice": "5a4a63682006e7f1",
    "Employee": "152bc88ee65b82cb",
    "Artist": "78de6e2757691b7c",
    "Album": "593824271ad4fac8",
    "Track": "42d2505385ea43dd",
    "Playlist": "74748421e35e5fad",
    "PlaylistTrack": "7edb300697e3e259",
}
TABLES = ("-t", "customer_data", "-t", "employee_data")


def state_file(config: Path) -> Path:
    return Path(json.loads(config.read_text())["migration_settings"]["state_file"])


def test_the_digests_6495872_recorded_are_still_those_of_the_chinook_mapping() -> None:
    mapping = load_mapping_set(CHINOOK_MAPPINGS)
    assert {i.name: legacy_digest(i) for i in mapping.item_types} == DIGESTS_6495872
    for item in mapping.item_types:
        assert matches(DIGESTS_6495872[item.name], item) and matches(spec_digest(item), item)
        assert not matches(DIGESTS_6495872[item.name][::-1], item)


def test_a_state_written_by_6495872_resumes_and_syncs_with_nothing_rewritten(make_config: Any) -> None:
    config = make_config()
    first = run_cli(config, "migrate", "--no-validate", *TABLES)
    assert first.exit_code == 0, first.output
    assert items_written(first.output) == 479
    # the state as 6495872 left it: its digests, from before the model's digest rule
    path = state_file(config)
    state = MigrationState.load(path)
    identity = state.identity
    identity["item_type_digests"] = dict(DIGESTS_6495872)
    state.set_identity(identity)
    state.save()

    resumed = run_cli(config, "resume", "--no-validate", *TABLES)
    assert resumed.exit_code == 0, resumed.output + resumed.stderr
    assert "mapping changed" not in resumed.output + resumed.stderr
    assert items_written(resumed.output) == 0

    # what a sync would do: every item type settled, skipped unrendered
    document = json.loads(run_cli(config, "plan", "--diff", "--format", "json").output)
    skipped = {d["item_type"]: d["skipped"] for d in document["item_types"]}
    assert all(skipped[name] for name in ("Customer", "Invoice", "Employee")), skipped
    synced = run_cli(config, "sync", "--no-validate", *TABLES)
    assert synced.exit_code == 0, synced.output + synced.stderr
    assert re.findall(r"^sync: (\d+) items put, (\d+) deleted", synced.output, re.MULTILINE)[-1] == ("0", "0")
