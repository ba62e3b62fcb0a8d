"""Exceptions raised by the simulators."""

from __future__ import annotations


class SimulatorError(Exception):
    """A simulator cannot start or run (e.g. its port is taken)."""


class ModbusExceptionError(SimulatorError):
    """A request the simulated meter answers with a Modbus exception response.

    Subclasses fix :attr:`code`, the exception code the server puts in the reply.
    """

    code: int = 0x04


class IllegalFunction(ModbusExceptionError):
    """Exception code 01: the function code is not supported."""

    code = 0x01


class IllegalDataAddress(ModbusExceptionError):
    """Exception code 02: a requested register is not mapped."""

    code = 0x02


class IllegalDataValue(ModbusExceptionError):
    """Exception code 03: a request field (e.g. the quantity) is out of range."""

    code = 0x03
