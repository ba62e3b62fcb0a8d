"""The one durable spool: FIFO order, removal only when asked, FULL durability, and the
spool files of release 0.1.0 (the outbox's and the MQTT kit's tables) adopted."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from hazmon.acquisition.publish import MessageSpool
from hazmon.store.spool import Spool
from hazmon.store.timeseries.outbox import Outbox


def test_items_come_out_oldest_first_and_stay_until_removed(tmp_path: Path) -> None:
    path = tmp_path / "spool.db"
    with Spool(path) as spool:
        first = spool.put(b"one", 3, "a")
        spool.put_many([(b"two", 1, "b"), (b"three", 2, "c")])
        assert spool.connection.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        items = spool.oldest(2)
        assert [(i.payload, i.label, i.weight) for i in items] == [
            (b"one", "a", 3),
            (b"two", "b", 1),
        ]
        assert items[0].id == first
        spool.remove([first])
        assert spool.pending() == (2, 3)
    with Spool(path) as spool:  # reopened: what was not removed is still there, in order
        assert [i.payload for i in spool.oldest(10)] == [b"two", b"three"]


def test_spool_files_of_the_old_release_are_adopted_in_order(tmp_path: Path) -> None:
    outbox_path, mqtt_path = tmp_path / "vm-spool.db", tmp_path / "mqtt-spool.db"
    with sqlite3.connect(outbox_path) as old:
        old.executescript(
            "CREATE TABLE outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, points INTEGER NOT NULL,"
            " payload BLOB NOT NULL);"
            "INSERT INTO outbox (points, payload) VALUES (4, x'61'), (6, x'62');"
        )
    with sqlite3.connect(mqtt_path) as old:
        old.executescript(
            "CREATE TABLE messages (id INTEGER PRIMARY KEY AUTOINCREMENT, topic TEXT NOT NULL,"
            " payload BLOB NOT NULL);"
            "INSERT INTO messages (topic, payload) VALUES ('hazmon/s/d/co', x'7b7d');"
        )
    with Outbox(outbox_path) as outbox:
        assert outbox.pending() == (2, 10)
        assert [i.payload for i in outbox.oldest(5)] == [b"a", b"b"]
    with Outbox(outbox_path) as outbox:  # adopted once, not twice
        assert outbox.pending() == (2, 10)
    with MessageSpool(mqtt_path) as spool:
        assert [(i.label, i.payload) for i in spool.oldest(5)] == [("hazmon/s/d/co", b"{}")]
        tables = {row[0] for row in spool.connection.execute("SELECT name FROM sqlite_master")}
    assert "messages" not in tables
