"""Per-device health as readings of its own.

Every ``health_interval`` seconds each device gets four readings, on channels of the
device with quantities from the catalogue's ``health`` namespace:

======================  =======  ==============================================
quantity                unit     meaning
======================  =======  ==============================================
``health.online``       1        1 when the last poll was answered, else 0
``health.age``          s        age of the last good reading (NaN before one)
``health.errors``       count    failed polls since the service started
``health.polls``        count    polls since the service started
======================  =======  ==============================================

and the service itself (device ``hazmon``) three more:

========================  =======  ============================================
``health.store_up``       1        1 while the readings store takes writes
``health.register_up``    1        1 while the hazard register is reachable
``health.dropped``        count    readings dropped (the store refused too long)
========================  =======  ============================================

Why readings and not a table: they go wherever readings go (SQLite, the line-protocol
store, MQTT to the central ingest) with no schema of their own, and a dashboard plots
a meter's uptime beside its gas readings. They carry no limit rule, so they never
alert; communication alerts come from the poller on the transition itself.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from hazmon.acquisition.poller import DeviceState
from hazmon.analysis.readings import Channel, ChannelTable, Readings

HEALTH_QUANTITIES = (
    ("health.online", "1"),
    ("health.age", "s"),
    ("health.errors", "count"),
    ("health.polls", "count"),
)


#: The service's own health channels (device :data:`SERVICE_DEVICE`).
SERVICE_QUANTITIES = (
    ("health.store_up", "1"),
    ("health.register_up", "1"),
    ("health.dropped", "count"),
)
#: The device name of the service's own health channels.
SERVICE_DEVICE = "hazmon"

ServiceHealth = Callable[[], tuple[float, float, float]]
"""(store up, register up, readings dropped) now, in :data:`SERVICE_QUANTITIES` order."""


def is_health(channel: Channel) -> bool:
    """Whether ``channel`` is a health channel (the live view lists them apart)."""
    return channel.quantity.startswith("health.")


class HealthRecorder:
    """Turns the devices' health counters into readings.

    Parameters
    ----------
    site
        Site name of the channels.
    states
        The devices.
    channels
        The table the health channels are added to.
    service
        The service's own state (:data:`ServiceHealth`); None: no ``hazmon`` channels.
    """

    def __init__(
        self,
        site: str,
        states: list[DeviceState],
        channels: ChannelTable,
        service: ServiceHealth | None = None,
    ) -> None:
        self.states = states
        self.service = service
        numbers = [
            channels.add(Channel(site=site, device=state.config.id, quantity=q, unit=u))
            for state in states
            for q, u in HEALTH_QUANTITIES
        ]
        if service is not None:
            numbers += [
                channels.add(Channel(site=site, device=SERVICE_DEVICE, quantity=q, unit=u))
                for q, u in SERVICE_QUANTITIES
            ]
        self.numbers = np.array(numbers, dtype=np.int32)

    def readings(self, now_ns: int | None = None) -> Readings:
        """One reading per health channel at ``now_ns`` [ns UTC]."""
        now_ns = time.time_ns() if now_ns is None else now_ns
        values: list[float] = []
        for state in self.states:
            age = float("nan") if state.last_ok_ns is None else (now_ns - state.last_ok_ns) / 1e9
            values += [
                0.0 if state.in_fault or state.last_ok_ns is None else 1.0,
                max(0.0, age) if age == age else age,
                float(state.failed_polls),
                float(state.polls),
            ]
        if self.service is not None:
            values += list(self.service())
        count = len(self.numbers)
        return Readings(
            ts=np.full(count, now_ns, dtype=np.int64),
            channel=self.numbers.copy(),
            value=np.array(values, dtype=np.float64),
            quality=np.zeros(count, dtype=np.uint16),
        )
