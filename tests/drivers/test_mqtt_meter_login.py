"""MQTT meters log in as the service does, per broker: a real Mosquitto that requires
a password (``mosquitto_passwd``), and one that requires TLS with a private CA and a
client certificate (made in the test with the ``openssl`` CLI)."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from conftest import Broker
from hazmon.acquisition.meters import build_meters
from hazmon.analysis.readings import ChannelTable
from hazmon.config.quality import Quality
from hazmon.config.site import SiteConfig
from hazmon.drivers.base import PollResult

TOPIC = "site/tox-1/gas/toxic"
PAYLOAD = json.dumps({"ts": "2026-05-01T08:00:00+00:00", "gas": {"co": 42}})


def _site(address: str, **extra: Any) -> SiteConfig:
    return SiteConfig.model_validate(
        {
            "schema": "hazmon.site/1",
            "name": "login",
            "enterprise": "Login Co.",
            "devices": [
                {
                    "id": "tox-1",
                    "profile": "toxic-6gas-mqtt",
                    "address": address,
                    "warmup_seconds": 0,
                    "timeout": 2.0,
                    "backoff_initial": 0.2,
                    "backoff_max": 0.5,
                }
            ],
            **extra,
        }
    )


def _first_results(site: SiteConfig, publisher: paho.Client, wanted: int) -> list[PollResult]:
    """Results of the site's one MQTT meter until one has a value (publishing the
    payload while waiting: before the meter subscribed it goes nowhere) or ``wanted``
    failures."""

    async def main() -> list[PollResult]:
        meters = build_meters(site, ChannelTable())
        ((_device, meter),) = meters.streaming
        results: list[PollResult] = []
        stop = threading.Event()

        def keep_publishing() -> None:
            while not stop.wait(0.2):
                publisher.publish(TOPIC, PAYLOAD, qos=1)

        thread = threading.Thread(target=keep_publishing, daemon=True)
        thread.start()
        try:
            async for result in meter.results():
                results.append(result)
                if not result.errors or len(results) >= wanted:
                    return results
        finally:
            stop.set()
            thread.join(10)
            await meters.close()
        raise AssertionError("unreachable")

    return asyncio.run(asyncio.wait_for(main(), 60))


@pytest.fixture
def password_broker(tmp_path: Path) -> Iterator[Broker]:
    passwords = tmp_path / "passwords"
    subprocess.run(
        ["mosquitto_passwd", "-b", "-c", str(passwords), "meter", "s3cret-刘"],
        check=True,
        capture_output=True,
    )
    broker = Broker(tmp_path, settings=f"allow_anonymous false\npassword_file {passwords}\n")
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


def _publisher(port: int, **login: Any) -> paho.Client:
    client = paho.Client(callback_api_version=CallbackAPIVersion.VERSION2)
    if "username" in login:
        client.username_pw_set(login["username"], login["password"])
    if "ca" in login:
        client.tls_set(ca_certs=login["ca"], certfile=login["cert"], keyfile=login["key"])
    client.connect("127.0.0.1", port)
    client.loop_start()
    return client


def test_a_meter_on_the_service_broker_logs_in_with_its_credentials(
    password_broker: Broker, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = password_broker.port
    monkeypatch.setenv("KIT_USER", "meter")
    monkeypatch.setenv("KIT_PASS", "s3cret-刘")
    site = _site(
        f"mqtt://127.0.0.1:{port}",
        mqtt={
            "host": "127.0.0.1",
            "port": port,
            "username_env": "KIT_USER",
            "password_env": "KIT_PASS",
        },
    )
    publisher = _publisher(port, username="meter", password="s3cret-刘")
    try:
        results = _first_results(site, publisher, wanted=50)
    finally:
        publisher.loop_stop()
        publisher.disconnect()
    assert results[-1].readings.value[0] == pytest.approx(42.0)
    assert not any("s3cret" in error for result in results for error in result.errors)


def test_a_wrong_password_is_a_comm_error_row_not_a_crash(
    password_broker: Broker, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HAZMON_MQTT_USERNAME", "meter")
    monkeypatch.setenv("HAZMON_MQTT_PASSWORD", "wrong-s3cret")
    site = _site(f"mqtt://127.0.0.1:{password_broker.port}")  # the default variables
    publisher = _publisher(password_broker.port, username="meter", password="s3cret-刘")
    try:
        results = _first_results(site, publisher, wanted=2)
    finally:
        publisher.loop_stop()
        publisher.disconnect()
    assert len(results) == 2
    for result in results:
        assert (result.readings.quality & Quality.COMM_ERROR).all()
        assert "wrong-s3cret" not in " ".join(result.errors)


def _openssl(*arguments: str) -> None:
    subprocess.run(["openssl", *arguments], check=True, capture_output=True)


@pytest.fixture
def tls_files(tmp_path: Path) -> dict[str, Path]:
    """A private CA, a server certificate for 127.0.0.1 and a client certificate."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    files = {
        name: tmp_path / f"{name}.pem"
        for name in ("ca", "ca-key", "server", "server-key", "client", "client-key")
    }
    _openssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=hazmon test CA",
        "-keyout",
        str(files["ca-key"]),
        "-out",
        str(files["ca"]),
    )
    san = tmp_path / "san.cnf"
    san.write_text("subjectAltName=IP:127.0.0.1\n", encoding="utf-8")
    for name, extension in (("server", san), ("client", None)):
        request = tmp_path / f"{name}.csr"
        _openssl(
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            f"/CN={name}",
            "-keyout",
            str(files[f"{name}-key"]),
            "-out",
            str(request),
        )
        _openssl(
            "x509",
            "-req",
            "-in",
            str(request),
            "-CA",
            str(files["ca"]),
            "-CAkey",
            str(files["ca-key"]),
            "-CAcreateserial",
            "-days",
            "2",
            "-out",
            str(files[name]),
            *(["-extfile", str(extension)] if extension else []),
        )
    return files


def test_a_meter_on_another_tls_broker_uses_its_private_ca_and_client_certificate(
    tmp_path: Path, tls_files: dict[str, Path]
) -> None:
    broker = Broker(
        tmp_path,
        settings=(
            f"allow_anonymous true\ncafile {tls_files['ca']}\ncertfile {tls_files['server']}\n"
            f"keyfile {tls_files['server-key']}\nrequire_certificate true\n"
        ),
    )
    broker.start()
    login = {
        "host": "127.0.0.1",
        "port": broker.port,
        "ca_file": str(tls_files["ca"]),
        "client_cert": str(tls_files["client"]),
        "client_key": str(tls_files["client-key"]),
    }
    try:
        publisher = _publisher(
            broker.port, ca=tls_files["ca"], cert=tls_files["client"], key=tls_files["client-key"]
        )
        try:
            # The [mqtt] broker is elsewhere: the meter's login is its [[mqtt_brokers]] entry.
            site = _site(
                f"mqtts://127.0.0.1:{broker.port}",
                mqtt={"host": "127.0.0.1", "port": 1},
                mqtt_brokers=[login],
            )
            results = _first_results(site, publisher, wanted=50)
            assert results[-1].readings.value[0] == pytest.approx(42.0)
            # Without the private CA the broker's certificate is refused: rows, no crash.
            del login["ca_file"]
            site = _site(f"mqtts://127.0.0.1:{broker.port}", mqtt_brokers=[login])
            refused = _first_results(site, publisher, wanted=2)
            for result in refused:
                assert (result.readings.quality & Quality.COMM_ERROR).all()
                # Said at once, not "no connection within 2 s".
                assert "TLS refused" in result.errors[0], result.errors
                assert "CERTIFICATE_VERIFY_FAILED" in result.errors[0], result.errors
        finally:
            publisher.loop_stop()
            publisher.disconnect()
    finally:
        broker.stop()
