"""The evidence chart's pixel interval, and a long window answered from the summaries."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from fastapi.testclient import TestClient

from hazmon.analysis.readings import Channel, ChannelTable, Readings
from hazmon.store.accounts import Accounts
from hazmon.store.hazards import HazardContext, HazardRegister
from hazmon.store.timeseries.sqlite import SqliteTimeSeries
from hazmon.web.app import DeskSettings, create_app
from hazmon.web.chart import pixel_interval

SECOND = 1_000_000_000  # [ns]
MINUTE = 60 * SECOND
T0 = 1_699_999_200 * SECOND  # [ns UTC], a whole hour


def test_a_short_window_keeps_its_exact_share_per_pixel() -> None:
    # 10 s + 1 ns over 50 px: ceil(10,000,000,001 / 50) ns.
    assert pixel_interval(T0, T0 + 10 * SECOND, 50) == 200_000_001
    # 500 minutes over 1000 px: 30 s, under a minute, stays.
    assert pixel_interval(0, 500 * MINUTE - 1, 1000) == 30 * SECOND
    # Exactly 1000 minutes over 1000 px: one minute, already whole.
    assert pixel_interval(0, 1000 * MINUTE - 1, 1000) == MINUTE


def test_a_long_window_gets_whole_minutes_rounded_up() -> None:
    # 1000 minutes + 1 ns over 1000 px: 60 s + 1 ns a column, rounded up to 2 minutes.
    assert pixel_interval(0, 1000 * MINUTE, 1000) == 2 * MINUTE
    # 1,000,000 readings at 1 Hz (999,999 s + 1 ns) over 1000 px: 999.999 s a column,
    # 16.67 minutes, rounded up to 17 minutes.
    assert pixel_interval(T0, T0 + 999_999 * SECOND, 1000) == 17 * MINUTE


def test_a_long_chart_equals_the_raw_readings_per_column(tmp_path: Path) -> None:
    # One reading every 10 s for 3000 minutes; the window starts and ends inside a minute.
    count = 3000 * 6
    ts = T0 + np.arange(count, dtype=np.int64) * 10 * SECOND
    value = (np.arange(count) % 13).astype(float)
    value[7777] = 95.0  # a peak
    value[100:110] = np.nan  # readings without a value
    level = np.where(value >= 50, 2, 0).astype(np.uint8)
    channel = Channel("plant-a", "gd-01", "lel", "%LEL", "methane")
    start, end = T0 + 25 * SECOND, T0 + 2999 * MINUTE + 35 * SECOND
    url = f"sqlite:///{tmp_path / 'register.db'}"
    store_path = tmp_path / "readings.db"
    with SqliteTimeSeries(store_path) as store:
        store.write(
            Readings.from_columns(ts, np.zeros(count), value), level, ChannelTable([channel])
        )
    with HazardRegister(url) as register:
        hazard = register.add_hazard(
            HazardContext(enterprise="企业", location="罐区"),
            "证据曲线",
            rule_id="manual",
            standard="GB/T 50493-2019",
            clause="5.5.2",
            actor="test",
            evidence=[(channel, start, end)],
        )
        Accounts(register.engine).add("officer", "test-password", role="officer")
    app = create_app(DeskSettings(url, store_path))
    try:
        http = TestClient(app)
        signed = http.post("/api/login", json={"username": "officer", "password": "test-password"})
        assert signed.status_code == 200
        answer = http.get(f"/api/hazards/{hazard}/chart", params={"width": 1000})
        assert answer.status_code == 200
        [data] = answer.json()
    finally:
        app.state.desk.close()
    # 2999 min 10 s + 1 ns over 1000 px is 179.95 s a column: 3 minutes.
    assert data["interval_s"] == 180.0
    # The reference, from the arrays: buckets of 180 s from the epoch, the window's
    # readings only, columns without a value left out.
    inside = (ts >= start) & (ts <= end) & ~np.isnan(value)
    bucket = ts[inside] - ts[inside] % (180 * SECOND)
    starts = np.unique(bucket)
    assert data["x"] == (starts / 1e9).tolist()
    assert data["maximum"] == [float(value[inside][bucket == b].max()) for b in starts]
    assert data["minimum"] == [float(value[inside][bucket == b].min()) for b in starts]
    assert data["readings"] == int(inside.sum())
    assert max(data["maximum"]) == 95.0
    peak_bucket = (ts[7777] - ts[7777] % (180 * SECOND)) / 1e9
    assert data["excursions"] == [[peak_bucket, peak_bucket]]
