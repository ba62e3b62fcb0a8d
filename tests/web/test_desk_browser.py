"""The desk in a real browser: Debian's Chromium driven by Playwright (sync API).

A major hazard from a demo run is walked through confirmation, the five-in-place plan,
rectification, verification and the audit check, in Chinese, as the officer, the
enterprise and the expert would; another test proves an enterprise sees only its own.
Screenshots of each page are saved under the test's artifacts folder (printed).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hazmon.store.accounts import Accounts
from hazmon.store.hazards import HazardContext, HazardRegister

CHROMIUM = "/usr/bin/chromium"
PASSWORD = "browser-pass-1"
OTHER = "乙化工有限公司"
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

pytestmark = pytest.mark.slow

if not Path(CHROMIUM).exists():
    pytest.skip(
        f"{CHROMIUM} is missing (apt-get install chromium fonts-noto-cjk)", allow_module_level=True
    )
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_for_port(port: int, process: subprocess.Popen[bytes], deadline_s: float = 60) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"hazmon serve exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"hazmon serve did not listen on port {port} in {deadline_s} s")


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = Path(os.environ.get("HAZMON_ARTIFACTS") or tmp_path_factory.mktemp("desk-screens"))
    folder.mkdir(parents=True, exist_ok=True)
    print(f"\nscreenshots of the desk: {folder}")
    return folder


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A database written by a real demo run, with accounts and a second enterprise."""
    database = tmp_path_factory.mktemp("desk-demo") / "demo.db"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "hazmon.acquisition.cli",
            "demo",
            "--duration",
            "20",
            "--db",
            str(database),
            "--no-live",
        ],
        check=True,
        capture_output=True,
        timeout=180,
    )
    with HazardRegister(f"sqlite:///{database}") as register:
        hazards = register.hazards()
        assert hazards, "the demo run raised no hazard"
        enterprise = hazards[0]["enterprise"]
        register.add_hazard(
            HazardContext(enterprise=OTHER, location="乙厂配电室"),
            "配电柜前未铺绝缘垫",
            rule_id="manual",
            standard="GB 50054-2011",
            clause="4.2.3",
            actor="test",
        )
        accounts = Accounts(register.engine)
        accounts.add("officer", PASSWORD, role="officer", display_name="王科长")
        accounts.add("expert", PASSWORD, role="expert", display_name="李专家")
        accounts.add(
            "ent", PASSWORD, role="enterprise", display_name="甲安全员", enterprise=enterprise
        )
        accounts.add(
            "other", PASSWORD, role="enterprise", display_name="乙安全员", enterprise=OTHER
        )
    return database, enterprise


@pytest.fixture(scope="module")
def server(demo_db: tuple[Path, str]) -> Iterator[str]:
    port = _free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "hazmon.acquisition.cli",
            "serve",
            "--db",
            str(demo_db[0]),
            "--port",
            str(port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        _wait_for_port(port, process)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        yield chromium
        chromium.close()


def _sign_in(browser: object, base: str, username: str):  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport={"width": 1360, "height": 900}, locale="zh-CN")  # type: ignore[attr-defined]
    page = context.new_page()
    page.goto(f"{base}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("#login button[type=submit]")
    page.wait_for_url(f"{base}/hazards")
    return page


def test_a_major_hazard_walks_to_a_verified_close_in_the_browser(
    server: str, browser: object, artifacts: Path, demo_db: tuple[Path, str]
) -> None:
    database, enterprise = demo_db
    with HazardRegister(f"sqlite:///{database}") as register:
        hazard = next(
            h for h in register.hazards() if h["enterprise"] == enterprise and h["evidence"]
        )
    hazard_id = hazard["id"]
    url = f"{server}/hazards/{hazard_id}"

    officer = _sign_in(browser, server, "officer")
    assert officer.locator("#hazard-list").is_visible()
    assert "待确认" in officer.inner_text("#counts")
    officer.screenshot(path=str(artifacts / "01-hazard-list-officer.png"), full_page=True)
    officer.goto(url)
    officer.wait_for_selector("#charts canvas")
    assert "达到" in officer.inner_text("#finding")
    officer.screenshot(path=str(artifacts / "02-hazard-pending.png"), full_page=True)
    officer.select_option("#form-confirm select[name=grade]", "major")
    officer.fill("#form-confirm input[name=deadline]", "2099-12-31")
    officer.click("#form-confirm button[type=submit]")
    officer.wait_for_selector("#grade")
    assert officer.inner_text("#grade") == "重大隐患"
    assert officer.inner_text("#status") == "已确认"

    company = _sign_in(browser, server, "ent")
    company.goto(url)
    assert "五落实整改方案" in company.inner_text("#form-plan")
    company.fill("#form-plan input[name=responsible_unit]", "设备部")
    company.fill("#form-plan input[name=responsible_person]", "张工")
    company.fill("#form-plan textarea[name=measures]", "更换泄漏法兰垫片，加装可燃气体报警联锁")
    company.fill("#form-plan input[name=funds]", "3万元")
    company.fill("#form-plan input[name=deadline]", "2099-12-31")
    company.fill("#form-plan textarea[name=contingency]", "罐区泄漏专项应急预案")
    company.screenshot(path=str(artifacts / "03-five-in-place-plan.png"), full_page=True)
    company.click("#form-plan button[type=submit]")
    company.wait_for_selector("#message")
    assert company.inner_text("#status") == "整改中"
    company.set_input_files(
        "#form-attach input[name=file]",
        files=[{"name": "整改照片.png", "mimeType": "image/png", "buffer": b"\x89PNG photo"}],
    )
    company.select_option("#form-attach select[name=purpose]", "rectification")
    company.click("#form-attach button[type=submit]")
    company.wait_for_selector("#attachments .hash")
    company.fill("#form-rectified textarea[name=note]", "已更换垫片，复测 0 %LEL")
    company.click("#form-rectified button[type=submit]")
    company.wait_for_selector("#message")
    assert company.inner_text("#status") == "已整改"

    expert = _sign_in(browser, server, "expert")
    expert.goto(url)
    expert.fill("#form-verify input[name=expert]", "李专家")
    expert.fill("#form-verify textarea[name=note]", "复查合格，同意销号")
    expert.click("#form-verify button[type=submit]")
    expert.wait_for_selector("#verified-by")
    assert expert.inner_text("#status") == "复查销号"
    assert "完整" in expert.inner_text("#audit")
    history = expert.inner_text("#history")
    for who in ("王科长 (officer)", "甲安全员 (ours)".replace("ours", "ent"), "李专家 (expert)"):
        assert who in history
    expert.wait_for_selector("#charts canvas")
    expert.screenshot(path=str(artifacts / "04-hazard-verified.png"), full_page=True)
    expert.goto(f"{server}/stats")
    expert.screenshot(path=str(artifacts / "05-statistics.png"), full_page=True)
    expert.goto(f"{server}/live")
    expert.wait_for_selector("#readings")
    expert.screenshot(path=str(artifacts / "06-live.png"), full_page=True)
    for page in (officer, company, expert):
        page.context.close()


def test_an_enterprise_sees_only_its_own_hazards_in_the_browser(
    server: str, browser: object, artifacts: Path, demo_db: tuple[Path, str]
) -> None:
    database, enterprise = demo_db
    with HazardRegister(f"sqlite:///{database}") as register:
        ours = [h["id"] for h in register.hazards() if h["enterprise"] == OTHER]
        theirs = [h["id"] for h in register.hazards() if h["enterprise"] != OTHER]
    page = _sign_in(browser, server, "other")
    rows = page.locator("#hazard-list tbody tr")
    assert rows.count() == len(ours) == 1
    listed = page.inner_text("#hazard-list")
    assert OTHER in listed
    assert enterprise not in listed
    page.screenshot(path=str(artifacts / "07-enterprise-list.png"), full_page=True)
    answer = page.goto(f"{server}/hazards/{theirs[0]}")
    assert answer is not None
    assert answer.status == 404
    assert "记录不存在" in page.inner_text("#error")
    page.screenshot(path=str(artifacts / "08-enterprise-refused.png"), full_page=True)
    api = page.request.get(f"{server}/api/hazards/{theirs[0]}")
    assert api.status == 404
    page.context.close()
