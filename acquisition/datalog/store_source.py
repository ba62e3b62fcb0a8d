"""Readings already in a hazmon store (SQLite, VictoriaMetrics) as a :class:`Datalog`."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hazmon.acquisition.datalog.errors import DatalogError
from hazmon.acquisition.datalog.result import Datalog
from hazmon.acquisition.datalog.summary import ColumnRead, ReadSummary
from hazmon.analysis.readings import ChannelTable, Readings


def read_store(
    target: str,
    *,
    site: str | None = None,
    device: str | None = None,
    start_ns: int | None = None,
    end_ns: int | None = None,
) -> Datalog:
    """Readings already in a hazmon store, as a :class:`Datalog` the evaluator takes.

    Parameters
    ----------
    target
        A SQLite store file, or the ``http://host:port`` of a VictoriaMetrics node the
        line-protocol store wrote to (InfluxDB itself is not read back).
    site, device
        Keep only channels of this site / device.
    start_ns, end_ns
        Keep readings with ``start_ns <= ts <= end_ns`` [ns UTC].

    Raises
    ------
    DatalogError
        The store is missing, not a store, unreachable, or holds no matching readings.
    """
    import sqlite3

    from hazmon.store.timeseries import WindowReader
    from hazmon.store.timeseries.influx_client import StoreUnavailable
    from hazmon.store.timeseries.line_protocol import VictoriaMetricsReader
    from hazmon.store.timeseries.sqlite import SqliteTimeSeries

    reader: WindowReader
    if target.startswith(("http://", "https://")):
        kind = "victoria-metrics"
        vm = VictoriaMetricsReader(target)
        reader, lister = vm, vm.list_channels
    else:
        kind = "sqlite"
        path = Path(target)
        if path.is_dir():
            raise DatalogError(target, ["is a directory; give the hazmon SQLite store file"])
        if not path.is_file():
            raise DatalogError(target, ["no such store file; check the path (hazmon demo --db)"])
        store = SqliteTimeSeries(path)
        reader, lister = store, store.list_channels
    start = -(2**62) if start_ns is None else start_ns
    end = 2**62 if end_ns is None else end_ns
    summary = ReadSummary(file=target, format=kind, layout="store")
    summary.time_zone = "UTC (stored)"
    summary.time_format = "ns since 1970 (stored)"
    try:
        if isinstance(reader, SqliteTimeSeries):
            reader.open()
        known = lister()
        chosen = [
            channel
            for channel in known
            if (site is None or channel.site == site)
            and (device is None or channel.device == device)
        ]
        if not chosen:
            found = sorted({f"site {c.site!r} device {c.device!r}" for c in known})
            raise DatalogError(
                target,
                [
                    f"no channels for site {site!r} device {device!r}; the store holds: "
                    f"{', '.join(found) or 'nothing'}"
                ],
            )
        channels = ChannelTable()
        parts: list[Readings] = []
        kinds: dict[tuple[str, str, str, str, str], str] = {}
        for channel in chosen:
            window = reader.read_window(channel, start, end)
            number = channels.add(channel)
            kinds[channel.key] = "instantaneous"
            parts.append(
                Readings.from_columns(
                    window.ts,
                    np.full(len(window.ts), number, np.int32),
                    window.value,
                    window.quality,
                )
            )
            summary.columns.append(
                ColumnRead(
                    f"{channel.site}/{channel.device}/{channel.quantity}",
                    channel.device,
                    channel.quantity,
                    channel.unit,
                    channel.unit,
                    "instantaneous",
                    "store (polled readings)",
                )
            )
    except sqlite3.DatabaseError as error:
        raise DatalogError(target, [f"not a hazmon SQLite store: {error}"]) from error
    except StoreUnavailable as error:
        raise DatalogError(target, [f"cannot read the store: {error}"]) from error
    finally:
        reader.close()
    readings = Readings.concat(parts)
    if not len(readings):
        raise DatalogError(target, ["no readings in the chosen window (--from/--to)"])
    summary.rows = summary.readings = len(readings)
    summary.first_ns, summary.last_ns = int(readings.ts.min()), int(readings.ts.max())
    summary.blank_values = int(np.isnan(readings.value).sum())
    return Datalog(
        target, "store", readings, channels, summary.blank_values, read=summary, value_kinds=kinds
    )
