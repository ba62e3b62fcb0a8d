"""Two channels of one quantity on one meter are two channels (issue 11, step 1).

A dual-cell CO transmitter: ``co_inlet`` reads 300 ppm, ``co_outlet`` 10 ppm, both
``quantity = "co"``. Release 0.1.0 keyed channels by quantity, so the outlet's readings
overwrote the inlet's and the alarm flapped every poll.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from hazmon.acquisition.alerts import Alert
from hazmon.acquisition.pipeline import Pipeline
from hazmon.analysis.readings import Channel, ChannelTable, Readings
from hazmon.config.standards import rules_by_quantity
from hazmon.store.hazards import HazardContext, HazardRegister, events_table
from hazmon.store.timeseries.sqlite import SqliteTimeSeries

SECOND = 1_000_000_000
POLLS = 7
INLET = Channel("s", "co-1", "co", "ppm", name="co_inlet")
OUTLET = Channel("s", "co-1", "co", "ppm", name="co_outlet")


def test_dual_cell_meter_stores_both_channels_and_alarms_only_the_inlet(tmp_path: Path) -> None:
    database = tmp_path / "dual.db"
    channels = ChannelTable([INLET, OUTLET])
    store = SqliteTimeSeries(database)
    store.open()
    register = HazardRegister(f"sqlite:///{database}")
    register.open()
    alerts: list[Alert] = []
    pipeline = Pipeline(
        channels,
        rules_by_quantity(("gbt50493-2019",)),
        store,
        register,
        {"co-1": HazardContext("E", "boiler room")},
        alerts.append,
    )
    for poll in range(POLLS):
        pipeline.process(
            Readings.from_columns(ts=[poll * SECOND] * 2, channel=[0, 1], value=[300.0, 10.0])
        )
    pipeline.close()
    with SqliteTimeSeries(database) as reread:
        assert reread.count() == 2 * POLLS
        assert reread.read_window(INLET, 0, POLLS * SECOND).value.tolist() == [300.0] * POLLS
        assert reread.read_window(OUTLET, 0, POLLS * SECOND).value.tolist() == [10.0] * POLLS
    # One raise on the inlet, never cleared by the outlet's reading; nothing on the outlet.
    assert [(a.key, a.kind) for a in alerts if a.kind not in ("clear",)] == [
        ("co-1/co_inlet", "raise")
    ]
    with HazardRegister(f"sqlite:///{database}") as reader, reader.engine.connect() as c:
        events = c.execute(select(events_table.c.name, events_table.c.peak)).all()
    assert events
    assert {tuple(event) for event in events} == {("co_inlet", 300.0)}
    hazards = register.hazards()
    assert hazards
    for hazard in hazards:
        assert "co_inlet" in hazard["finding"]
        assert {link["name"] for link in hazard["evidence"]} == {"co_inlet"}
