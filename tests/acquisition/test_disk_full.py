"""A disk that fills up or turns read-only is a state, not a crash (issue #17, found 4).

Real disks: each test mounts a small tmpfs of its own (root only; skipped with the
reason otherwise) and fills it with a file until the kernel answers ENOSPC, so SQLite
meets a genuinely full disk, not a simulated error. Nothing is timed: the tests wait
for states (``store_down``, readings waiting in memory, ``up`` again) with a generous
deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console

from hazmon.acquisition import pipeline as pipeline_module
from hazmon.acquisition.publish import MessageSpool, ReadingPublisher
from hazmon.acquisition.register_writer import RegisterWriter
from hazmon.acquisition.service import ServiceOptions, ServiceSummary, SiteService
from hazmon.analysis.events import Event
from hazmon.analysis.readings import Channel, ChannelTable, Readings
from hazmon.config.site import SiteConfig, load_site
from hazmon.config.standards import rules_by_quantity
from hazmon.drivers.mqtt_adapter import MqttConnection, MqttSettings
from hazmon.simulators.site import SimulatedSite
from hazmon.store.hazards import EventRecord, HazardContext
from hazmon.store.timeseries.sqlite import SqliteTimeSeries

HAZMON = [sys.executable, "-m", "hazmon.acquisition.cli"]
DEADLINE = 120.0  # [s] generous: the suite runs on loaded two-core machines

SITE = """
schema = "hazmon.site/1"
name = "disk"
enterprise = "Disk Test Co."
standards = ["gbt50493-2019"]

[[devices]]
id = "gd"
profile = "generic-4gas"
address = "127.0.0.1:1"
unit_id = 1
poll_interval = 0.1
location = "Tank farm"

[devices.simulation]
seed = 1
period = 30.0
"""


def _mount(target: Path, options: str) -> None:
    target.mkdir()
    answer = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(target)],
        capture_output=True,
        text=True,
        check=False,
    )
    if answer.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs (needs root): {answer.stderr.strip()}")


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Path]:
    """A fresh 16 MB tmpfs, unmounted afterwards."""
    target = tmp_path / "disk"
    _mount(target, "size=16m")
    yield target
    subprocess.run(["umount", "-l", str(target)], check=False)


def fill(disk: Path) -> Path:
    """Fill ``disk`` to the last byte (ENOSPC from the kernel); return the filler file."""
    filler = disk / "filler"
    block = b"\0" * 65536
    with filler.open("wb", buffering=0) as out:
        with contextlib.suppress(OSError):
            while True:
                out.write(block)
        # The last partial block: what a 64 KiB write could not take.
        with contextlib.suppress(OSError):
            while True:
                out.write(b"\0" * 512)
    probe = disk / "probe"
    with (
        pytest.raises(OSError, match="No space left") as full,
        probe.open("wb", buffering=0) as out,
    ):
        out.write(b"\0" * 4096)
    assert full.value.errno == errno.ENOSPC
    probe.unlink(missing_ok=True)
    return filler


def _site(tmp_path: Path) -> SiteConfig:
    path = tmp_path / "site.toml"
    path.write_text(SITE, encoding="utf-8")
    return load_site(str(path))[1]


async def _wait(what: str, condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + DEADLINE
    while not condition():
        assert time.monotonic() < deadline, f"no {what} within {DEADLINE} s"
        await asyncio.sleep(0.05)


def _run_through_a_full_disk(
    tmp_path: Path, disk: Path, wait_held: int
) -> tuple[ServiceSummary, SiteService, str]:
    """Run the site on ``disk``; fill it once readings are stored, keep it full until
    ``wait_held`` readings wait in memory (or were dropped), free it, stop once the
    store is up again."""
    site = _site(tmp_path)
    database = disk / "kit.db"
    console = Console(record=True, width=200)

    async def main() -> tuple[ServiceSummary, SiteService]:
        stop = asyncio.Event()
        async with SimulatedSite(site, free_ports=True) as simulated:
            options = ServiceOptions(
                addresses=simulated.addresses, live=False, database=database, stop=stop
            )
            service = SiteService(site, console, options)

            def held_or_dropped() -> int:
                pipeline = service.pipeline
                return 0 if pipeline is None else pipeline.waiting + pipeline.stats.dropped

            async def scenario() -> None:
                try:
                    await steps()
                finally:  # a failed wait must not leave the service running
                    stop.set()

            async def steps() -> None:
                await _wait(
                    "stored readings",
                    lambda: service.pipeline is not None and service.pipeline.stats.readings > 20,
                )
                filler = fill(disk)
                await _wait(
                    "a store_down state",
                    lambda: service.pipeline is not None and service.pipeline.store_state == "down",
                )
                await _wait(
                    f"{wait_held} readings held in memory", lambda: held_or_dropped() > wait_held
                )
                filler.unlink()
                await _wait(
                    "the store up again",
                    lambda: service.pipeline is not None and service.pipeline.store_state == "up",
                )

            task = asyncio.create_task(scenario())
            summary = await service.run()
            await task
            return summary, service

    summary, service = asyncio.run(main())
    return summary, service, console.export_text()


def _stored(database: Path) -> int:
    with contextlib.closing(sqlite3.connect(database)) as db:
        return int(db.execute("SELECT count(*) FROM readings").fetchone()[0])


def test_a_full_disk_holds_readings_in_memory_and_stores_them_when_space_returns(
    english: None, tmp_path: Path, disk: Path
) -> None:
    summary, _service, output = _run_through_a_full_disk(tmp_path, disk, wait_held=100)
    assert "STORE DOWN" in output
    assert "database or disk is full" in output
    assert "STORE OK" in output
    assert "Traceback" not in output
    assert summary.stats.dropped == 0
    # Every reading the pipeline took is stored: none was lost to the full disk.
    assert _stored(disk / "kit.db") == summary.stats.readings
    with SqliteTimeSeries(disk / "kit.db") as store:
        assert [outage.cause for outage in store.outages()] == []


def test_past_the_memory_bound_readings_are_dropped_counted_and_recorded(
    tmp_path: Path, disk: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pipeline_module, "STORE_HOLD_ROWS", 40)
    summary, _service, output = _run_through_a_full_disk(tmp_path, disk, wait_held=120)
    dropped = summary.stats.dropped
    assert dropped > 0
    assert "readings were dropped" in output
    # Dropped readings are counted, never silent: stored + dropped = taken.
    assert _stored(disk / "kit.db") + dropped == summary.stats.readings
    with SqliteTimeSeries(disk / "kit.db") as store:
        (outage,) = store.outages("disk")
    assert outage.cause == "store_unwritable"
    assert outage.dropped == dropped
    assert outage.end_ts > outage.start_ts


def _run_cli(database: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*HAZMON, "run", "demo", "--db", str(database), "--duration", "1", "--no-live"],
        capture_output=True,
        text=True,
        timeout=DEADLINE,
        env={**os.environ, "COLUMNS": "300"},
        check=False,
    )


@pytest.mark.parametrize("existing", [False, True], ids=["a new file", "an existing file"])
def test_a_full_disk_at_start_is_one_line_and_exit_2(disk: Path, existing: bool) -> None:
    if existing:  # the schema is there; noting the run is the first write
        SqliteTimeSeries(disk / "kit.db").__enter__().close()
    fill(disk)
    answer = _run_cli(disk / "kit.db")
    assert answer.returncode == 2, answer.stderr
    assert "Traceback" not in answer.stderr
    assert f"--db = '{disk / 'kit.db'}': cannot be written" in answer.stderr
    # SQLite's own words: a new file is "full"; on an existing one it reports an I/O error.
    why = "disk I/O error" if existing else "database or disk is full"
    assert f"cannot be written ({why})" in answer.stderr
    assert "free disk space" in answer.stderr


def test_events_wait_in_memory_while_the_register_spool_disk_is_full(
    tmp_path: Path, disk: Path
) -> None:
    rule = rules_by_quantity(("gbt50493-2019",))["lel"]
    assert rule is not None
    channel = Channel("disk", "gd", "lel", "%LEL", "methane", name="lel")

    def record(start: int) -> EventRecord:
        event = Event(0, start, start + 4, 62.5, start + 2, 2, 1, 5)
        return EventRecord.of(event, channel, rule, HazardContext("E", "x"), key=f"k{start}")

    alerts: list[object] = []
    writer = RegisterWriter(
        f"sqlite:///{tmp_path / 'register.db'}", disk / "kit.register-spool.db", alerts.append
    )
    filler = fill(disk)
    writer.record(record(1))  # the spool cannot even be created: kept in memory
    assert [waiting.key for waiting in writer.unspooled] == ["k1"]
    filler.unlink()
    writer.record(record(2))
    assert writer.unspooled == []
    assert writer.pending() == 2  # in the order they closed, the first included
    assert [item.label for item in writer.spool.oldest(2)] == ["k1", "k2"]
    assert not asyncio.run(writer.close(1.0))  # nothing copied (not started): both stay
    assert writer.left == 2


def test_mqtt_messages_wait_in_memory_while_their_spool_disk_is_full(disk: Path) -> None:
    """The service's MQTT publisher on a full disk keeps its numbered messages in memory
    and spools them, in order, once space returns (before: the error ended the service)."""
    channel = Channel("disk", "gd", "lel", "%LEL", "methane", name="lel")
    channels = ChannelTable([channel])
    settings = MqttSettings(host="127.0.0.1", port=1)  # never connected: no I/O here
    one = Readings.from_columns(
        np.array([1_700_000_000_000_000_000], np.int64), np.zeros(1), [12.5]
    )
    with MessageSpool(disk / "kit.mqtt-spool.db") as spool:
        publisher = ReadingPublisher(MqttConnection(settings), spool, channels)
        filler = fill(disk)
        publisher.add(one, np.zeros(1, np.uint8))
        assert publisher.spool_pending() == 0  # refused by the disk: kept
        assert len(publisher.unspooled) == 1
        filler.unlink()
        publisher.add(one, np.zeros(1, np.uint8))
        assert publisher.spool_pending() == 1
        assert len(publisher.unspooled) == 0
        assert publisher.dropped_messages == 0
        sequence = [json.loads(item.payload)["seq"] for item in spool.oldest(10)]
    assert sequence == [1, 2]  # both, in the order they were made


@pytest.fixture
def ext4_disk(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """A 32 MB ext4 image on a loop device, ``errors=remount-ro`` (what a real data
    disk is mounted with); yields the mount point and the image; unmounted afterwards."""
    image = tmp_path / "disk.img"
    target = tmp_path / "ext4"
    target.mkdir()
    with image.open("wb") as out:
        out.truncate(32 * 1024 * 1024)
    made = subprocess.run(
        ["mkfs.ext4", "-q", "-F", str(image)], capture_output=True, text=True, check=False
    )
    if made.returncode != 0:
        pytest.skip(f"cannot make an ext4 image: {made.stderr.strip()}")
    mounted = subprocess.run(
        ["mount", "-o", "loop,errors=remount-ro", str(image), str(target)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a loop device (needs root): {mounted.stderr.strip()}")
    try:
        if not Path(f"/sys/fs/ext4/{_device_of(target)}/trigger_fs_error").exists():
            pytest.skip("this kernel's ext4 has no trigger_fs_error (Linux 5.15 and later do)")
        yield target, image
    finally:
        subprocess.run(["umount", "-l", str(target)], check=False)


def _device_of(target: Path) -> str:
    answer = subprocess.run(
        ["findmnt", "-no", "SOURCE", str(target)], capture_output=True, text=True, check=True
    )
    return Path(answer.stdout.strip()).name


def _options_of(target: Path) -> str:
    answer = subprocess.run(
        ["findmnt", "-no", "OPTIONS", str(target)], capture_output=True, text=True, check=True
    )
    return answer.stdout.strip()


def _sync_then_break(target: Path) -> None:
    """Write back what is cached, then have ext4 meet an error (``errors=remount-ro``)."""
    os.sync()
    Path(f"/sys/fs/ext4/{_device_of(target)}/trigger_fs_error").write_text(
        "hazmon test: disk error\n", encoding="utf-8"
    )
    assert "emergency_ro" in _options_of(target) or "ro," in _options_of(target)


def _repair(target: Path, image: Path) -> None:
    """``umount`` (fails while anything holds a file on the disk), ``e2fsck``, ``mount``."""
    for command in (
        ["umount", str(target)],
        ["e2fsck", "-fy", str(image)],
        ["mount", "-o", "loop,errors=remount-ro", str(image), str(target)],
    ):
        answer = subprocess.run(command, capture_output=True, text=True, check=False)
        # e2fsck: 1 = errors corrected (the flag the triggered error left).
        assert answer.returncode in (0, 1), (command, answer.stderr)


def test_a_disk_turned_read_only_under_a_running_service_holds_counts_and_resumes(
    english: None, tmp_path: Path, ext4_disk: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The store's disk turns read-only while ``hazmon run`` runs; then it is repaired
    and mounted read-write again; the service carries on throughout.

    A plain ``mount -o remount,ro`` cannot do it: Linux refuses (EBUSY) while any file
    on the filesystem is open for writing, and a running store's is. A disk does turn
    read-only under a running writer when the kernel meets an error on a filesystem
    mounted ``errors=remount-ro``; ext4's ``trigger_fs_error`` raises exactly that
    error. The kernel's read-only state is then sticky until the filesystem is
    unmounted, so "read-write again" is what an operator does: ``umount`` (which only
    succeeds because the refused store let go of its files), ``e2fsck``, ``mount``.
    """
    target, image = ext4_disk
    monkeypatch.setattr(pipeline_module, "STORE_HOLD_ROWS", 40)
    # Only the readings store on the disk: the register and its spool elsewhere, as the
    # disk under test is the readings store's folder.
    site = _site(tmp_path)
    stores = site.stores.model_copy(
        update={"hazard_register": f"sqlite:///{tmp_path / 'register.db'}"}
    )
    site = site.model_copy(update={"stores": stores})
    (tmp_path / "spool").mkdir()
    (target / "kit.register-spool.db").symlink_to(tmp_path / "spool" / "register-spool.db")
    database = target / "kit.db"
    console = Console(record=True, width=300)
    marks: dict[str, int] = {}

    async def main() -> ServiceSummary:
        stop = asyncio.Event()
        async with SimulatedSite(site, free_ports=True) as simulated:
            options = ServiceOptions(
                addresses=simulated.addresses, live=False, database=database, stop=stop
            )
            service = SiteService(site, console, options)

            def pipeline() -> pipeline_module.Pipeline:
                assert service.pipeline is not None
                return service.pipeline

            async def steps() -> None:
                await _wait(
                    "stored readings",
                    lambda: service.pipeline is not None and service.pipeline.stats.readings > 20,
                )
                # What the kernel had not written back when it turns the disk read-only
                # is lost with the page cache (WAL, synchronous=NORMAL: as on a power
                # cut); sync first so the count below is the service's alone. No await
                # between the two: the pipeline (same loop) writes nothing in between.
                _sync_then_break(target)
                await _wait("a store_down state", lambda: pipeline().store_state == "down")
                # Past the memory bound (40): readings dropped, counted.
                await _wait("readings dropped", lambda: pipeline().stats.dropped > 20)
                assert pipeline().waiting <= 40
                # The operator's repair, in a thread: the service goes on meanwhile and
                # retries against a bare mount point (it must not make a new store there).
                await asyncio.to_thread(_repair, target, image)
                marks["rw_at"] = time.time_ns()
                await _wait("the store up again", lambda: pipeline().store_state == "up")
                stored = pipeline().stats.readings
                await _wait("more readings", lambda: pipeline().stats.readings > stored + 20)

            async def scenario() -> None:
                try:
                    await steps()
                finally:  # a failed wait must not leave the service running
                    stop.set()

            task = asyncio.create_task(scenario())
            summary = await service.run()
            await task
            return summary

    summary = asyncio.run(main())
    output = console.export_text()
    assert "Traceback" not in output
    assert "STORE DOWN" in output
    assert "STORE OK" in output
    dropped = summary.stats.dropped
    assert dropped > 20
    assert f"{dropped} readings were dropped" in output
    # Nothing silent: stored + dropped = taken, and the outage says how many.
    assert _stored(database) + dropped == summary.stats.readings
    with SqliteTimeSeries(database) as store:
        (outage,) = store.outages("disk")
        after = store.connection.execute(
            "SELECT count(*) FROM readings WHERE ts > ?", (marks["rw_at"],)
        ).fetchone()[0]
    assert outage.cause == "store_unwritable"
    assert outage.dropped == dropped
    assert after > 0  # readings taken after the disk came back are stored
