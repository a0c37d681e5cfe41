"""From a changed source row to the cursor values of the items that render it, read from the mapping's SQL.

An item type's query is parsed with sqlglot. Each table it reads gets a
``Route``: the columns of a changed row that lead to the items, and the
lookups that turn their values into cursor values:

- the query's own table (its FROM): the row's cursor columns are the cursor;
- a joined table (``JOIN parent p ON p.id = c.parent_id``): the items whose
  other side of the equality holds the row's value, found by a lookup that
  keeps the query's joins (all as LEFT JOINs, without its WHERE: a superset,
  so an item the change removes is found too);
- an embed's tables: the child rows' join values (the embed's ``join``), then
  the parents that hold them, up through nested embeds.

A route is fed the row's old values (kept beside its digest) and its new
ones, so a row that moved (a track to another album) reaches both parents.
What cannot be followed (a WITH clause, a subquery, an aggregate, a join that
is not an equality of columns, a cursor that is computed) makes the item
type render in full; ``Unfollowable`` says why.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlglot
from sqlglot import exp

from sqlite2ddb.plan.compile import CompiledEmbed, ItemTypePlan, Plan

CHUNK = 400  # values per lookup query


class Unfollowable(str):
    """Why the rows of an item type's query cannot be followed to its items."""


@dataclass(frozen=True)
class Lookup:
    """``SELECT <outputs> FROM <joins> WHERE <where> IN (values)``: values in, output tuples out."""

    select: str
    where: tuple[str, ...]

    def run(self, conn: sqlite3.Connection, values: Iterable[tuple[Any, ...]]) -> set[tuple[Any, ...]]:
        wanted = sorted({v for v in values if None not in v}, key=repr)
        found: set[tuple[Any, ...]] = set()
        width = len(self.where)
        for start in range(0, len(wanted), CHUNK):
            part = wanted[start : start + CHUNK]
            if width == 1:
                sql = f"{self.select} WHERE {self.where[0]} IN ({', '.join('?' for _ in part)})"
            else:
                rows = ", ".join("(" + ", ".join("?" for _ in range(width)) + ")" for _ in part)
                sql = f"{self.select} WHERE ({', '.join(self.where)}) IN (VALUES {rows})"
            found.update(tuple(r) for r in conn.execute(sql, [x for v in part for x in v]))
        return found


@dataclass(frozen=True)
class Route:
    """A changed row of ``table`` reaches the item type's cursors through its ``columns`` and ``steps``."""

    table: str
    columns: tuple[str, ...]  # lower case
    steps: tuple[Lookup, ...]

    def cursors(self, conn: sqlite3.Connection, rows: Iterable[dict[str, Any]]) -> set[tuple[Any, ...]]:
        values: set[tuple[Any, ...]] = {tuple(row.get(c) for c in self.columns) for row in rows}
        values = {v for v in values if None not in v}
        for step in self.steps:
            if not values:
                break
            values = step.run(conn, values)
        return values


@dataclass(frozen=True)
class Follower:
    item_type: str
    routes: tuple[Route, ...]

    def watched(self) -> dict[str, set[str]]:
        """Per table, the columns whose old values the routes need."""
        out: dict[str, set[str]] = {}
        for route in self.routes:
            out.setdefault(route.table, set()).update(route.columns)
        return out


@dataclass
class _Shape:
    root: str  # alias of the FROM table
    tables: dict[str, str]  # alias -> stored table name
    links: dict[str, tuple[str, str, str]]  # joined alias -> (its column, other alias, other column)
    outputs: dict[str, tuple[str, str]]  # output name (lower) -> (alias, column)
    from_sql: str

    def expr(self, name: str) -> str | None:
        source = self.outputs.get(name.lower())
        return None if source is None else f"{_q(source[0])}.{_q(source[1])}"


def follower(conn: sqlite3.Connection, item: ItemTypePlan, reads: Iterable[str]) -> Follower | Unfollowable:
    """The routes from every table the item type reads to its cursor values, or why there are none."""
    shape = _shape(conn, item.spec.query)
    if isinstance(shape, Unfollowable):
        return shape
    routes = _routes(shape, item.spec.cursor, "cursor column")
    if isinstance(routes, Unfollowable):
        return routes
    outputs = ", ".join(shape.expr(c) or "" for c in item.spec.cursor)
    for embed in item.embeds:
        more = _embed_routes(conn, embed, shape, outputs)
        if isinstance(more, Unfollowable):
            return more
        routes += more
    covered = {r.table.lower() for r in routes}
    for table in sorted(reads):
        if table.lower() not in covered:
            return Unfollowable(f"it reads {table} in a way that cannot be followed")
    return Follower(item.name, tuple(routes))


def _embed_routes(
    conn: sqlite3.Connection, embed: CompiledEmbed, parent: _Shape, parent_outputs: str
) -> list[Route] | Unfollowable:
    spec = embed.spec
    shape = _shape(conn, spec.query)
    if isinstance(shape, Unfollowable):
        return Unfollowable(f"embed {spec.name}: {shape}")
    where = [parent.expr(c) for c in spec.parent_columns]
    if None in where:
        return Unfollowable(f"embed {spec.name}: its join column is computed in the parent's query")
    up = Lookup(f"SELECT {parent_outputs} FROM {parent.from_sql}", tuple(w for w in where if w))
    routes = _routes(shape, spec.child_columns, f"embed {spec.name}: join column")
    if isinstance(routes, Unfollowable):
        return routes
    outputs = ", ".join(shape.expr(c) or "" for c in spec.child_columns)
    for nested in embed.embeds:
        more = _embed_routes(conn, nested, shape, outputs)
        if isinstance(more, Unfollowable):
            return more
        routes += more
    return [Route(r.table, r.columns, (*r.steps, up)) for r in routes]


def _routes(shape: _Shape, outs: Sequence[str], what: str) -> list[Route] | Unfollowable:
    sources: list[tuple[str, str]] = []
    for name in outs:
        source = shape.outputs.get(name.lower())
        if source is None:
            return Unfollowable(f"{what} {name} is not a plain column of a table")
        sources.append(source)
    exprs = ", ".join(f"{_q(a)}.{_q(c)}" for a, c in sources)
    routes = []
    for alias, table in shape.tables.items():
        if alias == shape.root:
            if any(a != alias for a, _ in sources):
                return Unfollowable(f"{what}s come from a joined table")
            routes.append(Route(table, tuple(c.lower() for _, c in sources), ()))
        else:
            own, other, other_col = shape.links[alias]
            lookup = Lookup(f"SELECT {exprs} FROM {shape.from_sql}", (f"{_q(other)}.{_q(other_col)}",))
            routes.append(Route(table, (own.lower(),), (lookup,)))
    return routes


def _shape(conn: sqlite3.Connection, sql: str) -> _Shape | Unfollowable:
    try:
        tree = sqlglot.parse_one(sql, read="sqlite")
    except sqlglot.errors.ParseError:
        return Unfollowable("its query could not be parsed")
    if not isinstance(tree, exp.Select):
        return Unfollowable("its query is not a single SELECT (a UNION?)")
    for part, why in (("with_", "a WITH clause"), ("with", "a WITH clause"), ("group", "GROUP BY")):
        if tree.args.get(part):
            return Unfollowable(f"its query has {why}")
    for part in ("having", "distinct", "limit", "offset"):
        if tree.args.get(part):
            return Unfollowable(f"its query has {part.upper()}")
    if any(isinstance(node, exp.Select) for node in tree.walk() if node is not tree):
        return Unfollowable("its query has a subquery")
    if tree.find(exp.AggFunc) is not None or tree.find(exp.Window) is not None:
        return Unfollowable("its query has an aggregate")
    source = tree.args.get("from_") or tree.args.get("from")
    if source is None or not isinstance(source.this, exp.Table):
        return Unfollowable("its FROM is not a table")
    return _joins(conn, tree, source.this)


def _joins(conn: sqlite3.Connection, tree: exp.Select, root: exp.Table) -> _Shape | Unfollowable:
    stored = {n.lower(): n for (n,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    tables: dict[str, str] = {}
    columns: dict[str, list[str]] = {}
    links: dict[str, tuple[str, str, str]] = {}
    parts = [_table_sql(root)]
    for node in [root, *(j.this for j in tree.args.get("joins") or [])]:
        if not isinstance(node, exp.Table) or node.name.lower() not in stored:
            return Unfollowable(f"it joins {node.sql(dialect='sqlite')}, which is not a stored table")
        alias = node.alias_or_name
        tables[alias] = stored[node.name.lower()]
        columns[alias] = [r[1] for r in conn.execute(f"PRAGMA table_info({_q(tables[alias])})")]
    for join in tree.args.get("joins") or []:
        alias = join.this.alias_or_name
        link = _link(
            join, alias, [a for a in tables if (a != alias and a in links) or a == root.alias_or_name], columns
        )
        if link is None:
            return Unfollowable(f"the join of {tables[alias]} is not an equality of columns")
        links[alias] = link
        condition = join.args.get("on")
        using = join.args.get("using")
        on = f" ON {condition.sql(dialect='sqlite')}" if condition is not None else ""
        on += f" USING ({', '.join(_q(u.name) for u in using)})" if using else ""
        parts.append(f"LEFT JOIN {_table_sql(join.this)}{on}")
    outputs = _outputs(tree, root.alias_or_name, tables, columns)
    return _Shape(root.alias_or_name, tables, links, outputs, " ".join(parts))


def _link(join: exp.Join, alias: str, earlier: list[str], columns: dict[str, list[str]]) -> tuple[str, str, str] | None:
    """(joined column, other alias, other column) of the first equality linking the join to an earlier table."""
    using = join.args.get("using")
    if using:
        name = using[0].name
        for other in earlier:
            if name.lower() in (c.lower() for c in columns[other]):
                return name, other, name
        return None
    condition = join.args.get("on")
    if condition is None:
        return None
    conjuncts = list(condition.flatten()) if isinstance(condition, exp.And) else [condition]
    for term in conjuncts:
        if isinstance(term, exp.EQ) and isinstance(term.this, exp.Column) and isinstance(term.expression, exp.Column):
            left, right = term.this, term.expression
            for mine, theirs in ((left, right), (right, left)):
                if mine.table == alias and theirs.table in earlier:
                    return mine.name, theirs.table, theirs.name
    return None


def _outputs(
    tree: exp.Select, root: str, tables: dict[str, str], columns: dict[str, list[str]]
) -> dict[str, tuple[str, str]]:
    out: dict[str, tuple[str, str]] = {}
    for node in tree.expressions:
        target = node.this if isinstance(node, exp.Alias) else node
        if isinstance(target, exp.Star):
            for alias in tables:
                for c in columns[alias]:
                    out.setdefault(c.lower(), (alias, c))
        elif isinstance(target, exp.Column) and isinstance(target.this, exp.Star):
            for c in columns.get(target.table, []):
                out[c.lower()] = (target.table, c)
        elif isinstance(target, exp.Column):
            owner = target.table or _owner(target.name, columns)
            if owner and owner in tables:
                out[node.alias_or_name.lower()] = (owner, target.name)
    return out


def _owner(name: str, columns: dict[str, list[str]]) -> str | None:
    owners = [alias for alias, names in columns.items() if name.lower() in (n.lower() for n in names)]
    return owners[0] if len(owners) == 1 else None


def _table_sql(table: exp.Table) -> str:
    alias = table.alias
    return f"{_q(table.name)} AS {_q(alias)}" if alias else _q(table.name)


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def followers(
    conn: sqlite3.Connection, plan: Plan, reads: dict[str, frozenset[str]]
) -> dict[str, Follower | Unfollowable]:
    return {i.name: follower(conn, i, reads.get(i.name, frozenset())) for i in plan.item_types if i.name in reads}


def watched_columns(found: Iterable[Follower | Unfollowable]) -> dict[str, list[str]]:
    """Per table, the columns any route needs old values of (sorted: the store compares the list)."""
    out: dict[str, set[str]] = {}
    for f in found:
        if isinstance(f, Follower):
            for table, columns in f.watched().items():
                out.setdefault(table, set()).update(columns)
    return {t: sorted(c) for t, c in out.items()}
