"""A second mapping set, on a library schema the test creates: nothing in the engine is about Chinook.

Authors and books go to a Catalog table (lower-case key names, a GSI by
genre, the loans of each book embedded), loans to a Lending table; the item
types use their own marker attribute (Kind). Two access patterns and an
aggregate check are declared, and validate proves the result.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import count_items, run_cli, scan_all

SCHEMA = """
CREATE TABLE author (author_id INTEGER PRIMARY KEY, name TEXT NOT NULL, country TEXT);
CREATE TABLE book (
    book_id INTEGER PRIMARY KEY, author_id INTEGER REFERENCES author, title TEXT, genre TEXT, year INTEGER
);
CREATE TABLE loan (
    loan_id INTEGER PRIMARY KEY, book_id INTEGER REFERENCES book, member TEXT, loaned_on TEXT, returned_on TEXT
);
INSERT INTO author VALUES (1, 'Ursula K. Le Guin', 'US'), (2, 'Stanislaw Lem', 'PL'), (3, 'Tove Jansson', NULL);
INSERT INTO book VALUES
    (10, 1, 'The Dispossessed', 'SciFi', 1974),
    (11, 1, 'A Wizard of Earthsea', 'Fantasy', 1968),
    (12, 2, 'Solaris', 'SciFi', 1961),
    (13, 2, 'The Cyberiad', 'SciFi', 1965),
    (14, 3, 'Comet in Moominland', 'Fantasy', 1946);
INSERT INTO loan VALUES
    (100, 12, 'ann', '2024-03-01', '2024-03-20'),
    (101, 10, 'bob', '2024-01-15', NULL),
    (102, 12, 'bob', '2024-02-02', '2024-02-10'),
    (103, 14, 'ann', '2024-01-03', '2024-01-30'),
    (104, 11, 'cy', '2024-04-11', NULL),
    (105, 12, 'ann', '2023-12-24', '2024-01-02'),
    (106, 13, 'bob', '2024-02-02', '2024-03-01'),
    (107, 10, 'ann', '2024-05-05', NULL);
"""
AUTHORS, BOOKS, LOANS = 3, 5, 8

CATALOG = """\
tables:
  - name: Catalog
    partition_key: {name: pk, type: S}
    sort_key: {name: sk, type: S}
    indexes:
      - name: ByGenre
        partition_key: {name: gsi1pk, type: S}
        sort_key: {name: gsi1sk, type: S}
        projection: ALL

item_types:
  - name: Author
    table: Catalog
    marker: Kind
    query: SELECT author_id, name, country FROM author
    cursor: [author_id]
    keys:
      pk: "AUTHOR#{{ author_id }}"
      sk: AUTHOR
    attributes:
      Kind: {const: Author}
      AuthorId: {column: author_id, type: number}
      Name: name
      Country: country

  - name: Book
    table: Catalog
    marker: Kind
    query: |
      SELECT b.book_id, b.author_id, b.title, b.genre, b.year, a.name AS author_name
      FROM book b JOIN author a ON a.author_id = b.author_id
    cursor: [book_id]
    keys:
      pk: "AUTHOR#{{ author_id }}"
      sk: "BOOK#{{ book_id | pad(5) }}"
      gsi1pk: "GENRE#{{ genre | lower }}"
      gsi1sk: "{{ title | lower }}#{{ book_id }}"
    attributes:
      Kind: {const: Book}
      BookId: {column: book_id, type: number}
      Title: title
      Genre: genre
      Year: {column: year, type: number}
      AuthorName: author_name
    embeds:
      - query: SELECT loan_id, book_id, member, loaned_on FROM loan
        join: {book_id: book_id}
        order_by: [loaned_on, loan_id]
        as: LoanHistory
        attributes:
          LoanId: {column: loan_id, type: number}
          Member: member
          LoanedOn: loaned_on
        aggregates:
          LoanCount: {fn: count}
    checks:
      - {kind: attribute_present, attribute: LoanCount}
      - {kind: max_item_kb, value: 8}

access_patterns:
  - name: books-by-genre
    description: Books of a genre, in title order
    params: SELECT DISTINCT lower(genre) AS genre FROM book
    request:
      table: Catalog
      index: ByGenre
      query: {partition: "GENRE#{{ genre }}"}
    sql: |
      SELECT book_id AS BookId, title AS Title, year AS Year FROM book
      WHERE lower(genre) = :genre ORDER BY lower(title) || '#' || book_id
    compare: {id: BookId, attributes: [Title, Year]}

aggregate_checks:
  - name: every-loan-embedded-once
    sql: SELECT count(*) FROM loan
    item_type: Book
    fn: sum
    attribute: LoanCount
"""

LENDING = """\
tables:
  - name: Lending
    partition_key: {name: member_key, type: S}
    sort_key: {name: loan_key, type: S}

item_types:
  - name: Loan
    table: Lending
    marker: Kind
    query: |
      SELECT l.loan_id, l.member, l.loaned_on, l.returned_on, l.book_id, b.title
      FROM loan l JOIN book b ON b.book_id = l.book_id
    cursor: [loan_id]
    keys:
      member_key: "MEMBER#{{ member }}"
      loan_key: "{{ loaned_on }}#{{ loan_id | pad(5) }}"
    attributes:
      Kind: {const: Loan}
      LoanId: {column: loan_id, type: number}
      BookId: {column: book_id, type: number}
      Title: title
      LoanedOn: loaned_on
      ReturnedOn: returned_on

access_patterns:
  - name: loans-of-member
    description: A member's loans, newest first
    params: SELECT DISTINCT member FROM loan
    request:
      table: Lending
      query: {partition: "MEMBER#{{ member }}", forward: false}
    sql: |
      SELECT loan_id AS LoanId, loaned_on AS LoanedOn, returned_on AS ReturnedOn, book_id AS BookId
      FROM loan WHERE member = :member ORDER BY loaned_on DESC, loan_id DESC
    compare: {id: LoanId, attributes: [LoanedOn, ReturnedOn, BookId]}
"""


def _library(folder: Path, mapping_files: dict[str, str]) -> tuple[Path, Path]:
    source = folder / "library.sqlite"
    with sqlite3.connect(source) as conn:
        conn.executescript(SCHEMA)
    conn.close()
    mappings = folder / "mappings"
    mappings.mkdir()
    for name, text in mapping_files.items():
        (mappings / name).write_text(text)
    return source, mappings


@pytest.fixture()
def library(tmp_path: Path, make_config: Any) -> Iterator[Path]:
    source, mappings = _library(tmp_path, {"catalog.yaml": CATALOG, "lending.yaml": LENDING})
    yield make_config(source=source, mappings=mappings)


def test_plan_json_lists_tables_item_types_and_expected_rows(library: Path, prefix: str) -> None:
    result = run_cli(library, "plan", "--format", "json")
    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)
    assert plan["table_prefix"] == prefix
    tables = {t["config_name"]: t for t in plan["tables"]}
    assert set(tables) == {"catalog", "lending"}
    assert tables["catalog"]["name"] == f"{prefix}Catalog"
    assert tables["catalog"]["key"] == ["pk:S", "sk:S"]
    assert tables["catalog"]["indexes"] == [{"name": "ByGenre", "key": ["gsi1pk:S", "gsi1sk:S"], "projection": "ALL"}]
    assert tables["lending"]["key"] == ["member_key:S", "loan_key:S"]
    items = {i["name"]: i for i in plan["item_types"]}
    assert [i["name"] for i in plan["item_types"]] == ["Author", "Book", "Loan"]
    assert {n: i["expected_rows"] for n, i in items.items()} == {"Author": AUTHORS, "Book": BOOKS, "Loan": LOANS}
    assert items["Book"]["table"] == f"{prefix}Catalog"
    assert items["Book"]["embeds"] == ["LoanHistory"]
    assert items["Loan"]["cursor"] == ["loan_id"]
    assert items["Book"]["defined_at"].endswith("catalog.yaml:26")
    assert plan["checks"] == {
        "counts": ["Author", "Book", "Loan"],
        "access_patterns": ["books-by-genre", "loans-of-member"],
        "aggregates": ["every-loan-embedded-once"],
        "item_rules": ["Book.attribute_present.LoanCount", "Book.max_item_kb"],
    }


def test_plan_check_target_says_the_tables_are_to_create(library: Path, ddb: Any, prefix: str) -> None:
    result = run_cli(library, "plan", "--format", "json", "--check-target")
    assert result.exit_code == 0, result.output
    assert [t["exists"] for t in json.loads(result.stdout)["tables"]] == [False, False]
    assert not [n for n in ddb.list_tables(ExclusiveStartTableName=prefix[:-1])["TableNames"] if n.startswith(prefix)]


def test_plan_samples_renders_the_first_items(library: Path) -> None:
    result = run_cli(library, "plan", "--format", "json", "--samples", "2")
    assert result.exit_code == 0, result.output
    samples = json.loads(result.stdout)["samples"]
    assert [s["pk"] for s in samples["Author"]] == ["AUTHOR#1", "AUTHOR#2"]
    assert samples["Author"][0] == {
        "pk": "AUTHOR#1",
        "sk": "AUTHOR",
        "Kind": "Author",
        "AuthorId": 1,
        "Name": "Ursula K. Le Guin",
        "Country": "US",
    }
    book = samples["Book"][0]
    assert (book["sk"], book["gsi1pk"], book["gsi1sk"]) == ("BOOK#00010", "GENRE#scifi", "the dispossessed#10")
    assert book["LoanHistory"] == [
        {"LoanId": 101, "Member": "bob", "LoanedOn": "2024-01-15"},
        {"LoanId": 107, "Member": "ann", "LoanedOn": "2024-05-05"},
    ]
    assert book["LoanCount"] == 2
    assert [s["loan_key"] for s in samples["Loan"]] == ["2024-03-01#00100", "2024-01-15#00101"]
    assert "ReturnedOn" not in samples["Loan"][1]

    table = run_cli(library, "plan", "--samples", "2")
    assert table.exit_code == 0, table.output
    assert '"pk": "AUTHOR#2"' in table.stdout
    assert '"pk": "AUTHOR#3"' not in table.stdout
    assert '"Name": "Ursula K. Le Guin"' in table.stdout


def test_migrate_and_validate_end_to_end(library: Path, ddb: Any, prefix: str, tmp_path: Path) -> None:
    result = run_cli(library, "migrate", "--no-validate")
    assert result.exit_code == 0, result.output
    assert count_items(ddb, f"{prefix}Catalog") == AUTHORS + BOOKS
    assert count_items(ddb, f"{prefix}Lending") == LOANS

    stored = {(i["pk"]["S"], i["sk"]["S"]): i for i in scan_all(ddb, f"{prefix}Catalog")}
    assert stored[("AUTHOR#3", "AUTHOR")] == {
        "pk": {"S": "AUTHOR#3"},
        "sk": {"S": "AUTHOR"},
        "Kind": {"S": "Author"},
        "AuthorId": {"N": "3"},
        "Name": {"S": "Tove Jansson"},
    }
    solaris = stored[("AUTHOR#2", "BOOK#00012")]
    assert [e["M"]["LoanId"]["N"] for e in solaris["LoanHistory"]["L"]] == ["105", "102", "100"]
    assert solaris["LoanCount"] == {"N": "3"}

    report = tmp_path / "report.json"
    checked = run_cli(library, "validate", "--report", str(report))
    assert checked.exit_code == 0, checked.output
    document = json.loads(report.read_text())
    assert document["result"] == "pass"
    names = {c["name"] for c in document["checks"]}
    assert {
        "count:Author",
        "count:Book",
        "count:Loan",
        "items:catalog",
        "items:lending",
        "pattern:books-by-genre",
        "pattern:loans-of-member",
        "aggregate:every-loan-embedded-once",
        "rule:Book.attribute_present.LoanCount",
        "rule:Book.max_item_kb",
    } <= names
    compared = {c["name"]: c["compared"] for c in document["checks"]}
    assert compared["pattern:books-by-genre"] == 2  # scifi and fantasy
    assert compared["pattern:loans-of-member"] == 3  # ann, bob, cy
    assert compared["items:catalog"] == AUTHORS + BOOKS
    assert all(c["passed"] for c in document["checks"])
    # a load into DynamoDB Local does not ask it for consumed capacity (consumed_capacity "aws"): the report
    # says so (None, shown as "-") next to the units the tool counted, never a consumption of 0
    catalog = {c["table"]: c for c in document["run"]["capacity"]}[f"{prefix}Catalog"]
    assert catalog["consumed_wcu"] is None and catalog["counted_wcu"] == AUTHORS + BOOKS


def test_validate_notices_a_missing_and_a_changed_item(library: Path, ddb: Any, prefix: str) -> None:
    assert run_cli(library, "migrate", "--no-validate").exit_code == 0
    ddb.delete_item(
        TableName=f"{prefix}Lending", Key={"member_key": {"S": "MEMBER#cy"}, "loan_key": {"S": "2024-04-11#00104"}}
    )
    ddb.update_item(
        TableName=f"{prefix}Catalog",
        Key={"pk": {"S": "AUTHOR#2"}, "sk": {"S": "BOOK#00012"}},
        UpdateExpression="SET #t = :t",
        ExpressionAttributeNames={"#t": "Title"},
        ExpressionAttributeValues={":t": {"S": "Solaris (2nd ed.)"}},
    )
    result = run_cli(library, "validate")
    assert result.exit_code == 1, result.output
    output = " ".join(result.output.split())
    assert "validation failed:" in output
    failed = {c for c in ("count:Loan", "items:lending", "pattern:loans-of-member", "items:catalog") if c in output}
    assert failed == {"count:Loan", "items:lending", "pattern:loans-of-member", "items:catalog"}
    assert "Solaris (2nd ed.)" in output


NUMBER_KEYS = """\
tables:
  - name: Shelf
    partition_key: {name: shelf, type: N}
    sort_key: {name: position, type: N}

item_types:
  - name: Book
    table: Shelf
    query: SELECT book_id, author_id, title FROM book
    cursor: [book_id]
    keys:
      shelf: "{{ author_id }}"
      position: "{{ book_id }}"
    attributes:
      Entity: {const: Book}
      Title: title

access_patterns:
  - name: book-by-shelf-and-position
    params: SELECT author_id AS shelf, book_id AS position FROM book
    request:
      table: Shelf
      get: {shelf: "{{ shelf }}", position: "{{ position }}"}
    sql: SELECT book_id AS position, title AS Title FROM book WHERE author_id = :shelf AND book_id = :position
    compare: {id: position, attributes: [Title]}
  - name: books-on-shelf-from-position
    params: SELECT DISTINCT author_id AS shelf, 11 AS first FROM book
    request:
      table: Shelf
      query: {partition: "{{ shelf }}", sort: {ge: "{{ first }}"}}
    sql: SELECT book_id AS position FROM book WHERE author_id = :shelf AND book_id >= :first ORDER BY book_id
    compare: {id: position}
"""


def test_number_typed_keys_are_written_as_numbers(tmp_path: Path, make_config: Any, ddb: Any, prefix: str) -> None:
    source, mappings = _library(tmp_path, {"shelf.yaml": NUMBER_KEYS})
    config = make_config(source=source, mappings=mappings)
    result = run_cli(config, "migrate", "--no-validate")
    assert result.exit_code == 0, result.output
    item = ddb.get_item(TableName=f"{prefix}Shelf", Key={"shelf": {"N": "2"}, "position": {"N": "13"}})["Item"]
    assert item["Title"] == {"S": "The Cyberiad"}
    checked = run_cli(config, "validate", "--check", "count:", "--check", "items:", "--check", "shape")
    assert checked.exit_code == 0, checked.output
    assert {"shape:shelf", "count:Book", "items:shelf"} <= set(checked.output.split())


def test_access_patterns_on_number_typed_keys_validate(tmp_path: Path, make_config: Any) -> None:
    source, mappings = _library(tmp_path, {"shelf.yaml": NUMBER_KEYS})
    config = make_config(source=source, mappings=mappings)
    assert run_cli(config, "migrate", "--no-validate").exit_code == 0
    result = run_cli(config, "validate", "--check", "pattern:")
    assert result.exit_code == 0, result.output
