"""A simulated Modbus meter: a profile's register map filled from a scenario."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from hazmon.config.profile import ModbusField, Profile
from hazmon.config.site import FaultInjection, Simulation
from hazmon.simulators.errors import IllegalDataAddress
from hazmon.simulators.modbus_encoding import encode_string, encode_value, raw_from_engineering
from hazmon.simulators.scenario import ScenarioSignal, ambient_scenario

REGISTER_KINDS = ("holding", "input", "coil", "discrete_input")
BIT_KINDS = ("coil", "discrete_input")

#: Integer range per type, for choosing a decimal point that fits the value.
_INTEGER_RANGE = {
    "int16": (-(2**15), 2**15 - 1),
    "uint16": (0, 2**16 - 1),
    "int32": (-(2**31), 2**31 - 1),
    "uint32": (0, 2**32 - 1),
    "int64": (-(2**63), 2**63 - 1),
    "uint64": (0, 2**64 - 1),
}
#: Most decimal places a simulated transmitter shows.
MAX_DECIMALS = 4


def decimal_places(raw: float, data_type: str) -> int:
    """The most decimal places (≤ 4) at which ``raw`` still fits ``data_type``.

    Auto-ranging transmitters do this: 12.345 ppm in a uint16 is sent as 12345 with
    3 places, 1234.5 ppm as 12345 with 1 place.
    """
    low, high = _INTEGER_RANGE.get(data_type, (-math.inf, math.inf))
    for places in range(MAX_DECIMALS, 0, -1):
        if low <= round(raw * 10**places) <= high:
            return places
    return 0


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
        channels = [field.channel for field in profile.modbus_map.fields]
        self.signals: dict[str, ScenarioSignal] = {}
        if simulation is not None:
            unknown = sorted(set(simulation.channels) - set(channels))
            if unknown:
                raise ValueError(
                    f"simulation names channels {unknown} that profile {profile.name} "
                    f"lacks; valid: {', '.join(channels)}"
                )
            if simulation.status_faults and profile.modbus_map.status is None:
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
            # Channels the table leaves out read a plausible ambient value, not 0.
            for spec in profile.channels:
                default = ambient_scenario(spec.quantity, spec.unit)
                if spec.channel not in self.signals and default is not None:
                    self.signals[spec.channel] = ScenarioSignal(
                        spec.channel, default, seed=simulation.seed, period=simulation.period
                    )
        # Mapped span per kind: registers 0 .. end-1 answer, the rest are exception 02.
        # Coils and discrete inputs appear only when the profile maps some.
        self.mapped_end: dict[str, int] = dict.fromkeys(("holding", "input"), 0)
        owners: dict[tuple[str, int], str] = {}
        spans = [
            (
                field.register_kind,
                field.address,
                field.register_count,
                # Bit fields may share a register, one bit each.
                f"bits of register {field.address}"
                if field.type == "bit" and field.register_kind not in BIT_KINDS
                else field.channel,
            )
            for field in profile.modbus_map.fields
        ]
        spans += [
            (f.decimal_point.register_kind, f.decimal_point.address, 1, f"{f.channel} decimals")
            for f in profile.modbus_map.fields
            if f.decimal_point is not None
        ]
        spans += [
            (t.register_kind, t.address, t.length, t.name) for t in profile.modbus_map.strings
        ]
        if profile.modbus_map.status is not None:
            status = profile.modbus_map.status
            spans.append((status.register_kind, status.address, 1, "status register"))
        for kind, address, width, name in spans:
            for register in range(address, address + width):
                other = owners.setdefault((kind, register), name)
                if other != name:
                    raise ValueError(
                        f"profile {profile.name}: {name} and {other} overlap at "
                        f"{kind} register {register}"
                    )
            self.mapped_end[kind] = max(self.mapped_end.get(kind, 0), address + width)

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
            for field in self.profile.modbus_map.fields
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
        image = [0] * self.mapped_end.get(kind, 0)
        values = self.values_at(elapsed)
        for field in self.profile.modbus_map.fields:
            if field.register_kind != kind:
                continue
            if field.type == "bit":
                self._write_bit(image, field, values[field.channel])
                continue
            raw = raw_from_engineering(values[field.channel], field.scale, field.offset)
            if field.decimal_point is not None:
                places = decimal_places(raw, field.type)
                raw *= 10**places
                if field.decimal_point.register_kind == kind:
                    image[field.decimal_point.address] = places
            words = encode_value(raw, field.type, field.order)
            image[field.address : field.address + len(words)] = words
        for field in self.profile.modbus_map.fields:
            # A decimal-point register of another kind than its field: written here.
            reference = field.decimal_point
            if reference is not None and reference.register_kind == kind != field.register_kind:
                raw = raw_from_engineering(values[field.channel], field.scale, field.offset)
                image[reference.address] = decimal_places(raw, field.type)
        text = f"{self.profile.manufacturer} {self.profile.model}".strip()
        for string in self.profile.modbus_map.strings:
            if string.register_kind == kind:
                words = encode_string(text, string.length, string.order)
                image[string.address : string.address + string.length] = words
        status = self.profile.modbus_map.status
        if status is not None and status.register_kind == kind:
            image[status.address] = self.status_at(elapsed)
        return image

    @staticmethod
    def _write_bit(image: list[int], field: ModbusField, value: float) -> None:
        on = 1 if value >= 0.5 else 0
        if field.register_kind in BIT_KINDS:
            image[field.address] = on
        elif field.bit is not None:
            mask = 1 << field.bit
            image[field.address] = (image[field.address] & ~mask) | (mask if on else 0)

    def fault_at(self, elapsed: float) -> FaultInjection | None:
        """The link fault active at ``elapsed`` [s], the first listed if several."""
        if self.simulation is None:
            return None
        local = elapsed % self.simulation.period
        for fault in self.simulation.faults:
            if fault.start <= local < fault.start + fault.duration:
                return fault
        return None

    def current_fault(self) -> FaultInjection | None:
        """The link fault active now, by the meter's clock."""
        return self.fault_at(self.elapsed())

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
        end = self.mapped_end.get(kind, 0)
        if address < 0 or count < 1 or address + count > end:
            raise IllegalDataAddress(
                f"{kind} registers {address}..{address + count - 1} outside the map 0..{end - 1}"
            )
        return self.register_image(kind, self.elapsed())[address : address + count]
