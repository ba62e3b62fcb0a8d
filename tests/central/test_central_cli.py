"""``hazmon central`` on bad input: one line naming what failed, the documented exit
status, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from .cluster import free_port

HAZMON = str(Path(sys.executable).parent / "hazmon")


def _run(*args: str, register: bool = True) -> subprocess.CompletedProcess[str]:
    environment = dict(os.environ)
    environment.pop("HAZMON_REGISTER_URL", None)
    if register:
        environment["HAZMON_REGISTER_URL"] = "sqlite:///unused.db"
    return subprocess.run(
        [HAZMON, "central", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=environment,
        check=False,
    )


def test_dead_letters_with_no_server_answering_exits_3() -> None:
    # `central run` with the broker down: the campaign's (test_bad_input_campaign.py).
    result = _run("dead-letters", "--nats", f"nats://127.0.0.1:{free_port()}")
    assert result.returncode == 3, result.stderr
    assert result.stderr.startswith("hazmon: central ")
    assert "no NATS server answers" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_no_register_exits_2(tmp_path: Path) -> None:
    result = _run("run", "--db", str(tmp_path / "c.db"), register=False)
    assert result.returncode == 2
    assert "HAZMON_REGISTER_URL" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("table", "named"),
    [
        pytest.param(
            '[alerts]\n[[alerts.routes]]\nkind = "mqtt"\n',
            'alerts.routes[0].kind = "mqtt": there is no MQTT broker here',
            id="mqtt-route-refused-centrally",
        ),
        pytest.param(
            '[alerts]\n[[alerts.routes]]\nkind = "webhook"\nurl = "https://x.example/"\n'
            'secret_env = "HAZMON_TEST_UNSET_SECRET"\n',
            "secret_env = 'HAZMON_TEST_UNSET_SECRET': the variable is not set",
            id="webhook-secret-unset",
        ),
        pytest.param(
            '[alerts]\n[[alerts.routes]]\nkind = "webhook"\nurl = "ftp://x"\n',
            'kind = "webhook" needs url = "https://..."',
            id="webhook-url-not-http",
        ),
        pytest.param(
            'schema = "hazmon.site/1"\n[alerts]\n',
            "schema: unknown key (a typo?) — valid keys here: alerts",
            id="a-whole-site-file",
        ),
        pytest.param("dedupe_window = 5\n", "alerts: missing", id="no-alerts-table"),
        pytest.param("[alerts\n", "not valid TOML", id="not-toml"),
    ],
)
def test_a_bad_alerts_file_exits_2_naming_the_key(tmp_path: Path, table: str, named: str) -> None:
    alerts = tmp_path / "alerts.toml"
    alerts.write_text(table, encoding="utf-8")
    # No cluster answers: the file is judged before any connection is tried.
    url = f"nats://127.0.0.1:{free_port()}"
    result = _run("run", "--nats", url, "--db", str(tmp_path / "c.db"), "--alerts", str(alerts))
    assert result.returncode == 2, result.stderr
    assert str(alerts) in result.stderr
    assert named in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert len(result.stderr.splitlines()) <= 5
