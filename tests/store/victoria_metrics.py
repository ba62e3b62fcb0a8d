"""A real ``victoria-metrics`` process for the tests: start, read back, stop."""

from __future__ import annotations

import json
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

#: (metric name, sorted labels, time [ms]) of one stored point.
PointKey = tuple[str, tuple[tuple[str, str], ...], int]


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class VictoriaMetrics:
    """A real ``victoria-metrics`` single node on a free port with its own data folder.

    Started with ``-dedup.minScrapeInterval=1ms`` so that a replayed point (same series,
    same millisecond) is kept once, as the outbox's idempotent replay expects.
    """

    def __init__(self, binary: str, data: Path) -> None:
        self.binary = binary
        self.data = data
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = (self.data.parent / f"vm-{self.port}.log").open("ab")
        self.process = subprocess.Popen(
            [
                self.binary,
                f"-storageDataPath={self.data}",
                f"-httpListenAddr=127.0.0.1:{self.port}",
                "-dedup.minScrapeInterval=1ms",
                "-retentionPeriod=100y",
                "-loggerLevel=ERROR",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"victoria-metrics exited with {self.process.returncode}")
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=1) as answer:
                    if answer.read().strip() == b"OK":
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"victoria-metrics did not answer /health on {self.url}")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None

    def export(self, selector: str) -> list[dict[str, Any]]:
        """Every series matching ``selector``, as /api/v1/export answers (after a flush)."""
        with urllib.request.urlopen(f"{self.url}/internal/force_flush", timeout=10):
            pass
        query = urllib.parse.urlencode({"match[]": selector, "start": "0"})
        with urllib.request.urlopen(f"{self.url}/api/v1/export?{query}", timeout=30) as answer:
            return [json.loads(line) for line in answer.read().splitlines() if line.strip()]

    def points(self, selector: str) -> dict[PointKey, float]:
        """(metric name, labels, time [ms]) → value of every stored point."""
        stored = {}
        for series in self.export(selector):
            labels = series["metric"]
            name = labels.pop("__name__")
            key = tuple(sorted(labels.items()))
            for timestamp, value in zip(series["timestamps"], series["values"], strict=True):
                stored[(name, key, timestamp)] = value
        return stored

    def wait_for_points(
        self, selector: str, count: int, timeout: float = 30
    ) -> dict[PointKey, float]:
        """Read back until ``count`` points are there (ingestion is asynchronous)."""
        deadline = time.monotonic() + timeout
        while True:
            stored = self.points(selector)
            if len(stored) >= count or time.monotonic() > deadline:
                return stored
            time.sleep(0.1)
