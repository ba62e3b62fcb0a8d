"""Readings over MQTT: the payload format, the field kit's durable publisher.

Topic ``hazmon/<site>/<device>/<quantity>``; one message carries a batch of readings
of that one channel, as JSON (``hazmon.readings/1``)::

    {"schema": "hazmon.readings/1", "site": "plant-a", "device": "gd-1",
     "quantity": "lel", "unit": "%LEL", "substance": "",
     "ts": [1700000000000000000, ...],   # [ns UTC]
     "value": [12.5, null, ...],          # canonical unit; null when no value
     "quality": [0, 1, ...],              # hazmon.config.quality.Quality bits
     "level": [0, 0, ...],                # the kit's own level (central re-evaluates)
     "boot": 1700000000000000000,         # [ns UTC] when the publisher started
     "seq": 17}                           # this channel's message number since boot

``boot`` and ``seq`` let the centre see loss between the kit and itself: the messages
of one channel from one publisher run are numbered 1, 2, 3 …, so a missing number is a
message the broker dropped (``seq`` restarts at 1 with a new ``boot``). Both are
optional: a payload without them (an older kit, Node-RED) is accepted, unnumbered.

The decoder treats a payload as untrusted input: a field of the wrong shape (a 2-D
``value``, a number where a list belongs) is a :class:`PayloadError`; a value beyond
the float range is NaN with ``SENSOR_FAULT``; a timestamp outside the sane window
(before 2000, more than a day after it arrived) is replaced by the arrival time and
flagged ``CLOCK_INVALID`` — nothing in a payload can raise anything else.

JSON rather than a binary format because any consumer (Node-RED, a Python script, a
Telegraf ``json_v2`` parser) can read it, and batching makes its size irrelevant:
the per-message cost (broker routing, a PUBACK) dominates, so readings of one channel
are collected for ``publish_interval`` seconds and sent as one message.

The field kit never loses a reading to a broker outage: a message is committed to the
durable spool (:mod:`hazmon.store.spool`, ``synchronous=FULL``: a power cut loses
nothing either) before it is published, and deleted only after the broker
acknowledged it (QoS 1). Delivery is at least once: a message whose acknowledgement was lost is
sent again, and the central store keeps a reading once (same channel and time).

End-to-end confirmation (``confirm = true`` in ``[mqtt]``): a broker's PUBACK may come
before the message is safe (the NATS MQTT gateway acknowledges before JetStream has
stored it, so a node kill can lose an acknowledged message). With confirmation on, a
message stays spooled after its PUBACK until the centre confirms it: a central worker,
once it has stored a channel's messages, publishes on
``hazmon-confirm/<site>/<device>/<channel>`` the highest ``seq`` of each publisher run
(``boot``) below which it has every message (``hazmon.confirm/1``:
``{"schema": ..., "boot": B, "seq": S}``, and ``"missing"``: the numbers above ``S`` it
lacks although later ones came, which the kit sends again at once). A message
unconfirmed after ``confirm_timeout`` is sent again (the one
:class:`~hazmon.retry.Backoff` stretches the wait while nothing is confirmed).
Numbered messages then also carry ``held``: the lowest ``seq`` of the run the kit
still holds, so the centre needs no memory older than that (a takeover replays hours,
a kit's run may last months) and a message the kit had to drop (a disk full for
hours) does not hold back the confirmation of those after it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import sqlite3
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

from hazmon.analysis.readings import Channel, ChannelTable, Readings
from hazmon.config.quality import EARLIEST_NS, MAX_AHEAD_NS, Quality
from hazmon.drivers.errors import TransportConnectionError, TransportTimeout
from hazmon.drivers.mqtt_adapter import MqttConnection
from hazmon.retry import Backoff
from hazmon.store.spool import LegacyTable, Spool, SpoolItem

log = logging.getLogger(__name__)

READINGS_SCHEMA = "hazmon.readings/1"
CONFIRM_SCHEMA = "hazmon.confirm/1"
#: The first level of the readings topics, and of the centre's confirmations of them.
READINGS_PREFIX = "hazmon"
CONFIRM_PREFIX = "hazmon-confirm"


def readings_topic(channel: Channel) -> str:
    """``hazmon/<site>/<device>/<channel>`` (the quantity for an unnamed channel)."""
    return f"{READINGS_PREFIX}/{channel.site}/{channel.device}/{channel.name or channel.quantity}"


def confirm_topic(readings: str) -> str:
    """The topic the centre confirms a readings topic's messages on
    (``hazmon-confirm/<site>/<device>/<channel>``)."""
    return CONFIRM_PREFIX + readings.removeprefix(READINGS_PREFIX)


#: Missing numbers a confirmation may name at most (more is not a confirmation of ours).
MISSING_MAX = 1000


class Confirmed(NamedTuple):
    """A ``hazmon.confirm/1`` message: what the centre has of one publisher run."""

    boot: int
    """The run [ns UTC]."""
    seq: int
    """Every message of the run up to this one is stored."""
    missing: tuple[int, ...] = ()
    """Numbers above ``seq`` the centre has not seen although it has later ones (lost on
    the way): the kit sends them again at once instead of after ``confirm_timeout``."""


def encode_confirm(boot: int, seq: int, missing: Sequence[int] = ()) -> bytes:
    """A ``hazmon.confirm/1`` payload: every message of run ``boot`` [ns UTC] up to
    ``seq`` is stored, and (``missing``, when any) these later ones never came."""
    document: dict[str, object] = {"schema": CONFIRM_SCHEMA, "boot": boot, "seq": seq}
    if missing:
        document["missing"] = list(missing)
    return json.dumps(document, separators=(",", ":")).encode()


def decode_confirm(payload: bytes) -> Confirmed:
    """The content of a ``hazmon.confirm/1`` payload (untrusted input).

    Raises
    ------
    PayloadError
        Naming what is wrong.
    """
    try:
        data = json.loads(payload)
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        raise PayloadError(f"not JSON: {error}") from error
    if not isinstance(data, dict) or data.get("schema") != CONFIRM_SCHEMA:
        raise PayloadError(f"schema is not {CONFIRM_SCHEMA!r}")
    boot, seq = _number(data, "boot"), _number(data, "seq")
    if boot is None or seq is None:
        raise PayloadError("'boot' or 'seq' is missing")
    missing = data.get("missing", [])
    if (
        not isinstance(missing, list)
        or len(missing) > MISSING_MAX
        or not all(type(number) is int and number > seq for number in missing)
    ):
        raise PayloadError(f"'missing' is not a list of at most {MISSING_MAX} numbers above 'seq'")
    return Confirmed(boot, seq, tuple(missing))


def encode_readings(
    channel: Channel,
    ts: NDArray[np.int64],
    value: NDArray[np.float64],
    quality: NDArray[np.uint16],
    level: NDArray[np.uint8],
    *,
    boot: int | None = None,
    seq: int | None = None,
    held: int | None = None,
) -> bytes:
    """One channel's readings as a ``hazmon.readings/1`` payload (numbered when ``boot``
    [ns UTC] and ``seq`` are given; ``held`` the lowest ``seq`` of the run the kit still
    holds unconfirmed, when it waits for confirmations)."""
    values: list[float | None] = value.tolist()
    if np.isnan(value).any():
        values = [None if v != v else v for v in values]  # NaN → null (JSON has no NaN)
    numbering: dict[str, int] = {} if boot is None or seq is None else {"boot": boot, "seq": seq}
    if numbering and held is not None:
        numbering["held"] = held
    return json.dumps(
        {
            "schema": READINGS_SCHEMA,
            "site": channel.site,
            "device": channel.device,
            "channel": channel.name,
            "quantity": channel.quantity,
            "unit": channel.unit,
            "substance": channel.substance,
            "ts": ts.tolist(),
            "value": values,
            "quality": quality.tolist(),
            "level": level.tolist(),
            **numbering,
        },
        separators=(",", ":"),
    ).encode()


class PayloadError(ValueError):
    """A message that is not a valid ``hazmon.readings/1`` payload."""


#: Largest reading count one message may carry (a kit sends seconds' worth).
MAX_READINGS = 1_000_000


@dataclass(frozen=True, slots=True)
class DecodedReadings:
    """One decoded message: its channel and columns, and its number when it has one."""

    channel: Channel
    ts: NDArray[np.int64]
    value: NDArray[np.float64]
    quality: NDArray[np.uint16]
    boot: int | None = None
    seq: int | None = None
    held: int | None = None
    """The lowest ``seq`` of the run the kit still held: every one below is confirmed."""


def _list(data: dict[str, object], key: str) -> list[object]:
    column = data.get(key)
    if not isinstance(column, list):
        raise PayloadError(f"{key!r} is not a list")
    if len(column) > MAX_READINGS:
        raise PayloadError(f"{key!r} has more than {MAX_READINGS} entries")
    return column


# The checks below look at each item's exact type through ``map(type, ...)`` (one C loop;
# ``bool`` is its own type, so true/false never pass for 1/0) and leave the rest to numpy:
# a per-item ``isinstance`` generator was 43 % of a central worker's batch.
_INTEGER = frozenset({int})
_NUMBER_OR_NULL = frozenset({int, float, type(None)})


def _integers(column: list[object], key: str, what: str) -> NDArray[np.int64] | None:
    """``column`` as int64, or ``None`` when an integer is beyond the int64 range.

    Raises
    ------
    PayloadError
        An item that is not an integer.
    """
    if not set(map(type, column)) <= _INTEGER:
        raise PayloadError(f"{key!r} holds something other than {what}")
    try:
        return np.array(column, dtype=np.int64)
    except OverflowError:
        return None


def _times(column: list[object], arrival_ns: int) -> tuple[NDArray[np.int64], NDArray[np.bool_]]:
    """Timestamps [ns UTC] and which were outside the sane window (given arrival time)."""
    ts = _integers(column, "ts", "integers [ns]")
    # The window a meter's own clock is trusted in (config.quality.sane_timestamp).
    latest = arrival_ns + MAX_AHEAD_NS
    if ts is None:
        # Python ints are unbounded: clip in Python before numpy sees them.
        clipped = [item if EARLIEST_NS <= item <= latest else -1 for item in column]  # type: ignore[operator]
        ts = np.asarray(clipped, dtype=np.int64)
    bad = (ts < EARLIEST_NS) | (ts > latest)
    ts[bad] = arrival_ns
    return ts, bad


def _values(column: list[object]) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """Values in the canonical unit (NaN for null) and which were beyond float range
    (an integer too large for a float, or JSON's NaN / Infinity)."""
    if not set(map(type, column)) <= _NUMBER_OR_NULL:
        raise PayloadError("'value' holds something other than numbers or null")
    # A null is absent; anything else that is not a finite float is out of range.
    present = np.array([item is not None for item in column], dtype=bool)
    try:
        # One numpy call (None becomes NaN); an integer beyond the float range raises
        # and takes the careful path below.
        values = np.array(column, dtype=np.float64)
    except OverflowError:
        values = np.array(
            [float("nan") if item is None else _float_or_inf(item) for item in column],
            dtype=np.float64,
        )
    huge = present & ~np.isfinite(values)
    values[huge] = np.nan
    return values, huge


def _float_or_inf(item: object) -> float:
    try:
        return float(item)  # type: ignore[arg-type]
    except OverflowError:
        return float("inf")


def _qualities(column: list[object]) -> NDArray[np.uint16]:
    flags = _integers(column, "quality", "16-bit flags")
    if flags is None or ((flags < 0) | (flags > 0xFFFF)).any():
        raise PayloadError("'quality' holds something other than 16-bit flags")
    return flags.astype(np.uint16)


def _number(data: dict[str, object], key: str) -> int | None:
    item = data.get(key)
    if item is None:
        return None
    if not isinstance(item, int) or isinstance(item, bool) or not 0 <= item < 2**63:
        raise PayloadError(f"{key!r} is not a non-negative 64-bit integer")
    return item


def decode_readings(payload: bytes, *, arrival_ns: int | None = None) -> DecodedReadings:
    """Parse a ``hazmon.readings/1`` payload (untrusted input).

    Parameters
    ----------
    payload
        The message body.
    arrival_ns : [ns UTC]
        When it arrived (default now): the time a reading outside the sane window
        gets, flagged ``CLOCK_INVALID``.

    Raises
    ------
    PayloadError
        Naming what is wrong (the caller counts it and keeps the message as a dead
        letter; nothing else is lost).
    """
    try:
        data = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        raise PayloadError(f"not JSON: {error}") from error
    except ValueError as error:  # Python's limit on the digits of an integer
        raise PayloadError(f"not JSON: {error}") from error
    if not isinstance(data, dict) or data.get("schema") != READINGS_SCHEMA:
        raise PayloadError(f"schema is not {READINGS_SCHEMA!r}")
    for key in ("site", "device", "quantity", "unit"):
        if not isinstance(data.get(key), str) or not data[key]:
            raise PayloadError(f"{key!r} is not a non-empty string")
    for key in ("channel", "substance"):
        if not isinstance(data.get(key, ""), str):
            raise PayloadError(f"{key!r} is not a string")
    channel = Channel(
        site=data["site"],
        device=data["device"],
        name=data.get("channel", ""),
        quantity=data["quantity"],
        unit=data["unit"],
        substance=data.get("substance", ""),
    )
    ts_column, value_column, quality_column = (
        _list(data, key) for key in ("ts", "value", "quality")
    )
    if not len(ts_column) == len(value_column) == len(quality_column):
        raise PayloadError("ts, value and quality differ in length")
    arrival = time.time_ns() if arrival_ns is None else arrival_ns
    ts, bad_time = _times(ts_column, arrival)
    value, huge = _values(value_column)
    quality = _qualities(quality_column)
    quality = quality | np.where(bad_time, np.uint16(Quality.CLOCK_INVALID), np.uint16(0))
    quality = quality | np.where(huge, np.uint16(Quality.SENSOR_FAULT), np.uint16(0))
    return DecodedReadings(
        channel,
        ts,
        value,
        quality.astype(np.uint16),
        _number(data, "boot"),
        _number(data, "seq"),
        _number(data, "held"),
    )


class MessageSpool(Spool):
    """The field kit's MQTT messages, committed before they are published: the one
    durable spool (:class:`hazmon.store.spool.Spool`, ``synchronous=FULL``, so a power
    cut loses nothing either); an item's label is its topic.

    Parameters
    ----------
    path
        The spool file; reopening it resumes where it was, and a file of an older
        release (its ``messages`` table) is adopted.
    """

    def __init__(self, path: str | Path) -> None:
        super().__init__(path, legacy=[LegacyTable("messages", label="topic", weight="1")])


#: Messages kept in memory while the spool's disk refuses writes: at one message per
#: channel and ``publish_interval``, an hour of a 100-channel kit at 1 s.
UNSPOOLED_MAX = 360_000


#: A message the centre names missing is sent again at once, but not again within this
#: [s] (its resend is on the way: confirmations come every 0.5 s).
ASKED_RESEND_S = 1.0

#: Messages sent and waiting for the centre's confirmation at most (a bound on memory
#: and on a resend's burst); past it, sending waits for confirmations.
MAX_UNCONFIRMED = 20_000


@dataclass(slots=True)
class _Sent:
    """A message published and not yet confirmed end to end."""

    topic: str
    boot: int
    seq: int
    sent_at: float
    """When it was (last) published [s, monotonic]."""


#: How :func:`encode_readings` ends a numbered payload.
_NUMBERING_TAIL = re.compile(rb'"boot":(\d+),"seq":(\d+)(?:,"held":\d+)?\}$')


def message_numbering(payload: bytes) -> tuple[int, int] | None:
    """(boot, seq) of a payload, also of one that is otherwise not a valid message;
    None when it carries none (an older release's) or none that can be read.

    Our own encoder puts them at its tail, which is read first (parsing the whole
    payload is most of the cost of confirming); any other payload is untrusted input.
    """
    found = _NUMBERING_TAIL.search(payload, max(0, len(payload) - 80))
    if found is not None:
        numbers: tuple[object, object] = int(found[1]), int(found[2])
    else:
        try:
            data = json.loads(payload)
        except (ValueError, RecursionError):  # not JSON, not UTF-8, too many digits
            return None
        if not isinstance(data, dict):
            return None
        numbers = data.get("boot"), data.get("seq")
    boot, seq = numbers
    # ``type() is int``: JSON true is no number.
    if type(boot) is int and type(seq) is int and 0 <= boot < 2**63 and 1 <= seq < 2**63:
        return boot, seq
    return None


class ReadingPublisher:
    """Collects readings per channel, spools them as messages, publishes in order.

    Parameters
    ----------
    connection
        The broker connection (connected by the caller).
    spool
        The open spool.
    channels
        The channel table readings index.
    window
        Messages published concurrently before waiting for their acknowledgements.
    confirm
        Keep a message spooled after its PUBACK until the centre confirms it end to end
        (:meth:`confirmed`; the caller hands it the messages of the confirm topics).
        Off for a broker with no ``hazmon central`` behind it: nothing would confirm.
    confirm_timeout : [s]
        A message unconfirmed this long is published again.
    """

    def __init__(
        self,
        connection: MqttConnection,
        spool: MessageSpool,
        channels: ChannelTable,
        *,
        window: int = 200,
        confirm: bool = False,
        confirm_timeout: float = 30.0,
    ) -> None:
        self.connection = connection
        self.spool = spool
        self.channels = channels
        self.window = window
        self.confirm = confirm
        self.confirm_timeout = confirm_timeout
        self.published_messages = 0
        self.published_readings = 0
        self.boot = time.time_ns()
        """When this publisher started [ns UTC]: its messages' numbering restarts here."""
        self._seq: dict[int, int] = {}
        self._pending: list[tuple[Readings, NDArray[np.uint8]]] = []
        self.unspooled: deque[tuple[bytes, int, str]] = deque()
        """Messages the spool could not take (its disk full or read-only), oldest first;
        spooled, in order, at the next :meth:`spool_pending` that succeeds."""
        self.dropped_messages = 0
        """Messages given up past :data:`UNSPOOLED_MAX` (counted, never silent)."""
        self.confirmed_messages = 0
        """Messages the centre confirmed (removed from the spool)."""
        self.resent_messages = 0
        """Messages published again: no confirmation came in time, or the centre named
        them missing (health)."""
        self.asked_messages = 0
        """Of those, sent again because the centre named them missing."""
        self.bad_confirmations = 0
        """Messages on a confirm topic that were not ``hazmon.confirm/1``."""
        # Confirmation state: what was sent (by spool id, in send order), per publisher
        # run of a topic its (seq, id) in order, the highest seq confirmed, and the seqs
        # of this run still held per topic (the ``held`` of the next message).
        self._sent: dict[int, _Sent] = {}
        self._runs: dict[tuple[str, int], deque[tuple[int, int]]] = {}
        self._confirmed: dict[tuple[str, int], int] = {}
        self._held: dict[str, deque[int]] = {}
        self._asked: set[int] = set()
        """Spool ids the centre named missing: sent again at the next round."""
        self._cursor = 0
        """The highest spool id sent this run: newer items are read past it."""
        # The second resend after [1, 2] timeouts, then longer, up to [8, 16].
        self._backoff = Backoff(2 * confirm_timeout, 16 * confirm_timeout)
        self._resend_after = confirm_timeout
        self._subscribed: set[str] = set()
        self._progress = asyncio.Event()

    def add(self, readings: Readings, level: NDArray[np.uint8]) -> None:
        """Keep a batch for the next :meth:`spool_pending` (no I/O)."""
        if len(readings):
            self._pending.append((readings, level))

    def spool_pending(self) -> int:
        """Turn what was added into one message per channel and commit them; return how
        many messages."""
        if not self._pending:
            return 0
        batches, self._pending = self._pending, []
        readings = Readings.concat([batch for batch, _ in batches])
        level = np.concatenate([lv for _, lv in batches])
        order = readings.sort_order()
        channel = readings.channel[order]
        starts = np.flatnonzero(np.r_[True, channel[1:] != channel[:-1]])
        ends = np.r_[starts[1:], len(order)]
        messages: list[tuple[bytes, int, str]] = []
        for start, end in zip(starts.tolist(), ends.tolist(), strict=True):
            rows = order[start:end]
            number = int(channel[start])
            info = self.channels[number]
            topic = readings_topic(info)
            # Numbered when spooled, so a message sent again after a restart keeps its
            # number: the centre counts a gap only for a message that never came.
            seq = self._seq[number] = self._seq.get(number, 0) + 1
            held = None
            if self.confirm:
                waiting = self._held.setdefault(topic, deque())
                waiting.append(seq)
                held = waiting[0]
            payload = encode_readings(
                info,
                readings.ts[rows],
                readings.value[rows],
                readings.quality[rows],
                level[rows],
                boot=self.boot,
                seq=seq,
                held=held,
            )
            messages.append((payload, 1, topic))
        self.unspooled.extend(messages)
        try:
            self.spool.put_many(list(self.unspooled))
        except (sqlite3.Error, OSError) as error:
            # A full or read-only disk must not end the service (it polls and stores on):
            # the messages wait in memory, numbered, and are spooled when space returns.
            while len(self.unspooled) > UNSPOOLED_MAX:
                payload, _, topic = self.unspooled.popleft()
                self.dropped_messages += 1
                self._forget_held(topic, payload)
            log.warning(
                "cannot spool MQTT messages in %s: %s; %d wait in memory, %d dropped",
                self.spool.path,
                error,
                len(self.unspooled),
                self.dropped_messages,
            )
            return 0
        self.unspooled.clear()
        return len(messages)

    def _forget_held(self, topic: str, payload: bytes) -> None:
        """A dropped message is no longer held: the next ``held`` passes it."""
        numbering = message_numbering(payload)
        waiting = self._held.get(topic)
        if numbering is not None and waiting is not None:
            with contextlib.suppress(ValueError):
                waiting.remove(numbering[1])

    async def send_spooled(self, *, timeout: float = 10.0) -> int:
        """Publish spooled messages until the spool is empty; return how many were sent.

        With ``confirm``, until every spooled message was sent (or
        :data:`MAX_UNCONFIRMED` wait for confirmation), those unconfirmed for longer
        than the resend wait first, again.

        Raises
        ------
        TransportTimeout, TransportConnectionError
            The broker did not acknowledge; the unacknowledged messages stay spooled.
        """
        if self.confirm:
            return await self._send_confirmed(timeout)
        sent = 0
        while True:
            batch = self.spool.oldest(self.window)
            if not batch:
                return sent
            await self._publish(batch, timeout)
            self.spool.remove([item.id for item in batch])
            sent += len(batch)
            self.published_messages += len(batch)

    async def _publish(self, batch: list[SpoolItem], timeout: float) -> None:
        await asyncio.gather(
            *(
                self.connection.publish(item.label, item.payload, qos=1, timeout=timeout)
                for item in batch
            )
        )

    async def _send_confirmed(self, timeout: float) -> int:
        await self._subscribe_confirms()
        # Named missing by the centre (it has later ones): again now, not after the
        # timeout, so the messages after them are judged in their place without waiting.
        asked = [number for number in self._asked if number in self._sent]
        self._asked.clear()
        sent = await self._resend(asked, timeout)
        self.asked_messages += sent
        now = time.monotonic()
        overdue: list[int] = []
        for number, record in self._sent.items():  # in send order: the oldest first
            if now - record.sent_at < self._resend_after:
                break
            overdue.append(number)
        sent += await self._resend(overdue, timeout)
        if overdue:
            # Nothing confirmed for a while (the centre is away): wait longer each time.
            self._resend_after = self._backoff.failure()
            log.warning(
                "%d MQTT messages not confirmed by the centre within %g s: sent again",
                len(overdue),
                self.confirm_timeout,
            )
        while len(self._sent) < MAX_UNCONFIRMED:
            limit = min(self.window, MAX_UNCONFIRMED - len(self._sent))
            batch = self.spool.oldest(limit, after=self._cursor)
            if not batch:
                break
            self._cursor = batch[-1].id
            fresh, unnumbered = self._track(batch)
            try:
                await self._publish(fresh + unnumbered, timeout)
            except BaseException:
                # Not sent as far as we know: read again at the next attempt, in order.
                # (A confirmation that came meanwhile has removed its own already.)
                for item in reversed(fresh):
                    unsent = self._sent.pop(item.id, None)
                    waiting = self._runs.get((item.label, unsent.boot)) if unsent else None
                    if waiting and waiting[-1][1] == item.id:
                        waiting.pop()
                self._cursor = batch[0].id - 1
                raise
            # An unnumbered message (an older release's) cannot be confirmed: its
            # PUBACK is all there is.
            self.spool.remove([item.id for item in unnumbered])
            sent += len(fresh) + len(unnumbered)
            self.published_messages += len(fresh) + len(unnumbered)
        return sent

    async def _resend(self, numbers: list[int], timeout: float) -> int:
        """Publish the spooled messages ``numbers`` (sent before) again; how many."""
        sent = 0
        for start in range(0, len(numbers), self.window):
            batch = self.spool.get(numbers[start : start + self.window])
            for item in batch:
                # To the end of the send order, with a new time (unless a confirmation
                # that came while the last batch was sent has removed it).
                found = self._sent.pop(item.id, None)
                if found is not None:
                    found.sent_at = time.monotonic()
                    self._sent[item.id] = found
            await self._publish(batch, timeout)
            self.resent_messages += len(batch)
            sent += len(batch)
        return sent

    def _track(self, batch: list[SpoolItem]) -> tuple[list[SpoolItem], list[SpoolItem]]:
        """Record items about to be sent; drop those confirmed already (a resend of an
        earlier run that the centre had). Returns (numbered, unnumbered) to send."""
        fresh: list[SpoolItem] = []
        unnumbered: list[SpoolItem] = []
        done: list[int] = []
        now = time.monotonic()
        for item in batch:
            numbering = message_numbering(item.payload)
            if numbering is None:
                unnumbered.append(item)
                continue
            boot, seq = numbering
            run = (item.label, boot)
            if seq <= self._confirmed.get(run, 0):
                done.append(item.id)
                continue
            self._sent[item.id] = _Sent(item.label, boot, seq, now)
            self._runs.setdefault(run, deque()).append((seq, item.id))
            fresh.append(item)
        if done:
            self.spool.remove(done)
            self.confirmed_messages += len(done)
        return fresh, unnumbered

    async def _subscribe_confirms(self) -> None:
        """Subscribe to the confirmations of every site the channels name.

        QoS 0: the centre publishes them so (core NATS), and on the NATS gateway a QoS 1
        subscription is a JetStream consumer, which a cluster electing leaders may
        refuse; a confirmation missed costs a resend, confirmed then.
        """
        for site in {channel.site for channel in self.channels.channels} - self._subscribed:
            await self.connection.subscribe(f"{CONFIRM_PREFIX}/{site}/#", qos=0)
            self._subscribed.add(site)

    def confirmed(self, topic: str, payload: bytes) -> bool:
        """Handle a message received on ``topic``; False when it is no confirmation
        (the caller's to handle).

        The messages of the run it names, up to its ``seq``, leave the spool.
        """
        if not topic.startswith(CONFIRM_PREFIX + "/"):
            return False
        try:
            boot, seq, missing = decode_confirm(payload)
        except PayloadError as error:
            self.bad_confirmations += 1
            log.warning("ignored confirmation on %s: %s", topic, error)
            return True
        readings = READINGS_PREFIX + topic.removeprefix(CONFIRM_PREFIX)
        run = (readings, boot)
        if missing:
            self._ask_again(run, missing)
        if seq <= self._confirmed.get(run, 0):
            return True
        self._confirmed[run] = seq
        waiting = self._runs.get(run)
        done: list[int] = []
        while waiting and waiting[0][0] <= seq:
            number = waiting.popleft()[1]
            if self._sent.pop(number, None) is not None:
                done.append(number)
        if waiting is not None and not waiting:
            del self._runs[run]
        if boot == self.boot:
            held = self._held.get(readings)
            while held and held[0] <= seq:
                held.popleft()
        if done:
            self.spool.remove(done)
            self.confirmed_messages += len(done)
            self._backoff.success()
            self._resend_after = self.confirm_timeout
            self._progress.set()
        return True

    def _ask_again(self, run: tuple[str, int], missing: tuple[int, ...]) -> None:
        """Mark the messages of ``run`` the centre named missing for a resend at the
        next round (each at most once per :data:`ASKED_RESEND_S`)."""
        waiting = self._runs.get(run)
        if not waiting:
            return
        wanted, last = set(missing), max(missing)
        since = time.monotonic() - min(ASKED_RESEND_S, self.confirm_timeout)
        for seq, number in waiting:  # in seq order
            if seq > last:
                break
            record = self._sent.get(number)
            if seq in wanted and record is not None and record.sent_at <= since:
                self._asked.add(number)

    @property
    def unconfirmed(self) -> int:
        """Messages sent and waiting for the centre's confirmation."""
        return len(self._sent)

    async def run(self, interval: float) -> None:
        """Every ``interval`` [s]: spool what was added and publish the spool, until
        cancelled; an outage leaves messages spooled and is retried."""
        while True:
            await asyncio.sleep(interval)
            self.spool_pending()
            if not self.connection.connected:
                await self.connection.wait_connected(interval)
                continue
            try:
                await self.send_spooled()
            except (TransportTimeout, TransportConnectionError) as error:
                log.warning("publishing readings: %s; %d wait", error, self.spool.pending()[0])

    async def flush(self, timeout: float) -> bool:
        """Spool what was added and try ``timeout`` [s] to publish it (and, with
        ``confirm``, to have it confirmed); True when the spool is empty."""
        self.spool_pending()
        with contextlib.suppress(TimeoutError, TransportTimeout, TransportConnectionError):
            async with asyncio.timeout(timeout):
                while True:
                    await self.send_spooled(timeout=timeout)
                    if not self.confirm or self.spool.pending()[0] == 0:
                        break
                    self._progress.clear()
                    with contextlib.suppress(TimeoutError):
                        # Confirmations come in batches; a resend falls due meanwhile.
                        await asyncio.wait_for(self._progress.wait(), 1.0)
        return self.spool.pending()[0] == 0
