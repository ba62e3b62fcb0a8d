"""Finding meters on a line: which unit ids answer, at which settings, in which byte order.

Used by ``hazmon scan``. A unit id "answers" when it sends any valid reply, an
exception reply included (a meter that says "illegal data address" is there).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from hazmon.config.addresses import Address, SerialAddress
from hazmon.drivers.errors import DeviceException, TransportError
from hazmon.drivers.modbus_adapter import RegisterKind, open_transport
from hazmon.drivers.register_map import ORDERS, decode_words

#: Baud rates and parities tried by default, the common ones first.
DEFAULT_BAUDRATES = (9600, 19200, 38400, 115200, 4800, 2400)
DEFAULT_PARITIES = ("N", "E", "O")


@dataclass(frozen=True, slots=True)
class ProbeHit:
    """A unit id that answered."""

    address: str
    """The link's address with the settings that worked."""
    unit_id: int
    answer: str
    """What it answered: register words, or the exception code."""


async def probe_units(
    address: Address,
    unit_ids: Iterable[int],
    *,
    kind: RegisterKind = "holding",
    register: int = 0,
    reply_timeout: float = 0.1,
) -> list[ProbeHit]:
    """Ask every unit id in ``unit_ids`` for one register at ``address``'s settings.

    Parameters
    ----------
    reply_timeout : [s]
        Per unit id; a meter answers in tens of milliseconds, so a scan of 247
        unit ids at 0.1 s takes about 25 s per setting.

    Raises
    ------
    TransportConnectionError
        When the link cannot be opened at all.
    """
    transport = open_transport(address, timeout=reply_timeout)
    hits: list[ProbeHit] = []
    await transport.connect()
    try:
        for unit_id in unit_ids:
            try:
                words = await transport.read(
                    kind, register, 1, unit_id, reply_timeout=reply_timeout
                )
            except DeviceException as error:
                if error.code in (0x0A, 0x0B):  # the gateway answers for a missing unit
                    continue
                hits.append(ProbeHit(transport.address, unit_id, f"exception {error.code:02X}"))
            except TransportError:
                continue
            else:
                hits.append(ProbeHit(transport.address, unit_id, f"{kind} {register} = {words[0]}"))
    finally:
        transport.close()
    return hits


async def probe_serial_settings(
    address: SerialAddress,
    unit_ids: Sequence[int],
    *,
    baudrates: Sequence[int] = DEFAULT_BAUDRATES,
    parities: Sequence[str] = DEFAULT_PARITIES,
    kind: RegisterKind = "holding",
    register: int = 0,
    reply_timeout: float = 0.1,
    skipped: list[str] | None = None,
) -> list[ProbeHit]:
    """:func:`probe_units` at every combination of baud rate and parity.

    A combination the port cannot be set to (a pty refuses parity with EINVAL, an
    adapter a baud rate) is skipped and, when ``skipped`` is given, appended to it as
    ``"9600 E: why"``; when no combination can be set at all, the last error is raised.

    Raises
    ------
    TransportError
        When the port cannot be opened at any of the settings.
    """
    hits: list[ProbeHit] = []
    refused: list[str] = []
    last: TransportError | None = None
    for baudrate in baudrates:
        for parity in parities:
            settings = replace(address, baudrate=baudrate, parity=parity)  # type: ignore[arg-type]
            try:
                hits += await probe_units(
                    settings, unit_ids, kind=kind, register=register, reply_timeout=reply_timeout
                )
            except TransportError as error:
                last = error
                refused.append(f"{baudrate} {parity}: {error}")
    if last is not None and len(refused) == len(baudrates) * len(parities):
        raise last
    if skipped is not None:
        skipped.extend(refused)
    return hits


@dataclass(frozen=True, slots=True)
class OrderMatch:
    """One data type and byte order, and the value it decodes."""

    data_type: str
    order: str
    value: float
    matches: bool


def decode_all_orders(
    words: Sequence[int],
    expected: float,
    data_types: Sequence[str],
    tolerance: float,
    *,
    scale: float = 1.0,
    offset: float = 0.0,
    absolute: float = 0.0,
) -> list[OrderMatch]:
    """Decode ``words`` in every data type of ``data_types`` and every byte order.

    Parameters
    ----------
    words
        At least as many registers as the widest data type needs, from the address.
    expected : [raw × scale + offset]
        The value the registers are known to hold: raw with the defaults, else what the
        meter's display shows in the profile's unit.
    tolerance
        Relative tolerance of a match (float rounding of the display).
    scale, offset
        The profile's ``raw * scale + offset`` for the register; ``value`` is after them.
    absolute : [same unit as expected]
        An absolute tolerance as well: a live value moves between the display and the
        read (O2 20.8 vs 20.9 %vol is ``absolute = 0.1``).
    """
    widths = {"int16": 1, "uint16": 1, "int32": 2, "uint32": 2, "float32": 2}
    widths |= {"int64": 4, "uint64": 4, "float64": 4}
    matches = []
    for data_type in data_types:
        width = widths[data_type]
        if len(words) < width:
            continue
        for order in ORDERS:
            value = float(decode_words(list(words[:width]), data_type, order)[0])
            value = value * scale + offset
            # The small slack on top of `absolute` absorbs the float rounding of the scale
            # (208 * 0.1 = 20.800000000000001 against a tolerance of exactly 0.1).
            close = math.isfinite(value) and math.isclose(
                value, expected, rel_tol=tolerance, abs_tol=max(tolerance, absolute * (1 + 1e-9))
            )
            matches.append(OrderMatch(data_type, order, value, close))
    return matches


async def detect_byte_order(
    address: Address,
    unit_id: int,
    register: int,
    expected: float,
    *,
    kind: RegisterKind = "holding",
    data_types: Sequence[str] = ("float32", "int32", "uint32"),
    tolerance: float = 1e-3,
    reply_timeout: float = 1.0,
    scale: float = 1.0,
    offset: float = 0.0,
    absolute: float = 0.0,
) -> list[OrderMatch]:
    """Read the registers at ``register`` and decode them every way.

    Raises
    ------
    TransportError
        When the meter cannot be read.
    """
    widest = max({"float64": 4, "int64": 4, "uint64": 4}.get(t, 2) for t in data_types)
    if all(t in ("int16", "uint16") for t in data_types):
        widest = 1
    transport = open_transport(address, timeout=reply_timeout)
    await transport.connect()
    try:
        words = await transport.read(kind, register, widest, unit_id, reply_timeout=reply_timeout)
    finally:
        transport.close()
    return decode_all_orders(
        words, expected, data_types, tolerance, scale=scale, offset=offset, absolute=absolute
    )
