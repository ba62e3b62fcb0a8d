"""A Modbus meter: one poll reads its register map and returns ``Readings``.

Every poll returns one reading per profile field, whatever happened: a field that
could not be read keeps its row with a NaN value and the quality flag that says why
(timeout, link error, device exception). Nothing is dropped silently.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from hazmon.analysis.readings import Readings
from hazmon.config.profile import Profile
from hazmon.config.quality import Quality
from hazmon.drivers.errors import (
    DeviceException,
    TransportConnectionError,
    TransportError,
    TransportTimeout,
)
from hazmon.drivers.modbus_adapter import ModbusTcpTransport
from hazmon.drivers.register_map import RegisterMapDecoder


@dataclass(frozen=True, slots=True)
class PollResult:
    """What one poll produced."""

    readings: Readings
    status_word: int | None
    errors: tuple[str, ...]
    """One message per failed request (address, unit id, what went wrong)."""
    exception_codes: tuple[int, ...]
    """Modbus exception codes answered by the meter, kept for diagnosis."""


def _flag_for(error: TransportError) -> int:
    if isinstance(error, TransportTimeout):
        return int(Quality.COMM_TIMEOUT)
    if isinstance(error, DeviceException):
        return int(Quality.DEVICE_EXCEPTION)
    if isinstance(error, TransportConnectionError):
        return int(Quality.COMM_ERROR)
    return int(Quality.COMM_ERROR)


class ModbusMeter:
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
        For each profile field, its index in the pipeline's channel table.
    calibration_due
        The unit's calibration due date; after it every reading gets CALIBRATION_DUE.
    """

    def __init__(
        self,
        transport: ModbusTcpTransport,
        profile: Profile,
        device_id: int,
        channel_numbers: NDArray[np.int32],
        *,
        calibration_due: dt.date | None = None,
    ) -> None:
        self.transport = transport
        self.decoder = RegisterMapDecoder(profile)
        self.device_id = device_id
        if len(channel_numbers) != len(self.decoder.fields):
            raise ValueError(
                f"{len(channel_numbers)} channel numbers for {len(self.decoder.fields)} fields"
            )
        self.channel_numbers = np.asarray(channel_numbers, dtype=np.int32)
        self.calibration_due = calibration_due

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
        for block in self.decoder.blocks:
            try:
                registers = await self.transport.read_registers(
                    block.kind, block.address, block.count, self.device_id
                )
            except TransportError as error:
                data.append(None)
                flags.append(_flag_for(error))
                errors.append(str(error))
                if isinstance(error, DeviceException):
                    codes.append(error.code)
                continue
            data.append(registers)
            flags.append(0)
        decoded = self.decoder.decode(data, flags)
        quality = decoded.quality
        if self.calibration_due is not None and dt.date.today() > self.calibration_due:
            quality = quality | np.uint16(Quality.CALIBRATION_DUE)
        count = len(self.channel_numbers)
        readings = Readings(
            ts=np.full(count, timestamp, dtype=np.int64),
            channel=self.channel_numbers.copy(),
            value=decoded.value,
            quality=quality.astype(np.uint16),
        )
        return PollResult(readings, decoded.status_word, tuple(errors), tuple(codes))
