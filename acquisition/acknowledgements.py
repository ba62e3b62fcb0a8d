"""The desk's acknowledgements, read back from the register, for a kit and the centre.

The department or the inspector acknowledges an alert on the desk's live page; the desk
writes it to the register (:meth:`~hazmon.store.attachments.Annotations.acknowledge`,
table ``alert_acknowledgements``, one row per event). That register is the one the
events are filed into (a kit's own store file, or the centre's PostgreSQL), so it is
where ``hazmon run`` and the central workers find them: no second channel to keep in
step, and an acknowledgement outlives the process that saw it (a restarted kit, or a
partition's next owner, finds it again after its replay).

Only a latched alarm needs one (the combustible A2, GB/T 50493 practice). The owner of
a pipeline asks, for the channels whose alarm is latched, whether the event that raised
that latch was acknowledged. An acknowledgement of an older event never releases a
newer latch: the event must contain the start of the latched run.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from sqlalchemy import and_, or_, select

from hazmon.acquisition.alert_routes import AlertManager
from hazmon.acquisition.pipeline import Pipeline
from hazmon.analysis.readings import Channel
from hazmon.store.attachments import acknowledgements_table
from hazmon.store.hazards import HazardRegister, events_table

#: [s] between two looks at the register while some alarm is latched.
ACK_POLL_S = 1.0


@dataclass(frozen=True, slots=True)
class Latched:
    """A channel whose latching alarm is raised and not acknowledged.

    Attributes
    ----------
    number
        The channel's number in its partition's channel table.
    channel
        The channel.
    since_ns : [ns UTC]
        When the condition of the latched set point began (its on-run's first reading).
    until_ns : [ns UTC]
        ``since_ns`` plus the set point's minimum duration: the event (which follows
        the condition) starts no later.
    """

    number: int
    channel: Channel
    since_ns: int
    until_ns: int


@dataclass(frozen=True, slots=True)
class Acknowledgement:
    """One row of ``alert_acknowledgements`` with its event's time span."""

    id: int
    event_id: int
    by: str
    reason: str


def latched_alarms(pipeline: Pipeline) -> list[Latched]:
    """The channels of ``pipeline`` whose latching alarm waits for an acknowledgement.

    Vectorised over the evaluator's alarm state (channels × set points); the state
    lives inside the evaluator, which has no public view of it.
    """
    evaluator = pipeline.evaluator
    policy = evaluator.plan.policy
    if policy is None:
        return []
    carry = evaluator._accumulator.alarm_carry
    rows, columns = carry.unacknowledged.shape
    latch = policy.latch[:rows, :columns]
    waiting = carry.unacknowledged[: latch.shape[0], : latch.shape[1]] & latch
    # An acknowledgement already given and not yet spent (the channel's next reading
    # spends it) needs no second one.
    spent = evaluator._accumulator.acknowledged[: waiting.shape[0]]
    waiting &= ~spent[:, None]
    found: list[Latched] = []
    for number, column in zip(*np.nonzero(waiting), strict=True):
        since = int(carry.since_ns[number, column])
        found.append(
            Latched(
                int(number),
                pipeline.channels[int(number)],
                since,
                since + int(policy.min_duration_ns[number, column]),
            )
        )
    return found


class RegisterAcknowledgements:
    """Looks up acknowledgements in the register (on a thread of its own).

    Parameters
    ----------
    url
        The register's SQLAlchemy URL (the desk's too).
    timeout : [s]
        Longest wait of one database call.
    """

    def __init__(self, url: str, *, timeout: float = 5.0) -> None:
        self.register = HazardRegister(url, timeout=timeout)
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="acknowledgements")

    def _find(self, latched: Sequence[Latched]) -> dict[int, Acknowledgement]:
        self.register.open()
        events = events_table.c
        matches = [
            and_(
                events.site == item.channel.site,
                events.device == item.channel.device,
                events.name == item.channel.name,
                events.quantity == item.channel.quantity,
                events.substance == item.channel.substance,
                # The event holds the latched run's start: this alarm's, not an older one.
                events.start_ts <= item.until_ns,
                events.end_ts >= item.since_ns,
            )
            for item in latched
        ]
        acks = acknowledgements_table.c
        query = (
            select(
                acks.id,
                acks.event_id,
                acks.by,
                acks.reason,
                events.site,
                events.device,
                events.name,
                events.quantity,
                events.substance,
                events.start_ts,
                events.end_ts,
            )
            .join(events_table, events.id == acks.event_id)
            .where(or_(*matches))
            .order_by(acks.id)
        )
        with self.register.engine.connect() as connection:
            rows = connection.execute(query).all()
        found: dict[int, Acknowledgement] = {}
        for item in latched:
            for row in rows:
                if (
                    (row.site, row.device, row.name, row.quantity, row.substance)
                    == item.channel.key
                    and row.start_ts <= item.until_ns
                    and row.end_ts >= item.since_ns
                ):
                    found[item.number] = Acknowledgement(row.id, row.event_id, row.by, row.reason)
                    break
        return found

    async def find(self, latched: Sequence[Latched]) -> dict[int, Acknowledgement]:
        """The acknowledgement of each latched channel that has one (by channel number)."""
        if not latched:
            return {}
        return await asyncio.get_running_loop().run_in_executor(
            self._executor, self._find, list(latched)
        )

    def close(self) -> None:
        """Close the connection pool and the thread."""
        self._executor.shutdown(wait=True)
        self.register.close()


async def acknowledged_latches(
    pipeline: Pipeline, acknowledgements: RegisterAcknowledgements
) -> list[tuple[Latched, Acknowledgement]]:
    """The latched alarms of ``pipeline`` the register holds an acknowledgement of
    (nothing asked when none is latched)."""
    latched = latched_alarms(pipeline)
    found = await acknowledgements.find(latched)
    return [(item, found[item.number]) for item in latched if item.number in found]


def apply_acknowledgement(
    pipeline: Pipeline, manager: AlertManager, item: Latched, ack: Acknowledgement
) -> bool:
    """Release ``item``'s latch at its channel's next reading (the clear then goes out
    as any clear does) and give the site's routes the acknowledgement; False, and
    nothing done, when the channel was judged since the register was asked and its
    latch is another run's now (that run needs its own acknowledgement)."""
    still = {latched.number: latched.since_ns for latched in latched_alarms(pipeline)}
    if still.get(item.number) != item.since_ns:
        return False
    pipeline.acknowledge(item.number)
    # No state when this process has not raised it (a restart, a takeover): nothing sent.
    channel = item.channel
    manager.acknowledge(f"{channel.device}/{channel.name or channel.quantity}", ack.by, ack.reason)
    return True
