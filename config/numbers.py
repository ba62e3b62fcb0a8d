"""Numbers for people: one formatter for every table, finding and summary.

Floating-point noise (``20.900000000000002``), scientific notation (``5e+03 ppm``) and
durations rounded to nothing (``0.0 s``) make a reading hard to trust on a screen or a
paper. JSON output keeps full precision; only text meant for a person goes through here.
"""

from __future__ import annotations

import math

#: Significant digits shown when the channel's resolution is not known.
DIGITS = 4

#: Most decimals ever shown: past that a value is noise on any instrument.
MAX_DECIMALS = 9


def format_number(
    value: float | None, resolution: float | None = None, digits: int = DIGITS
) -> str:
    """``value`` in plain positional notation, rounded for a person to read.

    Parameters
    ----------
    value
        The number [any unit]; ``None`` or NaN is shown as ``—``.
    resolution
        The instrument's step [same unit], e.g. 0.1 for an O2 cell: the value is shown
        with as many decimals as the step has (0.05 → 2). ``None``: ``digits``
        significant digits, trailing zeros dropped.
    digits
        Significant digits when ``resolution`` is not given.

    Examples
    --------
    ``format_number(20.900000000000002)`` is ``20.9``, ``format_number(5000.0)`` is
    ``5000``, ``format_number(20.94, 0.1)`` is ``20.9`` and ``format_number(0.04)`` is
    ``0.04``.
    """
    if value is None or math.isnan(value):
        return "—"
    if math.isinf(value):
        return "∞" if value > 0 else "-∞"
    if resolution is not None and resolution > 0 and math.isfinite(resolution):
        decimals = min(MAX_DECIMALS, max(0, math.ceil(-math.log10(resolution) - 1e-9)))
        text = f"{value:.{decimals}f}"
    elif value == 0:
        return "0"
    else:
        magnitude = math.floor(math.log10(abs(value)))
        decimals = min(MAX_DECIMALS, max(0, digits - 1 - magnitude))
        text = f"{value:.{decimals}f}"
        if "." in text:
            text = text.rstrip("0").rstrip(".")
    # "-0" and "-0.0" read as a negative reading.
    return text[1:] if text.startswith("-") and float(text) == 0 else text


def format_seconds(seconds: float) -> str:
    """A duration for a person: ``0.04 s``, ``12.5 s``, ``3600 s`` (never ``0.0 s``)."""
    return f"{format_number(seconds, digits=3)} s"


def plain_float(value: float) -> float:
    """``value`` without binary noise for JSON: 15 significant digits, all a double holds.

    ``209 * 0.1`` is ``20.900000000000002``; a meter sent 209 at scale 0.1, which is 20.9.
    Nothing meaningful is lost: a double carries 15-17 significant digits.
    """
    return float(f"{value:.15g}")
