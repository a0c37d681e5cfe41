"""scaffold designs for the data to come, not only today's (issue 26 points 1, 2, 4, 5, 6, 8; issue 24 point 7).

One database holds every trap a real schema set for scaffold: a UNIQUE TEXT
column longer than a DynamoDB key may be, a TEXT primary key as long, ids
that will outgrow their digits, a lookup table many tables reference, a
growing fan-out, relationships nobody declared, an empty table and a table
whose name is YAML. Scaffold, migrate and validate must pass with no edit;
then the data grows (id 1000, a big group, more rows per country) and
``sync`` must load it and validate again.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import yaml
from conftest import run_cli
from test_scaffold import build, scaffold_migrate_validate

HOSTILE = "x: y\n- z # \u2028not a comment"
HOSTILE_COLUMN = 'note: "a"\n- b'

SCHEMA = f"""
CREATE TABLE doc (id INTEGER PRIMARY KEY, slug TEXT NOT NULL UNIQUE, title TEXT);
CREATE TABLE page (url TEXT PRIMARY KEY, title TEXT);
CREATE TABLE country (code TEXT PRIMARY KEY, name TEXT NOT NULL);
CREATE TABLE customer (id INTEGER PRIMARY KEY, name TEXT, country_code TEXT NOT NULL);
CREATE TABLE supplier (id INTEGER PRIMARY KEY, name TEXT, country_code TEXT NOT NULL);
CREATE TABLE office (id INTEGER PRIMARY KEY, "CountryId" TEXT NOT NULL);
CREATE TABLE warehouse (id INTEGER PRIMARY KEY, country TEXT, partner INTEGER);
CREATE TABLE author (id INTEGER PRIMARY KEY, name TEXT);
CREATE TABLE post (id INTEGER PRIMARY KEY, author_id INTEGER NOT NULL REFERENCES author, body TEXT);
CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL REFERENCES customer, at TEXT);
CREATE TABLE order_line (
    order_id INTEGER NOT NULL REFERENCES orders, line INTEGER NOT NULL, qty INTEGER, PRIMARY KEY (order_id, line)
);
CREATE TABLE audit (id INTEGER PRIMARY KEY, what TEXT, extra TEXT);
CREATE TABLE "{HOSTILE.replace('"', '""')}" (id INTEGER PRIMARY KEY, "{HOSTILE_COLUMN.replace('"', '""')}" TEXT);
"""

LONG_SLUG = "s" * 2734  # the longest UNIQUE TEXT value, in bytes
LONG_URL = "https://example.com/" + "é" * 700  # 1,420 bytes of UTF-8: over half the sort key limit


def _fill(conn: sqlite3.Connection) -> None:
    conn.executemany("INSERT INTO doc VALUES (?, ?, ?)", [(i, f"doc-{i}", f"Doc {i}") for i in range(1, 30)])
    conn.execute("INSERT INTO doc VALUES (30, ?, 'the long one')", (LONG_SLUG,))
    conn.executemany("INSERT INTO page VALUES (?, ?)", [(f"https://example.com/{i}", f"p{i}") for i in range(9)])
    conn.execute("INSERT INTO page VALUES (?, 'long')", (LONG_URL,))
    codes = [f"C{i:02d}" for i in range(25)]
    conn.executemany("INSERT INTO country VALUES (?, ?)", [(c, f"Country {c}") for c in codes])
    conn.executemany("INSERT INTO customer VALUES (?, ?, ?)", [(i, f"cust {i}", codes[i % 25]) for i in range(1, 60)])
    conn.executemany("INSERT INTO supplier VALUES (?, ?, ?)", [(i, f"sup {i}", codes[i % 25]) for i in range(1, 40)])
    conn.executemany("INSERT INTO office VALUES (?, ?)", [(i, codes[i % 25]) for i in range(1, 30)])
    # country: a matching name but 3 distinct values; partner: 30 distinct supplier ids, no matching name
    conn.executemany("INSERT INTO warehouse VALUES (?, ?, ?)", [(i, codes[i % 3], 1 + i % 30) for i in range(1, 40)])
    conn.executemany("INSERT INTO author VALUES (?, ?)", [(i, f"author {i}") for i in range(1, 6)])
    conn.executemany("INSERT INTO post VALUES (?, ?, ?)", [(i, 1 + i % 5, f"post {i}") for i in range(1, 21)])
    conn.executemany(
        "INSERT INTO orders VALUES (?, ?, ?)", [(i, 1 + i % 59, f"2024-01-{1 + i % 28:02d}") for i in range(1, 41)]
    )
    lines = [(o, n, n * 2) for o in range(1, 41) for n in range(1, 1 + o % 9)]
    conn.executemany("INSERT INTO order_line VALUES (?, ?, ?)", lines)
    conn.executemany(f'INSERT INTO "{HOSTILE}" VALUES (?, ?)', [(i, f"v{i}\nsecond line") for i in range(1, 4)])


def _grow(source: Path) -> None:
    """Ids past the digits of today's maximum, a bigger group, more of every fan-out."""
    conn = sqlite3.connect(source)
    # 11,000 customers in one country: more than 400 KB, had they been embedded in it
    conn.executemany("INSERT INTO customer VALUES (?, ?, 'C01')", [(i, f"new {i}") for i in range(1000, 12000)])
    conn.executemany("INSERT INTO orders VALUES (?, 1000, '2025-01-01')", [(i,) for i in range(1000, 1003)])
    conn.executemany("INSERT INTO order_line VALUES (1000, ?, 1)", [(n,) for n in (1, 2, 10, 100, 1000, 11)])
    conn.executemany("INSERT INTO post VALUES (?, 1, ?)", [(i, "grown " * 20) for i in range(1000, 1200)])
    conn.execute("INSERT INTO doc VALUES (1000, 'doc-1000', 'grown')")
    conn.commit()
    conn.close()


def _comments(text: str) -> str:
    return "\n".join(line for line in text.splitlines() if line.lstrip().startswith("#"))


def test_a_growing_database_scaffolds_loads_validates_and_still_loads_grown(make_config, tmp_path: Path) -> None:
    source = build(tmp_path / "growing.sqlite", SCHEMA, _fill)
    run = scaffold_migrate_validate(make_config, tmp_path, source)
    (mapping,) = run["mapping"]
    text = run["files"][0].read_text()
    items = {i["name"]: i for i in mapping["item_types"]}

    # 1: a unique column too long for a key is not indexed, and the comment says why with the length
    assert "GSI2PK" not in items["Doc"]["keys"]
    assert (
        "unique slug not indexed: its key value would be up to 2,743 bytes, over half of DynamoDB's 2,048-byte" in text
    )
    # a primary key as long: the rowid keys the item instead
    assert items["Page"]["cursor"] == ["row_id"]
    assert "its primary key (url) makes key values of up to 1,425 bytes, over half of DynamoDB's 1,024-byte" in text

    # 4: padding for the whole INTEGER range, said in the comment
    assert items["OrderLine"]["keys"]["SK"] == "ORDER_LINE#{{ line | pad(19) }}"
    assert "padded to 19 digits (any 64-bit INTEGER)" in text

    # 5: identifying children embed; a lookup referenced by many tables embeds nothing; headroom recorded
    assert [e["as"] for e in items["Orders"]["embeds"]] == ["OrderLines"]
    assert "order_line (order_id) embedded too (part of its primary key): largest group 8 rows" in text
    assert "embeds" not in items["Country"]
    assert "customer (country_code) not embedded: 3 tables reference country, a lookup" in text
    assert "office.CountryId -> country.code: all 25 distinct values occur in country.code; the name matches" in text
    assert "post (author_id) embedded too (at least 10x room to grow): largest group 4 rows" in text
    assert "rows of ~" in text and "would reach 400 KB" in text

    # 6: relationships without foreign keys
    assert items["Customer"]["keys"]["PK"] == "COUNTRY#{{ country_code }}"  # both tests: in its parent's partition
    assert (
        "relationship inferred (no foreign key declared): customer.country_code -> country.code: "
        "all 25 distinct values occur in country.code; the name matches"
    ) in text
    assert (
        "suggested relationship (not used): warehouse.country -> country.code: all 3 distinct values occur in "
        "country.code; the name matches"
    ) in text
    assert "suggested relationship (not used): warehouse.partner -> " in text
    assert "the name does not match" in text
    assert items["Warehouse"]["keys"]["PK"] == "WAREHOUSE#{{ id }}"  # a suggestion changes nothing

    # 8: an empty table is not "always NULL", and its pattern is a comment
    audit = text[text.index("# audit: 0 rows") : text.index("- name: Audit") + 800]
    assert "always NULL" not in audit
    names = {p["name"] for p in mapping["access_patterns"]}
    assert "get-audit" not in names and "# - name: get-audit" in text
    assert "audit empty in the source: uncomment it once there are rows" in text

    # issue 24 point 7: the hostile name stays data; no comment is broken out of
    hostile = next(i for i in mapping["item_types"] if HOSTILE.replace('"', '""') in i["query"])
    assert f'"{HOSTILE_COLUMN.replace(chr(34), chr(34) * 2)}"' in hostile["query"]
    for line in _comments(text).splitlines():
        assert "\u2028" not in line
    assert yaml.safe_load(text) == mapping

    # the data grows: sync loads it and validation passes again
    _grow(source)
    config = tmp_path / "run" / "migration.json"
    synced = run_cli(config, "sync", "--no-validate")
    assert synced.exit_code == 0, synced.output
    report = tmp_path / "grown.json"
    validated = run_cli(config, "validate", "--report", str(report))
    failed = [c for c in json.loads(report.read_text())["checks"] if not c["passed"]]
    assert validated.exit_code == 0 and not failed, validated.output


def test_init_never_overwrites_a_configuration_without_force(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.chdir(tmp_path)
    source = build(tmp_path / "s.sqlite", "CREATE TABLE t (id INTEGER PRIMARY KEY, x TEXT);", lambda c: None)
    scaffolded = run_cli(None, "scaffold", "-s", str(source), "-o", "mappings/mine")
    assert scaffolded.exit_code == 0, scaffolded.output
    hint = " ".join(scaffolded.output.split())
    assert f"next: cli.py -c config/mine.json init -s {source} -m mappings/mine -p mine_," in hint

    quickstart = Path("config/migration.json")
    quickstart.parent.mkdir()
    quickstart.write_text('{"source_db": "data/Chinook_Sqlite.sqlite"}\n')
    before = quickstart.read_text()
    refused = run_cli(None, "init", "-s", str(source), "-m", "mappings/mine")
    assert refused.exit_code == 2
    assert refused.stderr.strip().splitlines() == [
        "error: config/migration.json exists: not overwriting it (write another with -c config/<name>.json, "
        "or replace it with init --force)"
    ]
    assert quickstart.read_text() == before

    own = run_cli(None, "-c", "config/mine.json", "init", "-s", str(source), "-m", "mappings/mine", "-p", "mine_")
    assert own.exit_code == 0, own.output
    again = run_cli(None, "-c", "config/mine.json", "init", "-s", str(source), "-m", "mappings/mine", "-p", "mine_")
    assert again.exit_code == 0, again.output  # the same content again is not an overwrite
    assert json.loads(Path("config/mine.json").read_text())["table_prefix"] == "mine_"
    forced = run_cli(None, "init", "-s", str(source), "-m", "mappings/mine", "--force")
    assert forced.exit_code == 0, forced.output
    assert json.loads(quickstart.read_text())["mappings"] == "mappings/mine"
