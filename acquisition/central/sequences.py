"""The kits' message numbering, per channel and publisher run: what to confirm, what
is a repeat, what is missing, and the order messages are judged in.

A kit numbers each channel's messages per publisher run (``boot``, ``seq``). The broker
may hand them over out of order: the NATS MQTT gateway acknowledges a message before
JetStream stored it, so one published while a stream elects a leader can be lost and
come again (the kit sends it again) after the ones behind it. The evaluator runs
forward in time and only stores a reading older than its channel's newest (it cannot
judge it in its place), so a lost-and-resent message carrying a leak would be stored
and never judged. The owner therefore judges each run's messages in ``seq`` order: a
message past a gap waits (at most ``wait`` [s]) for the missing one; when it comes, it
and the ones waiting are judged together, in order (one chunk: the evaluator sorts a
chunk by time). When the wait passes, the waiting ones are judged without it and the
gap is counted; the missing one, if it still comes, is stored and counted ``late``.

A numbered message the owner sets aside as a dead letter (it cannot be decoded) still
takes its place when its number can be read (:meth:`SequenceTracker.arrive`): it is
kept, in the dead-letter stream, so it is confirmed to the kit, and the ones after it
do not wait for it. Otherwise one such message would be asked for again, and set aside
again, for as long as the kit runs.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Generic, NamedTuple, TypeVar

from hazmon.acquisition.publish import DecodedReadings
from hazmon.analysis.readings import Channel

Item = TypeVar("Item")

#: Publisher runs remembered per channel: a kit's restart starts one, and the
#: messages of the last few may still come (from its spool).
RUNS_KEPT = 4
#: Missing numbers a confirmation names at most (the kit sends those again at once).
MISSING_NAMED = 64


class Topic(NamedTuple):
    """What a kit numbers its messages per: one channel's topic (its subject's site,
    device and channel name, the quantity for an unnamed channel)."""

    site: str
    device: str
    channel: str

    @classmethod
    def of(cls, channel: Channel) -> Topic:
        return cls(channel.site, channel.device, channel.name or channel.quantity)


@dataclass(slots=True)
class PublisherRun(Generic[Item]):
    """What one publisher run (``boot``) of one channel delivered."""

    contiguous: int = 0
    """Every message up to this ``seq`` was seen (what is confirmed to the kit)."""
    highest: int = 0
    above: set[int] = field(default_factory=set)
    """Seen above ``contiguous``, past a gap (a message lost, and sent again later)."""
    judged: int = 0
    """Every message up to this ``seq`` was judged, or waited for in vain."""
    waiting: dict[int, tuple[float, Item]] = field(default_factory=dict)
    """Seen past a gap above ``judged``: ``seq`` → (arrival [s, monotonic], item)."""

    def missing(self) -> list[int]:
        """The numbers between ``contiguous`` and ``highest`` not seen (at most
        :data:`MISSING_NAMED`, lowest first)."""
        found: list[int] = []
        for seq in range(self.contiguous + 1, self.highest):
            if seq not in self.above:
                found.append(seq)
                if len(found) == MISSING_NAMED:
                    break
        return found


@dataclass(frozen=True, slots=True)
class Arrival(Generic[Item]):
    """What one message's arrival lets the owner do."""

    ready: list[Item]
    """To judge now, in ``seq`` order: this message and those waiting for it, or
    nothing (it waits; or it is a repeat)."""
    repeated: bool = False
    """Seen already (a resend, a redelivery): stored and judged once, not again."""
    waits: bool = False
    """It came past a gap: it waits for the missing message (or the end of the wait)."""
    late: bool = False
    """Its place was passed (the ones after it were judged without it): judged now,
    so stored, but the evaluator does not judge a reading older than its channel's."""


@dataclass(frozen=True, slots=True)
class Released(Generic[Item]):
    """Messages that waited in vain for a missing one, in ``seq`` order."""

    topic: Topic
    items: list[Item]
    missing: int
    """Numbers that never came before them."""


@dataclass(frozen=True, slots=True)
class Confirmation:
    """What to confirm to a kit for one run of a channel."""

    topic: Topic
    boot: int
    seq: int
    """Every message of the run up to this one is stored."""
    missing: list[int]
    """Numbers above ``seq`` not seen although later ones were (send them again)."""


class SequenceTracker(Generic[Item]):
    """The publishers' numbering per channel (one partition's): gaps, repeats, the
    judging order, and per run the highest ``seq`` below which every message was seen,
    to confirm.

    Parameters
    ----------
    wait : [s]
        How long a message past a gap waits for the missing one.
    """

    def __init__(self, wait: float) -> None:
        self.wait = wait
        self.runs: dict[Topic, dict[int, PublisherRun[Item]]] = {}
        self.changed: dict[tuple[Topic, int], None] = {}
        """Runs seen since the last :meth:`take_changed` (in that order): their
        confirmations are due."""
        self._holding: set[tuple[Topic, int]] = set()
        """Runs with messages waiting."""

    def see(self, decoded: DecodedReadings, item: Item, now: float) -> Arrival[Item]:
        """Take one message (``item`` stands for it) arrived at ``now`` [s, monotonic]."""
        if decoded.boot is None or decoded.seq is None:  # unnumbered: nothing to order
            return Arrival([item])
        return self.arrive(
            Topic.of(decoded.channel), decoded.boot, decoded.seq, decoded.held, item, now
        )

    def arrive(
        self, key: Topic, boot: int, seq: int, held: int | None, item: Item, now: float
    ) -> Arrival[Item]:
        """Take message ``seq`` of run ``boot`` on ``key`` (``held``: the lowest number
        the kit still held, when it said) arrived at ``now`` [s, monotonic]; also one
        set aside, whose number was read from its payload."""
        runs = self.runs.setdefault(key, {})
        run = runs.get(boot)
        ready: list[Item] = []
        if run is None:
            newest = max(runs, default=None)
            run = runs[boot] = PublisherRun()
            # Where judging starts: below ``held`` everything was confirmed once (and
            # judged where it was stored). Otherwise a newer run (the kit restarted)
            # starts at 1, and of a channel's first run nothing is known before this one.
            if held is not None:
                run.judged = held - 1
            elif newest is not None and boot > newest:
                run.judged = 0
            else:
                run.judged = seq - 1
            while len(runs) > RUNS_KEPT:
                oldest = min(runs)
                ready.extend(self._give_up(key, oldest, runs.pop(oldest)))
                self.changed.pop((key, oldest), None)
            if boot not in runs:  # older than every run kept: nothing to confirm or wait for
                return Arrival([*ready, item])
        self.changed[(key, boot)] = None
        if held is not None and held - 1 > run.contiguous:
            # The kit holds nothing below ``held``: all of it was confirmed once.
            run.contiguous = held - 1
            run.above = {number for number in run.above if number > run.contiguous}
        if held is not None and held - 1 > run.judged:
            below = sorted(number for number in run.waiting if number < held)
            ready.extend(run.waiting.pop(number)[1] for number in below)
            run.judged = max([held - 1, *below])
        if seq <= run.contiguous or seq in run.above:
            return Arrival([*ready, *self._drain(key, boot, run)], repeated=True)
        run.above.add(seq)
        run.highest = max(run.highest, seq)
        while run.contiguous + 1 in run.above:
            run.contiguous += 1
            run.above.discard(run.contiguous)
        if seq <= run.judged:
            return Arrival([*ready, item, *self._drain(key, boot, run)], late=True)
        run.waiting[seq] = (now, item)
        ready.extend(self._drain(key, boot, run))
        return Arrival(ready, waits=seq in run.waiting)

    def _drain(self, key: Topic, boot: int, run: PublisherRun[Item]) -> list[Item]:
        """The waiting messages that follow ``judged`` without a gap, in order."""
        ready: list[Item] = []
        while run.judged + 1 in run.waiting:
            run.judged += 1
            ready.append(run.waiting.pop(run.judged)[1])
        if run.waiting:
            self._holding.add((key, boot))
        else:
            self._holding.discard((key, boot))
        return ready

    def _give_up(self, key: Topic, boot: int, run: PublisherRun[Item]) -> list[Item]:
        """Every message of ``run`` still waiting, in order (their gap stays open)."""
        self._holding.discard((key, boot))
        return [run.waiting[number][1] for number in sorted(run.waiting)]

    def release_due(self, now: float) -> list[Released[Item]]:
        """The runs whose oldest waiting message has waited ``wait`` [s] by ``now``:
        all their waiting messages, with the numbers that never came."""
        due = []
        for key, boot in list(self._holding):
            run = self.runs[key][boot]
            if min(arrival for arrival, _ in run.waiting.values()) <= now - self.wait:
                due.append(self._release(key, boot, run))
        return due

    def release_all(self) -> list[Released[Item]]:
        """Every waiting message, as if each wait had passed (the end of a replay)."""
        return [self._release(key, boot, self.runs[key][boot]) for key, boot in list(self._holding)]

    def _release(self, key: Topic, boot: int, run: PublisherRun[Item]) -> Released[Item]:
        numbers = sorted(run.waiting)
        missing = numbers[-1] - run.judged - len(numbers)
        items = [run.waiting.pop(number)[1] for number in numbers]
        run.judged = numbers[-1]
        self._holding.discard((key, boot))
        return Released(key, items, missing)

    def waiting_items(self) -> Iterator[Item]:
        """Every message waiting (for a gap before it)."""
        for key, boot in self._holding:
            for _, item in self.runs[key][boot].waiting.values():
                yield item

    def take_changed(self) -> list[Confirmation]:
        """What to confirm for each run seen since the last call."""
        changed, self.changed = self.changed, {}
        due = []
        for key, boot in changed:
            run = self.runs.get(key, {}).get(boot)
            if run is not None and (run.contiguous > 0 or run.highest > 0):
                due.append(Confirmation(key, boot, run.contiguous, run.missing()))
        return due
