"""Shared test settings.

Tests that need a server (PostgreSQL, Mosquitto, VictoriaMetrics) skip with a clear
reason on a machine that lacks it. CI sets ``HAZMON_REQUIRE_SERVICES=1``: there every
server must be present, so a skip is turned into a failure that says which one.
"""

from __future__ import annotations

import getpass
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest

REQUIRE_SERVICES = os.environ.get("HAZMON_REQUIRE_SERVICES") == "1"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, None]:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    if REQUIRE_SERVICES and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = (
            f"skipped where HAZMON_REQUIRE_SERVICES=1 requires every service: {reason}"
        )


@pytest.fixture
def english(monkeypatch: pytest.MonkeyPatch) -> None:
    """The command line in English (a test of its English words; zh_CN is the default)."""
    monkeypatch.setenv("HAZMON_LANG", "en")


@pytest.fixture
def chinese(monkeypatch: pytest.MonkeyPatch) -> None:
    """The command line in Chinese whatever the machine's locale says."""
    monkeypatch.setenv("HAZMON_LANG", "zh_CN")


# A Mosquitto broker of the test's own, on a free port.
MOSQUITTO = shutil.which("mosquitto") or (
    "/usr/sbin/mosquitto" if os.path.exists("/usr/sbin/mosquitto") else None
)


def free_port() -> int:
    """A TCP port nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Broker:
    """``mosquitto`` on 127.0.0.1:``port`` with anonymous access; stop and start it again
    on the same port to test reconnection."""

    def __init__(
        self,
        directory: Path,
        port: int | None = None,
        *,
        settings: str = "allow_anonymous true\n",
    ) -> None:
        """``settings``: mosquitto.conf lines for the listener (anonymous by default;
        a password file, TLS files)."""
        if MOSQUITTO is None:
            pytest.skip("mosquitto is not installed (apt-get install mosquitto)")
        self.port = port or free_port()
        self.config = directory / "mosquitto.conf"
        # Started as root, mosquitto drops to user "mosquitto", who cannot read files in
        # the test's private folder; staying the current user changes nothing else.
        self.config.write_text(
            f"listener {self.port} 127.0.0.1\n{settings}persistence false\nlog_dest none\n"
            f"user {getpass.getuser()}\n",
            encoding="utf-8",
        )
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        assert MOSQUITTO is not None
        self.process = subprocess.Popen(
            [MOSQUITTO, "-c", str(self.config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"mosquitto exited: {self.process.stderr.read()!r}")  # type: ignore[union-attr]
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"mosquitto did not listen on {self.port} within 10 s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self.process = None


@pytest.fixture
def mqtt_broker(tmp_path: Path) -> Iterator[Broker]:
    """A running broker for one test."""
    broker = Broker(tmp_path)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()
