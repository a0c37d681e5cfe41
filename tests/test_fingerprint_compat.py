"""Fingerprint stores written before the per-item work was cut are read as equal by today's code.

The texts, keys and hashes below are what ``fingerprint()`` returned before
(captured from commit bf656f8), for an item of every attribute type: the store
keeps them, and ``sync`` and ``plan --diff`` compare what renders now with
them, so a different text, key or hash would make every item look changed
(or new) after an upgrade. The old store compressed every text; today's keeps
short texts as they are: both are read.
"""

from __future__ import annotations

import re
import sqlite3
import zlib
from pathlib import Path
from typing import Any

import pytest
from conftest import run_cli

from sqlite2ddb.state.fingerprints import FILE_NAME, FingerprintStore, fingerprint
from sqlite2ddb.sync.item_diff import ItemDiff

DEEP: dict[str, Any] = {"S": "leaf"}
for _ in range(150):  # deeper than orjson writes: the standard encoder's text
    DEEP = {"M": {"d": DEEP}}

ITEMS: dict[str, tuple[dict[str, Any], list[str]]] = {
    "Artist": (
        {"PK": {"S": "ARTIST#1"}, "SK": {"S": "A"}, "Name": {"S": "AC/DC"}, "entity": {"S": "Artist"}},
        ["PK", "SK"],
    ),
    "Text": ({"SK": {"S": 'é"\\\n\t\u2028😀'}, "PK": {"S": "ünïcode \u0001"}, "Z": {"S": ""}}, ["PK", "SK"]),
    "Numbers": (
        {
            "id": {"N": "42"},
            "price": {"N": "0.99"},
            "big": {"N": "-12345678901234567890123456789012345678"},
            "exp": {"N": "1E+2"},
            "z": {"N": "0.0"},
            "neg0": {"N": "-0"},
        },
        ["id"],
    ),
    "PaddedNumber": ({"id": {"N": "007"}, "v": {"N": "1.50"}}, ["id"]),
    "FractionKey": ({"id": {"N": "2.5"}}, ["id"]),
    "NegativeAndExpKey": ({"id": {"N": "-3"}, "sk": {"N": "1e2"}}, ["id", "sk"]),
    "Binary": ({"PK": {"B": b"\x00\xff\x10key"}, "blob": {"B": b"hello\x00world"}, "empty": {"B": b""}}, ["PK"]),
    "Sets": (
        {
            "PK": {"S": "SETS"},
            "ss": {"SS": ["b", "a", "c"]},
            "ns": {"NS": ["3", "1.5", "10"]},
            "bs": {"BS": [b"\x01", b"\x00"]},
        },
        ["PK"],
    ),
    "Nested": (
        {
            "PK": {"S": "NEST"},
            "m": {
                "M": {
                    "z": {"N": "1"},
                    "a": {
                        "M": {
                            "y": {"L": [{"S": "x"}, {"N": "2"}, {"NULL": True}, {"BOOL": False}, {"B": b"\x02"}]},
                            "b": {"BOOL": True},
                        }
                    },
                }
            },
            "l": {"L": []},
            "e": {"M": {}},
        },
        ["PK"],
    ),
    "MissingKey": ({"PK": {"S": "MISSING-SK"}}, ["PK", "SK"]),
    "Deep": ({"PK": {"S": "DEEP"}, "deep": DEEP}, ["PK"]),
}

# (item type, key text, hash, wire text) as the store holds them
BEFORE = [
    (
        "Artist",
        '{"PK": "ARTIST#1", "SK": "A"}',
        "ea28cb17e42c695ffa1d1fee90788071",
        '{"Name":{"S":"AC/DC"},"PK":{"S":"ARTIST#1"},"SK":{"S":"A"},"entity":{"S":"Artist"}}',
    ),
    (
        "Text",
        '{"PK": "ünïcode \\u0001", "SK": "é\\"\\\\\\n\\t\u2028😀"}',
        "929dc2e75a2798f63ea6976e6aa5593c",
        '{"PK":{"S":"ünïcode \\u0001"},"SK":{"S":"é\\"\\\\\\n\\t\u2028😀"},"Z":{"S":""}}',
    ),
    (
        "Numbers",
        '{"id": 42}',
        "0cce14e64bfae3daa8d6764a5e003466",
        '{"big":{"N":"-12345678901234567890123456789012345678"},"exp":{"N":"1E+2"},"id":{"N":"42"},"neg0":{"N":"-0"},"price":{"N":"0.99"},"z":{"N":"0.0"}}',
    ),
    ("PaddedNumber", '{"id": 7}', "8704c218aa0b9cfa4bba3ebd390f95ce", '{"id":{"N":"007"},"v":{"N":"1.50"}}'),
    ("FractionKey", '{"id": "2.5"}', "998bc68cbff24d017a1cd5c5ccd62fd9", '{"id":{"N":"2.5"}}'),
    (
        "NegativeAndExpKey",
        '{"id": -3, "sk": 100}',
        "ff47f98d5997066fc6d5875015098ab5",
        '{"id":{"N":"-3"},"sk":{"N":"1e2"}}',
    ),
    (
        "Binary",
        '{"PK": "AP8Qa2V5"}',
        "d95a9c9509ea4cbe0810db2b05e7588e",
        '{"PK":{"B":"AP8Qa2V5"},"blob":{"B":"aGVsbG8Ad29ybGQ="},"empty":{"B":""}}',
    ),
    (
        "Sets",
        '{"PK": "SETS"}',
        "bcd98b1c5415f2adcce6d6e0ba3bedec",
        '{"PK":{"S":"SETS"},"bs":{"BS":["AQ==","AA=="]},"ns":{"NS":["3","1.5","10"]},"ss":{"SS":["b","a","c"]}}',
    ),
    (
        "Nested",
        '{"PK": "NEST"}',
        "bdb2496816ee7446d5ee2e1a488df9c5",
        '{"PK":{"S":"NEST"},"e":{"M":{}},"l":{"L":[]},"m":{"M":{"a":{"M":{"b":{"BOOL":true},"y":{"L":[{"S":"x"},{"N":"2"},{"NULL":true},{"BOOL":false},{"B":"Ag=="}]}}},"z":{"N":"1"}}}}',
    ),
    ("MissingKey", '{"PK": "MISSING-SK", "SK": null}', "047010ce216ff45b79c64eedf514ea77", '{"PK":{"S":"MISSING-SK"}}'),
    (
        "Deep",
        '{"PK": "DEEP"}',
        "a8c0bb1d0b3098572c70ace06919b245",
        '{"PK":{"S":"DEEP"},"deep":' + '{"M":{"d":' * 150 + '{"S":"leaf"}' + "}}" * 150 + "}",
    ),
]


@pytest.mark.parametrize("expected", BEFORE, ids=[b[0] for b in BEFORE])
def test_an_item_of_every_attribute_type_gets_the_key_text_and_hash_stored_before(
    expected: tuple[str, str, str, str],
) -> None:
    item_type, key, digest, text = expected
    item, keys = ITEMS[item_type]
    assert tuple(fingerprint(item, keys, item_type)) == (key, item_type, digest, text)


def old_store(path: Path, table: str, entries: list[tuple[str, str, str, str]]) -> None:
    """A store as the code before wrote it: every text compressed."""
    db = sqlite3.connect(path)
    db.execute(
        "CREATE TABLE items (tbl TEXT NOT NULL, key TEXT NOT NULL, item_type TEXT NOT NULL, "
        "hash TEXT NOT NULL, item BLOB NOT NULL, PRIMARY KEY (tbl, key)) WITHOUT ROWID"
    )
    rows = [(table, key, t, digest, zlib.compress(text.encode(), 1)) for t, key, digest, text in entries]
    db.executemany("INSERT INTO items VALUES (?, ?, ?, ?, ?)", rows)
    db.commit()
    db.close()


def compared(store: Path, table: str, keys: list[str], rendered: list[str], changed: str) -> dict[str, str]:
    """kind per item type of the items ``rendered`` now (``changed`` with one more attribute) against ``store``."""
    with ItemDiff(keys, table, store.parent) as differ:
        for item_type in rendered:
            item = dict(ITEMS[item_type][0])
            if item_type == changed:
                item["added"] = {"S": "now"}
            differ.add(item_type, item)
        list(differ.duplicates())
        differ.attach(store)
        return {row.item_type: row.kind for row in differ.rows(same=True)}


def test_a_store_written_before_reads_as_equal_and_a_changed_item_as_updated(tmp_path: Path) -> None:
    by_keys: dict[tuple[str, ...], list[str]] = {}
    for item_type, (_, keys) in ITEMS.items():
        by_keys.setdefault(tuple(keys), []).append(item_type)
    for n, (keys, types) in enumerate(by_keys.items()):
        store = tmp_path / f"old-{n}" / FILE_NAME
        store.parent.mkdir()
        old_store(store, "T", [b for b in BEFORE if b[0] in types])
        kinds = compared(store, "T", list(keys), types, changed=types[0])
        assert kinds == {t: "updated" if t == types[0] else "same" for t in types}, keys


def test_a_store_holding_old_and_new_entries_reads_as_equal(tmp_path: Path) -> None:
    types = [t for t, (_, keys) in ITEMS.items() if keys == ["PK"]]
    store = tmp_path / FILE_NAME
    old_store(store, "T", [b for b in BEFORE if b[0] in types[:2]])
    with FingerprintStore(store) as written:  # today's code adds the rest, short texts uncompressed
        written.record("T", [fingerprint(ITEMS[t][0], ["PK"], t) for t in types[2:]])
        assert written.count("T") == len(types)
    with sqlite3.connect(store) as db:
        kinds = {t: type(v).__name__ for t, v in db.execute("SELECT item_type, item FROM items")}
    db.close()
    assert kinds[types[0]] == "bytes" and kinds["Nested"] == "str" and kinds["Deep"] == "bytes"
    assert compared(store, "T", ["PK"], types, changed="") == dict.fromkeys(types, "same")


def test_sync_after_an_upgrade_writes_only_what_changed(music: tuple[Path, Path], make_config: Any) -> None:
    """A table migrated by the code before (its store all compressed): sync puts the changed song and play only."""
    source, mappings = music
    config = make_config(source=source, mappings=mappings)
    assert run_cli(config, "migrate", "--no-validate").exit_code == 0
    store = config.parent / "state" / FILE_NAME
    with sqlite3.connect(store) as db:  # as the code before wrote it
        rows = db.execute("SELECT tbl, key, item FROM items").fetchall()
        db.executemany(
            "UPDATE items SET item = ? WHERE tbl = ? AND key = ?",
            [(zlib.compress(item.encode(), 1), tbl, key) for tbl, key, item in rows if isinstance(item, str)],
        )
    db.close()
    assert rows and any(isinstance(item, str) for _, _, item in rows)
    with sqlite3.connect(source) as db:
        db.execute("UPDATE song SET title = 'Retitled' WHERE id = 3")
        db.execute("UPDATE play SET seconds = seconds + 1 WHERE id = 1")
    db.close()
    result = run_cli(config, "sync", "--no-validate")
    assert result.exit_code == 0, result.output
    assert re.findall(r"^sync: (\d+) items put, (\d+) deleted", result.output, re.MULTILINE)[-1] == ("2", "0")
    again = run_cli(config, "sync", "--no-validate")
    assert re.findall(r"^sync: (\d+) items put, (\d+) deleted", again.output, re.MULTILINE)[-1] == ("0", "0")
