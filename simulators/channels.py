"""The scenario values of a simulated meter of any transport, by profile channel.

The Modbus simulator (:mod:`hazmon.simulators.meter`) fills registers; the serial and
MQTT simulators take their values from :class:`SimulatedChannels`: one scenario signal
per measured channel (derived channels are the meter's to compute), the link fault
active at a time, and the meter's clock.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from hazmon.config.profile import Profile
from hazmon.config.site import FaultInjection, Simulation
from hazmon.simulators.scenario import ScenarioSignal, ambient_scenario


class SimulatedChannels:
    """Values of a profile's measured channels over time.

    Parameters
    ----------
    profile
        The meter model.
    simulation
        The scenario; a channel it leaves out reads 0.
    clock : [s]
        Monotonic clock; injected so tests and the demo can run it faster.

    Raises
    ------
    ValueError
        When the simulation names a channel the profile lacks.
    """

    def __init__(
        self,
        profile: Profile,
        simulation: Simulation | None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.profile = profile
        self.simulation = simulation
        self._clock = clock
        self.started = clock()
        derived = {d.channel for d in profile.derived}
        self.measured = [spec.channel for spec in profile.channels if spec.channel not in derived]
        self.signals: dict[str, ScenarioSignal] = {}
        if simulation is not None:
            unknown = sorted(set(simulation.channels) - set(self.measured))
            if unknown:
                raise ValueError(
                    f"simulation names channels {unknown} that profile {profile.name} "
                    f"does not measure; valid: {', '.join(self.measured)}"
                )
            self.signals = {
                channel: ScenarioSignal(
                    channel, scenario, seed=simulation.seed, period=simulation.period
                )
                for channel, scenario in simulation.channels.items()
            }
            # Channels the table leaves out read a plausible ambient value, not 0.
            for spec in profile.channels:
                default = ambient_scenario(spec.quantity, spec.unit)
                if spec.channel not in self.signals and default is not None:
                    self.signals[spec.channel] = ScenarioSignal(
                        spec.channel, default, seed=simulation.seed, period=simulation.period
                    )

    def elapsed(self) -> float:
        """Time since construction [s], by the meter's clock."""
        return self._clock() - self.started

    def values_at(self, elapsed: float) -> dict[str, float]:
        """Every measured channel's value [profile unit] at ``elapsed`` [s]; NaN while
        a channel is in a ``dropout`` sensor fault."""
        return {
            channel: self.signals[channel].value_at(elapsed) if channel in self.signals else 0.0
            for channel in self.measured
        }

    def fault_at(self, elapsed: float) -> FaultInjection | None:
        """The link fault active at ``elapsed`` [s], the first listed if several."""
        if self.simulation is None:
            return None
        local = elapsed % self.simulation.period
        for fault in self.simulation.faults:
            if fault.start <= local < fault.start + fault.duration:
                return fault
        return None
