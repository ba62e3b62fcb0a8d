"""The evidence chart: downsampled per pixel with every bucket's peaks kept, drawn as SVG."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from hazmon.acquisition.reports.charts import downsample_minmax, evidence_svg
from hazmon.acquisition.reports.papers import EvidenceSeries

SECOND = 1_000_000_000  # [ns]


def _buckets(ts: np.ndarray, buckets: int) -> np.ndarray:
    """The pixel column of each reading: its share of the span, in float64 as drawn."""
    span = int(ts[-1] - ts[0]) + 1
    column = ((ts - ts[0]).astype(np.float64) * buckets / span).astype(np.int64)
    clipped: np.ndarray = np.minimum(column, buckets - 1)
    return clipped


@settings(max_examples=200, deadline=None)
@given(
    steps=arrays(np.int64, st.integers(1, 400), elements=st.integers(0, 5 * SECOND)),
    values=st.data(),
    buckets=st.integers(1, 50),
)
def test_min_and_max_of_every_bucket_are_kept(
    steps: np.ndarray, values: st.DataObject, buckets: int
) -> None:
    ts = np.cumsum(steps)
    value = values.draw(
        arrays(
            np.float64,
            len(ts),
            elements=st.one_of(st.floats(-1e6, 1e6, allow_nan=False), st.just(float("nan"))),
        )
    )
    keep = downsample_minmax(ts, value, buckets)
    assert np.all(np.diff(keep) > 0)  # sorted, unique: drawn in time order
    assert len(keep) <= max(2 * buckets, int(np.count_nonzero(~np.isnan(value))))
    assert not np.isnan(value[keep]).any()
    valid = ~np.isnan(value)
    if not valid.any():
        assert len(keep) == 0
        return
    bucket = _buckets(ts[valid], buckets)
    kept_bucket = _buckets(ts[valid], buckets)[np.searchsorted(np.flatnonzero(valid), keep)]
    for b in np.unique(bucket):
        inside = value[valid][bucket == b]
        kept = value[keep][kept_bucket == b]
        assert kept.min() == inside.min()
        assert kept.max() == inside.max()


def test_a_million_readings_keep_their_single_spike() -> None:
    ts = np.arange(1_000_000, dtype=np.int64) * (SECOND // 10)
    value = np.full(len(ts), 5.0)
    value[654_321] = 87.5  # one 100 ms spike among a million readings
    keep = downsample_minmax(ts, value, 640)
    assert len(keep) <= 2 * 640
    assert 654_321 in keep
    assert value[keep].max() == 87.5


def _series(limit: float | None) -> EvidenceSeries:
    ts = 1_764_600_000 * SECOND + np.arange(120, dtype=np.int64) * SECOND
    value = 20.0 + 40.0 * np.exp(-(((np.arange(120) - 60) / 15.0) ** 2))
    return EvidenceSeries(
        label="gd-1/lel",
        quantity="lel",
        substance="methane",
        unit="%LEL",
        start_ts=int(ts[0]),
        end_ts=int(ts[-1]),
        ts=ts,
        value=value,
        limit=limit,
        side=1,
        level=2,
        peak=float(value.max()),
        peak_ts=int(ts[60]),
        duration_s=20.0,
        readings=120,
        flagged=0,
    )


def test_the_chart_is_one_svg_with_the_limit_and_the_excursion() -> None:
    with_limit = evidence_svg(_series(50.0))
    root = ET.fromstring(with_limit)
    assert root.tag.endswith("svg")
    # The same readings give the same picture, so a page and a PDF can share it.
    assert evidence_svg(_series(50.0)) == with_limit
    without = evidence_svg(_series(None))
    # The limit line and the shaded excursion are drawn only when there is a limit.
    assert with_limit.count("<path") > without.count("<path")
    assert "stroke-dasharray" in with_limit
