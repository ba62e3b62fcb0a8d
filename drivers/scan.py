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
) -> list[ProbeHit]:
    """:func:`probe_units` at every combination of baud rate and parity."""
    hits: list[ProbeHit] = []
    for baudrate in baudrates:
        for parity in parities:
            settings = replace(address, baudrate=baudrate, parity=parity)  # type: ignore[arg-type]
            hits += await probe_units(
                settings, unit_ids, kind=kind, register=register, reply_timeout=reply_timeout
            )
    return hits


@dataclass(frozen=True, slots=True)
class OrderMatch:
    """One data type and byte order, and the value it decodes."""

    data_type: str
    order: str
    value: float
    matches: bool


def decode_all_orders(
    words: Sequence[int], expected: float, data_types: Sequence[str], tolerance: float
) -> list[OrderMatch]:
    """Decode ``words`` in every data type of ``data_types`` and every byte order.

    Parameters
    ----------
    words
        At least as many registers as the widest data type needs, from the address.
    expected : [raw]
        The value the registers are known to hold (what the meter's display shows,
        divided by the scale).
    tolerance
        Relative tolerance of a match (float rounding of the display).
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
            close = math.isfinite(value) and math.isclose(
                value, expected, rel_tol=tolerance, abs_tol=tolerance
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
    return decode_all_orders(words, expected, data_types, tolerance)
