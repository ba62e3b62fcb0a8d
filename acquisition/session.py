"""One acquisition session: poll a site's meters into the pipeline until stopped.

Used by ``hazmon demo`` (against the simulated site); ``hazmon run`` is the service of
:mod:`hazmon.acquisition.service` (bounded queue, routes, health, publishing).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.live import Live

from hazmon.acquisition.alerts import ConsoleAlerts
from hazmon.acquisition.commands.common import wait_for_stop
from hazmon.acquisition.live import render_table
from hazmon.acquisition.pipeline import Pipeline, PipelineStats
from hazmon.acquisition.poller import build_devices, run_pollers
from hazmon.analysis.evaluate import EvaluationSettings
from hazmon.analysis.readings import ChannelTable
from hazmon.config.site import SiteConfig
from hazmon.config.standards import effective_limit_rows, rules_by_quantity
from hazmon.store.hazards import HazardContext, HazardRegister
from hazmon.store.timeseries.sqlite import SqliteTimeSeries


@dataclass(frozen=True, slots=True)
class SessionSummary:
    """What a session did, for the closing lines."""

    stats: PipelineStats
    alerts: int
    database: Path
    devices_in_fault: tuple[str, ...]


async def run_session(
    site: SiteConfig,
    database: Path,
    console: Console,
    *,
    duration: float | None,
    addresses: Mapping[str, str] | None = None,
    live: bool = True,
) -> SessionSummary:
    """Poll ``site`` into ``database`` until ``duration`` [s] passes or SIGINT/SIGTERM.

    Everything polled is stored and every event still open at the end is recorded
    before this returns.
    """
    channels = ChannelTable()
    states, meters = build_devices(site, channels, addresses)
    rules = rules_by_quantity(site.standards)
    contexts = {
        device.id: HazardContext(
            enterprise=site.enterprise, location=device.location or device.id, source=site.source
        )
        for device in site.devices
    }
    alerts = ConsoleAlerts(console)
    timeseries = SqliteTimeSeries(database)
    register = HazardRegister(f"sqlite:///{database}")
    timeseries.open()
    register.open()
    pipeline = Pipeline(
        channels,
        rules,
        timeseries,
        register,
        contexts,
        alerts,
        limit_rows=effective_limit_rows(site.limits),
        settings=EvaluationSettings.from_site(site.limits),
    )
    stop = asyncio.Event()
    try:
        display = Live(
            render_table(pipeline, title=f"hazmon — {site.enterprise}"),
            console=console,
            refresh_per_second=4,
            transient=False,
        )
        with display if live else contextlib.nullcontext():

            async def refresh() -> None:
                while not stop.is_set():
                    if live:
                        display.update(render_table(pipeline, title=f"hazmon — {site.enterprise}"))
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), timeout=0.25)
                if live:
                    display.update(render_table(pipeline, title=f"hazmon — {site.enterprise}"))

            async with asyncio.TaskGroup() as group:
                group.create_task(run_pollers(states, pipeline, alerts, stop))
                group.create_task(refresh())
                group.create_task(wait_for_stop(stop, duration))
    finally:
        pipeline.close()
        await meters.close()
        register.close()
        timeseries.close()
    return SessionSummary(
        stats=pipeline.stats,
        alerts=len(alerts.alerts),
        database=database,
        devices_in_fault=tuple(state.config.id for state in states if state.in_fault),
    )
