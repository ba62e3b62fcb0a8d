"""The live terminal view: one row per channel, coloured by level, with the exposure
figures so far and quality; an alert banner and a health line for the service.

Levels and figures are those of the pipeline's streaming evaluator, the one
``hazmon analyze`` runs: the screen shows what the report will say of the same data."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rich.console import Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from hazmon.acquisition.alerts import LEVEL_STYLES
from hazmon.acquisition.pipeline import Pipeline
from hazmon.analysis.evaluate import ChannelResult
from hazmon.analysis.limits import LEVEL_NAMES
from hazmon.analysis.readings import Channel
from hazmon.config.numbers import format_number, format_seconds
from hazmon.config.quality import describe

if TYPE_CHECKING:
    from hazmon.acquisition.alert_routes import AlertManager
    from hazmon.acquisition.poller import DeviceState


def format_value(value: float) -> str:
    """A reading for display: ``—`` when it has none."""
    return format_number(value)


def _waiting_row(channel: Channel, blank_columns: int) -> list[str]:
    """The row of a channel with no reading yet; ``blank_columns`` sit before "waiting"."""
    return (
        [channel.device, channel.name or channel.quantity, "…", channel.unit]
        + [""] * blank_columns
        + ["waiting", ""]
    )


#: The figures of the live view, as ``hazmon analyze`` names them: (metric, heading).
FIGURES = (
    ("max", "peak"),
    ("twa_8h", "TWA 8h so far"),
    ("stel_max", "STEL max"),
    ("lex_8h", "L_EX,8h so far"),
)


@dataclass(slots=True)
class LiveState:
    """What the service's view reads (all owned by the service)."""

    pipeline: Pipeline
    alerts: AlertManager
    devices: list[DeviceState]
    title: str = "hazmon live"


def _figure(result: ChannelResult | None, metric: str) -> Text:
    """One figure of ``hazmon analyze`` for the readings so far; red where it fails a limit.

    The figure is the analysis's own (the pipeline's evaluator is the one that
    ``hazmon analyze`` runs), so the screen and the report agree on the same data.
    """
    if result is None or metric not in result.metrics:
        return Text("")
    value = result.metrics[metric]
    failed = [
        verdict
        for verdict in result.verdicts
        if verdict.judged and not verdict.passed and verdict.value == value
    ]
    if failed:
        return Text(f"{format_value(value)} > {format_value(failed[0].limit)}", style="bold red")
    return Text(format_value(value))


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
        value = (
            ""
            if alert.value is None or math.isnan(alert.value)
            else f" {format_number(alert.value)}"
        )
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
    headings = (
        [("device", "left"), ("channel", "left"), ("value", "right"), ("unit", "left")]
        + [("level", "center")]
        + [(heading, "right") for _metric, heading in FIGURES]
        + [("quality", "left"), ("age", "right")]
    )
    for heading, justify in headings:
        table.add_column(heading, justify=justify)  # type: ignore[arg-type]
    pipeline = state.pipeline
    snapshot = pipeline.evaluator.snapshot()
    now = time.time_ns()
    for number, channel in enumerate(pipeline.channels.channels):
        if channel.quantity.startswith("health."):
            continue
        latest = pipeline.latest.get(number)
        if latest is None:
            table.add_row(*_waiting_row(channel, blank_columns=len(FIGURES) + 1))
            continue
        level = min(latest.level, 3)
        result = snapshot.results.get(number)
        table.add_row(
            channel.device,
            channel.name or channel.quantity,
            format_value(latest.value),
            channel.unit,
            Text(LEVEL_NAMES[level], style=LEVEL_STYLES[level]),
            *(_figure(result, metric) for metric, _heading in FIGURES),
            Text(describe(latest.quality), style="" if latest.quality == 0 else "magenta"),
            format_seconds((now - latest.ts) / 1e9),
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
