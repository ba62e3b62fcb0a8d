"""Issue 12: verdicts an inspector can sign, each fault with a hand-worked example.

Every expected figure is computed here with plain arithmetic (never by calling the
code under test). Limits and formulas: docs/standards.md (GBZ 2.1-2019, GBZ 2.2-2007,
GB/T 50493-2019 §5.5.2). ppm ↔ mg/m³ at 20 °C, 101.325 kPa:
V_m = 22.414 × 293.15 / 273.15 = 24.0548 L/mol.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from hazmon.acquisition.cli import main
from hazmon.analysis.evaluate import ChannelPlan, EvaluationSettings, evaluate
from hazmon.analysis.heat import wbgt_indoor, wbgt_outdoor
from hazmon.analysis.readings import Channel, ChannelTable, Readings
from hazmon.config.catalogue import load_catalogue
from hazmon.config.standards import (
    SiteLimits,
    effective_limit_rows,
    load_limit_rows,
    rules_by_quantity,
)

V_20 = 22.414 * 293.15 / 273.15  # 24.0548 L/mol
S = 1_000_000_000
MINUTE = 60 * S
#: 2026-03-02 00:00 CST (a Monday) as ns UTC.
T0 = 1_772_380_800 * S
RULES = rules_by_quantity(("gbt50493-2019",))


def _csv(tmp_path: Path, rows: list[str], name: str = "log.csv") -> Path:
    path = tmp_path / name
    path.write_text("time,device,quantity,value,unit\n" + "\n".join(rows) + "\n", "utf-8")
    return path


def _analyze(
    path: Path, capsys: pytest.CaptureFixture[str], *options: str
) -> tuple[int, dict[str, dict]]:  # type: ignore[type-arg]
    status = main(["analyze", str(path), "--json", *options])
    document = json.loads(capsys.readouterr().out)
    return status, {channel["quantity"]: channel for channel in document["channels"]}


def _minutes(day: int, hour: int, count: int) -> list[str]:
    """Local (CST) minute stamps from 2026-03-(02 + day) hour:00, ``count`` of them."""
    stamps = []
    for number in range(count):
        total = hour * 60 + number
        date = 2 + day + total // (24 * 60)
        stamps.append(f"2026-03-{date:02d} {total // 60 % 24:02d}:{total % 60:02d}:00")
    return stamps


def _by_rule(channel: dict) -> dict[str, dict]:  # type: ignore[type-arg]
    return {verdict["rule"]: verdict for verdict in channel["verdicts"]}


def _plan(quantities: list[str], site: SiteLimits | None = None, **settings: object) -> ChannelPlan:
    units = {"dust_total": "mg/m³", "noise_peak": "dB(C)", "lel": "%LEL"}
    table = ChannelTable(
        [Channel("", f"d{n}", q, units.get(q, "ppm")) for n, q in enumerate(quantities)]
    )
    site = site or SiteLimits()
    return ChannelPlan.build(
        table,
        effective_limit_rows(site),
        RULES,
        EvaluationSettings.from_site(site, **settings),
    )


# -- 1. shifts, not calendar days ------------------------------------------------------


def test_night_shift_across_midnight_is_one_shift(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # 20:00–03:59 CST, one reading a minute: 480 readings × 60 s = 8 h in one session.
    stamps = _minutes(0, 20, 480)
    rows = [f"{t},gd,CO,20,ppm" for t in stamps] + [f"{t},slm,noise,88,dB(A)" for t in stamps]
    status, channels = _analyze(_csv(tmp_path, rows), capsys)
    co, noise = channels["co"], channels["noise"]
    # TWA = 20 ppm × 28,800 s / 28,800 s = 20 ppm (a calendar split gave 10).
    assert co["metrics"]["twa_8h"] == pytest.approx(20.0)
    # PC-TWA 20 mg/m³ = 20 × 24.0548 / 28.010 = 17.176 ppm < 20: fails.
    twa = _by_rule(co)["gbz2.1.co.pc_twa"]
    assert twa["limit"] == pytest.approx(20 * V_20 / 28.010, rel=1e-4)
    assert twa["passed"] is False
    assert twa["coverage"] == pytest.approx(1.0)
    # The shift: 2026-03-02 20:00 CST = 12:00Z to 2026-03-03 04:00 CST = 20:00Z.
    assert co["shift"] == {"start": "2026-03-02T12:00:00Z", "end": "2026-03-02T20:00:00Z"}
    # L_EX,8h = 10 lg(28,800 s × 10^8.8 / 28,800 s) = 88.0 > 85: fails.
    assert noise["metrics"]["lex_8h"] == pytest.approx(88.0)
    lex = _by_rule(noise)["gbz2.2.noise.lex_8h"]
    assert (lex["value"], lex["passed"]) == (pytest.approx(88.0), False)
    assert status == 1


def test_declared_shift_start_keeps_a_night_shift_whole() -> None:
    # Shift start 20:00 declared; readings 20:00–03:59 with a 3 h pause 23:00–02:00
    # (longer than the 2 h break): still one declared shift of 5 h at 20 ppm:
    # TWA = 20 × 5 × 3600 / 28,800 = 12.5 ppm.
    start = T0 + 20 * 60 * MINUTE
    minutes = list(range(0, 180)) + list(range(360, 480))
    readings = Readings.from_columns(
        [start + m * MINUTE for m in minutes], [0] * len(minutes), [20.0] * len(minutes)
    )
    # --max-gap 60 s: the reading before the pause holds 60 s, like every other one.
    declared_site = SiteLimits(shift_start="20:00")
    (declared,) = evaluate(readings, _plan(["co"], declared_site, max_gap_s=60.0))
    assert declared.metrics["twa_8h"] == pytest.approx(12.5)
    assert declared.metrics["shifts"] == 1
    # Sessions (no declared start): two shifts of 3 h and 2 h; the worst is
    # 20 × 3 × 3600 / 28,800 = 7.5 ppm.
    (sessions,) = evaluate(readings, _plan(["co"], max_gap_s=60.0))
    assert sessions.metrics["twa_8h"] == pytest.approx(7.5)
    assert sessions.metrics["shifts"] == 2


# -- 2. PH3 and the catalogue audit --------------------------------------------------------


def test_ph3_above_its_mac_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = [f"{t},pd,PH3,0.5,ppm" for t in _minutes(0, 9, 10)]
    status, channels = _analyze(_csv(tmp_path, rows), capsys)
    mac = _by_rule(channels["ph3"])["gbz2.1.ph3.mac"]
    # MAC 0.3 mg/m³ = 0.3 × 24.0548 / 33.998 = 0.2123 ppm < 0.5: fails.
    assert mac["limit"] == pytest.approx(0.3 * V_20 / 33.998, rel=1e-4)
    assert mac["passed"] is False
    assert mac["confirmed"] == "unconfirmed"
    assert status == 1


def test_every_catalogue_quantity_is_judged_or_says_why() -> None:
    quantities = sorted(load_catalogue().quantities)
    plan = _plan(quantities)
    readings = Readings.from_columns(
        [T0] * len(quantities), list(range(len(quantities))), [1.0] * len(quantities)
    )
    results = {result.channel.quantity: result for result in evaluate(readings, plan)}
    assert set(results) == set(quantities)
    for quantity, result in results.items():
        assert result.verdicts or result.not_judged, quantity


# -- 3. the peak-exposure rule takes the PC-TWA that applies --------------------------------


def test_silica_excursions_use_the_silica_pc_twa() -> None:
    # Silica 50–80 % selected: PC-TWA 0.7 mg/m³, excursions above 3 × 0.7 = 2.1,
    # cap 5 × 0.7 = 3.5. 8 h at 0.1 with 10 minutes at 3.0: one excursion of 10 min;
    # 3.0 ≤ 3.5 passes the cap. ("Other dust" 8 mg/m³ would give 24 and 40.)
    values = [0.1] * 100 + [3.0] * 10 + [0.1] * 370
    readings = Readings.from_columns(
        [T0 + 8 * 60 * MINUTE + n * MINUTE for n in range(480)], [0] * 480, values
    )
    site = SiteLimits(select=["gbz2.1.dust.silica_50_80.total"])
    (result,) = evaluate(readings, _plan(["dust_total"], site))
    verdicts = {verdict.rule: verdict for verdict in result.verdicts}
    assert verdicts["gbz2.1.excursion.cap"].limit == pytest.approx(3.5)
    assert verdicts["gbz2.1.excursion.cap"].passed
    assert result.metrics["excursions_day_max"] == 1
    assert result.metrics["excursion_longest_min"] == 10
    # The other-dust row gives way to the selected one.
    assert "gbz2.1.dust.other.total" not in verdicts
    # TWA = (470 × 0.1 + 10 × 3.0) × 60 / 28,800 = 77 / 480 = 0.1604 ≤ 0.7.
    twa = verdicts["gbz2.1.dust.silica_50_80.total"]
    assert twa.value == pytest.approx(77 / 480)
    assert twa.passed


# -- 4. channels no rule judges say so --------------------------------------------------------


def test_unjudged_channels_are_listed_and_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stamps = _minutes(0, 9, 10)
    rows = [f"{t},ir,surface_temperature,500,°C" for t in stamps]
    rows += [f"{t},hs,wbgt,35,°C" for t in stamps]
    status, channels = _analyze(_csv(tmp_path, rows), capsys)
    assert "temperature_class" in channels["surface_temperature"]["not_judged"][0]
    assert "labour_intensity" in channels["wbgt"]["not_judged"][0]
    assert status == 1  # not judged is not a pass


# -- 5. a partial record states its coverage ----------------------------------------------


def test_partial_dust_record_is_not_a_pass(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # 2 h at 16 mg/m³ (2 × PC-TWA 8): TWA = 16 × 7200 / 28,800 = 4.0 ≤ 8, but only
    # 7200 / 28,800 = 25 % of the shift was sampled: not judged.
    rows = [f"{t},dm,dust_total,16,mg/m³" for t in _minutes(0, 8, 120)]
    status, channels = _analyze(_csv(tmp_path, rows), capsys)
    twa = _by_rule(channels["dust_total"])["gbz2.1.dust.other.total"]
    assert twa["value"] == pytest.approx(4.0)
    assert twa["coverage"] == pytest.approx(0.25)
    assert (twa["passed"], twa["judged"]) == (False, False)
    assert "25%" in twa["note"]
    assert status == 1


# -- 6. impulses are events --------------------------------------------------------------


def test_steady_lcpeak_log_is_not_28800_impulses() -> None:
    # 8 h of LCpeak once a second, steady 95–100 dB(C): no reading reaches the lowest
    # peak of the table (120), so 0 impulses; 0 ≤ 100 allows 140; 100 ≤ 140 passes.
    count = 8 * 3600
    values = [95.0 + (n % 6) for n in range(count)]
    readings = Readings.from_columns(
        [T0 + 8 * 3600 * S + n * S for n in range(count)], [0] * count, values
    )
    (result,) = evaluate(readings, _plan(["noise_peak"]))
    assert result.metrics["impulses_day_max"] == 0
    (verdict,) = result.verdicts
    assert (verdict.limit, verdict.value, verdict.passed) == (140.0, 100.0, True)


def test_impulses_counted_as_rises_out_of_the_background() -> None:
    # 1 s readings: 90 background, 3 impulses of 2–3 s at 125, 128, 131: 3 impulses
    # (not 8 lines); 3 ≤ 100 allows 140, 131 passes.
    values = [90.0, 125, 125, 90, 128, 128, 128, 90, 131, 131, 90]
    readings = Readings.from_columns([T0 + n * S for n in range(len(values))], [0] * 11, values)
    (result,) = evaluate(readings, _plan(["noise_peak"]))
    assert result.metrics["impulses_day_max"] == 3
    (verdict,) = result.verdicts
    assert (verdict.limit, verdict.value, verdict.passed) == (140.0, 131.0, True)


# -- 7 and 8. L_EX,40h per week; non-5-day weeks judged by it -----------------------------------


def _noise_days(days: list[int], level: float) -> list[str]:
    return [f"{t},slm,noise,{level},dB(A)" for day in days for t in _minutes(day, 8, 480)]


def test_lex_40h_is_per_week(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Two Mon–Fri weeks (2026-03-02 is a Monday), 8 h a day at 84 dB(A): each week
    # 10 lg(5 × 28,800 × 10^8.4 / 144,000) = 84.0 (the whole record over 40 h gave
    # 84 + 10 lg 2 = 87.01). --max-gap 60: each day's last reading holds 60 s, not
    # the default 300 s before the overnight gap, so every shift is exactly 28,800 s.
    days = [0, 1, 2, 3, 4, 7, 8, 9, 10, 11]
    path = _csv(tmp_path, _noise_days(days, 84.0))
    status, channels = _analyze(path, capsys, "--max-gap", "60")
    metrics = channels["noise"]["metrics"]
    assert metrics["lex_40h"] == pytest.approx(84.0)
    assert metrics["weeks"] == 2
    assert metrics["shifts"] == 10
    verdicts = _by_rule(channels["noise"])
    assert verdicts["gbz2.2.noise.lex_8h"]["passed"] is True
    assert "gbz2.2.noise.lex_40h" not in verdicts  # 5-day weeks: judged by L_EX,8h
    assert status == 0


def test_four_day_week_is_judged_by_lex_40h(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Mon–Thu, 8 h at 85.5 dB(A): L_EX,8h 85.5 each day, but a 4-day week is judged by
    # L_EX,40h = 10 lg(4 × 10^8.55 / 5) = 85.5 + 10 lg 0.8 = 84.53 ≤ 85: passes.
    path = _csv(tmp_path, _noise_days([0, 1, 2, 3], 85.5))
    status, channels = _analyze(path, capsys, "--max-gap", "60")
    verdicts = _by_rule(channels["noise"])
    expected = 85.5 + 10 * math.log10(0.8)
    assert expected == pytest.approx(84.53, abs=0.005)
    assert verdicts["gbz2.2.noise.lex_40h"]["value"] == pytest.approx(expected)
    assert verdicts["gbz2.2.noise.lex_40h"]["passed"] is True
    assert "gbz2.2.noise.lex_8h" not in verdicts
    assert status == 0


def test_declared_five_day_week_judges_a_short_record_by_lex_8h() -> None:
    # The same 4 days with work_days_per_week = 5 declared: L_EX,8h 85.5 > 85 fails.
    # (Default 300 s hold: each day's last reading holds 300 s before the overnight gap,
    # so a shift is 479 × 60 + 300 = 29,040 s: 85.5 + 10 lg(29,040 / 28,800) = 85.536.)
    minutes = [day * 1440 + 8 * 60 + m for day in range(4) for m in range(480)]
    readings = Readings.from_columns(
        [T0 + m * MINUTE for m in minutes], [0] * len(minutes), [85.5] * len(minutes)
    )
    table = ChannelTable([Channel("", "slm", "noise", "dB(A)")])
    site = SiteLimits(work_days_per_week=5)
    plan = ChannelPlan.build(
        table, effective_limit_rows(site), RULES, EvaluationSettings.from_site(site)
    )
    (result,) = evaluate(readings, plan)
    verdicts = {verdict.rule: verdict for verdict in result.verdicts}
    assert verdicts["gbz2.2.noise.lex_8h"].value == pytest.approx(
        85.5 + 10 * math.log10(29_040 / 28_800)
    )
    assert not verdicts["gbz2.2.noise.lex_8h"].passed


# -- 9, 10, 11. set points: item numbers, OEL basis, reference state, A1 events ----------------


def test_gbt50493_item_numbers() -> None:
    assert RULES["lel"].clause == "5.5.2(2)"  # combustible: A2 (the hazard) is item 2
    assert [point.clause for point in RULES["lel"].set_points] == ["5.5.2(1)", "5.5.2(2)"]
    assert RULES["co"].clause == "5.5.2(3)"  # toxic A1/A2 item 3
    assert RULES["o2"].clause == "5.5.2(4)"  # oxygen item 4


def test_oel_basis_and_reference_temperature_are_site_settings() -> None:
    # Default basis MAC else PC-TWA: CO A1/A2 = 20/40 mg/m³ = 17.176 / 34.352 ppm at 20 °C.
    co = RULES["co"]
    assert [point.value for point in co.set_points] == pytest.approx(
        [20 * V_20 / 28.010, 40 * V_20 / 28.010]
    )
    assert "PC-TWA 20 mg/m³" in co.basis
    # At 25 °C: V_m = 22.414 × 298.15 / 273.15 = 24.465 L/mol → 20 × 24.465 / 28.010.
    warm = rules_by_quantity(("gbt50493-2019",), SiteLimits(reference_temperature=25.0))["co"]
    v_25 = 22.414 * 298.15 / 273.15
    assert warm.set_points[0].value == pytest.approx(20 * v_25 / 28.010)
    # The former basis, MAC else PC-STEL else PC-TWA: CO A1 = 30 mg/m³.
    stel = rules_by_quantity(("gbt50493-2019",), SiteLimits(oel_basis="mac_else_stel_else_twa"))[
        "co"
    ]
    assert stel.set_points[0].value == pytest.approx(30 * V_20 / 28.010)
    # H2S has a MAC (10 mg/m³) under either basis: 10 × 24.0548 / 34.081 ppm.
    assert RULES["h2s"].set_points[0].value == pytest.approx(10 * V_20 / 34.081)


def test_a1_excursion_is_a_level_1_event_not_a_hazard() -> None:
    # 30 %LEL for 5 minutes: above A1 (25), below A2 (50): one level-1 event, not a
    # hazard by default; dose above A1 = 5 × 60 s × (30 − 25) = 1500 %LEL·s; the A2
    # verdict passes (30 < 50).
    values = [5.0, 30.0, 30.0, 30.0, 30.0, 30.0, 5.0]
    readings = Readings.from_columns([T0 + n * MINUTE for n in range(7)], [0] * 7, values)
    (result,) = evaluate(readings, _plan(["lel"]))
    (record,) = result.events
    assert record.event.max_level == 1
    assert record.hazard is False
    assert record.event.dose == pytest.approx(1500.0)
    (verdict,) = result.verdicts
    assert (verdict.limit, verdict.passed) == (50.0, True)
    # A site that makes A1 a hazard.
    (chosen,) = evaluate(readings, _plan(["lel"], SiteLimits(a1_is_hazard=True)))
    assert chosen.events[0].hazard is True


# -- 12. citations ----------------------------------------------------------------------------


def test_us_valve_leak_clause() -> None:
    row = next(row for row in load_limit_rows("leaks") if row.id == "us.40cfr60.483-1.valves")
    assert (row.standard, row.clause, row.value) == ("40 CFR 60", "60.482-7(b)", 10000.0)


def test_outdoor_wbgt_with_solar_load() -> None:
    # Outdoors: 0.7 t_nw + 0.2 t_g + 0.1 t_d = 0.7 × 28 + 0.2 × 34 + 0.1 × 31
    # = 19.6 + 6.8 + 3.1 = 29.5 °C; indoors 0.7 × 28 + 0.3 × 33 = 19.6 + 9.9 = 29.5 °C.
    assert float(wbgt_outdoor(28.0, 34.0, 31.0)) == pytest.approx(29.5)
    assert float(wbgt_indoor(28.0, 33.0)) == pytest.approx(29.5)


def test_earthing_rows_say_their_attribution_is_unconfirmed() -> None:
    rows = [row for row in load_limit_rows("electrical") if row.id.startswith("gb50057.earth")]
    assert rows
    for row in rows:
        assert row.confirmed == "unconfirmed"
        assert "JGJ 46" in row.standard
        assert "SH/T 3097" in row.standard


def test_the_reasons_read_in_chinese_in_the_table_and_stay_english_in_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], chinese: None
) -> None:
    stamps = _minutes(0, 9, 10)
    path = _csv(tmp_path, [f"{t},ir,surface_temperature,500,°C" for t in stamps])
    main(["analyze", str(path)])
    table = " ".join(capsys.readouterr().out.split())  # Rich wraps the long cell
    assert "未设温度组别" in table
    assert "no temperature_class" not in table
    _status, channels = _analyze(path, capsys)
    assert channels["surface_temperature"]["not_judged"][0].startswith("no temperature_class:")
