"""The live terminal table: one row per channel, coloured by level."""

from __future__ import annotations

import math
import time

from rich.table import Table
from rich.text import Text

from hazmon.acquisition.alerts import LEVEL_STYLES
from hazmon.acquisition.pipeline import Pipeline
from hazmon.analysis.limits import LEVEL_NAMES
from hazmon.config.quality import describe


def format_value(value: float) -> str:
    """A reading for display: ``—`` when it has none."""
    return "—" if math.isnan(value) else f"{value:.4g}"


def render_table(pipeline: Pipeline, title: str = "hazmon live") -> Table:
    """The latest reading of every channel the pipeline has seen."""
    table = Table(title=title, expand=False)
    for heading, justify in (
        ("device", "left"),
        ("quantity", "left"),
        ("value", "right"),
        ("unit", "left"),
        ("level", "center"),
        ("quality", "left"),
        ("age", "right"),
    ):
        table.add_column(heading, justify=justify)  # type: ignore[arg-type]
    now = time.time_ns()
    for number, channel in enumerate(pipeline.channels.channels):
        latest = pipeline.latest.get(number)
        if latest is None:
            table.add_row(channel.device, channel.quantity, "…", channel.unit, "", "waiting", "")
            continue
        level = min(latest.level, 3)
        table.add_row(
            channel.device,
            channel.quantity,
            format_value(latest.value),
            channel.unit,
            Text(LEVEL_NAMES[level], style=LEVEL_STYLES[level]),
            Text(describe(latest.quality), style="" if latest.quality == 0 else "magenta"),
            f"{(now - latest.ts) / 1e9:.1f} s",
        )
    return table
