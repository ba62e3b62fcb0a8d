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
from hazmon.acquisition.publish import (
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


def test_a_confirmation_payload_is_checked() -> None:
    assert decode_confirm(encode_confirm(7, 9)) == (7, 9, ())
    assert decode_confirm(encode_confirm(7, 9, [11, 12])) == (7, 9, (11, 12))
    for bad in (
        b"[]",
        b'{"schema": "hazmon.confirm/1", "boot": 1}',
        b'{"boot": 1, "seq": 2}',
        b'{"schema": "hazmon.confirm/1", "boot": 1, "seq": 2, "missing": 3}',
        b'{"schema": "hazmon.confirm/1", "boot": 1, "seq": 2, "missing": [2]}',
        b'{"schema": "hazmon.confirm/1", "boot": 1, "seq": 2, "missing": [true]}',
        b'{"schema": "hazmon.confirm/1", "boot": 1, "seq": 2, "missing": [3.5]}',
    ):
        try:
            decode_confirm(bad)
        except ValueError:
            continue
        raise AssertionError(f"{bad!r} accepted")


def test_a_message_the_centre_names_missing_is_sent_again_at_once(
    mqtt_broker: Broker, tmp_path: Path
) -> None:
    """The centre has 1 and 3, not 2 (lost on the way): its confirmation says so, and
    the kit sends 2 again at its next round, long before the 60 s timeout; 3 is not
    sent again. A second request within a second of the resend is not followed."""

    async def scenario() -> None:
        centre = MqttConnection(
            MqttSettings(host="127.0.0.1", port=mqtt_broker.port, client_id="centre")
        )
        await centre.connect()
        await centre.subscribe("hazmon/#")
        connection = MqttConnection(
            MqttSettings(host="127.0.0.1", port=mqtt_broker.port, client_id="kit")
        )
        await connection.connect()
        with MessageSpool(tmp_path / "kit.db") as spool:
            publisher = ReadingPublisher(
                connection, spool, ChannelTable([CHANNEL]), confirm=True, confirm_timeout=60.0
            )
            for k in (1, 2, 3):
                publisher.add(*_one(k))
                publisher.spool_pending()
            assert await publisher.send_spooled() == 3
            assert [m["seq"] for m in await _received(centre, 3)] == [1, 2, 3]
            # Sent under a second ago: a request now is not followed (its resend would
            # cross the original on the way).
            for record in publisher._sent.values():
                record.sent_at = time.monotonic()
            publisher.confirmed(confirm_topic(TOPIC), encode_confirm(publisher.boot, 1, [2]))
            assert await publisher.send_spooled() == 0
            for record in publisher._sent.values():  # as if sent 2 s ago
                record.sent_at -= 2.0
            await _confirm_missing(centre, publisher, 1, [2])
            assert await publisher.send_spooled() == 1
            assert [m["seq"] for m in await _received(centre, 1)] == [2]
            assert (publisher.asked_messages, publisher.resent_messages) == (1, 1)
            assert spool.pending()[0] == 2  # 2 and 3 wait for their confirmation
            await _confirm(centre, publisher, publisher.boot, 3)
            assert spool.pending()[0] == 0
        await connection.close()
        await centre.close()

    asyncio.run(scenario())


async def _confirm_missing(
    centre: MqttConnection, publisher: ReadingPublisher, seq: int, missing: list[int]
) -> None:
    """Publish a confirmation naming ``missing`` and hand it to the kit's publisher."""
    payload = encode_confirm(publisher.boot, seq, missing)
    await centre.publish(confirm_topic(TOPIC), payload, qos=1)
    async with asyncio.timeout(30):
        while True:
            message = await publisher.connection.receive(30)
            if message is not None and message.payload == payload:
                assert publisher.confirmed(message.topic, message.payload)
                return
