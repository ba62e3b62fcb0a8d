"""The only module that imports influxdb-client: its API has churned across releases.

:class:`InfluxWriter` sends a ready line-protocol payload in synchronous mode (the
client's batching mode would keep points in memory, where a crash loses them; the
outbox is our batching). :func:`write_points` is the client's ``Point`` object path,
kept for the benchmark that measures what the vectorised formatter saves.
"""

from __future__ import annotations

import numpy as np
import urllib3.exceptions
from influxdb_client.client.influxdb_client import InfluxDBClient
from influxdb_client.client.write.point import Point
from influxdb_client.client.write_api import SYNCHRONOUS
from influxdb_client.domain.write_precision import WritePrecision
from influxdb_client.rest import ApiException
from numpy.typing import NDArray

from hazmon.analysis.readings import ChannelTable, Readings

#: The client declares ``WritePrecision.NS`` as a plain ``str`` but types the parameter
#: as ``WritePrecision``; the value is what its HTTP layer sends (``precision=ns``).
_NANOSECONDS: WritePrecision = WritePrecision.NS  # type: ignore[assignment]


class StoreUnavailable(Exception):
    """The server did not accept a write or a read (down, refused, timed out, or an error)."""


class InfluxWriter:
    """Writes line protocol to ``/api/v2/write`` of InfluxDB 2.x/3.x or VictoriaMetrics.

    Parameters
    ----------
    url
        ``http://host:8086`` (InfluxDB) or ``http://host:8428`` (VictoriaMetrics).
    token, org, bucket
        InfluxDB credentials and target; VictoriaMetrics ignores them.
    timeout : [s]
        Per request.

    The constructor does no I/O; the client connects on the first write.
    """

    def __init__(
        self,
        url: str,
        *,
        token: str = "",
        org: str = "hazmon",
        bucket: str = "hazmon",
        timeout: float = 10.0,
    ) -> None:
        self.url = url
        self.org = org
        self.bucket = bucket
        self._client = InfluxDBClient(
            url=url, token=token, org=org, timeout=int(timeout * 1000), retries=False
        )
        self._write_api = self._client.write_api(write_options=SYNCHRONOUS)

    def write(self, payload: bytes) -> None:
        """Send one payload; return only once the server answered 2xx, else raise.

        Raises
        ------
        StoreUnavailable
            Refused, timed out, or answered with an error status.
        """
        try:
            self._write_api.write(
                bucket=self.bucket, org=self.org, record=payload, write_precision=_NANOSECONDS
            )
        except ApiException as error:
            raise StoreUnavailable(
                f"{self.url} refused the write: HTTP {error.status} {error.reason}: "
                f"{(error.body or '')[:200]}"
            ) from error
        except (urllib3.exceptions.HTTPError, OSError) as error:
            raise StoreUnavailable(f"{self.url} is unreachable: {error}") from error

    def close(self) -> None:
        """Release the HTTP connections (idempotent)."""
        self._write_api.close()  # type: ignore[no-untyped-call]
        self._client.close()  # type: ignore[no-untyped-call]


def write_points(
    writer: InfluxWriter,
    readings: Readings,
    level: NDArray[np.uint8],
    channels: ChannelTable,
    measurement: str,
) -> None:
    """Write a batch the client's documented way: one ``Point`` object per reading.

    A Python loop per reading: this is the baseline the benchmark compares
    :func:`hazmon.store.timeseries.line_protocol.format_lines` with.
    """
    points = []
    for channel_number, ts, value, quality, reading_level in zip(
        readings.channel.tolist(),
        readings.ts.tolist(),
        readings.value.tolist(),
        readings.quality.tolist(),
        level.tolist(),
        strict=True,
    ):
        channel = channels[channel_number]
        point = (
            Point(measurement)  # type: ignore[no-untyped-call]
            .tag("device", channel.device)
            .tag("quantity", channel.quantity)
            .tag("site", channel.site)
            .tag("unit", channel.unit)
        )
        if channel.substance:
            point = point.tag("substance", channel.substance)
        if value == value:  # not NaN
            point = point.field("value", value)
        point = point.field("quality", quality).field("level", reading_level)
        points.append(point.time(ts, _NANOSECONDS))
    try:
        writer._write_api.write(
            bucket=writer.bucket, org=writer.org, record=points, write_precision=_NANOSECONDS
        )
    except (ApiException, urllib3.exceptions.HTTPError, OSError) as error:
        raise StoreUnavailable(f"{writer.url}: {error}") from error
