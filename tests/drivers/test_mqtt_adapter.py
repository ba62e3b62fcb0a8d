"""The paho-mqtt adapter against a real Mosquitto broker started by the test."""

from __future__ import annotations

import asyncio
from typing import Any

from hazmon.drivers.mqtt_adapter import MqttConnection, MqttMessage, MqttSettings


async def _next(connection: MqttConnection, timeout: float = 5.0) -> MqttMessage:
    iterator = connection.messages()
    return await asyncio.wait_for(anext(iterator), timeout)


def test_publish_with_acknowledgement_and_receive(mqtt_broker: Any) -> None:
    async def scenario() -> None:
        settings = MqttSettings("127.0.0.1", mqtt_broker.port)
        async with MqttConnection(settings) as subscriber, MqttConnection(settings) as publisher:
            await subscriber.subscribe("site/+/gas/#", qos=1)
            await asyncio.sleep(0.2)  # let the SUBACK arrive before publishing
            await publisher.publish("site/a/gas/lel", b'{"v": 12.5}', qos=1)
            message = await _next(subscriber)
            assert message.topic == "site/a/gas/lel"
            assert message.payload == b'{"v": 12.5}'
            assert message.qos == 1
            assert message.received_ns > 0

    asyncio.run(scenario())


def test_retained_state_reaches_a_late_subscriber(mqtt_broker: Any) -> None:
    async def scenario() -> None:
        settings = MqttSettings("127.0.0.1", mqtt_broker.port)
        async with MqttConnection(settings) as publisher:
            await publisher.publish("hazmon/demo/state/lel", "A2", qos=1, retain=True)
        async with MqttConnection(settings) as late:
            await late.subscribe("hazmon/demo/state/#")
            message = await _next(late)
            assert message.retain
            assert message.payload == b"A2"

    asyncio.run(scenario())


def test_shared_subscription_splits_messages_between_members(mqtt_broker: Any) -> None:
    async def scenario() -> None:
        settings = MqttSettings("127.0.0.1", mqtt_broker.port)
        async with (
            MqttConnection(settings) as first,
            MqttConnection(settings) as second,
            MqttConnection(settings) as publisher,
        ):
            for member in (first, second):
                await member.subscribe("$share/ingest/hazmon/+/+/+", qos=1)
            await asyncio.sleep(0.3)
            for number in range(40):
                await publisher.publish(f"hazmon/s/d{number}/co", str(number), qos=1)
            await asyncio.sleep(0.5)
            counts = [member.messages_received for member in (first, second)]
            assert sum(counts) == 40  # each message to exactly one member
            assert min(counts) > 0  # and both members got some

    asyncio.run(scenario())


def test_reconnects_and_resubscribes_after_a_broker_restart(mqtt_broker: Any) -> None:
    async def scenario() -> None:
        settings = MqttSettings("127.0.0.1", mqtt_broker.port, reconnect_min=1, reconnect_max=1)
        async with MqttConnection(settings) as subscriber:
            await subscriber.subscribe("t/#")
            mqtt_broker.stop()
            await asyncio.sleep(0.5)
            assert not subscriber.connected
            mqtt_broker.start()
            assert await subscriber.wait_connected(timeout=10)
            assert subscriber.connections == 2
            await asyncio.sleep(0.3)
            async with MqttConnection(settings) as publisher:
                await publisher.publish("t/after", b"1")
            message = await _next(subscriber)
            assert message.topic == "t/after"

    asyncio.run(scenario())


def test_password_never_in_repr() -> None:
    settings = MqttSettings("broker", username="inspector", password="s3cret")
    assert "s3cret" not in repr(settings)
    assert "***" in repr(settings)


def test_manual_ack_redelivers_what_was_not_acknowledged(mqtt_broker: Any) -> None:
    """A consumer that dies before storing a message gets it again (at least once)."""

    async def scenario() -> None:
        base = MqttSettings("127.0.0.1", mqtt_broker.port)
        consumer = MqttSettings(
            "127.0.0.1",
            mqtt_broker.port,
            client_id="ingest-test",
            clean_start=False,
            session_expiry=300,
            manual_ack=True,
        )
        async with MqttConnection(consumer) as first:
            await first.subscribe("readings/#")
            await asyncio.sleep(0.2)
            async with MqttConnection(base) as publisher:
                await publisher.publish("readings/co", b"batch-1")
            message = await _next(first)
            assert message.payload == b"batch-1"
            # No ack: the process "dies" before storing it.
        async with MqttConnection(consumer) as second:
            again = await _next(second)
            assert again.payload == b"batch-1"
            second.ack(again)
            await asyncio.sleep(0.2)
        async with MqttConnection(consumer) as third:
            await asyncio.sleep(0.5)
            assert third.get_nowait() is None  # acknowledged: not delivered again

    asyncio.run(scenario())
