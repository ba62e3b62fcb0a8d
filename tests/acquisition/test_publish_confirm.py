"""The kit's publisher with end-to-end confirmation, against a real Mosquitto: a message
stays spooled after its PUBACK until the centre's ``hazmon.confirm/1`` (here published
by the test in the centre's place: Mosquitto has no confirmer), what is unconfirmed is
sent again, and without ``confirm`` the PUBACK alone still empties the spool."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import numpy as np

from conftest import Broker
from hazmon.acquisition.central.worker import SequenceTracker
from hazmon.acquisition.publish import (
    DecodedReadings,
    MessageSpool,
    ReadingPublisher,
    confirm_topic,
    decode_confirm,
    encode_confirm,
    readings_topic,
)
from hazmon.analysis.readings import Channel, ChannelTable, Readings
from hazmon.drivers.mqtt_adapter import MqttConnection, MqttSettings

CHANNEL = Channel("plant-a", "gd-1", "lel", "%LEL", "CH4")
TOPIC = readings_topic(CHANNEL)
T0 = 1_790_000_000_000_000_000


def _one(k: int) -> tuple[Readings, np.ndarray]:
    readings = Readings.from_columns([T0 + k * 1_000_000_000], [0], [5.0 + k])
    return readings, np.zeros(1, dtype=np.uint8)


async def _received(connection: MqttConnection, count: int) -> list[dict[str, object]]:
    """The next ``count`` messages ``connection`` receives (deadline 30 s)."""
    found: list[dict[str, object]] = []
    async with asyncio.timeout(30):
        while len(found) < count:
            message = await connection.receive(30)
            if message is not None:
                found.append(json.loads(message.payload))
    return found


async def _confirm(
    centre: MqttConnection, publisher: ReadingPublisher, boot: int, seq: int
) -> None:
    """Publish a confirmation as the centre does and hand what the kit receives to
    its publisher (as the service's listener does) until it has taken it."""
    before = publisher.confirmed_messages
    await centre.publish(confirm_topic(TOPIC), encode_confirm(boot, seq), qos=1)
    async with asyncio.timeout(30):
        while publisher.confirmed_messages == before:
            message = await publisher.connection.receive(30)
            if message is not None:
                assert publisher.confirmed(message.topic, message.payload)


def test_messages_stay_spooled_until_confirmed_and_unconfirmed_ones_are_sent_again(
    mqtt_broker: Broker, tmp_path: Path
) -> None:
    async def scenario() -> None:
        settings = MqttSettings(host="127.0.0.1", port=mqtt_broker.port, client_id="kit")
        centre = MqttConnection(
            MqttSettings(host="127.0.0.1", port=mqtt_broker.port, client_id="centre")
        )
        await centre.connect()
        await centre.subscribe("hazmon/#")
        connection = MqttConnection(settings)
        await connection.connect()
        with MessageSpool(tmp_path / "kit.db") as spool:
            publisher = ReadingPublisher(
                connection, spool, ChannelTable([CHANNEL]), confirm=True, confirm_timeout=0.2
            )
            boot = publisher.boot
            for k in (1, 2):
                publisher.add(*_one(k))
                publisher.spool_pending()
            assert await publisher.send_spooled() == 2
            # Both PUBACKed, neither confirmed: both stay.
            assert spool.pending()[0] == 2
            assert publisher.unconfirmed == 2
            first = await _received(centre, 2)
            assert [(m["seq"], m["held"]) for m in first] == [(1, 1), (2, 1)]

            await _confirm(centre, publisher, boot, 1)
            assert spool.pending()[0] == 1
            assert [json.loads(item.payload)["seq"] for item in spool.oldest(5)] == [2]
            publisher.add(*_one(3))
            publisher.spool_pending()
            # The lowest seq the kit still holds: 1 was confirmed, 2 was not.
            assert json.loads(spool.oldest(5)[-1].payload)["held"] == 2

            # 2 and 3 unconfirmed past the timeout: sent again (counted), not lost.
            deadline = time.monotonic() + 30
            while publisher.resent_messages == 0:
                assert time.monotonic() < deadline, "nothing sent again within 30 s"
                await publisher.send_spooled()
                await asyncio.sleep(0.05)
            again = await _received(centre, 1 + publisher.resent_messages)  # 3, then again
            assert {m["seq"] for m in again} == {2, 3}
            assert publisher.resent_messages >= 1

            await _confirm(centre, publisher, boot, 3)
            assert spool.pending()[0] == 0
            assert publisher.unconfirmed == 0
            assert publisher.confirmed_messages == 3

            # Not a hazmon.confirm/1 payload: counted and ignored, never raised.
            assert publisher.confirmed(confirm_topic(TOPIC), b"{not json")
            assert publisher.bad_confirmations == 1
            assert not publisher.confirmed("hazmon/alerts/ack/x", b"{}")
        await connection.close()
        await centre.close()

    asyncio.run(scenario())


def test_a_restarted_kit_sends_the_last_runs_messages_until_they_are_confirmed(
    mqtt_broker: Broker, tmp_path: Path
) -> None:
    async def scenario() -> None:
        centre = MqttConnection(
            MqttSettings(host="127.0.0.1", port=mqtt_broker.port, client_id="centre")
        )
        await centre.connect()
        with MessageSpool(tmp_path / "kit.db") as spool:
            old = ReadingPublisher(
                MqttConnection(MqttSettings(host="127.0.0.1", port=1)),
                spool,
                ChannelTable([CHANNEL]),
                confirm=True,
            )
            old.add(*_one(1))
            old.spool_pending()  # never sent: the kit stopped (no broker)
            connection = MqttConnection(
                MqttSettings(host="127.0.0.1", port=mqtt_broker.port, client_id="kit")
            )
            await connection.connect()
            new = ReadingPublisher(connection, spool, ChannelTable([CHANNEL]), confirm=True)
            assert new.boot != old.boot
            assert await new.send_spooled() == 1
            assert spool.pending()[0] == 1
            await _confirm(centre, new, old.boot, 1)  # the old run's numbering
            assert spool.pending()[0] == 0
            await connection.close()
        await centre.close()

    asyncio.run(scenario())


def test_without_confirm_the_puback_empties_the_spool(mqtt_broker: Broker, tmp_path: Path) -> None:
    async def scenario() -> None:
        connection = MqttConnection(
            MqttSettings(host="127.0.0.1", port=mqtt_broker.port, client_id="kit")
        )
        await connection.connect()
        with MessageSpool(tmp_path / "kit.db") as spool:
            publisher = ReadingPublisher(connection, spool, ChannelTable([CHANNEL]))
            publisher.add(*_one(1))
            publisher.spool_pending()
            assert "held" not in json.loads(spool.oldest(1)[0].payload)
            assert await publisher.send_spooled() == 1
            assert spool.pending()[0] == 0
            assert publisher.resent_messages == 0
        await connection.close()

    asyncio.run(scenario())


def _message(boot: int, seq: int, held: int | None = None) -> DecodedReadings:
    empty = np.zeros(0)
    return DecodedReadings(
        CHANNEL,
        empty.astype(np.int64),
        empty,
        empty.astype(np.uint16),
        boot=boot,
        seq=seq,
        held=held,
    )


def test_the_centre_confirms_the_highest_seq_below_which_it_has_every_message() -> None:
    tracker = SequenceTracker()
    # 1, 2, then 4 and 5 (3 lost by the broker): confirmed up to 2, 3 missing.
    assert tracker.see(_message(10, 1)) == (0, False)
    assert tracker.see(_message(10, 2)) == (0, False)
    assert tracker.see(_message(10, 4)) == (1, False)
    assert tracker.see(_message(10, 5)) == (0, False)
    assert tracker.take_changed() == [(CHANNEL, 10, 2)]
    assert tracker.take_changed() == []  # nothing new: nothing to publish
    # 3 sent again by the kit: new (stored), and now 1..5 are all there.
    assert tracker.see(_message(10, 3)) == (0, False)
    assert tracker.take_changed() == [(CHANNEL, 10, 5)]
    # 4 again (its confirmation lost): a repeat, confirmed again.
    assert tracker.see(_message(10, 4)) == (0, True)
    assert tracker.take_changed() == [(CHANNEL, 10, 5)]
    # A takeover that never saw 1..99 of a long run: the kit's ``held`` = 100 says
    # all below was confirmed, so 100 and 101 confirm 101.
    fresh = SequenceTracker()
    fresh.see(_message(20, 100, held=100))
    fresh.see(_message(20, 101, held=100))
    assert fresh.take_changed() == [(CHANNEL, 20, 101)]
    # A newer run (the kit restarted) whose first message here is 3, held 2: message 2
    # never arrived (1 was confirmed before), one missing.
    assert fresh.see(_message(30, 3, held=2)) == (1, False)
    assert fresh.take_changed() == [(CHANNEL, 30, 1)]


def test_a_confirmation_payload_is_checked() -> None:
    assert decode_confirm(encode_confirm(7, 9)) == (7, 9)
    for bad in (b"[]", b'{"schema": "hazmon.confirm/1", "boot": 1}', b'{"boot": 1, "seq": 2}'):
        try:
            decode_confirm(bad)
        except ValueError:
            continue
        raise AssertionError(f"{bad!r} accepted")
