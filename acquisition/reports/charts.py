"""The evidence chart: readings over the evidence window, the limit, the excursion shaded.

Drawn once as SVG so that the PDF and a web page show the same picture. Text is
drawn as paths, so the chart looks the same wherever it is opened, fonts or not.
"""

from __future__ import annotations

import io
from zoneinfo import ZoneInfo

import numpy as np
from numpy.typing import NDArray

from hazmon.acquisition.reports.papers import (
    DEFAULT_TZ,
    EvidenceSeries,
    level_name_zh,
    plain_number,
    quantity_name_zh,
)
from hazmon.config.i18n import translator

#: CJK fallback for every chart label: matplotlib tries the families in order per glyph.
CHART_FONTS = [
    "Noto Sans CJK SC",
    "Source Han Sans SC",
    "WenQuanYi Zen Hei",
    "DejaVu Sans",
]

#: Width of the chart on the page [px at 96 dpi]; also the number of downsampling buckets.
CHART_WIDTH_PX = 640
CHART_HEIGHT_PX = 230


def downsample_minmax(
    ts: NDArray[np.int64], value: NDArray[np.float64], buckets: int
) -> NDArray[np.intp]:
    """Indices of the readings to draw: per time bucket the first minimum and maximum.

    A line through these points covers every pixel column from its lowest to its
    highest reading, so no peak is lost however many readings the window holds.
    Unlike :func:`hazmon.store.timeseries.aggregate_window`, which summarises fixed
    intervals, this keeps real readings at their own times, so a crossing of the limit
    is drawn where it happened.

    Parameters
    ----------
    ts : [ns UTC]
        Sorted sample times.
    value : [unit]
        NaN readings are never chosen.
    buckets
        Pixel columns across the chart.

    Returns
    -------
    Sorted, unique indices into ``ts`` (at most ``2 * buckets``).
    """
    if buckets < 1:
        raise ValueError(f"buckets must be at least 1, got {buckets}")
    valid = np.flatnonzero(~np.isnan(value))
    if len(valid) <= 2 * buckets:
        return valid
    times = ts[valid]
    span = int(times[-1] - times[0]) + 1
    # Integer arithmetic in float64 loses nothing at this size (span < 2**63 ns).
    bucket = ((times - times[0]).astype(np.float64) * buckets / span).astype(np.int64)
    bucket = np.minimum(bucket, buckets - 1)
    order = np.lexsort((value[valid], bucket))
    sorted_bucket = bucket[order]
    first = np.flatnonzero(np.r_[True, sorted_bucket[1:] != sorted_bucket[:-1]])
    last = np.r_[first[1:] - 1, len(order) - 1]
    chosen = valid[np.concatenate((order[first], order[last]))]
    return np.unique(chosen)


def chart_title(series: EvidenceSeries, lang: str) -> str:
    """``device — quantity (substance)`` in the paper's language, the chart's caption."""
    name = quantity_name_zh(series.quantity) if lang == "zh" else series.quantity
    if series.substance:
        substance = translator("zh_CN")(series.substance) if lang == "zh" else series.substance
        name += f"（{substance}）" if lang == "zh" else f" ({substance})"
    return f"{series.label.split('/')[0]} — {name} [{series.unit}]"


def evidence_svg(
    series: EvidenceSeries,
    *,
    lang: str = "zh",
    tz: str = DEFAULT_TZ,
    width_px: int = CHART_WIDTH_PX,
    height_px: int = CHART_HEIGHT_PX,
) -> str:
    """The evidence chart of one window as an SVG document (text).

    Times on the axis are local to ``tz``; the limit is a dashed red line and the
    readings past it are shaded.
    """
    # Imported here: matplotlib takes a second to load and only papers need it.
    import matplotlib.dates as mdates
    from matplotlib.backends.backend_svg import FigureCanvasSVG
    from matplotlib.figure import Figure

    zone = ZoneInfo(tz)
    keep = downsample_minmax(series.ts, series.value, width_px)
    ts, value = series.ts[keep], series.value[keep]
    # matplotlib's date numbers: days since its epoch, pinned to 1970 in the rc below.
    times = ts.astype(np.float64) / 86_400e9
    dpi = 96
    figure = Figure(figsize=(width_px / dpi, height_px / dpi), dpi=dpi)
    FigureCanvasSVG(figure)
    import matplotlib

    with matplotlib.rc_context(
        {
            "font.sans-serif": CHART_FONTS,
            "font.size": 8,
            "svg.fonttype": "path",
            "svg.hashsalt": "hazmon",  # the same chart gives the same SVG
            "axes.unicode_minus": False,
            "date.epoch": "1970-01-01T00:00:00",
        }
    ):
        axes = figure.add_subplot()
        axes.plot(
            times,
            value,
            color="#1f4e79",
            linewidth=1.0,
            label="读数" if lang == "zh" else "reading",
        )
        if series.limit is not None:
            limit = series.limit
            level = level_name_zh(series.level, "") if lang == "zh" else ""
            which = f"（{level}）" if level else ""
            label = (
                f"报警设定值 {plain_number(limit)} {series.unit}{which}"
                if lang == "zh"
                else f"set point {plain_number(limit)} {series.unit}"
            )
            axes.axhline(limit, color="#c00000", linestyle="--", linewidth=1.0, label=label)
            past = value >= limit if series.side > 0 else value <= limit
            if len(times):
                axes.fill_between(
                    times,
                    value,
                    limit,
                    where=past,
                    interpolate=True,
                    color="#c00000",
                    alpha=0.25,
                    linewidth=0,
                    label="超限" if lang == "zh" else "excursion",
                )
        axes.set_ylabel(f"{'读数' if lang == 'zh' else 'reading'} [{series.unit}]")
        axes.set_xlabel(f"{'时间' if lang == 'zh' else 'time'} ({tz})")
        locator = mdates.AutoDateLocator(tz=zone)  # type: ignore[no-untyped-call]
        axes.xaxis.set_major_locator(locator)
        axes.xaxis.set_major_formatter(
            mdates.DateFormatter("%H:%M:%S", tz=zone)  # type: ignore[no-untyped-call]
        )
        axes.grid(True, color="#dddddd", linewidth=0.5)
        # Above the plot, so it never hides the peak it is there to explain.
        axes.legend(loc="lower left", bbox_to_anchor=(0.0, 1.0), ncol=3, fontsize=7, frameon=False)
        figure.tight_layout()
        out = io.StringIO()
        figure.savefig(out, format="svg", metadata={"Date": None})
    return out.getvalue()
