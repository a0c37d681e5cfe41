"""An item type's cursor must be unique and never NULL, or resuming loses rows.

Checkpoints record the cursor of the last acknowledged row and a resume reads
``WHERE cursor > checkpoint``: rows sharing the checkpoint's cursor value are
skipped for good, and ``cursor > NULL`` is never true. Two guards:

* at plan time (``prove_unique``), where SQLite can tell cheaply: a plain
  single-table select whose cursor holds the table's INTEGER PRIMARY KEY, or
  all the columns of a UNIQUE index (or PRIMARY KEY) declared NOT NULL, is
  unique by construction (PRAGMA only, no row read). Otherwise a plain
  single-table select is checked with one ``GROUP BY cursor HAVING count(*) > 1``
  query (SQLite reads the table once, through an index on the cursor when
  there is one: the same cost as the count the plan already does). Other
  queries (joins, unions, CTEs, subqueries) are left to the stream check, as
  the GROUP BY could cost as much as the whole read.
* while streaming (``StrictOrder``, applied by ``sqlite2ddb.extract.source.stream_rows``,
  which every row stream goes through): each row's cursor must be greater than
  the previous one's. Rows arrive ``ORDER BY cursor``, so any duplicate is
  adjacent to its twin and is caught before it is read past.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Sequence
from itertools import chain, islice
from operator import itemgetter, lt
from typing import Any

from sqlite2ddb.errors import SourceError, SpecError
from sqlite2ddb.extract.failures import source_error
from sqlite2ddb.spec.model import ItemTypeSpec

_IDENT = r'(?:[A-Za-z_][\w$]*|"(?:[^"]|"")+"|\[[^\]]+\]|`[^`]+`)'
_PLAIN = re.compile(
    rf"^\s*SELECT\s+(?:ALL\s+)?(?P<cols>.+?)\s+FROM\s+(?P<table>{_IDENT})"
    rf"(?:\s+(?:AS\s+)?(?P<alias>{_IDENT}))?\s*(?P<rest>(?:WHERE|ORDER|LIMIT|GROUP)\b.*)?;?\s*$",
    re.IGNORECASE | re.DOTALL,
)
_COMPOUND = re.compile(r"\b(?:JOIN|UNION|INTERSECT|EXCEPT|VALUES)\b", re.IGNORECASE)
_KEYWORDS = {"where", "order", "limit", "group", "join", "natural", "left", "inner", "cross"}


def _unquote(name: str) -> str:
    if name[:1] in '"[`':
        return name[1:-1].replace('""', '"')
    return name


def plain_table(query: str) -> tuple[str, list[str]] | None:
    """(table, select list items) when the query reads one table with no join, union or subquery."""
    text = query.strip().rstrip(";")
    if len(re.findall(r"\bSELECT\b", text, re.IGNORECASE)) != 1 or _COMPOUND.search(text):
        return None
    match = _PLAIN.match(text)
    if not match or "," in (match["table"] or ""):
        return None
    if match["alias"] and match["alias"].lower() in _KEYWORDS:
        return None
    return _unquote(match["table"]), [c.strip() for c in match["cols"].split(",")]


def _static_proof(conn: sqlite3.Connection, table: str, items: list[str], cursor: Sequence[str]) -> bool:
    """True when the table's schema alone shows the cursor unique and not NULL."""
    info = conn.execute('SELECT name, type, "notnull", pk FROM pragma_table_info(?)', (table,)).fetchall()
    if not info:
        return False  # a view, or not a table
    columns = {name.lower(): (kind or "", bool(notnull), pk) for name, kind, notnull, pk in info}
    outputs: set[str] = set()
    for item in items:
        bare = re.fullmatch(rf"(?:{_IDENT}\.)?({_IDENT})", item)
        if re.fullmatch(rf"(?:{_IDENT}\.)?\*", item):
            outputs |= set(columns)
        elif bare:
            outputs.add(_unquote(bare[1]).lower())
        else:
            return False  # an expression or alias could give any value a cursor column's name
    wanted = {c.lower() for c in cursor}
    if not wanted <= outputs & set(columns):
        return False
    nullable = {name for name in wanted if not columns[name][1]}
    pks = [name for name, (_, _, pk) in columns.items() if pk]
    rowid = pks[0] if len(pks) == 1 and columns[pks[0]][0].upper() == "INTEGER" else None
    if rowid in wanted and nullable <= {rowid}:
        return True  # the rowid itself: unique and never NULL
    if nullable:
        return False  # a NULL cursor value is a fault of its own: let the GROUP BY look for one
    for _, index, unique, _, partial in conn.execute("SELECT * FROM pragma_index_list(?)", (table,)).fetchall():
        if unique and not partial:
            names = [r[0] for r in conn.execute("SELECT name FROM pragma_index_info(?)", (index,)).fetchall()]
            if names and None not in names and {n.lower() for n in names} <= wanted:
                return True
    return False


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def find_duplicate(conn: sqlite3.Connection, query: str, cursor: Sequence[str]) -> tuple[list[Any], int] | None:
    """The first cursor value that is NULL or held by more than one row, and how many rows hold it."""
    columns = ", ".join(_quote(c) for c in cursor)
    nulls = " OR ".join(f"{_quote(c)} IS NULL" for c in cursor)
    sql = (
        f"SELECT {columns}, count(*) FROM (\n{query.strip().rstrip(';')}\n) "
        f"GROUP BY {columns} HAVING count(*) > 1 OR {nulls} LIMIT 1"
    )
    found = conn.execute(sql).fetchone()
    return (list(found[:-1]), int(found[-1])) if found else None


def prove_unique(conn: sqlite3.Connection, item: ItemTypeSpec) -> str:
    """Check the cursor at plan time; returns how ('schema', 'checked' or 'at run time'), raises SpecError."""
    plain = plain_table(item.query)
    if plain is None:
        return "at run time"
    try:
        if _static_proof(conn, plain[0], plain[1], item.cursor):
            return "schema"
        found = find_duplicate(conn, item.query, item.cursor)
    except sqlite3.Error as exc:
        raise source_error(exc, f"{item.location}: item type {item.name}: checking the cursor") from None
    if found is None:
        return "checked"
    value, rows = found
    where = item.cursor_location or item.location
    shown = dict(zip(item.cursor, value))
    if any(v is None for v in value):
        reason = f"cursor {list(item.cursor)} is NULL in {rows} row(s), e.g. {shown}"
    else:
        reason = f"cursor {list(item.cursor)} is not unique: {rows} rows have {shown}"
    raise SpecError(
        f"{where}: item type {item.name}: {reason}; "
        "a resume would skip rows (make the cursor unique and NOT NULL, e.g. add the primary key to it)"
    )


_RANK = {type(None): 0, int: 1, float: 1, bool: 1, str: 2, bytes: 3}


def _key(value: tuple[Any, ...]) -> tuple[tuple[int, Any], ...]:
    """SQLite's order of values of mixed types: NULL < numbers < text < blobs."""
    return tuple((_RANK.get(type(v), 4), v) for v in value)


class StrictOrder:
    """Checks that the cursor values of a stream strictly increase and are never NULL.

    Python compares text by code point, which is SQLite's BINARY order; a
    cursor column declared with another collation (NOCASE, RTRIM) can come out
    of ``ORDER BY`` in an order Python calls decreasing. Such a pair is asked
    of SQLite once (``confirm``): if SQLite orders it as increasing, later
    decreases of this stream are trusted to SQLite, and only equal values stop it.
    """

    def __init__(self, item_type: str, cursor: Sequence[str], confirm: Any) -> None:
        self.item_type = item_type
        self.cursor = list(cursor)
        self.confirm = confirm  # (previous, current) -> True when SQLite says current > previous
        self.previous: tuple[Any, ...] | None = None
        self.collated = False

    def check_chunk(self, chunk: Sequence[Sequence[Any]], positions: Sequence[int]) -> None:
        """Check a fetched chunk of rows: pairwise comparisons in C when all is well, row by row otherwise."""
        if not chunk:
            return
        get = itemgetter(*positions)
        keys = list(map(get, chunk))
        single = len(positions) == 1
        try:
            fine = all(map(lt, keys, islice(keys, 1, None)))
            fine = fine and None not in (keys if single else chain.from_iterable(keys))
            if fine and self.previous is not None:
                fine = (self.previous[0] if single else self.previous) < keys[0]
        except TypeError:  # values of mixed types: SQLite's order of types, row by row
            fine = False
        if fine:
            self.previous = (keys[-1],) if single else keys[-1]
            return
        for key in keys:
            self.check((key,) if single else key)

    def check(self, current: tuple[Any, ...]) -> None:
        previous, self.previous = self.previous, current
        if None in current:
            raise self._error(f"row with cursor {self._show(current)} has a NULL cursor value")
        if previous is None:
            return
        try:
            if current > previous:
                return
        except TypeError:
            if _key(current) > _key(previous):
                return
        if current != previous and (self.collated or self.confirm(previous, current)):
            self.collated = True
            return
        raise self._error(
            f"cursor does not strictly increase: a row with cursor {self._show(current)} "
            f"follows a row with cursor {self._show(previous)}"
        )

    def _show(self, value: tuple[Any, ...]) -> str:
        return str(dict(zip(self.cursor, value)))

    def _error(self, what: str) -> SourceError:
        return SourceError(
            f"item type {self.item_type}: {what}; a resume would skip rows",
            "make the cursor unique and NOT NULL, e.g. add the primary key to it; "
            "the checkpoint keeps every row written before",
        )
