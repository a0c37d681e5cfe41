"""Scaffold a mapping set from a SQLite schema.

``schema_reader`` reads the schema and the facts about the data, ``infer``
adds the relationships the values show but the schema does not declare, ``design``
chooses item types, keys and embeds, ``patterns`` the access patterns and
checks that prove them, ``writer`` the YAML text. ``scaffold`` ties them
together and refuses to overwrite a file someone has edited.
"""

from __future__ import annotations

import os
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

from sqlite2ddb.errors import UsageError
from sqlite2ddb.extract.source import open_source
from sqlite2ddb.scaffold import names
from sqlite2ddb.scaffold.design import Style, design
from sqlite2ddb.scaffold.infer import infer_relationships
from sqlite2ddb.scaffold.patterns import aggregate_checks, patterns
from sqlite2ddb.scaffold.schema_reader import read_schema
from sqlite2ddb.scaffold.writer import is_unedited, render

__all__ = ["ScaffoldResult", "next_command", "scaffold"]


@dataclass(frozen=True)
class ScaffoldResult:
    directory: str
    written: tuple[str, ...]
    unchanged: tuple[str, ...]
    removed: tuple[str, ...]
    tables: int
    item_types: int
    embeds: int
    access_patterns: int
    aggregate_checks: int


def scaffold(
    source: str,
    out: str,
    table: str | None = None,
    style: Style = "single-table",
    multi_attribute_keys: bool = False,
) -> ScaffoldResult:
    """Write a mapping set for ``source`` into ``out``; never overwrites an edited file.

    ``multi_attribute_keys``: the target supports multi-attribute index keys (see ``design.design``).
    """
    if table and style != "single-table":
        raise UsageError("--table names the one table of --style single-table")
    if multi_attribute_keys and style != "table-per-entity":
        raise UsageError(
            "--multi-attribute-keys applies to --style table-per-entity: the single table's GSI1 holds every "
            "item type, so its keys carry each type's prefix"
        )
    if table and not re.match(r"^[A-Za-z_][A-Za-z0-9_.-]*$", table):
        raise UsageError(
            f"--table {table!r}: a table name is letters, digits, '_', '.' and '-', not starting with a digit"
        )
    folder = Path(out)
    table_name = table or names.item_name(folder.resolve().name, set())
    conn = open_source(source)
    try:
        schema = read_schema(conn, source)
        if not schema.tables:
            raise UsageError(f"{source} has no tables to scaffold")
        schema = infer_relationships(conn, schema)
        chosen = design(conn, schema, style, table_name, multi_attribute_keys)
    finally:
        conn.close()
    files = render(chosen)
    written, unchanged, removed = _write(folder, files)
    return ScaffoldResult(
        directory=str(folder),
        written=written,
        unchanged=unchanged,
        removed=removed,
        tables=len(chosen.tables),
        item_types=len(chosen.items),
        embeds=sum(len(i.embeds) for i in chosen.items),
        access_patterns=sum(1 for p in patterns(chosen) if not p.empty),
        aggregate_checks=len(aggregate_checks(chosen)),
    )


def next_command(source: str, out: str) -> str:
    """The commands after scaffold, with a configuration and table prefix of the mapping set's own.

    Naming them keeps ``init`` away from the quick start's ``config/migration.json`` and its tables.
    """
    name = re.sub(r"[^a-z0-9]+", "_", Path(out).resolve().name.lower()).strip("_") or "mine"
    config = f"config/{name}.json"
    return (
        f"cli.py -c {config} init -s {shlex.quote(source)} -m {shlex.quote(out)} -p {name}_, "
        f"then cli.py -c {config} plan, migrate, validate"
    )


def _write(folder: Path, files: dict[str, str]) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """Check every file first, then write: nothing is written when one file was edited."""
    _check_folder(folder)
    existing = {p.name: _read(p) for p in folder.glob("*.y*ml")} if folder.is_dir() else {}
    edited = [name for name in files if name in existing and not is_unedited(existing[name])]
    if edited:
        raise UsageError(
            f"{', '.join(str(folder / n) for n in sorted(edited))}: edited since scaffold wrote it (or not written "
            "by scaffold); not overwriting",
            "scaffold into another folder with -o and compare, or delete the file",
        )
    stale = [name for name, text in existing.items() if name not in files and is_unedited(text)]
    folder.mkdir(parents=True, exist_ok=True)
    written, unchanged = [], []
    for name, text in files.items():
        if existing.get(name) == text:
            unchanged.append(str(folder / name))
            continue
        (folder / name).write_text(text, encoding="utf-8")
        written.append(str(folder / name))
    for name in stale:
        (folder / name).unlink()
    return tuple(written), tuple(unchanged), tuple(str(folder / n) for n in stale)


def _check_folder(folder: Path) -> None:
    """The output folder must be a folder (or not exist yet); a link that leads nowhere is said, not followed."""
    if folder.is_symlink() and not folder.exists():
        raise UsageError(f"{folder} is a link to {os.readlink(folder)}, which does not exist", "scaffold into a folder")
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"{folder} is not a folder", "scaffold into a folder with -o")


def _read(path: Path) -> str:
    """A YAML file already in the output folder; one that cannot be read is said, never written over."""
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = "a link that leads nowhere" if path.is_symlink() and not path.exists() else str(exc)
        raise UsageError(
            f"{path}: cannot read it ({reason}); scaffold does not write into a folder with a file it cannot check",
            "remove it, or scaffold into another folder with -o",
        ) from None
