"""Line noise and cut-off lines from serial meters are refused, not read as values:
the WBGT pattern, Winsen active-mode framing, a profile ``sample`` typo."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from hazmon.config.errors import ConfigError
from hazmon.config.profile import AsciiSection, FrameSection, load_profile
from hazmon.drivers.ascii_meter import parse_line
from hazmon.drivers.frames import WinsenRule, decode_frames, winsen_checksum


def _wbgt() -> AsciiSection:
    section = load_profile("heat-stress-wbgt-ascii").ascii
    assert section is not None
    return section


def _ze07() -> FrameSection:
    section = load_profile("winsen-ze07-co").frame
    assert section is not None
    return section


WBGT = _wbgt()
ZE07 = _ze07()
RULE = WinsenRule(ZE07.gas_code, ZE07.full_range, active=True)


def _winsen(body7: bytes) -> bytes:
    frame = b"\xff" + body7
    return frame + bytes([winsen_checksum(frame + b"\x00")])


@pytest.mark.parametrize(
    "line",
    [
        "TA=25.1,TG=30.2,TNW=3",  # 34.5 cut off after its first digit
        "TA=25.1,TG=30.2,TNW=34.",
        "TA=25.1,TG=30.2,TNW=34.5garbage",
        "TA=25.1,TG=3",
        "xxTA=25.1,TG=30.2,TNW=34.5",
    ],
)
def test_a_cut_off_wbgt_line_is_refused(line: str) -> None:
    assert parse_line(WBGT, line) is None


def test_a_whole_wbgt_line_is_read() -> None:
    assert parse_line(WBGT, "TA=-5.0,TG=30.2,TNW=34.5\r") == {
        "air": -5.0,
        "globe": 30.2,
        "wet_bulb": 34.5,
    }


def test_winsen_active_mode_takes_only_uploads_of_its_gas_and_range() -> None:
    # By hand: 0x1388 = 5000 × 10^-1 = 500.0 ppm full range; 0x0019 = 25 → 2.5 ppm.
    good = _winsen(bytes([0x04, 0x02, 0x01, 0x00, 0x19, 0x13, 0x88]))
    other_range = _winsen(bytes([0x04, 0x02, 0x01, 0x00, 0x19, 0xFF, 0xFF]))
    answer = _winsen(bytes([0x86, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]))
    (frame,) = decode_frames("winsen_ze", good + other_range + answer, rule=RULE).frames
    assert frame.values["concentration"] == pytest.approx(2.5)
    # Without the profile's rule both false candidates would have passed the checksum.
    assert len(decode_frames("winsen_ze", other_range + answer, gas_code=0x04).frames) == 2


def test_0xff_heavy_noise_yields_no_false_winsen_frame_and_hides_no_real_one() -> None:
    rng = random.Random(0)
    noise = bytes(0xFF if rng.random() < 0.5 else rng.randrange(256) for _ in range(300_000))
    before = decode_frames("winsen_ze", noise, gas_code=0x04).frames
    assert before  # this noise does fool the gas byte and checksum alone
    assert decode_frames("winsen_ze", noise, rule=RULE).frames == []
    real = _winsen(bytes([0x04, 0x02, 0x01, 0x00, 0x19, 0x13, 0x88]))
    frames = decode_frames("winsen_ze", noise[:1000] + real + noise[1000:2000], rule=RULE).frames
    assert [f.raw for f in frames] == [real]


@pytest.mark.parametrize(
    ("sample", "error"),
    [
        ("TA={air.1f},TG={globe:.1f},TNW={wet_bulb:.1f}", "AttributeError"),
        ("TA={air:.1f},TG={globe:.1f},TNW={wet_bulb:.1f", "ValueError"),
        ("TA={air:.1q}", "ValueError"),
        ("TA={0}", "IndexError"),
    ],
)
def test_a_sample_typo_is_a_clear_profile_error(tmp_path: Path, sample: str, error: str) -> None:
    source = Path(__file__).parents[2] / "config" / "profiles" / "heat-stress-wbgt-ascii.toml"
    text = source.read_text(encoding="utf-8").replace(
        'sample = "TA={air:.1f},TG={globe:.1f},TNW={wet_bulb:.1f}"', f"sample = '{sample}'"
    )
    path = tmp_path / "typo.toml"
    path.write_text(text.replace('name = "heat-stress-wbgt-ascii"', 'name = "typo"'), "utf-8")
    with pytest.raises(ConfigError) as raised:
        load_profile(str(path))
    message = str(raised.value)
    assert str(path) in message
    assert "sample" in message
    assert error in message
    assert "channels: air, globe, wet_bulb" in message
