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
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from hazmon.acquisition.alerts import Alert, AlertSink, level_transition_kind
from hazmon.analysis.alarms import LevelTracker
from hazmon.analysis.evaluate import ChannelPlan, EvaluationSettings, StreamingEvaluator
from hazmon.analysis.events import Event
from hazmon.analysis.limits import LimitTable
from hazmon.analysis.readings import ChannelTable, Readings
from hazmon.config.quality import Quality, describe
from hazmon.config.standards import LimitRow, LimitRule
from hazmon.store.hazards import EventRecord, HazardContext
from hazmon.store.timeseries import TimeSeriesStore

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
        self.timeseries.write(readings, level, self.channels)
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

    def _record(self, events: list[Event]) -> None:
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
            self.stats.events += 1
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
        the writer after this to copy them (and count their hazards)."""
        self.evaluator.finish()
        self._record(self._hazard_events(self.evaluator.take_events()))
