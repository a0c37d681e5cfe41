"""Sets, epoch seconds, ISO 8601, NULL rules and the shard/date/replace filters.

The handlers are checked table by table (exact values and edge cases), then
through a real migration of a tiny source into DynamoDB Local, read back with
the low-level client, validated item by item, and with a bad row under
``on_error: stop`` and ``skip``.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT, error_lines, run_cli, scan_all

from sqlite2ddb.spec.templates import ENV, TemplateError, compile_template
from sqlite2ddb.wire import ConversionError, converter, date_parser

# ----------------------------------------------------------------------------- the handlers, table-driven
EPOCH_CASES = [
    # (source text, format, zone, epoch seconds)
    ("1970-01-01 00:00:00", None, None, "0"),
    ("2009-01-01 00:00:00", "%Y-%m-%d %H:%M:%S", None, "1230768000"),
    ("2009-01-01T00:00:00Z", None, None, "1230768000"),
    ("2009-01-01T02:00:00+02:00", None, "America/New_York", "1230768000"),  # the text's own offset wins
    ("2009-01-01 00:00:00", None, "Europe/Berlin", "1230764400"),  # CET, UTC+1
    ("2009-07-01 00:00:00", None, "Europe/Berlin", "1246399200"),  # CEST, UTC+2
    ("2009-01-01 00:00:00", None, "-05:00", "1230786000"),
    ("1996-07-04 00:00:00.000", "%Y-%m-%d %H:%M:%S.%f", None, "836438400"),
    ("1996-07-04 00:00:00.999", "%Y-%m-%d %H:%M:%S.%f", None, "836438400"),  # fractions round down
    ("1969-12-31 23:59:59", None, None, "-1"),  # before 1970
    ("1969-12-31 23:59:59.500", None, None, "-1"),  # down, not towards zero
    ("1900-01-01", None, None, "-2208988800"),
    ("04/07/1996", "%d/%m/%Y", None, "836438400"),
]


@pytest.mark.parametrize(("text", "fmt", "zone", "expected"), EPOCH_CASES)
def test_epoch_seconds(text: str, fmt: str | None, zone: str | None, expected: str) -> None:
    assert converter("epoch_seconds", fmt=fmt, zone_name=zone)(text) == {"N": expected}


ISO_CASES = [
    # (source text, format, zone, precision, stored text)
    ("2009-01-01 00:00:00", None, None, None, "2009-01-01T00:00:00Z"),
    ("2009-01-01 00:00:00", None, "Europe/Berlin", None, "2008-12-31T23:00:00Z"),
    ("2009-01-01T10:30:00-03:30", None, None, None, "2009-01-01T14:00:00Z"),
    ("1996-07-04 00:00:00.000", "%Y-%m-%d %H:%M:%S.%f", None, None, "1996-07-04T00:00:00Z"),
    ("1996-07-04 00:00:00.5", None, None, "milliseconds", "1996-07-04T00:00:00.500Z"),
    ("1996-07-04 00:00:00.123456", None, None, "microseconds", "1996-07-04T00:00:00.123456Z"),
    ("1996-07-04 00:00:00", None, None, "milliseconds", "1996-07-04T00:00:00.000Z"),  # one width for all
    ("0999-12-31 23:00:00", None, "-02:00", None, "1000-01-01T01:00:00Z"),
    ("1969-07-20", None, None, None, "1969-07-20T00:00:00Z"),
]


@pytest.mark.parametrize(("text", "fmt", "zone", "precision", "expected"), ISO_CASES)
def test_iso8601(text: str, fmt: str | None, zone: str | None, precision: str | None, expected: str) -> None:
    assert converter("iso8601", fmt=fmt, zone_name=zone, precision=precision)(text) == {"S": expected}


SET_CASES = [
    # (type, delimiter, source value, stored set or None when left out)
    ("string_set", None, "rock, jazz,rock , blues", {"SS": ["rock", "jazz", "blues"]}),
    ("string_set", "|", "a|b|a", {"SS": ["a", "b"]}),
    ("string_set", None, "", None),  # DynamoDB has no empty set: left out
    ("string_set", None, " , ,", None),
    ("string_set", None, "Rock,rock", {"SS": ["Rock", "rock"]}),  # members are case-sensitive
    ("string_set", None, 42, {"SS": ["42"]}),  # a value that is not text is one member
    ("number_set", None, "1, 2.50, 1.0, 2.5", {"NS": ["1", "2.50"]}),  # duplicates by value
    ("number_set", ";", "-3;0.1;1E+3", {"NS": ["-3", "0.1", "1E+3"]}),
    ("number_set", None, 7, {"NS": ["7"]}),
    ("binary_set", None, "ab,cd,ab", {"BS": [b"ab", b"cd"]}),
    ("binary_set", None, b"\x00\xff", {"BS": [b"\x00\xff"]}),
]


@pytest.mark.parametrize(("kind", "delimiter", "value", "expected"), SET_CASES)
def test_sets_from_a_column(kind: str, delimiter: str | None, value: Any, expected: Any) -> None:
    assert converter(kind, delimiter=delimiter)(value) == expected


BAD_VALUES = [
    ("epoch_seconds", {}, "yesterday", "'yesterday' does not match the date format iso8601"),
    ("epoch_seconds", {"fmt": "%Y-%m-%d"}, "2009-13-01", "'2009-13-01' does not match the date format %Y-%m-%d"),
    ("epoch_seconds", {}, 1230768000, "int value 1230768000 is not date text"),
    ("iso8601", {"fmt": "%d/%m/%Y"}, "2009-01-01", "'2009-01-01' does not match the date format %d/%m/%Y"),
    ("number_set", {}, "1,two", "text 'two' is not a number"),
]


@pytest.mark.parametrize(("kind", "options", "value", "message"), BAD_VALUES)
def test_bad_values_are_refused_with_the_value_named(kind: str, options: dict[str, Any], value: Any, message: str):
    with pytest.raises(ConversionError) as caught:
        converter(kind, **options)(value)
    assert str(caught.value) == message


FORMATS = ["%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M:%S.%f", "%d/%m/%Y", "%Y%m%d", "%Y-%m-%dT%H:%M", "%b %d %Y"]
TEXTS = [
    "2021-01-01 00:00:00", "2021-1-1 0:0:0", "2021-01-01  00:00:00", "2021-02-30 00:00:00", "2021-01-01 00:00:00.5",
    "2021-01-01 00:00:00.1234567", "04/07/1996", "4/7/1996", "20210101", "2021-01-01T10:30", "2021-01-01 24:00:00",
    "2021-01-01 00:00:60", "", "x", "1996-07-04 00:00:00.000", "0099-01-01 00:00:00", "99-01-01 00:00:00",
    "2021-13-01 00:00:00", "202101011", "Jul 04 1996", "2021-01-01 00:00:00+01:00",
]  # fmt: skip


@pytest.mark.parametrize("fmt", FORMATS)
def test_the_quick_date_parser_reads_exactly_what_strptime_reads(fmt: str) -> None:
    parse = date_parser(fmt)
    for text in TEXTS:
        try:
            expected: Any = datetime.strptime(text, fmt)
        except ValueError:
            expected = ValueError
        try:
            actual: Any = parse(text)
        except ValueError:
            actual = ValueError
        assert actual == expected, text


def test_an_unknown_time_zone_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown time zone 'Mars/Olympus'"):
        converter("epoch_seconds", zone_name="Mars/Olympus")


# ----------------------------------------------------------------------------- filters: fast path = Jinja
ROW = {"id": 42, "name": "Jazz Fusion", "day": "2009-01-03 10:00:00", "bad_day": "soon", "n": 7.5}
FILTER_CASES = [
    ("{{ day | date('%Y-%m') }}", "2009-01"),
    ("{{ day | date }}", "2009-01-03"),
    ("{{ day | date('%Y%m%d', '%Y-%m-%d %H:%M:%S') }}", "20090103"),
    ("{{ name | replace(' ', '_') }}", "Jazz_Fusion"),
    ("{{ name | replace('z', 'Z', 1) }}", "JaZz Fusion"),
    ("{{ n | replace('.', ',') }}", "7,5"),
    ("ORDERS#{{ day | date('%Y-%m') }}#{{ id | shard(10) }}", None),
    ("{{ id | shard(1) }}", "0"),
    ("{{ name | lower | replace(' ', '-') | upper }}", "JAZZ-FUSION"),
]


@pytest.mark.parametrize(("template", "expected"), FILTER_CASES)
def test_new_filters_take_the_fast_path_and_render_like_jinja(template: str, expected: str | None) -> None:
    compiled = compile_template(template)
    assert compiled.fast
    text = compiled.render(ROW)
    assert text == ENV.from_string(template).render(ROW)
    if expected is not None:
        assert text == expected


def test_shard_spreads_keys_over_every_shard() -> None:
    shards = [compile_template("{{ id | shard(10) }}").render({"id": i}) for i in range(1000)]
    assert set(shards) == {str(n) for n in range(10)}
    assert max(shards.count(str(n)) for n in range(10)) < 150  # roughly even: 100 each


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{{ bad_day | date('%Y') }}", "date: 'soon' is not a date (ISO 8601)"),
        ("{{ id | shard(0) }}", "shard needs a whole number of shards >= 1, not 0"),
    ],
)
def test_filters_refuse_bad_input_on_both_paths(template: str, message: str) -> None:
    fast = compile_template(template)
    assert fast.fast
    with pytest.raises(TemplateError, match=message.replace("(", r"\(").replace(")", r"\)")):
        fast.render(ROW)
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        ENV.from_string(template).render(ROW)


SHARD_SCRIPT = """
import json, sys
sys.path.insert(0, sys.argv[1])
import cli  # binds the name sqlite2ddb to this checkout's engine/
from sqlite2ddb.spec.templates import compile_template
t = compile_template("{{ k | shard(16) }}")
print(json.dumps([t.render({"k": k}) for k in ["a", "b", "ORDER#1", 7, 3.5, "Émile", "x" * 300]]))
"""


def test_shard_is_the_same_in_processes_with_different_hash_seeds() -> None:
    outputs = []
    for seed in ("1", "2", "random"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        done = subprocess.run(
            [sys.executable, "-c", SHARD_SCRIPT, str(ROOT)], env=env, capture_output=True, text=True, check=True
        )
        outputs.append(json.loads(done.stdout))
        # Python's own hash() does differ between these processes, so the test can tell
        probe = subprocess.run(
            [sys.executable, "-c", "print(hash('ORDER#1'))"], env=env, capture_output=True, text=True
        )
        outputs[-1].append(probe.stdout.strip())
    shards = [o[:-1] for o in outputs]
    assert shards[0] == shards[1] == shards[2]
    assert len(set(shards[0])) > 2
    assert outputs[0][-1] != outputs[1][-1]


# ----------------------------------------------------------------------------- a real migration
SCHEMA = """
CREATE TABLE event (id INTEGER PRIMARY KEY, happened TEXT, zone_note TEXT, tags TEXT, scores TEXT, note TEXT,
                    region TEXT);
INSERT INTO event VALUES
  (1, '2009-01-01 00:00:00.000', NULL, 'rock,jazz,rock', '1,2,2.0', 'first', 'eu'),
  (2, '1969-12-31 23:59:59.250', 'x', '', NULL, NULL, NULL),
  (3, '2024-05-06 07:08:09.999', NULL, ' solo ', '10', NULL, 'us'),
  (4, '2030-02-03 04:05:06.000', NULL, NULL, '5,6', 'last', 'eu');
CREATE TABLE attendee (event_id INTEGER, name TEXT);
INSERT INTO attendee VALUES (1, 'Ann'), (1, 'Bob'), (1, 'Ann'), (3, 'Cy'), (4, NULL);
"""

MAPPING = """\
tables:
  - name: Events
    partition_key: {name: PK, type: S}
    sort_key: {name: SK, type: S}

item_types:
  - name: Event
    table: Events
    query: SELECT * FROM event
    cursor: [id]
    keys:
      PK: "EVENTS#{{ happened | date('%Y-%m') }}#{{ id | shard(4) }}"
      SK: "{{ happened | replace(' ', 'T') }}#{{ id }}"
    attributes:
      Entity: {const: Event}
      Id: {column: id, type: number}
      ExpiresAt: {column: happened, type: epoch_seconds, format: "%Y-%m-%d %H:%M:%S.%f", timezone: Europe/Berlin}
      HappenedAt: {column: happened, type: iso8601, format: "%Y-%m-%d %H:%M:%S.%f", precision: milliseconds}
      Tags: {column: tags, type: string_set}
      Scores: {column: scores, type: number_set, delimiter: ","}
      Note: {column: note, null: keep}
      Region: {column: region, null: {default: unknown}}
      Label: {template: "{{ note }}!", null: {default: none}}
    embeds:
      - query: SELECT event_id, name FROM attendee
        join: {id: event_id}
        as: Attendees
        set: {column: name, type: string_set}
"""


def make_project(tmp_path: Path, make_config: Any, rows_sql: str = "", **settings: Any) -> Path:
    source = tmp_path / "events.sqlite"
    with sqlite3.connect(source) as conn:
        conn.executescript(SCHEMA + rows_sql)
    conn.close()
    mappings = tmp_path / "mappings"
    mappings.mkdir()
    (mappings / "events.yaml").write_text(MAPPING)
    return make_config(source=source, mappings=mappings, **settings)


def by_id(ddb: Any, table: str) -> dict[int, dict[str, Any]]:
    return {int(item["Id"]["N"]): item for item in scan_all(ddb, table)}


def test_every_new_type_is_stored_as_declared_and_validates(tmp_path: Path, make_config: Any, prefix: str, ddb):
    config = make_project(tmp_path, make_config)
    result = run_cli(config, "migrate")
    assert result.exit_code == 0, result.output
    items = by_id(ddb, f"{prefix}Events")
    one, two, three, four = items[1], items[2], items[3], items[4]

    shard = compile_template("{{ id | shard(4) }}")
    assert one["PK"] == {"S": f"EVENTS#2009-01#{shard.render({'id': 1})}"}
    assert one["SK"] == {"S": "2009-01-01T00:00:00.000#1"}
    assert one["ExpiresAt"] == {"N": "1230764400"}  # Berlin midnight is 23:00 UTC
    assert two["ExpiresAt"] == {"N": "-3601"}
    assert one["HappenedAt"] == {"S": "2009-01-01T00:00:00.000Z"}
    assert three["HappenedAt"] == {"S": "2024-05-06T07:08:09.999Z"}
    assert sorted(one["Tags"]["SS"]) == ["jazz", "rock"]
    assert three["Tags"] == {"SS": ["solo"]}
    assert "Tags" not in two and "Tags" not in four  # empty text and NULL: no set
    assert sorted(one["Scores"]["NS"]) == ["1", "2"]
    assert sorted(four["Scores"]["NS"]) == ["5", "6"]
    assert one["Note"] == {"S": "first"} and two["Note"] == {"NULL": True}
    assert one["Region"] == {"S": "eu"} and two["Region"] == {"S": "unknown"}
    assert one["Label"] == {"S": "first!"} and two["Label"] == {"S": "none"}
    assert sorted(one["Attendees"]["SS"]) == ["Ann", "Bob"]
    assert three["Attendees"] == {"SS": ["Cy"]}
    assert "Attendees" not in two and "Attendees" not in four  # no child rows, or only NULL ones

    # validate re-renders every item through the same plan: the sets, NULLs and dates compare equal
    check = run_cli(config, "validate")
    assert check.exit_code == 0, check.output


BAD_ROWS = """
INSERT INTO event VALUES (5, '2009-02-03T00:00:00', NULL, 'a', '1', NULL, NULL),
                         (6, '2010-01-01 00:00:00.000', NULL, 'b', '2', NULL, NULL);
"""
BAD_REASON = "attribute ExpiresAt: '2009-02-03T00:00:00' does not match the date format %Y-%m-%d %H:%M:%S.%f"


def test_a_date_that_does_not_parse_stops_the_run_naming_the_row(tmp_path: Path, make_config: Any, prefix: str, ddb):
    config = make_project(tmp_path, make_config, BAD_ROWS)
    result = run_cli(config, "migrate", "--no-validate")
    assert result.exit_code == 1, result.output
    assert error_lines(result.stderr) == [f"error: item type Event, row {{'id': 5}}: {BAD_REASON}"]
    assert sorted(by_id(ddb, f"{prefix}Events")) == [1, 2, 3, 4]


def test_a_date_that_does_not_parse_is_set_aside_under_skip(tmp_path: Path, make_config: Any, prefix: str, ddb):
    config = make_project(tmp_path, make_config, BAD_ROWS, on_error="skip")
    result = run_cli(config, "migrate", "--no-validate")
    assert result.exit_code == 0, result.output
    rejects = [json.loads(line) for line in (config.parent / "state" / "rejects.jsonl").read_text().splitlines()]
    assert [(r["item_type"], r["cursor"], r["reason"]) for r in rejects] == [("Event", {"id": 5}, BAD_REASON)]
    assert sorted(by_id(ddb, f"{prefix}Events")) == [1, 2, 3, 4, 6]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            ("tags, type: string_set}", "tags, type: string_set, format: '%Y'}"),
            "'format' applies to type epoch_seconds or iso8601, not string_set",
        ),
        (("timezone: Europe/Berlin", "timezone: Europe/Nowhere"), "unknown time zone 'Europe/Nowhere'"),
        (("{default: unknown}", "{default: unknown}, type: number"), "text 'unknown' is not a number"),
        (("type: number_set, delimiter", "type: number, delimiter"), "'delimiter' applies to type"),
    ],
)
def test_bad_options_are_mapping_errors_with_file_and_line(
    tmp_path: Path, make_config: Any, change: tuple[str, str], message: str
) -> None:
    mappings = tmp_path / "m"
    mappings.mkdir()
    assert change[0] in MAPPING
    (mappings / "events.yaml").write_text(MAPPING.replace(change[0], change[1]))
    source = tmp_path / "events.sqlite"
    with sqlite3.connect(source) as conn:
        conn.executescript(SCHEMA)
    conn.close()
    config = str(tmp_path / "c.json")  # not the checkout's config/migration.json
    result = run_cli(
        None, "-c", config, "init", "-s", str(source), "-m", str(mappings), "--endpoint-url", "http://127.0.0.1:9"
    )
    assert result.exit_code == 2
    (line,) = error_lines(result.stderr)
    assert line.startswith(f"error: {mappings / 'events.yaml'}:"), line
    assert message in line, line


def test_validate_finds_a_changed_set_null_and_epoch(tmp_path: Path, make_config: Any, prefix: str, ddb) -> None:
    config = make_project(tmp_path, make_config)
    assert run_cli(config, "migrate", "--no-validate").exit_code == 0
    name = f"{prefix}Events"
    item = by_id(ddb, name)[1]
    ddb.put_item(TableName=name, Item={**item, "Tags": {"SS": ["rock"]}, "ExpiresAt": {"N": "1230764401"}})
    two = by_id(ddb, name)[2]
    ddb.put_item(TableName=name, Item={**two, "Note": {"S": ""}})
    report = tmp_path / "items.md"
    check = run_cli(config, "validate", "--check", "items", "--report", str(report))
    assert check.exit_code == 1, check.output
    (items,) = json.loads(report.with_suffix(".json").read_text())["checks"]
    found = sorted((f["kind"], f["path"], f["expected"], f["actual"]) for f in items["failures"])
    assert found == [
        ("differs", "ExpiresAt", "1230764400", "1230764401"),
        ("differs", "Note", "true (type NULL)", '"" (type S)'),
        ("differs", "Tags", ["jazz", "rock"], ["rock"]),
    ]
