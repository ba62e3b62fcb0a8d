"""The few exceptions every transport raises, whatever library sits below it."""

from __future__ import annotations


class TransportError(Exception):
    """A request to a meter failed."""


class TransportTimeout(TransportError):
    """The meter did not answer in time."""


class TransportConnectionError(TransportError):
    """The link could not be opened, or broke."""


class DeviceException(TransportError):
    """The meter answered with a Modbus exception response.

    Attributes
    ----------
    code : int
        The Modbus exception code (02 illegal data address, 04 device failure, ...).
    """

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


class CrcError(TransportError):
    """A reply arrived but failed its CRC check (RTU framings)."""
