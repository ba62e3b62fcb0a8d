"""The quality-flag vocabulary carried by every reading.

A reading is never silently dropped: when something is wrong with it, it keeps its
row and gets one or more of these bits. The vocabulary lives in ``config`` because
profiles name the flags (status-register bits map to them) and every layer above
reads them.
"""

from __future__ import annotations

from enum import IntFlag


class Quality(IntFlag):
    """Bit flags on a reading; ``OK`` (0) means nothing is known to be wrong."""

    OK = 0
    COMM_TIMEOUT = 1 << 0
    """The meter did not answer within its timeout; the value is NaN."""
    COMM_ERROR = 1 << 1
    """The link failed (refused, reset, malformed reply); the value is NaN."""
    DEVICE_EXCEPTION = 1 << 2
    """The meter answered with a Modbus exception; the value is NaN."""
    CRC_ERROR = 1 << 3
    """A frame failed its checksum; the value is NaN."""
    OVER_RANGE = 1 << 4
    """The value is above the instrument's measuring range."""
    UNDER_RANGE = 1 << 5
    """The value is below the instrument's measuring range."""
    SENSOR_FAULT = 1 << 6
    """The meter reports its sensor faulty (status bit or sentinel value)."""
    STALE = 1 << 7
    """The value has not changed when it should have, or is older than expected."""
    CALIBRATION_DUE = 1 << 8
    """The instrument is past its calibration date: the reading is not to be trusted."""
    WARMUP = 1 << 9
    """The sensor is still warming up."""
    OUT_OF_ORDER = 1 << 10
    """The timestamp is older than one already accepted for the channel."""
    CLOCK_INVALID = 1 << 11
    """The meter's own timestamp was unreadable or outside the sane window (before
    2000, or more than a day after it arrived); the reading carries its arrival time."""


#: Flags after which the value cannot be used at all (it is NaN).
NO_VALUE = Quality.COMM_TIMEOUT | Quality.COMM_ERROR | Quality.DEVICE_EXCEPTION | Quality.CRC_ERROR

#: Names accepted in config files, e.g. ``flag = "SENSOR_FAULT"``.
FLAG_NAMES: tuple[str, ...] = tuple(
    name for name, member in Quality.__members__.items() if member is not Quality.OK
)


def describe(quality: int) -> str:
    """Return the flag names set in ``quality``, joined by ``|``; ``"OK"`` for none."""
    if quality == 0:
        return "OK"
    names = [name for name in FLAG_NAMES if quality & Quality[name]]
    return "|".join(names)


#: [ns UTC] 2000-01-01T00:00:00Z: no instrument hazmon reads was made before, so an
#: earlier time is a clock that was never set (1970, a negative epoch, 1812).
EARLIEST_NS = 946_684_800 * 1_000_000_000

#: [ns] How far after its arrival a meter's time may lie: a day covers any clock
#: drift or misconfigured zone; beyond it (9999-12-31) the clock is wrong.
MAX_AHEAD_NS = 86_400 * 1_000_000_000


def sane_timestamp(ts_ns: int, arrived_ns: int) -> bool:
    """Whether a meter's own time can be trusted (``CLOCK_INVALID`` otherwise).

    Parameters
    ----------
    ts_ns : [ns UTC]
        The time the meter gave (any Python int, however large or negative).
    arrived_ns : [ns UTC]
        When it reached hazmon (for a file: when it is read).
    """
    return EARLIEST_NS <= ts_ns <= arrived_ns + MAX_AHEAD_NS
