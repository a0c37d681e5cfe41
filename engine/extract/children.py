"""The child rows of embeds, fetched for a chunk of parent rows at a time (never one query per parent).

Each parent row gets ``row[CHILDREN][embed name]``: its child rows in the
embed's order, themselves carrying their own children for nested embeds. The
transform folds what it is given; it reads nothing from the source.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from sqlite2ddb.extract.source import Row, fetch_children
from sqlite2ddb.spec.model import EmbedSpec

#: Key of a row's child rows, by embed name.
CHILDREN = "__children__"


def attach_children(conn: sqlite3.Connection, embeds: Sequence[EmbedSpec], rows: Sequence[Row]) -> None:
    """Fetch the children of every embed for these rows in one query each, recursively."""
    for spec in embeds:
        keys = [tuple(row[c] for c in spec.parent_columns) for row in rows]
        wanted = [k for k in keys if None not in k]
        grouped = fetch_children(conn, spec.query, spec.child_columns, spec.order_by, wanted)
        for row, key in zip(rows, keys):
            row.setdefault(CHILDREN, {})[spec.name] = grouped.get(key, [])
        if spec.embeds:
            attach_children(conn, spec.embeds, [child for group in grouped.values() for child in group])
