"""sqlite2ddb: migrate a SQLite database into Amazon DynamoDB through declarative YAML mappings.

The same engine runs the ``sqlite2ddb`` command and any program that imports it. The public API is
the names below (``__all__``); ``sqlite2ddb.commands`` holds one function per command for everything
else the command line does (status, reset, scaffold, export-model, the embedded DynamoDB Local...).
See docs/library.md.

    import sqlite2ddb

    config = sqlite2ddb.load_config("config/migration.json")
    report = sqlite2ddb.plan_migration(config)              # the document 'plan --format json' prints
    result = sqlite2ddb.migrate_tables(config)              # a MigrationResult: items written per item type
    proof = sqlite2ddb.validate_tables(config)              # a ValidationResult: proof.passed, proof.checks
    sqlite2ddb.check_outcome(proof)                         # raises ValidationFailed when it did not pass

Functions are named for what they do to the tables (``migrate_tables``, not ``migrate``): the short
names are the stage packages (``sqlite2ddb.migrate``, ``sqlite2ddb.sync``, ``sqlite2ddb.validate``).
Errors are ``sqlite2ddb.errors.MigrationError`` and its family, each with the exit code the command uses.

The names are imported on first use (PEP 562), so ``import sqlite2ddb`` loads nothing else.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlite2ddb.bulk.export import ExportResult
    from sqlite2ddb.commands import (
        DryRun,
        PlanReport,
        StatusReport,
        check_outcome,
        dry_run,
        load_config,
        load_mapping_set,
    )
    from sqlite2ddb.commands import export as export_tables
    from sqlite2ddb.commands import migrate as migrate_tables
    from sqlite2ddb.commands import plan_diff_report as plan_sync
    from sqlite2ddb.commands import plan_report as plan_migration
    from sqlite2ddb.commands import resume as resume_migration
    from sqlite2ddb.commands import status as migration_status
    from sqlite2ddb.commands import sync as sync_tables
    from sqlite2ddb.commands import validate as validate_tables
    from sqlite2ddb.config import Config
    from sqlite2ddb.migrate.run import MigrationResult
    from sqlite2ddb.spec.model import MappingSet
    from sqlite2ddb.sync.run import SyncResult
    from sqlite2ddb.validate.results import ValidationResult

# public name -> (module, name there)
_EXPORTS: dict[str, tuple[str, str]] = {
    # configuration and mapping set
    "load_config": ("sqlite2ddb.commands", "load_config"),
    "load_mapping_set": ("sqlite2ddb.commands", "load_mapping_set"),
    # the commands
    "plan_migration": ("sqlite2ddb.commands", "plan_report"),
    "plan_sync": ("sqlite2ddb.commands", "plan_diff_report"),
    "dry_run": ("sqlite2ddb.commands", "dry_run"),
    "migrate_tables": ("sqlite2ddb.commands", "migrate"),
    "resume_migration": ("sqlite2ddb.commands", "resume"),
    "sync_tables": ("sqlite2ddb.commands", "sync"),
    "validate_tables": ("sqlite2ddb.commands", "validate"),
    "export_tables": ("sqlite2ddb.commands", "export"),
    "migration_status": ("sqlite2ddb.commands", "status"),
    "check_outcome": ("sqlite2ddb.commands", "check_outcome"),
    # what they return
    "Config": ("sqlite2ddb.config", "Config"),
    "MappingSet": ("sqlite2ddb.spec.model", "MappingSet"),
    "PlanReport": ("sqlite2ddb.commands", "PlanReport"),
    "DryRun": ("sqlite2ddb.commands", "DryRun"),
    "MigrationResult": ("sqlite2ddb.migrate.run", "MigrationResult"),
    "SyncResult": ("sqlite2ddb.sync.run", "SyncResult"),
    "ValidationResult": ("sqlite2ddb.validate.results", "ValidationResult"),
    "ExportResult": ("sqlite2ddb.bulk.export", "ExportResult"),
    "StatusReport": ("sqlite2ddb.commands", "StatusReport"),
}

__all__ = [
    "Config",
    "DryRun",
    "ExportResult",
    "MappingSet",
    "MigrationResult",
    "PlanReport",
    "StatusReport",
    "SyncResult",
    "ValidationResult",
    "check_outcome",
    "dry_run",
    "export_tables",
    "load_config",
    "load_mapping_set",
    "migrate_tables",
    "migration_status",
    "plan_migration",
    "plan_sync",
    "resume_migration",
    "sync_tables",
    "validate_tables",
]


def __getattr__(name: str) -> Any:
    """Import a public name on first use and keep it (PEP 562)."""
    try:
        module, attribute = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module 'sqlite2ddb' has no attribute {name!r}") from None
    value = getattr(import_module(module), attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
