"""The service's live view: exposure so far, the alert banner, health line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from rich.console import Console

from hazmon.acquisition.alert_routes import AlertManager
from hazmon.acquisition.live import LiveState, render_view
from hazmon.acquisition.pipeline import Pipeline
from hazmon.analysis.readings import Channel, ChannelTable, Readings
from hazmon.config.site import AlertsConfig
from hazmon.config.standards import rules_by_quantity
from hazmon.store.hazards import HazardRegister
from hazmon.store.timeseries.sqlite import SqliteTimeSeries

S = 1_000_000_000


def test_growing_channel_table_keeps_the_figures_so_far(tmp_path: Path) -> None:
    # A device comes online after another has been read for 20 minutes: the evaluator
    # takes the new channel on and keeps what it had (20 min of CO at 10 ppm).
    channels = ChannelTable()
    co = channels.add(Channel("s", "d", "co", "ppm"))
    manager = AlertManager("s", AlertsConfig(), [])
    with SqliteTimeSeries(tmp_path / "g.db") as store:
        register = HazardRegister(f"sqlite:///{tmp_path / 'g.db'}")
        register.open()
        pipeline = Pipeline(
            channels, rules_by_quantity(("gbt50493-2019",)), store, register, {}, manager
        )
        ts = np.arange(21, dtype=np.int64) * 60 * S
        pipeline.process(Readings.from_columns(ts, np.full(21, co), np.full(21, 10.0)))
        lel = channels.add(Channel("s", "gd-1", "lel", "%LEL"))
        pipeline.process(Readings.from_columns([21 * 60 * S], [lel], [5.0]))
        snapshot = pipeline.evaluator.snapshot()
        register.close()
    # 21 readings a minute apart, the last held a minute too: 21 min × 10 ppm;
    # the worst 15-minute window holds 15 of them: 10 ppm.
    assert snapshot.results[co].metrics["twa_8h"] == pytest.approx(21 * 60 * 10 / 28_800)
    assert snapshot.results[co].metrics["stel_max"] == pytest.approx(10.0)
    assert "twa_8h" not in snapshot.results[lel].metrics  # not an exposure quantity


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
        pipeline.process(Readings.from_columns([1 * S, 2 * S], [lel, lel], [1.0, 60.0]))
        console = Console(record=True, width=160)
        console.print(render_view(LiveState(pipeline, manager, [], title="t")))
        register.close()
    text = console.export_text()
    assert "active alert" in text
    assert "gd-1/lel" in text
    assert "60" in text
    assert "%LEL" in text
    assert "health.online" not in text  # health is summarised, not listed as a row
    assert "devices online" in text
