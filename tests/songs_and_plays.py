"""A two-table mapping set for the checkpoint and state tests: songs, and plays of them.

Row ``BAD_PLAY`` of ``play`` can hold a duration that is not a number, so a
run fails midway with a checkpoint: Play items 1 to ``BAD_PLAY - 1`` written,
the rest not.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

SONGS = 10
PLAYS = 120
BAD_PLAY = 76

MAPPING = """\
tables:
  - name: MusicCatalog
    partition_key: {name: PK, type: S}
    sort_key: {name: SK, type: S}
  - name: PlayHistory
    partition_key: {name: PK, type: S}
    sort_key: {name: SK, type: S}

item_types:
  - name: Song
    table: MusicCatalog
    query: SELECT id, title FROM song
    cursor: [id]
    keys:
      PK: "SONG#{{ id }}"
      SK: SONG
    attributes:
      Entity: {const: Song}
      Id: {column: id, type: number}
      Title: title

  - name: Play
    table: PlayHistory
    query: SELECT id, song_id, listener, seconds FROM play
    cursor: [id]
    keys:
      PK: "LISTENER#{{ listener }}"
      SK: "PLAY#{{ id | pad(6) }}"
    attributes:
      Entity: {const: Play}
      Id: {column: id, type: number}
      SongId: {column: song_id, type: number}
      Seconds: {column: seconds, type: number}
      Label: {template: "{{ listener }} played song {{ song_id }}"}
"""

BAD_ROW_MESSAGE = f"item type Play, row {{'id': {BAD_PLAY}}}: attribute Seconds: text 'abc' is not a number"


def make_source(path: Path, bad: bool) -> Path:
    """The ``song`` and ``play`` tables; with ``bad``, play ``BAD_PLAY`` lasts 'abc' seconds."""
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE song (id INTEGER PRIMARY KEY, title TEXT)")
        conn.execute("CREATE TABLE play (id INTEGER PRIMARY KEY, song_id INTEGER, listener TEXT, seconds NUMBER)")
        conn.executemany("INSERT INTO song VALUES (?, ?)", [(i, f"Song {i}") for i in range(1, SONGS + 1)])
        conn.executemany(
            "INSERT INTO play VALUES (?, ?, ?, ?)",
            [
                (i, 1 + i % SONGS, f"user{i % 7}", "abc" if bad and i == BAD_PLAY else 60 + i)
                for i in range(1, PLAYS + 1)
            ],
        )
    conn.close()
    return path


def play_key(play: int) -> dict[str, Any]:
    return {"PK": {"S": f"LISTENER#user{play % 7}"}, "SK": {"S": f"PLAY#{play:06d}"}}


def mark(ddb: Any, table: str, key: dict[str, Any]) -> None:
    """Add an attribute that a rewrite of the item would remove."""
    ddb.update_item(
        TableName=table,
        Key=key,
        UpdateExpression="SET Tampered = :t",
        ExpressionAttributeValues={":t": {"BOOL": True}},
    )


def is_marked(ddb: Any, table: str, key: dict[str, Any]) -> bool:
    return "Tampered" in ddb.get_item(TableName=table, Key=key, ConsistentRead=True)["Item"]
