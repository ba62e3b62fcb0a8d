"""``hazmon central`` on bad input: one line naming what failed, the documented exit
status, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

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


def test_no_server_answering_exits_3(tmp_path: Path) -> None:
    url = f"nats://127.0.0.1:{free_port()}"
    for args in (
        ("run", "--nats", url, "--db", str(tmp_path / "c.db")),
        ("dead-letters", "--nats", url),
    ):
        result = _run(*args)
        assert result.returncode == 3, result.stderr
        assert result.stderr.startswith("hazmon: central ")
        assert "no NATS server answers" in result.stderr
        assert "Traceback" not in result.stderr + result.stdout


def test_no_register_exits_2(tmp_path: Path) -> None:
    result = _run("run", "--db", str(tmp_path / "c.db"), register=False)
    assert result.returncode == 2
    assert "HAZMON_REGISTER_URL" in result.stderr
    assert "Traceback" not in result.stderr
