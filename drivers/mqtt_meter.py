"""Meters and gateways publishing JSON over MQTT, declared by a profile's ``[mqtt]``.

:func:`decode_payload` is pure: JSON bytes in, channel values and timestamp out, or
the reason the payload was refused. :class:`MqttMeter` subscribes (QoS 1, persistent
session, paho's reconnect with backoff, all through
:mod:`hazmon.drivers.mqtt_adapter`) and turns each message into readings. A malformed
payload is counted and logged with its topic, never fatal.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import math
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from hazmon.config.addresses import MqttAddress
from hazmon.config.profile import MqttSection, Profile, mqtt_topic_matches
from hazmon.config.quality import Quality
from hazmon.drivers.base import PollResult
from hazmon.drivers.channel_values import ChannelMapper
from hazmon.drivers.errors import TransportError
from hazmon.drivers.mqtt_adapter import MqttConnection, MqttSettings

log = logging.getLogger(__name__)

_MISSING = object()


def mqtt_section(profile: Profile) -> MqttSection:
    """The profile's ``[mqtt]`` section.

    Raises
    ------
    ValueError
        For a profile of another transport.
    """
    if profile.mqtt is None:
        raise ValueError(f"profile {profile.name} is a {profile.transport} profile, not [mqtt]")
    return profile.mqtt


def lookup_path(document: Any, path: str) -> Any:
    """The value at ``path`` (dot-separated keys, list indices as numbers) in a JSON
    document, or ``_MISSING``."""
    node = document
    for key in path.split("."):
        if isinstance(node, dict) and key in node:
            node = node[key]
        elif isinstance(node, list) and key.isdigit() and int(key) < len(node):
            node = node[int(key)]
        else:
            return _MISSING
    return node


def _as_number(value: Any) -> float | None:
    # bool is an int in Python; a true/false in a value field is no measurement.
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _timestamp_ns(value: Any, timestamp_format: str) -> int | None:
    if timestamp_format == "iso8601":
        if not isinstance(value, str):
            return None
        try:
            moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        if moment.tzinfo is None:
            return None  # a local time of unknown zone is not a timestamp
        return round(moment.timestamp() * 1e9)
    number = _as_number(value)
    if number is None:
        return None
    scale = 1e9 if timestamp_format == "epoch_s" else 1e6
    nanoseconds = number * scale
    # Beyond int64 nanoseconds (year 2262) the field cannot be a timestamp.
    if not 0 <= nanoseconds < 2**63:
        return None
    return round(nanoseconds)


@dataclass(frozen=True, slots=True)
class PayloadOutcome:
    """What :func:`decode_payload` made of a payload.

    Attributes
    ----------
    values
        Channel → raw value (None: absent, null or not a number, a sensor fault);
        None when the payload was refused.
    ts_ns
        The payload's own timestamp [ns UTC], or None (use the arrival time).
    error
        Why the payload was refused (not JSON, not an object, no channel at all).
    """

    values: dict[str, float | None] | None
    ts_ns: int | None
    error: str | None


def decode_payload(section: MqttSection, payload: bytes) -> PayloadOutcome:
    """Decode one JSON payload by the profile's field paths; never raises."""
    try:
        document = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        return PayloadOutcome(None, None, f"not JSON: {error}")
    if not isinstance(document, dict | list):
        return PayloadOutcome(None, None, f"JSON {type(document).__name__}, not an object")
    found = {f.channel: lookup_path(document, f.path) for f in section.fields}
    if all(value is _MISSING for value in found.values()):
        paths = ", ".join(f.path for f in section.fields)
        return PayloadOutcome(None, None, f"none of the field paths ({paths}) is present")
    values = {
        channel: None if value is _MISSING else _as_number(value)
        for channel, value in found.items()
    }
    ts_ns: int | None = None
    if section.timestamp_path is not None:
        stamp = lookup_path(document, section.timestamp_path)
        if stamp is not _MISSING:
            ts_ns = _timestamp_ns(stamp, section.timestamp_format)
    return PayloadOutcome(values, ts_ns, None)


def device_topic(template: str, device_id: str) -> str:
    """A profile topic with ``{device}`` replaced by the site's device id."""
    return template.replace("{device}", device_id)


class MqttMeter:
    """One MQTT meter (or one sensor behind a gateway), a streaming meter.

    Parameters
    ----------
    address
        The broker.
    profile
        An ``[mqtt]`` profile.
    device_id
        The site's device id: replaces ``{device}`` in the profile's topic, and names
        the persistent session (client id ``hazmon-<device_id>``).
    channel_numbers
        Index of each profile channel in the pipeline's channel table.
    calibration_due
        After this date every reading gets CALIBRATION_DUE.
    silence_timeout : [s]
        No message for this long gives a row of COMM_TIMEOUT.
    connect_timeout : [s]
        How long to wait for the broker before flagging a COMM_ERROR row (paho keeps
        trying meanwhile, with its backoff).
    client_id
        Overrides the client id (the session is kept under it).
    warmup : [s]
        Readings this soon after the first connection get WARMUP; the profile's by
        default.

    Attributes
    ----------
    malformed
        Payloads refused (not JSON, no channel), each logged with its topic.
    """

    def __init__(
        self,
        address: MqttAddress,
        profile: Profile,
        device_id: str,
        channel_numbers: NDArray[np.int32],
        *,
        calibration_due: dt.date | None = None,
        silence_timeout: float = 10.0,
        connect_timeout: float = 5.0,
        client_id: str | None = None,
        warmup: float | None = None,
        reconnect_min: float = 0.5,
        reconnect_max: float = 30.0,
    ) -> None:
        self.section = mqtt_section(profile)
        self.device_id = device_id
        self.topic_filter = device_topic(self.section.topic, device_id)
        self.mapper = ChannelMapper(
            profile,
            channel_numbers,
            calibration_due=calibration_due,
            warmup=profile.calibration.warmup_seconds if warmup is None else warmup,
        )
        self.channel_numbers = self.mapper.channel_numbers
        self.silence_timeout = silence_timeout
        self.connect_timeout = connect_timeout
        self.connection = MqttConnection(
            MqttSettings(
                host=address.host,
                port=address.port,
                tls=address.tls,
                client_id=client_id or f"hazmon-{device_id}",
                clean_start=False,
                session_expiry=self.section.session_expiry,
                reconnect_min=reconnect_min,
                reconnect_max=reconnect_max,
            )
        )
        self.malformed = 0
        self.messages = 0

    @property
    def label(self) -> str:
        """Broker and topic filter, for messages."""
        return f"{self.connection.address} {self.topic_filter}"

    def decode(self, topic: str, payload: bytes, received_ns: int) -> PollResult | None:
        """Readings from one message, or None (counted, logged) when it is refused."""
        outcome = decode_payload(self.section, payload)
        if outcome.values is None:
            self.malformed += 1
            log.warning("%s: malformed payload on %s: %s", self.device_id, topic, outcome.error)
            return None
        timestamp = outcome.ts_ns if outcome.ts_ns is not None else received_ns
        return PollResult(self.mapper.readings(outcome.values, timestamp), None, (), ())

    async def results(self) -> AsyncIterator[PollResult]:
        """Readings per message; flagged rows while the broker or the meter is silent."""
        connection = self.connection
        while True:
            try:
                await connection.connect(timeout=self.connect_timeout)
                break
            except TransportError as error:
                yield PollResult(
                    self.mapper.failed(Quality.COMM_ERROR, time.time_ns()), None, (str(error),), ()
                )
        self.mapper.start_warmup()
        await connection.subscribe(self.topic_filter, qos=self.section.qos)
        messages = connection.messages()
        # One pending read at a time, kept across silences: cancelling a read of the
        # adapter's message generator would finish the generator for good.
        pending: asyncio.Future[Any] | None = None
        try:
            while True:
                if pending is None:
                    pending = asyncio.ensure_future(anext(messages))
                done, _ = await asyncio.wait({pending}, timeout=self.silence_timeout)
                if not done:
                    state = "connected" if connection.connected else "broker unreachable"
                    text = f"{self.label}: no message within {self.silence_timeout} s ({state})"
                    flag = Quality.COMM_TIMEOUT if connection.connected else Quality.COMM_ERROR
                    yield PollResult(self.mapper.failed(flag, time.time_ns()), None, (text,), ())
                    continue
                message = pending.result()
                pending = None
                if not mqtt_topic_matches(self.topic_filter, message.topic):
                    continue  # a subscription left in the persistent session
                self.messages += 1
                result = self.decode(message.topic, message.payload, message.received_ns)
                if result is not None:
                    yield result
        finally:
            if pending is not None:
                pending.cancel()
                with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
                    await pending

    async def close(self) -> None:
        """Disconnect (the broker keeps the session for ``session_expiry``)."""
        await self.connection.close()
