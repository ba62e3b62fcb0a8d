"""Simulated serial meters that are not Modbus: sensor modules sending binary frames
and instruments speaking text, each on a pseudo-terminal of its own.

An *instrument* turns the scenario into bytes (:class:`FrameInstrument`,
:class:`AsciiInstrument`); :class:`PtySerialServer` serves one on a pseudo-terminal:
it writes what the instrument uploads on its own every ``interval`` seconds and
answers what it is asked. Link faults from the scenario apply to every message:
``garbage`` (noise bytes before it), ``bad_crc`` (a corrupted checksum; a corrupted
character in text), ``truncated_frame`` (cut short), ``split_frame`` (two parts with
a pause), ``late_reply`` (a delay), ``no_reply`` and ``disconnect`` (nothing sent).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import random
import tty
from collections.abc import Callable
from typing import Protocol

from hazmon.config.profile import AsciiSection, FrameSection, Profile
from hazmon.config.site import FaultInjection, Simulation
from hazmon.simulators.channels import SimulatedChannels
from hazmon.simulators.errors import SimulatorError
from hazmon.simulators.frame_encoding import (
    WINSEN_QUESTION,
    WINSEN_SWITCH_TO_ACTIVE,
    WINSEN_SWITCH_TO_QUESTION,
    encode_pms5003,
    encode_sds011,
    encode_winsen_answer,
    encode_winsen_upload,
)
from hazmon.simulators.lifecycle import Served

#: Unit byte of a Winsen upload frame as the simulator writes it (ppb is 0x04 in the
#: ZE08-CH2O datasheet; 0x03 for ppm is not confirmed from a datasheet).
WINSEN_UNIT_CODES = {"ppb": 0x04, "ppm": 0x03}


class SerialInstrument(Protocol):
    """What :class:`PtySerialServer` serves."""

    channels: SimulatedChannels

    def upload(self, elapsed: float) -> bytes | None:
        """What the instrument sends on its own now, or None."""
        ...

    def answer(self, received: bytearray, elapsed: float) -> bytes | None:
        """Consume complete requests from ``received``; the reply to the last one."""
        ...

    def checksum_index(self, message: bytes) -> int | None:
        """Where the checksum byte of ``message`` is (None for text)."""
        ...


def _raw(value: float, scale: float, offset: float) -> float:
    return (value - offset) / scale


class FrameInstrument:
    """A sensor module sending frames: PMS5003/7003, SDS011 or Winsen ZE.

    A Winsen module starts in active upload, like the real one, and switches mode on
    the datasheet's commands; in question/answer mode it answers the question
    ``FF 01 86 00 00 00 00 00 79``.
    """

    def __init__(self, profile: Profile, channels: SimulatedChannels) -> None:
        if profile.frame is None:
            raise ValueError(f"profile {profile.name} has no [frame] section")
        self.section: FrameSection = profile.frame
        self.channels = channels
        self.active = True
        self.questions = 0

    def _fields(self, elapsed: float) -> dict[str, float] | None:
        values = self.channels.values_at(elapsed)
        fields: dict[str, float] = {}
        for field in self.section.fields:
            value = values[field.channel]
            if math.isnan(value):
                return None  # a dropout: the module sends nothing
            fields[field.field] = _raw(value, field.scale, field.offset)
        return fields

    def upload(self, elapsed: float) -> bytes | None:
        """The frame of the moment (None in Q&A mode or during a dropout)."""
        if not self.active:
            return None
        fields = self._fields(elapsed)
        if fields is None:
            return None
        section = self.section
        if section.format == "pms5003":
            for name in ("pm1_0", "pm2_5", "pm10"):
                fields.setdefault(name, fields.get(f"{name}_cf1", 0.0))
                fields.setdefault(f"{name}_cf1", fields[name])
            return encode_pms5003(fields)
        if section.format == "sds011":
            return encode_sds011(fields.get("pm2_5", 0.0), fields.get("pm10", 0.0))
        field = next(f for f in section.fields if f.field == "concentration")
        decimals = (
            0
            if field.resolution is None
            else max(0, -math.floor(math.log10(field.resolution) + 1e-9))
        )
        full_range = fields.get("full_range", field.range[1] if field.range else 0.0)
        return encode_winsen_upload(
            fields.get("concentration", 0.0),
            gas_code=section.gas_code if section.gas_code is not None else 0x04,
            unit_code=WINSEN_UNIT_CODES.get(field.unit, 0x03),
            decimals=min(decimals, 3),
            full_range=full_range,
        )

    def answer(self, received: bytearray, elapsed: float) -> bytes | None:
        """Mode switches and questions (Winsen); other modules ignore what they hear."""
        if self.section.format != "winsen_ze":
            received.clear()
            return None
        reply: bytes | None = None
        while True:
            start = received.find(0xFF)
            if start < 0:
                received.clear()
                return reply
            del received[:start]
            if len(received) < 9:
                return reply
            command = bytes(received[:9])
            if command == WINSEN_SWITCH_TO_QUESTION:
                self.active = False
            elif command == WINSEN_SWITCH_TO_ACTIVE:
                self.active = True
            elif command == WINSEN_QUESTION:
                self.questions += 1
                fields = self._fields(elapsed)
                reply = (
                    None
                    if fields is None
                    else encode_winsen_answer(
                        fields.get("concentration", 0.0), fields.get("concentration_mass", 0.0)
                    )
                )
            else:
                del received[:1]
                continue
            del received[:9]

    def checksum_index(self, message: bytes) -> int | None:
        """The last checksum byte: PMS5003 and Winsen end with it, SDS011 has its tail."""
        return len(message) - (2 if self.section.format == "sds011" else 1)


class _Shown:
    """A value in a text template: ``----`` where the instrument has no reading."""

    def __init__(self, value: float) -> None:
        self.value = value

    def __format__(self, spec: str) -> str:
        return "----" if math.isnan(self.value) else format(self.value, spec)


class AsciiInstrument:
    """An instrument speaking text: it prints its profile's ``sample`` line, on its own
    (``mode = "stream"``) or when it hears ``command`` (``mode = "query"``)."""

    def __init__(self, profile: Profile, channels: SimulatedChannels) -> None:
        if profile.ascii is None:
            raise ValueError(f"profile {profile.name} has no [ascii] section")
        self.section: AsciiSection = profile.ascii
        self.channels = channels
        self.commands = 0

    def line(self, elapsed: float) -> bytes:
        """The instrument's line at ``elapsed`` [s], with its terminator."""
        values = self.channels.values_at(elapsed)
        shown = {
            f.channel: _Shown(_raw(values[f.channel], f.scale, f.offset))
            for f in self.section.fields
        }
        text = self.section.sample.format(**shown) + self.section.terminator
        return text.encode(self.section.encoding, errors="replace")

    def upload(self, elapsed: float) -> bytes | None:
        """A line, for a streaming instrument."""
        return self.line(elapsed) if self.section.mode == "stream" else None

    def answer(self, received: bytearray, elapsed: float) -> bytes | None:
        """The line, once per complete ``command``; unknown commands get no answer."""
        terminator = self.section.command_terminator.encode("ascii")
        reply: bytes | None = None
        while (index := received.find(terminator)) >= 0:
            command = bytes(received[:index]).decode(self.section.encoding, errors="replace")
            del received[: index + len(terminator)]
            if self.section.mode == "query" and command.strip() == self.section.command:
                self.commands += 1
                reply = self.line(elapsed)
        return reply

    def checksum_index(self, message: bytes) -> int | None:
        """Text carries no checksum."""
        return None


def instrument_for(
    profile: Profile,
    simulation: Simulation | None,
    *,
    clock: Callable[[], float],
) -> FrameInstrument | AsciiInstrument:
    """The instrument simulating a ``[frame]`` or ``[ascii]`` profile."""
    channels = SimulatedChannels(profile, simulation, clock=clock)
    if profile.frame is not None:
        return FrameInstrument(profile, channels)
    if profile.ascii is not None:
        return AsciiInstrument(profile, channels)
    raise ValueError(f"profile {profile.name} is a {profile.transport} profile, not serial")


def apply_fault(
    message: bytes,
    fault: FaultInjection | None,
    checksum_index: int | None,
    rng: random.Random,
) -> list[bytes]:
    """The parts to send for ``message`` under ``fault`` (empty: send nothing)."""
    if fault is None:
        return [message]
    kind = fault.kind
    if kind in ("no_reply", "disconnect"):
        return []
    if kind == "garbage":
        noise = bytes(rng.randrange(256) for _ in range(rng.randint(5, 24)))
        return [noise + message]
    if kind == "bad_crc":
        index = len(message) // 2 if checksum_index is None else checksum_index
        corrupted = bytearray(message)
        corrupted[index] = (corrupted[index] + 1 + rng.randrange(254)) % 256
        if checksum_index is None:
            corrupted[index] = ord("#")
        return [bytes(corrupted)]
    if kind == "truncated_frame":
        return [message[: max(1, len(message) // 2)]]
    if kind == "split_frame":
        half = len(message) // 2
        return [message[:half], message[half:]]
    return [message]


class PtySerialServer(Served):
    """One simulated serial instrument on a pseudo-terminal.

    Parameters
    ----------
    instrument
        What to serve.
    interval : [s]
        How often a streaming instrument sends, by the wall clock.
    baudrate, parity, stopbits, bytesize
        The settings written into :attr:`address` (a pseudo-terminal moves bytes at
        once, whatever the rate).
    seed
        Seeds the garbage bytes.
    """

    def __init__(
        self,
        instrument: FrameInstrument | AsciiInstrument,
        *,
        interval: float = 1.0,
        baudrate: int = 9600,
        stopbits: int = 1,
        bytesize: int = 8,
        seed: int = 0,
    ) -> None:
        self.instrument = instrument
        self.interval = interval
        self.baudrate = baudrate
        self.stopbits = stopbits
        self.bytesize = bytesize
        self.messages_sent = 0
        self._rng = random.Random(seed)
        self._received = bytearray()
        self._master = -1
        self._slave = -1
        self._device = ""
        self._tasks: list[asyncio.Task[None]] = []
        self._heard = asyncio.Event()

    @property
    def device(self) -> str:
        """The pseudo-terminal's slave path, e.g. ``/dev/pts/3``."""
        if not self._device:
            raise RuntimeError("the server is not started; call start() or use async with")
        return self._device

    @property
    def address(self) -> str:
        """The ``serial://`` address to open (parity N: Linux ptys refuse parity)."""
        return (
            f"serial://{self.device}?baudrate={self.baudrate}&parity=N"
            f"&stopbits={self.stopbits}&bytesize={self.bytesize}"
        )

    @property
    def requests_served(self) -> dict[int, int]:
        """Messages sent (uploads and answers), under unit id 0."""
        return {0: self.messages_sent}

    def _readable(self) -> None:
        try:
            data = os.read(self._master, 4096)
        except (BlockingIOError, OSError):
            return
        self._received += data
        self._heard.set()

    async def _send(self, message: bytes | None) -> None:
        if message is None:
            return
        channels = self.instrument.channels
        fault = channels.fault_at(channels.elapsed())
        parts = apply_fault(message, fault, self.instrument.checksum_index(message), self._rng)
        if fault is not None and fault.kind == "late_reply":
            await asyncio.sleep(fault.delay)
        for number, part in enumerate(parts):
            if number and fault is not None:
                await asyncio.sleep(fault.delay)
            # The pty buffer fills when nobody reads: the instrument's bytes are lost,
            # as on a real line with nothing attached.
            with contextlib.suppress(OSError):
                os.write(self._master, part)
        if parts:
            self.messages_sent += 1

    async def _uploads(self) -> None:
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        while True:
            channels = self.instrument.channels
            await self._send(self.instrument.upload(channels.elapsed()))
            next_at += self.interval
            await asyncio.sleep(max(0.0, next_at - loop.time()))

    async def _answers(self) -> None:
        while True:
            await self._heard.wait()
            self._heard.clear()
            channels = self.instrument.channels
            await self._send(self.instrument.answer(self._received, channels.elapsed()))

    async def start(self) -> None:
        """Open the pseudo-terminal and start sending and answering."""
        if self._tasks:
            raise RuntimeError("the server is already started")
        try:
            self._master, self._slave = os.openpty()
        except OSError as error:
            raise SimulatorError(f"cannot open a pseudo-terminal: {error}") from error
        # Raw mode (no echo, no newline translation); the slave end stays open here so
        # the master never reads EIO between client connections.
        tty.setraw(self._slave)
        os.set_blocking(self._master, False)
        self._device = os.ttyname(self._slave)
        loop = asyncio.get_running_loop()
        loop.add_reader(self._master, self._readable)
        self._tasks = [
            asyncio.create_task(self._uploads(), name=f"uploads {self._device}"),
            asyncio.create_task(self._answers(), name=f"answers {self._device}"),
        ]

    async def stop(self) -> None:
        """Stop and close the pseudo-terminal; safe to call twice."""
        tasks, self._tasks = self._tasks, []
        if not tasks:
            return
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        asyncio.get_running_loop().remove_reader(self._master)
        os.close(self._master)
        os.close(self._slave)
