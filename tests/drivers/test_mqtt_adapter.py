"""The paho-mqtt adapter against a real Mosquitto broker started by the test."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from hazmon.drivers.mqtt_adapter import MqttConnection, MqttMessage, MqttSettings

DEADLINE = 60.0  # [s] generous: the suite runs on loaded machines
PROBE = b"probe"


async def _next(connection: MqttConnection, timeout: float = DEADLINE) -> MqttMessage:
    """The next message that is not a readiness probe (probes are acknowledged)."""
    iterator = connection.messages()
    while True:
        message = await asyncio.wait_for(anext(iterator), timeout)
        if message.payload != PROBE:
            return message
        connection.ack(message)


async def _until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not condition():
        assert time.monotonic() < deadline, f"not within {DEADLINE} s: {what}"
        await asyncio.sleep(0.02)


async def _subscribed(
    members: tuple[MqttConnection, ...], publisher: MqttConnection, topic: str
) -> None:
    """Return once every member's subscription matching ``topic`` is in effect.

    subscribe() does not wait for the broker's SUBACK, and a message published before it
    is not delivered: publish probes until each member has received one (a shared
    subscription hands them round the members).
    """
    start = [member.messages_received for member in members]

    def ready() -> bool:
        return all(m.messages_received > n for m, n in zip(members, start, strict=True))

    deadline = time.monotonic() + DEADLINE
    while not ready():
        assert time.monotonic() < deadline, f"subscriptions to {topic} not in effect"
        await publisher.publish(topic, PROBE, qos=1)
        for _ in range(10):
            if ready():
                break
            await asyncio.sleep(0.02)


def test_publish_with_acknowledgement_and_receive(mqtt_broker: Any) -> None:
    async def scenario() -> None:
        settings = MqttSettings("127.0.0.1", mqtt_broker.port)
        async with MqttConnection(settings) as subscriber, MqttConnection(settings) as publisher:
            await subscriber.subscribe("site/+/gas/#", qos=1)
            await _subscribed((subscriber,), publisher, "site/probe/gas/ready")
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
            await _subscribed((first, second), publisher, "hazmon/s/probe/co")
            for number in range(40):
                await publisher.publish(f"hazmon/s/d{number}/co", str(number), qos=1)
            received = [0, 0]

            def counts() -> list[int]:
                for index, member in enumerate((first, second)):
                    while (message := member.get_nowait()) is not None:
                        received[index] += message.payload != PROBE
                return received

            await _until(lambda: sum(counts()) >= 40, "all 40 messages delivered")
            assert sum(counts()) == 40  # each message to exactly one member
            assert min(counts()) > 0  # and both members got some

    asyncio.run(scenario())


def test_reconnects_and_resubscribes_after_a_broker_restart(mqtt_broker: Any) -> None:
    async def scenario() -> None:
        settings = MqttSettings("127.0.0.1", mqtt_broker.port, reconnect_initial=1, reconnect_max=1)
        async with MqttConnection(settings) as subscriber:
            await subscriber.subscribe("t/#")
            mqtt_broker.stop()
            await _until(lambda: not subscriber.connected, "the subscriber sees the broker gone")
            mqtt_broker.start()
            # Not wait_connected(): it returns False at a refused attempt, and a broker
            # still starting may refuse one; paho's next attempt is what counts.
            await _until(lambda: subscriber.connected, "the subscriber reconnected")
            assert subscriber.connections == 2
            async with MqttConnection(settings) as publisher:
                await _subscribed((subscriber,), publisher, "t/probe")
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
            async with MqttConnection(base) as publisher:
                await _subscribed((first,), publisher, "readings/probe")
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
