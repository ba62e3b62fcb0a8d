"""Alert latency: a threshold crossing in the simulator to the alert on MQTT.

Run: ``.venv/bin/python benchmarks/bench_alert_latency.py [--devices 30]
[--interval 1.0] [--duration 40]``. ``hazmon run``'s service (in this process, with a
Mosquitto of its own and the alert route ``mqtt``) polls ``--devices`` simulated
gas detectors over Modbus TCP every ``--interval`` seconds. Each detector's LEL
steps from 0 to 80 %LEL (past A1 and A2) once per period, at a seeded random phase,
and drops back a second later. A separate MQTT client receives the ``raise`` events
on ``hazmon/<site>/alerts/event/...``.

Latency is measured on the simulator's own timeline: the crossing happens at the
step's start in the meter's scenario time; its wall-clock instant is the meter's
start (its clock is ``time.monotonic``) plus that time. The latency of an alert is
its arrival at the subscriber minus that instant. A poll sees the crossing between 0
and one interval after it happens, so the floor is uniform on [0, interval]; the
target is p99 ≤ one interval + 50 ms. Prints p50, p99 and max, in intervals and ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
from rich.console import Console

from hazmon.acquisition.alert_routes import alert_topic
from hazmon.acquisition.service import ServiceOptions, run_service
from hazmon.config.site import SiteConfig
from hazmon.drivers.mqtt_adapter import MqttConnection, MqttSettings
from hazmon.simulators.site import SimulatedSite

SITE = "latency"
STEP_RISE = 0.001  # [s] the step's rise: a crossing at its start, within 1 ms


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def site_config(
    devices: int, interval: float, period: float, port: int, folder: Path
) -> SiteConfig:
    rng = random.Random(7)
    device_list = []
    for number in range(devices):
        start = rng.uniform(0.1, period - 1.5)
        device_list.append(
            {
                "id": f"gd-{number:03d}",
                "profile": "generic-4gas",
                "address": f"127.0.0.1:{20000 + number}",
                "poll_interval": interval,
                "simulation": {
                    "period": period,
                    "channels": {
                        "lel": {
                            "baseline": 0.0,
                            "events": [
                                {
                                    "kind": "leak",
                                    "start": start,
                                    "rise": STEP_RISE,
                                    "hold": 1.0,
                                    "decay": 0.01,
                                    "amplitude": 80.0,
                                }
                            ],
                        }
                    },
                },
            }
        )
    return SiteConfig.model_validate(
        {
            "schema": "hazmon.site/1",
            "name": SITE,
            "enterprise": "Latency Bench",
            "devices": device_list,
            "stores": {"sqlite": str(folder / "bench.db")},
            "mqtt": {"host": "127.0.0.1", "port": port},
            "alerts": {
                "routes": [{"kind": "mqtt"}],
                "dedupe_window": 0.0,
                "rate_burst": 100000,
                "rate_per_minute": 1e6,
            },
        }
    )


async def measure(args: argparse.Namespace, port: int, folder: Path) -> list[float]:
    site = site_config(args.devices, args.interval, args.period, port, folder)
    starts = {
        device.id: device.simulation.channels["lel"].events[0].start  # type: ignore[union-attr]
        for device in site.devices
    }
    latencies: list[float] = []
    stop, ready = asyncio.Event(), asyncio.Event()
    async with SimulatedSite(site, free_ports=True) as simulated:
        # Wall-clock instant of each meter's scenario time 0 [ns].
        offset_ns = time.time_ns() - time.monotonic() * 1e9
        origin = {name: offset_ns + meter.started * 1e9 for name, meter in simulated.meters.items()}
        watcher = MqttConnection(MqttSettings("127.0.0.1", port))
        await watcher.connect()
        await watcher.subscribe(alert_topic(SITE, "event", "+/lel"))
        service = asyncio.create_task(
            run_service(
                site,
                Console(quiet=True),
                ServiceOptions(
                    addresses=simulated.addresses, live=False, stop=stop, manager_ready=ready
                ),
            )
        )
        await ready.wait()
        warmup_until = time.monotonic() + args.interval * 2

        async def collect() -> None:
            async for message in watcher.messages():
                event = json.loads(message.payload)
                if event["kind"] != "raise" or time.monotonic() < warmup_until:
                    continue
                device = event["device"]
                # The crossing before the reading that raised the alert.
                elapsed = (event["ts"] - origin[device]) / 1e9
                crossing = (elapsed - starts[device]) // args.period * args.period + starts[device]
                crossing_ns = origin[device] + crossing * 1e9
                latencies.append((message.received_ns - crossing_ns) / 1e9)

        collector = asyncio.create_task(collect())
        await asyncio.sleep(args.duration)
        stop.set()
        await service
        collector.cancel()
        await watcher.close()
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=30)
    parser.add_argument("--interval", type=float, default=1.0, help="[s] poll interval")
    parser.add_argument("--period", type=float, default=4.0, help="[s] between steps")
    parser.add_argument("--duration", type=float, default=40.0, help="[s]")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        port = free_port()
        config = Path(folder) / "mosquitto.conf"
        config.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\nlog_dest none\n")
        broker = subprocess.Popen(
            [shutil.which("mosquitto") or "/usr/sbin/mosquitto", "-c", str(config)]
        )
        time.sleep(0.5)
        try:
            latencies = asyncio.run(measure(args, port, Path(folder)))
        finally:
            broker.terminate()
            broker.wait()
    values = np.array(latencies)
    p50, p99 = np.percentile(values, [50, 99])
    interval = args.interval
    print(f"{len(values)} alerts from {args.devices} meters polled every {interval} s")
    for name, value in (("p50", p50), ("p99", p99), ("max", values.max()), ("min", values.min())):
        print(f"{name}: {value * 1000:8.1f} ms = {value / interval:.3f} × interval")
    target = interval + 0.050
    print(
        f"target p99 ≤ interval + 50 ms = {target * 1000:.0f} ms: "
        f"{'met' if p99 <= target else 'MISSED'}"
    )


if __name__ == "__main__":
    main()
