"""Fixtures of the central tests: a NATS cluster, a PostgreSQL register."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import MetaData, create_engine

from .cluster import NatsCluster
from .webhook import Receiver

PG_URL_VARIABLE = "HAZMON_TEST_PG_URL"


@pytest.fixture
def nats_cluster(tmp_path: Path) -> Iterator[NatsCluster]:
    cluster = NatsCluster(tmp_path)
    try:
        for index in range(3):
            cluster.start(index)
        # The MQTT gateway listens once JetStream has a meta leader: all three up.
        for index in range(3):
            cluster.wait_ready(index)
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def pg_register() -> str:
    """The test PostgreSQL URL with the register's tables dropped; skips without one."""
    url = os.environ.get(PG_URL_VARIABLE)
    if not url:
        pytest.skip(f"{PG_URL_VARIABLE} is not set (a PostgreSQL URL)")
    engine = create_engine(url)
    try:
        # Every table, not just the register's: the desk's tables (comments,
        # attachments) other tests create refer to the hazards and would block the drop.
        with engine.begin() as connection:
            tables = MetaData()
            tables.reflect(connection)
            tables.drop_all(connection)
    finally:
        engine.dispose()
    return url


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A webhook receiver on a free port (closed after the test)."""
    server = Receiver()
    try:
        yield server
    finally:
        server.close()
