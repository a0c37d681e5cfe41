"""Embedding child rows into parent items: order, aggregates, empty lists, nesting, composite joins.

A parent / child / grandchild schema (plus a region / sale pair joined on two
columns) is created by the tests; the migrated items are read back with the
low-level client.
"""

from __future__ import annotations

import sqlite3
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import count_items, items_written, run_cli, write_config

SCHEMA = """
CREATE TABLE parent (pid INTEGER PRIMARY KEY, name TEXT);
CREATE TABLE child (cid INTEGER PRIMARY KEY, parent_id INTEGER, pos INTEGER, amount REAL, label TEXT);
CREATE TABLE grandchild (gid INTEGER PRIMARY KEY, cid INTEGER, seq INTEGER, note TEXT);
CREATE TABLE region (code TEXT, year INTEGER, name TEXT, PRIMARY KEY (code, year));
CREATE TABLE sale (sid INTEGER PRIMARY KEY, code TEXT, year INTEGER, month INTEGER, amount INTEGER);

INSERT INTO parent VALUES (1, 'three children'), (2, 'no children'), (3, 'one child without amount');
-- children of parent 1 inserted out of their pos order
INSERT INTO child VALUES (10, 1, 3, 0.2, 'third'), (11, 1, 1, 0.1, 'first'), (12, 1, 2, 1.5, 'second');
INSERT INTO child VALUES (13, 3, 1, NULL, 'lonely');
INSERT INTO child VALUES (14, 99, 1, 7.0, 'orphan');
-- grandchildren of child 11 out of order; child 10 has none
INSERT INTO grandchild VALUES (100, 11, 2, 'b'), (101, 11, 1, 'a'), (102, 12, 1, 'only'), (103, 13, 5, 'x');

INSERT INTO region VALUES ('EU', 2023, 'Europe 2023'), ('EU', 2024, 'Europe 2024'), ('US', 2024, 'America 2024');
INSERT INTO sale VALUES
    (1, 'EU', 2024, 3, 30), (2, 'EU', 2024, 1, 10), (3, 'EU', 2023, 12, 99),
    (4, 'US', 2024, 2, 5), (5, 'EU', 2024, 2, 20), (6, 'US', 2023, 1, 1000);
"""

MAPPING = """\
tables:
  - name: Family
    partition_key: {name: PK, type: S}
    sort_key: {name: SK, type: S}

item_types:
  - name: Parent
    table: Family
    query: SELECT pid, name FROM parent
    cursor: [pid]
    keys:
      PK: "PARENT#{{ pid }}"
      SK: PARENT
    attributes:
      Entity: {const: Parent}
      Id: {column: pid, type: number}
      Name: name
    embeds:
      - query: SELECT cid, parent_id, pos, amount, label FROM child
        join: {pid: parent_id}
        order_by: [pos]
        as: Children
        attributes:
          Cid: {column: cid, type: number}
          Pos: {column: pos, type: number}
          Amount: {column: amount, type: number}
          Label: label
        aggregates:
          ChildCount: {fn: count}
          Total: {fn: sum, column: amount}
          Smallest: {fn: min, column: amount}
          Largest: {fn: max, column: amount}
        embeds:
          - query: SELECT gid, cid, seq, note FROM grandchild
            join: {cid: cid}
            order_by: [seq]
            as: Notes
            attributes:
              Seq: {column: seq, type: number}
              Note: note
            aggregates:
              NoteCount: {fn: count}

  - name: Region
    table: Family
    query: SELECT code, year, name FROM region
    cursor: [code, year]
    keys:
      PK: "REGION#{{ code }}"
      SK: "YEAR#{{ year }}"
    attributes:
      Entity: {const: Region}
      Name: name
    embeds:
      - query: SELECT sid, code, year, month, amount FROM sale
        join: {code: code, year: year}
        order_by: [month]
        as: Sales
        attributes:
          Month: {column: month, type: number}
          Amount: {column: amount, type: number}
        aggregates:
          SaleCount: {fn: count}
          Revenue: {fn: sum, column: amount}
"""


def _n(value: str) -> dict[str, str]:
    return {"N": value}


def _get(ddb: Any, table: str, pk: str, sk: str) -> dict[str, Any]:
    response = ddb.get_item(TableName=table, Key={"PK": {"S": pk}, "SK": {"S": sk}}, ConsistentRead=True)
    assert "Item" in response, f"no item {pk} / {sk}"
    return response["Item"]


@pytest.fixture(scope="module")
def family(tmp_path_factory: pytest.TempPathFactory, ddb_url: str) -> Iterator[dict[str, Any]]:
    folder = tmp_path_factory.mktemp("embedding")
    source = folder / "family.sqlite"
    with sqlite3.connect(source) as conn:
        conn.executescript(SCHEMA)
    conn.close()
    mappings = folder / "mappings"
    mappings.mkdir()
    (mappings / "family.yaml").write_text(MAPPING)
    prefix = f"t{uuid.uuid4().hex[:8]}_"
    config = write_config(folder / "run", source, ddb_url, prefix, mappings)
    result = run_cli(config, "migrate")  # migrate, then validate every item against the source
    assert result.exit_code == 0, result.output
    yield {"table": f"{prefix}Family", "result": result}


def test_migration_and_validation_pass(family: dict[str, Any], ddb: Any) -> None:
    assert " 0 failed" in family["result"].output
    assert count_items(ddb, family["table"]) == 3 + 3  # parents and regions; children live inside them


def test_embedded_list_follows_order_by_not_insertion_order(family: dict[str, Any], ddb: Any) -> None:
    item = _get(ddb, family["table"], "PARENT#1", "PARENT")
    children = item["Children"]["L"]
    assert [c["M"]["Label"]["S"] for c in children] == ["first", "second", "third"]
    assert [c["M"]["Cid"]["N"] for c in children] == ["11", "12", "10"]


def test_aggregates_count_sum_min_max_are_exact(family: dict[str, Any], ddb: Any) -> None:
    item = _get(ddb, family["table"], "PARENT#1", "PARENT")
    assert item["ChildCount"] == _n("3")
    assert item["Total"] == _n("1.8")  # 0.2 + 0.1 + 1.5 as decimals, not 1.7999999999999998
    assert item["Smallest"] == _n("0.1")
    assert item["Largest"] == _n("1.5")


def test_parent_without_children_gets_an_empty_list_and_count_zero(family: dict[str, Any], ddb: Any) -> None:
    item = _get(ddb, family["table"], "PARENT#2", "PARENT")
    assert item["Children"] == {"L": []}
    assert item["ChildCount"] == _n("0")
    assert item["Total"] == _n("0")
    assert "Smallest" not in item  # min and max of nothing are left out
    assert "Largest" not in item


def test_aggregates_ignore_null_values(family: dict[str, Any], ddb: Any) -> None:
    item = _get(ddb, family["table"], "PARENT#3", "PARENT")
    assert item["ChildCount"] == _n("1")
    assert item["Total"] == _n("0")
    assert "Smallest" not in item
    assert item["Children"]["L"] == [
        {
            "M": {
                "Cid": _n("13"),
                "Pos": _n("1"),
                "Label": {"S": "lonely"},  # Amount is NULL: left out of the map
                "Notes": {"L": [{"M": {"Seq": _n("5"), "Note": {"S": "x"}}}]},
                "NoteCount": _n("1"),
            }
        }
    ]


def test_nested_embeds_two_levels(family: dict[str, Any], ddb: Any) -> None:
    item = _get(ddb, family["table"], "PARENT#1", "PARENT")
    children = {c["M"]["Label"]["S"]: c["M"] for c in item["Children"]["L"]}
    assert children["first"]["Notes"] == {
        "L": [
            {"M": {"Seq": _n("1"), "Note": {"S": "a"}}},
            {"M": {"Seq": _n("2"), "Note": {"S": "b"}}},
        ]
    }
    assert children["first"]["NoteCount"] == _n("2")
    assert children["second"]["Notes"] == {"L": [{"M": {"Seq": _n("1"), "Note": {"S": "only"}}}]}
    assert children["third"]["Notes"] == {"L": []}
    assert children["third"]["NoteCount"] == _n("0")


def test_orphan_children_are_not_embedded_anywhere(family: dict[str, Any], ddb: Any) -> None:
    labels = [
        c["M"]["Label"]["S"]
        for pid in (1, 2, 3)
        for c in _get(ddb, family["table"], f"PARENT#{pid}", "PARENT")["Children"]["L"]
    ]
    assert sorted(labels) == ["first", "lonely", "second", "third"]


@pytest.mark.parametrize(
    ("code", "year", "months", "revenue"),
    [
        ("EU", 2024, ["1", "2", "3"], "60"),
        ("EU", 2023, ["12"], "99"),
        ("US", 2024, ["2"], "5"),
    ],
)
def test_composite_join_matches_both_columns(
    family: dict[str, Any], ddb: Any, code: str, year: int, months: list[str], revenue: str
) -> None:
    item = _get(ddb, family["table"], f"REGION#{code}", f"YEAR#{year}")
    assert [s["M"]["Month"]["N"] for s in item["Sales"]["L"]] == months
    assert item["SaleCount"] == _n(str(len(months)))
    assert item["Revenue"] == _n(revenue)


# ----------------------------------------------------------------------------- many parents
PARENTS = 2000

# The child query carries a deliberately slow uncorrelated subquery (a few
# hundred thousand steps of a recursive CTE, evaluated once per execution).
# engine/extract/children.py attach_children fetches the children of a whole chunk of
# parents (CHUNK_ROWS = 500 in engine/render/stream.py) with one query, so this
# costs a handful of executions; one query per parent would cost 2,000 of them
# (minutes), which the time bound below would catch.
SLOW_CHILDREN = """
SELECT c.cid, c.parent_id, c.pos FROM child c
WHERE (WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 200000)
       SELECT count(*) FROM n) > 0
"""

MANY_MAPPING = """\
tables:
  - name: Many
    partition_key: {name: PK, type: S}

item_types:
  - name: Parent
    table: Many
    query: SELECT pid FROM parent
    cursor: [pid]
    keys:
      PK: "P#{{ pid }}"
    attributes:
      Entity: {const: Parent}
      Id: {column: pid, type: number}
    embeds:
      - query: |
QUERY
        join: {pid: parent_id}
        order_by: [pos]
        as: Children
        attributes:
          Pos: {column: pos, type: number}
        aggregates:
          ChildCount: {fn: count}
""".replace("QUERY", "\n".join("          " + line for line in SLOW_CHILDREN.strip().splitlines()))


def _slow_query_seconds(source: Path) -> float:
    conn = sqlite3.connect(source)
    try:
        started = time.monotonic()
        conn.execute(f"SELECT count(*) FROM ({SLOW_CHILDREN}) WHERE parent_id IN (1, 2)").fetchone()
        return time.monotonic() - started
    finally:
        conn.close()


def test_many_parents_embed_without_a_query_per_parent(tmp_path: Path, make_config: Any, ddb: Any, prefix: str) -> None:
    source = tmp_path / "many.sqlite"
    with sqlite3.connect(source) as conn:
        conn.execute("CREATE TABLE parent (pid INTEGER PRIMARY KEY)")
        conn.execute("CREATE TABLE child (cid INTEGER PRIMARY KEY, parent_id INTEGER, pos INTEGER)")
        conn.executemany("INSERT INTO parent VALUES (?)", [(p,) for p in range(1, PARENTS + 1)])
        # parent p has p % 4 children, inserted in reverse pos order, newest parents first
        rows = [(p, pos) for p in range(PARENTS, 0, -1) for pos in range(p % 4, 0, -1)]
        conn.executemany("INSERT INTO child (parent_id, pos) VALUES (?, ?)", rows)
    conn.close()
    mappings = tmp_path / "mappings"
    mappings.mkdir()
    (mappings / "many.yaml").write_text(MANY_MAPPING)
    config = make_config(source=source, mappings=mappings)

    per_query = _slow_query_seconds(source)
    started = time.monotonic()
    result = run_cli(config, "migrate", "--no-validate")
    elapsed = time.monotonic() - started
    assert result.exit_code == 0, result.output
    assert items_written(result.output) == PARENTS
    # one query per parent would take PARENTS * per_query; chunks of 500 take a few per_query
    assert elapsed < PARENTS * per_query / 4, (elapsed, per_query)

    assert count_items(ddb, f"{prefix}Many") == PARENTS
    for pid in (1, 3, 499, 500, 501, 1000, 1999, PARENTS):  # around the chunk boundaries
        item = ddb.get_item(TableName=f"{prefix}Many", Key={"PK": {"S": f"P#{pid}"}})["Item"]
        assert item["ChildCount"] == _n(str(pid % 4)), pid
        assert [c["M"]["Pos"]["N"] for c in item["Children"]["L"]] == [str(p) for p in range(1, pid % 4 + 1)], pid


AFFINITY_MAPPING = """\
tables:
  - name: Loose
    partition_key: {name: PK, type: S}

item_types:
  - name: Parent
    table: Loose
    query: SELECT pid FROM parent
    cursor: [pid]
    keys:
      PK: "P#{{ pid }}"
    attributes:
      Entity: {const: Parent}
    embeds:
      - query: SELECT cid, parent_ref FROM child
        join: {pid: parent_ref}
        order_by: [cid]
        as: Children
        attributes:
          Cid: {column: cid, type: number}
        aggregates:
          ChildCount: {fn: count}
"""


def test_join_of_an_integer_key_to_a_text_column_embeds_what_sqlite_matches(
    tmp_path: Path, make_config: Any, ddb: Any, prefix: str
) -> None:
    source = tmp_path / "loose.sqlite"
    with sqlite3.connect(source) as conn:
        conn.executescript(
            """
            CREATE TABLE parent (pid INTEGER PRIMARY KEY);
            CREATE TABLE child (cid INTEGER PRIMARY KEY, parent_ref TEXT);
            INSERT INTO parent VALUES (1), (2);
            INSERT INTO child VALUES (10, '1'), (11, '1'), (12, '2');
            """
        )
        # what an SQL join of the same columns finds
        assert conn.execute("SELECT count(*) FROM parent JOIN child ON parent_ref = pid WHERE pid = 1").fetchone() == (
            2,
        )
    conn.close()
    mappings = tmp_path / "mappings"
    mappings.mkdir()
    (mappings / "loose.yaml").write_text(AFFINITY_MAPPING)
    config = make_config(source=source, mappings=mappings)
    result = run_cli(config, "migrate", "--no-validate")
    assert result.exit_code == 0, result.output
    item = ddb.get_item(TableName=f"{prefix}Loose", Key={"PK": {"S": "P#1"}})["Item"]
    assert item["ChildCount"] == _n("2")
    assert [c["M"]["Cid"]["N"] for c in item["Children"]["L"]] == ["10", "11"]
