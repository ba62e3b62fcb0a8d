"""The desk's ASGI application: pages (Jinja2, htmx) and their JSON API (FastAPI).

Every page ``/x`` has its API at ``/api/x`` answering the same data as JSON; the
OpenAPI description is at ``/api/openapi.json`` and browsable at ``/api/docs``.
Pages and API share one session cookie and one CSRF token per session.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import io
import secrets
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from fastapi import FastAPI, Request, UploadFile
from fastapi.encoders import jsonable_encoder
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from sqlalchemy import select
from sqlalchemy.engine import make_url
from starlette.datastructures import FormData

from hazmon.analysis.readings import Channel
from hazmon.config.i18n import (
    DEFAULT_LOCALE,
    LOCALES,
    context_translator,
    local_time,
    quality_words,
    translator,
)
from hazmon.config.numbers import format_number
from hazmon.store.accounts import Accounts, User
from hazmon.store.attachments import PURPOSES, Annotations
from hazmon.store.evidence import describe_evidence
from hazmon.store.hazard_list import (
    SORTABLE,
    HazardFilter,
    counts_by_status,
    enterprises,
    hazard_page,
    statistics,
)
from hazmon.store.hazard_list import (
    findings_in_words as words_for_rows,
)
from hazmon.store.hazards import (
    DEFAULT_TIME_ZONE,
    GRADES,
    REFERRAL_KINDS,
    SOURCES,
    STATUSES,
    AuditEntry,
    AuditReport,
    HazardContext,
    HazardError,
    HazardNotFound,
    HazardRegister,
    IllegalTransition,
    Inspection,
    Instrument,
    RectificationPlan,
    end_of_local_day,
    events_table,
    missing_plan_items,
)
from hazmon.store.inspections import Inspections
from hazmon.store.timeseries import Window
from hazmon.store.timeseries.sqlite import SqliteTimeSeries
from hazmon.web.chart import chart_data, chart_from_aggregates, pixel_interval
from hazmon.web.security import (
    LOGIN_COOKIE,
    SESSION_COOKIE,
    SESSION_MAX_AGE,
    LoginLimiter,
    Sessions,
    same_token,
)

_HERE = Path(__file__).parent
EVERYONE = frozenset({"expert", "officer", "enterprise", "admin"})
#: Who may take each workflow step (an enterprise account only on its own hazards).
PERMISSIONS: dict[str, frozenset[str]] = {
    "confirm": frozenset({"officer", "admin"}),
    "dismiss": frozenset({"officer", "admin"}),
    "refer": frozenset({"officer", "admin"}),
    "plan": frozenset({"enterprise", "officer", "admin"}),
    "rectified": frozenset({"enterprise", "officer", "admin"}),
    "verify": frozenset({"expert", "admin"}),
    "close_on_spot": frozenset({"expert", "officer", "admin"}),
    "comment": EVERYONE,
    "attach": EVERYONE,
    "record": frozenset({"expert", "officer", "admin"}),
    "acknowledge": frozenset({"expert", "officer", "admin"}),
    # Live readings are of every site the store holds, not of one enterprise.
    "live": frozenset({"expert", "officer", "admin"}),
}
PER_PAGE = 50
EXPORT_LIMIT = 100_000


@dataclass(frozen=True, slots=True)
class DeskSettings:
    """How the desk runs.

    Parameters
    ----------
    register_url
        SQLAlchemy URL of the hazard register (``sqlite:///hazmon.db`` or PostgreSQL).
    readings
        The SQLite time-series file the evidence charts and live page read, or None.
    time_zone
        The site's zone: times are shown and entered in it.
    secure_cookies
        Mark the session cookie Secure (the desk is behind TLS).
    secret
        Signs session cookies; a random one per start when None (sessions end then).
    """

    register_url: str
    readings: Path | None = None
    time_zone: str = DEFAULT_TIME_ZONE
    secure_cookies: bool = False
    secret: str | None = None


class NotSignedIn(Exception):
    """The request has no valid session."""


class Refused(Exception):
    """A request the user may not make, or that the register refused."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class Desk:
    """What every request shares: the register, accounts, store and templates."""

    def __init__(self, settings: DeskSettings) -> None:
        self.settings = settings
        self.zone = ZoneInfo(settings.time_zone)
        self.register = HazardRegister(settings.register_url)
        self.register.open()
        self.accounts = Accounts(self.register.engine)
        self.annotations = Annotations(self.register)
        self.inspections = Inspections(self.register)
        self.store: SqliteTimeSeries | None = None
        if settings.readings is not None and settings.readings.exists():
            self.store = SqliteTimeSeries(settings.readings)
            self.store.open()
        # One sqlite3 connection is shared by the worker threads: one at a time.
        self.store_lock = threading.Lock()
        self.sessions = Sessions(settings.secret or secrets.token_urlsafe(32))
        self.limiter = LoginLimiter()
        self.templates = Jinja2Templates(directory=str(_HERE / "templates"))
        self.templates.env.filters["number"] = format_number

    def close(self) -> None:
        if self.store is not None:
            self.store.close()
        self.register.close()

    # ------------------------------------------------------------ helpers

    def local(self, moment: dt.datetime | int | None, seconds: bool = False) -> str:
        return local_time(moment, self.settings.time_zone, seconds=seconds)

    def parse_deadline(self, text: str | None) -> dt.datetime | None:
        """A date (ends 23:59 local) or a local date and time, as UTC; None when blank."""
        text = (text or "").strip()
        if not text:
            return None
        try:
            if len(text) == 10:
                return end_of_local_day(dt.date.fromisoformat(text), self.settings.time_zone)
            moment = dt.datetime.fromisoformat(text)
        except ValueError:
            raise Refused(400, f"{text!r}: give a date as YYYY-MM-DD") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=self.zone)
        return moment.astimezone(dt.UTC)

    def parse_day(self, text: str | None, what: str) -> dt.date | None:
        text = (text or "").strip()
        if not text:
            return None
        try:
            return dt.date.fromisoformat(text)
        except ValueError:
            raise Refused(400, f"{what} {text!r}: give a date as YYYY-MM-DD") from None

    def local_day_start(self, day: dt.date) -> dt.datetime:
        return dt.datetime.combine(day, dt.time(0, 0), tzinfo=self.zone).astimezone(dt.UTC)


# ---------------------------------------------------------------- request state


def _desk(request: Request) -> Desk:
    desk: Desk = request.app.state.desk
    return desk


def _is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def _register_option(url: str) -> str:
    """How ``hazmon hazards verify-audit`` is told this register (printed on papers),
    with no password."""
    parsed = make_url(url)
    if parsed.drivername.startswith("sqlite") and parsed.database:
        return f"--db {parsed.database}"
    return f"--url {parsed.render_as_string(hide_password=True)}"


def _session_user(request: Request) -> tuple[User, str]:
    desk = _desk(request)
    session = desk.sessions.read(request.cookies.get(SESSION_COOKIE))
    if session is None:
        raise NotSignedIn
    user = desk.accounts.by_id(int(session["uid"]))
    if user is None or user.disabled:
        raise NotSignedIn
    return user, str(session["csrf"])


def _allow(user: User, action: str) -> None:
    if user.role not in PERMISSIONS[action]:
        raise Refused(403, "You may not do this.")


async def _form(request: Request, csrf: str) -> tuple[dict[str, Any], FormData | None]:
    """The POSTed fields (form or JSON) after checking the CSRF token."""
    content_type = request.headers.get("content-type", "")
    form: FormData | None = None
    if content_type.startswith("application/json"):
        body = await request.json()
        fields: dict[str, Any] = body if isinstance(body, dict) else {}
    else:
        form = await request.form()
        fields = {key: value for key, value in form.items() if isinstance(value, str)}
    given = request.headers.get("x-csrf-token") or fields.get("csrf_token")
    if not same_token(csrf, given):
        raise Refused(403, "The form has expired; reload the page and try again.")
    return fields, form


def _json(data: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(jsonable_encoder(data), status_code=status)


def _text(fields: dict[str, Any], key: str) -> str:
    value = fields.get(key)
    return "" if value is None else str(value).strip()


# ---------------------------------------------------------------- domain steps


def _hazard_for(desk: Desk, user: User, hazard_id: int) -> dict[str, Any]:
    """The hazard record if this user may see it; an enterprise sees only its own."""
    try:
        record = desk.register.hazard(hazard_id)
    except HazardNotFound:
        raise Refused(404, "No such record.") from None
    if user.role == "enterprise" and record["enterprise"] != user.enterprise:
        # The same answer as a missing record, so ids of others do not leak.
        raise Refused(404, "No such record.")
    return record


def _filter(desk: Desk, user: User, params: dict[str, str]) -> HazardFilter:
    def pick(key: str, allowed: tuple[str, ...]) -> str | None:
        value = params.get(key) or None
        if value is not None and value not in allowed:
            raise Refused(400, f"{key} {value!r}: give one of {', '.join(allowed)}")
        return value

    inspection = params.get("inspection") or None
    due = params.get("due_within") or None
    created_from = desk.parse_day(params.get("from"), "from")
    created_to = desk.parse_day(params.get("to"), "to")
    try:
        inspection_id = int(inspection) if inspection else None
        due_days = int(due) if due else None
    except ValueError:
        raise Refused(400, "inspection and due_within are whole numbers") from None
    return HazardFilter(
        status=pick("status", STATUSES),
        grade=pick("grade", GRADES),
        source=pick("source", SOURCES),
        enterprise=params.get("enterprise") or None,
        inspection_id=inspection_id,
        overdue=params.get("overdue") in ("1", "true", "on"),
        created_from=desk.local_day_start(created_from) if created_from else None,
        created_to=(
            desk.local_day_start(created_to + dt.timedelta(days=1)) if created_to else None
        ),
        enterprise_only=user.enterprise if user.role == "enterprise" else None,
        due_within=dt.timedelta(days=due_days) if due_days is not None else None,
    )


def _list(
    desk: Desk, user: User, params: dict[str, str], gettext: Callable[[str], str]
) -> dict[str, Any]:
    where = _filter(desk, user, params)
    sort = params.get("sort") or "id"
    if sort not in SORTABLE:
        raise Refused(400, f"sort {sort!r}: give one of {', '.join(SORTABLE)}")
    descending = params.get("order", "desc") != "asc"
    try:
        page = max(int(params.get("page") or 1), 1)
    except ValueError:
        page = 1
    rows, total = hazard_page(
        desk.register.engine, where, sort=sort, descending=descending, page=page, per_page=PER_PAGE
    )
    findings_in_words(desk, rows, gettext)
    return {
        "hazards": rows,
        "total": total,
        "page": page,
        "pages": max((total + PER_PAGE - 1) // PER_PAGE, 1),
        "per_page": PER_PAGE,
        "counts": counts_by_status(desk.register.engine, where),
        "filters": {k: v for k, v in params.items() if v and k != "page"},
    }


def findings_in_words(
    desk: Desk, rows: list[dict[str, Any]], gettext: Callable[[str], str]
) -> None:
    """Set ``finding_in_words`` on each row, times in the site's zone (see
    :func:`hazmon.store.hazard_list.findings_in_words`)."""
    words_for_rows(desk.register.engine, rows, gettext, lambda ns: desk.local(ns, seconds=True))


def finding_in_words(desk: Desk, record: dict[str, Any], gettext: Callable[[str], str]) -> str:
    """The finding of one hazard in words (see :func:`findings_in_words`)."""
    rows = [{"id": record["id"], "finding": record["finding"]}]
    findings_in_words(desk, rows, gettext)
    return str(rows[0]["finding_in_words"])


def _plain_detail(
    desk: Desk, entry: AuditEntry, gettext: Callable[[str], str], finding_words: str
) -> dict[str, Any]:
    """An audit entry's detail in the reader's words: UTC times as local times, the
    evidence and event in words; the ``created`` entry's finding (the analysis's stored
    English) as :func:`finding_in_words` puts it. Display only: the stored detail, which
    the audit chain hashes, is not changed."""
    shown = {}
    for key, value in entry.detail.items():
        if key == "evidence":
            value = describe_evidence(value, gettext)
        elif key == "event_id" and value is not None:
            value = gettext("event {id}").format(id=value)
        elif key == "finding" and entry.action == "created" and entry.detail.get("event_id"):
            value = finding_words
        elif isinstance(value, str) and len(value) >= 19 and value[4] == "-" and "T" in value:
            with contextlib.suppress(ValueError):
                value = desk.local(dt.datetime.fromisoformat(value))
        shown[key] = value
    return shown


def _detail(
    desk: Desk, user: User, hazard_id: int, gettext: Callable[[str], str]
) -> dict[str, Any]:
    record = _hazard_for(desk, user, hazard_id)
    audit = _verify_audit(desk)
    words = finding_in_words(desk, record, gettext)
    return {
        "hazard": record,
        "finding_in_words": words,
        "missing_plan_items": missing_plan_items(record) if record["grade"] == "major" else [],
        "history": [
            asdict(entry)
            | {
                "at_local": desk.local(dt.datetime.fromisoformat(entry.at), seconds=True),
                "shown": _plain_detail(desk, entry, gettext, words),
            }
            for entry in desk.register.history(hazard_id)
        ],
        "comments": desk.annotations.comments(hazard_id),
        "attachments": [asdict(item) for item in desk.annotations.attachments(hazard_id)],
        "audit": {"ok": audit.ok, "entries": audit.entries, "problems": audit.problems},
    }


def _verify_audit(desk: Desk) -> AuditReport:
    """The chain checked end to end, the evidence readings re-read from the desk's store
    (or the register's own file) under the store's lock."""
    with desk.store_lock:
        return desk.register.verify_audit(readings=desk.store)


def _chart(desk: Desk, user: User, hazard_id: int, width: int) -> list[dict[str, Any]]:
    record = _hazard_for(desk, user, hazard_id)
    charts = []
    for link in record["evidence"]:
        event = None
        if link["event_id"] is not None:
            with desk.register.engine.connect() as connection:
                event = connection.execute(
                    select(events_table).where(events_table.c.id == link["event_id"])
                ).first()
        channel = Channel(
            site=link["site"],
            device=link["device"],
            quantity=link["quantity"],
            unit=event.unit if event is not None else "",
            substance=link["substance"],
            name=link.get("name") or "",
        )
        limit = event.limit_value if event is not None else None
        min_level = event.level if event is not None else 2
        start, end = int(link["start_ts"]), int(link["end_ts"])
        width = int(min(max(width, 50), 4000))
        if desk.store is None:
            data = chart_data(Window.empty(), start, end, width, limit=limit, min_level=min_level)
        else:
            # One row per pixel column from the store (min, max, level, quality), so the
            # readings are summarised where they live.
            interval = pixel_interval(start, end, width)
            with desk.store_lock:
                aggregates = desk.store.aggregate(channel, start, end, interval)
            data = chart_from_aggregates(aggregates, interval, limit=limit, min_level=min_level)
        data.update(
            device=channel.device,
            quantity=channel.quantity,
            unit=channel.unit,
            start=link["start_ts"] / 1e9,
            end=link["end_ts"] / 1e9,
        )
        charts.append(data)
    return charts


def _act(desk: Desk, user: User, hazard_id: int, action: str, fields: dict[str, Any]) -> str:
    """Take one workflow step; return a message (msgid) for the page."""
    if action not in PERMISSIONS or action in ("record", "acknowledge", "attach"):
        raise Refused(404, "No such record.")
    record = _hazard_for(desk, user, hazard_id)
    _allow(user, action)
    actor = user.actor
    register = desk.register
    if action == "confirm":
        register.confirm(
            hazard_id,
            _text(fields, "grade"),
            actor=actor,
            deadline=desk.parse_deadline(_text(fields, "deadline")),
            responsible_unit=_text(fields, "responsible_unit") or None,
            responsible_person=_text(fields, "responsible_person") or None,
        )
    elif action == "dismiss":
        register.dismiss(hazard_id, _text(fields, "reason"), actor=actor)
    elif action == "plan":
        plan = RectificationPlan(
            responsible_unit=_text(fields, "responsible_unit") or None,
            responsible_person=_text(fields, "responsible_person") or None,
            measures=_text(fields, "measures") or None,
            funds=_text(fields, "funds") or None,
            deadline=desk.parse_deadline(_text(fields, "deadline")),
            contingency=_text(fields, "contingency") or None,
        )
        after, _missing = register.set_plan(hazard_id, plan, actor=actor)
        if after["status"] == "rectifying" and record["status"] != "rectifying":
            return "The plan's five items are in place; the hazard is rectifying."
    elif action == "rectified":
        register.mark_rectified(hazard_id, _text(fields, "note"), actor=actor)
    elif action == "verify":
        register.verify(
            hazard_id,
            _text(fields, "expert") or user.display_name,
            actor=actor,
            note=_text(fields, "note"),
        )
    elif action == "close_on_spot":
        register.close_on_spot(hazard_id, _text(fields, "note"), actor=actor)
    elif action == "refer":
        register.refer(
            hazard_id,
            _text(fields, "kind"),
            _text(fields, "department"),
            actor=actor,
            reference=_text(fields, "reference"),
            note=_text(fields, "note"),
        )
    elif action == "comment":
        desk.annotations.add_comment(hazard_id, _text(fields, "text"), actor=actor)
    return "Done."


def _inspection_from(desk: Desk, fields: dict[str, Any]) -> tuple[Inspection, str]:
    day = desk.parse_day(_text(fields, "date"), "date")
    if day is None:
        raise Refused(400, "give the inspection's date (YYYY-MM-DD)")
    enterprise = _text(fields, "enterprise")
    leader = _text(fields, "leader")
    if not enterprise or not leader:
        raise Refused(400, "give the enterprise and the leader")
    experts_field = fields.get("experts", "")
    experts = (
        [str(name).strip() for name in experts_field]
        if isinstance(experts_field, list)
        else [line.strip() for line in str(experts_field).splitlines()]
    )
    instruments = []
    instruments_field = fields.get("instruments", "")
    lines: list[Any] = (
        instruments_field
        if isinstance(instruments_field, list)
        else [line for line in str(instruments_field).splitlines() if line.strip()]
    )
    for number, line in enumerate(lines, start=1):
        if isinstance(line, dict):
            parts = [
                str(line.get(key, "")) for key in ("device", "model", "serial", "calibration_due")
            ]
        else:
            parts = [part.strip() for part in str(line).replace("，", ",").split(",")]
        if len(parts) != 4:
            raise Refused(
                400,
                f"instrument line {number} {line!r}: give device, model, serial, "
                "calibration due (YYYY-MM-DD)",
            )
        due = desk.parse_day(parts[3], f"instrument line {number} calibration due")
        assert due is not None
        instruments.append(Instrument(parts[0], parts[1], parts[2], due))
    source = _text(fields, "source") or "supervision_inspection"
    if source not in SOURCES:
        raise Refused(400, f"source {source!r}: give one of {', '.join(SOURCES)}")
    inspection = Inspection(
        date=day,
        enterprise=enterprise,
        leader=leader,
        experts=tuple(name for name in experts if name),
        instruments=tuple(instruments),
        source=source,
    )
    return inspection, _text(fields, "location")


def _inspection_detail(desk: Desk, user: User, inspection_id: int) -> dict[str, Any]:
    try:
        inspection, location = desk.inspections.get(inspection_id)
    except HazardNotFound:
        raise Refused(404, "No such record.") from None
    if user.role == "enterprise" and inspection.enterprise != user.enterprise:
        raise Refused(404, "No such record.")
    past = inspection.instruments_past_calibration()
    rows, _total = hazard_page(
        desk.register.engine,
        HazardFilter(
            inspection_id=inspection_id,
            enterprise_only=user.enterprise if user.role == "enterprise" else None,
        ),
        per_page=1000,
    )
    return {
        "id": inspection_id,
        "inspection": asdict(inspection),
        "location": location,
        "instruments": [
            {**asdict(item), "past_due": item in past} for item in inspection.instruments
        ],
        "hazards": rows,
    }


def _export_rows(
    desk: Desk, rows: list[dict[str, Any]], gettext: Callable[[str], str]
) -> tuple[list[str], list[list[Any]]]:
    headers = [
        gettext(name)
        for name in (
            "No.",
            "Enterprise",
            "Location",
            "Finding",
            "Basis",
            "Grade",
            "Status",
            "Deadline",
            "Responsible unit",
            "Responsible person",
            "overdue",
            "Source",
            "Created",
        )
    ]
    body = [
        [
            row["id"],
            row["enterprise"],
            row["location"],
            row["finding_in_words"],
            f"{row['standard']} {gettext(row['clause'])}".strip(),
            gettext(row["grade"]) if row["grade"] else "",
            gettext(row["status"]),
            desk.local(row["deadline"]),
            row["responsible_unit"] or "",
            row["responsible_person"] or "",
            gettext("Yes") if row["overdue"] else gettext("No"),
            gettext(row["source"]),
            desk.local(row["created_at"]),
        ]
        for row in rows
    ]
    return headers, body


#: The health channels (``health.*``, see the service) the live page shows per device.
HEALTH_COLUMNS = (
    "health.online",
    "health.age",
    "health.polls",
    "health.errors",
    "health.store_up",
    "health.register_up",
    "health.dropped",
)


def _live(desk: Desk, user: User) -> dict[str, Any]:
    """The newest reading of each measuring channel, each device's health (its
    ``health.*`` channels as one row) and the newest alerts."""
    _allow(user, "live")
    channels: list[dict[str, Any]] = []
    devices: dict[str, dict[str, Any]] = {}
    if desk.store is not None:
        with desk.store_lock:
            rows = desk.store.connection.execute(
                "SELECT c.site, c.device, c.name, c.quantity, c.substance, c.unit, r.ts, r.value, "
                "r.quality, r.level FROM channels c JOIN readings r ON r.channel_id = c.id "
                "AND r.ts = (SELECT max(ts) FROM readings WHERE channel_id = c.id) "
                "ORDER BY c.site, c.device, c.name, c.quantity, c.substance"
            ).fetchall()
        keys = (
            "site",
            "device",
            "name",
            "quantity",
            "substance",
            "unit",
            "ts",
            "value",
            "quality",
            "level",
        )
        for row in rows:
            channel = dict(zip(keys, row, strict=True))
            if str(channel["quantity"]).startswith("health."):
                device = devices.setdefault(
                    f"{channel['site']}/{channel['device']}",
                    {"site": channel["site"], "device": channel["device"], "ts": channel["ts"]},
                )
                device[channel["quantity"]] = channel["value"]
                device["ts"] = max(device["ts"], channel["ts"])
            else:
                channels.append(channel)
    alerts = desk.annotations.recent_alerts()
    columns = [name for name in HEALTH_COLUMNS if any(name in d for d in devices.values())]
    return {
        "channels": channels,
        "devices": list(devices.values()),
        "health_columns": columns,
        "alerts": alerts,
    }


# ---------------------------------------------------------------- the app


def create_app(settings: DeskSettings) -> FastAPI:
    """The desk over ``settings``' register and store."""
    desk = Desk(settings)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        desk.close()

    app = FastAPI(
        lifespan=lifespan,
        title="hazmon desk",
        summary="The department's hazard list, inspections and rectification workflow.",
        openapi_url="/api/openapi.json",
        docs_url="/api/docs",
        redoc_url=None,
    )
    app.state.desk = desk
    app.mount(
        "/static", StaticFiles(directory=str(_HERE / "static"), follow_symlink=True), name="static"
    )

    def gettext_for(request: Request, user: User | None) -> Callable[[str], str]:
        locale = request.cookies.get("hazmon_lang") or (user.locale if user else DEFAULT_LOCALE)
        return translator(locale if locale in LOCALES else DEFAULT_LOCALE)

    def page(
        request: Request, name: str, context: dict[str, Any], status: int = 200
    ) -> HTMLResponse:
        user: User | None = context.get("user")
        gettext = gettext_for(request, user)
        locale = request.cookies.get("hazmon_lang") or (user.locale if user else DEFAULT_LOCALE)
        return desk.templates.TemplateResponse(
            request,
            name,
            {
                "_": gettext,
                "pgettext": context_translator(locale if locale in LOCALES else DEFAULT_LOCALE),
                "flags": lambda quality: quality_words(int(quality or 0), gettext),
                "local": desk.local,
                "time_zone": settings.time_zone,
                "statuses": STATUSES,
                "grades": GRADES,
                "sources": SOURCES,
                "referral_kinds": REFERRAL_KINDS,
                "purposes": PURPOSES,
                "permissions": PERMISSIONS,
                "lang": request.cookies.get("hazmon_lang")
                or (user.locale if user else DEFAULT_LOCALE),
                **context,
            },
            status_code=status,
        )

    @app.exception_handler(NotSignedIn)
    async def not_signed_in(request: Request, _error: NotSignedIn) -> Response:
        if _is_api(request):
            return JSONResponse({"detail": "sign in first (POST /api/login)"}, status_code=401)
        return RedirectResponse(f"/login?next={quote(request.url.path)}", status_code=303)

    @app.exception_handler(Refused)
    async def refused(request: Request, error: Refused) -> Response:
        try:
            user, csrf = _session_user(request)
        except NotSignedIn:
            user, csrf = None, ""
        gettext = gettext_for(request, user)
        if _is_api(request):
            return JSONResponse({"detail": gettext(error.message)}, status_code=error.status)
        return page(
            request,
            "error.html",
            {"user": user, "csrf": csrf, "message": gettext(error.message)},
            status=error.status,
        )

    @app.exception_handler(HazardError)
    async def register_refused(request: Request, error: HazardError) -> Response:
        status = 404 if isinstance(error, HazardNotFound) else 409
        try:
            user: User | None = _session_user(request)[0]
        except NotSignedIn:
            user = None
        # Translated here from the register's template and terms; Refused's own lookup
        # of the finished text then finds nothing and leaves it as it is.
        gettext = gettext_for(request, user)
        chinese = gettext("pending_review") != "pending_review"
        return await refused(request, Refused(status, error.translated(gettext, chinese=chinese)))

    # ------------------------------------------------------------ sign in and out

    @app.get("/login", response_class=HTMLResponse, include_in_schema=False)
    async def login_page(request: Request, next: str = "/hazards") -> Response:
        token = secrets.token_urlsafe(24)
        response = page(request, "login.html", {"user": None, "csrf": token, "next": next})
        response.set_cookie(
            LOGIN_COOKIE, token, httponly=True, samesite="lax", secure=_secure(request)
        )
        return response

    def _secure(request: Request) -> bool:
        return settings.secure_cookies or request.url.scheme == "https"

    def _signed_in(request: Request, user: User, response: Response) -> str:
        cookie, csrf = desk.sessions.issue(user.id)
        response.set_cookie(
            SESSION_COOKIE,
            cookie,
            max_age=SESSION_MAX_AGE,
            httponly=True,
            samesite="lax",
            secure=_secure(request),
        )
        response.delete_cookie(LOGIN_COOKIE)
        return csrf

    def _check_login(request: Request, username: str, password: str) -> User:
        client = request.client.host if request.client else "?"
        if desk.limiter.blocked(username, client):
            raise Refused(429, "Too many failed sign-ins; try again in a few minutes.")
        user = desk.accounts.authenticate(username, password)
        if user is None:
            desk.limiter.failed(username, client)
            raise Refused(401, "Wrong user name or password.")
        desk.limiter.succeeded(username)
        return user

    @app.post("/login", include_in_schema=False)
    async def login(request: Request) -> Response:
        form = await request.form()
        fields = {key: value for key, value in form.items() if isinstance(value, str)}
        if not same_token(request.cookies.get(LOGIN_COOKIE), fields.get("csrf_token")):
            raise Refused(403, "The form has expired; reload the page and try again.")
        user = _check_login(request, fields.get("username", ""), fields.get("password", ""))
        target = fields.get("next") or "/hazards"
        if not target.startswith("/") or target.startswith("//"):
            target = "/hazards"
        response = RedirectResponse(target, status_code=303)
        _signed_in(request, user, response)
        return response

    @app.post("/api/login", tags=["session"])
    async def api_login(request: Request) -> Response:
        """Sign in with ``{"username", "password"}``; answers the CSRF token for later POSTs."""
        body = await request.json()
        if not isinstance(body, dict):
            raise Refused(400, 'give {"username": ..., "password": ...}')
        user = _check_login(request, str(body.get("username", "")), str(body.get("password", "")))
        response = JSONResponse({})
        csrf = _signed_in(request, user, response)
        response.body = response.render({"csrf_token": csrf, "user": asdict(user)})
        response.headers["content-length"] = str(len(response.body))
        return response

    @app.post("/logout", include_in_schema=False)
    @app.post("/api/logout", tags=["session"])
    async def logout(request: Request) -> Response:
        _user, csrf = _session_user(request)
        await _form(request, csrf)
        response: Response = (
            JSONResponse({"signed_out": True})
            if _is_api(request)
            else RedirectResponse("/login", status_code=303)
        )
        response.delete_cookie(SESSION_COOKIE)
        return response

    @app.post("/lang", include_in_schema=False)
    async def language(request: Request) -> Response:
        user, csrf = _session_user(request)
        fields, _ = await _form(request, csrf)
        locale = _text(fields, "lang")
        if locale not in LOCALES:
            raise Refused(400, f"language {locale!r}: give one of {', '.join(LOCALES)}")
        desk.accounts.set_locale(user.username, locale)
        back = request.headers.get("referer") or "/hazards"
        response = RedirectResponse(back, status_code=303)
        response.delete_cookie("hazmon_lang")
        return response

    @app.get("/", include_in_schema=False)
    async def home() -> Response:
        return RedirectResponse("/hazards", status_code=303)

    @app.get("/api/me", tags=["session"])
    async def me(request: Request) -> dict[str, Any]:
        """The signed-in user."""
        user, csrf = _session_user(request)
        return {"user": asdict(user), "csrf_token": csrf}

    # ------------------------------------------------------------ the hazard list

    @app.get("/api/hazards", tags=["hazards"])
    async def api_hazards(request: Request) -> dict[str, Any]:
        """The hazard list: filters status, grade, source, enterprise, inspection, overdue,
        from, to (local dates), due_within (days); sort, order (asc|desc), page."""
        user, _csrf = _session_user(request)
        return _list(desk, user, dict(request.query_params), gettext_for(request, user))

    @app.get("/hazards", response_class=HTMLResponse, include_in_schema=False)
    async def hazards_page(request: Request) -> Response:
        user, csrf = _session_user(request)
        params = dict(request.query_params)
        data = _list(desk, user, params, gettext_for(request, user))
        names = (
            [user.enterprise] if user.role == "enterprise" else enterprises(desk.register.engine)
        )
        query = "&".join(f"{k}={quote(str(v))}" for k, v in data["filters"].items())
        return page(
            request,
            "hazards.html",
            {"user": user, "csrf": csrf, "enterprises": names, "query": query, **data},
        )

    @app.get("/hazards/export.{kind}", include_in_schema=False)
    @app.get("/api/hazards/export.{kind}", tags=["hazards"])
    async def export(request: Request, kind: str) -> Response:
        """What the list shows (every page) as CSV (UTF-8 with BOM) or XLSX."""
        user, _csrf = _session_user(request)
        if kind not in ("csv", "xlsx"):
            raise Refused(404, "No such record.")
        params = dict(request.query_params)
        where = _filter(desk, user, params)
        rows, _total = hazard_page(
            desk.register.engine,
            where,
            sort=params["sort"] if params.get("sort") in SORTABLE else "id",
            descending=params.get("order", "desc") != "asc",
            per_page=EXPORT_LIMIT,
        )
        gettext = gettext_for(request, user)
        findings_in_words(desk, rows, gettext)
        headers, body = _export_rows(desk, rows, gettext)
        stamp = dt.datetime.now(desk.zone).strftime("%Y%m%d-%H%M")
        if kind == "csv":
            text = io.StringIO()
            writer = csv.writer(text)
            writer.writerow(headers)
            writer.writerows(body)
            # The BOM makes Chinese-locale Excel read the file as UTF-8.
            content = text.getvalue().encode("utf-8-sig")
            media = "text/csv; charset=utf-8"
        else:
            from hazmon.acquisition.reports.workbook import write_xlsx

            buffer = io.BytesIO()
            write_xlsx(buffer, body, title=gettext("Hazards")[:31], headers=headers)
            content = buffer.getvalue()
            media = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        return Response(
            content,
            media_type=media,
            headers={"content-disposition": f'attachment; filename="hazards-{stamp}.{kind}"'},
        )

    # ------------------------------------------------------------ one hazard

    @app.get("/api/hazards/{hazard_id}", tags=["hazards"])
    async def api_hazard(request: Request, hazard_id: int) -> dict[str, Any]:
        """One hazard with its finding in words, history, comments, attachments."""
        user, _csrf = _session_user(request)
        return _detail(desk, user, hazard_id, gettext_for(request, user))

    @app.get("/api/hazards/{hazard_id}/chart", tags=["hazards"])
    async def api_chart(request: Request, hazard_id: int, width: int = 800) -> list[dict[str, Any]]:
        """Each evidence window's readings per pixel (min and max kept), limit, excursions."""
        user, _csrf = _session_user(request)
        return _chart(desk, user, hazard_id, width)

    @app.get("/hazards/new", response_class=HTMLResponse, include_in_schema=False)
    async def new_hazard_page(request: Request) -> Response:
        user, csrf = _session_user(request)
        _allow(user, "record")
        listing = desk.inspections.listing()
        return page(
            request, "hazard_new.html", {"user": user, "csrf": csrf, "inspections": listing}
        )

    @app.post("/hazards", include_in_schema=False)
    @app.post("/api/hazards", tags=["hazards"])
    async def add_hazard(request: Request) -> Response:
        """A hazard found by eye: enterprise, location, finding, standard, clause."""
        user, csrf = _session_user(request)
        fields, _ = await _form(request, csrf)
        _allow(user, "record")
        inspection = _text(fields, "inspection_id")
        source = _text(fields, "source") or "supervision_inspection"
        clause = _text(fields, "clause")
        standard = _text(fields, "standard")
        if not clause or not standard:
            raise Refused(400, "give the standard and the clause the hazard breaks")
        try:
            inspection_id = int(inspection) if inspection else None
        except ValueError:
            raise Refused(400, "inspection: give its number") from None
        hazard_id = desk.register.add_hazard(
            HazardContext(
                enterprise=_text(fields, "enterprise"),
                location=_text(fields, "location"),
                source=source,
                inspection_id=inspection_id,
            ),
            _text(fields, "finding"),
            rule_id="manual",
            standard=standard,
            clause=clause,
            actor=user.actor,
        )
        if _is_api(request):
            return JSONResponse({"id": hazard_id}, status_code=201)
        return RedirectResponse(f"/hazards/{hazard_id}", status_code=303)

    @app.get("/hazards/{hazard_id}", response_class=HTMLResponse, include_in_schema=False)
    async def hazard_page_view(request: Request, hazard_id: int) -> Response:
        user, csrf = _session_user(request)
        gettext = gettext_for(request, user)
        data = _detail(desk, user, hazard_id, gettext)
        message = request.query_params.get("message")
        return page(
            request,
            "hazard.html",
            {"user": user, "csrf": csrf, "message": gettext(message) if message else None, **data},
        )

    @app.post("/hazards/{hazard_id}/attach", include_in_schema=False)
    @app.post("/api/hazards/{hazard_id}/attach", tags=["hazards"])
    async def attach(request: Request, hazard_id: int) -> Response:
        """Upload a file (multipart field ``file``, optional ``purpose``)."""
        user, csrf = _session_user(request)
        fields, form = await _form(request, csrf)
        _hazard_for(desk, user, hazard_id)
        _allow(user, "attach")
        upload = form.get("file") if form is not None else None
        if not isinstance(upload, UploadFile) and not hasattr(upload, "read"):
            raise Refused(400, "give the file to attach (field: file)")
        content = await upload.read()  # type: ignore[union-attr]
        item = desk.annotations.add_attachment(
            hazard_id,
            upload.filename or "attachment",  # type: ignore[union-attr]
            content,
            actor=user.actor,
            content_type=upload.content_type or "application/octet-stream",  # type: ignore[union-attr]
            purpose=_text(fields, "purpose") or "other",
        )
        if _is_api(request):
            return _json(asdict(item), 201)
        return RedirectResponse(f"/hazards/{hazard_id}?message=Done.", status_code=303)

    @app.get("/attachments/{attachment_id}", include_in_schema=False)
    @app.get("/api/attachments/{attachment_id}", tags=["hazards"])
    async def attachment(request: Request, attachment_id: int) -> Response:
        """An attachment's content (checked against its stored hash)."""
        user, _csrf = _session_user(request)
        # A missing one (or bytes that no longer match their hash) is a HazardNotFound:
        # 404, its message translated by the register's handler.
        item, content = desk.annotations.content(attachment_id)
        _hazard_for(desk, user, item.hazard_id)
        return Response(
            content,
            media_type=item.content_type,
            headers={
                "content-disposition": f"inline; filename*=UTF-8''{quote(item.filename)}",
                "x-content-type-options": "nosniff",
            },
        )

    @app.post("/hazards/{hazard_id}/{action}", include_in_schema=False)
    @app.post("/api/hazards/{hazard_id}/{action}", tags=["hazards"])
    async def act(request: Request, hazard_id: int, action: str) -> Response:
        """A workflow step: confirm, dismiss, plan, rectified, verify, close_on_spot, refer,
        comment; fields as form or JSON, with the session's CSRF token."""
        user, csrf = _session_user(request)
        fields, _ = await _form(request, csrf)
        message = _act(desk, user, hazard_id, action, fields)
        if _is_api(request):
            return _json(_hazard_for(desk, user, hazard_id))
        return RedirectResponse(f"/hazards/{hazard_id}?message={quote(message)}", status_code=303)

    @app.get("/api/audit", tags=["hazards"])
    async def api_audit(request: Request) -> dict[str, Any]:
        """The audit chain checked end to end."""
        user, _csrf = _session_user(request)
        if user.role == "enterprise":
            raise Refused(403, "You may not do this.")
        report = _verify_audit(desk)
        return {
            "ok": report.ok,
            "entries": report.entries,
            "problems": report.problems,
            "head_seq": report.head_seq,
            "head_hash": report.head_hash,
            "evidence_checked": report.evidence_checked,
            "readings_unchecked": report.readings_unchecked,
        }

    # ------------------------------------------------------------ inspections

    def _inspection_list(user: User, params: dict[str, str]) -> list[dict[str, Any]]:
        enterprise = params.get("enterprise") or None
        if user.role == "enterprise":
            enterprise = user.enterprise
        return desk.inspections.listing(
            enterprise=enterprise,
            date_from=desk.parse_day(params.get("from"), "from"),
            date_to=desk.parse_day(params.get("to"), "to"),
        )

    @app.get("/api/inspections", tags=["inspections"])
    async def api_inspections(request: Request) -> list[dict[str, Any]]:
        """Inspections by enterprise and date range (from, to)."""
        user, _csrf = _session_user(request)
        return _inspection_list(user, dict(request.query_params))

    @app.get("/inspections", response_class=HTMLResponse, include_in_schema=False)
    async def inspections_page(request: Request) -> Response:
        user, csrf = _session_user(request)
        params = dict(request.query_params)
        return page(
            request,
            "inspections.html",
            {
                "user": user,
                "csrf": csrf,
                "inspections": _inspection_list(user, params),
                "filters": params,
                "enterprises": enterprises(desk.register.engine),
            },
        )

    @app.get("/inspections/new", response_class=HTMLResponse, include_in_schema=False)
    async def new_inspection_page(request: Request) -> Response:
        user, csrf = _session_user(request)
        _allow(user, "record")
        return page(request, "inspection_form.html", {"user": user, "csrf": csrf, "item": None})

    @app.post("/inspections", include_in_schema=False)
    @app.post("/api/inspections", tags=["inspections"])
    async def create_inspection(request: Request) -> Response:
        """Create an inspection: date, enterprise, location, leader, experts, instruments."""
        user, csrf = _session_user(request)
        fields, _ = await _form(request, csrf)
        _allow(user, "record")
        inspection, location = _inspection_from(desk, fields)
        inspection_id = desk.inspections.create(inspection, location, actor=user.actor)
        if _is_api(request):
            return JSONResponse({"id": inspection_id}, status_code=201)
        return RedirectResponse(f"/inspections/{inspection_id}", status_code=303)

    @app.get("/api/inspections/{inspection_id}", tags=["inspections"])
    async def api_inspection(request: Request, inspection_id: int) -> dict[str, Any]:
        """One inspection with instruments (past calibration marked) and its hazards."""
        user, _csrf = _session_user(request)
        return _inspection_detail(desk, user, inspection_id)

    @app.get("/inspections/{inspection_id}", response_class=HTMLResponse, include_in_schema=False)
    async def inspection_page(request: Request, inspection_id: int) -> Response:
        user, csrf = _session_user(request)
        data = _inspection_detail(desk, user, inspection_id)
        return page(request, "inspection.html", {"user": user, "csrf": csrf, **data})

    @app.get("/inspections/{inspection_id}/report.pdf", include_in_schema=False)
    @app.get(
        "/api/inspections/{inspection_id}/report.pdf",
        tags=["inspections"],
        response_class=Response,
        responses={200: {"content": {"application/pdf": {}}}},
    )
    def inspection_report(request: Request, inspection_id: int) -> Response:
        """The inspection record (检查记录) as PDF: the paper ``hazmon report inspection``
        writes, from the same records (a plain ``def``: FastAPI lays it out on a worker
        thread, not on the event loop)."""
        user, _csrf = _session_user(request)
        _inspection_detail(desk, user, inspection_id)  # 404 for another enterprise's
        from hazmon.acquisition.reports.papers import inspection_paper
        from hazmon.acquisition.reports.render import pdf_bytes, render_html

        locale = request.cookies.get("hazmon_lang") or user.locale
        lang = "en" if locale == "en" else "zh"
        with desk.store_lock:
            paper = inspection_paper(
                desk.register,
                inspection_id,
                desk.store,
                where=_register_option(desk.settings.register_url),
                lang=lang,
            )
        html = render_html("inspection", paper, lang=lang, tz=desk.settings.time_zone)
        return Response(
            pdf_bytes(html),
            media_type="application/pdf",
            headers={"content-disposition": f'inline; filename="inspection-{inspection_id}.pdf"'},
        )

    @app.get(
        "/inspections/{inspection_id}/edit", response_class=HTMLResponse, include_in_schema=False
    )
    async def edit_inspection_page(request: Request, inspection_id: int) -> Response:
        user, csrf = _session_user(request)
        _allow(user, "record")
        data = _inspection_detail(desk, user, inspection_id)
        return page(request, "inspection_form.html", {"user": user, "csrf": csrf, "item": data})

    @app.post("/inspections/{inspection_id}", include_in_schema=False)
    @app.post("/api/inspections/{inspection_id}", tags=["inspections"])
    async def edit_inspection(request: Request, inspection_id: int) -> Response:
        """Replace an inspection's fields and instruments."""
        user, csrf = _session_user(request)
        fields, _ = await _form(request, csrf)
        _allow(user, "record")
        inspection, location = _inspection_from(desk, fields)
        desk.inspections.edit(inspection_id, inspection, location, actor=user.actor)
        if _is_api(request):
            return _json(_inspection_detail(desk, user, inspection_id))
        return RedirectResponse(f"/inspections/{inspection_id}", status_code=303)

    @app.post("/inspections/{inspection_id}/link", include_in_schema=False)
    @app.post("/api/inspections/{inspection_id}/link", tags=["inspections"])
    async def link_hazards(request: Request, inspection_id: int) -> Response:
        """Link hazards (``hazards``: "3, 4, 5" or a list of numbers) to the inspection."""
        user, csrf = _session_user(request)
        fields, _ = await _form(request, csrf)
        _allow(user, "record")
        given = fields.get("hazards", "")
        try:
            ids = (
                [int(item) for item in given]
                if isinstance(given, list)
                else [
                    int(part) for part in str(given).replace("，", ",").split(",") if part.strip()
                ]
            )
        except ValueError:
            raise Refused(400, "give hazard numbers separated by commas") from None
        desk.inspections.link(inspection_id, ids, actor=user.actor)
        if _is_api(request):
            return _json(_inspection_detail(desk, user, inspection_id))
        return RedirectResponse(f"/inspections/{inspection_id}", status_code=303)

    # ------------------------------------------------------------ statistics

    def _stats(user: User, params: dict[str, str]) -> dict[str, Any]:
        where = _filter(desk, user, params)
        try:
            days = int(params.get("days") or 7)
        except ValueError:
            days = 7
        engine = desk.register.engine
        overdue, _n = hazard_page(
            engine,
            HazardFilter(**{**asdict(where), "overdue": True}),
            sort="deadline",
            descending=False,
            per_page=500,
        )
        due, _m = hazard_page(
            engine,
            HazardFilter(**{**asdict(where), "due_within": dt.timedelta(days=days)}),
            sort="deadline",
            descending=False,
            per_page=500,
        )
        return {
            "by_enterprise": statistics(engine, "enterprise", where),
            "by_area": statistics(engine, "location", where),
            "overdue": overdue,
            "due_soon": due,
            "days": days,
        }

    @app.get("/api/stats", tags=["statistics"])
    async def api_stats(request: Request) -> dict[str, Any]:
        """Counts and fix rates per enterprise and area; overdue and due-within-days lists."""
        user, _csrf = _session_user(request)
        return _stats(user, dict(request.query_params))

    @app.get("/stats", response_class=HTMLResponse, include_in_schema=False)
    async def stats_page(request: Request) -> Response:
        user, csrf = _session_user(request)
        return page(
            request,
            "stats.html",
            {"user": user, "csrf": csrf, **_stats(user, dict(request.query_params))},
        )

    # ------------------------------------------------------------ live readings

    @app.get("/api/live", tags=["live"])
    async def api_live(request: Request) -> dict[str, Any]:
        """The newest reading of every channel and the newest alerts (poll at 1 s)."""
        user, _csrf = _session_user(request)
        return _live(desk, user)

    @app.get("/live", response_class=HTMLResponse, include_in_schema=False)
    async def live_page(request: Request) -> Response:
        user, csrf = _session_user(request)
        return page(request, "live.html", {"user": user, "csrf": csrf, **_live(desk, user)})

    @app.get("/live/table", response_class=HTMLResponse, include_in_schema=False)
    async def live_table(request: Request) -> Response:
        user, csrf = _session_user(request)
        return page(request, "live_table.html", {"user": user, "csrf": csrf, **_live(desk, user)})

    @app.post("/alerts/{event_id}/ack", include_in_schema=False)
    @app.post("/api/alerts/{event_id}/ack", tags=["live"])
    async def acknowledge(request: Request, event_id: int) -> Response:
        """Acknowledge an alert with the reason; the user is recorded."""
        user, csrf = _session_user(request)
        fields, _ = await _form(request, csrf)
        _allow(user, "acknowledge")
        desk.annotations.acknowledge(event_id, _text(fields, "reason"), actor=user.actor)
        if _is_api(request):
            return JSONResponse({"acknowledged": event_id})
        return RedirectResponse("/live", status_code=303)

    _ = IllegalTransition  # re-exported for callers that catch register refusals
    return app
