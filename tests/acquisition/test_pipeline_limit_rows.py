"""The live pipeline judges kit meters without set points against their limit rows."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hazmon.acquisition.alerts import Alert
from hazmon.acquisition.pipeline import Pipeline
from hazmon.analysis.evaluate import EvaluationSettings
from hazmon.analysis.readings import Channel, ChannelTable, Readings
from hazmon.config.standards import effective_limit_rows, rules_by_quantity
from hazmon.store.hazards import HazardContext, HazardRegister
from hazmon.store.timeseries.sqlite import SqliteTimeSeries

SECOND = 1_000_000_000


def _pipeline(database: Path, alerts: list[Alert], *, with_rows: bool) -> Pipeline:
    channels = ChannelTable()
    channels.add(Channel("s", "pid-1", "voc", "ppm"))
    channels.add(Channel("s", "gd-1", "lel", "%LEL"))
    store = SqliteTimeSeries(database)
    store.open()
    register = HazardRegister(f"sqlite:///{database}")
    register.open()
    rows = effective_limit_rows() if with_rows else None
    return Pipeline(
        channels,
        rules_by_quantity(("gbt50493-2019",)),
        store,
        register,
        {"pid-1": HazardContext("E", "flanges")},
        alerts.append,
        limit_rows=rows,
        settings=EvaluationSettings() if with_rows else None,
    )


def _leak() -> Readings:
    # A VOC reading of 6000 ppm is past the GB 37822 leak definition (5000 µmol/mol).
    voc = [100.0, 6000.0, 6200.0, 100.0]
    lel = [1.0, 1.0, 1.0, 1.0]
    return Readings.from_columns(
        ts=np.repeat(np.arange(4) * SECOND, 2),
        channel=np.tile([0, 1], 4),
        value=np.ravel(np.column_stack([voc, lel])),
    )


def test_leak_detector_alarms_and_raises_a_hazard_with_limit_rows(tmp_path: Path) -> None:
    alerts: list[Alert] = []
    pipeline = _pipeline(tmp_path / "rows.db", alerts, with_rows=True)
    pipeline.process(_leak())
    pipeline.close()
    voc_alerts = [alert for alert in alerts if alert.quantity == "voc"]
    assert [alert.kind for alert in voc_alerts] == ["raise", "clear"]
    assert "GB 37822" in voc_alerts[0].citation
    assert isinstance(pipeline.hazards, HazardRegister)  # written at once, not spooled
    hazards = pipeline.hazards.hazards()
    assert len(hazards) == 1
    assert hazards[0]["standard"].startswith("GB 37822")
    # The combustible channel still follows its GB/T 50493 set points: no alarm at 1 %LEL.
    assert not [alert for alert in alerts if alert.quantity == "lel"]


def test_without_limit_rows_only_set_points_apply(tmp_path: Path) -> None:
    alerts: list[Alert] = []
    pipeline = _pipeline(tmp_path / "points.db", alerts, with_rows=False)
    pipeline.process(_leak())
    pipeline.close()
    assert alerts == []
    assert isinstance(pipeline.hazards, HazardRegister)
    assert pipeline.hazards.hazards() == []
