"""scaffold: a mapping set from the schema that plan, migrate and validate accept unchanged.

Chinook and two schemas built here (an order-processing one with TEXT and
composite keys, join tables, a self-reference, BLOBs, a table name with a
space and a table without a primary key; a shop with JSON text, flags,
integers above 2^53, unicode, a WITHOUT ROWID table and awkward column
names) are scaffolded, migrated to DynamoDB Local and validated: every check
must pass. One small schema's YAML is compared with a golden file.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import CHINOOK, ROOT, run_cli

GOLDEN = ROOT / "tests" / "golden" / "scaffold_library.yaml"

ORDERS = """
CREATE TABLE Region (RegionID INTEGER PRIMARY KEY, RegionDescription TEXT NOT NULL);
CREATE TABLE Territories (
    TerritoryID TEXT PRIMARY KEY, TerritoryDescription TEXT, RegionID INTEGER NOT NULL REFERENCES Region
);
CREATE TABLE Employees (
    EmployeeID INTEGER PRIMARY KEY, LastName TEXT, FirstName TEXT, BirthDate DATETIME, Photo BLOB,
    ReportsTo INTEGER REFERENCES Employees(EmployeeID), Email TEXT UNIQUE
);
CREATE TABLE EmployeeTerritories (
    EmployeeID INTEGER REFERENCES Employees, TerritoryID TEXT REFERENCES Territories,
    PRIMARY KEY (EmployeeID, TerritoryID)
);
CREATE TABLE Customers (CustomerID TEXT PRIMARY KEY, CompanyName TEXT, Country TEXT);
CREATE TABLE Categories (CategoryID INTEGER PRIMARY KEY, CategoryName TEXT, Picture BLOB);
CREATE TABLE Products (
    ProductID INTEGER PRIMARY KEY, ProductName TEXT, CategoryID INTEGER REFERENCES Categories, UnitPrice NUMERIC
);
CREATE TABLE Orders (
    OrderID INTEGER PRIMARY KEY, CustomerID TEXT REFERENCES Customers, EmployeeID INTEGER REFERENCES Employees,
    OrderDate DATETIME, Freight NUMERIC
);
CREATE TABLE "Order Details" (
    OrderID INTEGER REFERENCES Orders, ProductID INTEGER REFERENCES Products, UnitPrice NUMERIC,
    Quantity INTEGER, Discount REAL, PRIMARY KEY (OrderID, ProductID)
);
CREATE TABLE Shipments (
    OrderID INTEGER NOT NULL REFERENCES Orders, ShipmentNo INTEGER, ShippedAt TEXT,
    PRIMARY KEY (OrderID, ShipmentNo)
);
CREATE TABLE order_log (at TEXT, message TEXT);
"""


def _orders_rows(conn: sqlite3.Connection) -> None:
    conn.executemany("INSERT INTO Region VALUES (?, ?)", [(1, "Eastern"), (2, "Western"), (3, "Northern")])
    territories = [(f"{10000 + i:05d}", f"Town {i}", 1 + i % 3) for i in range(12)]
    conn.executemany("INSERT INTO Territories VALUES (?, ?, ?)", territories)
    employees = [(1, "Fuller", "Andrew", "1952-02-19 00:00:00", bytes(range(256)) * 40, None, None)]
    employees += [
        (i, f"Last{i}", f"First{i}", f"1960-01-{i:02d} 00:00:00", bytes([i]) * (i * 7), 1, f"e{i}@example.com")
        for i in range(2, 7)
    ]
    conn.executemany("INSERT INTO Employees VALUES (?, ?, ?, ?, ?, ?, ?)", employees)
    links = [(1 + i % 6, territories[(i * 5) % 12][0]) for i in range(18)]
    conn.executemany("INSERT OR IGNORE INTO EmployeeTerritories VALUES (?, ?)", links)
    customers = [("ALFKI", "Alfreds Futterkiste", "Germany"), ("ANATR", "Ana Trujillo", "Mexico")]
    customers += [("BERGS", "Berglunds snabbköp", "Sweden"), ("BLAUS", "Blauer See", None)]
    conn.executemany("INSERT INTO Customers VALUES (?, ?, ?)", customers)
    conn.executemany(
        "INSERT INTO Categories VALUES (?, ?, ?)",
        [(1, "Beverages", b"\x89PNG" + bytes(5000)), (2, "Condiments", None), (3, "Seafood", b"\x00\x01")],
    )
    products = [(i, f"Product {i}", 1 + i % 3, f"{i * 1.25 + 0.1:.2f}") for i in range(1, 16)]
    conn.executemany("INSERT INTO Products VALUES (?, ?, ?, ?)", products)
    orders = []
    for i in range(1, 31):
        customer = customers[i % 4][0] if i % 7 else None  # some orders without a customer
        orders.append((10247 + i, customer, 1 + i % 6, f"2024-{1 + i % 12:02d}-{1 + i % 28:02d}", i * 3.3))
    conn.executemany("INSERT INTO Orders VALUES (?, ?, ?, ?, ?)", orders)
    details = [
        (10247 + i, 1 + (i * j) % 15, f"{j}.{i % 10}5", j + i % 4, 0.05 * (j % 3))
        for i in range(1, 31)
        for j in range(1, 1 + i % 5)
    ]
    conn.executemany('INSERT OR IGNORE INTO "Order Details" VALUES (?, ?, ?, ?, ?)', details)
    shipments = [(10247 + i, n, f"2024-02-{n:02d}") for i in range(1, 31, 2) for n in range(1, 1 + i % 4)]
    conn.executemany("INSERT INTO Shipments VALUES (?, ?, ?)", shipments)
    conn.executemany("INSERT INTO order_log VALUES (?, ?)", [(f"2024-01-0{i}", f"event {i}") for i in range(1, 8)])


SHOP = """
CREATE TABLE product (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL, attrs TEXT, "in stock" INTEGER, big INTEGER, price REAL,
    "Unit Price" NUMERIC, "from" TEXT, Entity TEXT, PK TEXT UNIQUE, "nothing" TEXT
);
CREATE TABLE tag (product_id INTEGER NOT NULL REFERENCES product, tag TEXT, PRIMARY KEY (product_id, tag)) WITHOUT ROWID;
CREATE TABLE review (id INTEGER PRIMARY KEY, product_id INTEGER REFERENCES product, stars INTEGER, body TEXT);
CREATE TABLE category (id INTEGER PRIMARY KEY, parent_id INTEGER REFERENCES category(id), name TEXT);
CREATE TABLE kv (k TEXT, v);
CREATE TABLE "ledger-2024" (entry INTEGER PRIMARY KEY, delta INTEGER, note TEXT);
CREATE TABLE "group" (id INTEGER PRIMARY KEY, name TEXT);
CREATE TABLE twin (
    a INTEGER REFERENCES "group", b INTEGER REFERENCES "group", since TEXT, PRIMARY KEY (a, b)
);
"""


def _shop_rows(conn: sqlite3.Connection) -> None:
    products = []
    for i in range(1, 13):
        attrs = json.dumps({"colour": ["red", "grün", "青"][i % 3], "sizes": list(range(i % 4))}, ensure_ascii=False)
        products.append(
            (i, f"Ware №{i} ✓", attrs, i % 2, 2**60 + i, i / 8, f"{i}.{i:02d}", "Zürich", "x", f"pk{i}", None)
        )
    conn.executemany("INSERT INTO product VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", products)
    tags = [
        (1 + i % 12, t) for i, t in enumerate(["new", "sale", "eco", "a b", "a", "a#b", "Zebra", "éclair", "new"] * 3)
    ]
    conn.executemany("INSERT OR IGNORE INTO tag VALUES (?, ?)", tags)
    reviews = [(i, (1 + i % 12) if i % 5 else None, 1 + i % 5, f"review {i} — “quoted”") for i in range(1, 25)]
    conn.executemany("INSERT INTO review VALUES (?, ?, ?, ?)", reviews)
    conn.executemany(
        "INSERT INTO category VALUES (?, ?, ?)",
        [(1, None, "root"), (2, 1, "kitchen"), (3, 1, "garden"), (4, 2, "knives")],
    )
    conn.executemany("INSERT INTO kv VALUES (?, ?)", [("a", 1), ("b", "two"), ("c", 3.5), ("d", None), ("e", b"\x01")])
    conn.executemany('INSERT INTO "ledger-2024" VALUES (?, ?, ?)', [(-3, -10, "refund"), (0, 0, None), (7, 25, "sale")])
    conn.executemany('INSERT INTO "group" VALUES (?, ?)', [(1, "red"), (2, "blue"), (3, "green")])
    conn.executemany(
        "INSERT INTO twin VALUES (?, ?, ?)", [(1, 2, "2020"), (2, 1, "2021"), (1, 3, None), (3, 3, "2022")]
    )


def build(path: Path, schema: str, fill: Any) -> Path:
    conn = sqlite3.connect(path)
    conn.executescript(schema)
    fill(conn)
    conn.commit()
    conn.close()
    return path


def scaffold_migrate_validate(make_config: Any, tmp_path: Path, source: Path, *style: str) -> dict[str, Any]:
    """scaffold, plan, migrate, validate through the CLI; the validation report as data."""
    out = tmp_path / "mappings" / "scaffolded"
    result = run_cli(None, "scaffold", "-s", str(source), "-o", str(out), *style)
    assert result.exit_code == 0, result.output
    config = make_config(source=source, mappings=out, enable_validation=False)
    result = run_cli(config, "plan", "--no-check-target")
    assert result.exit_code == 0, result.output
    result = run_cli(config, "migrate")
    assert result.exit_code == 0, result.output
    report = tmp_path / "report.json"
    result = run_cli(config, "validate", "--report", str(report))
    document = json.loads(report.read_text())
    failed = [c for c in document["checks"] if not c["passed"]]
    assert result.exit_code == 0 and not failed, result.output
    mapping = [yaml.safe_load(p.read_text()) for p in sorted(out.glob("*.yaml"))]
    return {"report": document, "mapping": mapping, "files": sorted(out.glob("*.yaml"))}


def _kinds(document: dict[str, Any]) -> dict[str, int]:
    kinds: dict[str, int] = {}
    for check in document["checks"]:
        kinds[check["kind"]] = kinds.get(check["kind"], 0) + 1
    return kinds


def test_chinook_scaffold_migrates_and_validates(make_config, tmp_path: Path) -> None:
    run = scaffold_migrate_validate(make_config, tmp_path, CHINOOK)
    (mapping,) = run["mapping"]
    assert len(mapping["item_types"]) == 11  # one per source table
    names = {p["name"] for p in mapping["access_patterns"]}
    assert {"get-track", "album-of-artist", "playlist-track-by-playlist", "playlist-track-by-track"} <= names
    assert "album-with-tracks" in names  # the tracks of an album are few enough to embed
    genre = next(i for i in mapping["item_types"] if i["name"] == "Genre")
    assert "embeds" not in genre  # 1,297 rock tracks are not
    assert _kinds(run["report"])["access_pattern"] == len(mapping["access_patterns"])
    text = run["files"][0].read_text()
    assert text.startswith("# yaml-language-server: $schema=../../engine/spec/schema.json\n")
    assert "# Genre: 25 rows; no parent: its own partition; Track (GenreId) not embedded: up to 1,297 rows" in text


def test_orders_schema_single_table(make_config, tmp_path: Path) -> None:
    source = build(tmp_path / "orders.sqlite", ORDERS, _orders_rows)
    run = scaffold_migrate_validate(make_config, tmp_path, source)
    (mapping,) = run["mapping"]
    items = {i["name"]: i for i in mapping["item_types"]}
    assert set(items) == {
        "Region", "Territories", "Employees", "EmployeeTerritories", "Customers", "Categories",
        "Products", "Orders", "OrderDetails", "Shipments", "OrderLog",
    }  # fmt: skip
    assert items["Shipments"]["cursor"] == ["OrderID", "ShipmentNo"]  # composite key kept in order
    assert items["Shipments"]["keys"]["PK"] == "ORDERS#{{ OrderID }}"  # in its parent's partition
    assert items["EmployeeTerritories"]["keys"]["GSI1PK"] == "TERRITORIES#{{ TerritoryID }}"  # join, other side
    assert items["OrderLog"]["cursor"] == ["row_id"]  # no primary key: rowid
    assert items["Employees"]["attributes"]["Photo"] == {"column": "Photo", "type": "binary"}
    assert 'FROM "Order Details"' in items["OrderDetails"]["query"]
    assert items["Orders"]["keys"]["PK"] == "ORDERS#{{ OrderID }}"  # CustomerID is sometimes NULL: own partition
    assert items["Employees"]["keys"]["GSI2PK"] == "EMPLOYEES_EMAIL#{{ Email }}"  # a unique column: GSI2
    assert "employees-by-email" in {p["name"] for p in mapping["access_patterns"]}
    assert items["Employees"]["keys"]["GSI2PK"] == "EMPLOYEES_EMAIL#{{ Email }}"  # a unique column: GSI2
    assert "employees-by-email" in {p["name"] for p in mapping["access_patterns"]}
    assert _kinds(run["report"])["access_pattern"] == len(mapping["access_patterns"])


def test_shop_schema_table_per_entity(make_config, tmp_path: Path) -> None:
    source = build(tmp_path / "shop.sqlite", SHOP, _shop_rows)
    run = scaffold_migrate_validate(make_config, tmp_path, source, "--style", "table-per-entity")
    items = {i["name"]: i for m in run["mapping"] for i in m["item_types"]}
    assert len(run["files"]) == len(items) == 8  # a file and a table per source table
    product = items["Product"]["attributes"]
    assert product["in_stock"] == {"column": "in_stock", "type": "number"}
    assert "PK2" in product and "Entity2" in product  # columns renamed away from the key and marker names
    text = next(p for p in run["files"] if p.name == "product.yaml").read_text()
    assert "# attrs: {column: attrs, type: json}" in text  # JSON text: a commented-out suggestion
    assert items["Tag"]["keys"]["GSI1PK"] == "PRODUCT#{{ product_id }}"  # children found through GSI1
    assert items["Kv"]["attributes"]["v"]["type"] == "auto"  # mixed storage classes
    assert items["Product"]["keys"]["GSI2PK"] == "PRODUCT_PK2#{{ PK2 }}"  # unique, renamed away from the key name
    patterns = {p["name"] for m in run["mapping"] for p in m.get("access_patterns", [])}
    assert {"twin-by-group", "twin-by-group-reverse"} <= patterns  # a join table between a table and itself


def test_shop_schema_with_multi_attribute_keys(make_config, tmp_path: Path) -> None:
    """--multi-attribute-keys: GSI1 on the items' own typed attributes where GSI1PK/GSI1SK only concatenated."""
    source = build(tmp_path / "shop.sqlite", SHOP, _shop_rows)
    run = scaffold_migrate_validate(
        make_config, tmp_path, source, "--style", "table-per-entity", "--multi-attribute-keys"
    )
    items = {i["name"]: i for m in run["mapping"] for i in m["item_types"]}
    tables = {t["name"]: t for m in run["mapping"] for t in m["tables"]}
    (gsi1,) = [i for i in tables["Tag"]["indexes"] if i["name"] == "GSI1"]
    assert gsi1["partition_key"] == [{"name": "product_id", "type": "N"}]
    assert gsi1["sort_key"] == [{"name": "tag", "type": "S"}]
    assert "GSI1PK" not in items["Tag"]["keys"] and "GSI1PK" not in items["Twin"]["keys"]
    (twin,) = [i for i in tables["Twin"]["indexes"] if i["name"] == "GSI1"]
    assert (twin["partition_key"], twin["sort_key"]) == ([{"name": "b", "type": "N"}], [{"name": "a", "type": "N"}])
    patterns = {p["name"]: p for m in run["mapping"] for p in m.get("access_patterns", [])}
    assert patterns["tag-of-product"]["request"]["query"] == {"partition": {"product_id": "{{ product_id }}"}}
    assert _kinds(run["report"])["access_pattern"] == len(patterns)  # every one proven, through GSI1 too


def test_multi_attribute_keys_need_table_per_entity(tmp_path: Path) -> None:
    result = run_cli(None, "scaffold", "-s", str(CHINOOK), "-o", str(tmp_path / "m"), "--multi-attribute-keys")
    assert result.exit_code == 2
    assert "--multi-attribute-keys applies to --style table-per-entity" in " ".join(result.output.split())


def test_golden_yaml_for_a_small_schema(tmp_path: Path) -> None:
    source = build(
        tmp_path / "library.sqlite",
        """
        CREATE TABLE author (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
        CREATE TABLE book (id INTEGER PRIMARY KEY, author_id INTEGER NOT NULL REFERENCES author, title TEXT, cover BLOB);
        """,
        lambda c: (
            c.executemany("INSERT INTO author VALUES (?, ?)", [(1, "Le Guin"), (2, "Lem")]),
            c.executemany(
                "INSERT INTO book VALUES (?, ?, ?, ?)", [(10, 1, "Earthsea", b"\x00"), (11, 2, "Solaris", None)]
            ),
        ),
    )
    out = tmp_path / "mappings" / "library"
    result = run_cli(None, "scaffold", "-s", str(source), "-o", str(out))
    assert result.exit_code == 0, result.output
    assert (out / "library.yaml").read_text() == GOLDEN.read_text()


def test_an_edited_file_is_never_overwritten(tmp_path: Path) -> None:
    source = build(tmp_path / "s.sqlite", "CREATE TABLE t (id INTEGER PRIMARY KEY, x TEXT);", lambda c: None)
    # (an empty table: scaffold still writes a mapping for it)
    out = tmp_path / "m"
    assert run_cli(None, "scaffold", "-s", str(source), "-o", str(out)).exit_code == 0
    again = run_cli(None, "scaffold", "-s", str(source), "-o", str(out))
    assert again.exit_code == 0 and f"unchanged {out / 'm.yaml'}" in again.output  # unedited: fine to redo
    edited = (out / "m.yaml").read_text().replace("billing_mode: PAY_PER_REQUEST", "billing_mode: PROVISIONED")
    (out / "m.yaml").write_text(edited)
    refused = run_cli(None, "scaffold", "-s", str(source), "-o", str(out))
    assert refused.exit_code == 2
    assert "m.yaml: edited since scaffold wrote it" in " ".join(refused.output.split())
    assert (out / "m.yaml").read_text() == edited


@pytest.mark.parametrize("style", ["single-table", "table-per-entity"])
def test_scaffold_output_passes_the_schema_without_a_database_run(tmp_path: Path, style: str) -> None:
    from sqlite2ddb.spec import load_mapping_set

    out = tmp_path / "chinook"
    assert run_cli(None, "scaffold", "-s", str(CHINOOK), "-o", str(out), "--style", style).exit_code == 0
    mapping = load_mapping_set(str(out))
    assert len(mapping.item_types) == 11
    assert len(mapping.tables) == (1 if style == "single-table" else 11)


def test_scaffold_usage_errors_name_the_option(tmp_path: Path) -> None:
    out = str(tmp_path / "m")
    wrong_style = run_cli(
        None, "scaffold", "-s", str(CHINOOK), "-o", out, "--table", "T", "--style", "table-per-entity"
    )
    assert wrong_style.exit_code == 2 and "--table names the one table of --style single-table" in wrong_style.output
    bad_name = run_cli(None, "scaffold", "-s", str(CHINOOK), "-o", out, "--table", "my table")
    assert bad_name.exit_code == 2 and "--table 'my table'" in bad_name.output
    missing = run_cli(None, "scaffold", "-s", str(tmp_path / "nope.sqlite"), "-o", out)
    assert missing.exit_code == 2 and "source database not found" in missing.output
    assert not (tmp_path / "m").exists()
