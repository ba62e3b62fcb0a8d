"""The live terminal view: one row per channel, coloured by level, with trend, exposure
so far and quality; an alert banner and a health line for the service."""

from __future__ import annotations

import math
import time
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray
from rich.console import Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from hazmon.acquisition.alerts import LEVEL_STYLES
from hazmon.acquisition.pipeline import Pipeline
from hazmon.analysis.limits import LEVEL_NAMES
from hazmon.analysis.readings import Channel, ChannelTable, Readings
from hazmon.config.quality import describe

if TYPE_CHECKING:
    from hazmon.acquisition.alert_routes import AlertManager
    from hazmon.acquisition.poller import DeviceState


def format_value(value: float) -> str:
    """A reading for display: ``—`` when it has none."""
    return "—" if math.isnan(value) else f"{value:.4g}"


def _waiting_row(channel: Channel, blank_columns: int) -> list[str]:
    """The row of a channel with no reading yet; ``blank_columns`` sit before "waiting"."""
    return (
        [channel.device, channel.name or channel.quantity, "…", channel.unit]
        + [""] * blank_columns
        + ["waiting", ""]
    )


#: Quantities whose exposure (TWA, STEL) is shown: concentrations with OELs.
EXPOSURE_QUANTITIES = frozenset(
    {"co", "h2s", "nh3", "cl2", "so2", "no2", "hcn", "hcl", "ph3", "benzene"}
    | {"dust_total", "dust_respirable", "pm2_5", "pm10"}
)
#: Longest time a value is held when integrating exposure [s] (as the analysis core).
MAX_HOLD_S = 300.0
SHIFT_S = 8 * 3600.0
STEL_S = 15 * 60.0
#: Time constant of the trend's moving average [s].
TREND_TAU_S = 30.0


@dataclass(slots=True)
class _ChannelExposure:
    last_ts: int | None = None
    last_value: float = float("nan")
    integral: float = 0.0
    minute: int = -1
    minute_integral: float = 0.0
    minutes: deque[float] = field(default_factory=lambda: deque(maxlen=15))
    stel_max: float = float("nan")
    average: float = float("nan")


class ExposureSoFar:
    """Running exposure of each concentration channel, for technicians on site.

    ``twa`` is the exposure accrued so far expressed as an 8-hour TWA
    (∫C dt / 8 h, GBZ 2.1-2019 §3.3 with the rest of the shift taken as zero: what
    the worker has already used of the PC-TWA); ``stel`` is the highest 15-minute
    mean so far over whole minutes (∫C dt over the last 15 finished minutes / 15 min).
    Each value is held until the next reading, at most 300 s, as in the analysis
    core. The authoritative figures are :func:`hazmon.analysis.evaluate.evaluate`'s
    (``hazmon analyze``); these are for the live view. ``trend`` compares the latest
    value with its 30-s moving average.
    """

    def __init__(self, channels: ChannelTable) -> None:
        self.channels = channels
        self.state: dict[int, _ChannelExposure] = {}

    def update(self, readings: Readings, level: NDArray[np.uint8]) -> None:
        """Take one batch (the pipeline calls this after storing it)."""
        order = readings.sort_order()
        for row in order.tolist():
            number = int(readings.channel[row])
            value = float(readings.value[row])
            if math.isnan(value):
                continue
            channel = self.channels[number]
            state = self.state.setdefault(number, _ChannelExposure())
            ts = int(readings.ts[row])
            if state.last_ts is not None and ts <= state.last_ts:
                continue
            if state.last_ts is not None:
                held = min((ts - state.last_ts) / 1e9, MAX_HOLD_S)
                alpha = 1.0 - math.exp(-held / TREND_TAU_S)
                state.average += alpha * (state.last_value - state.average)
                if channel.quantity in EXPOSURE_QUANTITIES:
                    self._integrate(state, state.last_ts, held, max(0.0, state.last_value))
            else:
                state.average = value
            state.last_ts, state.last_value = ts, value

    @staticmethod
    def _integrate(state: _ChannelExposure, start_ns: int, held: float, value: float) -> None:
        state.integral += value * held
        minute = start_ns // 60_000_000_000
        if state.minute == -1:
            state.minute = minute
        while minute > state.minute:
            state.minutes.append(state.minute_integral)
            state.minute_integral = 0.0
            state.minute += 1
            if len(state.minutes) == state.minutes.maxlen:
                stel = sum(state.minutes) / STEL_S
                state.stel_max = stel if math.isnan(state.stel_max) else max(state.stel_max, stel)
        state.minute_integral += value * held

    def twa(self, number: int) -> float:
        """Exposure so far as an 8-h TWA [channel unit]; NaN for other quantities."""
        state = self.state.get(number)
        if state is None or self.channels[number].quantity not in EXPOSURE_QUANTITIES:
            return float("nan")
        return state.integral / SHIFT_S

    def stel(self, number: int) -> float:
        """Highest 15-minute mean so far [channel unit]; NaN before 15 minutes."""
        state = self.state.get(number)
        return float("nan") if state is None else state.stel_max

    def trend(self, number: int) -> str:
        """``↑``, ``↓`` or ``→``: the latest value against its 30-s moving average."""
        state = self.state.get(number)
        if state is None or math.isnan(state.average):
            return ""
        delta = state.last_value - state.average
        if abs(delta) <= max(0.02 * abs(state.average), 1e-6):
            return "→"
        return "↑" if delta > 0 else "↓"


@dataclass(slots=True)
class LiveState:
    """What the service's view reads (all owned by the service)."""

    pipeline: Pipeline
    alerts: AlertManager
    devices: list[DeviceState]
    exposure: ExposureSoFar
    title: str = "hazmon live"


def _banner(state: LiveState) -> Panel | Text:
    active = state.alerts.active()
    if not active:
        return Text(" no active alerts ", style="bold black on green")
    lines = Text()
    for alert_state in active[:6]:
        alert = alert_state.last
        level = min(alert.level, 3)
        style = LEVEL_STYLES[level] if level else "magenta"
        acked = f" (ack {alert_state.acknowledged_by})" if alert_state.acknowledged_by else ""
        value = "" if alert.value is None or math.isnan(alert.value) else f" {alert.value:.4g}"
        lines.append(
            f"#{alert_state.alert_id} {alert_state.key} {alert.kind.upper()} "
            f"{LEVEL_NAMES[level] if level else alert.message}{value} {alert.unit}{acked}\n",
            style=style,
        )
    if len(active) > 6:
        lines.append(f"… and {len(active) - 6} more", style="bold")
    return Panel(lines, title=f"{len(active)} active alert(s)", border_style="red")


def render_view(state: LiveState) -> Group:
    """The service's screen: alert banner, one row per channel, a health line.

    Plain box characters and no mouse or alternate screen, so it works in any
    terminal over SSH; colours degrade to text (level names are always printed).
    """
    table = Table(title=state.title, expand=False)
    for heading, justify in (
        ("device", "left"),
        ("channel", "left"),
        ("value", "right"),
        ("unit", "left"),
        ("level", "center"),
        ("trend", "center"),
        ("TWA so far", "right"),
        ("STEL max", "right"),
        ("quality", "left"),
        ("age", "right"),
    ):
        table.add_column(heading, justify=justify)  # type: ignore[arg-type]
    pipeline = state.pipeline
    now = time.time_ns()
    for number, channel in enumerate(pipeline.channels.channels):
        if channel.quantity.startswith("health."):
            continue
        latest = pipeline.latest.get(number)
        if latest is None:
            table.add_row(*_waiting_row(channel, blank_columns=4))
            continue
        level = min(latest.level, 3)
        table.add_row(
            channel.device,
            channel.name or channel.quantity,
            format_value(latest.value),
            channel.unit,
            Text(LEVEL_NAMES[level], style=LEVEL_STYLES[level]),
            state.exposure.trend(number),
            format_value(state.exposure.twa(number)),
            format_value(state.exposure.stel(number)),
            Text(describe(latest.quality), style="" if latest.quality == 0 else "magenta"),
            f"{(now - latest.ts) / 1e9:.1f} s",
        )
    online = sum(1 for device in state.devices if not device.in_fault and device.last_ok_ns)
    faults = [device.config.id for device in state.devices if device.in_fault]
    health = Text(
        f"{online}/{len(state.devices)} devices online; "
        f"{sum(device.failed_polls for device in state.devices)} failed polls; "
        f"{pipeline.stats.readings} readings stored",
        style="bold",
    )
    if faults:
        health.append(f"; no answer: {', '.join(faults[:10])}", style="magenta")
    return Group(_banner(state), table, health)
