"""The options of the commands, declared once; ``sqlite2ddb.cli`` attaches them to the commands it dispatches."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from sqlite2ddb.prices import PRICE_PER_MILLION_WRU

# Numeric options refuse what makes no sense (0 workers, a negative cap, a 150% sample) before any work.
COUNT = click.IntRange(min=0)
AT_LEAST_ONE = click.IntRange(min=1)
POSITIVE = click.FloatRange(min=0, min_open=True)

Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]


def _apply(options: list[Decorator]) -> Decorator:
    """One decorator for a list of options, in the order listed (as ``--help`` shows them)."""

    def decorate(function: Callable[..., Any]) -> Callable[..., Any]:
        for option in reversed(options):
            function = option(function)
        return function

    return decorate


def _choice(name: str, choices: list[str], default: str | None, help: str, dest: str | None = None) -> Decorator:
    names = (name, dest) if dest else (name,)
    return click.option(
        *names, type=click.Choice(choices), default=default, show_default=default is not None, help=help
    )


TABLES = click.option("-t", "--tables", multiple=True, help="Only these tables (config names, e.g. music_catalog).")
MAX_WCU = click.option("--max-wcu", type=POSITIVE, default=None, help="Cap write capacity units per second.")
NO_VALIDATE = click.option("--no-validate", is_flag=True, help="Skip the validation at the end.")
WORKERS = click.option("--workers", type=AT_LEAST_ONE, default=None, help="Writer threads per table.")

init_options = _apply(
    [
        click.option("-s", "--source-db", required=True, help="SQLite database to migrate (opened read-only)."),
        click.option("-m", "--mappings", default="mappings/chinook", show_default=True, help="Mapping set folder."),
        click.option("-r", "--aws-region", default=None, help="AWS region (default us-east-1)."),
        click.option(
            "-b",
            "--batch-size",
            default=25,
            show_default=True,
            type=click.IntRange(1, 25),
            help="Items per BatchWriteItem.",
        ),
        click.option("-p", "--table-prefix", default="chinook_", show_default=True, help="Prefix of every table name."),
        _choice(
            "--target",
            ["local", "aws"],
            "local",
            "local: the embedded DynamoDB Local; aws: AWS through the standard credential chain.",
        ),
        click.option(
            "--endpoint-url", default=None, help="Any DynamoDB-compatible endpoint (LocalStack, Alternator, ...)."
        ),
        click.option("--profile", default=None, help="AWS profile (with --target aws)."),
        click.option("--force", is_flag=True, help="Replace an existing configuration file."),
    ]
)

plan_options = _apply(
    [
        _choice(
            "--format", ["table", "json"], "table", "table: the tables on the terminal; json: one JSON document.", "fmt"
        ),
        click.option("--samples", default=0, type=COUNT, help="Render the first N items of each item type."),
        click.option(
            "--check-target/--no-check-target",
            default=True,
            show_default=True,
            help="Ask the target which tables exist already.",
        ),
        click.option(
            "--estimate-rows",
            default=1000,
            show_default=True,
            type=COUNT,
            help="Rows per item type rendered for the capacity estimate (0: every row).",
        ),
        click.option(
            "--price",
            "price",
            default=PRICE_PER_MILLION_WRU,
            show_default=True,
            type=POSITIVE,
            help="USD per million write request units (on-demand).",
        ),
        click.option("--max-wcu", type=POSITIVE, default=None, help="Show how long the writes take at this WCU/s cap."),
        click.option(
            "--import-price",
            type=POSITIVE,
            default=None,
            help="USD per GB of uncompressed data for ImportTable (default: the us-east-1 price).",
        ),
        click.option(
            "--bulk-put-price",
            type=POSITIVE,
            default=None,
            help="USD per GB of uncompressed data for bulk put (default: assumed ImportTable's price).",
        ),
        click.option(
            "--target-minutes",
            type=POSITIVE,
            default=None,
            help="Show the warm throughput a BatchWriteItem load needs to finish in this time (default 60).",
        ),
        click.option(
            "--diff", "show_diff", is_flag=True, help="Show what 'sync' would put and delete, from the fingerprints."
        ),
        click.option(
            "--against-target", is_flag=True, help="With --diff: compare with the live tables (one Scan each)."
        ),
        click.option(
            "--out", "out", default=None, help="Save the plan for 'migrate --plan' (with --diff: 'sync --plan')."
        ),
    ]
)

migration_options = _apply(
    [
        click.option("-f", "--force", is_flag=True, help="Rewrite item types that are already done."),
        TABLES,
        WORKERS,
        click.option("--parallel-tables", type=AT_LEAST_ONE, default=None, help="Tables written at the same time."),
        MAX_WCU,
        click.option(
            "--warm-throughput",
            type=AT_LEAST_ONE,
            default=None,
            help="Raise each table's warm throughput to this many write units/s before the load (never lowered).",
        ),
        click.option(
            "--warm-read-throughput",
            type=AT_LEAST_ONE,
            default=None,
            help="Raise each table's warm throughput to this many read units/s before the load.",
        ),
        _choice("--on-error", ["stop", "skip"], None, "What a bad row does."),
        NO_VALIDATE,
        click.option("--dry-run", is_flag=True, help="Read, transform and check every item; write nothing."),
        click.option("--plan", "plan_file", default=None, help="Run only if this reviewed plan still holds."),
        click.option(
            "--via-s3",
            default=None,
            help="Load through s3://bucket/prefix: new tables by ImportTable, existing ones by StartBulkPutItems.",
        ),
        click.option("--part-mb", type=POSITIVE, default=None, help="With --via-s3: uncompressed MB per part (64)."),
        click.option("--processes", type=AT_LEAST_ONE, default=None, help="With --via-s3: rendering processes."),
        click.option(
            "--keep-parts",
            is_flag=True,
            help="With --via-s3: keep the bulk put's parts and reports on S3 after success.",
        ),
        click.option(
            "--bulk-write-units",
            type=click.IntRange(min=1024),
            default=None,
            help="With --via-s3: a bulk put's MaxWriteRequestUnits (at least 1024; default: DynamoDB's).",
        ),
    ]
)

sync_options = _apply(
    [
        TABLES,
        WORKERS,
        MAX_WCU,
        click.option("--parallel-tables", type=AT_LEAST_ONE, default=None, help="Tables synced at the same time."),
        _choice("--on-error", ["stop", "skip"], None, "What a row that fails does."),
        click.option(
            "--against-target", is_flag=True, help="Compare with the live tables (one Scan each), not the store."
        ),
        NO_VALIDATE,
        click.option("--plan", "plan_file", default=None, help="Apply exactly this reviewed 'plan --diff --out' file."),
        click.option("--guard", is_flag=True, help="Conditional writes: leave alone items changed outside the tool."),
        click.option(
            "--via-s3",
            default=None,
            help="Puts through s3://bucket/prefix and StartBulkPutItems (with --guard: new keys only).",
        ),
        click.option("--keep-parts", is_flag=True, help="With --via-s3: keep the parts and reports on S3."),
        click.option(
            "--bulk-write-units",
            type=click.IntRange(min=1024),
            default=None,
            help="With --via-s3: the bulk put's MaxWriteRequestUnits (at least 1024).",
        ),
    ]
)

export_options = _apply(
    [
        click.option("--out", "out", required=True, help="A folder, or s3://bucket/prefix."),
        TABLES,
        click.option(
            "--part-mb",
            type=POSITIVE,
            default=None,
            help="Uncompressed MB per part, about (64; a resumed export: its own).",
        ),
        click.option(
            "--processes",
            type=AT_LEAST_ONE,
            default=None,
            help="Worker processes rendering parts (default: the cores).",
        ),
    ]
)

validate_options = _apply(
    [
        click.option("-t", "--table", default=None, help="Only this table (config name, e.g. music_catalog)."),
        click.option(
            "--check",
            "checks",
            multiple=True,
            help="Only checks whose name starts with this (e.g. pattern:, count:<item type>).",
        ),
        click.option("--sample", type=AT_LEAST_ONE, default=None, help="Compare N items per item type instead of all."),
        click.option(
            "--sample-pct",
            type=click.FloatRange(0, 100, min_open=True),
            default=None,
            help="Compare this percentage of items (more than 0, at most 100).",
        ),
        click.option("--report", default=None, help="Write a report: .json, .md or .html."),
        click.option(
            "--workers", type=AT_LEAST_ONE, default=None, help="Reader threads (Scan segments, access patterns)."
        ),
        click.option("--max-rcu", type=POSITIVE, default=None, help="Cap read capacity units per second."),
        _choice(
            "--format",
            ["table", "json"],
            "table",
            "table: the checks as a table; json: the whole result as the JSON report has it.",
            "fmt",
        ),
        click.option(
            "--index-read-above",
            type=click.IntRange(min=-1),
            default=100,
            show_default=True,
            help="Prove an access pattern with more parameter values than this from one read of its index"
            " (plus sampled real requests) instead of one request per value; -1: never.",
        ),
        click.option(
            "--real-queries",
            type=click.IntRange(min=0),
            default=10,
            show_default=True,
            help="Real requests per pattern proven from an index read: the first N values, N at random, the N largest.",
        ),
        click.option(
            "--strict",
            is_flag=True,
            help="A check that compared nothing (empty: no rows, no parameter values) fails the run.",
        ),
        click.option(
            "--generated",
            default=None,
            metavar="DIR",
            help="Answer every access pattern through the data-access code codegen wrote into DIR.",
        ),
    ]
)

codegen_options = _apply(
    [
        _choice("--lang", ["python"], "python", "The language of the generated code.", "lang"),
        click.option("-o", "--out", required=True, help="Folder for the generated package (empty, or codegen's)."),
        click.option("--package", default=None, help="Python package name (default: <mapping folder>_data)."),
    ]
)

scaffold_options = _apply(
    [
        click.option("-s", "--source-db", required=True, help="SQLite database to read the schema from (read-only)."),
        click.option("-o", "--out", required=True, help="Folder for the mapping set, e.g. mappings/shop."),
        click.option(
            "--table", default=None, help="Name of the DynamoDB table (single-table style; default from --out)."
        ),
        _choice(
            "--style",
            ["single-table", "table-per-entity"],
            "single-table",
            "One table for every item type, or one table per source table.",
        ),
        click.option(
            "--multi-attribute-keys/--no-multi-attribute-keys",
            default=False,
            help="Key GSI1 on the items' own attributes (a multi-attribute key) where its synthetic keys would only "
            "concatenate columns; table-per-entity style, for targets that support it (AWS, DynamoDB Local 3.3.0+).",
        ),
    ]
)

export_model_options = _apply(
    [
        click.option(
            "--format",
            "fmt",
            type=click.Choice(["nosql-workbench", "cloudformation"]),
            required=True,
            help="Output format.",
        ),
        click.option("--out", default=None, help="File to write (default: standard output)."),
        click.option(
            "--samples", default=3, show_default=True, type=COUNT, help="Sample items per item type (Workbench)."
        ),
        click.option(
            "--pitr/--no-pitr",
            default=True,
            show_default=True,
            help="Point-in-time recovery on the tables (CloudFormation).",
        ),
    ]
)
