"""From raw values to ``Readings``: the one mapper every transport goes through.

A Modbus register map, a frame, a text line or a JSON payload gives one raw number
per measured channel (or none), and for Modbus the flags the transport and the
meter's status word set on each field. :class:`ChannelMapper` applies the profile's
scale and offset, flags values outside the measuring range, computes the derived
channels, converts to the canonical units, and adds the flags every reading of the
meter carries (calibration due, warm-up, out of order). A channel without a value
keeps its row: NaN with ``SENSOR_FAULT``, unless the incoming flags already say why
(a timeout, a sentinel).

A meter's own timestamp is trusted only inside a sane window: from 2000-01-01 UTC
to one day after the reading arrived (:func:`hazmon.config.quality.sane_timestamp`).
Outside it (a clock never set, a year 9999, a negative epoch, a number beyond int64
nanoseconds), the reading keeps its row at its arrival time, flagged
``CLOCK_INVALID``: a poisoned stamp can neither be stored as a time nor overflow.

Warm-up counts from when the meter's link opened (:meth:`ChannelMapper.start_warmup`),
judged by when a reading *arrived*, never by the timestamp it carries: a backlog of
messages measured while hazmon was away is not warming up.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from typing import TypedDict, Unpack

import numpy as np
from numpy.typing import NDArray

from hazmon.analysis.readings import Readings
from hazmon.config.catalogue import load_catalogue
from hazmon.config.profile import Profile
from hazmon.config.quality import Quality, sane_timestamp
from hazmon.drivers.base import PollResult


class ChannelMapper:
    """Turn raw values of one meter into its readings.

    Parameters
    ----------
    profile
        The meter model; its :attr:`~hazmon.config.profile.Profile.channels` fix the
        row order.
    channel_numbers
        Index of each profile channel in the pipeline's channel table.
    calibration_expires_ns : [ns UTC]
        When the unit's calibration runs out (the end of its due date in the site's
        zone); every reading arriving from then on gets CALIBRATION_DUE.
    warmup : [s]
        Readings arriving within this time of :meth:`start_warmup` get WARMUP; the
        profile's ``calibration.warmup_seconds`` by default.

    Attributes
    ----------
    duplicates
        Readings (rows) whose timestamp equals the last accepted one of their channel:
        kept and counted, not flagged (the same measurement sent twice, or a meter
        whose clock did not move).
    out_of_order
        Readings (rows) older than the last accepted one of their channel, kept with
        ``OUT_OF_ORDER``.
    warm_after_ns : [ns UTC]
        Readings arriving before this get WARMUP (the last opening plus ``warmup``).
    """

    def __init__(
        self,
        profile: Profile,
        channel_numbers: NDArray[np.int32],
        *,
        calibration_expires_ns: int | None = None,
        warmup: float | None = None,
    ) -> None:
        self.profile = profile
        self.specs = profile.channels
        if len(channel_numbers) != len(self.specs):
            raise ValueError(
                f"{len(channel_numbers)} channel numbers for the {len(self.specs)} channels "
                f"of profile {profile.name}"
            )
        self.channel_numbers = np.asarray(channel_numbers, dtype=np.int32)
        self.calibration_expires_ns = calibration_expires_ns
        self.warmup = profile.calibration.warmup_seconds if warmup is None else warmup
        self.duplicates = 0
        self.out_of_order = 0
        self.warm_after_ns = 0
        # Every row of one call shares its timestamp, so the last accepted timestamp
        # of each channel is the meter's last: one number serves every channel.
        self._last_ns: int | None = None
        catalogue = load_catalogue()
        self._conversions = [catalogue.conversion(s.quantity, s.unit) for s in self.specs]
        self._derived = {d.channel: d for d in profile.derived}

    @property
    def channels(self) -> list[str]:
        """Channel names, in row order."""
        return [spec.channel for spec in self.specs]

    def start_warmup(self, now_ns: int | None = None) -> None:
        """The link (and, as far as hazmon knows, the sensor) has just come up.

        Parameters
        ----------
        now_ns : [ns UTC]
            When it opened; now by default.
        """
        start = time.time_ns() if now_ns is None else now_ns
        self.warm_after_ns = start + round(self.warmup * 1e9)

    def _meter_flags(self, arrived_ns: int) -> int:
        flags = 0
        expires = self.calibration_expires_ns
        if expires is not None and arrived_ns >= expires:
            flags |= int(Quality.CALIBRATION_DUE)
        if arrived_ns < self.warm_after_ns:
            flags |= int(Quality.WARMUP)
        return flags

    def _order_flags(self, ts_ns: int) -> int:
        """OUT_OF_ORDER for a timestamp older than the last accepted; count equal ones."""
        last = self._last_ns
        if last is None or ts_ns > last:
            self._last_ns = ts_ns
            return 0
        if ts_ns == last:
            self.duplicates += len(self.specs)
            return 0
        self.out_of_order += len(self.specs)
        return int(Quality.OUT_OF_ORDER)

    def readings(
        self,
        raw: Mapping[str, float | None],
        ts_ns: int,
        *,
        flags: Mapping[str, int] | None = None,
        arrived_ns: int | None = None,
        clock_invalid: bool = False,
    ) -> Readings:
        """Readings from raw values.

        Parameters
        ----------
        raw
            Channel → raw value before scale and offset (after a Modbus field's word
            decoding and decimal point); a missing, None or NaN value is a sensor
            fault unless ``flags`` says why it is missing.
        ts_ns : [ns UTC]
            When the values were measured (a payload's own timestamp, or the poll's).
        flags
            Channel → quality flags the transport or the meter set (a failed read, a
            sentinel, a status bit); none by default.
        arrived_ns : [ns UTC]
            When the values reached hazmon, which decides WARMUP; ``ts_ns`` by default
            (the stamp is hazmon's own, a poll's start, and is not checked).
        clock_invalid
            The meter sent a stamp that could not be read: the readings get
            ``arrived_ns`` (now, if not given) and ``CLOCK_INVALID``.

        With ``arrived_ns`` given, a ``ts_ns`` outside the sane window (see
        :func:`sane_timestamp`) is replaced by ``arrived_ns``, and the readings get
        ``CLOCK_INVALID``.
        """
        count = len(self.specs)
        clock_flag = 0
        if arrived_ns is None and not clock_invalid:
            # hazmon's own clock (a poll's start): nothing the meter could poison.
            arrived_ns = ts_ns
        else:
            arrived_ns = time.time_ns() if arrived_ns is None else arrived_ns
            if clock_invalid or not sane_timestamp(ts_ns, arrived_ns):
                ts_ns = arrived_ns
                clock_flag = int(Quality.CLOCK_INVALID)
        incoming = flags or {}
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
            row_flags = incoming.get(spec.channel, 0)
            if not math.isfinite(number_value):
                if not row_flags:
                    row_flags |= int(Quality.SENSOR_FAULT)
                number_value = math.nan
            elif spec.range is not None:
                if number_value > spec.range[1]:
                    row_flags |= int(Quality.OVER_RANGE)
                elif number_value < spec.range[0]:
                    row_flags |= int(Quality.UNDER_RANGE)
            conversion = self._conversions[number]
            value[number] = number_value * conversion.scale + conversion.offset
            quality[number] = row_flags
        meter_flags = self._meter_flags(arrived_ns) | clock_flag
        # A replaced stamp is on hazmon's clock, not the meter's: it must not move the
        # meter's last accepted time (its next sane reading would look out of order).
        order_flags = 0 if clock_flag else self._order_flags(ts_ns)
        quality |= np.uint16(meter_flags | order_flags)
        return Readings(
            ts=np.full(count, ts_ns, dtype=np.int64),
            channel=self.channel_numbers.copy(),
            value=value,
            quality=quality,
        )

    def failed(self, flag: Quality, ts_ns: int) -> Readings:
        """One NaN row per channel, flagged ``flag`` (a timeout, a link or checksum error).

        These rows say when the meter could not be read; they are not measurements,
        so they do not move the channel's last accepted timestamp.
        """
        count = len(self.specs)
        flags = int(flag) | self._meter_flags(ts_ns)
        return Readings(
            ts=np.full(count, ts_ns, dtype=np.int64),
            channel=self.channel_numbers.copy(),
            value=np.full(count, np.nan),
            quality=np.full(count, flags, dtype=np.uint16),
        )

    def failure(self, flag: Quality, ts_ns: int, message: str) -> PollResult:
        """A poll result of :meth:`failed` rows and the message saying why."""
        return PollResult(self.failed(flag, ts_ns), None, (message,), ())


class MeterOptions(TypedDict, total=False):
    """What a site says about a meter that the mapper needs.

    Attributes
    ----------
    calibration_expires_ns : [ns UTC]
        When the unit's calibration runs out; from then on every reading gets
        CALIBRATION_DUE.
    warmup : [s]
        Readings arriving this soon after the link opens get WARMUP; the profile's
        ``calibration.warmup_seconds`` by default (0 for a meter switched on before).
    """

    calibration_expires_ns: int | None
    warmup: float | None


class MappedMeter:
    """A meter made on the one mapper, and the mapper's counters it shows.

    Parameters
    ----------
    profile
        The meter model.
    channel_numbers
        Index of each profile channel (the transport section's fields, then the
        derived channels) in the pipeline's channel table.
    options
        See :class:`MeterOptions`.
    """

    def __init__(
        self,
        profile: Profile,
        channel_numbers: NDArray[np.int32],
        **options: Unpack[MeterOptions],
    ) -> None:
        self.mapper = ChannelMapper(profile, channel_numbers, **options)
        self.channel_numbers = self.mapper.channel_numbers

    @property
    def duplicates(self) -> int:
        """Readings whose timestamp equals their channel's last (kept, counted)."""
        return self.mapper.duplicates

    @property
    def out_of_order(self) -> int:
        """Readings older than their channel's last (kept, flagged OUT_OF_ORDER)."""
        return self.mapper.out_of_order
