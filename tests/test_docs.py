"""The documentation covers the tool, and documents nothing the tool does not have.

No DynamoDB needed: these tests read cli.py's click commands, engine/spec/schema.json,
engine/config.py's dataclasses and the Markdown files.

Conventions the tests parse (see the top of each file):
- docs/commands.md: one heading per command, ``## `<command path>` `` (``## `local start` ``), and
  ``## Global options`` for the options of the top-level group. Under it, a table whose first column
  names the options (``| `-t`, `--tables TABLE` | ... |``); every ``--long-option`` in a first cell
  must exist on that command.
- docs/mapping-reference.md: key tables, whose header's first cell is ``key``; each row's first cell
  is a key in backticks, a dotted path for nested keys (``request.query.partition``).
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterator
from pathlib import Path

import click
import pytest

from cli import cli
from sqlite2ddb import config as config_module

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
COMMANDS_MD = DOCS / "commands.md"
MAPPING_MD = DOCS / "mapping-reference.md"
CONFIGURATION_MD = DOCS / "configuration.md"
SCHEMA = ROOT / "engine" / "spec" / "schema.json"
GLOBAL_HEADING = "Global options"
LONG_OPTION = re.compile(r"--[A-Za-z0-9][A-Za-z0-9-]*")


def walk_commands(group: click.Group, path: tuple[str, ...] = ()) -> Iterator[tuple[str, click.Command]]:
    """Every command below ``group``, groups included, as ("local start", command)."""
    for name, command in sorted(group.commands.items()):
        full = (*path, name)
        yield " ".join(full), command
        if isinstance(command, click.Group):
            yield from walk_commands(command, full)


def long_options(command: click.Command) -> set[str]:
    """The long forms of a command's options, secondary ones (``--no-pitr``) included."""
    names: set[str] = set()
    for param in command.params:
        if isinstance(param, click.Option):
            names.update(o for o in (*param.opts, *param.secondary_opts) if o.startswith("--"))
    return names


def sections(text: str, level: str = "##") -> dict[str, str]:
    """Heading text -> the text below it, up to the next heading of the same level."""
    found: dict[str, str] = {}
    parts = re.split(rf"^{level} (.+)$", text, flags=re.MULTILINE)
    for heading, body in zip(parts[1::2], parts[2::2]):
        found[heading.strip()] = body
    return found


def command_sections() -> dict[str, str]:
    """docs/commands.md: command path ("" for the global options) -> its section."""
    result: dict[str, str] = {}
    for heading, body in sections(COMMANDS_MD.read_text(encoding="utf-8")).items():
        match = re.fullmatch(r"`([a-z0-9 -]+)`", heading)
        if match:
            result[match.group(1)] = body
        elif heading == GLOBAL_HEADING:
            result[""] = body
    return result


def first_cells(body: str) -> list[str]:
    """The first cell of every row of the Markdown tables in ``body`` (header and rule excluded)."""
    cells = []
    for line in body.splitlines():
        if line.startswith("|") and not re.match(r"^\|\s*:?-", line):
            cells.append(line.split("|")[1].strip())
    return cells


def documented_options(body: str) -> set[str]:
    return {opt for cell in first_cells(body) for opt in LONG_OPTION.findall(cell)}


def all_commands() -> list[tuple[str, click.Command]]:
    return [("", cli), *walk_commands(cli)]


def test_every_command_and_option_has_help_text() -> None:
    missing = []
    for path, command in all_commands():
        if path and not (command.help or command.short_help):
            missing.append(f"command '{path}'")
        for param in command.params:
            if isinstance(param, click.Option) and not (param.help or "").strip():
                missing.append(f"option {'/'.join(param.opts)} of '{path or 'the top-level group'}'")
    assert not missing, "no help text: " + ", ".join(missing)


def test_every_command_and_option_is_in_commands_md() -> None:
    documented = command_sections()
    missing = []
    for path, command in all_commands():
        heading = f"## `{path}`" if path else f"## {GLOBAL_HEADING}"
        if path not in documented:
            missing.append(f"command '{path}' (no '{heading}' heading)")
            continue
        absent = sorted(long_options(command) - documented_options(documented[path]))
        missing.extend(f"option {opt} of '{path or 'the top-level group'}' (under '{heading}')" for opt in absent)
    assert not missing, f"{COMMANDS_MD.relative_to(ROOT)} lacks: " + "; ".join(missing)


def test_commands_md_documents_only_what_exists() -> None:
    commands = dict(all_commands())
    unknown = []
    for path, body in command_sections().items():
        if path not in commands:
            unknown.append(f"heading '## `{path}`': there is no such command")
            continue
        extra = sorted(documented_options(body) - long_options(commands[path]))
        unknown.extend(
            f"option {opt} under '{path or GLOBAL_HEADING}': the command has no such option" for opt in extra
        )
    assert not unknown, f"{COMMANDS_MD.relative_to(ROOT)}: " + "; ".join(unknown)


def schema_keys(node: object) -> set[str]:
    """Every property name of the schema, at every nesting level and in every $defs entry."""
    keys: set[str] = set()
    if isinstance(node, dict):
        for name, value in node.items():
            if name == "properties" and isinstance(value, dict):
                keys.update(value)
            keys |= schema_keys(value)
    elif isinstance(node, list):
        for value in node:
            keys |= schema_keys(value)
    return keys


def mapping_reference_keys() -> dict[str, set[str]]:
    """Key path -> its parts, from the key tables of docs/mapping-reference.md."""
    documented: dict[str, set[str]] = {}
    table_is_keys = False
    for line in MAPPING_MD.read_text(encoding="utf-8").splitlines():
        if not line.startswith("|"):
            table_is_keys = False
            continue
        cell = line.split("|")[1].strip()
        if cell == "key":
            table_is_keys = True
        elif table_is_keys and not re.match(r"^:?-", cell):
            for path in re.findall(r"`([^`]+)`", cell):
                documented[path] = set(path.split("."))
    return documented


def test_every_schema_key_is_in_mapping_reference() -> None:
    keys = schema_keys(json.loads(SCHEMA.read_text(encoding="utf-8")))
    documented = set().union(*mapping_reference_keys().values())
    missing = sorted(keys - documented)
    assert not missing, (
        f"keys of engine/spec/schema.json missing from the key tables of docs/mapping-reference.md: {missing}"
    )


def test_mapping_reference_documents_only_schema_keys() -> None:
    keys = schema_keys(json.loads(SCHEMA.read_text(encoding="utf-8")))
    unknown = sorted(path for path, parts in mapping_reference_keys().items() if not parts <= keys)
    assert not unknown, f"docs/mapping-reference.md documents keys engine/spec/schema.json does not have: {unknown}"


def configuration_keys() -> set[str]:
    """Every field of the configuration's dataclasses, except ``path`` (the file itself, never saved in it)."""
    keys: set[str] = set()
    for value in vars(config_module).values():
        if dataclasses.is_dataclass(value) and isinstance(value, type) and value.__module__ == config_module.__name__:
            keys.update(f.name for f in dataclasses.fields(value) if f.name != "path")
    return keys


def test_every_configuration_key_is_in_configuration_md() -> None:
    text = CONFIGURATION_MD.read_text(encoding="utf-8")
    missing = sorted(key for key in configuration_keys() if f"`{key}`" not in text)
    assert not missing, f"configuration keys (engine/config.py) missing from docs/configuration.md: {missing}"


LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


def markdown_files() -> list[Path]:
    return [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]


def heading_anchors(text: str) -> set[str]:
    """GitHub's anchors for the headings of a Markdown text."""
    anchors = set()
    for heading in re.findall(r"^#+ (.+)$", text, flags=re.MULTILINE):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        anchors.add(slug)
    return anchors


@pytest.mark.parametrize("doc", markdown_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_point_to_existing_files(doc: Path) -> None:
    text = doc.read_text(encoding="utf-8")
    broken = []
    for target in LINK.findall(text):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):
            continue
        path, _, anchor = target.partition("#")
        file = (doc.parent / path).resolve() if path else doc
        if not file.exists():
            broken.append(f"{target} (no file {file.relative_to(ROOT) if file.is_relative_to(ROOT) else file})")
        elif anchor and file.suffix == ".md" and anchor not in heading_anchors(file.read_text(encoding="utf-8")):
            broken.append(f"{target} (no heading #{anchor} in {file.relative_to(ROOT)})")
    assert not broken, f"{doc.relative_to(ROOT)}: broken relative links: " + ", ".join(broken)
