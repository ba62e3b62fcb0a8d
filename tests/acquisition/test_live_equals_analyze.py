"""One scenario fed to both the live path and ``hazmon analyze`` (issue 11, deliverable 4).

A CO meter reads 200 ppm once a second for 10 minutes beside a sound level meter at
90 dB(A). The live path is the service's: :meth:`Pipeline.process` one poll (one reading
a channel) at a time, then the live view. ``hazmon analyze --db`` then evaluates the
readings the pipeline stored. Both must give the same figures to the last digit, and
those figures must be the ones worked out by hand below.
"""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

import pytest
from rich.console import Console

from hazmon.acquisition.alert_routes import AlertManager
from hazmon.acquisition.cli import main
from hazmon.acquisition.live import LiveState, render_view
from hazmon.acquisition.pipeline import Pipeline
from hazmon.analysis.evaluate import EvaluationSettings
from hazmon.analysis.readings import Channel, ChannelTable, Readings
from hazmon.config.site import AlertsConfig
from hazmon.config.standards import SiteLimits, effective_limit_rows, rules_by_quantity
from hazmon.store.hazards import HazardRegister
from hazmon.store.timeseries.sqlite import SqliteTimeSeries

S = 1_000_000_000
#: 2026-03-02 09:00:00 CST, on a minute boundary (the 10 minutes fill 10 minute bins).
T0 = 1_772_413_200 * S
CO = Channel("site", "co-1", "co", "ppm", name="co")
NOISE = Channel("site", "snd-1", "noise", "dB(A)", name="laeq")

# -- worked by hand, never by the code under test ---------------------------------------
# 600 readings 1 s apart; the last is held as long as the one before it (1 s): 600 s.
#   STEL = ∫C dt over the 15-min window / 15 min = 200 ppm × 10 min / 15 min
HAND_STEL = 200.0 * 10 / 15  # 133.333… ppm
#   shift TWA = Σ C·T / 8 h = 200 ppm × 600 s / 28 800 s
HAND_TWA = 200.0 * 600 / 28_800  # 4.1667 ppm
#   L_EX,8h = L_Aeq,Te + 10 lg(Te / 8 h) = 90 + 10 lg(600 / 28 800)
HAND_LEX = 90.0 + 10 * math.log10(600 / 28_800)  # 73.19 dB(A)
#   PC-STEL of CO 30 mg/m³ at 20 °C: 30 × 24.055 / 28.010 ppm
HAND_STEL_LIMIT = 30.0 * 24.055 / 28.010  # 25.76 ppm

FIGURES = ("max", "twa_8h", "stel_max", "lex_8h")


def _live(tmp_path: Path) -> tuple[Pipeline, AlertManager, Path, HazardRegister]:
    database = tmp_path / "run.db"
    store = SqliteTimeSeries(database)
    store.open()
    register = HazardRegister(f"sqlite:///{tmp_path / 'register.db'}")
    register.open()
    manager = AlertManager("site", AlertsConfig(), [])
    site = SiteLimits()
    pipeline = Pipeline(
        ChannelTable([CO, NOISE]),
        rules_by_quantity(("gbt50493-2019",), site),
        store,
        register,
        {},
        manager,
        limit_rows=effective_limit_rows(site),
        settings=EvaluationSettings.from_site(site),
    )
    # As the service feeds it: one poll a second, each poll one reading a channel.
    for second in range(600):
        pipeline.process(Readings.from_columns([T0 + second * S] * 2, [0, 1], [200.0, 90.0]))
    return pipeline, manager, database, register


@pytest.mark.usefixtures("english")
def test_live_view_and_analyze_agree_to_the_last_digit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pipeline, manager, database, register = _live(tmp_path)
    snapshot = pipeline.evaluator.snapshot()
    live = {number: snapshot.results[number].metrics for number in (0, 1)}
    console = Console(record=True, width=200, file=io.StringIO())
    console.print(render_view(LiveState(pipeline, manager, [], title="t")))
    screen = console.export_text()
    pipeline.timeseries.close()

    assert main(["analyze", "--db", str(database), "--json"]) == 1  # the STEL fails
    document = json.loads(capsys.readouterr().out)
    report = {channel["quantity"]: channel for channel in document["channels"]}

    # The screen and the report: the same numbers, bit for bit.
    for number, quantity in ((0, "co"), (1, "noise")):
        for metric in FIGURES:
            if metric in live[number]:
                assert report[quantity]["metrics"][metric] == live[number][metric], metric
    # … and the numbers worked out by hand.
    assert live[0]["stel_max"] == pytest.approx(HAND_STEL, rel=1e-12)
    assert live[0]["twa_8h"] == pytest.approx(HAND_TWA, rel=1e-12)
    assert live[0]["max"] == 200.0
    assert live[1]["lex_8h"] == pytest.approx(HAND_LEX, rel=1e-12)
    stel = next(v for v in report["co"]["verdicts"] if v["rule"].endswith("stel"))
    assert stel["limit"] == pytest.approx(HAND_STEL_LIMIT, rel=1e-3)
    assert not stel["passed"]
    # What the technician reads: the figures as the report prints them (4 digits),
    # the STEL in red against its limit, the level A2.
    rows = [line for line in screen.splitlines() if "#" not in line]  # not the banner
    co_row = next(line for line in rows if "co-1" in line)
    assert "133.3 > 25.76" in co_row
    assert "4.167" in co_row
    assert "A2" in co_row
    noise_row = next(line for line in rows if "snd-1" in line)
    assert "73.19" in noise_row
    for heading in ("peak", "TWA 8h so far", "STEL max", "L_EX,8h so far"):
        assert heading in screen

    # The events: the live path files the CO excursion analyze reports as a hazard.
    pipeline.close()
    hazard_events = [event for event in report["co"]["events"] if event["hazard"]]
    assert len(hazard_events) == 1
    assert pipeline.stats.events == 1
    assert len(register.hazards()) == 1
    register.close()
