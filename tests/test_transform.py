"""Type conversion, templates and filters, through real migrations of a tiny schema.

The items are read back with the low-level boto3 client, so the wire types
(N, S, B, BOOL, M, L) and the exact number text are what is asserted.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from conftest import items_written, run_cli, scan_all, table_rows, write_config

from sqlite2ddb.spec.templates import ENV, TemplateError, compile_template
from sqlite2ddb.wire import ConversionError, convert, number_text

SCHEMA = """
CREATE TABLE thing (
    id INTEGER PRIMARY KEY,
    name TEXT,
    price REAL,
    qty INTEGER,
    data BLOB,
    note TEXT,
    tags TEXT,
    active INTEGER,
    category TEXT
);
INSERT INTO thing VALUES
    (1, 'Alpha', 0.99, 3, x'0001ff', 'hello',
     '{"a": 1, "b": [1, 2.5, "x"], "c": null, "d": true}', 1, 'Books'),
    (2, '(x', 1.98, 0, NULL, NULL, '[1, 2]', 0, NULL),
    (3, 'Émile', 0.1 + 0.2, 12, NULL, 'n', '"just text"', 1, 'Music'),
    (4, 'Skipped', 2.5, -1, NULL, NULL, '{}', 0, 'Books');
"""

MAPPING = """\
tables:
  - name: Things
    partition_key: {name: PK, type: S}
    sort_key: {name: SK, type: S}
    indexes:
      - name: ByCategory
        partition_key: {name: GSI1PK, type: S}
        sort_key: {name: GSI1SK, type: S}

item_types:
  - name: Thing
    table: Things
    query: SELECT * FROM thing
    cursor: [id]
    filter: qty >= 0
    keys:
      PK: "THING#{{ id | pad(4) }}"
      SK: "NAME#{{ name | lower }}"
      GSI1PK: "CAT#{{ category }}"
      GSI1SK: "{{ name | lower | initial }}"
    attributes:
      Entity: {const: Thing}
      Id: {column: id, type: number}
      Name: name
      Price: price
      PriceText: {column: price, type: string}
      Qty: qty
      Data: data
      Note: note
      Tags: {column: tags, type: json}
      Active: {column: active, type: boolean}
      Label: {template: "{{ name }} x{{ qty }}"}
      Initial: {template: "{{ name | initial }}"}
      QtyPadded: {template: "{{ qty | pad(3) }}"}
      QtyNumber: {template: "{{ qty * 10 }}", type: number}
      NoteLabel: {template: "note: {{ note }}"}
      Version: {const: 2}
      Flags: {const: {colours: [red, 1.5], "on": true}}
      Details:
        type: map
        fields:
          Note: note
          Category: category
"""

ABSENT = object()


@pytest.fixture(scope="module")
def migrated(tmp_path_factory: pytest.TempPathFactory, ddb_url: str, ddb: Any) -> Iterator[dict[str, Any]]:
    """One migration (with its validation) of the ``thing`` table, shared by the tests of this module."""
    folder = tmp_path_factory.mktemp("transform")
    source = folder / "things.sqlite"
    with sqlite3.connect(source) as conn:
        conn.executescript(SCHEMA)
    conn.close()
    mappings = folder / "mappings"
    mappings.mkdir()
    (mappings / "things.yaml").write_text(MAPPING)
    prefix = f"t{uuid.uuid4().hex[:8]}_"
    config = write_config(folder / "run", source, ddb_url, prefix, mappings)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("COLUMNS", "400")  # one table row per line
        result = run_cli(config, "migrate")
        status = run_cli(config, "status")
    assert result.exit_code == 0, result.output
    items = scan_all(ddb, f"{prefix}Things")
    by_id = {int(item["Id"]["N"]): item for item in items}
    yield {"result": result, "status": status, "items": by_id, "config": config, "prefix": prefix}


CASES = [
    # REAL keeps the exact decimal text of the source value
    (1, "Price", {"N": "0.99"}),
    (2, "Price", {"N": "1.98"}),
    (3, "Price", {"N": "0.30000000000000004"}),
    (1, "PriceText", {"S": "0.99"}),
    (3, "PriceText", {"S": "0.30000000000000004"}),
    (1, "Qty", {"N": "3"}),
    (2, "Qty", {"N": "0"}),
    (1, "Id", {"N": "1"}),
    # TEXT, including non-ASCII
    (1, "Name", {"S": "Alpha"}),
    (3, "Name", {"S": "Émile"}),
    # BLOB lands as binary
    (1, "Data", {"B": b"\x00\x01\xff"}),
    # NULL columns are left out
    (2, "Data", ABSENT),
    (2, "Note", ABSENT),
    # boolean from 0/1
    (1, "Active", {"BOOL": True}),
    (2, "Active", {"BOOL": False}),
    # json text is parsed into maps and lists, numbers exact
    (
        1,
        "Tags",
        {
            "M": {
                "a": {"N": "1"},
                "b": {"L": [{"N": "1"}, {"N": "2.5"}, {"S": "x"}]},
                "c": {"NULL": True},
                "d": {"BOOL": True},
            }
        },
    ),
    (2, "Tags", {"L": [{"N": "1"}, {"N": "2"}]}),
    (3, "Tags", {"S": "just text"}),
    # templates (attribute templates are strings unless typed)
    (1, "Label", {"S": "Alpha x3"}),
    (2, "Label", {"S": "(x x0"}),
    (1, "QtyPadded", {"S": "003"}),
    (3, "QtyPadded", {"S": "012"}),
    (3, "QtyNumber", {"N": "120"}),
    (1, "NoteLabel", {"S": "note: hello"}),
    (2, "NoteLabel", ABSENT),  # a template reading a NULL column is left out
    # initial: first character, '#' when it is not a letter or digit
    (1, "Initial", {"S": "A"}),
    (2, "Initial", {"S": "#"}),
    (3, "Initial", {"S": "É"}),
    # constants
    (1, "Entity", {"S": "Thing"}),
    (2, "Version", {"N": "2"}),
    (1, "Flags", {"M": {"colours": {"L": [{"S": "red"}, {"N": "1.5"}]}, "on": {"BOOL": True}}}),
    # fields: a map of the non-NULL fields, left out when every field is NULL
    (1, "Details", {"M": {"Note": {"S": "hello"}, "Category": {"S": "Books"}}}),
    (3, "Details", {"M": {"Note": {"S": "n"}, "Category": {"S": "Music"}}}),
    (2, "Details", ABSENT),
    # keys: pad and lower; the index key built from a NULL column is left out (sparse index)
    (1, "PK", {"S": "THING#0001"}),
    (1, "SK", {"S": "NAME#alpha"}),
    (3, "SK", {"S": "NAME#émile"}),
    (1, "GSI1PK", {"S": "CAT#Books"}),
    (1, "GSI1SK", {"S": "a"}),
    (2, "GSI1PK", ABSENT),
    (2, "GSI1SK", {"S": "#"}),
]


@pytest.mark.parametrize(("row", "attribute", "expected"), CASES, ids=[f"{r}-{a}" for r, a, _ in CASES])
def test_attribute_as_stored(migrated: dict[str, Any], row: int, attribute: str, expected: Any) -> None:
    item = migrated["items"][row]
    if expected is ABSENT:
        assert attribute not in item, item.get(attribute)
    else:
        assert item[attribute] == expected


def test_row_with_nulls_has_exactly_the_non_null_attributes(migrated: dict[str, Any]) -> None:
    assert sorted(migrated["items"][2]) == sorted(
        [
            "PK",
            "SK",
            "GSI1SK",
            "Entity",
            "Id",
            "Name",
            "Price",
            "PriceText",
            "Qty",
            "Tags",
            "Active",
            "Label",
            "Initial",
            "QtyPadded",
            "QtyNumber",
            "Version",
            "Flags",
        ]
    )


def test_sparse_index_holds_only_rows_with_a_category(migrated: dict[str, Any], ddb: Any) -> None:
    page = ddb.scan(TableName=f"{migrated['prefix']}Things", IndexName="ByCategory")
    assert sorted(int(i["Id"]["N"]) for i in page["Items"]) == [1, 3]


def test_filter_skips_rows_and_the_summary_counts_them(migrated: dict[str, Any]) -> None:
    assert sorted(migrated["items"]) == [1, 2, 3]  # row 4 has qty -1
    output = migrated["result"].output
    rows = table_rows(output)
    # item type | table | status | items | rows read | skipped | rejected | ...
    assert rows["Thing"][2:7] == ["done", "3", "4", "1", "0"], rows["Thing"]
    assert items_written(output) == 3
    state = json.loads((Path(migrated["config"]).parent / "state" / "migration_state.json").read_text())
    entry = state["item_types"]["Thing"]
    assert (entry["rows_read"], entry["rows_skipped"], entry["items_written"]) == (4, 1, 3)


def test_status_counts_skipped_rows_as_done(migrated: dict[str, Any]) -> None:
    status = migrated["status"]
    assert status.exit_code == 0, status.output
    rows = table_rows(status.output)
    # item type | table | state | rows done/total | % | items | ...
    assert rows["Thing"][2:6] == ["done", "4/4", "100%", "3"], rows["Thing"]


def test_validation_after_the_migration_passes(migrated: dict[str, Any]) -> None:
    output = migrated["result"].output
    assert "validating" in output
    assert " 0 failed" in output


# ----------------------------------------------------------------------------- row errors through the CLI
def _small_run(tmp_path: Path, make_config: Any, mapping: str) -> Any:
    source = tmp_path / "things.sqlite"
    with sqlite3.connect(source) as conn:
        conn.executescript(SCHEMA)
    conn.close()
    mappings = tmp_path / "mappings"
    mappings.mkdir()
    (mappings / "things.yaml").write_text(mapping)
    config = make_config(source=source, mappings=mappings)
    return run_cli(config, "migrate", "--no-validate")


def test_primary_key_from_a_null_column_stops_at_that_row(tmp_path: Path, make_config: Any) -> None:
    mapping = MAPPING.replace('SK: "NAME#{{ name | lower }}"', 'SK: "CAT#{{ category }}"')
    result = _small_run(tmp_path, make_config, mapping)
    assert result.exit_code == 1, result.output
    assert "error: item type Thing, row {'id': 2}: key SK is built from NULL column(s) category" in " ".join(
        result.stderr.split()
    )


def test_template_reaching_for_dunder_attributes_is_refused_at_the_row(tmp_path: Path, make_config: Any) -> None:
    mapping = MAPPING.replace(
        '      Label: {template: "{{ name }} x{{ qty }}"}',
        '      Label: {template: "{{ name.__class__.__mro__ }}"}',
    )
    result = _small_run(tmp_path, make_config, mapping)
    assert result.exit_code == 1, result.output
    message = " ".join(result.stderr.split())
    assert "error: item type Thing, row {'id': 1}: template '{{ name.__class__.__mro__ }}' refused by the sandbox" in (
        message
    )
    assert "<class" not in result.output


def test_const_map_with_a_yaml_boolean_key_does_not_crash_migrate(tmp_path: Path, make_config: Any) -> None:
    mapping = MAPPING.replace('"on": true', "on: true")
    result = _small_run(tmp_path, make_config, mapping)  # raises TypeError today
    # either the map is written (key 'True', as from_python names it) or the mapping is refused with file:line
    assert result.exit_code in (0, 2), result.output
    if result.exit_code == 2:
        assert "things.yaml:" in result.stderr


# ----------------------------------------------------------------------------- engine.types
@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.99, "0.99"),
        (1.98, "1.98"),
        (0.1 + 0.2, "0.30000000000000004"),
        (2.5, "2.5"),
        (0, "0"),
        (-7, "-7"),
        (True, "1"),
        (10**37, "1" + "0" * 37),
        (int("9" * 38), "9" * 38),  # 38 digits: the most DynamoDB keeps
        (-int("9" * 38), "-" + "9" * 38),
        (10**38, "1" + "0" * 38),  # 39 digits of text, but one significant digit
        (Decimal("1.5"), "1.5"),
        (Decimal("0." + "1" * 38), "0." + "1" * 38),
        (" 42 ", "42"),
        ("0.990", "0.990"),
        ("9.99E+125", "9.99E+125"),
        ("1E-130", "1E-130"),
    ],
)
def test_number_text_accepts(value: Any, text: str) -> None:
    assert number_text(value) == text


@pytest.mark.parametrize(
    ("value", "message"),
    [
        pytest.param(int("1" * 39), "has 39 significant digits"),
        pytest.param(Decimal("1." + "1" * 38), "has 39 significant digits"),
        pytest.param("1" * 39, "has 39 significant digits; DynamoDB keeps at most 38"),
        pytest.param("-" + "9" * 40 + ".5", "has 41 significant digits"),
        (float("nan"), "nan is not a number DynamoDB can store"),
        (float("inf"), "inf is not a number DynamoDB can store"),
        (float("-inf"), "-inf is not a number DynamoDB can store"),
        ("NaN", "NaN is not a number DynamoDB can store"),
        ("Infinity", "Infinity is not a number DynamoDB can store"),
        (Decimal("NaN"), "NaN is not a number DynamoDB can store"),
        ("1E126", "1E126 is out of DynamoDB's number range (1E-130 to 9.99E+125)"),
        ("1E-131", "1E-131 is out of DynamoDB's number range (1E-130 to 9.99E+125)"),
        (1e300, "1e+300 is out of DynamoDB's number range"),
        ("abc", "text 'abc' is not a number"),
        ("", "text '' is not a number"),
        (b"\x01", "bytes value b'\\x01' is not a number"),
    ],
)
def test_number_text_rejects(value: Any, message: str) -> None:
    with pytest.raises(ConversionError) as error:
        number_text(value)
    assert message in str(error.value)


@pytest.mark.parametrize(
    ("value", "kind", "wire"),
    [
        (None, "number", None),
        (None, "string", None),
        (0.99, "auto", {"N": "0.99"}),
        ("0.99", "auto", {"S": "0.99"}),
        ("0.99", "number", {"N": "0.99"}),
        (0.99, "string", {"S": "0.99"}),
        (7, "string", {"S": "7"}),
        (b"\x00", "auto", {"B": b"\x00"}),
        ("hé", "binary", {"B": "hé".encode()}),
        (1, "boolean", {"BOOL": True}),
        (0, "boolean", {"BOOL": False}),
        ("yes", "boolean", {"BOOL": True}),
        (" False ", "boolean", {"BOOL": False}),
        ('{"x": 0.1}', "json", {"M": {"x": {"N": "0.1"}}}),
        ("[]", "json", {"L": []}),
        ("[1]", "list", {"L": [{"N": "1"}]}),
        ('{"a": null}', "map", {"M": {"a": {"NULL": True}}}),
    ],
)
def test_convert(value: Any, kind: str, wire: Any) -> None:
    assert convert(value, kind) == wire


@pytest.mark.parametrize(
    ("value", "kind", "message"),
    [
        (2, "boolean", "2 is not a boolean"),
        ("maybe", "boolean", "'maybe' is not a boolean"),
        (b"\x00", "string", "binary value declared as string"),
        (5, "binary", "int value is not binary"),
        ("{oops", "json", "invalid JSON text"),
        ("[NaN]", "json", "JSON constant NaN is not a number DynamoDB can store"),
        ('{"a": 1}', "list", "value is not a JSON array"),
        ("[1]", "map", "value is not a JSON object"),
        (3, "json", "int value is not JSON text"),
    ],
)
def test_convert_rejects(value: Any, kind: str, message: str) -> None:
    with pytest.raises(ConversionError) as error:
        convert(value, kind)
    assert message in str(error.value)


# ----------------------------------------------------------------------------- engine.templates
ROW = {
    "id": 42,
    "neg": -7,
    "name": "Ünïcode Name",
    "paren": "(x",
    "empty": "",
    "price": 0.1 + 0.2,
    "cheap": 0.99,
    "blob": b"ab",
    "missing": None,
    "padded": "  spaced  ",
}

FAST_TEMPLATES = [
    "PROFILE",
    "ARTIST#{{ id }}",
    "{{ id | pad }}",
    "{{ id | pad(6) }}#{{ neg | pad(4) }}",
    "{{ name | lower }}#{{ id }}",
    "{{ name | lower | initial }}",
    "{{ paren | initial }}",
    "{{ empty | initial }}",
    "{{ name | upper }}",
    "{{ padded | trim }}|",
    "{{ price }}",
    "P{{ cheap }}",
    "{{ blob }}",
    "{{ missing }}",
    "{{ missing | lower }}",
    "A  {{- id -}}  B",
    "{# comment #}X{{ id }}",
    "{% raw %}{{ id }}{% endraw %}",
    "line\n",
]


@pytest.mark.parametrize("template", FAST_TEMPLATES)
def test_fast_path_renders_what_jinja_renders(template: str) -> None:
    compiled = compile_template(template)
    assert compiled.fast, "expected the fast path for this template"
    assert compiled.render(ROW) == ENV.from_string(template).render(ROW)


@pytest.mark.parametrize(
    ("template", "text"),
    [
        ("{{ id | pad(6) }}#{{ neg | pad(4) }}", "000042#-0007"),
        ("{{ paren | initial }}", "#"),
        ("{{ empty | initial }}", "#"),
        ("{{ name | lower | initial }}", "ü"),
        ("{{ price }}", "0.30000000000000004"),
        ("{{ missing }}", "None"),
    ],
)
def test_filters_give_the_documented_text(template: str, text: str) -> None:
    assert compile_template(template).render(ROW) == text


@pytest.mark.parametrize(
    "template",
    [
        "{{ name ~ '#' ~ id }}",
        "{{ id if id > 10 else neg }}",
        "{{ name | lower | title }}",
        "{% for c in name[:3] %}{{ c }}.{% endfor %}",
        "{{ id | pad(width=8) }}",
    ],
)
def test_jinja_path_is_used_for_anything_else_and_renders_like_jinja(template: str) -> None:
    compiled = compile_template(template)
    assert not compiled.fast
    assert compiled.render(ROW) == ENV.from_string(template).render(ROW)


@pytest.mark.parametrize(
    ("template", "columns"),
    [
        ("PROFILE", set()),
        ("{{ a }}#{{ b | lower }}", {"a", "b"}),
        ("{{ a if b else c }}", {"a", "b", "c"}),
    ],
)
def test_template_columns(template: str, columns: set[str]) -> None:
    assert compile_template(template).columns == columns


@pytest.mark.parametrize(
    "template",
    [
        "{{ name.__class__ }}",
        "{{ name.__class__.__mro__[1].__subclasses__() }}",
        "{{ id.__init__.__globals__ }}",
        "{{ name.__len__() }}",
        "{{ cycler.__init__.__globals__ }}",
    ],
)
def test_sandbox_refuses_private_attributes(template: str) -> None:
    compiled = compile_template(template)
    with pytest.raises(TemplateError, match="refused by the sandbox"):
        compiled.render(ROW)


def test_template_syntax_error_is_a_template_error() -> None:
    with pytest.raises(TemplateError, match=r"template 'X\{\{ id ': .*\(template line 1\)"):
        compile_template("X{{ id ")


@pytest.mark.parametrize(
    "template",
    [
        pytest.param("X{{ nowhere }}", id="fast path"),
        pytest.param("X{{ nowhere ~ '' }}", id="jinja path"),
    ],
)
def test_missing_variable_is_a_template_error_on_both_paths(template: str) -> None:
    with pytest.raises(TemplateError):
        compile_template(template).render({"id": 1})
