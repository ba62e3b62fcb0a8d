"""Inspections, statistics, the live page, the catalogs and the account commands."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from hazmon.acquisition.cli import main
from hazmon.config.i18n import catalog
from hazmon.store.accounts import Accounts
from hazmon.store.hazards import HazardContext, HazardRegister

from .conftest import OURS, PASSWORD, THEIRS, Client, Seeded

Login = Callable[[str], Client]
INSTRUMENTS = (
    "gd-01, BH-4S, SN2023-001, 2099-01-01\n"
    "noise-1, AWA5688, SN-0099, 2024-03-01\n"  # past due on 2024-05-20
)


def test_inspections_create_edit_link_and_flag_past_calibration(
    seeded: Seeded, login: Login
) -> None:
    expert = login("expert")
    form = {
        "date": "2024-05-20",
        "enterprise": OURS,
        "location": "罐区",
        "leader": "赵局长",
        "experts": "李专家\n周专家",
        "instruments": INSTRUMENTS,
    }
    created = expert.post("/inspections", form)
    assert created.status_code == 303
    inspection = int(created.headers["location"].rsplit("/", 1)[1])
    detail = expert.http.get(f"/api/inspections/{inspection}").json()
    assert detail["inspection"]["experts"] == ["李专家", "周专家"]
    past = {item["serial"]: item["past_due"] for item in detail["instruments"]}
    assert past == {"SN2023-001": False, "SN-0099": True}
    assert "已过检定有效期" in expert.http.get(f"/inspections/{inspection}").text
    edited = expert.post(f"/inspections/{inspection}", {**form, "location": "罐区及泵房"})
    assert edited.status_code == 303
    assert expert.http.get(f"/api/inspections/{inspection}").json()["location"] == "罐区及泵房"
    assert (
        expert.post(f"/inspections/{inspection}/link", {"hazards": str(seeded.ours)}).status_code
        == 303
    )
    linked = expert.http.get(f"/api/inspections/{inspection}").json()["hazards"]
    assert [row["id"] for row in linked] == [seeded.ours]
    assert expert.http.get("/api/hazards", params={"inspection": inspection}).json()["total"] == 1
    listed = expert.http.get("/api/inspections", params={"enterprise": OURS}).json()
    assert [(row["id"], row["hazards"]) for row in listed] == [(inspection, 1)]
    assert expert.http.get("/api/inspections", params={"enterprise": THEIRS}).json() == []
    assert expert.http.get("/api/inspections", params={"from": "2024-05-21"}).json() == []
    # The other enterprise cannot see this inspection; a bad instrument line says which.
    assert login("theirs").http.get(f"/api/inspections/{inspection}").status_code == 404
    bad = expert.post("/inspections", {**form, "instruments": "gd-01, BH-4S"})
    assert bad.status_code == 400
    assert "instrument line 1" in bad.text
    with HazardRegister(seeded.url) as register:
        assert register.verify_audit().ok


def test_statistics_per_enterprise_with_fix_rates(seeded: Seeded, login: Login) -> None:
    officer, expert = login("officer"), login("expert")
    with HazardRegister(seeded.url) as register:
        ids = [
            register.add_hazard(
                HazardContext(enterprise=OURS, location="罐区东侧"),
                f"隐患 {number}",
                rule_id="manual",
                standard="GB 30871-2022",
                clause="5.1",
                actor="test",
            )
            for number in range(3)
        ]
    # OURS: general hazards ids[0] (closed on the spot) and ids[1] (open): 2 general,
    # 1 unfixed, fix rate 1/2 = 50.0 %. Major: the seeded one and ids[2], both open; the
    # seeded one's deadline has passed: 2 major, 2 unfixed, 1 overdue, fix rate 0/2 = 0 %.
    for hazard in ids[:2]:
        officer.api(f"/api/hazards/{hazard}/confirm", {"grade": "general"})
    expert.api(f"/api/hazards/{ids[0]}/close_on_spot", {"note": "当场整改"})
    officer.api(f"/api/hazards/{ids[2]}/confirm", {"grade": "major", "deadline": "2099-12-31"})
    officer.api(f"/api/hazards/{seeded.ours}/confirm", {"grade": "major", "deadline": "2020-01-01"})
    stats = officer.http.get("/api/stats").json()
    ours = next(row for row in stats["by_enterprise"] if row["group"] == OURS)
    assert (ours["general"], ours["general_unfixed"], ours["general_fix_rate"]) == (2, 1, 0.5)
    assert (ours["major"], ours["major_unfixed"], ours["major_overdue"]) == (2, 2, 1)
    assert ours["major_fix_rate"] == 0.0
    assert THEIRS not in [row["group"] for row in stats["by_enterprise"]]  # not confirmed
    assert [row["id"] for row in stats["overdue"]] == [seeded.ours]
    due = officer.http.get("/api/stats", params={"days": 36500}).json()["due_soon"]
    assert [row["id"] for row in due] == [ids[2]]
    page = officer.http.get("/stats").text
    assert "50.0%" in page
    assert "逾期未整改" in page


def test_live_readings_and_acknowledged_alerts(seeded: Seeded, login: Login) -> None:
    officer = login("officer")
    live = officer.http.get("/api/live").json()
    newest = {row["device"]: (row["value"], row["level"]) for row in live["channels"]}
    assert newest == {"gd-01": (10.0, 0), "gd-02": (10.0, 0)}  # the last reading, at 9 s
    event = live["alerts"][0]
    assert event["ack_by"] is None
    assert officer.post(f"/alerts/{event['id']}/ack", {"reason": ""}).status_code == 404
    assert (
        officer.post(f"/alerts/{event['id']}/ack", {"reason": "现场确认为检修放空"}).status_code
        == 303
    )
    acknowledged = next(
        row for row in officer.http.get("/api/live").json()["alerts"] if row["id"] == event["id"]
    )
    assert (acknowledged["ack_by"], acknowledged["ack_reason"]) == (
        "王科长 (officer)",
        "现场确认为检修放空",
    )
    table = officer.http.get("/live/table").text
    assert "王科长 (officer)" in table
    # The seeded channels' substance, methane, in the desk's words.
    assert "可燃气体 (甲烷)" in table
    assert "methane" not in table
    assert login("ours").post(f"/alerts/{event['id']}/ack", {"reason": "x"}).status_code == 403
    # The store holds every site's readings: an enterprise account sees none of them.
    enterprise = login("ours")
    for path in ("/api/live", "/live", "/live/table"):
        assert enterprise.http.get(path).status_code == 403, path


def test_every_register_refusal_has_a_chinese_translation() -> None:
    # The templates as the register raises them (adjacent literals joined), the steps
    # _expect names, and the blank-field refusals: each must be in the zh_CN catalog.
    store = Path(__file__).parents[2] / "store"
    literals = r"((?:\s*\"[^\"]*\")+)"
    templates: set[str] = set()
    actions: set[str] = set()
    for name in ("hazards.py", "attachments.py"):
        source = (store / name).read_text("utf-8")
        # An f-string message could not be looked up in the catalogs.
        assert not re.search(r"(?:IllegalTransition|HazardError|HazardNotFound)\(\s*f\"", source)
        for pattern in (
            r"(?:IllegalTransition|HazardError|HazardNotFound)\(" + literals,
            r"_require_text\(\s*\w+," + literals,
        ):
            for match in re.finditer(pattern, source):
                templates.add("".join(re.findall(r'"([^"]*)"', match.group(1))))
        actions |= {
            f"action|{step}" for step in re.findall(r'_expect\(\s*record, "([^"]+)"', source)
        }
    assert len(templates) >= 20
    assert len(actions) == 9
    chinese = catalog("zh_CN")
    assert sorted((templates | actions) - set(chinese)) == []


def test_the_workflow_terms_are_the_notices(seeded: Seeded) -> None:
    chinese = catalog("zh_CN")
    terms = {
        "pending_review": "待确认",
        "general": "一般隐患",
        "major": "重大隐患",
        "rectifying": "整改中",
        "rectified": "已整改",
        "verified": "复查销号",
        "Five in place (五落实) rectification plan": "五落实整改方案",
    }
    assert {key: chinese[key] for key in terms} == terms


def test_users_command_adds_changes_and_disables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    database = tmp_path / "register.db"
    monkeypatch.setenv("HAZMON_PASSWORD", PASSWORD)
    assert main(["users", "--db", str(database), "add", "ent", "--role", "enterprise"]) == 2
    assert "--enterprise" in capsys.readouterr().err
    args = [
        "users",
        "--db",
        str(database),
        "add",
        "ent",
        "--role",
        "enterprise",
        "--enterprise",
        OURS,
    ]
    assert main(args) == 0
    assert main(args) == 2  # exists
    monkeypatch.setenv("HAZMON_PASSWORD", "short")
    assert main(["users", "--db", str(database), "passwd", "ent"]) == 2
    monkeypatch.setenv("HAZMON_PASSWORD", "another-password")
    assert main(["users", "--db", str(database), "passwd", "ent"]) == 0
    with HazardRegister(f"sqlite:///{database}") as register:
        accounts = Accounts(register.engine)
        assert accounts.authenticate("ent", PASSWORD) is None
        user = accounts.authenticate("ent", "another-password")
        assert user is not None
        assert user.enterprise == OURS
    assert main(["users", "--db", str(database), "disable", "ent"]) == 0
    with HazardRegister(f"sqlite:///{database}") as register:
        assert Accounts(register.engine).authenticate("ent", "another-password") is None
        stored = (
            register.engine.connect().exec_driver_sql("SELECT password_hash FROM users").scalar()
        )
        assert str(stored).startswith("$argon2id$")
