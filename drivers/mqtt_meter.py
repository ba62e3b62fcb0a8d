"""Meters and gateways publishing JSON over MQTT, declared by a profile's ``[mqtt]``.

:func:`decode_payload` is pure: JSON bytes in, channel values and timestamp out, or
the reason the payload was refused. :class:`MqttMeter` subscribes (QoS 1, persistent
session, through :mod:`hazmon.drivers.mqtt_adapter`) and hands its messages to the one
streaming loop (:func:`hazmon.drivers.stream.stream_results`), which reconnects with
the one backoff after a lost broker. A malformed payload is counted and logged with
its topic, never fatal. Readings carry the payload's timestamp; warm-up is judged by
when they arrived, so a backlog kept by the persistent session is not warming up.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections import deque
from dataclasses import dataclass
from typing import Any, Unpack

import numpy as np
from numpy.typing import NDArray

from hazmon.config.addresses import MqttAddress
from hazmon.config.profile import MqttSection, Profile, mqtt_topic_matches
from hazmon.config.site import MqttCredentials
from hazmon.drivers.base import transport_section
from hazmon.drivers.mqtt_adapter import MqttConnection, MqttMessage, login_settings
from hazmon.drivers.stream import (
    DEAD_LETTER_BYTES,
    DeadLetter,
    Decoded,
    Rejected,
    StreamMeter,
    StreamOptions,
)

_MISSING = object()

#: Malformed payloads a meter keeps until the service takes them (older ones go).
DEAD_LETTERS_KEPT = 1000


def mqtt_section(profile: Profile) -> MqttSection:
    """The profile's ``[mqtt]`` section; ValueError for another transport's profile."""
    return transport_section(profile, profile.mqtt, "mqtt")


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
    try:
        number = float(value)
    except OverflowError:  # a JSON integer of hundreds of digits
        return None
    return number if math.isfinite(number) else None


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_SCALE_NS = {"epoch_s": 1_000_000_000, "epoch_ms": 1_000_000}


def _timestamp_ns(value: Any, timestamp_format: str) -> int | None:
    """The stamp as exact integer nanoseconds, however far from now (the mapper's
    window judges it); None when it cannot be read as a time at all."""
    if timestamp_format == "iso8601":
        if not isinstance(value, str):
            return None
        try:
            moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
            if moment.tzinfo is None:
                return None  # a local time of unknown zone is not a timestamp
            # Integer arithmetic: a float timestamp() of year 9999 loses nanoseconds
            # and one of year 1 may not exist on the platform.
            return (moment - _EPOCH) // dt.timedelta(microseconds=1) * 1000
        except (ValueError, OverflowError):
            return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    scale = _SCALE_NS[timestamp_format]
    if isinstance(value, int):
        return value * scale  # exact, even for 400 digits
    if not math.isfinite(value):
        return None
    return round(value * scale)


@dataclass(frozen=True, slots=True)
class PayloadOutcome:
    """What :func:`decode_payload` made of a payload.

    Attributes
    ----------
    values
        Channel → raw value (None: absent, null or not a number, a sensor fault);
        None when the payload was refused.
    ts_ns
        The payload's own timestamp [ns UTC], not yet judged by the sane window
        (see :func:`hazmon.config.quality.sane_timestamp`), or None (use the
        arrival time).
    clock_invalid
        The payload has a timestamp that cannot be read as a time.
    error
        Why the payload was refused (not JSON, not an object, no channel at all).
    """

    values: dict[str, float | None] | None
    ts_ns: int | None
    error: str | None
    clock_invalid: bool = False


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
    clock_invalid = False
    if section.timestamp_path is not None:
        stamp = lookup_path(document, section.timestamp_path)
        if stamp is not _MISSING:
            ts_ns = _timestamp_ns(stamp, section.timestamp_format)
            clock_invalid = ts_ns is None
    return PayloadOutcome(values, ts_ns, None, clock_invalid)


def device_topic(template: str, device_id: str) -> str:
    """A profile topic with ``{device}`` replaced by the site's device id."""
    return template.replace("{device}", device_id)


class MqttFramer:
    """The pure framer of an MQTT meter: a message in, its values (stamped with the
    payload's time) or a counted rejection out.

    Attributes
    ----------
    messages
        Messages on the meter's topic filter.
    malformed
        Payloads refused (not JSON, no channel), each logged with its topic.
    """

    def __init__(self, section: MqttSection, topic_filter: str) -> None:
        self.section = section
        self.topic_filter = topic_filter
        self.messages = 0
        self.malformed = 0
        self.dead_letters: deque[DeadLetter] = deque(maxlen=DEAD_LETTERS_KEPT)
        """Malformed payloads not yet taken (the service keeps them in its store)."""

    def take_dead_letters(self) -> list[DeadLetter]:
        """The malformed payloads kept since the last call, oldest first."""
        taken = list(self.dead_letters)
        self.dead_letters.clear()
        return taken

    def feed(self, chunk: MqttMessage) -> list[Decoded | Rejected]:
        """The values of one message; nothing for a topic the meter does not follow."""
        if not mqtt_topic_matches(self.topic_filter, chunk.topic):
            return []  # a subscription left in the persistent session
        self.messages += 1
        outcome = decode_payload(self.section, chunk.payload)
        if outcome.values is None:
            self.malformed += 1
            self.dead_letters.append(
                DeadLetter(
                    chunk.topic,
                    chunk.received_ns,
                    str(outcome.error),
                    bytes(chunk.payload[:DEAD_LETTER_BYTES]),
                )
            )
            return [Rejected(f"malformed payload on {chunk.topic}: {outcome.error}", None)]
        ts_ns = chunk.received_ns if outcome.ts_ns is None else outcome.ts_ns
        return [
            Decoded(
                outcome.values,
                ts_ns,
                arrived_ns=chunk.received_ns,
                clock_invalid=outcome.clock_invalid,
            )
        ]


class MqttLink:
    """An MQTT session as the link of the streaming loop: opening connects and
    subscribes, reading takes the next message, a lost connection is a link error.

    Parameters
    ----------
    connection
        The broker connection (its persistent session keeps messages while it is
        closed between attempts).
    topic_filter, qos
        The subscription.
    connect_timeout : [s]
        How long one attempt to connect may take.
    """

    def __init__(
        self, connection: MqttConnection, topic_filter: str, qos: int, connect_timeout: float
    ) -> None:
        self.connection = connection
        self.topic_filter = topic_filter
        self.qos = qos
        self.connect_timeout = connect_timeout

    @property
    def label(self) -> str:
        """Broker and topic filter, for messages."""
        return f"{self.connection.address} {self.topic_filter}"

    async def open(self) -> None:
        """Connect and subscribe."""
        await self.connection.connect(timeout=self.connect_timeout)
        await self.connection.subscribe(self.topic_filter, qos=self.qos)

    async def read(self, timeout: float) -> MqttMessage | None:
        """The next message, or None after ``timeout`` [s]."""
        return await self.connection.receive(timeout)

    async def close(self) -> None:
        """Disconnect (the broker keeps the session)."""
        await self.connection.close()


class MqttMeter(StreamMeter[MqttMessage]):
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
    connect_timeout : [s]
        How long one attempt to reach the broker may take before a COMM_ERROR row.
    client_id
        Overrides the client id (the session is kept under it).
    login
        How to log in to the broker (see
        :meth:`hazmon.config.site.SiteConfig.broker_login`: the service's own
        ``[mqtt]`` login on its broker); the default variables and system CAs if None.
    options
        See :class:`~hazmon.drivers.stream.StreamOptions`: calibration due date,
        warm-up (judged by when a reading arrives, whatever time its payload
        carries), silence (no message; 10 s by default) timeout, reconnection backoff.

    Attributes
    ----------
    payloads
        The payload framer: its counts of messages and of malformed payloads.
    """

    def __init__(
        self,
        address: MqttAddress,
        profile: Profile,
        device_id: str,
        channel_numbers: NDArray[np.int32],
        *,
        connect_timeout: float = 5.0,
        client_id: str | None = None,
        login: MqttCredentials | None = None,
        **options: Unpack[StreamOptions],
    ) -> None:
        section = mqtt_section(profile)
        self.device_id = device_id
        self.topic_filter = device_topic(section.topic, device_id)
        settings = login_settings(
            login or MqttCredentials(),
            f"device {device_id}",
            address.host,
            address.port,
            tls=address.tls,
            client_id=client_id or f"hazmon-{device_id}",
            clean_start=False,
            session_expiry=section.session_expiry,
            reconnect_initial=options.get("reconnect_initial", 0.5),
            reconnect_max=options.get("reconnect_max", 30.0),
        )
        self.connection = MqttConnection(settings)
        self.payloads = MqttFramer(section, self.topic_filter)
        link = MqttLink(self.connection, self.topic_filter, section.qos, connect_timeout)
        options.setdefault("silence_timeout", 10.0)
        super().__init__(link, self.payloads, profile, channel_numbers, **options)
        self.section = section

    def take_dead_letters(self) -> list[DeadLetter]:
        """The malformed payloads since the last call (the service keeps them)."""
        return self.payloads.take_dead_letters()
