"""From decoded values to ``Readings``, for every meter that is not Modbus.

A frame, a text line or a JSON payload gives one raw number per measured channel
(or none). :class:`ChannelMapper` applies the profile's scale and offset, flags values
outside the measuring range, computes the derived channels, converts to the canonical
units, and adds the flags every reading of the meter carries (calibration due,
warm-up). A channel without a value keeps its row: NaN with ``SENSOR_FAULT``.
"""

from __future__ import annotations

import datetime as dt
import math
import time
from collections.abc import Mapping

import numpy as np
from numpy.typing import NDArray

from hazmon.analysis.readings import Readings
from hazmon.config.catalogue import load_catalogue
from hazmon.config.profile import Profile
from hazmon.config.quality import Quality


class ChannelMapper:
    """Turn raw values of one meter into its readings.

    Parameters
    ----------
    profile
        The meter model; its :attr:`~hazmon.config.profile.Profile.channels` fix the
        row order.
    channel_numbers
        Index of each profile channel in the pipeline's channel table.
    calibration_due
        The unit's calibration due date; after it every reading gets CALIBRATION_DUE.
    warmup : [s]
        Readings within this time of :meth:`start_warmup` get WARMUP.
    """

    def __init__(
        self,
        profile: Profile,
        channel_numbers: NDArray[np.int32],
        *,
        calibration_due: dt.date | None = None,
        warmup: float = 0.0,
    ) -> None:
        self.profile = profile
        self.specs = profile.channels
        if len(channel_numbers) != len(self.specs):
            raise ValueError(
                f"{len(channel_numbers)} channel numbers for the {len(self.specs)} channels "
                f"of profile {profile.name}"
            )
        self.channel_numbers = np.asarray(channel_numbers, dtype=np.int32)
        self.calibration_due = calibration_due
        self.warmup = warmup
        self._warm_after_ns = 0
        catalogue = load_catalogue()
        self._conversions = [catalogue.conversion(s.quantity, s.unit) for s in self.specs]
        self._derived = {d.channel: d for d in profile.derived}

    def start_warmup(self, now_ns: int | None = None) -> None:
        """The link (and, as far as hazmon knows, the sensor) has just come up."""
        start = time.time_ns() if now_ns is None else now_ns
        self._warm_after_ns = start + round(self.warmup * 1e9)

    def _meter_flags(self, ts_ns: int) -> int:
        flags = 0
        if self.calibration_due is not None and dt.date.today() > self.calibration_due:
            flags |= int(Quality.CALIBRATION_DUE)
        if ts_ns < self._warm_after_ns:
            flags |= int(Quality.WARMUP)
        return flags

    def readings(self, raw: Mapping[str, float | None], ts_ns: int) -> Readings:
        """Readings from ``raw`` (channel → raw value before scale and offset; a
        missing, None or NaN value is a sensor fault)."""
        count = len(self.specs)
        engineering: dict[str, float] = {}
        value = np.full(count, np.nan)
        quality = np.zeros(count, dtype=np.uint16)
        for number, spec in enumerate(self.specs):
            derived = self._derived.get(spec.channel)
            if derived is not None:
                inputs = [engineering.get(name, math.nan) for name in derived.weights]
                number_value = derived.offset + sum(
                    weight * item
                    for weight, item in zip(derived.weights.values(), inputs, strict=True)
                )
            else:
                item = raw.get(spec.channel)
                number_value = math.nan if item is None else item * spec.scale + spec.offset
            engineering[spec.channel] = number_value
            flags = 0
            if not math.isfinite(number_value):
                flags |= int(Quality.SENSOR_FAULT)
                number_value = math.nan
            elif spec.range is not None:
                if number_value > spec.range[1]:
                    flags |= int(Quality.OVER_RANGE)
                elif number_value < spec.range[0]:
                    flags |= int(Quality.UNDER_RANGE)
            conversion = self._conversions[number]
            value[number] = number_value * conversion.scale + conversion.offset
            quality[number] = flags
        quality |= np.uint16(self._meter_flags(ts_ns))
        return Readings(
            ts=np.full(count, ts_ns, dtype=np.int64),
            channel=self.channel_numbers.copy(),
            value=value,
            quality=quality,
        )

    def failed(self, flag: Quality, ts_ns: int) -> Readings:
        """One NaN row per channel, flagged ``flag`` (a timeout, a link or checksum error)."""
        count = len(self.specs)
        flags = int(flag) | self._meter_flags(ts_ns)
        return Readings(
            ts=np.full(count, ts_ns, dtype=np.int64),
            channel=self.channel_numbers.copy(),
            value=np.full(count, np.nan),
            quality=np.full(count, flags, dtype=np.uint16),
        )
