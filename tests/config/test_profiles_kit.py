"""The kit's profiles: one transport section each, metadata every instrument needs,
and every instrument class of the inspection notice covered."""

from __future__ import annotations

import pytest

from hazmon.config.profile import InstrumentClass, bundled_profiles, load_profile

KIT = [name for name in bundled_profiles() if name != "generic-4gas"]


@pytest.mark.parametrize("name", KIT)
def test_kit_profiles_declare_range_resolution_and_calibration(name: str) -> None:
    profile = load_profile(name)
    assert profile.transport in ("frame", "ascii", "mqtt")
    assert profile.calibration.interval_days <= 365
    for spec in profile.channels:
        assert spec.range is not None, spec.channel
        assert spec.resolution is not None, spec.channel


def test_every_instrument_class_and_the_required_quantities_are_covered() -> None:
    profiles = [load_profile(name) for name in bundled_profiles()]
    assert {p.instrument_class for p in profiles} == set(InstrumentClass.__args__)  # type: ignore[attr-defined]
    quantities = {spec.quantity for p in profiles for spec in p.channels}
    required = {
        "lel", "o2", "co", "h2s", "nh3", "cl2", "so2", "no2", "voc",
        "dust_total", "dust_respirable", "pm2_5", "pm10", "pm1_0", "noise", "noise_peak",
        "temperature", "surface_temperature", "wbgt", "distance", "insulation_resistance",
        "ground_resistance", "leakage_current", "voltage", "wall_thickness", "pressure",
    }  # fmt: skip
    assert required <= quantities


def test_generic_4gas_is_unchanged_and_its_channels_come_from_modbus() -> None:
    profile = load_profile("generic-4gas")
    assert profile.transport == "modbus"
    assert [spec.channel for spec in profile.channels] == ["lel", "o2", "co", "h2s"]
    assert (profile.frame, profile.ascii, profile.mqtt) == (None, None, None)


def test_derived_wbgt_weighs_wet_bulb_and_globe() -> None:
    profile = load_profile("heat-stress-wbgt-ascii")
    (wbgt,) = profile.derived
    assert wbgt.weights == {"wet_bulb": 0.7, "globe": 0.3}
    assert [spec.channel for spec in profile.channels][-1] == "wbgt"


def test_a_frame_field_the_format_lacks_is_named_with_the_valid_ones() -> None:
    data = load_profile("nova-sds011").model_dump(by_alias=True, exclude_none=True)
    data["frame"]["fields"][0]["field"] = "pm1_0"
    with pytest.raises(ValueError, match="no field 'pm1_0'; valid: pm2_5, pm10"):
        type(load_profile("nova-sds011")).model_validate(data)
