"""Fixtures of the desk tests: a seeded register and readings store, accounts, clients."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine

from hazmon.analysis.events import Event
from hazmon.analysis.readings import Channel, ChannelTable, Readings
from hazmon.config.standards import rules_by_quantity
from hazmon.store.accounts import Accounts
from hazmon.store.hazards import HazardContext, HazardRegister, metadata
from hazmon.store.timeseries.sqlite import SqliteTimeSeries
from hazmon.web.app import DeskSettings, create_app

SECOND = 1_000_000_000  # [ns]
T0 = 1_700_000_000 * SECOND  # [ns UTC] = 2023-11-14 22:13:20 UTC = 2023-11-15 06:13:20 Beijing
PASSWORD = "correct-horse-1"
OURS = "甲化工有限公司"
THEIRS = "乙化工有限公司"
RULES = rules_by_quantity(("gbt50493-2019",))
LEL_A = Channel("plant-a", "gd-01", "lel", "%LEL", "methane")
LEL_B = Channel("plant-b", "gd-02", "lel", "%LEL", "methane")


def lel_readings() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """10 s of 1 Hz readings: 10 %LEL, then 60 %LEL for 3 s (t = 4, 5, 6 s), then 10.

    Levels by the GB/T 50493 set points (A1 25, A2 50 %LEL): 2 during the excursion.
    """
    ts = T0 + np.arange(10, dtype=np.int64) * SECOND
    value = np.full(10, 10.0)
    value[4:7] = 60.0
    level = np.where(value >= 50.0, 2, 0).astype(np.uint8)
    return ts, value, level


#: The A2 event of :func:`lel_readings`: 4 s to 6 s, peak 60 %LEL at 5 s.
LEL_EVENT = Event(
    channel=0,
    start_ts=T0 + 4 * SECOND,
    end_ts=T0 + 6 * SECOND,
    peak=60.0,
    peak_ts=T0 + 5 * SECOND,
    max_level=2,
    side=1,
    samples=3,
)


@dataclass
class Seeded:
    """What the seeded database holds."""

    url: str
    readings: Path
    ours: int  # hazard id of OURS (event-raised, with evidence)
    theirs: int  # hazard id of THEIRS


def _register_url(kind: str, tmp_path: Path) -> str:
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'desk.db'}"
    url = os.environ.get("HAZMON_TEST_PG_URL")
    if not url:
        pytest.skip(
            "HAZMON_TEST_PG_URL is not set; set it to a PostgreSQL URL such as "
            "postgresql+psycopg://postgres@127.0.0.1:5432/hazmon_test to run the desk on it"
        )
    engine = create_engine(url)
    try:
        # The desk's tables share the register's metadata: one drop_all clears them all.
        from hazmon.store import accounts, attachments, inspections  # noqa: F401

        metadata.drop_all(engine)
    finally:
        engine.dispose()
    return url


def seed(url: str, readings: Path) -> Seeded:
    """Two enterprises' hazards with evidence readings, and one account per role."""
    ts, value, level = lel_readings()
    channels = ChannelTable()
    channels.add(LEL_A)
    channels.add(LEL_B)
    store = SqliteTimeSeries(readings)
    store.open()
    for number in (0, 1):
        batch = Readings.from_columns(ts, np.full(10, number), value)
        store.write(batch, level, channels)
    # Given the store, the register's audit vouches for the evidence readings too.
    with HazardRegister(url, readings=store) as register:
        _, ours = register.record_event(
            LEL_EVENT,
            LEL_A,
            RULES["lel"],
            HazardContext(enterprise=OURS, location="罐区东侧"),
            create_hazard=True,
            evidence_margin_ns=4 * SECOND,
        )
        _, theirs = register.record_event(
            LEL_EVENT,
            LEL_B,
            RULES["lel"],
            HazardContext(enterprise=THEIRS, location="泵房"),
            create_hazard=True,
            evidence_margin_ns=4 * SECOND,
        )
        assert ours is not None
        assert theirs is not None
        accounts = Accounts(register.engine)
        accounts.add("officer", PASSWORD, role="officer", display_name="王科长")
        accounts.add("expert", PASSWORD, role="expert", display_name="李专家")
        accounts.add("admin", PASSWORD, role="admin", display_name="管理员甲")
        accounts.add("ours", PASSWORD, role="enterprise", display_name="甲安全员", enterprise=OURS)
        accounts.add(
            "theirs", PASSWORD, role="enterprise", display_name="乙安全员", enterprise=THEIRS
        )
    store.close()
    return Seeded(url, readings, ours, theirs)


@pytest.fixture(params=["sqlite", "postgresql"])
def seeded(request: pytest.FixtureRequest, tmp_path: Path) -> Seeded:
    """A seeded register on SQLite and (when configured) PostgreSQL."""
    return seed(_register_url(request.param, tmp_path), tmp_path / "readings.db")


@pytest.fixture
def seeded_sqlite(tmp_path: Path) -> Seeded:
    """A seeded register on SQLite only."""
    return seed(_register_url("sqlite", tmp_path), tmp_path / "readings.db")


class Client:
    """A TestClient signed in as one user, with that session's CSRF token."""

    def __init__(self, http: TestClient, csrf: str) -> None:
        self.http = http
        self.csrf = csrf

    def post(self, path: str, data: dict[str, str] | None = None, **kwargs: object):  # type: ignore[no-untyped-def]
        """A form POST carrying the CSRF token."""
        return self.http.post(
            path, data={"csrf_token": self.csrf, **(data or {})}, follow_redirects=False, **kwargs
        )

    def api(self, path: str, body: Mapping[str, object] | None = None):  # type: ignore[no-untyped-def]
        """A JSON POST with the token in its header."""
        return self.http.post(path, json=body or {}, headers={"X-CSRF-Token": self.csrf})


def sign_in(app_client: TestClient, username: str) -> Client:
    """Sign in through the JSON API; the TestClient keeps the cookie."""
    response = app_client.post("/api/login", json={"username": username, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return Client(app_client, response.json()["csrf_token"])


@pytest.fixture
def login(seeded: Seeded) -> Iterator[object]:
    """``login(username)`` → a :class:`Client` of its own (its own cookie jar)."""
    app = create_app(DeskSettings(seeded.url, seeded.readings))

    def make(username: str) -> Client:
        # Not entered as a context: the app's shutdown would close the shared desk.
        return sign_in(TestClient(app), username)

    yield make
    app.state.desk.close()
