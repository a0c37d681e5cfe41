"""plan names the hottest partition keys and the least time a load takes at AWS's limits."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from conftest import CHINOOK, one_line, run_cli


def test_plan_names_the_hot_playlist_and_the_lower_bound_it_sets(make_config: Any) -> None:
    config = make_config()
    result = run_cli(config, "plan", "--format", "json", "--estimate-rows", "0", "--no-check-target")
    assert result.exit_code == 0, result.output
    tables = {t["name"].split("_", 1)[1]: t for t in json.loads(result.output)["capacity"]["tables"]}
    playlists = tables["PlaylistData"]
    with sqlite3.connect(CHINOOK) as db:
        # every playlist entry is under 1 KB: one unit each, plus the playlist's own item
        biggest, tracks = db.execute(
            "SELECT PlaylistId, count(*) FROM PlaylistTrack GROUP BY PlaylistId ORDER BY 2 DESC, 1 LIMIT 1"
        ).fetchone()
    db.close()
    hottest = playlists["hot_keys"][0]
    assert (hottest["where"], hottest["key"], hottest["units"]) == ("table", f"PLAYLIST#{biggest}", tracks + 1)
    bound = playlists["aws_lower_bound"]
    assert bound["seconds"] == round((tracks + 1) / 1000, 1)
    assert bound["set_by"] == f"table: key PLAYLIST#{biggest} ({tracks + 1} units at 1000/s)"
    assert bound["key_dominates"] is True
    assert tables["CustomerData"]["aws_lower_bound"]["key_dominates"] is False

    text = one_line(run_cli(config, "plan", "--estimate-rows", "0", "--no-check-target").output)
    assert f"PlaylistData: the load takes at least {bound['seconds']:g} s on AWS, set by table: key PLAYLIST#" in text
    assert "(one partition key dominates: consider write sharding or another key design)" in text
    # under a cap of 100 units/s the whole table, not the key, sets the bound
    capped = one_line(run_cli(config, "plan", "--estimate-rows", "0", "--no-check-target", "--max-wcu", "100").output)
    total = playlists["table_wcu"]
    assert (
        f"PlaylistData: the load takes at least {total / 100:.1f} s on AWS, set by table: {total} units at 100/s"
        in capped
    )
