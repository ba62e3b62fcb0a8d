"""A minimal simulation table serves plausible readings, and `hazmon simulate` says
which meters it serves and why the others are not (issue #18)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hazmon.acquisition.cli import main
from hazmon.config.profile import load_profile
from hazmon.config.site import Simulation
from hazmon.simulators.meter import SimulatedMeter


def test_a_channel_the_table_leaves_out_reads_ambient_not_zero() -> None:
    profile = load_profile("generic-4gas")
    meter = SimulatedMeter(profile, Simulation(), clock=lambda: 0.0)
    values = meter.values_at(5.0)
    # 20.9 %vol is fresh air; 0 %vol O2 is an A2 alarm (below 18 %vol) and a hazard.
    assert values["o2"] == pytest.approx(20.9)
    assert (values["lel"], values["co"], values["h2s"]) == (0.0, 0.0, 0.0)


def test_simulate_lists_every_device_with_what_it_serves_or_why_not(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    site = tmp_path / "site.toml"
    site.write_text(
        'schema = "hazmon.site/1"\nname = "mine"\nenterprise = "我的企业"\n'
        '[[devices]]\nid = "gd-a"\nprofile = "generic-4gas"\naddress = "127.0.0.1:1502"\n'
        "[devices.simulation]\nperiod = 60\n"
        '[[devices]]\nid = "gd-b"\nprofile = "generic-4gas"\naddress = "127.0.0.1:1503"\n',
        encoding="utf-8",
    )
    assert main(["simulate", str(site), "--free-ports", "--duration", "0.2"]) == 0
    out = capsys.readouterr().out
    line_b = next(line for line in out.splitlines() if "gd-b" in line)
    assert "not simulated: no simulation table (add [devices.simulation])" in line_b
    line_a = next(line for line in out.splitlines() if "gd-a" in line)
    assert "127.0.0.1:" in line_a
    assert "Serving 1 of 2 meters" in out


def test_simulate_json_lists_every_device_and_its_address(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    site = tmp_path / "site.toml"
    site.write_text(
        'schema = "hazmon.site/1"\nname = "mine"\nenterprise = "我的企业"\n'
        '[[devices]]\nid = "gd-a"\nprofile = "generic-4gas"\naddress = "127.0.0.1:1502"\n'
        "[devices.simulation]\nperiod = 60\n"
        '[[devices]]\nid = "gd-b"\nprofile = "generic-4gas"\naddress = "127.0.0.1:1503"\n',
        encoding="utf-8",
    )
    assert main(["simulate", str(site), "--free-ports", "--json", "--duration", "0.2"]) == 0
    document = json.loads(capsys.readouterr().out.splitlines()[0])
    assert (document["site"], document["serving"]) == ("mine", 1)
    by_id = {device["id"]: device for device in document["devices"]}
    assert by_id["gd-a"]["served"] is True
    assert by_id["gd-a"]["address"].startswith("127.0.0.1:")
    assert by_id["gd-a"]["address"] != "127.0.0.1:1502"  # --free-ports bound another
    assert (by_id["gd-b"]["served"], by_id["gd-b"]["address"]) == (False, None)
    assert "[devices.simulation]" in by_id["gd-b"]["reason"]
