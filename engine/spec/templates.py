"""Key and attribute templates: Jinja in a sandbox, with a fast path.

Every template is compiled once per plan. A template that is only literal
text and ``{{ Column }}`` or ``{{ Column | filter(...) }}`` with filters from
FILTERS is turned into a plain Python function that calls the very same
filter functions, so both paths give the same text; anything else runs in
Jinja's SandboxedEnvironment with StrictUndefined. Jinja is imported when the
first template is compiled, not with this module (``cli.py --help`` needs none).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from sqlite2ddb.wire import date_parser

if TYPE_CHECKING:
    from jinja2 import nodes
    from jinja2.sandbox import SandboxedEnvironment


def _text(value: Any) -> str:
    return repr(value) if isinstance(value, float) else str(value)


def pad(value: Any, width: int = 6) -> str:
    """Zero-pad an integer so that text order is numeric order: 42 -> 000042."""
    number = int(value)
    return f"{number:0{width}d}" if number >= 0 else f"-{-number:0{width}d}"


def initial(value: Any) -> str:
    """First character, or '#' when it is not a letter or digit (or the text is empty)."""
    text = _text(value)
    return text[0] if text and text[0].isalnum() else "#"


def lower(value: Any) -> str:
    return _text(value).lower()


def upper(value: Any) -> str:
    return _text(value).upper()


def trim(value: Any) -> str:
    return _text(value).strip()


def shard(value: Any, count: int) -> str:
    """A stable shard number 0..count-1: CRC-32 of the value's text, the same in every process.

    Not Python's ``hash()``, which changes with PYTHONHASHSEED from one process to the next.
    """
    if not isinstance(count, int) or isinstance(count, bool) or count < 1:
        raise ValueError(f"shard needs a whole number of shards >= 1, not {count!r}")
    return str(zlib.crc32(_text(value).encode("utf-8")) % count)


def date(value: Any, fmt: str = "%Y-%m-%d", source: str | None = None) -> str:
    """Reformat date text: parsed as ISO 8601 (or with the strptime format ``source``), written with ``fmt``."""
    text = _text(value).strip()
    try:
        parsed = _date_parser(source)(text)
    except ValueError:
        raise ValueError(f"date: {text!r} is not a date ({source or 'ISO 8601'})") from None
    return parsed.strftime(fmt)


@lru_cache(maxsize=64)
def _date_parser(source: str | None) -> Callable[[str], datetime]:
    return date_parser(source)


def replace(value: Any, old: str, new: str, count: int = -1) -> str:
    """Replace ``old`` with ``new`` in the value's text (every occurrence, or the first ``count``)."""
    return _text(value).replace(str(old), str(new), count)


FILTERS: dict[str, Callable[..., str]] = {
    "pad": pad,
    "initial": initial,
    "lower": lower,
    "upper": upper,
    "trim": trim,
    "shard": shard,
    "date": date,
    "replace": replace,
}


def _finalize(value: Any) -> Any:
    return repr(value) if isinstance(value, float) else value


def make_environment() -> SandboxedEnvironment:
    import jinja2
    from jinja2.sandbox import SandboxedEnvironment

    env = SandboxedEnvironment(
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=False,
        finalize=_finalize,
    )
    env.filters.update(FILTERS)
    return env


@lru_cache(maxsize=1)
def environment() -> SandboxedEnvironment:
    """The one sandboxed environment, built on first use."""
    return make_environment()


def __getattr__(name: str) -> Any:
    """``ENV``: the environment, built when first asked for."""
    if name == "ENV":
        return environment()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class TemplateError(ValueError):
    """A template does not compile, or fails while rendering a row."""


@dataclass(frozen=True)
class CompiledTemplate:
    """A template ready to render; ``columns`` are the variables it reads."""

    source: str
    columns: frozenset[str]
    render: Callable[[Mapping[str, Any]], str]
    fast: bool


def compile_template(source: str) -> CompiledTemplate:
    """Compile once; raise TemplateError with Jinja's message on bad syntax."""
    import jinja2
    from jinja2 import meta

    env = environment()
    try:
        tree = env.parse(source)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(f"template {source!r}: {exc.message} (template line {exc.lineno})") from None
    columns = frozenset(meta.find_undeclared_variables(tree))
    fast = _fast_renderer(tree, source)
    if fast is not None:
        return CompiledTemplate(source, columns, fast, True)
    template = env.from_string(source)

    def render(row: Mapping[str, Any]) -> str:
        try:
            return template.render(row)
        except jinja2.exceptions.SecurityError as exc:
            raise TemplateError(f"template {source!r} refused by the sandbox: {exc}") from None
        except jinja2.TemplateError as exc:
            raise TemplateError(f"template {source!r}: {exc}") from None
        except (TypeError, ValueError, ArithmeticError) as exc:
            raise TemplateError(f"template {source!r}: {exc}") from None

    return CompiledTemplate(source, columns, render, False)


def compile_expression(source: str) -> tuple[Callable[[Mapping[str, Any]], Any], frozenset[str]]:
    """A Jinja expression (``Total > 0``, or ``{{ Total > 0 }}``) as a row predicate."""
    import jinja2
    from jinja2 import meta

    env = environment()
    text = source.strip()
    if text.startswith("{{") and text.endswith("}}"):
        text = text[2:-2]
    try:
        expression = env.compile_expression(text, undefined_to_none=False)
        columns = frozenset(meta.find_undeclared_variables(env.parse("{{ " + text + " }}")))
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(f"expression {source!r}: {exc.message}") from None

    def evaluate(row: Mapping[str, Any]) -> Any:
        try:
            return expression(**row)
        except jinja2.exceptions.SecurityError as exc:
            raise TemplateError(f"expression {source!r} refused by the sandbox: {exc}") from None
        except (jinja2.TemplateError, TypeError, ValueError, ArithmeticError) as exc:
            raise TemplateError(f"expression {source!r}: {exc}") from None

    return evaluate, columns


def _fast_renderer(tree: nodes.Template, source: str) -> Callable[[Mapping[str, Any]], str] | None:
    """A plain function for literal text plus simple column references, else None."""
    from jinja2 import nodes

    parts: list[str | tuple[str, tuple[tuple[Callable[..., str], tuple[Any, ...]], ...]]] = []
    for statement in tree.body:
        if not isinstance(statement, nodes.Output):
            return None
        for node in statement.nodes:
            if isinstance(node, nodes.TemplateData):
                parts.append(node.data)
                continue
            chain = _filter_chain(node)
            if chain is None:
                return None
            parts.append(chain)
    if all(isinstance(p, str) for p in parts):
        constant = "".join(p for p in parts if isinstance(p, str))
        return lambda row: constant
    steps = tuple(parts)

    def render(row: Mapping[str, Any]) -> str:
        out = []
        for part in steps:
            if isinstance(part, str):
                out.append(part)
                continue
            name, filters = part
            try:
                value = row[name]
            except KeyError:
                raise TemplateError(f"template {source!r}: column {name!r} is not in the row") from None
            try:
                for function, args in filters:
                    value = function(value, *args)
            except (TypeError, ValueError, ArithmeticError) as exc:
                raise TemplateError(f"template {source!r}: {exc}") from None
            out.append(_text(value))
        return "".join(out)

    return render


def _filter_chain(node: nodes.Node | None) -> tuple[str, tuple[tuple[Callable[..., str], tuple[Any, ...]], ...]] | None:
    from jinja2 import nodes

    filters: list[tuple[Callable[..., str], tuple[Any, ...]]] = []
    while isinstance(node, nodes.Filter):
        if node.name not in FILTERS or node.kwargs or node.dyn_args or node.dyn_kwargs:
            return None
        constants = [a.value for a in node.args if isinstance(a, nodes.Const)]
        if len(constants) != len(node.args):
            return None
        filters.append((FILTERS[node.name], tuple(constants)))
        node = node.node
    if not isinstance(node, nodes.Name):
        return None
    return node.name, tuple(reversed(filters))


def template_parts(source: str) -> list[str | tuple[str, tuple[tuple[str, tuple[Any, ...]], ...]]] | None:
    """A simple template as its parts: literal text, or (column, ((filter name, constant args), ...)).

    None when the template is not simple (the same test as the fast path), so
    code written from the parts renders the very text ``compile_template`` does.
    """
    import jinja2

    try:
        tree = environment().parse(source)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(f"template {source!r}: {exc.message} (template line {exc.lineno})") from None
    if _fast_renderer(tree, source) is None:
        return None
    names = {function: name for name, function in FILTERS.items()}
    from jinja2 import nodes

    parts: list[str | tuple[str, tuple[tuple[str, tuple[Any, ...]], ...]]] = []
    for statement in tree.body:
        assert isinstance(statement, nodes.Output)
        for node in statement.nodes:
            if isinstance(node, nodes.TemplateData):
                parts.append(node.data)
                continue
            chain = _filter_chain(node)
            assert chain is not None
            parts.append((chain[0], tuple((names[f], args) for f, args in chain[1])))
    return parts
