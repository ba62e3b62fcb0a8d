"""A Modbus meter: one poll reads its register map and returns ``Readings``.

The register map decoder gives raw values and the link's and status word's flags;
the one mapper of every transport (:class:`hazmon.drivers.channel_values.ChannelMapper`)
applies scale, range, derived channels, warm-up and calibration. Warm-up starts when
the meter's link opens (the transport connects, or connects again).

Every poll returns one reading per profile field, whatever happened: a field that
could not be read keeps its row with a NaN value and the quality flag that says why
(timeout, link error, CRC error, device exception). Nothing is dropped silently.

A block answered with exception 06 (server device busy) is asked again after a short
pause, a few times. When a block times out, the poll's remaining blocks are not asked
(they get the same COMM_TIMEOUT): a meter that is silent for one request almost always
is for the next, and on a shared RS-485 line every unanswered request costs the other
meters a whole timeout.
"""

from __future__ import annotations

import asyncio
import time

import numpy as np
from numpy.typing import NDArray

from hazmon.config.profile import Profile, RegisterKind
from hazmon.config.quality import Quality
from hazmon.drivers.base import PollResult as PollResult  # re-exported: older imports
from hazmon.drivers.channel_values import MappedMeter
from hazmon.drivers.errors import (
    CrcError,
    DeviceException,
    TransportConnectionError,
    TransportError,
    TransportTimeout,
)
from hazmon.drivers.modbus_adapter import ModbusTransport
from hazmon.drivers.register_map import RegisterMapDecoder


def _flag_for(error: TransportError) -> int:
    if isinstance(error, TransportTimeout):
        return int(Quality.COMM_TIMEOUT)
    if isinstance(error, DeviceException):
        return int(Quality.DEVICE_EXCEPTION)
    if isinstance(error, CrcError):
        return int(Quality.CRC_ERROR)
    if isinstance(error, TransportConnectionError):
        return int(Quality.COMM_ERROR)
    return int(Quality.COMM_ERROR)


class ModbusMeter(MappedMeter):
    """One meter (unit id) behind a Modbus transport.

    Parameters
    ----------
    transport
        The connection it is reached through (may be shared with other unit ids).
    profile
        Its register map.
    device_id
        Modbus unit id.
    channel_numbers
        For each profile channel (the fields, then the derived channels), its index in
        the pipeline's channel table.
    calibration_expires_ns : [ns UTC]
        When the unit's calibration runs out; from then on every reading gets
        CALIBRATION_DUE.
    warmup : [s]
        Readings this soon after the link opens get WARMUP; the profile's by default.
    timeout : [s]
        This meter's reply timeout; the transport's by default.
    max_registers, max_bits, max_gap
        Request size limits and gap fill overriding the profile's.
    busy_retries
        How many times a block answered with exception 06 (busy) is asked again.
    busy_delay : [s]
        Pause before asking a busy meter again.
    """

    def __init__(
        self,
        transport: ModbusTransport,
        profile: Profile,
        device_id: int,
        channel_numbers: NDArray[np.int32],
        *,
        calibration_expires_ns: int | None = None,
        warmup: float | None = None,
        timeout: float | None = None,
        max_registers: int | None = None,
        max_bits: int | None = None,
        max_gap: int | None = None,
        busy_retries: int = 3,
        busy_delay: float = 0.05,
    ) -> None:
        self.transport = transport
        self.timeout = timeout
        self.busy_retries = busy_retries
        self.busy_delay = busy_delay
        self.decoder = RegisterMapDecoder(
            profile, max_gap=max_gap, max_registers=max_registers, max_bits=max_bits
        )
        self.device_id = device_id
        super().__init__(
            profile, channel_numbers, calibration_expires_ns=calibration_expires_ns, warmup=warmup
        )
        self._link_openings = 0

    @property
    def label(self) -> str:
        """``address unit N``, for messages."""
        return f"{self.transport.address} unit {self.device_id}"

    async def poll(self, now_ns: int | None = None) -> PollResult:
        """Read every block of the register map once and decode it.

        Parameters
        ----------
        now_ns
            Timestamp for the readings [ns UTC]; the time the poll started by default.
        """
        timestamp = time.time_ns() if now_ns is None else now_ns
        data: list[list[int] | None] = []
        flags: list[int] = []
        errors: list[str] = []
        codes: list[int] = []
        silent = False
        for block in self.decoder.blocks:
            if silent:
                data.append(None)
                flags.append(int(Quality.COMM_TIMEOUT))
                continue
            try:
                registers = await self._read_block(block.kind, block.address, block.count)
            except TransportError as error:
                data.append(None)
                flags.append(_flag_for(error))
                errors.append(str(error))
                if isinstance(error, DeviceException):
                    codes.append(error.code)
                silent = isinstance(error, TransportTimeout)
                continue
            data.append(registers)
            flags.append(0)
        if self.transport.connections != self._link_openings:
            # The link opened (or opened again) for this poll: the sensor may just
            # have been powered with it, so warm-up counts from here.
            self._link_openings = self.transport.connections
            self.mapper.start_warmup(timestamp)
        decoded = self.decoder.decode(data, flags)
        readings = self.mapper.readings(decoded.values(), timestamp, flags=decoded.field_flags())
        return PollResult(readings, decoded.status_word, tuple(errors), tuple(codes), decoded.texts)

    async def _read_block(self, kind: RegisterKind, address: int, count: int) -> list[int]:
        for attempt in range(self.busy_retries + 1):
            try:
                return await self.transport.read(
                    kind, address, count, self.device_id, reply_timeout=self.timeout
                )
            except DeviceException as error:
                if error.code != 0x06 or attempt == self.busy_retries:
                    raise
            # Busy (06): the meter asks to be asked again later; the bus is free meanwhile.
            await asyncio.sleep(self.busy_delay)
        raise AssertionError("unreachable")  # pragma: no cover
