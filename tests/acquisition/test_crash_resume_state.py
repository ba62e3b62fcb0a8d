"""A pipeline resumed from the store judges on as if it had never stopped.

Two hours of a methane channel every 10 s, a leak in the first hour and one across
the cut. One pipeline takes it all; another takes the first part, is dropped without
``close()`` (what SIGKILL leaves: the readings stored, nothing else), and a third is
resumed from the store (:meth:`Pipeline.resume` over
:meth:`SqliteTimeSeries.read_since`) and takes the rest. The figures (mean, TWA, STEL,
excursions, coverage …), the events and the hazards must be the same, and the same as
counted by hand: two events, at 600 s and at 3,540 s (the leak that spans the cut).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select

from hazmon.acquisition.alerts import Alert
from hazmon.acquisition.pipeline import Pipeline, replay_start
from hazmon.analysis.readings import Channel, ChannelTable, Readings
from hazmon.config.standards import rules_by_quantity
from hazmon.store.hazards import HazardContext, HazardRegister, events_table
from hazmon.store.timeseries.sqlite import SqliteTimeSeries

SECOND = 1_000_000_000
T0 = 1_700_000_000 * SECOND  # [ns UTC]
LEL = Channel("s", "gd", "lel", "%LEL", "methane", name="lel")
STEP_S = 10
TS = T0 + np.arange(0, 7200, STEP_S, dtype=np.int64) * SECOND
VALUES = np.full(len(TS), 2.0)
VALUES[60:66] = 60.0  # 600 .. 650 s: a leak past A2 (50 %LEL)
VALUES[354:372] = 55.0  # 3,540 .. 3,710 s: past A2 again, across the cut at 3,600 s
CUT = 360  # readings before the crash


def _pipeline(
    database: Path, alert_sink: Callable[[Alert], None] = lambda _alert: None
) -> tuple[Pipeline, SqliteTimeSeries, HazardRegister]:
    store = SqliteTimeSeries(database)
    store.open()
    register = HazardRegister(f"sqlite:///{database.with_suffix('.register.db')}")
    register.open()
    pipeline = Pipeline(
        ChannelTable([LEL]),
        rules_by_quantity(("gbt50493-2019",)),
        store,
        register,
        {"gd": HazardContext("E", "tank farm")},
        alert_sink,
    )
    return pipeline, store, register


def _feed(pipeline: Pipeline, rows: slice) -> None:
    for row in range(*rows.indices(len(TS))):
        pipeline.process(Readings.from_columns([TS[row]], [0], [VALUES[row]]))


def _events(register: HazardRegister) -> list[tuple[int, int, float, int]]:
    table = events_table.c
    with register.engine.connect() as connection:
        rows = connection.execute(select(table.start_ts, table.end_ts, table.peak, table.samples))
        return [(int(a), int(b), float(c), int(d)) for a, b, c, d in rows]


def test_a_resumed_pipeline_ends_with_the_figures_and_events_of_an_uninterrupted_one(
    tmp_path: Path,
) -> None:
    whole, whole_store, whole_register = _pipeline(tmp_path / "whole.db")
    _feed(whole, slice(None))
    expected = whole.evaluator.snapshot().results[0].metrics
    whole.close()

    crashed, store, register = _pipeline(tmp_path / "kit.db")
    _feed(crashed, slice(0, CUT))
    store.close()  # killed: no close(), the open event is only in memory
    register.close()

    resumed, store, register = _pipeline(tmp_path / "kit.db")
    resumed.resume(store.read_since(resumed.channels, T0))
    assert resumed.stats.replayed == CUT
    _feed(resumed, slice(CUT, None))
    metrics = resumed.evaluator.snapshot().results[0].metrics
    resumed.close()

    assert metrics.keys() == expected.keys()
    for name, value in expected.items():
        assert metrics[name] == pytest.approx(value, nan_ok=True), name
    # Counted by hand: 6 readings at 60 %LEL from 600 s, 18 at 55 %LEL from 3,540 s.
    hand = [
        (T0 + 600 * SECOND, T0 + 650 * SECOND, 60.0, 6),
        (T0 + 3540 * SECOND, T0 + 3710 * SECOND, 55.0, 18),
    ]
    assert sorted(_events(whole_register)) == hand
    assert sorted(_events(register)) == hand
    assert metrics["mean"] == pytest.approx(
        (6 * 60.0 + 18 * 55.0 + (720 - 24) * 2.0) / 720, rel=1e-3
    )
    for opened in (whole_store, whole_register, store, register):
        opened.close()


def test_the_replay_counts_back_from_the_newest_stored_reading() -> None:
    hour = 3600 * SECOND
    # Killed at 18:00, started again at 08:00 the next day (14 h later): the replay
    # covers 10:00 .. 18:00 of the day before, where the open event is.
    killed, morning = T0 + 18 * hour, T0 + 32 * hour
    assert replay_start(killed, morning) == T0 + 10 * hour
    # A stored reading ahead of this clock counts as now; an empty store, nothing.
    assert replay_start(morning + hour, morning) == T0 + 24 * hour
    assert replay_start(None, morning) is None


@pytest.mark.parametrize(
    ("after", "expected"),
    [
        # Over by the first reading after the restart: cleared from A1, once.
        (2.0, [("clear", 1, 0)]),
        # Still in force: raised again (the new run's alert state learns it), as before.
        (30.0, [("raise", 0, 1)]),
    ],
)
def test_an_alarm_the_replay_ends_in_is_cleared_or_raised_again_by_the_first_reading(
    tmp_path: Path, after: float, expected: list[tuple[str, int, int]]
) -> None:
    """GB/T 50493-2019: the first set point (A1) of a combustible gas is 25 %LEL, and
    A1 does not latch. The run before the kill raised A1 at 30 %LEL and was killed
    during it; what the restarted run says at its first reading (``after`` %LEL)."""
    crashed, store, register = _pipeline(tmp_path / "kit.db")
    for row, value in enumerate([2.0, 30.0, 30.0]):
        crashed.process(Readings.from_columns([TS[row]], [0], [value]))
    store.close()  # killed
    register.close()

    alerts: list[Alert] = []
    resumed, store, register = _pipeline(tmp_path / "kit.db", alerts.append)
    resumed.resume(store.read_since(resumed.channels, T0))
    assert alerts == []  # the replay announces nothing
    resumed.process(Readings.from_columns([TS[3]], [0], [after]))
    resumed.process(Readings.from_columns([TS[4]], [0], [after]))
    assert [(a.kind, a.previous_level, a.level) for a in alerts] == expected
    resumed.close()
    store.close()
    register.close()
