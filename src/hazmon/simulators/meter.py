"""A simulated Modbus meter: a profile's register map filled from a scenario."""

from __future__ import annotations

import time
from collections.abc import Callable

from hazmon.config.profile import Profile
from hazmon.config.site import Simulation
from hazmon.simulators.errors import IllegalDataAddress
from hazmon.simulators.modbus_encoding import encode_value, raw_from_engineering
from hazmon.simulators.scenario import ScenarioSignal

REGISTER_KINDS = ("holding", "input")


class SimulatedMeter:
    """A meter that answers register reads with its scenario's values.

    Values are computed when a read arrives, from the time elapsed since
    construction, so no background task is needed and any read rate works.

    Parameters
    ----------
    profile
        The meter model: which register holds which channel, how it is encoded.
    simulation
        The scenario; ``None`` (or a channel it leaves out) reads 0.
    clock : [s]
        Monotonic clock; injected so tests can set the time.

    Raises
    ------
    ValueError
        When the simulation names a channel the profile lacks, sets status faults on a
        profile without a status register, or the profile's registers overlap.
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
        channels = [field.channel for field in profile.modbus.fields]
        self.signals: dict[str, ScenarioSignal] = {}
        if simulation is not None:
            unknown = sorted(set(simulation.channels) - set(channels))
            if unknown:
                raise ValueError(
                    f"simulation names channels {unknown} that profile {profile.name} "
                    f"lacks; valid: {', '.join(channels)}"
                )
            if simulation.status_faults and profile.modbus.status is None:
                raise ValueError(
                    f"simulation sets status faults but profile {profile.name} has no "
                    "status register; remove status_faults or add [modbus.status]"
                )
            self.signals = {
                channel: ScenarioSignal(
                    channel, scenario, seed=simulation.seed, period=simulation.period
                )
                for channel, scenario in simulation.channels.items()
            }
        # Mapped span per kind: registers 0 .. end-1 answer, the rest are exception 02.
        self.mapped_end: dict[str, int] = dict.fromkeys(REGISTER_KINDS, 0)
        owners: dict[tuple[str, int], str] = {}
        spans = [
            (field.register_kind, field.address, field.register_count, field.channel)
            for field in profile.modbus.fields
        ]
        if profile.modbus.status is not None:
            status = profile.modbus.status
            spans.append((status.register_kind, status.address, 1, "status register"))
        for kind, address, width, name in spans:
            for register in range(address, address + width):
                other = owners.setdefault((kind, register), name)
                if other != name:
                    raise ValueError(
                        f"profile {profile.name}: {name} and {other} overlap at "
                        f"{kind} register {register}"
                    )
            self.mapped_end[kind] = max(self.mapped_end[kind], address + width)

    def elapsed(self) -> float:
        """Time since construction [s], by the meter's clock."""
        return self._clock() - self.started

    def values_at(self, elapsed: float) -> dict[str, float]:
        """Engineering value [profile unit] of every channel at ``elapsed`` [s]."""
        return {
            field.channel: (
                self.signals[field.channel].value_at(elapsed)
                if field.channel in self.signals
                else 0.0
            )
            for field in self.profile.modbus.fields
        }

    def status_at(self, elapsed: float) -> int:
        """The status register word at ``elapsed`` [s]: one bit per active fault.

        A fault is active from its ``start`` for ``duration`` seconds of the wrapped
        scenario time, like the channel events.
        """
        if self.simulation is None:
            return 0
        local = elapsed % self.simulation.period
        word = 0
        for fault in self.simulation.status_faults:
            if fault.start <= local < fault.start + fault.duration:
                word |= 1 << fault.bit
        return word

    def register_image(self, kind: str, elapsed: float) -> list[int]:
        """Every mapped register of ``kind`` at ``elapsed`` [s], from address 0.

        Unused addresses inside the mapped span read 0.
        """
        if kind not in REGISTER_KINDS:
            raise ValueError(f"register kind {kind!r}; valid: {', '.join(REGISTER_KINDS)}")
        image = [0] * self.mapped_end[kind]
        values = self.values_at(elapsed)
        for field in self.profile.modbus.fields:
            if field.register_kind != kind:
                continue
            raw = raw_from_engineering(values[field.channel], field.scale, field.offset)
            words = encode_value(raw, field.type, field.order)
            image[field.address : field.address + len(words)] = words
        status = self.profile.modbus.status
        if status is not None and status.register_kind == kind:
            image[status.address] = self.status_at(elapsed)
        return image

    def read_registers(self, kind: str, address: int, count: int) -> list[int]:
        """Read ``count`` registers of ``kind`` from ``address`` at the current time.

        Raises
        ------
        IllegalDataAddress
            When any requested register lies outside the mapped span of ``kind``
            (a real meter answers exception 02).
        ValueError
            For a kind other than ``holding`` or ``input``.
        """
        if kind not in REGISTER_KINDS:
            raise ValueError(f"register kind {kind!r}; valid: {', '.join(REGISTER_KINDS)}")
        end = self.mapped_end[kind]
        if address < 0 or count < 1 or address + count > end:
            raise IllegalDataAddress(
                f"{kind} registers {address}..{address + count - 1} outside the map 0..{end - 1}"
            )
        return self.register_image(kind, self.elapsed())[address : address + count]
