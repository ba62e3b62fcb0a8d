"""Time columns to [ns UTC]: ISO, day/month order settled or refused, epoch magnitudes."""

from __future__ import annotations

import datetime as dt
import re

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from hazmon.acquisition.datalog.errors import DatalogError
from hazmon.acquisition.datalog.summary import iso_utc
from hazmon.config.quality import EARLIEST_NS, MAX_AHEAD_NS

#: Epoch units by magnitude: (name, lowest, highest, ns per unit). The gaps between the
#: bands are refused: a stray digit must not become a date centuries away.
EPOCH_BANDS = (
    ("seconds", 1e8, 1e10, 1e9),
    ("milliseconds", 1e11, 1e13, 1e6),
    ("microseconds", 1e14, 1e16, 1e3),
    ("nanoseconds", 1e17, 9.2e18, 1.0),
)


_OFFSET = re.compile(r"\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?\s*(?:Z|[+-]\d{2}:?\d{2})$")
_NUMERIC_DATE = r"^\s*(\d{1,2})([/.\-])(\d{1,2})\2(\d{4}|\d{2})(?!\d)"
_CLOCK = re.compile(r"^(?P<sep>[ T]+)\d{1,2}:\d{2}(?P<seconds>:\d{2})?(?P<fraction>\.\d+)?")


def _format_hint(sample: str, day_first: bool) -> str:
    match = re.match(_NUMERIC_DATE, sample)
    if match is None:
        return ""
    separator, year = match[2], "%Y" if len(match[4]) == 4 else "%y"
    date = f"%d{separator}%m{separator}{year}" if day_first else f"%m{separator}%d{separator}{year}"
    clock = _CLOCK.match(sample[match.end() :])
    if clock is None:
        return date
    return (
        date
        + clock["sep"]
        + "%H:%M"
        + (":%S" if clock["seconds"] else "")
        + (".%f" if clock["fraction"] else "")
    )


def _epoch(
    number: NDArray[np.float64],
    integers: NDArray[np.int64] | None,
    lines: NDArray[np.int64],
    column: str,
    source: str,
) -> tuple[NDArray[np.int64], str]:
    magnitude = np.abs(number)
    median = float(np.median(magnitude))
    band = next((b for b in EPOCH_BANDS if b[1] <= median < b[2]), None)
    if band is None:
        raise DatalogError(
            source,
            [
                f"line {int(lines[0])}, column {column!r}: number times such as "
                f"{number[0]:.0f} are neither epoch seconds (10 digits), milliseconds (13), "
                "microseconds (16) nor nanoseconds (19) of a plausible date; write ISO "
                "times (2026-03-02 09:00:00) or give --date-format"
            ],
        )
    name, low, high, scale = band
    outside = (magnitude < low) | (magnitude >= high)
    if outside.any():
        row = int(np.flatnonzero(outside)[0])
        raise DatalogError(
            source,
            [
                f"line {int(lines[row])}, column {column!r}: {number[row]:.0f} is not epoch "
                f"{name} like the rest of the column (a digit too many or too few?); "
                "correct that row"
            ],
        )
    described = f"epoch {name} (UTC)"
    if integers is not None:
        # Whole numbers stay int64: nanoseconds since 1970 exceed float64's 2**53.
        return integers * np.int64(scale), described
    return np.round(number * scale).astype(np.int64), described


def _parse_times(
    text: pd.Series,
    lines: NDArray[np.int64],
    column: str,
    utc_offset_hours: float,
    date_format: str | None,
    source: str,
) -> tuple[NDArray[np.int64], str, str]:
    """Times [ns UTC], the time zone as read, and the format used."""
    text = text.astype("string").str.strip()
    blank = (text.isna() | (text == "")).to_numpy(bool)
    if blank.any():
        row = int(np.flatnonzero(blank)[0])
        raise DatalogError(
            source, [f"line {int(lines[row])}, column {column!r}: no time; every row needs one"]
        )
    number = pd.to_numeric(text, errors="coerce").to_numpy(np.float64, na_value=np.nan)
    if date_format is None and not np.isnan(number).any():
        whole = text.str.fullmatch(r"[+-]?\d{1,19}").fillna(False).to_numpy(bool)
        fits = whole.all() and float(np.abs(number).max()) < 9.2e18
        integers: NDArray[np.int64] | None = None
        if fits:
            integers = np.asarray(text.astype("int64").to_numpy(np.int64), dtype=np.int64)
        ns, described = _epoch(number, integers, lines, column, source)
        return ns, "UTC (epoch)", described
    if "年" in str(text.iloc[0]):
        # 2026年3月2日 09:00 → 2026-3-2 09:00
        text = (
            text.str.replace(r"(\d)\s*年\s*", r"\1-", regex=True)
            .str.replace(r"(\d)\s*月\s*", r"\1-", regex=True)
            .str.replace(r"(\d)\s*日\s*", r"\1 ", regex=True)
            .str.strip()
        )
    has_offset = text.str.contains(_OFFSET, regex=True).to_numpy(bool)
    if has_offset.any() and not has_offset.all():
        row = int(np.flatnonzero(~has_offset)[0])
        raise DatalogError(
            source,
            [
                f"line {int(lines[row])}, column {column!r}: {text.iloc[row]!r} has no UTC "
                "offset while other rows have one; write the offset on every row or none"
            ],
        )
    used = date_format or ""
    if date_format is None:
        used = _settle_day_month(text, lines, column, source) or _year_first(str(text.iloc[0]))
    if used:
        parsed = pd.to_datetime(text, format=used, errors="coerce", utc=bool(has_offset.all()))
        if date_format is None and parsed.isna().any():
            used = ""  # the first row's shape is not every row's: parse as ISO below
    if not used:
        parsed = pd.to_datetime(text, format="ISO8601", errors="coerce", utc=bool(has_offset.all()))
        missing = parsed.isna()
        if missing.any():
            retry = pd.to_datetime(
                text[missing], format="mixed", errors="coerce", utc=bool(has_offset.all())
            )
            parsed = parsed.where(~missing, retry)
        used = "ISO 8601"
    bad = parsed.isna().to_numpy(bool)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        expected = f"the format {used!r}" if used != "ISO 8601" else "an ISO 8601 time"
        raise DatalogError(
            source,
            [
                f"line {int(lines[row])}, column {column!r}: {text.iloc[row]!r} is not "
                f"{expected} (2026-03-02 09:00:00); correct the row or give --date-format"
            ],
        )
    if not pd.api.types.is_datetime64_any_dtype(parsed):
        # Some rows parsed with a zone (a lowercase "z", "UTC") and some without: a
        # column of mixed objects, which is no time column at all.
        zoned = np.array([getattr(item, "tzinfo", None) is not None for item in parsed])
        row = int(np.flatnonzero(zoned)[0]) if zoned.any() else 0
        raise DatalogError(
            source,
            [
                f"line {int(lines[row])}, column {column!r}: {text.iloc[row]!r} has a time "
                "zone while other rows have none; write the UTC offset on every row or none"
            ],
        )
    if has_offset.all():
        values = parsed.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy("datetime64[ns]")
        zone = "from the file (UTC offsets written)"
    elif parsed.dt.tz is not None:
        values = parsed.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy("datetime64[ns]")
        zone = "from the file (--date-format %z)"
    else:
        values = (parsed - pd.Timedelta(hours=utc_offset_hours)).to_numpy("datetime64[ns]")
        zone = f"UTC{utc_offset_hours:+g} (not written in the file; --utc-offset)"
    return values.astype(np.int64), zone, used


def _year_first(sample: str) -> str:
    """The explicit format of a year-first time (``2026/3/2 09:00``): pandas parses an
    explicit format vectorised; inferring one per row is fifty times slower."""
    match = re.match(r"^\s*\d{4}([/.\-])\d{1,2}\1\d{1,2}(?!\d)", sample)
    if match is None or _OFFSET.search(sample):
        return ""
    separator = match[1]
    clock = _CLOCK.match(sample[match.end() :])
    date = f"%Y{separator}%m{separator}%d"
    if clock is None:
        return date if match.end() == len(sample.rstrip()) else ""
    rest = sample[match.end() + clock.end() :].strip()
    if rest:
        return ""
    return (
        date
        + clock["sep"]
        + "%H:%M"
        + (":%S" if clock["seconds"] else "")
        + (".%f" if clock["fraction"] else "")
    )


def _settle_day_month(text: pd.Series, lines: NDArray[np.int64], column: str, source: str) -> str:
    """The format of ``dd/mm/yyyy`` or ``mm/dd/yyyy`` dates, when the file tells which.

    Returns "" when the dates are not of that form (year first, ISO).
    """
    parts = text.str.extract(_NUMERIC_DATE)
    matched = parts[0].notna().to_numpy(bool)
    if not matched.any():
        return ""
    if not matched.all():
        row = int(np.flatnonzero(~matched)[0])
        raise DatalogError(
            source,
            [
                f"line {int(lines[row])}, column {column!r}: {text.iloc[row]!r} is written "
                "unlike the other rows' dates; write every date one way"
            ],
        )
    first = parts[0].astype(int).to_numpy()
    second = parts[2].astype(int).to_numpy()
    day_first = first > 12
    month_first = second > 12
    if day_first.any() and month_first.any():
        a, b = int(np.flatnonzero(day_first)[0]), int(np.flatnonzero(month_first)[0])
        raise DatalogError(
            source,
            [
                f"column {column!r}: line {int(lines[a])} ({text.iloc[a]}) can only be day "
                f"first, line {int(lines[b])} ({text.iloc[b]}) only month first; the dates "
                "are written two ways"
            ],
        )
    sample = str(text.iloc[0])
    if day_first.any() or month_first.any():
        return _format_hint(sample, bool(day_first.any()))
    differ = first != second
    if not differ.any():
        return _format_hint(sample, True)  # 03/03/2026: both readings are the same day
    row = int(np.flatnonzero(differ)[0])
    shown = str(text.iloc[row])
    day, month = _format_hint(shown, True), _format_hint(shown, False)
    as_day = dt.datetime.strptime(shown, day).strftime("%Y-%m-%d")
    as_month = dt.datetime.strptime(shown, month).strftime("%Y-%m-%d")
    raise DatalogError(
        source,
        [
            f"column {column!r}: the dates could be day/month or month/day (no day above 12 "
            f"settles it): line {int(lines[row])} {shown!r} is {as_day} read day first, "
            f"{as_month} read month first; give --date-format '{day}' (day first) or "
            f"--date-format '{month}' (month first)"
        ],
    )


#: A row this far from the file's median time is a typo, not a reading [ns].
FAR_NS = 366 * 86400 * 10**9


def _refuse_far_times(
    ts: NDArray[np.int64], lines: NDArray[np.int64], column: str, source: str
) -> None:
    """Refuse a row dated a year or more away from the rest (a mistyped year)."""
    median = np.int64(np.median(ts))
    far = np.abs(ts - median) > FAR_NS
    if far.any():
        row = int(np.flatnonzero(far)[0])
        raise DatalogError(
            source,
            [
                f"line {int(lines[row])}, column {column!r}: {iso_utc(int(ts[row]))} is more "
                f"than a year from the other rows (around {iso_utc(int(median))}); correct "
                "that row's date"
            ],
        )


def _refuse_unset_clock(
    ts: NDArray[np.int64], lines: NDArray[np.int64], column: str, source: str, now_ns: int
) -> None:
    """Refuse a time before 2000 or more than a day after ``now_ns`` [ns UTC]: the
    window a meter's own time must lie in (see
    :func:`hazmon.config.quality.sane_timestamp`), here for a whole file."""
    wrong = (ts < EARLIEST_NS) | (ts > now_ns + MAX_AHEAD_NS)
    if wrong.any():
        row = int(np.flatnonzero(wrong)[0])
        when = "before 2000" if ts[row] < EARLIEST_NS else "more than a day from now"
        raise DatalogError(
            source,
            [
                f"line {int(lines[row])}, column {column!r}: {iso_utc(int(ts[row]))} is "
                f"{when}: the meter's clock was not set, or the times are not in the unit "
                "or zone they seem; correct the times (or give --date-format)"
            ],
        )
