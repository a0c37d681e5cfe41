"""The shape of the library: no import circle, arrows from the commands down to the stages, a job per package.

Every module under ``engine/`` is read with ``ast`` (nothing is imported) under
its installed name ``sqlite2ddb.<path>``. An import counts wherever it stands,
at the top or inside a function, except inside an ``if TYPE_CHECKING:`` block,
which never runs. ``from package import name`` is an arrow to the module
``package.name`` when that is a module the package does not shadow with a name
of its own, else to ``package`` itself. Failures name the offending imports as
``importer -> imported (file:line)``.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ENGINE = Path(__file__).resolve().parent.parent / "engine"
ROOT = "sqlite2ddb"

# The stages, bottom to top. A module may import its own stage, the base
# modules, and any stage of a lower rank; never its own rank's peers or above.
BASE = ("errors", "config", "faults", "logs", "outputs", "prices", "wire", "canonical")
LAYERS: tuple[tuple[str, ...], ...] = (
    BASE,
    ("spec",),
    ("extract",),
    ("plan",),
    ("dynamodb",),
    ("state",),
    ("render",),
    ("migrate",),
    ("sync",),
    ("validate",),
    ("bulk", "scaffold", "model_export", "codegen"),
    ("commands",),
    (ROOT,),  # the package's public surface, engine/__init__.py
    ("cli",),
)
RANK = {stage: rank for rank, stages in enumerate(LAYERS) for stage in stages}


@dataclass(frozen=True)
class Arrow:
    """One import: ``source`` imports ``target`` at ``line`` of ``path``."""

    source: str
    target: str
    path: Path
    line: int

    def __str__(self) -> str:
        return f"{self.source} -> {self.target} ({self.path.relative_to(ENGINE.parent)}:{self.line})"


def module_name(path: Path) -> str:
    """``engine/validate/__init__.py`` -> ``sqlite2ddb.validate``."""
    parts = path.relative_to(ENGINE).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join((ROOT, *parts))


MODULES: dict[str, Path] = {module_name(p): p for p in sorted(ENGINE.rglob("*.py"))}
TREES: dict[str, ast.Module] = {m: ast.parse(p.read_text(encoding="utf-8"), str(p)) for m, p in MODULES.items()}


def is_type_checking(test: ast.expr) -> bool:
    """``TYPE_CHECKING`` or ``typing.TYPE_CHECKING``."""
    if isinstance(test, ast.Name):
        return test.id == "TYPE_CHECKING"
    return isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"


def run_time_nodes(node: ast.AST) -> Iterator[ast.AST]:
    """Every node below ``node`` except the bodies of ``if TYPE_CHECKING:``."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and is_type_checking(child.test):
            for other in child.orelse:
                yield other
                yield from run_time_nodes(other)
            continue
        yield child
        yield from run_time_nodes(child)


def top_level_names(module: str, tree: ast.Module) -> set[str]:
    """Names a module binds at its top level (definitions, assignments, imports), except its own submodules."""
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Import):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            source = absolute(module, node)
            own = source == module
            names.update(a.asname or a.name for a in node.names if not (own and (a.asname or a.name) == a.name))
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(t.id for t in targets if isinstance(t, ast.Name))
    return names


def nearest_module(name: str) -> str | None:
    """The longest prefix of a dotted name that is a module of the library."""
    parts = name.split(".")
    while parts:
        if ".".join(parts) in MODULES:
            return ".".join(parts)
        parts.pop()
    return None


def absolute(module: str, node: ast.ImportFrom) -> str:
    """The absolute name a (possibly relative) ``from ... import`` reads."""
    if not node.level:
        return node.module or ""
    package = module if MODULES[module].name == "__init__.py" else module.rpartition(".")[0]
    base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
    return f"{base}.{node.module}" if node.module else base


BOUND = {m: top_level_names(m, t) for m, t in TREES.items()}


def targets_of(module: str, node: ast.AST) -> Iterator[str]:
    """The library modules one import statement reaches."""
    if isinstance(node, ast.Import):
        for alias in node.names:
            found = nearest_module(alias.name)
            if found:
                yield found
    elif isinstance(node, ast.ImportFrom):
        source = absolute(module, node)
        for alias in node.names:
            child = f"{source}.{alias.name}"
            if child in MODULES and alias.name not in BOUND.get(source, set()):
                yield child
            else:
                found = nearest_module(source)
                if found:
                    yield found


def collect_arrows() -> list[Arrow]:
    arrows: set[Arrow] = set()
    for module, tree in TREES.items():
        for node in run_time_nodes(tree):
            for target in targets_of(module, node):
                if target != module:
                    arrows.add(Arrow(module, target, MODULES[module], node.lineno))
    return sorted(arrows, key=str)


ARROWS = collect_arrows()
GRAPH: dict[str, set[str]] = defaultdict(set)
for _arrow in ARROWS:
    GRAPH[_arrow.source].add(_arrow.target)


def stage(module: str) -> str:
    """``sqlite2ddb.validate.html`` -> ``validate``; the root package is its own stage."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ROOT


def within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def arrows_from(package: str) -> list[Arrow]:
    return [a for a in ARROWS if within(a.source, package)]


def listed(arrows: list[Arrow]) -> str:
    return "\n  ".join(str(a) for a in sorted(arrows, key=str))


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's components with more than one module, iteratively."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(MODULES):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.get(root, ()))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_graph_is_read() -> None:
    """A sanity check of the reader itself: known arrows are seen, type-only imports are not."""
    assert len(MODULES) > 50
    assert "sqlite2ddb.errors" in GRAPH["sqlite2ddb.config"]
    assert "sqlite2ddb.plan.compile" not in GRAPH["sqlite2ddb.canonical"], "an `if TYPE_CHECKING:` import was counted"


def test_no_import_cycle() -> None:
    cycles = strongly_connected(GRAPH)
    detail = []
    for component in cycles:
        members = set(component)
        detail.append(listed([a for a in ARROWS if a.source in members and a.target in members]))
    assert not cycles, "import circles (each block: the imports that close one circle):\n  " + "\n\n  ".join(detail)


def test_every_module_has_a_layer() -> None:
    """A new top-level module or stage folder must be placed in LAYERS before it can be checked."""
    unplaced = sorted({stage(m) for m in MODULES} - set(RANK))
    assert not unplaced, f"stages missing from LAYERS in tests/test_architecture.py: {unplaced}"


def test_stages_import_only_lower_stages() -> None:
    """base < spec < extract < plan < dynamodb < state < render < migrate < sync < validate
    < bulk/scaffold/model_export < commands < sqlite2ddb (public surface) < cli."""
    upward = [
        a
        for a in ARROWS
        if stage(a.source) != stage(a.target)
        and stage(a.target) in RANK
        and stage(a.source) in RANK
        and RANK[stage(a.target)] >= RANK[stage(a.source)]
        and not (stage(a.source) in BASE and stage(a.target) in BASE)
    ]
    assert not upward, "imports of a stage at the same level or above:\n  " + listed(upward)


def test_writer_imports_nothing_from_state_sync_validate_commands() -> None:
    forbidden = ("state", "sync", "validate", "commands")
    bad = [
        a
        for a in arrows_from("sqlite2ddb.dynamodb.writer")
        if any(within(a.target, f"{ROOT}.{name}") for name in forbidden)
    ]
    assert not bad, "the writer reports acknowledgements to a callback; it must not import:\n  " + listed(bad)


def test_dynamodb_layer_imports_no_validate_sync_migrate_state_commands() -> None:
    forbidden = ("validate", "sync", "migrate", "state", "commands", "cli")
    bad = [a for a in arrows_from(f"{ROOT}.dynamodb") if any(within(a.target, f"{ROOT}.{n}") for n in forbidden)]
    assert not bad, "the DynamoDB layer imports a stage that uses it:\n  " + listed(bad)


def test_transform_is_imported_only_by_the_render_stream() -> None:
    bad = [a for a in ARROWS if a.target == f"{ROOT}.render.transform" and a.source != f"{ROOT}.render.stream"]
    assert not bad, "rows become items only through sqlite2ddb.render.stream; other importers:\n  " + listed(bad)


#: The public surface: the package (its curated API) and ``commands`` (one documented function per command),
#: plus configuration, errors, logging, and two import-free base modules: the prices its options show as
#: defaults and the JSON text of the documents it prints (so that ``cli.py --help`` imports no stage).
CLI_MAY_IMPORT = (
    ROOT,
    f"{ROOT}.commands",
    f"{ROOT}.config",
    f"{ROOT}.errors",
    f"{ROOT}.logs",
    f"{ROOT}.prices",
    f"{ROOT}.outputs",
)


def test_cli_imports_only_the_public_surface_config_errors_logs_and_base_facts() -> None:
    bad = [
        a for a in arrows_from(f"{ROOT}.cli") if a.target not in CLI_MAY_IMPORT and not within(a.target, f"{ROOT}.cli")
    ]
    assert not bad, f"the CLI may import only {', '.join(CLI_MAY_IMPORT)} and its own modules:\n  " + listed(bad)


def packages() -> list[Path]:
    return sorted(p.parent for p in ENGINE.rglob("__init__.py"))


@pytest.mark.parametrize("folder", packages(), ids=lambda p: module_name(p / "__init__.py"))
def test_every_package_has_a_docstring_saying_its_job(folder: Path) -> None:
    docstring = ast.get_docstring(TREES[module_name(folder / "__init__.py")]) or ""
    first_line = docstring.strip().splitlines()[0] if docstring.strip() else ""
    assert len(first_line.split()) >= 4, f"{folder / '__init__.py'}: no docstring saying the package's job"


def test_every_folder_with_python_is_a_package() -> None:
    """A folder of modules without __init__.py would be a namespace package, missed by setup.cfg and this test."""
    bare = sorted(
        str(p.relative_to(ENGINE.parent))
        for p in {f.parent for f in ENGINE.rglob("*.py")}
        if not (p / "__init__.py").exists()
    )
    assert not bare, f"folders of modules without __init__.py: {bare}"


def test_help_imports_no_stage_and_no_aws_library() -> None:
    """``cli.py --help`` answers without importing boto3 or any stage: the library is imported when a command runs."""
    script = (
        "import runpy, sys\n"
        "sys.argv = ['cli.py', '--help']\n"
        "try:\n    runpy.run_path('cli.py', run_name='__main__')\nexcept SystemExit:\n    pass\n"
        "heavy = ('boto3', 'botocore', 'sqlglot', 'jsonschema', 'jinja2', 'yaml')\n"
        "stages = ('spec', 'extract', 'plan', 'dynamodb', 'state', 'render', 'migrate', 'sync', 'validate')\n"
        "loaded = [m for m in sys.modules if m.split('.')[0] in heavy]\n"
        "loaded += [m for m in sys.modules if m.startswith('sqlite2ddb.') and m.split('.')[1] in stages]\n"
        "print('LOADED', sorted(loaded))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ENGINE.parent, capture_output=True, text=True, check=True, timeout=60
    )
    assert "Usage:" in result.stdout and "LOADED []" in result.stdout, result.stdout[-2000:]
