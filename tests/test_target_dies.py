"""DynamoDB goes away in the middle of a migration (issue 24, case 10).

The tool talks to DynamoDB Local through tests/faultproxy.py; after five
``BatchWriteItem`` requests went through, the sixth is held and the proxy is
stopped for real: the connection in flight drops and every retry finds the
port closed. The run must say why it gave up (the endpoint it cannot reach),
and the screen must not say ``finished`` for an item type that failed or never
ran.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

from conftest import count_items, error_lines, run_cli
from faultproxy import FaultProxy

BATCH = {"BatchWriteItem"}
CUSTOMERS = 59


def stop_when(proxy: FaultProxy, requests: int) -> threading.Thread:
    """Stop the proxy once ``requests`` BatchWriteItem requests reached it (the last one is held)."""

    def watch() -> None:
        deadline = time.monotonic() + 60
        while proxy.stats.get("delay", 0) < requests and time.monotonic() < deadline:
            time.sleep(0.01)
        proxy.stop()

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def test_dynamodb_dying_midway_names_the_cause_and_no_failed_item_type_is_finished(
    ddb_url: str, make_config: Any, ddb: Any, prefix: str
) -> None:
    proxy = FaultProxy(ddb_url, seed=24)
    proxy.start()
    url = proxy.url
    try:
        config = make_config(endpoint=url, max_retries=2, retry_delay=0.01, workers=1, parallel_tables=1)
        proxy.add_rule("delay", rate=1.0, operations=BATCH, count=5, seconds=0)  # 3 Customer, 2 Invoice batches
        proxy.add_rule("delay", rate=1.0, operations=BATCH, seconds=2)  # the 6th is held while the proxy stops
        watcher = stop_when(proxy, 6)
        result = run_cli(config, "migrate", "--no-validate")
        watcher.join(timeout=10)
    finally:
        proxy.stop()

    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    [error] = error_lines(result.stderr)
    assert error.startswith("error: item type Invoice: writing to "), error
    assert f"still failing after 2 retries; last error: cannot reach {url}: " in error, error
    assert "Could not connect to the endpoint URL" in error, error
    assert error.endswith("(check the endpoint URL and that it is running)"), error

    screen = result.stderr.splitlines()
    assert any(line.startswith("Customer: finished in ") for line in screen), result.stderr
    assert any(line.startswith("Invoice: failed after ") for line in screen), result.stderr
    assert not any(line.startswith("Invoice: finished") for line in screen), result.stderr
    # item types of the tables after CustomerData never ran
    for name in ("Employee", "Artist", "Album", "Track", "Playlist"):
        assert f"{name}: not started" in screen, (name, result.stderr)
        assert not any(line.startswith(f"{name}: finished") for line in screen), result.stderr

    # nothing acknowledged was lost: the checkpoint holds what DynamoDB holds
    state = json.loads(Path(config.parent / "state" / "migration_state.json").read_text())["item_types"]
    invoice = state["Invoice"]
    assert invoice["status"] == "failed" and "last error: cannot reach" in invoice["error"]
    assert invoice["items_written"] == 50, invoice
    assert count_items(ddb, f"{prefix}CustomerData") == CUSTOMERS + invoice["items_written"]
