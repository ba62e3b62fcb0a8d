"""The pipeline every batch of readings goes through: evaluate, store, alert, record.

drivers → ``Pipeline.process`` → analysis (levels, transitions, events) → store
(readings; events and hazard records) → alerts. One pipeline serves every device of
a site; it is synchronous and called from the poll loop, so nothing in it waits on a
network: the service's events go to the register writer's local spool
(:mod:`hazmon.acquisition.register_writer`), which copies them in the background.

The evaluation is ``hazmon analyze``'s own: the pipeline feeds every batch to one
:class:`~hazmon.analysis.evaluate.StreamingEvaluator`, whose levels (hysteresis,
minimum duration and latching applied) the store keeps and alerts follow, whose
closed events become hazard records, and whose :meth:`snapshot` the live view shows.

A restart rebuilds that state (open events, TWA/STEL windows, holds, latches) from the
store: :meth:`Pipeline.resume` replays the stored readings of the last
:data:`REPLAY_S` through the evaluator with alerts suppressed, so an event a crash
interrupted closes, and is filed, as in an uninterrupted run (its key is its channel
and start, so an event already filed is not filed twice).

A store that refuses writes (disk full, read-only) is a state, not a crash: the
batches wait in memory (:data:`STORE_HOLD_ROWS` readings at most; older ones are then
dropped and counted), a ``store_down`` alert says so, and the next write that goes
through stores what waited, alerts ``store_restored`` and records the dropped
interval as an outage.
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from hazmon.acquisition.alerts import STORE_KEY, Alert, AlertSink, level_transition_kind
from hazmon.analysis.alarms import LevelTracker
from hazmon.analysis.evaluate import ChannelPlan, EvaluationSettings, StreamingEvaluator
from hazmon.analysis.events import Event
from hazmon.analysis.limits import LimitTable
from hazmon.analysis.readings import ChannelTable, Readings
from hazmon.config.quality import Quality, describe
from hazmon.config.standards import LimitRow, LimitRule
from hazmon.retry import Backoff
from hazmon.store.hazards import EventRecord, HazardContext
from hazmon.store.timeseries import TimeSeriesStore
from hazmon.store.timeseries.sqlite import Outage

log = logging.getLogger(__name__)

#: Quality flags that raise a sensor-fault alert while the channel's newest reading
#: carries one: the instrument itself says its reading is not to be trusted.
SENSOR_FLAGS = int(
    Quality.SENSOR_FAULT | Quality.OVER_RANGE | Quality.UNDER_RANGE | Quality.CALIBRATION_DUE
)

#: Readings before and after an event that its hazard's evidence window includes [ns].
EVIDENCE_MARGIN_NS = 5_000_000_000
#: Polls gathered before the evaluator accounts them (levels are judged at once): its
#: cost hardly depends on a chunk's size, and a hazard record may wait this long.
ACCOUNT_EVERY_S = 2.0
ACCOUNT_ROWS = 65_536
#: Stored history a restart replays through the evaluator [s]: one shift, the longest
#: window a limit is judged over (TWA 8 h); an event open longer than this at a crash
#: restarts at the window's start.
REPLAY_S = 8 * 3600.0
#: Readings kept in memory while the store refuses writes (disk full, read-only): about
#: 64 MB, an hour of a 100-channel kit at 4 Hz; past it the oldest are dropped, counted.
STORE_HOLD_ROWS = 1_000_000


class EventRecorder(Protocol):
    """Where the pipeline's closed events go.

    :class:`~hazmon.store.hazards.HazardRegister` stores a record at once and returns
    (event id, hazard id or None); the service's
    :class:`~hazmon.acquisition.register_writer.RegisterWriter` spools it and returns
    None, and reports each copy later to its ``on_recorded`` callbacks (the service
    passes :meth:`Pipeline.count_recorded`).
    """

    def record(self, record: EventRecord) -> tuple[int, int | None] | None: ...


@dataclass(frozen=True, slots=True)
class LatestReading:
    """The newest reading of a channel, for the live view."""

    ts: int
    value: float
    quality: int
    level: int


@dataclass(slots=True)
class PipelineStats:
    """Counters for the closing summary."""

    readings: int = 0
    flagged: int = 0
    events: int = 0
    hazards: int = 0
    hazard_ids: list[int] = field(default_factory=list)
    replayed: int = 0
    """Stored readings replayed at start to rebuild the evaluation."""
    replayed_events: int = 0
    """Events the replay closed (filed now unless the register already had them)."""
    dropped: int = 0
    """Readings not kept: the store refused writes longer than memory could hold them."""


def replay_start(newest_ts: int | None, now_ns: int) -> int | None:
    """Where a restart's replay starts: :data:`REPLAY_S` before the newest stored reading.

    Counted back from the newest reading, not from now, so a kit killed mid-event and
    started again the next morning still closes and files that event.

    Parameters
    ----------
    newest_ts : [ns UTC]
        The newest stored reading of the site's channels; None when there is none.
    now_ns : [ns UTC]
        Now (a stored reading from a clock ahead of this one counts as now).

    Returns
    -------
    int or None
        [ns UTC]; None: nothing to replay.
    """
    if newest_ts is None:
        return None
    return min(newest_ts, now_ns) - round(REPLAY_S * 1e9)


def event_key(channel_key: tuple[str, ...], start_ts: int) -> str:
    """The identity of an event: its channel and the time it started.

    Parameters
    ----------
    channel_key
        :attr:`Channel.key` (site, device, name, quantity, substance).
    start_ts
        The event's first reading [ns since the epoch, UTC].

    Returns
    -------
    str
        32 hex digits, the same for the same event however often it is judged.
    """
    text = "\x1f".join((*channel_key, str(start_ts)))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


class Pipeline:
    """Evaluates, stores and alerts on batches of readings.

    Parameters
    ----------
    channels
        The channel table the readings index (it may grow while running).
    rules
        The instantaneous limit rule per quantity.
    timeseries
        Where readings go (open).
    hazards
        Where events and hazard records go (:class:`EventRecorder`): the service's
        register writer (spooled at once, copied in the background, counted when copied)
        or an open hazard register (written at once, in the caller's thread).
    contexts
        Enterprise, location and source per device, for hazard records.
    alert_sink
        Called with every alert.
    hazard_level
        Lowest level of the events that become hazard records; default the
        settings' (A2, or A1 where the site's ``[limits] a1_is_hazard``).
    limit_rows, settings
        The limit rows in force (:func:`hazmon.config.standards.effective_limit_rows`)
        and the site's evaluation settings (hysteresis, minimum duration, latching,
        holding ...), as ``hazmon analyze`` uses them. With the rows, a channel whose
        quantity has no alarm set point (a leak detector, an insulation tester, a
        thickness gauge) is judged live against its strictest instantaneous limit;
        without them only the set-point rules apply.
    """

    def __init__(
        self,
        channels: ChannelTable,
        rules: Mapping[str, LimitRule],
        timeseries: TimeSeriesStore,
        hazards: EventRecorder,
        contexts: Mapping[str, HazardContext],
        alert_sink: AlertSink,
        *,
        hazard_level: int | None = None,
        limit_rows: Sequence[LimitRow] | None = None,
        settings: EvaluationSettings | None = None,
    ) -> None:
        self.channels = channels
        self.rules = dict(rules)
        self.limit_rows = () if limit_rows is None else tuple(limit_rows)
        self.settings = settings or EvaluationSettings()
        self.hazard_level = self.settings.hazard_level if hazard_level is None else hazard_level
        self.timeseries = timeseries
        self.hazards = hazards
        self.contexts = dict(contexts)
        self.alert_sink = alert_sink
        self.levels = LevelTracker()
        self.evaluator = StreamingEvaluator(
            self._plan(), flush_rows=ACCOUNT_ROWS, flush_s=ACCOUNT_EVERY_S
        )
        self.stats = PipelineStats()
        self.latest: dict[int, LatestReading] = {}
        self._sensor_flags: dict[int, int] = {}
        self._closed = False
        self.store_state = "up"
        """``up`` · ``down`` (the store refuses writes; batches wait in memory)."""
        self.outages: list[Outage] = []
        """Intervals whose readings were dropped; recorded in the store once it writes."""
        self._held: deque[tuple[Readings, NDArray[np.uint8]]] = deque()
        self._held_rows = 0
        self._retry_at = 0.0
        self._store_backoff = Backoff(0.5, 10.0)
        self.on_store_restored: list[Callable[[list[Outage]], None]] = []
        """Called with the drop intervals when the store takes writes again."""
        self.observers: list[Callable[[Readings, NDArray[np.uint8]], None]] = []
        """Called with every batch and its levels after it is stored (live view, MQTT)."""

    def _plan(self) -> ChannelPlan:
        return ChannelPlan.build(self.channels.channels, self.limit_rows, self.rules, self.settings)

    def _limits(self) -> LimitTable:
        # Channels are added as devices come online; the evaluator grows with the table.
        if len(self.evaluator.plan) != len(self.channels):
            self.evaluator.grow(self._plan())
        return self.evaluator.plan.limits

    def acknowledge(self, channel: int) -> None:
        """The operator acknowledged a channel's alarms: a latched alarm (combustible
        A2 by default) whose condition has cleared clears at its next reading."""
        self.evaluator.acknowledge(channel)

    def acknowledged(self, alert: Alert) -> None:
        """An alert was acknowledged (``AlertManager.on_acknowledge``): acknowledge
        the alarms of its channel."""
        for number, channel in enumerate(self.channels.channels):
            if (channel.device, channel.name, channel.quantity) == (
                alert.device,
                alert.channel,
                alert.quantity,
            ):
                self.acknowledge(number)

    def process(self, readings: Readings) -> None:
        """Evaluate, store and alert on one batch; record the events that closed."""
        if len(readings) == 0:
            return
        table = self._limits()
        judged = self.evaluator.update(readings)
        level = judged.level
        self._store(readings, level)
        self.stats.readings += len(readings)
        self.stats.flagged += int(np.count_nonzero(readings.quality))
        newest = self._remember_latest(readings, level)

        # A reading older than its channel's last is stored, not a transition.
        in_order = np.flatnonzero(judged.accepted)
        if len(in_order) == len(readings):
            transitions = self.levels.update(readings, level)
        else:
            transitions = self.levels.update(readings.take(in_order), level[in_order])
            transitions = replace(transitions, row=in_order[transitions.row])
        for row, channel_number, previous, current in zip(
            transitions.row.tolist(),
            transitions.channel.tolist(),
            transitions.previous_level.tolist(),
            transitions.level.tolist(),
            strict=True,
        ):
            channel = self.channels[channel_number]
            rule = table.rules[channel_number]
            self.alert_sink(
                Alert(
                    ts=int(readings.ts[row]),
                    kind=level_transition_kind(previous, current),
                    device=channel.device,
                    channel=channel.name,
                    quantity=channel.quantity,
                    level=current,
                    previous_level=previous,
                    value=float(readings.value[row]),
                    unit=channel.unit,
                    citation=rule.citation if rule else "no rule",
                )
            )

        self._sensor_alerts(readings, newest)
        for observer in self.observers:
            observer(readings, level)
        self._record(self._hazard_events(self.evaluator.take_events()))

    def resume(self, history: Readings) -> None:
        """Rebuild the evaluation from stored readings before the first poll (a restart).

        ``history`` (:meth:`SqliteTimeSeries.read_since`, the last :data:`REPLAY_S`) goes
        through the evaluator as the live batches went, so holds, TWA/STEL windows,
        latches and open events are what they were when the previous run ended. Nothing
        is stored again and no alert is sent: an alarm still in force is raised again by
        the first live reading (the alert state lives in memory, the register does not),
        and one the replay ends in that is over by then is cleared by it (the previous
        run announced it; nobody else clears it).
        Events the replay closes are filed; the register knows those it has by key.
        """
        if len(history) == 0:
            return
        self._limits()
        judged = self.evaluator.update(history)
        self._remember_latest(history, judged.level)
        self.levels.resume(history, judged.level)
        self.stats.replayed += len(history)
        events = self._hazard_events(self.evaluator.take_events())
        self.stats.replayed_events += len(events)
        self._record(events, counted=False)

    # -- the store, and what happens when it refuses writes --------------------------

    def _store(self, readings: Readings, level: NDArray[np.uint8]) -> None:
        """Write a batch, after the batches that wait; on a refusal keep them in memory."""
        self._held.append((readings, level))
        self._held_rows += len(readings)
        if self.store_state == "down" and time.monotonic() < self._retry_at:
            self._bound()
            return
        try:
            while self._held:
                batch, levels = self._held[0]
                self.timeseries.write(batch, levels, self.channels)
                self._held.popleft()
                self._held_rows -= len(batch)
        except (sqlite3.Error, OSError) as error:  # disk full, read-only, I/O error
            self._store_failed(error)
            self._bound()
            return
        if self.store_state == "down":
            self._store_restored()

    def _bound(self) -> None:
        """Drop the oldest waiting batches past :data:`STORE_HOLD_ROWS`, counted."""
        while self._held_rows > STORE_HOLD_ROWS and len(self._held) > 1:
            batch, _levels = self._held.popleft()
            self._held_rows -= len(batch)
            self.stats.dropped += len(batch)
            first, last = int(batch.ts.min()), int(batch.ts.max())
            if self.outages and self.outages[-1].cause == "store_unwritable":
                previous = self.outages[-1]
                self.outages[-1] = replace(
                    previous,
                    start_ts=min(previous.start_ts, first),
                    end_ts=max(previous.end_ts, last),
                    dropped=previous.dropped + len(batch),
                )
            else:
                self.outages.append(Outage(first, last, "store_unwritable", len(batch)))
            if self.outages[-1].dropped == len(batch):
                log.warning(
                    "readings store %s: memory holds %d readings at most; dropping the "
                    "oldest (counted) until the store takes writes again",
                    getattr(self.timeseries, "path", "?"),
                    STORE_HOLD_ROWS,
                )

    def _store_failed(self, error: BaseException) -> None:
        self._retry_at = time.monotonic() + self._store_backoff.failure()
        if self.store_state == "down":
            return
        self.store_state = "down"
        message = (
            f"readings store {getattr(self.timeseries, 'path', '')} refuses writes "
            f"({type(error).__name__}: {error}); readings wait in memory (up to "
            f"{STORE_HOLD_ROWS}) — free disk space or make the folder writable"
        )
        log.warning("%s", message)
        self.alert_sink(Alert.health("store_down", "", STORE_KEY, message))

    def _store_restored(self) -> None:
        self._store_backoff.success()
        self.store_state = "up"
        dropped = [outage for outage in self.outages if outage.cause == "store_unwritable"]
        lost = sum(outage.dropped for outage in dropped)
        message = "readings store takes writes again; everything that waited is stored" + (
            f", {lost} readings were dropped (recorded as an outage)" if lost else ""
        )
        log.warning("%s", message)
        self.alert_sink(Alert.health("store_restored", "", STORE_KEY, message))
        for callback in self.on_store_restored:
            callback(dropped)
        self.outages = []

    @property
    def waiting(self) -> int:
        """Readings waiting in memory for the store."""
        return self._held_rows

    def _hazard_events(self, events: list[Event]) -> list[Event]:
        """The events that reached the hazard level (A1 events are reported, not filed)."""
        return [event for event in events if event.max_level >= self.hazard_level]

    def _remember_latest(self, readings: Readings, level: np.ndarray) -> list[int]:
        """Keep each channel's newest reading; return the rows that are the newest."""
        order = readings.sort_order()
        channel = readings.channel[order]
        last = np.flatnonzero(np.r_[channel[1:] != channel[:-1], True])
        rows: list[int] = order[last].tolist()
        for row in rows:
            self.latest[int(readings.channel[row])] = LatestReading(
                ts=int(readings.ts[row]),
                value=float(readings.value[row]),
                quality=int(readings.quality[row]),
                level=int(level[row]),
            )
        return rows

    def _sensor_alerts(self, readings: Readings, rows: list[int]) -> None:
        """Alert when a channel's newest reading gains or loses a sensor flag.

        Judged on the newest reading of each batch, so a flag that flickers within one
        batch does not alert twice; a link fault (no value at all) is the poller's
        communication alert, not a sensor alert, and leaves this state alone.
        """
        for row in rows:
            quality = int(readings.quality[row])
            if quality & int(Quality.COMM_TIMEOUT | Quality.COMM_ERROR):
                continue
            number = int(readings.channel[row])
            flags = quality & SENSOR_FLAGS
            before = self._sensor_flags.get(number, 0)
            if flags == before:
                continue
            self._sensor_flags[number] = flags
            channel = self.channels[number]
            self.alert_sink(
                Alert(
                    ts=int(readings.ts[row]),
                    kind="sensor_fault" if flags else "sensor_restored",
                    device=channel.device,
                    channel=channel.name,
                    quantity=channel.quantity,
                    level=0,
                    previous_level=0,
                    value=float(readings.value[row]),
                    unit=channel.unit,
                    citation="",
                    message=describe(flags) if flags else f"clear of {describe(before)}",
                )
            )

    def _record(self, events: list[Event], *, counted: bool = True) -> None:
        for event in events:
            channel = self.channels[event.channel]
            rule = self._limits().rules[event.channel]
            if rule is None:  # pragma: no cover - events only arise from rules
                continue
            context = self.contexts.get(channel.device, HazardContext(enterprise="", location=""))
            record = EventRecord.of(
                event,
                channel,
                rule,
                context,
                # The register stores it once however often a spool replays it, and
                # once however often the readings are judged again (a restart that
                # replays the store, a central worker that takes over a partition).
                key=event_key(channel.key, event.start_ts),
                create_hazard=True,
                evidence_margin_ns=EVIDENCE_MARGIN_NS,
                # One hazard per condition: a hovering leak is one record with many
                # excursions as its evidence, not one record per excursion.
                attach_to_open=True,
            )
            self.stats.events += int(counted)
            stored = self.hazards.record(record)  # None: spooled, counted when copied
            if stored is not None:
                self.count_recorded(*stored)

    def count_recorded(self, _event_id: int, hazard_id: int | None) -> None:
        """Count the hazard an event filed or extended (once per hazard)."""
        if hazard_id is not None and hazard_id not in self.stats.hazard_ids:
            self.stats.hazards += 1
            self.stats.hazard_ids.append(hazard_id)

    def close(self) -> None:
        """Record the events still open (the stream ends): nothing is left unrecorded.

        With a :class:`RegisterWriter` they are in its spool when this returns; close
        the writer after this to copy them (and count their hazards). An event open at
        a stop is filed as it stands; a restart that continues it (the same channel and
        start, so the same key) extends the filed event
        (:meth:`~hazmon.store.hazards.HazardRegister.extend`). Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._retry_at = 0.0  # one last try, whatever the backoff says
        self._store(Readings.empty(), np.zeros(0, np.uint8))  # still refused: counted below
        if self._held_rows:
            log.warning(
                "readings store refused writes to the end: %d readings were not kept",
                self._held_rows,
            )
            self.stats.dropped += self._held_rows
            self._held.clear()
            self._held_rows = 0
        self.evaluator.finish()
        self._record(self._hazard_events(self.evaluator.take_events()))
