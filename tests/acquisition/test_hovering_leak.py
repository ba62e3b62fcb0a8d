"""One hazard per condition (issue 11, step 2): a leak hovering at 50 ± 3 %LEL for 60 s
flaps around the A2 set point many times; the live path files one hazard and attaches
every further excursion to it as evidence."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hazmon.acquisition.alerts import Alert
from hazmon.acquisition.pipeline import Pipeline
from hazmon.analysis.readings import Channel, ChannelTable, Readings
from hazmon.config.standards import rules_by_quantity
from hazmon.store.hazards import HazardContext, HazardRegister
from hazmon.store.timeseries.sqlite import SqliteTimeSeries

SECOND = 1_000_000_000
LEL = Channel("s", "gd-1", "lel", "%LEL", "methane", name="lel")


def test_hovering_leak_files_at_most_two_hazards(tmp_path: Path) -> None:
    database = tmp_path / "hover.db"
    store = SqliteTimeSeries(database)
    store.open()
    register = HazardRegister(f"sqlite:///{database}")
    register.open()
    alerts: list[Alert] = []
    pipeline = Pipeline(
        ChannelTable([LEL]),
        rules_by_quantity(("gbt50493-2019",)),
        store,
        register,
        {"gd-1": HazardContext("E", "tank farm")},
        alerts.append,
    )
    # 60 s at 1 Hz: 53, 47, 53, 47, ... past the 50 %LEL A2 set point every other second.
    values = np.where(np.arange(60) % 2 == 0, 53.0, 47.0)
    for second, value in enumerate(values):
        pipeline.process(Readings.from_columns(ts=[second * SECOND], channel=[0], value=[value]))
    pipeline.close()
    hazards = register.hazards()
    assert pipeline.stats.events > 2  # the condition did come back many times
    assert 1 <= len(hazards) <= 2
    # Every excursion is evidence on the one record.
    assert sum(len(hazard["evidence"]) for hazard in hazards) == pipeline.stats.events
