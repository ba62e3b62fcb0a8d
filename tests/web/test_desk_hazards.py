"""The hazard list and page: the workflow as forms, finding in words, chart, attachments."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
from collections.abc import Callable

import numpy as np
from openpyxl import load_workbook
from sqlalchemy import update

from hazmon.store.attachments import attachments_table
from hazmon.store.hazard_list import HazardFilter, hazard_page
from hazmon.store.hazards import HazardContext, HazardRegister
from hazmon.web.chart import per_pixel

from .conftest import OURS, T0, THEIRS, Client, Seeded

Login = Callable[[str], Client]

FIVE_IN_PLACE = {
    "responsible_unit": "设备部",
    "responsible_person": "张工",
    "measures": "更换泵出口法兰垫片并复测",
    "funds": "2万元",
    "deadline": "2026-12-10",
    "contingency": "泄漏应急处置预案第3版",
}


def test_major_hazard_walks_to_a_verified_close(seeded: Seeded, login: Login) -> None:
    officer, ours, expert = login("officer"), login("ours"), login("expert")
    hazard = seeded.ours
    assert officer.post(f"/hazards/{hazard}/confirm", {"grade": "major"}).status_code == 303
    # A plan without funds and contingency leaves the major hazard confirmed.
    partial = {k: v for k, v in FIVE_IN_PLACE.items() if k not in ("funds", "contingency")}
    assert ours.post(f"/hazards/{hazard}/plan", partial).status_code == 303
    detail = ours.http.get(f"/api/hazards/{hazard}").json()
    assert detail["hazard"]["status"] == "confirmed"
    assert detail["missing_plan_items"] == ["funds", "contingency plan"]
    assert "方案尚缺: 资金、预案" in ours.http.get(f"/hazards/{hazard}").text
    # Marking it rectified now is refused by the register, and the page says why.
    refused = ours.post(f"/hazards/{hazard}/rectified", {"note": "已更换"})
    assert refused.status_code == 409
    # In Chinese, terms and plan items too, from the register's own message template.
    assert (
        f"重大隐患 {hazard} 不能标记为已整改：尚未进入整改，整改方案（五落实）尚缺资金、预案"
        in refused.text
    )
    early = expert.api(f"/api/hazards/{hazard}/verify", {"expert": "李专家"})
    assert early.status_code == 409
    assert early.json()["detail"] == (
        f"隐患 {hazard} 当前为“已确认”，不能复查销号；复查销号仅适用于“已整改”的隐患"
    )
    # English beside it, by the user's language setting.
    expert.http.cookies.set("hazmon_lang", "en")
    assert expert.api(f"/api/hazards/{hazard}/verify", {"expert": "Li"}).json()["detail"] == (
        # The English catalog names statuses as the desk shows them.
        f"cannot verify hazard {hazard}: it is Confirmed; verify takes a hazard that is Rectified"
    )
    expert.http.cookies.delete("hazmon_lang")
    assert ours.post(f"/hazards/{hazard}/plan", FIVE_IN_PLACE).status_code == 303
    assert ours.http.get(f"/api/hazards/{hazard}").json()["hazard"]["status"] == "rectifying"
    assert (
        ours.post(f"/hazards/{hazard}/rectified", {"note": "已更换垫片，复测 0 %LEL"}).status_code
        == 303
    )
    # The officer may not verify; a named expert does.
    assert officer.post(f"/hazards/{hazard}/verify", {"expert": "王科长"}).status_code == 403
    assert (
        expert.post(
            f"/hazards/{hazard}/verify", {"expert": "李专家", "note": "复查合格"}
        ).status_code
        == 303
    )
    detail = expert.http.get(f"/api/hazards/{hazard}").json()
    assert detail["hazard"]["status"] == "verified"
    assert detail["hazard"]["verified_by"] == "李专家"
    assert detail["audit"]["ok"], detail["audit"]["problems"]
    who = [(entry["actor"], entry["action"]) for entry in detail["history"]]
    assert who == [
        ("hazmon", "created"),
        ("王科长 (officer)", "confirmed"),
        ("甲安全员 (ours)", "plan"),
        ("甲安全员 (ours)", "plan"),
        ("甲安全员 (ours)", "rectified"),
        ("李专家 (expert)", "verified"),
    ]
    page = expert.http.get(f"/hazards/{hazard}").text
    for term in ("复查销号", "重大隐患", "李专家", "完整"):
        assert term in page


def test_a_date_only_deadline_ends_at_2359_beijing_time(seeded: Seeded, login: Login) -> None:
    officer = login("officer")
    answer = officer.api(
        f"/api/hazards/{seeded.ours}/confirm", {"grade": "general", "deadline": "2026-12-10"}
    )
    assert answer.status_code == 200
    # 2026-12-10 23:59 at UTC+8 is 2026-12-10 15:59 UTC (23 - 8 = 15).
    expected = dt.datetime(2026, 12, 10, 15, 59, tzinfo=dt.UTC)
    with HazardRegister(seeded.url) as register:
        assert register.hazard(seeded.ours)["deadline"] == expected
        engine = register.engine
        before = dt.datetime(2026, 12, 10, 15, 58, tzinfo=dt.UTC)
        after = dt.datetime(2026, 12, 10, 16, 0, tzinfo=dt.UTC)  # 00:00 on the 11th, Beijing
        where = HazardFilter(overdue=True)
        assert hazard_page(engine, where, now=before)[1] == 0
        assert [row["id"] for row in hazard_page(engine, where, now=after)[0]] == [seeded.ours]
    assert "2026-12-10 23:59" in officer.http.get(f"/hazards/{seeded.ours}").text


def test_the_finding_reads_in_plain_chinese_with_local_time(seeded: Seeded, login: Login) -> None:
    officer = login("officer")
    words = officer.http.get(f"/api/hazards/{seeded.ours}").json()["finding_in_words"]
    # Event: 60 %LEL peak at T0 + 5 s; T0 = 2023-11-14 22:13:20 UTC = 2023-11-15 06:13:20 +08.
    assert words == (
        "gd-01 的可燃气体达到 A2 级：达到或超过设定值 50 %LEL，持续 2 秒，"
        "峰值 60 %LEL（2023-11-15 06:13:25）"
    )
    assert "e+" not in words
    # The list and its export read the same words.
    rows = officer.http.get("/api/hazards", params={"enterprise": OURS}).json()["hazards"]
    assert [row["finding_in_words"] for row in rows] == [words]
    assert words in officer.http.get("/hazards/export.csv").content.decode("utf-8-sig")


def test_the_history_reads_in_words_and_the_audit_keeps_the_stored_text(
    seeded: Seeded, login: Login
) -> None:
    officer = login("officer")
    page = officer.http.get(f"/hazards/{seeded.ours}").text
    history = page[page.index('id="history"') :]
    created = next(row for row in history.split("<tr>") if ">创建<" in row)
    # The finding as the page's top says it, and the evidence in Chinese words.
    assert "gd-01 的可燃气体达到 A2 级：达到或超过设定值 50 %LEL" in created
    assert "事件 1" in created
    assert "峰值 60 %LEL" in created
    assert "个读数，SHA-256 " in created
    assert "readings sha256" not in created
    assert "reached level" not in created
    # The stored entry is what the chain hashed: the analysis's English, unchanged.
    with HazardRegister(seeded.url) as register:
        (entry,) = (e for e in register.history(seeded.ours) if e.action == "created")
        assert "reached level A2" in entry.detail["finding"]
        assert register.verify_audit().ok


def test_the_evidence_chart_keeps_the_peak_per_pixel(seeded: Seeded, login: Login) -> None:
    officer = login("officer")
    chart = officer.http.get(f"/api/hazards/{seeded.ours}/chart", params={"width": 50}).json()
    assert len(chart) == 1
    data = chart[0]
    # Window: T0 + 4 s - 4 s margin = T0 to T0 + 6 s + 4 s = T0 + 10 s; readings at 0..9 s.
    assert data["readings"] == 10
    assert data["limit"] == 50.0
    assert max(data["maximum"]) == 60.0
    assert min(data["minimum"]) == 10.0
    # Readings at 4, 5, 6 s are at level 2: one excursion from T0 + 4 s to T0 + 6 s, to
    # the pixel: a column is ceil((10 s + 1 ns) / 50) = 0.2 s + 1 ns wide and starts at a
    # multiple of its width, up to one width before the reading it holds.
    assert data["interval_s"] == 0.200000001
    [(start, end)] = data["excursions"]
    assert T0 / 1e9 + 4 - 0.2000001 < start <= T0 / 1e9 + 4
    assert T0 / 1e9 + 6 - 0.2000001 < end <= T0 / 1e9 + 6


def test_per_pixel_downsampling_keeps_minimum_and_maximum() -> None:
    # 1000 readings over 1000 ns into 10 columns of 100 ns: column k holds ts 100k..100k+99.
    ts = np.arange(1000, dtype=np.int64)
    value = np.zeros(1000)
    value[250] = 9.0  # column 2
    value[731] = -4.0  # column 7
    value[500] = np.nan  # no value: left out, never a zero
    column, minimum, maximum = per_pixel(ts, value, 0, 1000, 10)
    assert column.tolist() == [0, 100, 200, 300, 400, 500, 600, 700, 800, 900]
    assert maximum.tolist() == [0, 0, 9, 0, 0, 0, 0, 0, 0, 0]
    assert minimum.tolist() == [0, 0, 0, 0, 0, 0, 0, -4, 0, 0]


def test_attachments_enter_the_audit_chain_with_their_hash(seeded: Seeded, login: Login) -> None:
    ours = login("ours")
    photo = b"\x89PNG fake photo bytes of the flange"
    upload = ours.http.post(
        f"/api/hazards/{seeded.ours}/attach",
        data={"purpose": "rectification"},
        files={"file": ("法兰.png", photo, "image/png")},
        headers={"X-CSRF-Token": ours.csrf},
    )
    assert upload.status_code == 201, upload.text
    digest = hashlib.sha256(photo).hexdigest()
    assert upload.json()["sha256"] == digest
    detail = ours.http.get(f"/api/hazards/{seeded.ours}").json()
    entry = detail["history"][-1]
    assert (entry["action"], entry["detail"]["sha256"]) == ("attachment", digest)
    assert detail["audit"]["ok"]
    attachment_id = upload.json()["id"]
    assert ours.http.get(f"/attachments/{attachment_id}").content == photo
    # The other enterprise cannot fetch it.
    assert login("theirs").http.get(f"/attachments/{attachment_id}").status_code == 404
    # Bytes replaced behind the desk's back no longer match the hash and are refused.
    with HazardRegister(seeded.url) as register, register.engine.begin() as connection:
        connection.execute(update(attachments_table).values(content=b"another photo"))
    assert ours.http.get(f"/attachments/{attachment_id}").status_code == 404


def test_comments_dismissal_referral_and_closing_on_the_spot(seeded: Seeded, login: Login) -> None:
    officer, expert = login("officer"), login("expert")
    assert expert.post(f"/hazards/{seeded.ours}/comment", {"text": "现场已通风"}).status_code == 303
    empty = officer.post(f"/hazards/{seeded.theirs}/dismiss", {"reason": ""})
    assert empty.status_code == 409
    assert f"请填写隐患 {seeded.theirs} 不予认定的理由：不能为空" in empty.text
    assert (
        officer.post(f"/hazards/{seeded.theirs}/dismiss", {"reason": "传感器故障误报"}).status_code
        == 303
    )
    assert officer.post(f"/hazards/{seeded.ours}/confirm", {"grade": "general"}).status_code == 303
    refer = {
        "kind": "transferred",
        "department": "市应急管理局",
        "reference": "漯应急移〔2026〕3号",
    }
    assert officer.post(f"/hazards/{seeded.ours}/refer", refer).status_code == 303
    assert (
        expert.post(f"/hazards/{seeded.ours}/close_on_spot", {"note": "当场关闭阀门"}).status_code
        == 303
    )
    detail = expert.http.get(f"/api/hazards/{seeded.ours}").json()
    assert detail["hazard"]["status"] == "verified"
    assert detail["hazard"]["closed_on_spot"]
    assert detail["comments"][0]["text"] == "现场已通风"
    assert detail["hazard"]["referrals"][0]["department"] == "市应急管理局"
    page = expert.http.get(f"/hazards/{seeded.ours}").text
    assert "移交有关部门" in page
    assert "现场整改销号" in page


def test_a_hazard_found_by_eye_needs_its_clause(seeded: Seeded, login: Login) -> None:
    expert = login("expert")
    body = {
        "enterprise": OURS,
        "location": "配电室",
        "finding": "配电柜前未铺绝缘垫",
        "standard": "GB 50054-2011",
    }
    assert expert.api("/api/hazards", body).status_code == 400
    made = expert.api("/api/hazards", {**body, "clause": "4.2.3"})
    assert made.status_code == 201
    record = expert.http.get(f"/api/hazards/{made.json()['id']}").json()
    assert record["hazard"]["clause"] == "4.2.3"
    assert record["hazard"]["status"] == "pending_review"
    assert record["finding_in_words"] == "配电柜前未铺绝缘垫"
    assert record["history"][0]["actor"] == "李专家 (expert)"


def test_the_list_filters_sorts_pages_and_counts(seeded: Seeded, login: Login) -> None:
    officer = login("officer")
    with HazardRegister(seeded.url) as register:
        for number in range(60):
            register.add_hazard(
                HazardContext(enterprise=THEIRS, location=f"区域{number % 3}"),
                f"人工发现 {number}",
                rule_id="manual",
                standard="GB 30871-2022",
                clause="5.1",
                actor="test",
            )
    listing = officer.http.get("/api/hazards", params={"enterprise": THEIRS}).json()
    assert listing["total"] == 61
    assert listing["pages"] == 2
    assert len(listing["hazards"]) == 50
    assert listing["counts"] == {"pending_review": 61, "overdue": 0}
    second = officer.http.get("/api/hazards", params={"enterprise": THEIRS, "page": 2}).json()
    assert len(second["hazards"]) == 11
    ascending = officer.http.get("/api/hazards", params={"sort": "id", "order": "asc"}).json()
    assert [row["id"] for row in ascending["hazards"][:2]] == [seeded.ours, seeded.theirs]
    assert officer.http.get("/api/hazards", params={"status": "nonsense"}).status_code == 400
    # Created "today" in Beijing time: the 62 hazards were all created now.
    today = dt.datetime.now(dt.timezone(dt.timedelta(hours=8))).date().isoformat()
    assert (
        officer.http.get("/api/hazards", params={"from": today, "to": today}).json()["total"] == 62
    )
    assert officer.http.get("/api/hazards", params={"to": "2000-01-01"}).json()["total"] == 0
    page = officer.http.get("/hazards", params={"enterprise": THEIRS}).text
    assert "待确认" in page
    assert "下一页" in page


def test_exports_have_chinese_headers_a_bom_and_local_times(seeded: Seeded, login: Login) -> None:
    officer = login("officer")
    officer.api(f"/api/hazards/{seeded.ours}/confirm", {"grade": "major", "deadline": "2026-12-10"})
    raw = officer.http.get("/hazards/export.csv", params={"enterprise": OURS}).content
    assert raw.startswith(b"\xef\xbb\xbf")
    lines = raw.decode("utf-8-sig").splitlines()
    assert lines[0].split(",")[:3] == ["编号", "企业", "位置"]
    assert len(lines) == 2
    assert "重大隐患" in lines[1]
    assert "2026-12-10 23:59" in lines[1]
    book = load_workbook(io.BytesIO(officer.http.get("/hazards/export.xlsx").content))
    rows = list(book.worksheets[0].iter_rows(values_only=True))
    assert rows[0][:4] == ("编号", "企业", "位置", "隐患描述")
    assert sorted(int(str(row[0])) for row in rows[1:]) == sorted([seeded.ours, seeded.theirs])


def test_chinese_by_default_and_english_beside_it(seeded: Seeded, login: Login) -> None:
    officer = login("officer")
    assert "待确认" in officer.http.get("/hazards").text
    assert officer.post("/lang", {"lang": "en"}).status_code == 303
    page = officer.http.get("/hazards").text
    assert "Pending review" in page
    assert "待确认" not in page


def test_a_clause_given_in_words_reads_in_chinese_and_stays_unconfirmed(
    seeded: Seeded, login: Login
) -> None:
    clause = "equipment and piping leaks (clause unconfirmed)"
    with HazardRegister(seeded.url) as register:
        hazard = register.add_hazard(
            HazardContext(enterprise=OURS, location="泵区"),
            "阀门泄漏",
            rule_id="manual",
            standard="GB 37822-2019",
            clause=clause,
            actor="test",
        )
    officer = login("officer")
    assert (
        "GB 37822-2019 设备与管线组件泄漏（条款未核实）"
        in officer.http.get(f"/hazards/{hazard}").text
    )
    listed = officer.http.get("/hazards", params={"enterprise": OURS}).text
    assert "设备与管线组件泄漏（条款未核实）" in listed
    assert clause not in listed
    # The API keeps the stored clause.
    assert officer.http.get(f"/api/hazards/{hazard}").json()["hazard"]["clause"] == clause
