"""The one module that talks to paho-mqtt.

paho-mqtt 2.0 changed its callback signatures (``CallbackAPIVersion``) and its
connect options differ between MQTT 3.1.1 and 5; everything that depends on them is
here, behind :class:`MqttConnection`, an asyncio interface over paho's network thread.
Meters that publish (issue 4), alert routes and central ingest (issue 7) all use it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import sys
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Literal

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from hazmon.config.secrets import secret_from_env
from hazmon.config.site import MqttCredentials
from hazmon.drivers.errors import TransportConnectionError, TransportTimeout

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class MqttSettings:
    """How to reach a broker.

    Attributes
    ----------
    host, port
        The broker.
    client_id
        Empty for a random id (then the session cannot persist).
    username, password
        Credentials; the caller reads the password from the environment, never a file.
    tls
        Connect with TLS; ``ca_file`` names the CA bundle (system default when None),
        ``client_cert`` and ``client_key`` a client certificate for a broker that
        requires one (the key may be in the certificate's file).
    protocol
        ``"5"`` (MQTT 5, needed for shared subscriptions) or ``"3.1.1"``.
    clean_start
        False keeps the session (subscriptions and queued QoS 1 messages) across
        reconnects, for ``session_expiry`` [s] (MQTT 5).
    keepalive, reconnect_initial, reconnect_max : [s]
        Keep-alive interval, and the reconnect delays paho applies by itself while
        the client runs (doubling). A meter reading with :meth:`MqttConnection.receive`
        reconnects by the streaming loop's backoff instead.
    manual_ack
        Acknowledge QoS 1 messages only when :meth:`MqttConnection.ack` is called
        (after they are stored), not on receipt: a process killed in between gets
        them again from its persistent session (at least once, never lost).
    """

    host: str
    port: int = 1883
    client_id: str = ""
    username: str | None = None
    password: str | None = None
    tls: bool = False
    ca_file: str | None = None
    client_cert: str | None = None
    client_key: str | None = None
    protocol: Literal["5", "3.1.1"] = "5"
    clean_start: bool = True
    session_expiry: int = 0
    keepalive: int = 30
    reconnect_initial: float = 0.5
    reconnect_max: float = 30.0
    manual_ack: bool = False

    def __repr__(self) -> str:  # never print the password
        return (
            f"MqttSettings(host={self.host!r}, port={self.port}, client_id={self.client_id!r}, "
            f"username={self.username!r}, password={'***' if self.password else None}, "
            f"tls={self.tls}, protocol={self.protocol!r})"
        )


def login_settings(
    login: MqttCredentials, source: str, host: str, port: int, **options: Any
) -> MqttSettings:
    """Settings to reach ``host``:``port`` logged in by ``login``: the one place the
    service's own connection and every MQTT meter read credentials and TLS files.

    Parameters
    ----------
    source
        Where ``login`` was written (``[mqtt]``), for the debug line naming an unset
        variable (the value is never logged).
    options
        The other :class:`MqttSettings` fields (``tls``, ``client_id``, ...).
    """
    username = secret_from_env(login.username_env, source, "username_env")
    password = secret_from_env(login.password_env, source, "password_env")
    return MqttSettings(
        host=host,
        port=port,
        username=username,
        password=password if username is not None else None,
        ca_file=login.ca_file,
        client_cert=login.client_cert,
        client_key=login.client_key,
        **options,
    )


@dataclass(frozen=True, slots=True)
class MqttMessage:
    """A message received from the broker."""

    topic: str
    payload: bytes
    qos: int
    retain: bool
    received_ns: int
    """Arrival time [ns UTC]."""
    mid: int = 0
    """Packet id, for :meth:`MqttConnection.ack`."""


class MqttConnection:
    """An MQTT client for asyncio: connect, subscribe, publish with acknowledgement,
    and an async iterator of received messages.

    paho runs its own network thread and reconnects by itself with backoff; callbacks
    are handed to the event loop with ``call_soon_threadsafe``. Subscriptions are made
    again on every (re)connection. The constructor does no I/O.
    """

    def __init__(self, settings: MqttSettings) -> None:
        self.settings = settings
        self.messages_received = 0
        self.connections = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: asyncio.Queue[MqttMessage] | None = None
        self._connected = threading.Event()
        self._connect_waiters: list[asyncio.Future[None]] = []
        self._loss_waiters: list[asyncio.Future[MqttMessage | None]] = []
        self._subscriptions: dict[str, int] = {}
        self._lock = threading.Lock()
        self._pending: dict[int, asyncio.Future[None]] = {}
        self._acknowledged: set[int] = set()
        self._client: paho.Client | None = None
        self._last_error = ""

    @property
    def address(self) -> str:
        """``mqtt://host:port`` (``mqtts`` with TLS)."""
        scheme = "mqtts" if self.settings.tls else "mqtt"
        return f"{scheme}://{self.settings.host}:{self.settings.port}"

    @property
    def connected(self) -> bool:
        """Whether the broker connection is up now."""
        return self._connected.is_set()

    def _build(self) -> paho.Client:
        settings = self.settings
        protocol = paho.MQTTv5 if settings.protocol == "5" else paho.MQTTv311
        options: dict[str, Any] = {}
        if protocol == paho.MQTTv311:
            options["clean_session"] = settings.clean_start
        client = paho.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=settings.client_id,
            protocol=protocol,
            **options,
        )
        if settings.username is not None:
            client.username_pw_set(settings.username, settings.password)
        if settings.tls:
            context = ssl.create_default_context(cafile=settings.ca_file)
            if settings.client_cert is not None:
                context.load_cert_chain(settings.client_cert, settings.client_key)
            client.tls_set_context(context)
        client.reconnect_delay_set(
            min_delay=max(1, round(settings.reconnect_initial)),
            max_delay=max(1, round(settings.reconnect_max)),
        )
        if settings.manual_ack:
            client.manual_ack_set(True)
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_publish = self._on_publish
        return client

    async def connect(self, timeout: float = 10.0) -> None:
        """Connect and wait until the broker accepts.

        Raises
        ------
        TransportConnectionError
            The broker refused (bad credentials, ...) or cannot be reached.
        TransportTimeout
            No answer within ``timeout`` [s]; paho keeps trying in the background.
        """
        self._loop = asyncio.get_running_loop()
        if self._queue is None:
            self._queue = asyncio.Queue()
        if self._client is None:
            try:
                self._client = self._build()
            except (OSError, ssl.SSLError, ValueError) as error:
                # A CA or client certificate that cannot be read is no broker fault.
                raise TransportConnectionError(
                    f"{self.address}: TLS files cannot be used: {error}"
                ) from error
            settings = self.settings
            connect_options: dict[str, Any] = {}
            if settings.protocol == "5":
                connect_options["clean_start"] = settings.clean_start
                if settings.session_expiry:
                    properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
                    properties.SessionExpiryInterval = settings.session_expiry
                    connect_options["properties"] = properties
            try:
                self._client.connect_async(
                    settings.host, settings.port, keepalive=settings.keepalive, **connect_options
                )
            except (OSError, ValueError) as error:
                # Forget the client so that a later connect() starts afresh.
                self._client = None
                raise TransportConnectionError(f"{self.address}: {error}") from error
            self._client.loop_start()
        if self.connected:
            return
        waiter: asyncio.Future[None] = self._loop.create_future()
        self._connect_waiters.append(waiter)
        try:
            await asyncio.wait_for(waiter, timeout)
        except TimeoutError as error:
            detail = f" ({self._last_error})" if self._last_error else ""
            raise TransportTimeout(
                f"{self.address}: no connection within {timeout} s{detail}"
            ) from error

    async def wait_connected(self, timeout: float) -> bool:
        """Wait up to ``timeout`` [s] for the (re)connection; return whether it is up."""
        assert self._loop is not None, "connect() first"
        if self.connected:
            return True
        waiter: asyncio.Future[None] = self._loop.create_future()
        self._connect_waiters.append(waiter)
        with contextlib.suppress(TimeoutError, TransportConnectionError):
            await asyncio.wait_for(waiter, timeout)
        return self.connected

    async def subscribe(self, topic_filter: str, qos: int = 1) -> None:
        """Subscribe now and after every reconnection (``$share/GROUP/...`` works on MQTT 5)."""
        self._subscriptions[topic_filter] = qos
        if self._client is not None and self.connected:
            self._client.subscribe(topic_filter, qos=qos)

    async def unsubscribe(self, topic_filter: str, settle: float = 0.2) -> None:
        """Stop a subscription (also after reconnections) and wait ``settle`` [s] for
        messages already on their way, so that a consumer can drain before closing."""
        self._subscriptions.pop(topic_filter, None)
        if self._client is not None and self.connected:
            self._client.unsubscribe(topic_filter)
            await asyncio.sleep(settle)

    async def publish(
        self,
        topic: str,
        payload: bytes | str,
        *,
        qos: int = 1,
        retain: bool = False,
        timeout: float = 10.0,
    ) -> None:
        """Publish; with ``qos`` ≥ 1 return only once the broker acknowledged it.

        A message published while the connection is down is queued by paho and sent
        on reconnection; the wait covers that, up to ``timeout`` [s].

        Raises
        ------
        TransportTimeout
            Not acknowledged within ``timeout``.
        """
        if self._client is None or self._loop is None:
            raise TransportConnectionError(f"{self.address}: not connected; call connect()")
        info = self._client.publish(topic, payload, qos=qos, retain=retain)
        if info.rc not in (paho.MQTT_ERR_SUCCESS, paho.MQTT_ERR_NO_CONN):
            raise TransportConnectionError(f"{self.address}: publish failed ({info.rc})")
        if qos == 0:
            return
        with self._lock:
            if info.mid in self._acknowledged:
                self._acknowledged.discard(info.mid)
                return
            future: asyncio.Future[None] = self._loop.create_future()
            self._pending[info.mid] = future
        try:
            await asyncio.wait_for(future, timeout)
        except TimeoutError as error:
            with self._lock:
                self._pending.pop(info.mid, None)
            raise TransportTimeout(
                f"{self.address}: {topic} not acknowledged within {timeout} s"
            ) from error

    def ack(self, message: MqttMessage) -> None:
        """Acknowledge ``message`` to the broker (with ``manual_ack``; a no-op otherwise)."""
        if self.settings.manual_ack and message.qos > 0 and self._client is not None:
            self._client.ack(message.mid, message.qos)

    async def messages(self) -> AsyncIterator[MqttMessage]:
        """Received messages, in arrival order, for as long as the caller iterates."""
        assert self._queue is not None, "connect() first"
        while True:
            yield await self._queue.get()

    async def receive(self, timeout: float) -> MqttMessage | None:
        """The next received message, or None when none came within ``timeout`` [s].

        Messages already received are handed over first, even after the connection
        was lost.

        Raises
        ------
        TransportConnectionError
            The connection is down (or went down while waiting) and nothing is queued:
            the caller closes and connects again when it sees fit.
        """
        assert self._queue is not None, "connect() first"
        assert self._loop is not None, "connect() first"
        if not self._queue.empty():
            return self._queue.get_nowait()
        if not self.connected:
            raise TransportConnectionError(f"{self.address}: {self._last_error or 'not connected'}")
        getter: asyncio.Future[MqttMessage | None] = asyncio.ensure_future(self._queue.get())
        lost: asyncio.Future[MqttMessage | None] = self._loop.create_future()
        self._loss_waiters.append(lost)
        try:
            await asyncio.wait({getter, lost}, timeout=timeout, return_when="FIRST_COMPLETED")
        finally:
            # A message taken by the getter is returned, never dropped by cancelling.
            if not getter.done():
                getter.cancel()
            if lost in self._loss_waiters:
                self._loss_waiters.remove(lost)
        if getter.done() and not getter.cancelled():
            return getter.result()
        if lost.done():
            raise TransportConnectionError(f"{self.address}: {self._last_error}")
        return None

    def get_nowait(self) -> MqttMessage | None:
        """The next received message, or None when none is waiting."""
        if self._queue is None or self._queue.empty():
            return None
        return self._queue.get_nowait()

    async def close(self) -> None:
        """Disconnect cleanly and stop paho's thread (idempotent)."""
        client, self._client = self._client, None
        if client is None:
            return
        client.disconnect()
        await asyncio.get_running_loop().run_in_executor(None, client.loop_stop)
        self._connected.clear()

    async def __aenter__(self) -> MqttConnection:
        await self.connect()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # paho's callbacks run on its network thread: hand everything to the event loop.

    def _call(self, function: Any, *args: Any) -> None:
        if self._loop is not None and not self._loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop is shutting down
                self._loop.call_soon_threadsafe(function, *args)

    def _on_connect_fail(self, client: paho.Client, userdata: Any) -> None:
        # paho calls this inside its `except OSError`, so the error is the one being
        # handled. A certificate the CA does not vouch for will not change by waiting:
        # say so now, instead of "no connection within 10 s".
        error = sys.exc_info()[1]
        if error is None:
            return
        if isinstance(error, ssl.SSLError):
            self._last_error = (
                f"TLS refused: {error}; check ca_file (the CA that signed the broker's "
                "certificate) and client_cert/client_key"
            )
            log.warning("%s: %s", self.address, self._last_error)
            self._call(self._fail_waiters, self._last_error)
        else:
            self._last_error = f"cannot connect: {error}"

    def _on_connect(
        self, client: paho.Client, userdata: Any, flags: Any, reason_code: Any, properties: Any
    ) -> None:
        if reason_code.is_failure:
            self._last_error = f"refused: {reason_code}"
            log.warning("%s refused the connection: %s", self.address, reason_code)
            self._call(self._fail_waiters, str(reason_code))
            return
        self.connections += 1
        for topic_filter, qos in self._subscriptions.items():
            client.subscribe(topic_filter, qos=qos)
        self._connected.set()
        self._call(self._wake_waiters)

    def _on_disconnect(
        self, client: paho.Client, userdata: Any, flags: Any, reason_code: Any, properties: Any
    ) -> None:
        self._connected.clear()
        self._last_error = f"disconnected: {reason_code}"
        log.info("%s disconnected (%s)", self.address, reason_code)
        self._call(self._lose_waiters)

    def _on_message(self, client: paho.Client, userdata: Any, message: paho.MQTTMessage) -> None:
        self.messages_received += 1
        received = MqttMessage(
            topic=message.topic,
            payload=bytes(message.payload),
            qos=message.qos,
            retain=bool(message.retain),
            received_ns=time.time_ns(),
            mid=message.mid,
        )
        if self._queue is not None:
            self._call(self._queue.put_nowait, received)

    def _on_publish(
        self, client: paho.Client, userdata: Any, mid: int, reason_code: Any, properties: Any
    ) -> None:
        with self._lock:
            future = self._pending.pop(mid, None)
            if future is None:
                self._acknowledged.add(mid)
                return
        self._call(_resolve, future)

    def _wake_waiters(self) -> None:
        waiters, self._connect_waiters = self._connect_waiters, []
        for waiter in waiters:
            _resolve(waiter)

    def _lose_waiters(self) -> None:
        waiters, self._loss_waiters = self._loss_waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    def _fail_waiters(self, reason: str) -> None:
        waiters, self._connect_waiters = self._connect_waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_exception(TransportConnectionError(f"{self.address}: {reason}"))


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
