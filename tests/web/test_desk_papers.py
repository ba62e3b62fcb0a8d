"""The inspection record from the desk: the button on the inspection's page serves the
same PDF as ``hazmon report inspection``, fed from the desk's inspection records; and
the desk's audit check re-reads the evidence readings."""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from hazmon.acquisition.cli import main
from hazmon.store.hazards import HazardRegister

from .conftest import OURS, Client, Seeded

NO_POPPLER = pytest.mark.skipif(
    shutil.which("pdftotext") is None,
    reason="poppler-utils is not installed (apt-get install poppler-utils)",
)

Login = Callable[[str], Client]
REPO = Path(__file__).resolve().parents[2]
#: Where the served PDF is saved for a person to look at (as the papers tests do).
ARTIFACTS = Path(os.environ.get("HAZMON_TEST_ARTIFACTS", REPO / "build" / "test-artifacts"))


def _text(pdf: Path) -> str:
    text = subprocess.run(
        ["pdftotext", "-enc", "UTF-8", str(pdf), "-"], check=True, capture_output=True, text=True
    ).stdout
    return re.sub(r"\s+", "", text)


@NO_POPPLER
def test_the_inspection_page_serves_the_inspection_record(
    seeded: Seeded, login: Login, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    expert = login("expert")
    created = expert.post(
        "/inspections",
        {
            "date": "2024-05-20",
            "enterprise": OURS,
            "location": "罐区及泵房",
            "leader": "赵局长",
            "experts": "李专家\n周专家",
            "instruments": "gd-01, BH-4S, SN2023-001, 2099-01-01\n"
            "noise-1, AWA5688, SN-0099, 2024-03-01\n",
        },
    )
    assert created.status_code == 303
    inspection = int(created.headers["location"].rsplit("/", 1)[1])
    assert (
        expert.post(f"/inspections/{inspection}/link", {"hazards": str(seeded.ours)}).status_code
        == 303
    )

    page = expert.http.get(f"/inspections/{inspection}").text
    assert f'href="/inspections/{inspection}/report.pdf"' in page
    assert "检查记录（PDF，可打印）" in page

    served = expert.http.get(f"/inspections/{inspection}/report.pdf")
    assert served.status_code == 200, served.text
    assert served.headers["content-type"] == "application/pdf"
    assert served.content.startswith(b"%PDF-")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    web_pdf = ARTIFACTS / f"inspection-from-desk-{seeded.url.split(':')[0]}.pdf"
    web_pdf.write_bytes(served.content)
    flat = _text(web_pdf)
    with HazardRegister(seeded.url) as register:
        report = register.verify_audit()
    assert report.head_hash is not None
    # The desk's records: the place, the leader and experts, instruments with serial and
    # calibration due, the one past due marked; the finding's clause; the head to keep.
    for expected in (
        "检查记录",
        OURS,
        "罐区及泵房",
        "赵局长",
        "李专家",
        "周专家",
        "SN2023-001",
        "SN-0099",
        "已过检定有效期",
        "5.5.2(2)",
        report.head_hash,
        f"--anchor{report.head_seq}:{report.head_hash}",
    ):
        assert expected in flat, expected
    assert expert.http.get(f"/api/inspections/{inspection}/report.pdf").status_code == 200

    # The command writes the same paper from the same records.
    cli_pdf = tmp_path / "inspection.pdf"
    database = seeded.url.removeprefix("sqlite:///")
    where = ["--db", database] if seeded.url.startswith("sqlite") else ["--url", seeded.url]
    readings = ["--readings", str(seeded.readings)]
    status = main(
        ["report", "inspection", str(inspection), *where, *readings, "--pdf", str(cli_pdf)]
    )
    capsys.readouterr()
    assert status == 0
    # The same text but for the minute it was made (printed in the footer note).
    made = re.compile(r"\d{4}-\d{2}-\d{2}\d{2}:\d{2}（Asia/Shanghai）")
    assert made.sub("", _text(cli_pdf)) == made.sub("", flat)

    # Another enterprise's account gets nothing; signed out, nothing either.
    assert login("theirs").http.get(f"/inspections/{inspection}/report.pdf").status_code == 404
    expert.http.cookies.clear()
    signed_out = expert.http.get(f"/api/inspections/{inspection}/report.pdf")
    assert signed_out.status_code == 401


def test_the_desk_audit_re_reads_the_evidence_readings(seeded: Seeded, login: Login) -> None:
    officer = login("officer")
    audit = officer.http.get("/api/audit").json()
    assert audit["ok"], audit["problems"]
    assert (audit["evidence_checked"], audit["readings_unchecked"]) == (2, 0)
    assert len(audit["head_hash"]) == 64
    # The excursion's 60 %LEL readings lowered behind everyone's back (t = 4, 5, 6 s).
    with sqlite3.connect(seeded.readings) as connection:
        connection.execute("UPDATE readings SET value = 6.0 WHERE value = 60.0")
    audit = officer.http.get("/api/audit").json()
    assert not audit["ok"]
    assert (
        f"hazard {seeded.ours}, evidence 1 (audit entry 1): its evidence readings changed: "
        "readings were edited (still 10); maximum 60.0 → 10.0, minimum 10.0 → 6.0"
    ) in audit["problems"]
    page = officer.http.get(f"/hazards/{seeded.ours}").text
    assert "已被篡改" in page
    assert "its evidence readings changed" in page
