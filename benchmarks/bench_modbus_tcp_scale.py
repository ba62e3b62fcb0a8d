"""Many Modbus TCP meters polled at 1 Hz: hazmon's scheduler against a naive loop.

Run: ``.venv/bin/python benchmarks/bench_modbus_tcp_scale.py [--meters 50,200,500,1000]
[--duration 8]``. For each N, N simulated meters (each its own Modbus TCP server on
its own port, all in a separate process) are polled once a second for ``duration``
seconds, first by hazmon (one task per meter, ``poll_on_schedule``, the transport and
decoder of the drivers), then by a naive sequential pymodbus loop (one client per
meter, each read awaited in turn, one pass a second), in the same run.

A poll is on schedule when it starts within 10 % of the interval (100 ms) after its
slot and gets a reply. Prints, for both, the fraction of the ``N × duration`` slots
polled on schedule and the CPU seconds (of this process) per 1,000 polls. With
``--latency`` each simulated meter answers that much later (real meters and gateways
take milliseconds), which is where a sequential loop falls behind.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import time
from multiprocessing.connection import Connection
from typing import Any

import numpy as np
from pymodbus.client import AsyncModbusTcpClient

from hazmon.config.profile import load_profile
from hazmon.config.site import ChannelScenario, FaultInjection, Simulation
from hazmon.drivers.modbus_adapter import ModbusTcpTransport
from hazmon.drivers.modbus_meter import ModbusMeter, PollResult
from hazmon.drivers.schedule import poll_on_schedule, spread_phases
from hazmon.simulators.meter import SimulatedMeter
from hazmon.simulators.modbus_tcp_server import ModbusTcpServer

INTERVAL = 1.0  # [s]
TOLERANCE = 0.1  # [s] a poll starting later than this after its slot is late


def serve(count: int, latency: float, pipe: Connection) -> None:
    """In the simulator process: ``count`` meters, each on its own port, each answering
    ``latency`` seconds after a request (a meter's own response time)."""

    async def main() -> None:
        profile = load_profile("generic-4gas")
        servers = []
        for unit in range(count):
            faults = [FaultInjection(kind="late_reply", delay=latency)] if latency > 0 else []
            simulation = Simulation(
                channels={"lel": ChannelScenario(baseline=unit % 100)}, faults=faults
            )
            meter = SimulatedMeter(profile, simulation)
            server = ModbusTcpServer("127.0.0.1", 0, {1: meter})
            await server.start()
            servers.append(server)
        pipe.send([server.address[1] for server in servers])
        await asyncio.get_running_loop().run_in_executor(None, pipe.recv)
        for server in servers:
            await server.stop()

    asyncio.run(main())


def on_schedule(starts: list[float], ok: list[bool], origin: float, duration: float) -> int:
    """Slots whose poll started within TOLERANCE of the slot and succeeded."""
    hits = set()
    for started, good in zip(starts, ok, strict=True):
        slot = int((started - origin) // INTERVAL)
        if good and started - origin - slot * INTERVAL <= TOLERANCE and slot < duration:
            hits.add(slot)
    return len(hits)


async def run_hazmon(ports: list[int], duration: float) -> tuple[float, float, int]:
    profile = load_profile("generic-4gas")
    loop = asyncio.get_running_loop()
    transports = [ModbusTcpTransport("127.0.0.1", port, timeout=1.0) for port in ports]
    await asyncio.gather(*(transport.connect() for transport in transports))
    stop = asyncio.Event()
    starts: list[list[float]] = [[] for _ in ports]
    oks: list[list[bool]] = [[] for _ in ports]
    # hazmon spreads the meters' first polls over the interval (as run_pollers does);
    # each meter's slots are counted from its own first slot.
    origin = loop.time() + 0.5
    firsts = spread_phases(origin, [INTERVAL] * len(ports))

    def recorder(index: int) -> Any:
        def on_result(result: PollResult, asked: bool) -> None:
            oks[index].append(asked and not result.errors)

        return on_result

    async def one(index: int, transport: ModbusTcpTransport) -> None:
        meter = ModbusMeter(transport, profile, 1, np.arange(4, dtype=np.int32))
        original = meter.poll

        async def timed_poll(now_ns: int | None = None) -> PollResult:
            starts[index].append(loop.time())
            return await original(now_ns)

        meter.poll = timed_poll  # type: ignore[method-assign]
        await poll_on_schedule(meter, INTERVAL, recorder(index), stop, start_at=firsts[index])

    cpu = time.process_time()
    async with asyncio.TaskGroup() as group:
        for index, transport in enumerate(transports):
            group.create_task(one(index, transport))
        await asyncio.sleep(origin - loop.time() + duration)
        stop.set()
    cpu = time.process_time() - cpu
    for transport in transports:
        transport.close()
    polls = sum(len(s) for s in starts)
    hits = sum(
        on_schedule(s, o, first, duration) for s, o, first in zip(starts, oks, firsts, strict=True)
    )
    return hits / (len(ports) * duration), cpu, polls


async def run_naive(ports: list[int], duration: float) -> tuple[float, float, int]:
    """What one writes first with pymodbus: for each second, read every meter in turn."""
    loop = asyncio.get_running_loop()
    clients = [AsyncModbusTcpClient("127.0.0.1", port=port, timeout=1.0) for port in ports]
    await asyncio.gather(*(client.connect() for client in clients))
    starts: list[list[float]] = [[] for _ in ports]
    oks: list[list[bool]] = [[] for _ in ports]
    origin = loop.time() + 0.5
    await asyncio.sleep(origin - loop.time())
    cpu = time.process_time()
    polls = 0
    second = 0
    end = origin + duration
    while loop.time() < end:
        # A pass that overruns its second starts the next one at once, late.
        for index, client in enumerate(clients):
            if loop.time() >= end:
                break
            starts[index].append(loop.time())
            try:
                response = await client.read_holding_registers(0, count=9, device_id=1)
                oks[index].append(not response.isError())
            except Exception:
                oks[index].append(False)
            polls += 1
        second = int((loop.time() - origin) // INTERVAL) + 1
        await asyncio.sleep(max(0.0, origin + second * INTERVAL - loop.time()))
    cpu = time.process_time() - cpu
    for client in clients:
        client.close()
    hits = sum(on_schedule(s, o, origin, duration) for s, o in zip(starts, oks, strict=True))
    return hits / (len(ports) * duration), cpu, polls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--meters", default="50,200,500,1000", help="comma-separated N")
    parser.add_argument("--duration", type=int, default=8, help="[s] per run")
    parser.add_argument(
        "--latency", type=float, default=0.0, help="[s] each meter's response time (default 0)"
    )
    args = parser.parse_args()
    print(f"meters answer {args.latency * 1e3:g} ms after a request; {args.duration} s per run")
    print(
        f"{'N':>5} | {'hazmon on schedule':>18} {'CPU s/1000 polls':>16} | "
        f"{'naive on schedule':>17} {'CPU s/1000 polls':>16}"
    )
    for count in (int(text) for text in args.meters.split(",")):
        parent, child = multiprocessing.Pipe()
        simulator = multiprocessing.Process(
            target=serve, args=(count, args.latency, child), daemon=True
        )
        simulator.start()
        ports = parent.recv()
        try:
            fraction, cpu, polls = asyncio.run(run_hazmon(ports, args.duration))
            naive_fraction, naive_cpu, naive_polls = asyncio.run(run_naive(ports, args.duration))
        finally:
            parent.send("stop")
            simulator.join(10)
        print(
            f"{count:>5} | {fraction:>17.1%} {1000 * cpu / max(polls, 1):>16.3f} | "
            f"{naive_fraction:>16.1%} {1000 * naive_cpu / max(naive_polls, 1):>16.3f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
