"""Scenario signals: seeded noise, event shapes and the period wrap."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hazmon.config.site import ChannelScenario, SignalEvent
from hazmon.simulators.scenario import ScenarioSignal, event_value

LEAK = SignalEvent(kind="leak", start=3.0, rise=3.0, hold=2.0, decay=1.2, amplitude=66.0)


def signal(seed: int = 11, noise: float = 0.3, channel: str = "lel") -> ScenarioSignal:
    scenario = ChannelScenario(baseline=1.5, noise=noise, events=[LEAK])
    return ScenarioSignal(channel, scenario, seed=seed, period=30.0)


TIMES = np.arange(0.0, 30.0, 0.25)


def test_same_seed_same_values() -> None:
    first = [signal().value_at(t) for t in TIMES]
    # A new object, and the times asked in reverse: the noise has no hidden state.
    second_signal = signal()
    second = [second_signal.value_at(t) for t in TIMES[::-1]][::-1]
    assert first == second


def test_different_seed_or_channel_different_noise() -> None:
    base = [signal(seed=11).noise_at(t) for t in TIMES]
    other_seed = [signal(seed=12).noise_at(t) for t in TIMES]
    other_channel = [signal(channel="co").noise_at(t) for t in TIMES]
    assert base != other_seed
    assert base != other_channel
    # Noise has roughly the configured standard deviation.
    assert 0.2 < float(np.std(base)) < 0.4


def test_noise_constant_within_a_slot() -> None:
    sig = signal()
    assert sig.noise_at(1.01) == sig.noise_at(1.09)
    assert sig.noise_at(1.09) != sig.noise_at(1.11)


def test_no_noise_is_exactly_the_envelope() -> None:
    sig = signal(noise=0.0)
    assert [sig.value_at(t) for t in TIMES] == [sig.event_envelope(t) for t in TIMES]


def test_event_envelope_rises_holds_and_decays() -> None:
    sig = signal()
    assert sig.event_envelope(2.9) == 1.5
    assert sig.event_envelope(4.5) == pytest.approx(1.5 + 33.0)
    assert sig.event_envelope(6.0) == pytest.approx(1.5 + 66.0)  # start + rise: the peak
    assert sig.event_envelope(8.0) == pytest.approx(1.5 + 66.0)  # end of hold
    assert sig.event_envelope(9.2) == pytest.approx(1.5 + 66.0 * math.exp(-1.0))
    assert sig.event_envelope(29.0) == pytest.approx(1.5, abs=1e-5)
    peak = max(sig.event_envelope(t) for t in TIMES)
    assert peak == pytest.approx(1.5 + 66.0)


def test_dip_subtracts() -> None:
    dip = SignalEvent(kind="dip", start=9.0, rise=1.5, hold=2.0, decay=1.0, amplitude=2.6)
    assert event_value(dip, 10.5) == pytest.approx(-2.6)
    sig = ScenarioSignal("o2", ChannelScenario(baseline=20.9, events=[dip]), seed=0, period=30)
    assert sig.value_at(11.0) == pytest.approx(18.3)
    assert sig.value_at(8.0) == pytest.approx(20.9)


def test_period_wrap() -> None:
    sig = signal()
    for t in (0.05, 4.5, 6.0, 9.2, 17.33):
        assert sig.event_envelope(t + 30.0) == pytest.approx(sig.event_envelope(t))
        assert sig.event_envelope(t + 300.0) == pytest.approx(sig.event_envelope(t))
    assert sig.value_at(64.5) == pytest.approx(sig.value_at(4.5))


def test_negative_seed_is_accepted() -> None:
    assert math.isfinite(signal(seed=-3).value_at(1.0))
