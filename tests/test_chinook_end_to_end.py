"""The whole Chinook migration through the CLI, then every check of validate."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import count_items, run_cli


def test_migrate_then_validate_passes_every_check(make_config, ddb, prefix, tmp_path: Path) -> None:
    config = make_config()
    result = run_cli(config, "migrate", "--no-validate")
    assert result.exit_code == 0, result.output
    assert "13337 items written" in result.output
    expected = {
        "MusicCatalog": 275 + 347 + 3503,
        "CustomerData": 59 + 412,
        "PlaylistData": 18 + 8715,
        "EmployeeData": 8,
    }
    for table, count in expected.items():
        assert count_items(ddb, f"{prefix}{table}") == count

    report = tmp_path / "report.md"
    result = run_cli(config, "validate", "--report", str(report))
    assert result.exit_code == 0, result.output
    document = json.loads(report.with_suffix(".json").read_text())
    assert document["result"] == "pass"
    names = {c["name"] for c in document["checks"]}
    patterns = {n for n in names if n.startswith("pattern:")}
    # the 17 access patterns of the model (6 has three item kinds, 3 and 9 a second view)
    for number in range(1, 18):
        assert any(n.startswith(f"pattern:p{number:02d}") for n in patterns), number
    assert {"items:music_catalog", "items:customer_data", "items:playlist_data", "items:employee_data"} <= names
    assert "Result: PASS" in report.read_text()
