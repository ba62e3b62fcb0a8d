"""Databases made by release 0.1.0 open in this one: the channel gains its name.

Each test builds the old database itself (the old DDL, then rows), opens it with
today's store, and checks the old rows survive and the new identity is stored.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import create_engine, inspect, text

from hazmon.analysis.readings import Channel, ChannelTable, Readings
from hazmon.store.accounts import Accounts
from hazmon.store.hazards import HazardRegister, _alembic_config, metadata
from hazmon.store.migrations.versions import r0001_initial
from hazmon.store.timeseries.sqlite import SCHEMA_VERSION, SqliteTimeSeries

from .conftest import pg_url

# The time-series DDL of release 0.1.0, verbatim: no name, no user_version.
OLD_TIMESERIES_DDL = """
CREATE TABLE channels (
    id INTEGER PRIMARY KEY,
    site TEXT NOT NULL,
    device TEXT NOT NULL,
    quantity TEXT NOT NULL,
    substance TEXT NOT NULL DEFAULT '',
    unit TEXT NOT NULL,
    UNIQUE (site, device, quantity, substance)
);
CREATE TABLE readings (
    channel_id INTEGER NOT NULL REFERENCES channels (id),
    ts INTEGER NOT NULL,
    value REAL,
    quality INTEGER NOT NULL,
    level INTEGER NOT NULL,
    PRIMARY KEY (channel_id, ts)
) WITHOUT ROWID;
INSERT INTO channels (id, site, device, quantity, substance, unit)
VALUES (7, 'plant-a', 'co-1', 'co', '', 'ppm');
INSERT INTO readings VALUES (7, 1000, 12.5, 0, 0), (7, 2000, 30.0, 0, 2);
"""


def test_old_timeseries_file_is_upgraded_and_keeps_its_readings(tmp_path: Path) -> None:
    path = tmp_path / "readings.db"
    with sqlite3.connect(path) as old:
        old.executescript(OLD_TIMESERIES_DDL)
    old_channel = Channel("plant-a", "co-1", "co", "ppm")
    inlet = Channel("plant-a", "co-1", "co", "ppm", name="co_inlet")
    outlet = Channel("plant-a", "co-1", "co", "ppm", name="co_outlet")
    with SqliteTimeSeries(path) as store:
        window = store.read_window(old_channel, 0, 10_000)
        assert window.value.tolist() == [12.5, 30.0]
        assert store.channel_id(old_channel) == 7  # ids kept: readings still point at it
        table = ChannelTable([inlet, outlet])
        batch = Readings.from_columns([5000, 5000, 6000, 6000], [0, 1, 0, 1], [300, 10, 301, 11])
        assert store.write(batch, np.zeros(4, np.uint8), table) == 4
        assert store.count() == 6
        assert store.read_window(inlet, 0, 10_000).value.tolist() == [300.0, 301.0]
        assert store.read_window(outlet, 0, 10_000).value.tolist() == [10.0, 11.0]
        version = store.connection.execute("PRAGMA user_version").fetchone()[0]
    # 2 adds the service runs and outages, 3 dead letters, 4 the per-minute summaries
    assert version == SCHEMA_VERSION == 4
    # Opening again is a no-op: nothing is rebuilt twice.
    with SqliteTimeSeries(path) as store:
        assert store.count() == 6
        assert {c.name for c in store.list_channels()} == {"", "co_inlet", "co_outlet"}


@pytest.fixture(params=["sqlite", "postgresql"])
def old_register_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A register made by release 0.1.0 (its tables, no Alembic), with one event in it."""
    url = f"sqlite:///{tmp_path / 'hazards.db'}" if request.param == "sqlite" else pg_url()
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(text("DROP TABLE IF EXISTS alembic_version"))
            r0001_initial._metadata.create_all(connection)
            connection.execute(
                r0001_initial.events_table.insert().values(
                    site="plant-a", device="co-1", quantity="co", substance="", unit="ppm",
                    rule_id="co.a2", level=2, side=1, start_ts=1, end_ts=2, peak=300.0,
                    peak_ts=1, duration_s=1.0, samples=2, limit_value=30.0,
                )
            )  # fmt: skip
        yield url
    finally:
        with engine.begin() as connection:
            metadata.drop_all(connection)
            connection.execute(text("DROP TABLE IF EXISTS alembic_version"))
        engine.dispose()


def test_old_register_is_upgraded_by_alembic(old_register_url: str) -> None:
    with HazardRegister(old_register_url) as register:
        with register.engine.connect() as connection:
            version = (
                connection.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
            )
            columns = {c["name"] for c in inspect(connection).get_columns("events")}
            evidence = {c["name"] for c in inspect(connection).get_columns("hazard_evidence")}
            old_event = connection.execute(text("SELECT device, name, peak FROM events")).one()
        assert list(version) == ["0004"]
        assert {"name", "record_key"} <= columns
        assert "name" in evidence
        assert tuple(old_event) == ("co-1", "", 300.0)
    # A second open finds the register current and changes nothing.
    with HazardRegister(old_register_url) as register, register.engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM events")).scalar_one() == 1


def test_new_register_is_stamped_at_the_newest_revision(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'new.db'}"
    with HazardRegister(url) as register, register.engine.connect() as connection:
        version = (
            connection.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
        )
        columns = {c["name"] for c in inspect(connection).get_columns("events")}
    assert list(version) == ["0004"]
    assert "name" in columns


def test_register_beside_readings_in_one_file_is_created_new(tmp_path: Path) -> None:
    path = tmp_path / "demo.db"
    with SqliteTimeSeries(path):
        pass  # the demo keeps readings and the register in one file
    with HazardRegister(f"sqlite:///{path}") as register, register.engine.connect() as connection:
        tables = set(inspect(connection).get_table_names())
        version = (
            connection.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
        )
    assert {"channels", "readings", "events", "hazards"} <= tables
    assert list(version) == ["0004"]


#: What revision 0004 adds: the desk's tables and the hazard list's indexes.
DESK_TABLES = {
    "users",
    "hazard_comments",
    "hazard_attachments",
    "alert_acknowledgements",
    "inspection_places",
}
LIST_INDEXES = {
    "ix_hazards_enterprise_status",
    "ix_hazards_status_deadline",
    "ix_hazards_created_at",
    "ix_hazards_inspection_id",
}


@pytest.fixture
def register_at_0003(old_register_url: str) -> str:
    """The 0.1.0 register upgraded by Alembic to revision 0003 (what the previous release
    made): no desk tables, no list indexes."""
    from alembic import command

    engine = create_engine(old_register_url)
    try:
        with engine.begin() as connection:
            config = _alembic_config(connection)
            command.stamp(config, "0001")
            command.upgrade(config, "0003")
            tables = set(inspect(connection).get_table_names())
            indexes = {index["name"] for index in inspect(connection).get_indexes("hazards")}
    finally:
        engine.dispose()
    assert not tables & DESK_TABLES
    assert not indexes & LIST_INDEXES
    return old_register_url


def test_revision_0004_adds_the_desk_tables_and_list_indexes(register_at_0003: str) -> None:
    with HazardRegister(register_at_0003) as register:
        with register.engine.connect() as connection:
            found = inspect(connection)
            tables = set(found.get_table_names())
            indexes = {index["name"] for index in found.get_indexes("hazards")}
            version = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
            old_event = connection.execute(text("SELECT device, peak FROM events")).one()
        assert tables >= DESK_TABLES
        assert indexes >= LIST_INDEXES
        assert version == "0004"
        assert tuple(old_event) == ("co-1", 300.0)
        # The tables are the desk's: an account is added and signs in.
        Accounts(register.engine).add("officer", "long-enough-1", role="officer")
        assert Accounts(register.engine).authenticate("officer", "long-enough-1") is not None


def test_revision_0004_keeps_desk_tables_made_before_it(register_at_0003: str) -> None:
    # A desk of the previous release made some of them with create_all, and an account.
    from hazmon.store import hazard_list
    from hazmon.store.accounts import users_table

    engine = create_engine(register_at_0003)
    try:
        with engine.begin() as connection:
            metadata.create_all(connection, tables=[users_table])
            hazard_list.LIST_INDEXES[0].create(connection)
        Accounts(engine).add("expert", "long-enough-1", role="expert")
    finally:
        engine.dispose()
    with HazardRegister(register_at_0003) as register:
        with register.engine.connect() as connection:
            tables = set(inspect(connection).get_table_names())
            indexes = {index["name"] for index in inspect(connection).get_indexes("hazards")}
        assert tables >= DESK_TABLES
        assert indexes >= LIST_INDEXES
        assert Accounts(register.engine).authenticate("expert", "long-enough-1") is not None


def test_a_new_register_has_the_desk_tables(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'new.db'}"
    with HazardRegister(url) as register, register.engine.connect() as connection:
        tables = set(inspect(connection).get_table_names())
        indexes = {index["name"] for index in inspect(connection).get_indexes("hazards")}
    assert tables >= DESK_TABLES
    assert indexes >= LIST_INDEXES
