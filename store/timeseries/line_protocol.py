"""InfluxDB line protocol: the store for InfluxDB 2.x/3.x and VictoriaMetrics.

One line per reading::

    hazmon,channel=lel,device=gd-1,quantity=lel,site=plant-a,substance=methane,unit=%LEL \
        value=62.5,quality=0i,level=2i 1700000000000000000

(one line, broken here to fit).

Tags are the channel identity and its unit (site, device, channel name, quantity,
substance, unit):
bounded by the number of channels. Nothing unbounded (a value, a time, an event id)
is ever a tag, since every distinct tag set is a new series in the server's index.
Fields are ``value`` (omitted when the reading has none: line protocol has no NaN),
``quality`` and ``level``; the time is in nanoseconds.

Formatting is vectorised: the tag prefix is built once per channel, the per-reading
parts come from numpy casts, and one ``bytes.join`` assembles the payload; no Python
loop runs per reading and no ``Point`` objects are built.

Writes go through the durable outbox (:mod:`hazmon.store.timeseries.outbox`): a batch
is committed to a local SQLite spool before :meth:`LineProtocolTimeSeries.write`
returns, and a background writer sends spooled batches in order, removing each only
after the server accepted it. Reading back is server-specific: VictoriaMetrics through
its export API, and its aggregates through ``/api/v1/query_range`` computed by the
server (:class:`VictoriaMetricsReader`).
"""

from __future__ import annotations

import json
import math
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Self

import numpy as np
from numpy.typing import NDArray

from hazmon.analysis.readings import Channel, ChannelTable, Readings
from hazmon.store.lifecycle import Closable
from hazmon.store.timeseries import Aggregates, Window, aggregate_window
from hazmon.store.timeseries.influx_client import InfluxWriter, StoreUnavailable
from hazmon.store.timeseries.outbox import LineWriter, Outbox, OutboxWriter

#: The measurement every reading is written to; VictoriaMetrics names its series
#: ``hazmon_value``, ``hazmon_quality`` and ``hazmon_level``.
MEASUREMENT = "hazmon"
#: Tag keys, sorted as InfluxDB recommends (it sorts them itself otherwise).
TAG_KEYS = ("channel", "device", "quantity", "site", "substance", "unit")

_CONTROL = {code: " " for code in range(0x20)} | {0x7F: " "}

_MS = 1_000_000  # [ns]
#: VictoriaMetrics answers at most this many points per series and query
#: (``-search.maxPointsPerTimeseries``, 30,000 by default); more buckets are aggregated
#: here from the exported readings.
MAX_POINTS = 30_000
#: Flagged buckets are read back as contiguous runs; past this many runs, one span.
_FLAGGED_RUNS = 16


def tag_text(text: str) -> str:
    """A tag key or value as line protocol spells it.

    Backslash, comma, equals sign and space are escaped with a backslash. Line protocol
    cannot carry a newline (or any control character) in a tag even escaped, so those
    become spaces; readers apply the same mapping to find the series again.
    """
    text = text.translate(_CONTROL)
    for special in ("\\", ",", "=", " "):
        text = text.replace(special, "\\" + special)
    return text


def stored_tag(text: str) -> str:
    """The tag value a server keeps for ``text`` (control characters become spaces)."""
    return text.translate(_CONTROL)


def measurement_text(text: str) -> str:
    """A measurement name as line protocol spells it (comma and space escaped)."""
    text = text.translate(_CONTROL).replace("\\", "\\\\")
    return text.replace(",", "\\,").replace(" ", "\\ ")


def channel_tags(channel: Channel) -> dict[str, str]:
    """The tags of a channel; an empty value is left out (line protocol has no empty tag)."""
    tags = {
        "channel": channel.name,
        "device": channel.device,
        "quantity": channel.quantity,
        "site": channel.site,
        "substance": channel.substance,
        "unit": channel.unit,
    }
    return {key: value for key, value in tags.items() if value}


def _prefix(measurement: str, channel: Channel) -> bytes:
    tags = "".join(f",{key}={tag_text(value)}" for key, value in channel_tags(channel).items())
    return f"{measurement_text(measurement)}{tags} ".encode()


def format_lines(
    readings: Readings,
    level: NDArray[np.uint8],
    channels: ChannelTable,
    measurement: str = MEASUREMENT,
) -> bytes:
    """The line-protocol payload of a batch, one line per reading, newline-terminated.

    Parameters
    ----------
    readings
        ts [ns UTC], value [canonical unit] (NaN or ±inf: no ``value`` field), quality.
    level
        Per reading: 0 normal, 1 A1, 2 A2, 3 critical.
    channels
        The table ``readings.channel`` indexes.
    """
    count = len(readings)
    if count == 0:
        return b""
    if len(level) != count:
        raise ValueError(f"{len(level)} levels for {count} readings")
    # Per channel, not per reading: channels are few.
    prefixes = [_prefix(measurement, channel) for channel in channels.channels]
    with_value_prefix = np.array([prefix + b"value=" for prefix in prefixes], dtype=object)
    without_value_prefix = np.array(prefixes, dtype=object)
    finite = np.isfinite(readings.value)
    # Quality and level take few distinct values: format each pair once.
    code = readings.quality.astype(np.int64) * 256 + level.astype(np.int64)
    distinct, which = np.unique(code, return_inverse=True)
    with_value = np.array(
        [b",quality=%di,level=%di " % (item >> 8, item & 0xFF) for item in distinct.tolist()],
        dtype=object,
    )
    without_value = np.array([item[1:] for item in with_value.tolist()], dtype=object)
    pieces = np.empty((count, 5), dtype=object)
    pieces[:, 0] = np.where(
        finite, with_value_prefix[readings.channel], without_value_prefix[readings.channel]
    )
    # numpy's float-to-bytes cast is the shortest text that round-trips (repr).
    pieces[:, 1] = np.where(finite, readings.value, 0.0).astype("S32")
    pieces[~finite, 1] = b""
    pieces[:, 2] = np.where(finite, with_value[which], without_value[which])
    pieces[:, 3] = readings.ts.astype("S20")
    pieces[:, 4] = b"\n"
    return b"".join(pieces.ravel().tolist())


class LineProtocolTimeSeries(Closable):
    """Readings as line protocol to InfluxDB 2.x/3.x or VictoriaMetrics, via the outbox.

    Parameters
    ----------
    writer
        Sends one payload synchronously and raises on failure
        (:class:`~hazmon.store.timeseries.influx_client.InfluxWriter`).
    spool
        The outbox's SQLite file; batches wait there until the server accepted them.
    reader
        Answers :meth:`read_window`, :meth:`aggregate` and :meth:`list_channels`
        (:class:`VictoriaMetricsReader`); without one those raise.
    measurement
        The measurement name of every line.
    """

    def __init__(
        self,
        writer: LineWriter,
        spool: str | Path,
        *,
        reader: VictoriaMetricsReader | None = None,
        measurement: str = MEASUREMENT,
    ) -> None:
        self.outbox = Outbox(spool)
        self.sender = OutboxWriter(self.outbox, writer)
        self.reader = reader
        self.measurement = measurement
        self._writer = writer

    @classmethod
    def victoria_metrics(cls, url: str, spool: str | Path, *, timeout: float = 10.0) -> Self:
        """A store writing to and reading from VictoriaMetrics at ``url``."""
        return cls(
            InfluxWriter(url, timeout=timeout),
            spool,
            reader=VictoriaMetricsReader(url, timeout=timeout),
        )

    @classmethod
    def influxdb(
        cls,
        url: str,
        token: str,
        org: str,
        bucket: str,
        spool: str | Path,
        *,
        timeout: float = 10.0,
    ) -> Self:
        """A store writing to InfluxDB 2.x/3.x (reading back is not implemented for it)."""
        return cls(InfluxWriter(url, token=token, org=org, bucket=bucket, timeout=timeout), spool)

    def open(self) -> None:
        """Open the spool and start the background writer (it replays what is spooled)."""
        self.outbox.open()
        self.sender.start()

    def close(self, timeout: float = 5.0) -> None:
        """Try ``timeout`` [s] to send what is spooled, then stop; the rest stays spooled."""
        self.sender.stop(timeout)
        self.outbox.close()
        self._writer.close()

    def write(self, readings: Readings, level: NDArray[np.uint8], channels: ChannelTable) -> int:
        """Format a batch and commit it to the spool; the background writer sends it.

        Returns when the batch is durable locally, not when the server has it: an
        outage never blocks acquisition.
        """
        if len(readings) == 0:
            return 0
        self.outbox.put(format_lines(readings, level, channels, self.measurement), len(readings))
        self.sender.wake()
        return len(readings)

    def flush(self, timeout: float) -> bool:
        """Wait up to ``timeout`` [s] for the spool to empty; True when it did."""
        return self.sender.flush(timeout)

    def _reader(self) -> VictoriaMetricsReader:
        if self.reader is None:
            raise NotImplementedError(
                "this line-protocol store has no reader: reading back is implemented for "
                "VictoriaMetrics (LineProtocolTimeSeries.victoria_metrics)"
            )
        return self.reader

    def read_window(self, channel: Channel, start_ns: int, end_ns: int) -> Window:
        """Readings the server holds (times truncated to its precision) in the window."""
        return self._reader().read_window(channel, start_ns, end_ns)

    def aggregate(
        self, channel: Channel, start_ns: int, end_ns: int, interval_ns: int
    ) -> Aggregates:
        """Min, mean and max per ``interval_ns`` [ns] of what the server holds."""
        return self._reader().aggregate(channel, start_ns, end_ns, interval_ns)

    def list_channels(self) -> list[Channel]:
        """Every channel the server holds readings of."""
        return self._reader().list_channels()


def _seconds(ms: int) -> str:
    """A time [ms] as the HTTP API's seconds with three decimals, exactly."""
    return f"{ms // 1000}.{ms % 1000:03d}"


def _selector_text(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)  # a MetricsQL string: JSON escapes work


class VictoriaMetricsReader:
    """Reads readings back from VictoriaMetrics through ``/api/v1/export``.

    Parameters
    ----------
    url
        ``http://host:8428`` (single node) or a vmselect URL with its tenant path.
    timeout : [s]
    measurement
        The measurement the readings were written to.
    """

    def __init__(self, url: str, *, timeout: float = 10.0, measurement: str = MEASUREMENT) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.measurement = measurement

    def close(self) -> None:
        """Nothing to release (one HTTP request per call)."""

    def _get(self, path: str, parameters: Sequence[tuple[str, str]]) -> bytes:
        query = urllib.parse.urlencode(parameters)
        try:
            with urllib.request.urlopen(
                f"{self.url}{path}?{query}", timeout=self.timeout
            ) as answer:
                body: bytes = answer.read()
        except (urllib.error.URLError, OSError) as error:
            raise StoreUnavailable(f"VictoriaMetrics at {self.url}: {error}") from error
        return body

    def _series_selector(self, channel: Channel | None) -> str:
        names = "|".join(f"{self.measurement}_{field}" for field in ("value", "quality", "level"))
        labels = [f"__name__=~{_selector_text(names)}"]
        if channel is not None:
            labels += self._identity(channel)
        return "{" + ",".join(labels) + "}"

    def _identity(self, channel: Channel) -> list[str]:
        """The label matchers that pick out ``channel``'s series."""
        identity = {
            "site": channel.site,
            "device": channel.device,
            "channel": channel.name,
            "quantity": channel.quantity,
            "substance": channel.substance,
        }
        # An empty name or substance was left out, and ="" matches an absent label.
        return [f"{key}={_selector_text(stored_tag(text))}" for key, text in identity.items()]

    def read_window(self, channel: Channel, start_ns: int, end_ns: int) -> Window:
        """Readings of ``channel`` with ``start_ns <= ts <= end_ns`` [ns UTC].

        VictoriaMetrics keeps milliseconds: times come back truncated to them.
        """
        start_ms = start_ns // 1_000_000
        end_ms = -(-end_ns // 1_000_000)
        body = self._get(
            "/api/v1/export",
            [
                ("match[]", self._series_selector(channel)),
                ("start", f"{start_ms // 1000}.{start_ms % 1000:03d}"),
                ("end", f"{end_ms // 1000}.{end_ms % 1000:03d}"),
            ],
        )
        columns: dict[str, dict[int, float]] = {"value": {}, "quality": {}, "level": {}}
        for line in body.splitlines():
            if not line.strip():
                continue
            series = json.loads(line)
            field = series["metric"]["__name__"].removeprefix(f"{self.measurement}_")
            if field in columns:
                columns[field].update(zip(series["timestamps"], series["values"], strict=True))
        times = sorted(set(columns["quality"]) | set(columns["value"]))
        if not times:
            return Window.empty()
        ts = np.array(times, dtype=np.int64) * 1_000_000
        keep = (ts >= start_ns - start_ns % 1_000_000) & (ts <= end_ns)
        value = np.array([columns["value"].get(t, math.nan) for t in times], dtype=np.float64)
        quality = np.array([columns["quality"].get(t, 0) for t in times], dtype=np.uint16)
        level = np.array([columns["level"].get(t, 0) for t in times], dtype=np.uint8)
        return Window(ts[keep], value[keep], quality[keep], level[keep])

    def aggregate(
        self, channel: Channel, start_ns: int, end_ns: int, interval_ns: int
    ) -> Aggregates:
        """Min, mean and max per ``interval_ns`` [ns], computed by the server.

        The buckets are those of the SQLite store, ``[b, b + interval)`` with ``b`` a
        multiple of the interval, over the readings ``read_window`` returns (times
        truncated to milliseconds). VictoriaMetrics answers a point at ``t`` over
        ``(t - window, t]``: asked at ``t = b + interval - 1 ms``, that is exactly the
        bucket in milliseconds. It answers whole buckets; the partial buckets at the
        window's edges, an interval that is not whole milliseconds, or more than
        :data:`MAX_POINTS` buckets are aggregated here from the exported readings. The
        server has no bitwise OR, so the quality bits of a bucket whose highest quality
        is not 0 are OR-ed here from its exported quality points (flags are rare).
        """
        if interval_ns <= 0:
            raise ValueError(f"interval_ns must be positive, got {interval_ns}")
        if end_ns < start_ns:
            return aggregate_window(Window.empty(), interval_ns)
        step = interval_ns // _MS  # [ms]
        first_ms, last_ms = start_ns // _MS, end_ns // _MS  # what read_window keeps
        full_start = -(-first_ms // step) * step if step else 0
        full_end = (last_ms + 1) // step * step if step else 0
        buckets = (full_end - full_start) // step if step else 0
        if interval_ns % _MS or buckets <= 0 or buckets > MAX_POINTS:
            return aggregate_window(self.read_window(channel, start_ns, end_ns), interval_ns)
        parts = []
        if first_ms < full_start:
            edge = self.read_window(channel, start_ns, full_start * _MS - 1)
            parts.append(aggregate_window(edge, interval_ns))
        parts.append(self._server_buckets(channel, full_start, full_end, step))
        if full_end <= last_ms:
            edge = self.read_window(channel, full_end * _MS, end_ns)
            parts.append(aggregate_window(edge, interval_ns))
        return Aggregates(*(np.concatenate(column) for column in zip(*parts, strict=True)))

    def _server_buckets(
        self, channel: Channel, start_ms: int, end_ms: int, step: int
    ) -> Aggregates:
        """The whole buckets of ``step`` [ms] in ``[start_ms, end_ms)``, from the server."""
        identity = self._identity(channel)

        def over(field: str, function: str, outer: str, name: str) -> str:
            name_matcher = f"__name__={_selector_text(f'{self.measurement}_{field}')}"
            selector = "{" + ",".join([name_matcher, *identity]) + "}"
            return f'label_set({outer}({function}({selector}[{step}ms])), "f", "{name}")'

        # One request: a channel written with two units is two series, hence the
        # outer min/max/sum across them.
        query = (
            "union("
            + ", ".join(
                [
                    over("value", "min_over_time", "min", "minimum"),
                    over("value", "max_over_time", "max", "maximum"),
                    over("value", "sum_over_time", "sum", "total"),
                    over("value", "count_over_time", "sum", "count"),
                    over("level", "max_over_time", "max", "level"),
                    over("quality", "max_over_time", "max", "quality"),
                ]
            )
            + ")"
        )
        body = self._get(
            "/api/v1/query_range",
            [
                ("query", query),
                ("start", _seconds(start_ms + step - 1)),
                ("end", _seconds(end_ms - 1)),
                ("step", f"{step}ms"),
                ("nocache", "1"),  # else the server moves start and end onto the step
            ],
        )
        series: dict[str, dict[int, float]] = {}
        for result in json.loads(body)["data"]["result"]:
            series[result["metric"]["f"]] = {
                round(float(t) * 1000) - (step - 1): float(v) for t, v in result["values"]
            }
        # Every reading has a quality point, so its buckets are the buckets.
        starts_ms = np.array(sorted(series.get("quality", {})), dtype=np.int64)

        def column(name: str, missing: float) -> NDArray[np.float64]:
            values = series.get(name, {})
            return np.array([values.get(t, missing) for t in starts_ms.tolist()], np.float64)

        count = column("count", 0).astype(np.int64)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(count > 0, column("total", 0) / np.maximum(count, 1), np.nan)
        quality = self._quality_or(channel, starts_ms, column("quality", 0) > 0, step)
        return Aggregates(
            starts_ms * _MS,
            column("minimum", math.nan),
            mean,
            column("maximum", math.nan),
            count,
            quality,
            column("level", 0).astype(np.uint8),
        )

    def _quality_or(
        self, channel: Channel, starts_ms: NDArray[np.int64], flagged: NDArray[np.bool_], step: int
    ) -> NDArray[np.uint16]:
        """OR of the quality bits of each flagged bucket, from its exported points."""
        quality = np.zeros(len(starts_ms), np.uint16)
        if not flagged.any():
            return quality
        index = np.flatnonzero(flagged)
        # Runs of adjacent flagged buckets, each one export; many runs, one span.
        breaks = np.flatnonzero(np.diff(starts_ms[index]) != step) + 1
        runs = [(int(run[0]), int(run[-1])) for run in np.split(index, breaks)]
        if len(runs) > _FLAGGED_RUNS:
            runs = [(runs[0][0], runs[-1][1])]
        for first, last in runs:
            window = self.read_window(
                channel, int(starts_ms[first]) * _MS, (int(starts_ms[last]) + step) * _MS - 1
            )
            bucket = window.ts // _MS - (window.ts // _MS) % step
            where = np.searchsorted(starts_ms, bucket)
            inside = (where < len(starts_ms)) & (
                starts_ms[np.minimum(where, len(starts_ms) - 1)] == bucket
            )
            np.bitwise_or.at(quality, where[inside], window.quality[inside])
        return quality

    def list_channels(self) -> list[Channel]:
        """Every channel with a quality series (every reading has a quality)."""
        body = self._get(
            "/api/v1/series",
            # start=0 means "no start" to VictoriaMetrics, which then searches only the
            # last day; 1 s after 1970 asks for every series ever written.
            [("match[]", f"{self.measurement}_quality"), ("start", "1")],
        )
        channels = {
            Channel(
                site=labels.get("site", ""),
                device=labels.get("device", ""),
                quantity=labels.get("quantity", ""),
                unit=labels.get("unit", ""),
                substance=labels.get("substance", ""),
                name=labels.get("channel", ""),
            )
            for labels in json.loads(body)["data"]
        }
        return sorted(channels, key=lambda channel: (*channel.key, channel.unit))
