"""People and roles: sessions, CSRF, rate limiting, and enterprise isolation."""

from __future__ import annotations

from collections.abc import Callable

import httpx
from fastapi.testclient import TestClient

from hazmon.store.hazards import HazardRegister
from hazmon.web.app import DeskSettings, create_app

from .conftest import OURS, PASSWORD, THEIRS, Client, Seeded

Login = Callable[[str], Client]


def test_enterprise_sees_and_changes_only_its_own_hazards(seeded: Seeded, login: Login) -> None:
    ours = login("ours")
    listing = ours.http.get("/api/hazards").json()
    assert [row["id"] for row in listing["hazards"]] == [seeded.ours]
    assert listing["total"] == 1
    # Even naming the other enterprise in the filter shows nothing of it.
    assert ours.http.get("/api/hazards", params={"enterprise": THEIRS}).json()["total"] == 0
    assert ours.http.get(f"/api/hazards/{seeded.theirs}").status_code == 404
    assert ours.http.get(f"/hazards/{seeded.theirs}").status_code == 404
    assert ours.http.get(f"/api/hazards/{seeded.theirs}/chart").status_code == 404
    page = ours.http.get("/hazards").text
    assert OURS in page
    assert THEIRS not in page
    export = ours.http.get("/hazards/export.csv").content.decode("utf-8-sig")
    assert OURS in export
    assert THEIRS not in export
    assert THEIRS not in ours.http.get("/stats").text

    # The other enterprise's hazard, once confirmed, cannot take a plan or a comment from us.
    officer = login("officer")
    assert (
        officer.api(f"/api/hazards/{seeded.theirs}/confirm", {"grade": "major"}).status_code == 200
    )
    refused = ours.api(f"/api/hazards/{seeded.theirs}/plan", {"measures": "改"})
    assert refused.status_code == 404
    assert ours.post(f"/hazards/{seeded.theirs}/comment", {"text": "x"}).status_code == 404
    upload = ours.http.post(
        f"/hazards/{seeded.theirs}/attach",
        data={"csrf_token": ours.csrf},
        files={"file": ("a.txt", b"x", "text/plain")},
    )
    assert upload.status_code == 404
    with HazardRegister(seeded.url) as register:
        record = register.hazard(seeded.theirs)
        assert record["plan_measures"] is None
        assert [entry.action for entry in register.history(seeded.theirs)] == [
            "created",
            "confirmed",
        ]
    # Our own hazard takes our plan.
    assert officer.api(f"/api/hazards/{seeded.ours}/confirm", {"grade": "major"}).status_code == 200
    assert (
        ours.api(f"/api/hazards/{seeded.ours}/plan", {"measures": "更换法兰垫片"}).status_code
        == 200
    )


def test_enterprise_cannot_take_the_departments_steps(seeded: Seeded, login: Login) -> None:
    ours = login("ours")
    assert ours.api(f"/api/hazards/{seeded.ours}/confirm", {"grade": "general"}).status_code == 403
    assert ours.api(f"/api/hazards/{seeded.ours}/dismiss", {"reason": "误报"}).status_code == 403
    assert ours.api("/api/hazards", {"finding": "x"}).status_code == 403
    assert ours.http.get("/api/audit").status_code == 403
    with HazardRegister(seeded.url) as register:
        assert register.hazard(seeded.ours)["status"] == "pending_review"


def test_every_post_needs_the_sessions_csrf_token(seeded: Seeded, login: Login) -> None:
    officer = login("officer")
    without = officer.http.post(
        f"/hazards/{seeded.ours}/confirm", data={"grade": "major"}, follow_redirects=False
    )
    assert without.status_code == 403
    forged = officer.http.post(
        f"/api/hazards/{seeded.ours}/confirm",
        json={"grade": "major"},
        headers={"X-CSRF-Token": "not-the-token"},
    )
    assert forged.status_code == 403
    # Another session's token does not do either.
    other = login("admin")
    assert (
        officer.http.post(
            f"/api/hazards/{seeded.ours}/confirm",
            json={"grade": "major"},
            headers={"X-CSRF-Token": other.csrf},
        ).status_code
        == 403
    )
    with HazardRegister(seeded.url) as register:
        assert register.hazard(seeded.ours)["status"] == "pending_review"
    done = officer.post(f"/hazards/{seeded.ours}/confirm", {"grade": "major"})
    assert done.status_code == 303


def _session_cookie(answer: httpx.Response) -> str:
    return next(
        value
        for name, value in answer.headers.multi_items()
        if name == "set-cookie" and value.startswith("hazmon_session=")
    ).lower()


def test_login_form_sets_a_strict_session_cookie(seeded_sqlite: Seeded) -> None:
    app = create_app(DeskSettings(seeded_sqlite.url, seeded_sqlite.readings))
    http = TestClient(app)
    form = http.get("/login")
    token = form.cookies["hazmon_login"]
    assert f'value="{token}"' in form.text
    answer = http.post(
        "/login",
        data={"username": "officer", "password": PASSWORD, "csrf_token": token},
        follow_redirects=False,
    )
    assert answer.status_code == 303
    cookie = _session_cookie(answer)
    assert "httponly" in cookie
    assert "samesite=lax" in cookie
    assert "secure" not in cookie.split("; ")
    app.state.desk.close()


def test_behind_tls_the_session_cookie_is_secure(seeded_sqlite: Seeded) -> None:
    app = create_app(DeskSettings(seeded_sqlite.url, seeded_sqlite.readings, secure_cookies=True))
    answer = TestClient(app).post("/api/login", json={"username": "officer", "password": PASSWORD})
    cookie = _session_cookie(answer)
    assert "secure" in cookie.split("; ")
    assert "httponly" in cookie
    assert "samesite=lax" in cookie
    app.state.desk.close()


def test_login_without_the_forms_token_is_refused(seeded_sqlite: Seeded) -> None:
    app = create_app(DeskSettings(seeded_sqlite.url, seeded_sqlite.readings))
    http = TestClient(app)
    http.get("/login")
    answer = http.post(
        "/login", data={"username": "officer", "password": PASSWORD}, follow_redirects=False
    )
    assert answer.status_code == 403
    assert "hazmon_session" not in answer.cookies
    app.state.desk.close()


def test_failed_sign_ins_are_rate_limited(seeded_sqlite: Seeded) -> None:
    app = create_app(DeskSettings(seeded_sqlite.url, seeded_sqlite.readings))
    http = TestClient(app)
    for _ in range(5):
        wrong = http.post("/api/login", json={"username": "officer", "password": "wrong-password"})
        assert wrong.status_code == 401
    # The right password is refused too while the name is blocked.
    blocked = http.post("/api/login", json={"username": "officer", "password": PASSWORD})
    assert blocked.status_code == 429
    # Another client address is blocked for this name as well; others still sign in.
    assert (
        http.post("/api/login", json={"username": "expert", "password": PASSWORD}).status_code
        == 429
    )
    app.state.desk.close()


def test_pages_without_a_session_send_to_sign_in(seeded_sqlite: Seeded) -> None:
    app = create_app(DeskSettings(seeded_sqlite.url, seeded_sqlite.readings))
    http = TestClient(app)
    page = http.get("/hazards", follow_redirects=False)
    assert page.status_code == 303
    assert page.headers["location"].startswith("/login")
    assert http.get("/api/hazards").status_code == 401
    forged = http.get("/api/hazards", cookies={"hazmon_session": "eyJ1aWQiOjF9.forged"})
    assert forged.status_code == 401
    app.state.desk.close()


def test_a_disabled_account_cannot_sign_in(seeded_sqlite: Seeded) -> None:
    from hazmon.store.accounts import Accounts

    app = create_app(DeskSettings(seeded_sqlite.url, seeded_sqlite.readings))
    http = TestClient(app)
    signed = http.post("/api/login", json={"username": "expert", "password": PASSWORD})
    assert signed.status_code == 200
    Accounts(app.state.desk.register.engine).set_disabled("expert")
    # The session already issued stops working too.
    assert http.get("/api/hazards").status_code == 401
    again = http.post("/api/login", json={"username": "expert", "password": PASSWORD})
    assert again.status_code == 401
    app.state.desk.close()
