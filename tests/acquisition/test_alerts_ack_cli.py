"""`hazmon alerts ack` acknowledges only a key with an active alert (issue #18: an
unknown key was reported "sent", exit 0)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import Broker
from hazmon.acquisition.alert_routes import alert_topic
from hazmon.drivers.mqtt_adapter import MqttConnection, MqttSettings

HAZMON = [sys.executable, "-m", "hazmon.acquisition.cli"]


def _site(tmp_path: Path, port: int) -> Path:
    path = tmp_path / "site.toml"
    path.write_text(
        'schema = "hazmon.site/1"\nname = "ack-site"\nenterprise = "测试企业"\n'
        '[[devices]]\nid = "gd-1"\nprofile = "generic-4gas"\naddress = "127.0.0.1:1502"\n'
        f'[mqtt]\nhost = "127.0.0.1"\nport = {port}\n',
        encoding="utf-8",
    )
    return path


def _ack(site: Path, key: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*HAZMON, "alerts", "ack", str(site), key, "--by", "王工", "--wait", "1"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "200"},
        check=False,
    )


def test_ack_of_a_key_without_an_active_alert_is_refused(
    tmp_path: Path, mqtt_broker: Broker
) -> None:
    site = _site(tmp_path, mqtt_broker.port)

    async def retain_state() -> None:
        settings = MqttSettings(host="127.0.0.1", port=mqtt_broker.port, client_id="state-pub")
        async with MqttConnection(settings) as connection:
            await connection.connect(timeout=10.0)
            state = {"key": "gd-1/lel", "active": True, "id": 1, "level": 2, "kind": "raise"}
            await connection.publish(
                alert_topic("ack-site", "state", "gd-1/lel"),
                json.dumps(state).encode(),
                qos=1,
                retain=True,
            )

    asyncio.run(retain_state())

    listed = subprocess.run(
        [*HAZMON, "alerts", "list", str(site), "--wait", "1", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert listed.returncode == 0, listed.stderr
    assert [(row["key"], row["level"]) for row in json.loads(listed.stdout)] == [("gd-1/lel", 2)]

    unknown = _ack(site, "gd-9/lel")
    assert unknown.returncode == 1, unknown.stdout + unknown.stderr
    assert "Traceback" not in unknown.stderr
    assert "no active alert on gd-9/lel" in unknown.stderr
    assert "gd-1/lel" in unknown.stderr  # the keys that could be meant

    known = _ack(site, "gd-1/lel")
    assert known.returncode == 0, known.stdout + known.stderr
    assert "acknowledgement of gd-1/lel by 王工 sent" in known.stdout
