"""Read one YAML file into plain data plus a map from document path to line."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from sqlite2ddb.errors import SpecError

DocPath = tuple[str | int, ...]

#: Deepest nesting of lists and maps a mapping file may have (aliases included): deeper input
#: would exhaust Python's recursion in the parser, the constructor or the schema check.
MAX_DEPTH = 100
#: How many nodes aliases may add to a file beyond its own: a few reused blocks stay far below,
#: while nine levels of ``&a [*a, *a, ...]`` would expand to billions.
ALIAS_BUDGET = 10_000


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
        if isinstance(part, str) and not part.isprintable():
            part = json.dumps(part)  # a control character would break the one-line message
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
    try:
        loader = _GuardedLoader(text, display)
    except yaml.reader.ReaderError as exc:  # a character YAML does not allow, found before parsing
        line = text.count("\n", 0, exc.position) + 1
        raise SpecError(f"{display}:{line}: YAML error: character U+{exc.character:04X} is not allowed") from exc
    try:
        node = loader.get_single_node()
        if node is None:
            return YamlDocument(display, {}, {(): 1})
        check_expansion(node, loader.aliases, display)
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
            if not isinstance(key_node, yaml.ScalarNode):
                raise SpecError(f"{display}:{key_node.start_mark.line + 1}: {format_path(path)}: a key must be a name")
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
            key_path = (*path, key)
            lines[key_path] = key_node.start_mark.line + 1
            _collect_lines(value_node, key_path, lines, display)
    elif isinstance(node, yaml.SequenceNode):
        for index, child in enumerate(node.value):
            _collect_lines(child, (*path, index), lines, display)


class _GuardedLoader(yaml.SafeLoader):
    """A SafeLoader that refuses deep nesting while composing and notes where each alias is used."""

    def __init__(self, text: str, display: str) -> None:
        super().__init__(text)
        self.display = display
        self.depth = 0
        self.aliases: list[tuple[yaml.Node, int, str]] = []  # (node it names, line, anchor)

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            node = super().compose_node(parent, index)
            if node is not None and event.start_mark is not None:  # always: an alias names a node, events have marks
                self.aliases.append((node, event.start_mark.line + 1, event.anchor or ""))
            return node
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise SpecError(f"{self.display}:{event.start_mark.line + 1}: nested deeper than {MAX_DEPTH} levels")
        try:
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


def check_expansion(root: yaml.Node, aliases: list[tuple[yaml.Node, int, str]], display: str) -> None:
    """Refuse, before anything expands them, aliases that would blow the document up or loop.

    Sizes and depths are computed once per node of the composed graph (an alias is
    the same node object as its anchor), so a bomb costs what its text costs.
    """
    size, depth = _measure(root, display)
    own = len(size)
    if size[id(root)] - own > ALIAS_BUDGET:
        node, line, anchor = max(aliases, key=lambda a: (size[id(a[0])], -a[1]))
        raise SpecError(
            f"{display}:{line}: alias *{anchor} expands to {size[id(node)]:,} nodes; aliases may add at most "
            f"{ALIAS_BUDGET:,} nodes to a mapping file (here {size[id(root)] - own:,})"
        )
    if depth[id(root)] > MAX_DEPTH:
        line = max(aliases, key=lambda a: (depth[id(a[0])], -a[1]))[1] if aliases else 1
        raise SpecError(f"{display}:{line}: aliases nest the document deeper than {MAX_DEPTH} levels")


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _measure(root: yaml.Node, display: str) -> tuple[dict[int, int], dict[int, int]]:
    """Expanded size and depth of every distinct node, iteratively (post-order, memoised)."""
    size: dict[int, int] = {}
    depth: dict[int, int] = {}
    open_nodes: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        if done:
            children = _children(node)
            size[key] = min(1 + sum(size[id(c)] for c in children), 1 << 62)
            depth[key] = 1 + max((depth[id(c)] for c in children), default=0)
            open_nodes.discard(key)
            continue
        if key in size:
            continue
        if key in open_nodes:
            raise SpecError(f"{display}:{node.start_mark.line + 1}: an alias refers to a node that contains it")
        open_nodes.add(key)
        stack.append((node, True))
        stack.extend((child, False) for child in _children(node) if id(child) not in size)
    return size, depth
