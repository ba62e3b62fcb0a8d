"""ModbusMeter end to end over real sockets.

The meter side is the simulators' own-code Modbus TCP server (which shares no code
with the drivers) or, for link failures, a few lines of asyncio written here. Every
test runs its own event loop with ``asyncio.run`` and stays well under a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import socket
import struct
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

import numpy as np
import pytest

from hazmon.config.profile import Calibration, Profile, load_profile
from hazmon.config.quality import Quality
from hazmon.config.site import ChannelScenario, Simulation, StatusFault, end_of_day_ns
from hazmon.drivers.errors import TransportConnectionError
from hazmon.drivers.modbus_adapter import ModbusTcpTransport
from hazmon.drivers.modbus_meter import ModbusMeter, PollResult
from hazmon.simulators.meter import SimulatedMeter
from hazmon.simulators.modbus_tcp_server import ModbusTcpServer, RegisterSource

T = TypeVar("T")
Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]

OK = int(Quality.OK)
TIMEOUT = int(Quality.COMM_TIMEOUT)
COMM_ERROR = int(Quality.COMM_ERROR)
EXCEPTION = int(Quality.DEVICE_EXCEPTION)
FAULT = int(Quality.SENSOR_FAULT)
WARMUP = int(Quality.WARMUP)
CAL_DUE = int(Quality.CALIBRATION_DUE)

#: The profile asks 60 s of warm-up; these meters were on before their link opened.
FOUR_GAS = load_profile("generic-4gas").model_copy(
    update={"calibration": Calibration(warmup_seconds=0)}
)
#: Baselines [profile unit] and the resolution each field's encoding can carry.
BASELINES = {"lel": 12.3, "o2": 20.9, "co": 7.0, "h2s": 1.25}
RESOLUTION = {"lel": 0.1, "o2": 0.1, "co": 1.0, "h2s": 1e-6}
#: Channel-table indices handed to the meter; not 0..3 so that a mix-up shows.
CHANNELS = np.array([10, 11, 12, 13], dtype=np.int32)
#: The time of a poll in tests that fix it [ns UTC].
NOW_NS = 1_700_000_000_000_000_000
SHORT_TIMEOUT = 1.0  # [s] a connect or reply a loaded 2-core machine still makes


def run(coroutine: Coroutine[Any, Any, T], limit: float = 60.0) -> T:
    """Run one test's coroutine on a fresh loop, failing it if it hangs."""
    return asyncio.run(asyncio.wait_for(coroutine, timeout=limit))


def simulation(
    *, status_faults: list[StatusFault] | None = None, period: float = 60.0
) -> Simulation:
    """The four gases at their baselines, without noise or events."""
    return Simulation(
        seed=1,
        period=period,
        channels={
            name: ChannelScenario(baseline=value, noise=0.0) for name, value in BASELINES.items()
        },
        status_faults=status_faults or [],
    )


def frozen_clock(at: float = 0.0) -> Callable[[], float]:
    """A monotonic clock that always reads ``at`` [s]."""
    return lambda: at


def assert_one_row_per_field(result: PollResult, channels: np.ndarray[Any, Any]) -> None:
    readings = result.readings
    assert len(readings) == len(channels)
    np.testing.assert_array_equal(readings.channel, channels)
    assert readings.channel.dtype == np.int32
    assert readings.value.dtype == np.float64
    assert readings.quality.dtype == np.uint16
    assert readings.ts.dtype == np.int64
    assert len(set(readings.ts.tolist())) == 1  # one timestamp per poll


def assert_baselines(result: PollResult) -> None:
    for number, name in enumerate(BASELINES):
        assert abs(result.readings.value[number] - BASELINES[name]) <= RESOLUTION[name] / 2, name


def assert_all_failed(result: PollResult, flag: int) -> None:
    assert_one_row_per_field(result, CHANNELS)
    assert np.isnan(result.readings.value).all()
    np.testing.assert_array_equal(result.readings.quality, [flag] * len(CHANNELS))
    assert result.status_word is None


def closed_port() -> int:
    """A port on 127.0.0.1 nobody listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class RawServer:
    """A TCP server on 127.0.0.1 whose connections run ``handler``: for link faults.

    On exit it closes every connection and waits for the handlers to end, so no task
    outlives the test's event loop.
    """

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.port = 0
        self.connections = 0
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []
        self._tasks: set[asyncio.Task[Any]] = set()

    async def _run(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.append(writer)
        self.connections += 1
        try:
            await self.handler(reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def __aenter__(self) -> Self:
        self._server = await asyncio.start_server(self._run, "127.0.0.1", 0)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        assert self._server is not None
        self._server.close()
        for writer in self._writers:
            writer.close()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=1.0)
        await self._server.wait_closed()


async def read_request(reader: asyncio.StreamReader) -> tuple[int, int, int, int, int]:
    """One FC03/FC04 request: (transaction id, unit, function, address, count)."""
    transaction, _protocol, _length, unit, function, address, count = struct.unpack(
        ">HHHBBHH", await reader.readexactly(12)
    )
    return transaction, unit, function, address, count


def reply(transaction: int, unit: int, function: int, words: list[int]) -> bytes:
    """A well-formed read reply carrying ``words``."""
    return struct.pack(
        ">HHHBBB", transaction, 0, 3 + 2 * len(words), unit, function, 2 * len(words)
    ) + struct.pack(f">{len(words)}H", *words)


@contextlib.asynccontextmanager
async def served(
    units: Mapping[int, RegisterSource],
) -> AsyncIterator[tuple[ModbusTcpServer, ModbusTcpTransport]]:
    """A simulator server on a free port and a transport connected to it."""
    async with (
        ModbusTcpServer("127.0.0.1", 0, units) as server,
        ModbusTcpTransport(*server.address, timeout=SHORT_TIMEOUT) as transport,
    ):
        yield server, transport


async def poll_simulated(
    profile: Profile,
    sim: Simulation | None,
    *,
    device_id: int = 1,
    served_unit: int = 1,
    calibration_expires_ns: int | None = None,
    clock: Callable[[], float] | None = None,
    polls: int = 1,
) -> tuple[list[PollResult], ModbusTcpServer]:
    """Serve ``profile`` at ``served_unit``, poll ``device_id`` ``polls`` times."""
    meter = SimulatedMeter(profile, sim, clock=clock or frozen_clock())
    results: list[PollResult] = []
    async with served({served_unit: meter}) as (server, transport):
        channels = np.arange(10, 10 + len(profile.modbus_map.fields), dtype=np.int32)
        driver = ModbusMeter(
            transport, profile, device_id, channels, calibration_expires_ns=calibration_expires_ns
        )
        for _ in range(polls):
            results.append(await driver.poll(now_ns=NOW_NS))
    return results, server


# ---------------------------------------------------------------------------------
# against the simulated meter


def test_poll_reads_the_baselines() -> None:
    [result], server = run(poll_simulated(FOUR_GAS, simulation()))
    assert_one_row_per_field(result, CHANNELS)
    assert_baselines(result)
    np.testing.assert_array_equal(result.readings.quality, [OK, OK, OK, OK])
    np.testing.assert_array_equal(result.readings.ts, [NOW_NS] * 4)
    assert result.status_word == 0
    assert result.errors == ()
    assert result.exception_codes == ()
    assert server.requests_served == {1: 1}  # the whole map in one request


def test_poll_exact_decoded_values() -> None:
    # lel 123 × 0.1, o2 209 × 0.1, co 7, h2s float32(1.25) exactly
    [result], _ = run(poll_simulated(FOUR_GAS, simulation()))
    np.testing.assert_array_equal(result.readings.value, [123 * 0.1, 209 * 0.1, 7.0, 1.25])


def test_poll_timestamp_defaults_to_now() -> None:
    async def main() -> tuple[int, PollResult, int]:
        async with served({1: SimulatedMeter(FOUR_GAS, simulation())}) as (_, transport):
            driver = ModbusMeter(transport, FOUR_GAS, 1, CHANNELS)
            before = time.time_ns()
            result = await driver.poll()
            after = time.time_ns()
        return before, result, after

    before, result, after = run(main())
    assert before <= int(result.readings.ts[0]) <= after
    assert_one_row_per_field(result, CHANNELS)


def test_repeated_polls_on_one_connection() -> None:
    results, server = run(poll_simulated(FOUR_GAS, simulation(), polls=5))
    assert len(results) == 5
    for result in results:
        assert_one_row_per_field(result, CHANNELS)
        assert_baselines(result)
        assert not result.readings.quality.any()
    assert server.requests_served == {1: 5}


def test_two_unit_ids_share_one_transport() -> None:
    other = Simulation(channels={"lel": ChannelScenario(baseline=55.5)})

    async def main() -> tuple[PollResult, PollResult]:
        units = {
            1: SimulatedMeter(FOUR_GAS, simulation(), clock=frozen_clock()),
            2: SimulatedMeter(FOUR_GAS, other, clock=frozen_clock()),
        }
        async with served(units) as (_, transport):
            first = ModbusMeter(transport, FOUR_GAS, 1, CHANNELS)
            second = ModbusMeter(transport, FOUR_GAS, 2, CHANNELS + 4)
            return await first.poll(NOW_NS), await second.poll(NOW_NS)

    first, second = run(main())
    assert_baselines(first)
    assert_one_row_per_field(second, CHANNELS + 4)
    # O2 is not in the scenario: it reads fresh air's 20.9 %vol (the simulators' ambient
    # default), the other gases 0.
    np.testing.assert_allclose(second.readings.value, [55.5, 20.9, 0.0, 0.0], atol=1e-9)


def test_unit_id_not_served_is_device_exception_0b() -> None:
    [result], server = run(poll_simulated(FOUR_GAS, simulation(), device_id=7, served_unit=1))
    assert_all_failed(result, EXCEPTION)
    assert result.exception_codes == (0x0B,)
    assert len(result.errors) == 1
    assert "unit 7" in result.errors[0]
    assert "0B" in result.errors[0]
    assert server.requests_served == {1: 0}


def test_register_outside_the_map_is_device_exception_02() -> None:
    # The server's meter maps holding register 0 only; the generic-4gas map asks 0..8.
    small = FOUR_GAS.model_copy(
        update={
            "modbus": FOUR_GAS.modbus_map.model_copy(
                update={"fields": FOUR_GAS.modbus_map.fields[:1], "status": None}
            )
        }
    )

    async def main() -> PollResult:
        async with served({1: SimulatedMeter(small, None)}) as (_, transport):
            return await ModbusMeter(transport, FOUR_GAS, 1, CHANNELS).poll(NOW_NS)

    result = run(main())
    assert_all_failed(result, EXCEPTION)
    assert result.exception_codes == (0x02,)


# NOW_NS is 2023-11-14T22:13:20Z, which is 2023-11-15 06:13:20 in Asia/Shanghai. By hand:
# a meter due 2023-11-14 ran out at the end of that day in Shanghai, 2023-11-14T16:00:00Z
# (1_699_977_600 s), six hours before; one due 2023-11-15 is valid until
# 2023-11-15T16:00:00Z (1_700_064_000 s). A UTC calendar would still call 2023-11-14 "today".
@pytest.mark.parametrize(
    ("due", "expires_s", "flagged"),
    [
        (dt.date(2023, 11, 14), 1_699_977_600, True),
        (dt.date(2023, 11, 15), 1_700_064_000, False),  # due today in Shanghai: still valid
        (dt.date(2000, 1, 1), 946_742_400, True),
    ],
)
def test_calibration_runs_out_at_the_end_of_the_due_day_in_the_site_zone(
    due: dt.date, expires_s: int, flagged: bool
) -> None:
    expires_ns = end_of_day_ns(due, "Asia/Shanghai")
    assert expires_ns == expires_s * 1_000_000_000
    [result], _ = run(poll_simulated(FOUR_GAS, simulation(), calibration_expires_ns=expires_ns))
    assert_one_row_per_field(result, CHANNELS)
    assert_baselines(result)  # the value is kept, only flagged
    expected = CAL_DUE if flagged else OK
    np.testing.assert_array_equal(result.readings.quality, [expected] * 4)


def test_calibration_flag_starts_at_the_expiry_instant() -> None:
    for expires_ns, expected in ((NOW_NS, CAL_DUE), (NOW_NS + 1, OK)):
        [result], _ = run(poll_simulated(FOUR_GAS, simulation(), calibration_expires_ns=expires_ns))
        np.testing.assert_array_equal(result.readings.quality, [expected] * 4)


def test_calibration_due_adds_to_failure_flags() -> None:
    [result], _ = run(
        poll_simulated(FOUR_GAS, simulation(), device_id=9, calibration_expires_ns=NOW_NS - 1)
    )
    assert np.isnan(result.readings.value).all()
    np.testing.assert_array_equal(result.readings.quality, [EXCEPTION | CAL_DUE] * 4)


@pytest.mark.parametrize(
    ("bit", "expected"),
    [
        (0, [FAULT, OK, OK, OK]),
        (1, [OK, FAULT, OK, OK]),
        (2, [OK, OK, FAULT, OK]),
        (3, [OK, OK, OK, FAULT]),
        (8, [WARMUP] * 4),
        (9, [CAL_DUE] * 4),
    ],
)
def test_status_fault_flags_the_right_channel(bit: int, expected: list[int]) -> None:
    faults = [StatusFault(bit=bit, start=0.0, duration=10.0)]
    [result], _ = run(poll_simulated(FOUR_GAS, simulation(status_faults=faults)))
    assert_one_row_per_field(result, CHANNELS)
    assert result.status_word == 1 << bit
    np.testing.assert_array_equal(result.readings.quality, expected)
    assert_baselines(result)


def test_status_fault_follows_the_scenario_clock() -> None:
    now = [0.0]
    faults = [StatusFault(bit=2, start=5.0, duration=2.0)]

    async def main() -> list[PollResult]:
        meter = SimulatedMeter(FOUR_GAS, simulation(status_faults=faults), clock=lambda: now[0])
        results = []
        async with served({1: meter}) as (_, transport):
            driver = ModbusMeter(transport, FOUR_GAS, 1, CHANNELS)
            for at in (4.9, 5.0, 6.9, 7.0):
                now[0] = at
                results.append(await driver.poll(NOW_NS))
        return results

    results = run(main())
    co_quality = [int(result.readings.quality[2]) for result in results]
    assert co_quality == [OK, FAULT, FAULT, OK]
    for result in results:
        assert_one_row_per_field(result, CHANNELS)
        np.testing.assert_array_equal(result.readings.quality[[0, 1, 3]], [OK, OK, OK])


MULTIBLOCK_PROFILE = """
schema = "hazmon.profile/1"
name = "test-e2e-multiblock"
description = "Input registers, converted units, at most two registers per request"
instrument_class = "gas"

[modbus]
max_registers_per_read = 2

[[modbus.fields]]
channel = "lel"
quantity = "lel"
unit = "%LEL"
register = "input"
address = 0
type = "uint16"
scale = 0.1

[[modbus.fields]]
channel = "temp"
quantity = "temperature"
unit = "K"
register = "input"
address = 1
type = "int16"
scale = 0.1

[[modbus.fields]]
channel = "o2"
quantity = "o2"
unit = "%vol"
register = "input"
address = 2
type = "float32"
order = "DCBA"

[[modbus.fields]]
channel = "co"
quantity = "co"
unit = "ppb"
register = "holding"
address = 0
type = "uint32"
order = "BADC"

[modbus.status]
register = "input"
address = 4
bits = [ { bit = 2, flag = "SENSOR_FAULT", channels = ["o2"] } ]
"""


def test_custom_profile_input_registers_several_blocks(tmp_path: Path) -> None:
    path = tmp_path / "test-e2e-multiblock.toml"
    path.write_text(MULTIBLOCK_PROFILE, encoding="utf-8")
    profile = load_profile(str(path))
    sim = Simulation(
        channels={
            "lel": ChannelScenario(baseline=42.0),
            "temp": ChannelScenario(baseline=293.1),  # K
            "o2": ChannelScenario(baseline=20.5),
            "co": ChannelScenario(baseline=12000.0),  # ppb
        },
        status_faults=[StatusFault(bit=2, start=0.0, duration=1.0)],
    )
    [result], server = run(poll_simulated(profile, sim))
    channels = np.arange(10, 14, dtype=np.int32)
    assert_one_row_per_field(result, channels)
    # Canonical units: %LEL, °C (293.1 K), %vol, ppm (12000 ppb)
    np.testing.assert_allclose(result.readings.value, [42.0, 19.95, 20.5, 12.0], atol=1e-9)
    np.testing.assert_array_equal(result.readings.quality, [OK, OK, FAULT, OK])
    assert result.status_word == 0b100
    # holding 0+2, input 0+2, input 2+2, input 4+1
    assert server.requests_served == {1: 4}


def test_constructor_checks_channel_numbers_and_does_no_io() -> None:
    async def main() -> None:
        transport = ModbusTcpTransport("127.0.0.1", closed_port(), timeout=SHORT_TIMEOUT)
        with pytest.raises(ValueError, match="3 channel numbers for the 4 channels"):
            ModbusMeter(transport, FOUR_GAS, 1, CHANNELS[:3])
        driver = ModbusMeter(transport, FOUR_GAS, 1, CHANNELS)
        assert not transport.connected
        assert len(driver.decoder.blocks) == 1
        transport.close()

    run(main())


def test_transport_can_be_built_outside_an_event_loop() -> None:
    transport = ModbusTcpTransport("127.0.0.1", 502, timeout=SHORT_TIMEOUT)
    assert transport.address == "127.0.0.1:502"
    assert not transport.connected


# ---------------------------------------------------------------------------------
# link failures


def test_silent_server_gives_comm_timeout() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # accept, never answer, until the client leaves

    async def main() -> tuple[list[PollResult], float]:
        async with (
            RawServer(silent) as server,
            ModbusTcpTransport("127.0.0.1", server.port, timeout=SHORT_TIMEOUT) as transport,
        ):
            driver = ModbusMeter(transport, FOUR_GAS, 1, CHANNELS)
            started = time.monotonic()
            results = [await driver.poll(NOW_NS), await driver.poll(NOW_NS)]
            return results, time.monotonic() - started

    results, elapsed = run(main())
    for result in results:
        assert_all_failed(result, TIMEOUT)
        assert result.exception_codes == ()
        assert len(result.errors) == 1
        assert f"no reply within {SHORT_TIMEOUT} s" in result.errors[0]
    assert elapsed >= 2 * SHORT_TIMEOUT * 0.9  # waited out both attempts (no upper bound: load)


def test_nothing_listening_connect_raises() -> None:
    port = closed_port()

    async def main() -> None:
        transport = ModbusTcpTransport("127.0.0.1", port, timeout=SHORT_TIMEOUT)
        try:
            await transport.connect()
        finally:
            transport.close()

    with pytest.raises(TransportConnectionError, match=f"cannot connect to 127.0.0.1:{port}"):
        run(main())


def test_nothing_listening_poll_gives_comm_error() -> None:
    port = closed_port()

    async def main() -> PollResult:
        transport = ModbusTcpTransport("127.0.0.1", port, timeout=SHORT_TIMEOUT)
        try:
            return await ModbusMeter(transport, FOUR_GAS, 1, CHANNELS).poll(NOW_NS)
        finally:
            transport.close()

    result = run(main())
    assert_all_failed(result, COMM_ERROR)
    assert result.errors == (f"cannot connect to 127.0.0.1:{port}",)


def test_server_gone_after_connect_gives_comm_error_not_an_exception() -> None:
    async def main() -> tuple[PollResult, list[PollResult]]:
        server = ModbusTcpServer("127.0.0.1", 0, {1: SimulatedMeter(FOUR_GAS, simulation())})
        await server.start()
        transport = ModbusTcpTransport(*server.address, timeout=SHORT_TIMEOUT)
        try:
            await transport.connect()
            driver = ModbusMeter(transport, FOUR_GAS, 1, CHANNELS)
            before = await driver.poll(NOW_NS)
            await server.stop()
            after = [await driver.poll(NOW_NS) for _ in range(3)]
        finally:
            transport.close()
        return before, after

    before, after = run(main())
    assert_baselines(before)
    for result in after:
        assert_all_failed(result, COMM_ERROR)
        assert len(result.errors) == 1


def test_reply_with_too_few_registers_gives_comm_error() -> None:
    async def short(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            transaction, unit, function, _address, _count = await read_request(reader)
            writer.write(reply(transaction, unit, function, [1]))
            await writer.drain()

    async def main() -> PollResult:
        async with (
            RawServer(short) as server,
            ModbusTcpTransport("127.0.0.1", server.port, timeout=SHORT_TIMEOUT) as transport,
        ):
            return await ModbusMeter(transport, FOUR_GAS, 1, CHANNELS).poll(NOW_NS)

    result = run(main())
    assert_all_failed(result, COMM_ERROR)
    assert "asked for 9 registers, got 1" in result.errors[0]


def test_late_reply_is_not_taken_for_the_next_request() -> None:
    requests = [0]

    async def slow_first(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            transaction, unit, function, _address, count = await read_request(reader)
            requests[0] += 1
            if requests[0] == 1:
                await asyncio.sleep(SHORT_TIMEOUT + 0.1)
                words = [999] * count  # lel would read 99.9
            else:
                words = [100] * count  # lel 10.0, o2 10.0, co 100
            writer.write(reply(transaction, unit, function, words))
            await writer.drain()

    async def main() -> tuple[PollResult, PollResult]:
        async with (
            RawServer(slow_first) as server,
            ModbusTcpTransport("127.0.0.1", server.port, timeout=SHORT_TIMEOUT) as transport,
        ):
            driver = ModbusMeter(transport, FOUR_GAS, 1, CHANNELS)
            first = await driver.poll(NOW_NS)
            await asyncio.sleep(0.15)  # the late reply arrives in between
            return first, await driver.poll(NOW_NS)

    first, second = run(main())
    assert_all_failed(first, TIMEOUT)
    assert_one_row_per_field(second, CHANNELS)
    np.testing.assert_allclose(second.readings.value[:3], [10.0, 10.0, 100.0], atol=1e-9)
    assert second.status_word == 100


async def _dropping(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await read_request(reader)  # read the request, then hang up without a reply


async def _malformed(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    transaction, unit, function, _address, _count = await read_request(reader)
    # A complete MBAP frame whose PDU claims 2 data bytes but carries 1.
    writer.write(struct.pack(">HHHBBB", transaction, 0, 4, unit, function, 2) + b"\x00")
    await writer.drain()
    await reader.read()


@pytest.mark.parametrize("handler", [_dropping, _malformed], ids=["peer-hangs-up", "malformed"])
def test_broken_link_never_escapes_poll(handler: Handler) -> None:
    async def main() -> list[PollResult]:
        async with (
            RawServer(handler) as server,
            ModbusTcpTransport("127.0.0.1", server.port, timeout=SHORT_TIMEOUT) as transport,
        ):
            driver = ModbusMeter(transport, FOUR_GAS, 1, CHANNELS)
            return [await driver.poll(NOW_NS), await driver.poll(NOW_NS)]

    for result in run(main()):
        assert_one_row_per_field(result, CHANNELS)
        assert np.isnan(result.readings.value).all()
        # Flagged as a failed request of some kind, never OK, never an exception.
        assert all(int(q) in (TIMEOUT, COMM_ERROR) for q in result.readings.quality)
        assert len(result.errors) == 1


@pytest.mark.parametrize("handler", [_dropping, _malformed], ids=["peer-hangs-up", "malformed"])
def test_broken_link_is_comm_error(handler: Handler) -> None:
    async def main() -> PollResult:
        async with (
            RawServer(handler) as server,
            ModbusTcpTransport("127.0.0.1", server.port, timeout=SHORT_TIMEOUT) as transport,
        ):
            return await ModbusMeter(transport, FOUR_GAS, 1, CHANNELS).poll(NOW_NS)

    assert_all_failed(run(main()), COMM_ERROR)
