"""The live terminal view: one row per channel, coloured by level, with the exposure
figures so far and quality; an alert banner and a health line for the service.

Levels and figures are those of the pipeline's streaming evaluator, the one
``hazmon analyze`` runs: the screen shows what the report will say of the same data."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from rich import box
from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from hazmon.acquisition.alerts import LEVEL_STYLES
from hazmon.acquisition.pipeline import Pipeline
from hazmon.analysis.evaluate import ChannelResult
from hazmon.analysis.limits import LEVEL_NAMES
from hazmon.analysis.readings import ChannelTable
from hazmon.config.i18n import (
    N_,
    Gettext,
    cli_locale,
    context_translator,
    quality_words,
    translator,
)
from hazmon.config.numbers import format_number, format_seconds
from hazmon.config.quality import Quality, describe

if TYPE_CHECKING:
    from hazmon.acquisition.alert_routes import AlertManager
    from hazmon.acquisition.poller import DeviceState


def format_value(value: float, resolution: float | None = None) -> str:
    """A reading for display: ``—`` when it has none; to the meter's resolution [unit]
    where its profile gives one (an O2 cell of 0.1 %vol shows ``20.9``)."""
    return format_number(value, resolution)


def channel_resolutions(devices: Sequence[DeviceState], channels: ChannelTable) -> dict[int, float]:
    """Channel number → the profile's resolution [canonical unit], where it has one.

    Only where the profile's unit is the channel's (canonical) unit: a step given in
    another unit would round a converted value wrongly, so those keep significant digits.
    """
    resolutions: dict[int, float] = {}
    for state in devices:
        specs = state.config.loaded_profile.channels
        for number, spec in zip(state.channel_numbers, specs, strict=False):
            if spec.resolution is not None and spec.unit == channels[number].unit:
                resolutions[number] = spec.resolution
    return resolutions


#: The figures of the live view, as ``hazmon analyze`` names them: (metric, heading).
FIGURES = (
    ("max", N_("peak")),
    ("twa_8h", N_("TWA 8h so far")),
    ("stel_max", N_("STEL max")),
    ("lex_8h", N_("L_EX,8h so far")),
)


@dataclass(slots=True)
class LiveState:
    """What the service's view reads (all owned by the service)."""

    pipeline: Pipeline
    alerts: AlertManager
    devices: list[DeviceState]
    title: str = "hazmon live"
    locale: str = field(default_factory=cli_locale)
    """The reader's language (the command line's, :func:`~hazmon.config.i18n.cli_locale`)."""

    @property
    def gettext(self) -> Gettext:
        """The ``_`` of :attr:`locale`."""
        return translator(self.locale)

    def level_name(self, level: int) -> str:
        """``normal``, or the level as GB/T 50493 names it (一级报警 / 二级报警)."""
        if level <= 0:
            return self.gettext("normal")
        return context_translator(self.locale)("paper", LEVEL_NAMES[min(level, 3)])

    def quality_text(self, quality: int, full: bool) -> str:
        """The flags of ``quality``: spelt out when ``full`` (in words, in Chinese),
        else the narrow view's codes; ``OK`` for none."""
        if quality == 0:
            return self.gettext("OK")
        if full:
            return (
                describe(quality) if self.locale == "en" else quality_words(quality, self.gettext)
            )
        return short_quality(quality)


def _figure(result: ChannelResult | None, metric: str, resolution: float | None = None) -> Text:
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
        return Text(
            f"{format_value(value, resolution)} > {format_value(failed[0].limit)}",
            style="bold red",
        )
    return Text(format_value(value, resolution))


#: Quality flags as the narrow view writes them; the legend under the table spells out
#: the ones on screen.
QUALITY_CODES: dict[str, str] = {
    "COMM_TIMEOUT": "TO",
    "COMM_ERROR": "CE",
    "DEVICE_EXCEPTION": "EX",
    "CRC_ERROR": "CRC",
    "OVER_RANGE": "OR",
    "UNDER_RANGE": "UR",
    "SENSOR_FAULT": "SF",
    "STALE": "ST",
    "CALIBRATION_DUE": "CAL",
    "WARMUP": "WU",
    "OUT_OF_ORDER": "OO",
}

#: Terminal widths [columns] from which the view shows more: every figure (and the
#: age) from FULL_FIGURES, quality spelt out from FULL_QUALITY.
FULL_FIGURES = 110
FULL_QUALITY = 160


def short_quality(quality: int) -> str:
    """``TO``, ``CAL|WU`` …: the flags of ``quality`` in :data:`QUALITY_CODES`."""
    name = describe(quality)
    return "OK" if name == "OK" else "|".join(QUALITY_CODES[part] for part in name.split("|"))


def _banner(state: LiveState, lines: int = 6) -> Panel | Text:
    """The alert pane: the active alerts, most severe first, in at most ``lines`` lines."""
    _ = state.gettext
    active = state.alerts.active()
    if not active:
        return Text(" " + _("no active alerts") + " ", style="bold black on green")
    shown = active if len(active) <= lines else active[: max(lines - 1, 1)]
    text = Text(no_wrap=True, overflow="ellipsis")
    for alert_state in shown:
        alert = alert_state.last
        level = min(alert.level, 3)
        style = LEVEL_STYLES[level] if level else "magenta"
        acked = (
            " (" + _("acknowledged by %(who)s") % {"who": alert_state.acknowledged_by} + ")"
            if alert_state.acknowledged_by
            else ""
        )
        value = (
            ""
            if alert.value is None or math.isnan(alert.value)
            else f" {format_number(alert.value)}"
        )
        text.append(
            f"#{alert_state.alert_id} {alert_state.key} {alert.kind.upper()} "
            f"{state.level_name(level) if level else alert.message}{value} {alert.unit}{acked}\n",
            style=style,
        )
    if len(active) > len(shown):
        text.append(_("… and %(count)s more") % {"count": len(active) - len(shown)}, style="bold")
    text.rstrip()
    title = _("%(count)s active alert(s)") % {"count": len(active)}
    return Panel(text, title=title, border_style="red")


@dataclass(slots=True)
class _Row:
    level: int
    cells: list[str | Text]
    quality: str = ""
    """The quality as shown (``OK``, ``CAL`` …); empty while waiting."""


def _rows(state: LiveState, figures: bool, full_quality: bool) -> list[_Row]:
    pipeline = state.pipeline
    snapshot = pipeline.evaluator.snapshot()
    now = time.time_ns()
    rows: list[_Row] = []
    resolutions = channel_resolutions(state.devices, pipeline.channels)
    for number, channel in enumerate(pipeline.channels.channels):
        if channel.quantity.startswith("health."):
            continue
        latest = pipeline.latest.get(number)
        shown_figures = FIGURES if figures else FIGURES[:1]
        if latest is None:
            cells: list[str | Text] = [channel.device, channel.name or channel.quantity, "—"]
            cells += [channel.unit, "", *[""] * len(shown_figures), state.gettext("waiting")]
            cells += [""] if figures else []
            rows.append(_Row(-1, cells))
            continue
        level = min(latest.level, 3)
        result = snapshot.results.get(number)
        quality = state.quality_text(latest.quality, full_quality)
        cells = [
            channel.device,
            channel.name or channel.quantity,
            format_value(latest.value, resolutions.get(number)),
            channel.unit,
            Text(state.level_name(level), style=LEVEL_STYLES[level]),
            # The peak is a reading: the meter's resolution; the averages keep digits.
            *(
                _figure(result, metric, resolutions.get(number) if metric == "max" else None)
                for metric, _heading in shown_figures
            ),
            Text(quality, style="" if latest.quality == 0 else "magenta"),
        ]
        if figures:
            cells.append(format_seconds((now - latest.ts) / 1e9))
        rows.append(_Row(level, cells, quality))
    return rows


def _table(state: LiveState, rows: list[_Row], figures: bool, hidden: int) -> Table:
    _ = state.gettext
    shown_figures = FIGURES if figures else FIGURES[:1]
    caption = _("… %(count)s more channels: a larger window shows them") % {"count": hidden}
    table = Table(
        title=state.title,
        expand=False,
        box=box.SIMPLE_HEAD,
        padding=(0, 1),
        caption=caption if hidden else None,
    )
    # Device, channel, value+unit and level are never cut: names fold onto a second
    # line, numbers, units and levels keep their width.
    names = [str(row.cells[0]) for row in rows] or ["device"]
    channel_names = [str(row.cells[1]) for row in rows] or ["channel"]
    table.add_column(_("Device").lower(), overflow="fold", min_width=min(24, max(map(len, names))))
    table.add_column(
        _("Channel").lower(), overflow="fold", min_width=min(16, max(map(len, channel_names)))
    )
    table.add_column(_("Value").lower(), justify="right", no_wrap=True)
    table.add_column(_("Unit").lower(), no_wrap=True)
    table.add_column(_("Level").lower(), justify="center", no_wrap=True)
    for _metric, heading in shown_figures:
        # The "live" context: the headings as ``hazmon analyze`` names its metrics.
        table.add_column(
            context_translator(state.locale)("live", heading), justify="right", overflow="fold"
        )
    table.add_column(_("Quality").lower(), overflow="fold")
    if figures:
        table.add_column(_("age"), justify="right", no_wrap=True)
    for row in rows:
        table.add_row(*row.cells)
    return table


class LiveView:
    """The service's screen, laid out for the terminal it is drawn on.

    At any size from 80×24: the alert pane (at most a third of the height), the
    channels that fit — alarmed ones first when not all do — and the health line. The
    figures past the peak, and the age, appear from :data:`FULL_FIGURES` columns;
    quality flags are abbreviated, with a legend, below :data:`FULL_QUALITY`. A view
    never taller than the terminal is what keeps Rich's ``Live`` from leaving torn
    copies of the table in the scrollback.
    """

    def __init__(self, state: LiveState) -> None:
        self.state = state

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        width = options.max_width
        height = options.height or console.size.height
        figures = width >= FULL_FIGURES
        full_quality = width >= FULL_QUALITY
        banner = _banner(self.state, lines=max(1, height // 3 - 2))
        rows = _rows(self.state, figures, full_quality)
        # Alarmed channels first when the window cannot hold every row, then flagged ones.
        order = sorted(
            range(len(rows)),
            key=lambda index: (-rows[index].level, rows[index].quality in ("OK", "")),
        )
        health = _health(self.state)
        legend = None if full_quality else _legend(self.state, rows)
        fitted = len(rows)
        while True:
            keep = sorted(order[:fitted]) if fitted < len(rows) else list(range(len(rows)))
            table = _table(self.state, [rows[i] for i in keep], figures, len(rows) - fitted)
            parts: list[RenderableType] = [banner, table, health]
            if legend is not None:
                parts.append(legend)
            group = Group(*parts)
            used = len(console.render_lines(group, options.update(height=None), pad=False))
            if used <= height or fitted == 0:
                break
            fitted = max(0, fitted - max(1, used - height))
        yield group


def _health(state: LiveState) -> Text:
    online = sum(1 for device in state.devices if not device.in_fault and device.last_ok_ns)
    faults = [device.config.id for device in state.devices if device.in_fault]
    _ = state.gettext
    health = Text(
        _(
            "%(online)s/%(devices)s devices online; %(failed)s failed polls; "
            "%(stored)s readings stored"
        )
        % {
            "online": online,
            "devices": len(state.devices),
            "failed": sum(device.failed_polls for device in state.devices),
            "stored": state.pipeline.stats.readings,
        },
        style="bold",
    )
    if faults:
        health.append(
            _("; no answer: %(devices)s") % {"devices": ", ".join(faults[:10])}, style="magenta"
        )
    return health


def _legend(state: LiveState, rows: list[_Row]) -> Text | None:
    """The quality codes on screen, spelt out; None when every reading is OK."""
    _ = state.gettext
    on_screen = {part for row in rows for part in row.quality.split("|") if part not in ("OK", "")}
    names = [
        f"{code}={name if state.locale == 'en' else quality_words(Quality[name], _)}"
        for name, code in QUALITY_CODES.items()
        if code in on_screen
    ]
    return Text(_("quality: ") + ", ".join(names), style="dim") if names else None


def render_view(state: LiveState) -> LiveView:
    """The service's screen (see :class:`LiveView`): alert pane, channel rows, health.

    Plain box characters and no mouse or alternate screen, so it works in any
    terminal over SSH; colours degrade to text (level names are always printed).
    """
    return LiveView(state)
