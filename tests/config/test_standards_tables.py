"""Every bundled standards row loads, is cited, and carries the grade STANDARDS.md gives.

Expected values are copied from docs/standards.md (the project's reference for
thresholds), table by table.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from hazmon.config.errors import ConfigError
from hazmon.config.site import load_site
from hazmon.config.standards import (
    DEFAULT_LIMIT_TABLES,
    LIMIT_KINDS,
    SiteLimits,
    bundled_standards,
    effective_limit_rows,
    load_limit_rows,
    load_standards_table,
)

GRADES = {"confirmed", "secondary", "unconfirmed"}


def _rows_by_id() -> dict[str, object]:
    return {row.id: row for name in bundled_standards() for row in load_limit_rows(name)}


def test_every_table_loads_and_every_row_is_cited() -> None:
    names = bundled_standards()
    assert set(DEFAULT_LIMIT_TABLES) <= set(names)
    assert {"gbt50493-2019", "gbzt223-2009"} <= set(names)
    total = 0
    for name in names:
        for rule in load_standards_table(name):
            assert rule.standard, rule
            assert rule.clause, rule
            assert rule.confirmed in GRADES, rule
            total += 1
        for row in load_limit_rows(name):
            assert row.standard, row
            assert row.clause, row
            assert row.confirmed in GRADES, row
            assert row.kind in LIMIT_KINDS, row
            assert row.value is not None or row.confirmed == "unconfirmed", row
            total += 1
    assert total > 100


def test_ids_are_unique_across_tables() -> None:
    ids = [row.id for name in bundled_standards() for row in load_limit_rows(name)]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize(
    ("row_id", "value", "grade"),
    [
        # GBZ 2.1-2019 [mg/m³], STANDARDS.md table "GBZ 2.1-2019 occupational exposure limits".
        ("gbz2.1.h2s.mac", 10.0, "secondary"),
        ("gbz2.1.co.pc_twa", 20.0, "secondary"),
        ("gbz2.1.co.pc_stel", 30.0, "secondary"),
        ("gbz2.1.nh3.pc_twa", 20.0, "secondary"),
        ("gbz2.1.nh3.pc_stel", 30.0, "secondary"),
        ("gbz2.1.cl2.mac", 1.0, "secondary"),
        ("gbz2.1.so2.pc_twa", 5.0, "secondary"),
        ("gbz2.1.so2.pc_stel", 10.0, "secondary"),
        ("gbz2.1.no2.pc_twa", 5.0, "secondary"),
        ("gbz2.1.no2.pc_stel", 10.0, "secondary"),
        ("gbz2.1.hcn.mac", 1.0, "secondary"),
        ("gbz2.1.hcl.mac", 7.5, "secondary"),
        ("gbz2.1.benzene.pc_twa", 6.0, "secondary"),
        ("gbz2.1.benzene.pc_stel", 10.0, "secondary"),
        ("gbz2.1.benzene.pc_twa.amended", 3.0, "unconfirmed"),
        ("gbz2.1.benzene.pc_stel.amended", 6.0, "unconfirmed"),
        ("gbz2.1.toluene.pc_twa", 50.0, "secondary"),
        ("gbz2.1.toluene.pc_stel", 100.0, "secondary"),
        ("gbz2.1.xylene.pc_twa", 50.0, "secondary"),
        ("gbz2.1.xylene.pc_stel", 100.0, "secondary"),
        ("gbz2.1.methanol.pc_twa", 25.0, "secondary"),
        ("gbz2.1.methanol.pc_stel", 50.0, "secondary"),
        # Dust PC-TWA [mg/m³].
        ("gbz2.1.dust.other.total", 8.0, "secondary"),
        ("gbz2.1.dust.silica_50_80.total", 0.7, "secondary"),
        ("gbz2.1.dust.silica_50_80.respirable", 0.3, "secondary"),
        ("gbz2.1.dust.coal.total", 4.0, "unconfirmed"),
        ("gbz2.1.dust.coal.respirable", 2.5, "unconfirmed"),
        ("gbz2.1.dust.silica_10_50.total", 1.0, "unconfirmed"),
        ("gbz2.1.dust.silica_10_50.respirable", 0.7, "unconfirmed"),
        ("gbz2.1.dust.silica_over_80.total", 0.5, "unconfirmed"),
        ("gbz2.1.dust.silica_over_80.respirable", 0.2, "unconfirmed"),
        # Peak excursions and mixtures (clauses unconfirmed).
        ("gbz2.1.excursion.factor", 3.0, "unconfirmed"),
        ("gbz2.1.excursion.cap", 5.0, "unconfirmed"),
        ("gbz2.1.excursion.duration", 15.0, "unconfirmed"),
        ("gbz2.1.excursion.count", 4.0, "unconfirmed"),
        ("gbz2.1.excursion.spacing", 60.0, "unconfirmed"),
        ("gbz2.1.mixture.index", 1.0, "unconfirmed"),
        ("gbz2.1.action_level", 0.5, "unconfirmed"),
        # GBZ 2.2-2007 noise and heat.
        ("gbz2.2.noise.lex_8h", 85.0, "secondary"),
        ("gbz2.2.noise.lex_40h", 85.0, "secondary"),
        ("gbz2.2.impulse.100", 140.0, "secondary"),
        ("gbz2.2.impulse.1000", 130.0, "secondary"),
        ("gbz2.2.impulse.10000", 120.0, "secondary"),
        ("gbzt189.8.noise.shift_4h", 88.0, "secondary"),
        ("gbz2.2.wbgt.100.iv", 25.0, "secondary"),
        ("gbz2.2.wbgt.75.ii", 29.0, "secondary"),
        ("gbz2.2.wbgt.100.i", 30.0, "unconfirmed"),
        ("gbz2.2.wbgt.25.i", 33.0, "unconfirmed"),
        ("gbz2.2.wbgt.50.iii", 29.0, "unconfirmed"),
        # Ex temperature classes [°C].
        ("ex.temperature_class.t1", 450.0, "secondary"),
        ("ex.temperature_class.t4", 135.0, "secondary"),
        ("ex.temperature_class.t6", 85.0, "secondary"),
        # Electrical.
        ("iec60364.insulation.selv", 0.5, "secondary"),
        ("iec60364.insulation.upto_500v", 1.0, "secondary"),
        ("cn.insulation.class_i_hand_tool", 2.0, "unconfirmed"),
        ("jgj46.rcd.final_box.current", 30.0, "secondary"),
        ("jgj46.rcd.damp.current", 15.0, "secondary"),
        ("jgj46.rcd.final_box.time", 0.1, "secondary"),
        ("jgj46.rcd.main_box.product", 30.0, "secondary"),
        ("gb50057.earth.protective", 4.0, "unconfirmed"),
        ("gb50057.earth.static", 100.0, "unconfirmed"),
        # Leaks: US confirmed, China unconfirmed.
        ("us.40cfr60.483-1.valves", 10000.0, "confirmed"),
        ("us.40cfr63.1029.valves_connectors", 500.0, "confirmed"),
        ("us.40cfr63.1026.pumps", 1000.0, "confirmed"),
        ("us.40cfr63.1026.pumps.repair", 2000.0, "confirmed"),
        ("cn.gb31570.leak", 2000.0, "unconfirmed"),
        ("cn.gb37822.leak", 5000.0, "unconfirmed"),
        ("cn.gb37822.leak.key_regions", 2000.0, "unconfirmed"),
        # API 510.
        ("api510.next_inspection.max", 10.0, "secondary"),
    ],
)
def test_values_and_grades_match_standards_md(row_id: str, value: float, grade: str) -> None:
    row = _rows_by_id()[row_id]
    assert row.value == value  # type: ignore[attr-defined]
    assert row.confirmed == grade  # type: ignore[attr-defined]


def test_wbgt_matrix_is_complete() -> None:
    # STANDARDS.md: 100 %: 30/28/26/25; 75 %: 31/29/28/26; 50 %: 32/30/29/28; 25 %: 33/32/31/30.
    expected = {
        100: (30, 28, 26, 25),
        75: (31, 29, 28, 26),
        50: (32, 30, 29, 28),
        25: (33, 32, 31, 30),
    }
    rows = _rows_by_id()
    for rate, cells in expected.items():
        for intensity, limit in zip(("i", "ii", "iii", "iv"), cells, strict=True):
            assert rows[f"gbz2.2.wbgt.{rate}.{intensity}"].value == limit  # type: ignore[attr-defined]


def test_ph3_mac_is_given_and_graded_unconfirmed() -> None:
    # GBZ 2.1-2019 phosphine MAC 0.3 mg/m³; no quoting source was found: unconfirmed.
    row = _rows_by_id()["gbz2.1.ph3.mac"]
    assert row.value == 0.3  # type: ignore[attr-defined]
    assert row.confirmed == "unconfirmed"  # type: ignore[attr-defined]


def test_gbzt223_set_points_are_half_and_whole_oel() -> None:
    # GBZ/T 223-2009: pre-alarm ½ MAC, alarm at MAC. H2S MAC 10 mg/m³ → 7.058 ppm at 20 °C.
    rule = next(rule for rule in load_standards_table("gbzt223-2009") if rule.quantity == "h2s")
    a1, a2 = (point.value for point in rule.set_points)
    assert a2 == pytest.approx(10 * 24.055 / 34.081, rel=1e-3)
    assert a1 == pytest.approx(a2 / 2)


def test_site_rows_replace_add_and_select() -> None:
    site = SiteLimits.model_validate(
        {
            "rows": [
                {
                    "id": "gbz2.1.co.pc_twa",
                    "kind": "pc_twa",
                    "quantity": "co",
                    "value": 10.0,
                    "unit": "mg/m³",
                    "clause": "internal rule 4.2",
                    "confirmed": "confirmed",
                },
                {
                    "id": "v101.required",
                    "kind": "required_thickness",
                    "quantity": "wall_thickness",
                    "device": "V-101",
                    "value": 8.2,
                    "unit": "mm",
                    "clause": "design minimum",
                    "confirmed": "confirmed",
                },
            ],
            "select": ["gb50057.earth.lightning"],
            "standard": "Site rules 2026",
        }
    )
    rows = {row.id: row for row in effective_limit_rows(site)}
    assert rows["gbz2.1.co.pc_twa"].value == 10.0
    assert rows["gbz2.1.co.pc_twa"].standard == "Site rules 2026"
    assert rows["v101.required"].device == "V-101"
    assert "gb50057.earth.lightning" in rows
    assert "gb50057.earth.combined" not in rows  # off by default, not selected
    assert "gbz2.1.co.pc_stel" in rows


def test_site_config_with_limits_table_loads(tmp_path: Path) -> None:
    path = tmp_path / "site.toml"
    path.write_text(
        'schema = "hazmon.site/1"\nname = "s"\nenterprise = "E"\n'
        '[[devices]]\nid = "gd-1"\nprofile = "generic-4gas"\naddress = "127.0.0.1:502"\n'
        '[limits]\nlabour_intensity = "II"\nexposure_rate = 75\ntemperature_class = "T3"\n'
        "reference_temperature = 25.0\n"
        '[[limits.rows]]\nid = "site.co.twa"\nkind = "pc_twa"\nquantity = "co"\nvalue = 15.0\n'
        'unit = "mg/m³"\nclause = "site rule 1"\nconfirmed = "confirmed"\n',
        encoding="utf-8",
    )
    _source, site = load_site(str(path))
    assert site.limits.labour_intensity == "II"
    assert site.limits.rows[0].value == 15.0


def test_a_bad_row_is_named(tmp_path: Path) -> None:
    path = tmp_path / "site.toml"
    path.write_text(
        'schema = "hazmon.site/1"\nname = "s"\nenterprise = "E"\n'
        '[[devices]]\nid = "gd-1"\nprofile = "generic-4gas"\naddress = "127.0.0.1:502"\n'
        '[[limits.rows]]\nid = "x"\nkind = "pc_twa"\nquantity = "co"\nvalue = 15.0\n'
        'clause = "1"\nconfirmed = "sure"\n',
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as caught:
        load_site(str(path))
    assert "limits.rows[0].confirmed = 'sure'" in str(caught.value)
