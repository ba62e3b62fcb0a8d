"""A simulated 9600-baud RS-485 line with 8 meters, polled as fast as the line allows.

Run: ``.venv/bin/python benchmarks/bench_modbus_rtu_line.py [--meters 8] [--baudrate 9600]
[--duration 15]``. The line is the simulators' pseudo-terminal RS-485 line, which
paces every reply byte at the baud rate and starts each reply t3.5 after the request
has crossed the line; the driver keeps t3.5 after each reply. Every meter is polled
in a loop with no pause (one 9-register read of the generic-4gas map per poll), so
the bus owner is the only thing spacing requests.

Prints transactions per second and their ratio to the line's theoretical maximum:
``1 / ((request + reply bytes) × 11 bits / baud + 2 × t3.5)`` (11 bits a character,
as the Modbus serial line spec counts RTU: 8 data bits, parity or a second stop bit).
"""

from __future__ import annotations

import argparse
import asyncio
import time

import numpy as np

from hazmon.config.addresses import parse_address
from hazmon.config.profile import load_profile
from hazmon.config.site import ChannelScenario, Simulation
from hazmon.drivers.modbus_adapter import open_transport
from hazmon.drivers.modbus_meter import ModbusMeter
from hazmon.simulators.meter import SimulatedMeter
from hazmon.simulators.rtu import PtyRtuServer

BITS_PER_CHARACTER = 11
REQUEST_BYTES = 8


async def measure(meters: int, baudrate: int, duration: float) -> tuple[int, int, float, int]:
    profile = load_profile("generic-4gas")
    units = {
        unit: SimulatedMeter(
            profile, Simulation(channels={"lel": ChannelScenario(baseline=float(unit))})
        )
        for unit in range(1, meters + 1)
    }
    registers = sum(
        block.count
        for block in ModbusMeter(
            open_transport(parse_address("rtu://unused")), profile, 1, np.arange(4, dtype=np.int32)
        ).decoder.blocks
    )
    # 8N2: 11 bits a character without parity (a pty refuses parity bits).
    async with PtyRtuServer(units, baudrate=baudrate, stopbits=2) as line:
        transport = open_transport(parse_address(line.address), timeout=1.0)
        await transport.connect()
        polls = dict.fromkeys(units, 0)
        failures = 0
        loop = asyncio.get_running_loop()
        end = loop.time() + duration

        async def poll_forever(unit: int) -> None:
            nonlocal failures
            driver = ModbusMeter(transport, profile, unit, np.arange(4, dtype=np.int32))
            while loop.time() < end:
                result = await driver.poll()
                polls[unit] += 1
                failures += bool(result.errors)

        # Warm up (connect, first frames), then count from a clean start.
        await ModbusMeter(transport, profile, 1, np.arange(4, dtype=np.int32)).poll()
        started = time.perf_counter()
        requests_before = transport.requests
        async with asyncio.TaskGroup() as group:
            for unit in units:
                group.create_task(poll_forever(unit))
        elapsed = time.perf_counter() - started
        transactions = transport.requests - requests_before
        transport.close()
    return transactions, failures, elapsed, registers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--meters", type=int, default=8)
    parser.add_argument("--baudrate", type=int, default=9600)
    parser.add_argument("--duration", type=float, default=15.0, help="[s]")
    args = parser.parse_args()
    transactions, failures, elapsed, registers = asyncio.run(
        measure(args.meters, args.baudrate, args.duration)
    )
    reply_bytes = 5 + 2 * registers
    character = BITS_PER_CHARACTER / args.baudrate
    silent = 0.00175 if args.baudrate > 19200 else 3.5 * character
    per_transaction = (REQUEST_BYTES + reply_bytes) * character + 2 * silent
    theoretical = 1.0 / per_transaction
    measured = transactions / elapsed
    print(
        f"{args.meters} meters on a simulated {args.baudrate}-baud RS-485 line, "
        f"{elapsed:.1f} s: {transactions} transactions ({failures} failed polls)"
    )
    print(
        f"request {REQUEST_BYTES} B + reply {reply_bytes} B at {BITS_PER_CHARACTER} bits a "
        f"character + 2 × t3.5 ({silent * 1e3:.2f} ms) = {per_transaction * 1e3:.2f} ms: "
        f"theoretical {theoretical:.2f} transactions/s"
    )
    print(
        f"measured {measured:.2f} transactions/s; ratio {measured / theoretical:.3f} (target 0.85)"
    )


if __name__ == "__main__":
    main()
