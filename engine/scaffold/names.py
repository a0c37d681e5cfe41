"""Names a mapping set can use, made from SQLite table and column names.

SQLite allows any text as a name; templates and SQL parameters need
identifiers, item types need ``[A-Za-z_][A-Za-z0-9_.-]*``.
"""

from __future__ import annotations

import keyword
import re

# Words Jinja reads as literals or operators: a column alias must not be one.
_RESERVED = frozenset(keyword.kwlist) | {"true", "false", "none", "and", "or", "not", "in", "is", "if", "else"}


def identifier(name: str, taken: set[str]) -> str:
    """A template- and SQL-parameter-safe alias for a column, unique within ``taken`` (which it joins)."""
    alias = re.sub(r"[^A-Za-z0-9_]+", "_", name).strip("_") or "col"
    if alias[0].isdigit():
        alias = "c_" + alias
    if alias in _RESERVED:
        alias += "_"
    return _unique(alias, taken)


def item_name(table: str, taken: set[str]) -> str:
    """'order details' -> OrderDetails; unique within ``taken`` (which it joins)."""
    parts = [p for p in re.split(r"[^A-Za-z0-9]+", table) if p]
    name = "".join(p[0].upper() + p[1:] for p in parts) or "Table"
    if name[0].isdigit():
        name = "T" + name
    return _unique(name, taken)


def key_prefix(item: str) -> str:
    """InvoiceLine -> INVOICE_LINE."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", item).upper()


def kebab(item: str) -> str:
    """InvoiceLine -> invoice-line."""
    return key_prefix(item).lower().replace("_", "-")


def plural(name: str) -> str:
    """Book -> Books, Address -> Addresses; a name that is plural already (Products) stays."""
    if name.endswith("s") and not name.endswith("ss"):
        return name
    if name.endswith(("ss", "x", "sh", "ch")):
        return name + "es"
    if name.endswith("y") and len(name) > 1 and name[-2] not in "aeiou":
        return name[:-1] + "ies"
    return name + "s"


def _unique(name: str, taken: set[str]) -> str:
    candidate, n = name, 2
    while candidate in taken:
        candidate, n = f"{name}{n}", n + 1
    taken.add(candidate)
    return candidate
