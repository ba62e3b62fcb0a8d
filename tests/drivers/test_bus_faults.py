"""A shared RS-485 line end to end: pseudo-terminals and RTU over TCP, fault injection.

Every injected fault must reach the right quality flag on its meter while the other
meters on the line keep their schedule. The schedule is asserted from the poll
timestamps recorded by the poll loop: each healthy meter has exactly one successful
poll in every slot of its interval (no slot missed, none doubled), whatever the
faulty meter does. No assertion depends on how long anything took.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
import pytest

from hazmon.config.addresses import parse_address
from hazmon.config.profile import Calibration, load_profile
from hazmon.config.quality import Quality
from hazmon.config.site import ChannelScenario, FaultInjection, FaultKind, Simulation
from hazmon.drivers.modbus_adapter import ModbusTransport, open_transport
from hazmon.drivers.modbus_meter import ModbusMeter, PollResult
from hazmon.drivers.schedule import Backoff, poll_on_schedule
from hazmon.simulators.meter import SimulatedMeter
from hazmon.simulators.rtu import PtyRtuServer, RtuOverTcpServer

T = TypeVar("T")
#: The profile asks 60 s of warm-up; these meters were on before their link opened.
FOUR_GAS = load_profile("generic-4gas").model_copy(
    update={"calibration": Calibration(warmup_seconds=0)}
)
INTERVAL = 0.5  # [s] every meter's poll interval
TIMEOUT = 0.25  # [s] every meter's reply timeout: a loaded machine still answers in it
HEALTHY_POLLS = 4  # polls of each healthy meter before the test stops
LEL = {1: 11.1, 2: 22.2, 3: 33.3}  # [%LEL] each unit's reading


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(asyncio.wait_for(coroutine, timeout=60.0))


def simulation(unit: int, faults: list[FaultInjection] | None = None) -> Simulation:
    return Simulation(channels={"lel": ChannelScenario(baseline=LEL[unit])}, faults=faults or [])


@dataclass
class Record:
    """What the poll loop reported for one meter."""

    started: list[float] = field(default_factory=list)
    results: list[PollResult] = field(default_factory=list)
    asked: list[bool] = field(default_factory=list)


async def poll_line(transport: ModbusTransport, stop_after: int) -> dict[int, Record]:
    """Poll units 1, 2 and 3 on ``transport`` until units 1 and 3 have ``stop_after`` polls."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    records = {unit: Record() for unit in (1, 2, 3)}
    origin = loop.time()

    def recorder(unit: int) -> Any:
        def on_result(result: PollResult, asked: bool) -> None:
            record = records[unit]
            # ts is taken when the poll starts; keep it on the loop clock as well.
            record.started.append(loop.time() - origin)
            record.results.append(result)
            record.asked.append(asked)
            if all(len(records[u].results) >= stop_after for u in (1, 3)):
                stop.set()

        return on_result

    await transport.connect()
    try:
        async with asyncio.TaskGroup() as group:
            for unit in (1, 2, 3):
                meter = ModbusMeter(
                    transport, FOUR_GAS, unit, np.arange(4, dtype=np.int32), timeout=TIMEOUT
                )
                meter.busy_delay = 0.01
                backoff = Backoff(1.0, 4.0, rng=random.Random(unit))
                group.create_task(
                    poll_on_schedule(meter, INTERVAL, recorder(unit), stop, backoff=backoff)
                )
    finally:
        transport.close()
    return records


def assert_kept_schedule(record: Record, polls: int = HEALTHY_POLLS) -> None:
    """One successful poll per slot, slots counted from the first poll."""
    assert len(record.results) >= polls
    assert all(record.asked)
    for result in record.results:
        assert result.errors == ()
        np.testing.assert_array_equal(result.readings.quality, [0, 0, 0, 0])
    # ts of the poll [ns] relative to the first: poll i lies in slot i.
    ts = np.array([int(result.readings.ts[0]) for result in record.results], dtype=np.int64)
    slots = (ts - ts[0]) / 1e9 / INTERVAL
    np.testing.assert_array_equal(np.floor(slots + 0.5).astype(int), np.arange(len(ts)))


TIMEOUT_FLAG = int(Quality.COMM_TIMEOUT)
ERROR_FLAG = int(Quality.COMM_ERROR)
CRC_FLAG = int(Quality.CRC_ERROR)
EXCEPTION_FLAG = int(Quality.DEVICE_EXCEPTION)

#: Fault → (flag expected on the faulty meter's readings, exception code kept).
SERIAL_FAULTS: list[tuple[FaultInjection, int, int | None]] = [
    (FaultInjection(kind="no_reply"), TIMEOUT_FLAG, None),
    (FaultInjection(kind="late_reply", delay=0.4), TIMEOUT_FLAG, None),
    (FaultInjection(kind="exception", code=2), EXCEPTION_FLAG, 2),
    (FaultInjection(kind="exception", code=4), EXCEPTION_FLAG, 4),
    (FaultInjection(kind="exception", code=6), EXCEPTION_FLAG, 6),
    (FaultInjection(kind="exception", code=11), EXCEPTION_FLAG, 11),
    (FaultInjection(kind="bad_crc"), CRC_FLAG, None),
    (FaultInjection(kind="split_frame", delay=0.02), 0, None),
    (FaultInjection(kind="garbage"), ERROR_FLAG, None),
    (FaultInjection(kind="wrong_unit_id"), ERROR_FLAG, None),
    (FaultInjection(kind="disconnect"), TIMEOUT_FLAG, None),  # on a line: drops off it
]


def _fault_id(case: tuple[FaultInjection, int, int | None]) -> str:
    fault = case[0]
    return f"{fault.kind}-{fault.code:02X}" if fault.code else fault.kind


@pytest.mark.parametrize("case", SERIAL_FAULTS, ids=[_fault_id(c) for c in SERIAL_FAULTS])
def test_fault_on_a_pty_line_flags_its_meter_only(
    case: tuple[FaultInjection, int, int | None],
) -> None:
    fault, flag, code = case

    async def main() -> tuple[dict[int, Record], dict[int, int], int]:
        units = {
            1: SimulatedMeter(FOUR_GAS, simulation(1)),
            2: SimulatedMeter(FOUR_GAS, simulation(2, [fault])),
            3: SimulatedMeter(FOUR_GAS, simulation(3)),
        }
        async with PtyRtuServer(units, baudrate=115200) as line:
            transport = open_transport(parse_address(line.address))
            records = await poll_line(transport, HEALTHY_POLLS)
            return records, dict(line.requests_served), transport.connections

    records, served, connections = run(main())
    for unit in (1, 3):
        assert_kept_schedule(records[unit])
        assert records[unit].results[0].readings.value[0] == pytest.approx(LEL[unit], abs=0.05)
    faulty = [r for r, asked in zip(records[2].results, records[2].asked, strict=True) if asked]
    assert faulty, "the faulty meter was asked at least once"
    for result in faulty:
        np.testing.assert_array_equal(result.readings.quality, [flag] * 4)
        if flag:
            assert np.isnan(result.readings.value).all()
            assert len(result.errors) == 1
        else:
            assert result.readings.value[0] == pytest.approx(LEL[2], abs=0.05)
        assert result.exception_codes == ((code,) if code is not None else ())
    if fault.kind == "exception" and fault.code == 6:
        # busy: asked again three times per poll
        assert served[2] == 4 * len(faulty)
    # A silent meter is set aside (its rows still come, flagged, without asking).
    if flag == TIMEOUT_FLAG:
        assert not all(records[2].asked)
        for result in records[2].results:
            np.testing.assert_array_equal(result.readings.quality, [TIMEOUT_FLAG] * 4)
    # The port is never closed because one meter is silent (pymodbus#1654).
    assert connections == 1


def test_silent_meter_never_closes_the_serial_port() -> None:
    async def main() -> tuple[list[int], int, bool, list[float]]:
        units = {1: SimulatedMeter(FOUR_GAS, simulation(1))}
        async with PtyRtuServer(units, baudrate=115200) as line:
            transport = open_transport(parse_address(line.address), timeout=0.03)
            await transport.connect()
            silent = ModbusMeter(transport, FOUR_GAS, 9, np.arange(4, dtype=np.int32))
            healthy = ModbusMeter(transport, FOUR_GAS, 1, np.arange(4, dtype=np.int32))
            flags = []
            # More silent requests in a row than pymodbus' retries + 3 limit.
            for _ in range(8):
                flags.append(int((await silent.poll()).readings.quality[0]))
            still_open = transport.connected
            value = (await healthy.poll()).readings.value
            transport.close()
            return flags, transport.connections, still_open, [float(v) for v in value]

    flags, connections, still_open, value = run(main())
    assert flags == [TIMEOUT_FLAG] * 8
    assert still_open
    assert connections == 1
    assert value[0] == pytest.approx(LEL[1], abs=0.05)


TCP_FAULTS: list[tuple[FaultKind, int]] = [
    ("no_reply", TIMEOUT_FLAG),
    ("bad_crc", CRC_FLAG),
    ("wrong_unit_id", ERROR_FLAG),
    ("disconnect", ERROR_FLAG),
    ("split_frame", 0),
]


@pytest.mark.parametrize(("kind", "flag"), TCP_FAULTS, ids=[k for k, _ in TCP_FAULTS])
def test_fault_over_rtu_over_tcp(kind: FaultKind, flag: int) -> None:
    fault = FaultInjection(kind=kind, delay=0.02)

    async def main() -> dict[int, Record]:
        units = {
            1: SimulatedMeter(FOUR_GAS, simulation(1)),
            2: SimulatedMeter(FOUR_GAS, simulation(2, [fault])),
            3: SimulatedMeter(FOUR_GAS, simulation(3)),
        }
        async with RtuOverTcpServer("127.0.0.1", 0, units) as server:
            host, port = server.address
            transport = open_transport(parse_address(f"rtu+tcp://{host}:{port}"))
            return await poll_line(transport, 3)

    records = run(main())
    if kind != "disconnect":
        # A disconnect drops the link under the other meters' requests too, which
        # then reconnect; their schedule is kept but a poll may meet the closed link.
        for unit in (1, 3):
            assert_kept_schedule(records[unit], 3)
    asked = [r for r, a in zip(records[2].results, records[2].asked, strict=True) if a]
    assert asked
    for result in asked:
        np.testing.assert_array_equal(result.readings.quality, [flag] * 4)


def test_fault_window_follows_the_scenario_clock() -> None:
    now = [0.0]
    window = FaultInjection(kind="exception", code=4, start=5.0, duration=2.0)

    async def main() -> list[tuple[int, ...]]:
        meter = SimulatedMeter(FOUR_GAS, simulation(1, [window]), clock=lambda: now[0])
        async with RtuOverTcpServer("127.0.0.1", 0, {1: meter}) as server:
            host, port = server.address
            transport = open_transport(parse_address(f"rtu+tcp://{host}:{port}"))
            async with transport:
                driver = ModbusMeter(transport, FOUR_GAS, 1, np.arange(4, dtype=np.int32))
                codes = []
                for at in (4.9, 5.0, 6.9, 7.0, 65.5):  # period 60 s: 65.5 wraps to 5.5
                    now[0] = at
                    codes.append((await driver.poll()).exception_codes)
                return codes

    assert run(main()) == [(), (4,), (4,), (), (4,)]
