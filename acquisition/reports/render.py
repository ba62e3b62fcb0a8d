"""Papers to HTML (Jinja2) and to PDF (WeasyPrint over Pango).

WeasyPrint is chosen because it lays out HTML and CSS by itself in Python over
Debian's Pango/HarfBuzz (no browser to install or drive), shapes CJK text with
fontconfig's fallback, embeds subset fonts, supports CSS paged media (page counters,
``@page`` margins) and SVG images, and is released several times a year.
"""

from __future__ import annotations

import base64
import datetime as dt
from functools import cache
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

import jinja2

from hazmon.acquisition.reports.charts import chart_title, evidence_svg
from hazmon.acquisition.reports.papers import (
    DEFAULT_TZ,
    EvidenceSeries,
    InspectionPaper,
    NoticePaper,
    ReviewPaper,
    local_text,
)
from hazmon.config.i18n import basis, context_translator, translator

TEMPLATES = Path(__file__).parent / "templates"
Kind = Literal["inspection", "notice", "review"]
Paper = InspectionPaper | NoticePaper | ReviewPaper
#: A paper's language → the catalogs' locale.
LANGUAGES = {"zh": "zh_CN", "en": "en"}


@cache
def _environment() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        extensions=["jinja2.ext.i18n"],
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return environment


def render_html(
    kind: Kind,
    paper: Paper,
    *,
    lang: str = "zh",
    tz: str = DEFAULT_TZ,
    organisation: str = "",
) -> str:
    """The paper as one self-contained HTML page (CSS inline, charts as SVG data)."""
    if lang not in LANGUAGES:
        raise ValueError(f"language {lang!r}: give one of {', '.join(LANGUAGES)}")
    zone = ZoneInfo(tz)  # raises for an unknown zone before anything is drawn
    translate = translator(LANGUAGES[lang])
    in_context = context_translator(LANGUAGES[lang])
    environment = _environment().overlay()
    environment.install_gettext_callables(  # type: ignore[attr-defined]
        translate,
        lambda one, many, n: translate(one if n == 1 else many),
        newstyle=True,
        pgettext=in_context,
    )

    def day(value: dt.date | None) -> str:
        if value is None:
            return ""
        if lang == "zh":
            return f"{value.year}年{value.month}月{value.day}日"
        return value.isoformat()

    def local(value: dt.datetime | None) -> str:
        return "" if value is None else local_text(value, tz)

    def local_ns(value: int) -> str:
        return local_text(dt.datetime.fromtimestamp(value / 1e9, zone), tz, seconds=True)

    def word(value: str | None) -> str:
        return "—" if value is None else translate(value)

    def chart_uri(series: EvidenceSeries) -> str:
        svg = evidence_svg(series, lang=lang, tz=tz)
        return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()

    environment.filters.update(
        day=day, local=local, local_ns=local_ns, grade=word, status=word, source=word
    )
    template = environment.get_template(f"{kind}.html")
    context: dict[str, Any] = {
        "paper": paper,
        "lang": lang,
        "tz": tz,
        "organisation": organisation,
        "css": (TEMPLATES / "papers.css").read_text(encoding="utf-8"),
        "chart_uri": chart_uri,
        "chart_caption": lambda series: chart_title(series, lang),
        "plan_name": lambda key: word(key),
        "basis": lambda standard, clause: basis(standard, clause, translate),
    }
    return template.render(context)


def write_pdf(html: str, path: Path) -> None:
    """Lay ``html`` out on A4 pages and write the PDF to ``path``."""
    path.write_bytes(pdf_bytes(html))


def pdf_bytes(html: str) -> bytes:
    """Lay ``html`` out on A4 pages: the PDF (what the desk serves, what ``report`` writes)."""
    # Imported here: WeasyPrint loads Pango through cffi, which only papers need.
    from weasyprint import HTML

    content = HTML(string=html, base_url=str(TEMPLATES)).write_pdf()
    assert content is not None  # no target: the bytes are returned
    return bytes(content)
