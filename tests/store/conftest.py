"""Fixtures of the store tests: registers on SQLite and, when configured, PostgreSQL."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine

# The desk's tables share the register's metadata: imported so that drop_all clears them.
from hazmon.store import accounts, attachments, inspections  # noqa: F401
from hazmon.store.hazards import HazardRegister, metadata

from .victoria_metrics import VictoriaMetrics

PG_URL_VARIABLE = "HAZMON_TEST_PG_URL"


def pg_url() -> str:
    """The test PostgreSQL URL with the register's tables dropped; skips without one."""
    url = os.environ.get(PG_URL_VARIABLE)
    if not url:
        pytest.skip(
            f"{PG_URL_VARIABLE} is not set; set it to a PostgreSQL URL such as "
            "postgresql+psycopg://user@127.0.0.1:5432/hazmon_test to run the register on it"
        )
    engine = create_engine(url)
    try:
        metadata.drop_all(engine)
    finally:
        engine.dispose()
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
def any_register_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh register URL on each database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'hazards.db'}"
        return
    url = pg_url()
    yield url
    engine = create_engine(url)
    try:
        metadata.drop_all(engine)
    finally:
        engine.dispose()


@pytest.fixture
def workflow_register(any_register_url: str) -> Iterator[HazardRegister]:
    """An open register on each database."""
    with HazardRegister(any_register_url) as opened:
        yield opened


# ---------------------------------------------------------------- VictoriaMetrics

VM_BINARY_VARIABLE = "HAZMON_VICTORIA_METRICS"


def _vm_binary() -> str:
    binary = os.environ.get(VM_BINARY_VARIABLE) or shutil.which("victoria-metrics")
    if not binary:
        pytest.skip(
            "victoria-metrics is not installed (apt-get install victoria-metrics, or set "
            f"{VM_BINARY_VARIABLE} to the binary): the line-protocol store and outbox tests "
            "need a real server"
        )
    return binary


@pytest.fixture(scope="session")
def shared_vm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VictoriaMetrics]:
    """One server for the read-back tests; each test writes its own site tag."""
    server = VictoriaMetrics(_vm_binary(), tmp_path_factory.mktemp("vm") / "data")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def own_vm(tmp_path: Path) -> Iterator[VictoriaMetrics]:
    """A server of the test's own, which the test may stop and restart."""
    server = VictoriaMetrics(_vm_binary(), tmp_path / "vm-data")
    server.start()
    try:
        yield server
    finally:
        server.stop()
