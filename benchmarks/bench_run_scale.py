"""CPU and resident memory of ``hazmon run`` polling many simulated meters at 1 Hz.

Run: ``.venv/bin/python benchmarks/bench_run_scale.py [--meters 500] [--warmup 10]
[--duration 30] [--baseline-meters 10]``. The simulated meters (four-gas detectors,
each its own Modbus TCP server on its own port) run in a separate process; ``hazmon
run SITE.toml --no-live`` runs as a process of its own on a generated site with one
device per meter (1 s interval, 4 channels, SQLite store, health every 10 s, console
alerts). After ``--warmup`` seconds its CPU time (user + system, from
``/proc/PID/stat``) and resident memory (``VmRSS``) are sampled over ``--duration``
seconds. The same is measured, in the same run, for ``--baseline-meters`` meters: the
ratio shows what each meter costs over the service's fixed cost. Also printed: readings
stored per second and polls skipped (a poll that could not start in its slot).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path

from hazmon.config.profile import load_profile
from hazmon.config.site import ChannelScenario, Simulation
from hazmon.simulators.meter import SimulatedMeter
from hazmon.simulators.modbus_tcp_server import ModbusTcpServer

TICKS = os.sysconf("SC_CLK_TCK")


def serve(count: int, pipe: Connection) -> None:
    """In the simulator process: ``count`` meters, each on its own port."""

    async def main() -> None:
        profile = load_profile("generic-4gas")
        servers = []
        for unit in range(count):
            simulation = Simulation(
                seed=unit,
                channels={
                    "lel": ChannelScenario(baseline=unit % 10, noise=0.2),
                    "o2": ChannelScenario(baseline=20.9, noise=0.02),
                },
            )
            server = ModbusTcpServer("127.0.0.1", 0, {1: SimulatedMeter(profile, simulation)})
            await server.start()
            servers.append(server)
        pipe.send([server.address[1] for server in servers])
        await asyncio.get_running_loop().run_in_executor(None, pipe.recv)
        for server in servers:
            await server.stop()

    asyncio.run(main())


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def write_site(folder: Path, ports: list[int]) -> Path:
    lines = [
        'schema = "hazmon.site/1"',
        'name = "scale"',
        'enterprise = "Scale Bench"',
        "[stores]",
        f'sqlite = "{folder / "scale.db"}"',
    ]
    for number, port in enumerate(ports):
        lines += [
            "[[devices]]",
            f'id = "gd-{number:04d}"',
            'profile = "generic-4gas"',
            f'address = "127.0.0.1:{port}"',
            "poll_interval = 1.0",
        ]
    path = folder / "scale.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def measure(meters: int, warmup: float, duration: float) -> dict[str, float]:
    parent, child = multiprocessing.Pipe()
    simulator = multiprocessing.Process(target=serve, args=(meters, child))
    simulator.start()
    ports: list[int] = parent.recv()
    with tempfile.TemporaryDirectory() as folder:
        site = write_site(Path(folder), ports)
        process = subprocess.Popen(
            [sys.executable, "-m", "hazmon.acquisition.cli", "run", str(site), "--no-live"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        started = time.monotonic()
        time.sleep(warmup)
        cpu_start, wall_start = cpu_seconds(process.pid), time.monotonic()
        rss_samples = []
        while time.monotonic() - wall_start < duration:
            time.sleep(1.0)
            rss_samples.append(rss_mib(process.pid))
        cpu = cpu_seconds(process.pid) - cpu_start
        wall = time.monotonic() - wall_start
        process.send_signal(signal.SIGTERM)
        lifetime = time.monotonic() - started
        process.communicate(timeout=60)
        with sqlite3.connect(Path(folder) / "scale.db") as db:
            stored = db.execute(
                "SELECT count(*) FROM readings r JOIN channels c ON c.id = r.channel_id "
                "WHERE c.quantity NOT LIKE 'health.%'"
            ).fetchone()[0]
    parent.send("stop")
    simulator.join(30)
    return {
        "cpu_percent": 100 * cpu / wall,
        "rss_mib": max(rss_samples),
        # Meter readings stored per second of the service's life, against 4 per meter.
        "fraction": stored / (4 * meters * lifetime),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--meters", type=int, default=500)
    parser.add_argument("--baseline-meters", type=int, default=10)
    parser.add_argument("--warmup", type=float, default=10.0, help="[s]")
    parser.add_argument("--duration", type=float, default=30.0, help="[s]")
    args = parser.parse_args()
    base = measure(args.baseline_meters, args.warmup, args.duration)
    full = measure(args.meters, args.warmup, args.duration)
    for meters, result in ((args.baseline_meters, base), (args.meters, full)):
        print(
            f"{meters:5d} meters at 1 Hz: CPU {result['cpu_percent']:6.1f} % of one core, "
            f"RSS {result['rss_mib']:6.1f} MiB; readings stored {result['fraction']:.1%} of "
            "4 per meter-second (startup included)"
        )
    per_meter_cpu = (full["cpu_percent"] - base["cpu_percent"]) / (
        args.meters - args.baseline_meters
    )
    per_meter_rss = (full["rss_mib"] - base["rss_mib"]) / (args.meters - args.baseline_meters)
    print(
        f"each extra meter: {per_meter_cpu:.3f} % CPU, {per_meter_rss * 1024:.0f} KiB RSS; "
        f"{args.meters} vs {args.baseline_meters} meters: "
        f"CPU ×{full['cpu_percent'] / base['cpu_percent']:.1f}"
    )


if __name__ == "__main__":
    main()
