"""The service's live view: exposure so far, trend, the alert banner, health line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from rich.console import Console

from hazmon.acquisition.alert_routes import AlertManager
from hazmon.acquisition.live import ExposureSoFar, LiveState, render_view
from hazmon.acquisition.pipeline import Pipeline
from hazmon.analysis.readings import Channel, ChannelTable, Readings
from hazmon.config.site import AlertsConfig
from hazmon.config.standards import rules_by_quantity
from hazmon.store.hazards import HazardRegister
from hazmon.store.timeseries.sqlite import SqliteTimeSeries

S = 1_000_000_000


def test_exposure_so_far_integrates_held_values() -> None:
    channels = ChannelTable()
    co = channels.add(Channel("s", "d", "co", "ppm"))
    lel = channels.add(Channel("s", "d", "lel", "%LEL"))
    exposure = ExposureSoFar(channels)
    # 20 minutes of CO at 10 ppm, one reading a minute, then a rise.
    ts = np.arange(21, dtype=np.int64) * 60 * S
    exposure.update(
        Readings.from_columns(ts, np.full(21, co), np.full(21, 10.0)), np.zeros(21, np.uint8)
    )
    # 20 minutes held at 10 ppm = 200 ppm·min; as an 8-h TWA: 200 / 480.
    assert exposure.twa(co) == pytest.approx(200 / 480)
    assert exposure.stel(co) == pytest.approx(10.0)
    assert exposure.trend(co) == "→"
    exposure.update(Readings.from_columns([21 * 60 * S], [co], [30.0]), np.zeros(1, np.uint8))
    assert exposure.trend(co) == "↑"
    exposure.update(Readings.from_columns([0], [lel], [5.0]), np.zeros(1, np.uint8))
    assert np.isnan(exposure.twa(lel))  # not an exposure quantity


def test_view_shows_rows_banner_and_health(tmp_path: Path) -> None:
    channels = ChannelTable()
    lel = channels.add(Channel("s", "gd-1", "lel", "%LEL"))
    channels.add(Channel("s", "gd-1", "health.online", "1"))
    manager = AlertManager("s", AlertsConfig(), [])
    with SqliteTimeSeries(tmp_path / "v.db") as store:
        register = HazardRegister(f"sqlite:///{tmp_path / 'v.db'}")
        register.open()
        pipeline = Pipeline(
            channels, rules_by_quantity(("gbt50493-2019",)), store, register, {}, manager
        )
        exposure = ExposureSoFar(channels)
        pipeline.observers.append(exposure.update)
        pipeline.process(Readings.from_columns([1 * S, 2 * S], [lel, lel], [1.0, 60.0]))
        console = Console(record=True, width=160)
        console.print(render_view(LiveState(pipeline, manager, [], exposure, title="t")))
        register.close()
    text = console.export_text()
    assert "active alert" in text
    assert "gd-1/lel" in text
    assert "60" in text
    assert "%LEL" in text
    assert "health.online" not in text  # health is summarised, not listed as a row
    assert "devices online" in text
