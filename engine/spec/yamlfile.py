"""Read one YAML file into plain data plus a map from document path to line."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from engine.errors import SpecError

DocPath = tuple[str | int, ...]


@dataclass(frozen=True)
class YamlDocument:
    """The parsed content of a file and where each path inside it starts."""

    file: str
    data: Any
    lines: dict[DocPath, int]

    def line_of(self, path: DocPath) -> int:
        """The line of ``path``, or of its nearest ancestor that has one."""
        for end in range(len(path), -1, -1):
            line = self.lines.get(tuple(path[:end]))
            if line is not None:
                return line
        return 1

    def where(self, path: DocPath) -> str:
        """``file:line`` for a path inside the document."""
        return f"{self.file}:{self.line_of(path)}"


def format_path(path: DocPath) -> str:
    """``('item_types', 1, 'keys')`` -> ``item_types[1].keys``."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(document)"


def read_yaml(path: Path, display: str) -> YamlDocument:
    """Parse ``path``; syntax errors and duplicate keys become SpecError with file:line."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecError(f"{display}: cannot read mapping file: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise SpecError(f"{display}: not UTF-8 text ({exc.reason})") from exc
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return YamlDocument(display, {}, {(): 1})
        lines: dict[DocPath, int] = {}
        _collect_lines(node, (), lines, display)
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        problem = exc.problem or exc.context or "invalid YAML"
        raise SpecError(f"{display}:{line}: YAML syntax error: {problem}") from exc
    except yaml.YAMLError as exc:
        raise SpecError(f"{display}: YAML error: {exc}") from exc
    finally:
        loader.dispose()
    return YamlDocument(display, data, lines)


def _collect_lines(node: yaml.Node, path: DocPath, lines: dict[DocPath, int], display: str) -> None:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = key_node.value
            if key in seen:
                raise SpecError(
                    f"{display}:{key_node.start_mark.line + 1}: {format_path(path) or 'document'}: "
                    f"duplicate key '{key}'"
                )
            seen.add(key)
            if isinstance(key_node, yaml.ScalarNode):
                # a key is a name: `null:`, `on:` or `yes:` must not turn into None or True
                key_node.tag = "tag:yaml.org,2002:str"
            lines[(*path, key)] = key_node.start_mark.line + 1
            _collect_lines(value_node, (*path, key), lines, display)
    elif isinstance(node, yaml.SequenceNode):
        for index, child in enumerate(node.value):
            _collect_lines(child, (*path, index), lines, display)
