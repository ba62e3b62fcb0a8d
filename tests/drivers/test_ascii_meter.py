"""ASCII profiles: lines parsed by named groups, and a query meter's transcript over a
pseudo-terminal (the test plays the instrument, byte for byte)."""

from __future__ import annotations

import asyncio
import os
import tty

import numpy as np
import pytest

from hazmon.config.addresses import SerialPortAddress, parse_any_address
from hazmon.config.errors import ConfigError
from hazmon.config.profile import Profile, load_profile
from hazmon.config.quality import Quality
from hazmon.drivers.ascii_meter import AsciiQueryMeter, parse_line
from hazmon.drivers.serial_link import SerialLink


def section(name: str) -> Profile:
    return load_profile(name)


def test_named_groups_read_the_line() -> None:
    ascii_section = section("sound-level-meter-ascii").ascii
    assert ascii_section is not None
    assert parse_line(ascii_section, "LAeq=65.2 dB(A), LCpeak=98.1 dB(C)") == {
        "laeq": 65.2,
        "lcpeak": 98.1,
    }
    assert parse_line(ascii_section, "\x07\x00noise LAeq=65.2 dB(A), LCpeak=98.1 dB(C)") == {
        "laeq": 65.2,
        "lcpeak": 98.1,
    }
    assert parse_line(ascii_section, "LAeq=---- dB(A), LCpeak=98.1 dB(C)") == {
        "laeq": None,
        "lcpeak": 98.1,
    }
    assert parse_line(ascii_section, "BATTERY LOW") is None


def test_a_pattern_without_the_fields_group_names_the_fix(tmp_path: object) -> None:
    from pathlib import Path

    assert isinstance(tmp_path, Path)
    text = (
        'schema = "hazmon.profile/1"\nname = "x"\ndescription = "x"\n'
        'instrument_class = "noise"\n[ascii]\nmode = "stream"\npattern = "L=(?P<level>\\\\S+)"\n'
        'sample = "L={laeq}"\n[[ascii.fields]]\nchannel = "laeq"\nquantity = "noise"\n'
        'unit = "dB(A)"\n'
    )
    path = tmp_path / "x.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=r"\(\?P<laeq>"):
        load_profile(str(path))


def test_two_transport_sections_are_refused(tmp_path: object) -> None:
    from pathlib import Path

    assert isinstance(tmp_path, Path)
    profile = load_profile("pid-voc-ascii").model_dump(by_alias=True, exclude_none=True)
    profile["mqtt"] = load_profile("toxic-6gas-mqtt").model_dump(by_alias=True)["mqtt"]
    with pytest.raises(ValueError, match="exactly one transport section"):
        Profile.model_validate(profile)


def test_query_transcript_over_a_pseudo_terminal() -> None:
    """hazmon sends ``MEAS?`` CR LF; the instrument answers ``VOC=12.3 ppm`` CR LF."""
    master, slave = os.openpty()
    tty.setraw(slave)
    os.set_blocking(master, False)
    address = parse_any_address(f"serial://{os.ttyname(slave)}?baudrate=9600")
    assert isinstance(address, SerialPortAddress)
    profile = load_profile("pid-voc-ascii")

    async def main() -> None:
        loop = asyncio.get_running_loop()
        heard = bytearray()

        def answer() -> None:
            heard.extend(os.read(master, 1024))
            if heard.endswith(b"\r\n"):
                os.write(master, b"VOC=12.3 ppm\r\n")

        loop.add_reader(master, answer)
        link = SerialLink(address)
        meter = AsciiQueryMeter(link, profile, np.array([7], dtype=np.int32), warmup=0)
        try:
            result = await meter.poll()
        finally:
            loop.remove_reader(master)
            await meter.close()
        assert bytes(heard) == b"MEAS?\r\n"
        assert result.errors == ()
        assert result.readings.value[0] == pytest.approx(12.3)
        assert result.readings.channel[0] == 7
        assert result.readings.quality[0] == 0

    try:
        asyncio.run(main())
    finally:
        os.close(master)
        os.close(slave)


def test_query_without_answer_is_a_timeout_row() -> None:
    master, slave = os.openpty()
    tty.setraw(slave)
    address = parse_any_address(f"serial://{os.ttyname(slave)}")
    assert isinstance(address, SerialPortAddress)

    async def main() -> None:
        meter = AsciiQueryMeter(
            SerialLink(address),
            load_profile("laser-distance-ascii"),
            np.array([0], dtype=np.int32),
            timeout=0.1,
        )
        result = await meter.poll()
        await meter.close()
        assert result.errors
        assert "no answer" in result.errors[0]
        assert result.readings.quality[0] & Quality.COMM_TIMEOUT
        assert np.isnan(result.readings.value[0])

    try:
        asyncio.run(main())
    finally:
        os.close(master)
        os.close(slave)


def test_a_missing_port_is_a_link_error_row() -> None:
    address = parse_any_address("serial:///dev/hazmon-no-such-port")
    assert isinstance(address, SerialPortAddress)

    async def main() -> None:
        meter = AsciiQueryMeter(
            SerialLink(address), load_profile("pid-voc-ascii"), np.array([0], dtype=np.int32)
        )
        result = await meter.poll()
        assert result.readings.quality[0] & Quality.COMM_ERROR
        assert "no-such-port" in result.errors[0]

    asyncio.run(main())
