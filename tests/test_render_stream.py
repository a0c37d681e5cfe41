"""The one render stream: every selection of rows gives the same items, in cursor order, with their cursors."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import CHINOOK, ROOT

from sqlite2ddb.extract.source import open_source
from sqlite2ddb.plan.compile import ItemTypePlan, Plan, compile_plan
from sqlite2ddb.render.stream import ItemTooLarge, Rendered, Rows, render
from sqlite2ddb.spec import load_mapping_set


@pytest.fixture(scope="module")
def opened() -> Iterator[tuple[Plan, sqlite3.Connection]]:
    conn = open_source(CHINOOK)
    yield compile_plan(load_mapping_set(str(ROOT / "mappings" / "chinook")), conn, "t_"), conn
    conn.close()


def named(plan: Plan, name: str) -> ItemTypePlan:
    return next(i for i in plan.item_types if i.name == name)


def by_cursor(rows: list[Rendered]) -> dict[tuple[object, ...], Rendered]:
    return {tuple(r.cursor): r for r in rows}


def test_every_row_comes_once_in_cursor_order_with_its_item(opened: tuple[Plan, sqlite3.Connection]) -> None:
    plan, conn = opened
    for item in plan.item_types:
        rows = list(render(conn, item))
        assert len(rows) == item.expected_rows, item.name
        cursors = [tuple(r.cursor) for r in rows]
        assert cursors == sorted(cursors) and len(set(cursors)) == len(cursors), item.name
        assert all(r.item is not None and r.error is None and r.size > 0 for r in rows), item.name


@pytest.mark.parametrize("name", ["Invoice", "Track"])  # with embedded children; more rows than one chunk
def test_a_range_the_first_rows_and_given_cursors_render_the_same_items(
    opened: tuple[Plan, sqlite3.Connection], name: str
) -> None:
    plan, conn = opened
    item = named(plan, name)
    everything = list(render(conn, item))
    if item.embeds:
        assert any(r.item and any("L" in v for v in r.item.values()) for r in everything), "children are folded"
    after, upto = everything[99].cursor, everything[-5].cursor
    assert list(render(conn, item, Rows(after=after, upto=upto))) == everything[100:-4]
    assert list(render(conn, item, Rows(after=after, first=10))) == everything[100:110]
    assert list(render(conn, item, Rows(first=3))) == everything[:3]
    wanted = [tuple(everything[i].cursor) for i in (0, 199, 200, len(everything) - 1)]
    chosen = list(render(conn, item, Rows(cursors=set(wanted))))
    assert [tuple(r.cursor) for r in chosen] == wanted
    assert chosen == [by_cursor(everything)[c] for c in wanted]


def test_a_sample_is_deterministic_and_a_subset(opened: tuple[Plan, sqlite3.Connection]) -> None:
    plan, conn = opened
    item = named(plan, "Invoice")
    everything = by_cursor(list(render(conn, item)))
    first = list(render(conn, item, Rows(sample=50)))
    assert len(first) == 50 and first == list(render(conn, item, Rows(sample=50)))
    assert all(everything[tuple(r.cursor)] == r for r in first)
    pct = list(render(conn, item, Rows(sample_pct=10)))
    assert 0 < len(pct) < len(everything) and all(everything[tuple(r.cursor)] == r for r in pct)


FEW = """\
tables:
  - name: T
    partition_key: {name: PK, type: S}
item_types:
  - name: Row
    table: T
    query: SELECT id, keep FROM t
    cursor: [id]
    filter: "keep == 1"
    keys:
      PK: "ROW#{{ id }}"
    attributes:
      Entity: {const: Row}
      Id: {column: id, type: number}
    embeds:
      - query: SELECT id AS note_id, t_id, body FROM note
        join: {id: t_id}
        order_by: [note_id]
        as: Notes
        attributes:
          Body: body
"""


def test_a_skipped_row_and_an_item_over_400_kb_are_yielded_in_order(tmp_path: Path) -> None:
    source = tmp_path / "few.sqlite"
    with sqlite3.connect(source) as db:
        db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, keep INTEGER)")
        db.execute("CREATE TABLE note (id INTEGER PRIMARY KEY, t_id INTEGER, body TEXT)")
        db.executemany("INSERT INTO t VALUES (?, ?)", [(1, 1), (2, 0), (3, 1), (4, 1)])
        db.executemany("INSERT INTO note (t_id, body) VALUES (3, ?)", [("x" * 1000,)] * 500)
    db.close()
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "t.yaml").write_text(FEW)
    conn = open_source(source)
    plan = compile_plan(load_mapping_set(str(tmp_path / "m")), conn, "t_")
    rows = list(render(conn, plan.item_types[0]))
    conn.close()
    assert [(r.cursor, r.item is not None) for r in rows] == [([1], True), ([2], False), ([3], False), ([4], True)]
    assert rows[1].error is None  # the filter skipped it
    assert isinstance(rows[2].error, ItemTooLarge) and rows[2].error.cursor == {"id": 3}
    assert str(rows[2].error).endswith("over DynamoDB's 400 KB item limit") and rows[2].error.size > 400 * 1024
