"""The service's live view: exposure so far, the alert banner, health line."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console

from hazmon.acquisition.alert_routes import AlertManager
from hazmon.acquisition.live import LiveState, render_view
from hazmon.acquisition.pipeline import Pipeline
from hazmon.acquisition.poller import build_devices
from hazmon.analysis.readings import Channel, ChannelTable, Readings
from hazmon.config.site import AlertsConfig, load_site
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


def _banner_view(tmp_path: Path) -> str:
    """The view of one LEL channel that went from 1 to 60 %LEL (A2), width 160."""
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
    return console.export_text()


@pytest.mark.usefixtures("english")
def test_view_shows_rows_banner_and_health(tmp_path: Path) -> None:
    text = _banner_view(tmp_path)
    assert "active alert" in text
    assert "gd-1/lel" in text
    assert "60" in text
    assert "%LEL" in text
    assert "health.online" not in text  # health is summarised, not listed as a row
    assert "devices online" in text


@pytest.mark.usefixtures("chinese")
def test_view_speaks_chinese_by_default(tmp_path: Path) -> None:
    text = _banner_view(tmp_path)
    assert "1 条活动报警" in text
    assert "二级报警" in text  # the level as GB/T 50493 names it, not "A2"
    assert "设备" in text and "通道" in text and "质量" in text  # noqa: PT018 - headings
    assert "0/0 台设备在线；0 次轮询失败；已存储 2 个读数" in text
    assert "devices online" not in text


def _site_pipeline(tmp_path: Path) -> tuple[Pipeline, AlertManager, HazardRegister]:
    """Ten 4-gas meters (40 channels); gd-pump-house's LEL at 60 %LEL (A2), the tank
    farm's O2 flagged CALIBRATION_DUE, one meter never read."""
    channels = ChannelTable()
    devices = [f"gd-unit-{n:02d}" for n in range(8)] + ["gd-pump-house", "gd-tank-farm"]
    numbers = {
        (device, quantity): channels.add(Channel("s", device, quantity, unit))
        for device in devices
        for quantity, unit in (("lel", "%LEL"), ("o2", "%vol"), ("co", "ppm"), ("h2s", "ppm"))
    }
    manager = AlertManager("s", AlertsConfig(), [])
    store = SqliteTimeSeries(tmp_path / "w.db")
    store.open()
    register = HazardRegister(f"sqlite:///{tmp_path / 'w.db'}")
    register.open()
    pipeline = Pipeline(
        channels, rules_by_quantity(("gbt50493-2019",)), store, register, {}, manager
    )
    read = [key for key in numbers if key[0] != "gd-unit-07"]
    values = {"lel": 0.23, "o2": 20.9, "co": 1.0, "h2s": 0.0}
    readings = Readings.from_columns(
        np.full(len(read), time.time_ns() - 2 * S),
        np.array([numbers[key] for key in read]),
        np.array([60.0 if key == ("gd-pump-house", "lel") else values[key[1]] for key in read]),
        # 256 = CALIBRATION_DUE
        np.array([256 if key == ("gd-tank-farm", "o2") else 0 for key in read]),
    )
    pipeline.process(readings)
    return pipeline, manager, register


@pytest.mark.usefixtures("english")
@pytest.mark.parametrize(("width", "height"), [(80, 24), (120, 40), (200, 50)])
def test_view_fits_the_terminal_and_never_cuts_what_matters(
    tmp_path: Path, width: int, height: int
) -> None:
    pipeline, manager, register = _site_pipeline(tmp_path)
    console = Console(record=True, width=width, height=height, color_system=None)
    console.print(render_view(LiveState(pipeline, manager, [], title="hazmon — plant")))
    register.close()
    store = pipeline.timeseries
    store.close()
    text = console.export_text()
    lines = text.rstrip("\n").splitlines()
    assert len(lines) <= height  # taller than the window is what tears Live's frames
    assert max(len(line) for line in lines) <= width
    assert "…" not in "".join(line for line in lines if "more channel" not in line)
    assert "active alert(s)" in text
    alarm = next(line for line in lines if "gd-pump-house" in line and "%LEL" in line)
    assert "60" in alarm
    assert "A2" in alarm or "alarm" in alarm.lower()
    # The flagged O2 row is kept on screen (after the alarm) when rows must be left out.
    o2 = next(
        line for line in lines if "gd-tank-farm" in line and "%vol" in line and "│" not in line
    )
    assert "20.9" in o2
    if width < 160:
        assert "CAL" in o2
        assert "CAL=CALIBRATION_DUE" in text  # the legend spells the code out
    else:
        assert "CALIBRATION_DUE" in o2
    if height >= 50:
        assert "more channels" not in text
        assert "gd-unit-07" in text  # the meter never read shows as waiting
    else:
        assert "more channels: a larger window shows them" in text
    if width >= 110:
        assert "TWA 8h so" in text  # the heading may wrap onto two lines


def test_values_show_to_the_meters_resolution(tmp_path: Path) -> None:
    """The laser distance meter's profile gives 0.001 m: 12.34567 m shows as 12.346 (by
    hand: three decimals), not 12.35 (four significant digits). The particle counter's
    step is in µg/m³ while its channel is in mg/m³: no rounding to a foreign step."""
    _, site = load_site("config/sites/demo.toml")
    channels = ChannelTable()
    states, _meters = build_devices(site, channels)  # drivers only: no link is opened
    by_id = {state.config.id: state for state in states}
    distance = by_id["distance-tank-spacing"].channel_numbers[0]
    pm1 = by_id["dust-packing-line"].channel_numbers[0]
    assert (channels[distance].quantity, channels[pm1].quantity) == ("distance", "pm1_0")
    manager = AlertManager("s", AlertsConfig(), [])
    with SqliteTimeSeries(tmp_path / "r.db") as store:
        register = HazardRegister(f"sqlite:///{tmp_path / 'r.db'}")
        register.open()
        pipeline = Pipeline(
            channels, rules_by_quantity(("gbt50493-2019",)), store, register, {}, manager
        )
        pipeline.process(Readings.from_columns([1 * S, 1 * S], [distance, pm1], [12.34567, 0.0123]))
        console = Console(record=True, width=200, height=60)
        console.print(render_view(LiveState(pipeline, manager, states, title="t")))
        register.close()
    lines = console.export_text().splitlines()
    row = next(line for line in lines if "distance-tank" in line and " m " in line)
    assert "12.346" in row
    pm_row = next(line for line in lines if "pm1_0" in line)
    assert "0.0123" in pm_row  # significant digits, not rounded to 1 (its µg/m³ step)
