"""Scenario signals: what a simulated channel reads at a given time.

A channel reads its baseline plus seeded Gaussian noise plus its events (a linear
rise, a hold, an exponential decay; a ``dip`` subtracts). The whole scenario,
noise included, repeats every ``period`` seconds, so a demo shows every event
once per period and a test can ask for any time and get the same value again.
"""

from __future__ import annotations

import math
import zlib

import numpy as np

from hazmon.config.site import ChannelScenario, SignalEvent

#: Noise is drawn once per time slot, this many slots per second [1/s]: a poll twice
#: inside one slot reads the same value, as a meter that updates its registers at 10 Hz.
NOISE_SLOTS_PER_SECOND = 10


def stable_hash(text: str) -> int:
    """A hash of ``text`` that, unlike :func:`hash`, is the same in every process."""
    return zlib.crc32(text.encode("utf-8"))


def event_value(event: SignalEvent, t: float) -> float:
    """The contribution of one event at scenario time ``t``.

    Parameters
    ----------
    event
        The event: ``start``, ``rise``, ``hold``, ``decay`` [s], ``amplitude``
        [profile unit].
    t : [s]
        Time since the scenario (period) started.

    Returns
    -------
    float : [profile unit]
        0 before ``start``; ``amplitude * (t - start) / rise`` while rising;
        ``amplitude`` while holding; ``amplitude * exp(-(t - start - rise - hold) /
        decay)`` after. Negated for a ``dip``.
    """
    since = t - event.start
    if since < 0:
        return 0.0
    if since < event.rise:
        level = event.amplitude * since / event.rise
    elif since <= event.rise + event.hold:
        level = event.amplitude
    else:
        level = event.amplitude * math.exp(-(since - event.rise - event.hold) / event.decay)
    return -level if event.kind == "dip" else level


class ScenarioSignal:
    """The value of one simulated channel over time.

    Parameters
    ----------
    channel
        Channel name; it seeds the noise, so two channels with the same seed differ.
    scenario
        Baseline, noise standard deviation and events, in the profile unit.
    seed
        The simulation seed (:attr:`hazmon.config.site.Simulation.seed`).
    period : [s]
        The scenario repeats with this period.
    """

    def __init__(
        self, channel: str, scenario: ChannelScenario, *, seed: int, period: float
    ) -> None:
        if period <= 0:
            raise ValueError(f"period must be > 0 s; got {period}")
        self.channel = channel
        self.scenario = scenario
        self.seed = seed
        self.period = period
        # SeedSequence takes non-negative integers only; fold a negative seed in.
        self._entropy = [seed % 2**64, stable_hash(channel)]

    def wrap(self, t: float) -> float:
        """Scenario time [s] of elapsed time ``t`` [s]: ``t`` modulo the period."""
        return t % self.period

    def event_envelope(self, t: float) -> float:
        """Baseline plus events at elapsed time ``t`` [s], without noise [profile unit]."""
        local = self.wrap(t)
        return self.scenario.baseline + sum(
            (event_value(event, local) for event in self.scenario.events), 0.0
        )

    def noise_at(self, t: float) -> float:
        """The noise [profile unit] at elapsed time ``t`` [s].

        Drawn from a generator seeded by (seed, channel, slot), slot being the
        0.1 s slot of the wrapped time: deterministic, stateless, and the same for
        every caller, so readers in any order see one signal.
        """
        if self.scenario.noise == 0:
            return 0.0
        # Multiply rather than divide by 0.1: 0.3 / 0.1 floors to 2, 0.3 * 10 to 3.
        slot = math.floor(self.wrap(t) * NOISE_SLOTS_PER_SECOND)
        rng = np.random.default_rng([*self._entropy, slot])
        return self.scenario.noise * float(rng.standard_normal())

    def clean_value_at(self, t: float) -> float:
        """Baseline, drift, events and noise at elapsed time ``t`` [s], before sensor
        faults [profile unit]. Drift grows linearly over the period and restarts with it."""
        drift = self.scenario.drift * self.wrap(t) / self.period
        return self.event_envelope(t) + drift + self.noise_at(t)

    def value_at(self, t: float) -> float:
        """The channel's value [profile unit] at elapsed time ``t`` [s]; NaN during a
        ``dropout`` sensor fault."""
        local = self.wrap(t)
        for fault in self.scenario.faults:
            if not fault.start <= local < fault.start + fault.duration:
                continue
            if fault.kind == "dropout":
                return math.nan
            if fault.kind == "negative":
                return -abs(fault.value)
            if fault.kind == "spike":
                return fault.value
            # stuck: the value the sensor had when it stuck, as long as it stays stuck.
            return self.clean_value_at(t - (local - fault.start))
        return self.clean_value_at(t)


#: What a channel reads when its simulation table gives it no scenario: a quiet,
#: healthy workplace [canonical unit], so a minimal ``[devices.simulation]`` table
#: serves plausible readings (O2 20.9 %vol, not 0, which is an alarm) and files no
#: hazard. Quantities not listed (gases, dust, currents …) read 0.
AMBIENT: dict[str, tuple[float, str]] = {
    "o2": (20.9, "%vol"),
    "temperature": (25.0, "°C"),
    "surface_temperature": (25.0, "°C"),
    "globe_temperature": (27.0, "°C"),
    "wet_bulb_temperature": (20.0, "°C"),
    "wbgt": (22.0, "°C"),
    "noise": (55.0, "dB(A)"),
    "noise_peak": (75.0, "dB(C)"),
}


def ambient_scenario(quantity: str, unit: str) -> ChannelScenario | None:
    """The default scenario of a ``quantity`` read in ``unit``; None when it reads 0.

    Only when the profile reads the quantity in its canonical unit: a baseline in
    another unit would need the catalogue's conversion, and 0 is the honest default.
    """
    value = AMBIENT.get(quantity)
    if value is None or value[1] != unit:
        return None
    return ChannelScenario(baseline=value[0])
