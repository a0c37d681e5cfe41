"""``status`` tells the last validation: its outcome, its counts and its mode, kept in the state by validate."""

from __future__ import annotations

from typing import Any

from conftest import run_cli


def test_status_shows_the_last_validation(make_config: Any) -> None:
    config = make_config()
    tables = ("-t", "employee_data")
    assert run_cli(config, "migrate", "--no-validate", *tables).exit_code == 0
    before = run_cli(config, "status", "--no-check-target")
    assert "last validation" not in before.output

    validated = run_cli(config, "validate", "-t", "employee_data")
    assert validated.exit_code == 0, validated.output
    after = run_cli(config, "status", "--no-check-target")
    assert after.exit_code == 0
    line = next(x for x in after.output.splitlines() if x.startswith("last validation"))
    assert line.startswith("last validation: pass at 20"), line
    assert "0 failed" in line and "passed" in line and "full" in line, line
