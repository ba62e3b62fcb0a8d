"""``hazmon run`` as a process: SIGTERM stops it gracefully, with everything stored.

The simulated meters run in this process (a thread with its own event loop); the
service is a real subprocess, stopped with a real SIGTERM.
"""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hazmon.config.site import load_site
from hazmon.simulators.site import SimulatedSite


@pytest.fixture
def simulated_demo() -> Iterator[dict[str, str]]:
    """The demo site's meters on free ports, served from a thread."""
    _source, site = load_site("demo")
    loop = asyncio.new_event_loop()
    simulated = SimulatedSite(site, free_ports=True)
    loop.run_until_complete(simulated.start())
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield simulated.addresses
    finally:
        asyncio.run_coroutine_threadsafe(simulated.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def _site_file(tmp_path: Path, addresses: dict[str, str]) -> Path:
    lines = [
        'schema = "hazmon.site/1"',
        'name = "sigterm"',
        'enterprise = "Signal Co."',
        "",
        "[stores]",
        'sqlite = "readings.db"',  # relative: taken from the site file's folder
        "",
        "[service]",
        "health_interval = 0.2",
    ]
    for device, address in addresses.items():
        if address.startswith("serial://"):
            continue  # the demo kit's serial meters (issue 4) are not generic-4gas
        lines += [
            "",
            "[[devices]]",
            f'id = "{device}"',
            'profile = "generic-4gas"',
            f'address = "{address}"',
            "poll_interval = 0.1",
        ]
    path = tmp_path / "site.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _count(database: Path) -> int:
    try:
        with sqlite3.connect(database) as db:
            return int(db.execute("SELECT count(*) FROM readings").fetchone()[0])
    except sqlite3.OperationalError:
        return 0


@pytest.mark.usefixtures("english")
def test_sigterm_flushes_and_exits_cleanly(tmp_path: Path, simulated_demo: dict[str, str]) -> None:
    site = _site_file(tmp_path, simulated_demo)
    database = tmp_path / "readings.db"
    process = subprocess.Popen(
        [sys.executable, "-m", "hazmon.acquisition.cli", "run", str(site), "--no-live"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while _count(database) < 100:
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "no readings stored"
            time.sleep(0.1)
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, err
    assert "Summary" in out
    stored = _count(database)
    reported = int(out.split("Summary: ")[1].split(" readings stored")[0])
    assert stored == reported  # everything the pipeline took is in the file
    with sqlite3.connect(database) as db:
        health = db.execute(
            "SELECT count(*) FROM readings r JOIN channels c ON c.id = r.channel_id "
            "WHERE c.quantity = 'health.online'"
        ).fetchone()[0]
    assert health >= 3
