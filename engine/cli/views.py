"""What the command line prints: rich tables, progress bars and summaries, one function per view.

The commands in ``sqlite2ddb.cli`` call the library, then hand its results here. Nothing in this module
decides anything: it draws what it is given.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console
from rich.table import Table

from sqlite2ddb.outputs import json_default, json_text
from sqlite2ddb.prices import WARM_PRICE_NOTE

if TYPE_CHECKING:
    from sqlite2ddb import MigrationResult

# Off a terminal (logs, CI, pipes) tables get room instead of 80 columns.
_WIDTH = None if sys.stdout.isatty() else 160
console = Console(width=_WIDTH)
err_console = Console(stderr=True, width=_WIDTH)


def say(text: str, err: bool = False) -> None:
    """One plain line (no markup, no highlighting) on stdout, or stderr with ``err``."""
    (err_console if err else console).print(text, highlight=False, markup=False, soft_wrap=True)


def print_json(document: Any) -> None:
    click.echo(json_text(document))


def _display_default(value: Any) -> Any:
    """For people: a binary value as its size and digest, never as thousands of characters."""
    if isinstance(value, bytes):
        return f"<binary {len(value):,} bytes sha256:{hashlib.sha256(value).hexdigest()[:8]}>"
    return json_default(value)


def _print_reads(reads: dict[str, Any]) -> None:
    table = Table(title="What a full validate reads")
    for column in ("step", "kind", "requests", "read units", "on-demand USD"):
        table.add_column(column, justify="left" if column in ("step", "kind") else "right")
    for step in reads["steps"]:
        floor = " (at least)" if step["at_least"] else ""
        table.add_row(
            step["name"],
            step["kind"],
            f"{step['requests']:,}",
            f"{step['read_units']:,.1f}{floor}",
            f"{step['on_demand_cost_usd']:.4f}",
        )
    console.print(table)
    console.print(
        f"total validation reads: {reads['total_read_units']:,.1f} RRU, USD {reads['on_demand_cost_usd']:.4f} "
        f"at {reads['price_per_million_rru']} per million RRU ({reads['price_source']}); "
        "queries whose answers pass 4 KB cost more",
        highlight=False,
    )


def _print_load_paths(paths: dict[str, Any]) -> None:
    title = "Load paths: BatchWriteItem (on-demand), S3 + ImportTable (new tables), S3 + bulk put (existing tables)"
    table = Table(title=title)
    columns = ["table", "items", "WRU", "BatchWrite USD", "BatchWrite s", "import GB", "import USD", "import s"]
    columns += ["bulk put USD", "bulk put s", "warm WU/s", "cheaper"]
    for column in columns:
        left = column in ("table", "cheaper")
        table.add_column(column, justify="left" if left else "right", overflow="fold" if left else "ellipsis")
    for t in paths["tables"]:
        write, load, bulk = t["batch_write"], t["import_table"], t.get("bulk_put") or {}
        warm = t["warm_throughput"]
        needed = max(warm["table_write_units_per_s"], warm["index_write_units_per_s"])
        table.add_row(
            t["table"] + (" (exists)" if t.get("exists") else ""),
            str(t["items"]),
            str(write["write_units"]),
            f"{write['usd']:.4f}",
            f"{write['seconds']:.0f}",
            f"{load['gb']:.4f}",
            "n/a" if "not_available" in load else f"{load['usd']:.4f}",
            "n/a" if "not_available" in load else f"{load['seconds']:.0f}",
            "n/a" if not bulk or "not_available" in bulk else f"{bulk['usd']:.4f}",
            "n/a" if not bulk or "not_available" in bulk else f"{bulk['seconds']:.0f}",
            f"{needed:,}" if needed else "-",
            t["cheaper"],
        )
    console.print(table)
    console.print(
        f"ImportTable at USD {paths['import_price_per_gb']} per GB ({paths['import_price_source']}); "
        f"bulk put at USD {paths.get('bulk_put_price_per_gb')} per GB ({paths.get('bulk_put_price_source')}); "
        "BatchWrite time at --max-wcu, else at a new on-demand table's 4,000 WRU/s (table and GSI units added up: "
        "a pessimistic bound, each GSI has warm throughput of its own); import time assumed 5 min + 2 min per GB, bulk put 2 min + the write units at 4,000/s "
        "(AWS publishes no rate); n/a: ImportTable only creates tables, bulk put only fills existing ones; "
        f"warm WU/s: the warm write throughput (table or busiest GSI) a BatchWriteItem load needs to finish in "
        f"{paths.get('target_minutes', 60):g} minutes ('-': a new table's 4,000 are enough; "
        "migrate --warm-throughput N); it does not lift one partition key's 1,000 WU/s",
        highlight=False,
    )


def _print_capacity(capacity: dict[str, Any], max_wcu: float | None) -> None:
    table = Table(title="Capacity and cost estimate")
    columns = ["table", "items", "avg B", "max B", "table WCU", "GSI WCU", "total WRU", "on-demand USD"]
    if max_wcu:
        columns.append(f"s at {max_wcu:g} WCU/s")
    for column in columns:
        table.add_column(column, justify="left" if column == "table" else "right")
    total = 0.0
    for t in capacity["tables"]:
        gsi = ", ".join(f"{k} {v}" for k, v in t["gsi_wcu"].items()) or "0"
        row = [
            t["name"] + (" *" if t["extrapolated_from_sample"] else ""),
            str(t["items"]),
            f"{t['average_item_bytes']:.0f}",
            str(t["largest_item_bytes"]),
            str(t["table_wcu"]),
            gsi,
            str(t["total_wcu"]),
            f"{t['on_demand_cost_usd']:.4f}",
        ]
        if max_wcu:
            row.append(f"{t['seconds_at_max_wcu']:.0f}")
        total += t["on_demand_cost_usd"]
        table.add_row(*row)
    console.print(table)
    console.print(
        f"total on-demand write cost: USD {total:.4f} at {capacity['price_per_million_wru']} per million WRU "
        f"({capacity['price_source']}); * extrapolated from the first rows",
        highlight=False,
    )
    _print_hot_keys(capacity["tables"], max_wcu)
    problems = sum(t["problems"] for t in capacity["tables"])
    if problems:
        console.print(f"[red]{problems} rows cannot be written as mapped[/red]; run 'migrate --dry-run' for the list")


def _print_table_settings(tables: list[dict[str, Any]]) -> None:
    """Local indexes and settings per table, then what migrate will change on existing tables."""
    for t in tables:
        parts = [f"local index {i['name']}({', '.join(i['key'])}) {i['projection']}" for i in t["local_indexes"]]
        parts += [f"{k}: {v}" for k, v in t["settings"].items()]
        if parts:
            console.print(f"{t['name']}: " + "; ".join(parts), highlight=False, markup=False)
        for change in t["changes"]:
            console.print(f"  change: {change}", highlight=False, markup=False)


def _print_hot_keys(tables: list[dict[str, Any]], max_wcu: float | None) -> None:
    """The hottest partition keys and the least time the load takes on AWS (1,000 units/s a key, 4,000 a table)."""
    table = Table(title="Hot partition keys on AWS (a key takes 1,000 write units/s, a new table 4,000)")
    for column in ("table", "table / index", "partition key", "units", "share", "s at 1,000/s"):
        table.add_column(column, justify="right" if column in ("units", "share", "s at 1,000/s") else "left")
    for t in tables:
        for hot in t.get("hot_keys", [])[:3]:
            table.add_row(
                t["name"],
                hot["where"],
                hot["key"],
                str(hot["units"]),
                f"{hot['share']:.0%}",
                f"{hot['units'] / 1000:.1f}",
            )
    console.print(table)
    sampled = any(t["extrapolated_from_sample"] for t in tables)
    for t in tables:
        bound = t.get("aws_lower_bound_at_max_wcu" if max_wcu else "aws_lower_bound")
        if not bound:
            continue
        line = f"{t['name']}: the load takes at least {bound['seconds']:g} s on AWS, set by {bound['set_by']}"
        if bound["key_dominates"]:
            line += " [yellow](one partition key dominates: consider write sharding or another key design)[/yellow]"
        console.print(line, highlight=False)
    if sampled:
        console.print("hot keys from the first rows of each item type only; '--estimate-rows 0' counts every row")


def _print_plan(document: dict[str, Any]) -> None:
    console.print(f"Mapping set [bold]{document['mapping_set']}[/bold] (digest {document['mapping_digest'][:12]})")
    tables = Table(title="Tables")
    for column in ("table", "key", "indexes", "billing", "exists"):
        tables.add_column(column)
    for t in document["tables"]:
        indexes = "; ".join(f"{i['name']}({_index_key(i)}) {i['projection']}" for i in t["indexes"])
        exists = "?" if t["exists"] is None else ("yes" if t["exists"] else "to create")
        tables.add_row(t["name"], ", ".join(t["key"]), indexes or "-", t["billing_mode"], exists)
    console.print(tables)
    _print_table_settings(document["tables"])
    items = Table(title="Item types, in order")
    # names are never cut short (two could read the same): as wide as the longest, folded only past 48
    longest = max((len(i["name"]) for i in document["item_types"]), default=9)
    items.add_column("item type", min_width=min(longest, 48), overflow="fold")
    for column in ("table", "rows", "cursor", "PK / SK", "embeds", "defined at"):
        items.add_column(column, overflow="fold")
    for i in document["item_types"]:
        keys = list(i["keys"].values())
        items.add_row(
            i["name"],
            i["table"],
            str(i["expected_rows"]),
            ", ".join(i["cursor"]),
            " / ".join(keys[:2]),
            ", ".join(i["embeds"]) or "-",
            Path(i["defined_at"]).name,  # file:line in the mapping set named above
        )
    console.print(items)
    checks = document["checks"]
    console.print(
        f"Checks: {len(checks['counts'])} counts, {len(checks['access_patterns'])} access patterns, "
        f"{len(checks['aggregates'])} aggregates, {len(checks['item_rules'])} item rules"
    )
    for name, samples in document.get("samples", {}).items():
        console.print(f"[bold]{name}[/bold]")
        for sample in samples:
            console.print_json(json.dumps(sample, default=_display_default))


def _print_diff(difference: dict[str, Any]) -> None:
    table = Table(title=f"Difference with {difference['compared_with']}")
    for column in (
        "item type",
        "table",
        "new",
        "update",
        "delete",
        "unchanged",
        "errors",
        "sample keys / changed paths",
    ):
        table.add_column(
            column, justify="right" if column in ("new", "update", "delete", "unchanged", "errors") else "left"
        )
    for d in difference["item_types"]:
        details = [f"{kind}: {json.dumps(keys[0], ensure_ascii=False)}" for kind, keys in d["samples"].items() if keys]
        if d["changed_paths"]:
            details.append("paths: " + ", ".join(f"{p} ({n})" for p, n in d["changed_paths"].items()))
        details += d["error_samples"][:1]
        if d.get("skipped"):
            details.append(f"skipped: {d['skipped']}")
        elif d.get("found_by"):
            why = f" ({d['found_why']})" if d.get("found_why") else ""
            details.append(f"found by {d['found_by']}{why}: {d.get('rows_rendered', 0)} rows rendered")
        table.add_row(
            d["item_type"],
            d["table"],
            str(d["new"]),
            str(d["updated"]),
            str(d["deleted"]),
            str(d["unchanged"]),
            str(d["errors"]),
            "\n".join(details) or "-",
        )
    console.print(table)
    for line in difference["index_changes"]:
        console.print(f"index change: {line}", highlight=False)
    total = sum(d["new"] + d["updated"] + d["deleted"] for d in difference["item_types"])
    console.print(f"{total} items to write or delete (change digest {difference['change_digest']})", highlight=False)


def _print_validation(result: Any) -> None:
    table = Table(title=f"Validation ({result.seconds:.1f}s)")
    for column in ("check", "result", "compared", "time", "details"):
        table.add_column(column, justify="right" if column in ("compared", "time") else "left")
    for check in result.checks:
        mark = {"pass": "[green]pass[/green]", "empty": "[yellow]empty[/yellow]", "fail": "[red]FAIL[/red]"}
        details = check.summary
        if check.failures:
            details += "\n" + "\n".join(f"- {f}" for f in check.failure_lines(3))
        table.add_row(check.name, mark[check.status], check.compared_text, f"{check.seconds:.1f}s", details)
    console.print(table)
    reads = result.reads
    if reads:
        cap = f", capped at {reads['max_rcu']:g} RCU/s" if reads["max_rcu"] else ""
        console.print(
            f"read {reads['read_units']:,.1f} read units in {reads['requests']:,} requests ({reads['workers']} workers{cap})",
            highlight=False,
        )
    console.print(result.counts_line(), highlight=False)


def print_summary(result: MigrationResult) -> None:
    table = Table(title=f"Migration summary ({result.items_written} items in {result.seconds:.1f}s)")
    for column in (
        "item type",
        "table",
        "status",
        "items",
        "rows read",
        "skipped",
        "rejected",
        "retries",
        "throttles",
        "items/s",
    ):
        table.add_column(column, justify="right" if column not in ("item type", "table", "status") else "left")
    for r in result.items:
        rate = f"{r.items_written / r.seconds:.0f}" if r.seconds else "-"
        table.add_row(
            r.name,
            r.table,
            r.status,
            str(r.items_written),
            str(r.rows_read),
            str(r.rows_skipped),
            str(r.rows_rejected),
            str(r.retries),
            str(r.throttles),
            rate,
        )
    console.print(table)
    if result.tables_created:
        console.print(f"created tables: {', '.join(result.tables_created)}", highlight=False)
    for change in result.warm:
        console.print(change.text(), highlight=False)
    if any(change.raised() for change in result.warm):
        raised = sum(sum(change.raised().values()) for change in result.warm)
        console.print(f"pre-warmed {raised:,} units/s in all; {WARM_PRICE_NOTE}", highlight=False)
    speed = result.items_written / result.seconds if result.seconds else 0.0
    console.print(f"{result.items_written} items written in {result.seconds:.2f}s ({speed:.0f} items/s)")


def print_export(result: Any) -> None:
    table = Table(title=f"Export to {result.location} ({result.seconds:.1f}s)")
    for column in ("table", "parts", "items", "uncompressed B", "gzip B"):
        table.add_column(column, justify="left" if column == "table" else "right")
    for name, t in result.manifest["tables"].items():
        table.add_row(
            name, str(len(t["parts"])), str(t["items"]), str(t["uncompressed_bytes"]), str(t["compressed_bytes"])
        )
    console.print(table)
    rate = result.items_written / result.seconds if result.seconds else 0.0
    console.print(
        f"{result.parts_written} parts written, {result.parts_skipped} finished before; "
        f"{result.items_written} items in {result.seconds:.2f}s ({rate:.0f} items/s); manifest {result.manifest_at}",
        highlight=False,
    )


def print_init(config: Any) -> None:
    endpoint = " " + config.endpoint_url if config.endpoint_url else ""
    say(
        f"wrote {config.path}: source {config.source_db}, mappings {config.mappings}, "
        f"target {config.target}{endpoint}, tables {', '.join(config.dynamodb_tables.values())}"
    )
    say(f"state (checkpoints, lock, rejects, local data) will live in {config.state_dir}")


def print_plan_report(report: Any) -> None:
    """``plan`` on a terminal: the plan, capacity, validation reads and load paths (or the difference)."""
    document = report.document
    if report.run_with == "sync":
        _print_diff(document)
        return
    _print_plan(document)
    _print_capacity(document["capacity"], report.max_wcu)
    _print_reads(document["validation_reads"])
    _print_load_paths(document["load_paths"])


def print_saved_plan(report: Any) -> None:
    if report.saved is not None:
        verb = "apply" if report.run_with == "sync" else "run"
        say(f"plan saved to {report.saved}: run '{report.run_with} --plan {report.saved}' to {verb} exactly this", True)


def print_dry_run(dry: Any) -> None:
    title = f"Dry run: every row read and transformed, nothing written ({dry.seconds:.1f}s)"
    table = Table(title=title)
    for column in ("item type", "rows", "skipped", "items", "bytes", "max B", "table WCU", "GSI WCU", "problems"):
        table.add_column(column, justify="left" if column == "item type" else "right")
    for e in dry.item_types:
        table.add_row(
            e.name,
            str(e.rows_read),
            str(e.rows_skipped),
            str(e.items),
            str(e.bytes),
            str(e.largest),
            str(e.table_wcu),
            str(sum(e.gsi_wcu.values())),
            str(e.problem_count),
        )
    console.print(table)
    for e in dry.item_types:
        if e.largest_at is not None:
            where = json.dumps(e.largest_at, default=str, sort_keys=True)
            in_s3 = f"; {e.offloaded} values ({e.offloaded_bytes:,} bytes) in S3" if e.offloaded else ""
            say(f"{e.name}: largest item {e.largest:,} bytes, key {where}{in_s3}")
    _print_capacity(dry.capacity, dry.max_wcu)
    for problem in dry.problems:
        err_console.print(f"- {problem}", highlight=False)


def print_import_progress(table: str, d: dict[str, Any]) -> None:
    say(
        f"import {table}: {d.get('ImportStatus')}, {d.get('ProcessedItemCount', 0)} items processed, "
        f"{d.get('ProcessedSizeBytes', 0)} bytes, {d.get('ErrorCount', 0)} errors"
    )


def print_bulk_put_progress(table: str, d: dict[str, Any]) -> None:
    say(
        f"bulk put {table}: {d.get('BulkOperationStatus')}, {d.get('ProcessedItemCount', 0)} items processed, "
        f"{d.get('ProcessedInputBytes', 0)} of {d.get('TotalInputBytes', 0)} bytes, "
        f"{d.get('FailedItemCount', 0)} failed"
    )


def print_bulk_put_outcomes(location: str, outcomes: list[Any]) -> None:
    if not outcomes:
        return
    table = Table(title=f"StartBulkPutItems from {location}")
    for column in ("table", "status", "exported", "processed", "failed", "condition failures", "s"):
        table.add_column(column, justify="left" if column in ("table", "status") else "right")
    for o in outcomes:
        table.add_row(
            o.table,
            o.status + (" (earlier run)" if o.resumed else ""),
            str(o.expected_items),
            str(o.processed_items),
            str(o.failed_items),
            str(len(o.condition_failures)),
            f"{o.seconds:.1f}",
        )
    console.print(table)


def print_import_outcomes(location: str, outcomes: list[Any]) -> None:
    if not outcomes:
        return
    table = Table(title=f"ImportTable from {location}")
    for column in ("table", "status", "exported", "processed", "imported", "errors", "log group", "s"):
        table.add_column(
            column, justify="right" if column in ("exported", "processed", "imported", "errors", "s") else "left"
        )
    for o in outcomes:
        table.add_row(
            o.table,
            o.status + (" (earlier run)" if o.resumed else ""),
            str(o.expected_items),
            str(o.processed_items),
            str(o.imported_items),
            str(o.errors),
            o.log_group or "none reported",
            f"{o.seconds:.1f}",
        )
    console.print(table)


def print_sync(result: Any, difference: dict[str, Any]) -> None:
    _print_diff(difference)
    how = " (read the live source through the change log: no copy)" if getattr(result, "read_live", False) else ""
    say(f"sync: {result.put} items put, {result.deleted} deleted in {result.seconds:.2f}s{how}")


def print_validation(result: Any, fmt: str = "table") -> None:
    if fmt == "json":
        print_json(result.to_json())
    else:
        _print_validation(result)


def print_reports(paths: list[Any], fmt: str = "table") -> None:
    for path in paths:
        say(f"report written to {path}", err=fmt == "json")


_STATUS_COLUMNS = (
    "item type",
    "table",
    "state",
    "rows done/total",
    "%",
    "items",
    "items/s",
    "errors",
    "retries",
    "throttles",
    "last checkpoint",
    "table generation",
)


def print_status(report: Any, state_path: Any) -> None:
    table = Table(title=f"Migration status ({state_path})")
    for column in _STATUS_COLUMNS:
        table.add_column(column, no_wrap=column == "item type")
    for r in report.rows:
        pct = f"{100 * r.rows_done / r.total:.0f}%" if r.total else ("100%" if r.status == "done" else "-")
        table.add_row(
            r.name,
            r.table,
            r.status + (f" ({r.error})" if r.error else ""),
            f"{r.rows_done}/{r.total if r.total is not None else '?'}",
            pct,
            str(r.items_written),
            f"{r.items_per_s:.0f}",
            str(r.errors),
            str(r.retries),
            str(r.throttles),
            json.dumps(r.cursor, default=str) if r.cursor is not None else "-",
            f"{r.generation or '-'} ({r.table_check})" if r.status != "pending" else "-",
        )
    console.print(table)
    _print_status_notes(report)


def _found(last_sync: dict[str, Any]) -> str:
    """How the last sync found the item type's change, and how many rows it rendered."""
    if last_sync.get("skipped"):
        return f"; skipped: {last_sync['skipped']}"
    if not last_sync.get("found_by"):
        return ""
    why = f" ({last_sync['found_why']})" if last_sync.get("found_why") else ""
    return f"; change found by {last_sync['found_by']}{why}, {last_sync.get('rows_rendered', 0)} rows rendered"


def _print_status_notes(report: Any) -> None:
    for r in report.rows:
        if r.last_sync:
            s = r.last_sync
            console.print(
                f"last sync of {r.name}: {s['at']}: {s['new']} new, {s['updated']} updated, {s['deleted']} deleted, "
                f"{s['unchanged']} unchanged" + (f", {s['errors']} errors" if s.get("errors") else "") + _found(s),
                highlight=False,
            )
    console.print(f"target of the checkpoints: {report.target or 'none yet'}; {report.target_check}", highlight=False)
    validation = report.snapshot.get("last_validation")
    if validation:
        counts = validation.get("summary") or {}
        told = ", ".join(f"{counts[k]} {k}" for k in ("passed", "empty", "failed") if k in counts)
        console.print(
            f"last validation: {validation.get('result')} at {validation.get('finished_at')}"
            + (f" ({told}; {validation.get('mode')})" if told else ""),
            highlight=False,
        )


def print_info(data: dict[str, Any], config_path: str) -> None:
    table = Table(title="info", show_header=False)
    table.add_column("what")
    table.add_column("value")
    for name, version in data["versions"].items():
        table.add_row(name, str(version))
    if "source" not in data:
        table.add_row("config", f"{config_path} not found (run init)")
        console.print(table)
        return
    source = data["source"]
    rows = ", ".join(f"{k} {v}" for k, v in source.get("tables", {}).items())
    table.add_row("source", f"{source['path']} ({source.get('size', '?')} bytes): {rows or source.get('error')}")
    mapping = data["mapping_set"]
    table.add_row(
        "mapping set",
        f"{mapping['path']}: "
        + (
            f"{', '.join(mapping['item_types'])} into {', '.join(mapping['tables'])}; "
            f"{mapping['access_patterns']} access patterns; digest {mapping['digest'][:12]}"
            if "error" not in mapping
            else mapping["error"]
        ),
    )
    target = data["target"]
    table.add_row(
        "target",
        f"{target['kind']} {target.get('endpoint', '')} region {target['region']} "
        f"prefix {target['table_prefix']}; reachable: {target['reachable']}"
        + (f" ({target['problem']})" if target.get("problem") else ""),
    )
    console.print(table)


def print_scaffold(result: Any, next_command: str) -> None:
    for path in result.written:
        say(f"wrote {path}")
    for path in result.unchanged:
        say(f"unchanged {path}")
    for path in result.removed:
        say(f"removed {path} (an unedited scaffold file the new design does not use)")
    say(
        f"{result.tables} table(s), {result.item_types} item types, {result.embeds} embeds, "
        f"{result.access_patterns} access patterns, {result.aggregate_checks} aggregate checks; "
        f"next: {next_command}"
    )


def print_capture_install(report: dict[str, Any]) -> None:
    say(f"change capture on {len(report['tables'])} table(s): {', '.join(report['tables']) or 'none'}")
    say(f"triggers created: {len(report['created'])}, already installed: {len(report['kept'])}")
    say(f"the log holds every change after position {report['base']}")


def print_capture_status(status: dict[str, Any]) -> None:
    if not status["installed"]:
        say("change capture is not installed")
    for trigger in status["triggers"]:
        say(f"  {trigger['name']} on {trigger['table']}: {trigger['state']}")
    for name in status["foreign"]:
        say(f"  {name}: not created by 'capture install'")
    if not status["installed"]:
        return
    held = f"positions {status['oldest']}..{status['newest']}" if status["rows"] else "empty"
    say(f"log: {status['rows']} row(s), {held}")
    say(f"complete after position {status['base']}; the state consumed {status['consumed'] or 'nothing yet'}")
    if status.get("not_captured_unknown"):
        say(f"which tables the mapping set reads is not known: {status['not_captured_unknown']}")
    if status.get("not_captured"):
        say(
            f"tables the mapping set reads without triggers: {', '.join(status['not_captured'])} (run 'capture install')"
        )


def print_capture_remove(report: dict[str, Any]) -> None:
    if not report["installed"] and not report["dropped"]:
        say("change capture is not installed: nothing removed")
        return
    say(f"dropped {len(report['dropped'])} trigger(s) and the change log ({report['log_rows']} row(s))")
    for name in report["left"]:
        say(f"  left {name}: changed since 'capture install' created it")


def _index_key(index: dict[str, Any]) -> str:
    """``A:S, B:S``; a multi-attribute key as ``partition attributes / sort attributes`` joined by ``+``."""
    partition, sort = index.get("partition", []), index.get("sort", [])
    if len(partition) > 1 or len(sort) > 1:
        return " / ".join("+".join(part) for part in (partition, sort) if part)
    return ", ".join(index["key"])
