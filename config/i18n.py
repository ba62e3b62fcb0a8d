"""The message catalogs of hazmon: zh_CN (complete, the default) and en beside it.

One catalog for everything a person reads: the desk's pages (hazmon.web), the papers
(hazmon.acquisition.reports) and the human output of the command line. The ``.po``
files under ``locale/`` are read with Babel when first needed, so the package needs no
compile step at install time. An English msgid with no translation shows as itself.

A message may carry a context (``msgctxt``): the papers say 隐患等级 where the desk's
narrower columns say 等级 for the same English "Grade"; :func:`context_translator`
looks those up.

The command line's language (:func:`cli_locale`): ``HAZMON_LANG``, else the first of
``LC_ALL``, ``LC_MESSAGES``, ``LANG`` that is set. A value starting with ``en`` gives
English; anything else (``zh_CN.UTF-8``, ``C``, ``POSIX``, unset) gives Chinese, since
the users are Chinese and a server's ``C`` locale says nothing about its reader.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Mapping
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

from babel.messages.pofile import read_po

from hazmon.config.quality import FLAG_NAMES, Quality

LOCALES = ("zh_CN", "en")
DEFAULT_LOCALE = "zh_CN"
_FOLDER = Path(__file__).parent / "locale"
# The separator GNU gettext puts between a context and its msgid in a compiled catalog.
_CONTEXT = "\x04"

Gettext = Callable[[str], str]


def _key(message_id: str, context: str | None) -> str:
    return message_id if context is None else f"{context}{_CONTEXT}{message_id}"


@cache
def catalog(locale: str) -> dict[str, str]:
    """msgid → translation for ``locale`` (empty translations left out; a message with a
    context is keyed ``context + "\\x04" + msgid``)."""
    path = _FOLDER / locale / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as handle:
        messages = read_po(handle, locale=locale)
    return {
        _key(str(message.id), message.context): str(message.string)
        for message in messages
        if message.id and isinstance(message.string, str) and message.string
    }


def known(locale: str) -> str:
    """``locale`` when the catalogs have it, else the default (zh_CN)."""
    return locale if locale in LOCALES else DEFAULT_LOCALE


def translator(locale: str) -> Gettext:
    """The ``_`` of one locale (an unknown locale gets the default's)."""
    messages = catalog(known(locale))

    def gettext(message: str) -> str:
        return messages.get(message, message)

    return gettext


def context_translator(locale: str) -> Callable[[str, str], str]:
    """The ``pgettext(context, message)`` of one locale."""
    messages = catalog(known(locale))

    def pgettext(context: str, message: str) -> str:
        return messages.get(_key(message, context), message)

    return pgettext


def basis(standard: str, clause: str, gettext: Gettext) -> str:
    """A hazard's or a verdict's basis in the reader's words.

    A numbered clause reads ``GB/T 50493-2019 第 5.5.2(2) 条`` (English: ``... clause
    5.5.2(2)``); a clause the standards tables describe in words (``equipment and piping
    leaks (clause unconfirmed)``, ``Table 1``) is looked up in the catalog and follows the
    standard: ``GB 37822-2019 设备与管线组件泄漏（条款未核实）``. Only the display changes:
    the stored clause, and whether it is confirmed, stay as the tables have them.
    """
    if clause[:1].isdigit():
        return gettext("%(standard)s clause %(clause)s") % {"standard": standard, "clause": clause}
    return f"{standard} {gettext(clause)}".strip()


def N_(message: str) -> str:  # noqa: N802 - the gettext convention for a deferred msgid
    """Mark ``message`` as a msgid to translate later (a table of labels); returns it as is.

    The extractors (and the catalog's completeness test) see it like ``_()``.
    """
    return message


#: A reading's quality flags in words (the msgids; ``Quality``'s names stay the keys).
FLAG_WORDS: dict[str, str] = {
    "COMM_TIMEOUT": N_("no answer (timeout)"),
    "COMM_ERROR": N_("link error"),
    "DEVICE_EXCEPTION": N_("meter refused the request"),
    "CRC_ERROR": N_("checksum error"),
    "OVER_RANGE": N_("above the measuring range"),
    "UNDER_RANGE": N_("below the measuring range"),
    "SENSOR_FAULT": N_("sensor fault"),
    "STALE": N_("stale value"),
    "CALIBRATION_DUE": N_("past its calibration date"),
    "WARMUP": N_("warming up"),
    "OUT_OF_ORDER": N_("time out of order"),
    "CLOCK_INVALID": N_("meter clock invalid"),
}


def quality_words(quality: int, gettext: Gettext) -> str:
    """The flags set in ``quality`` in the reader's words, joined; ``""`` for none."""
    words = [gettext(FLAG_WORDS[name]) for name in FLAG_NAMES if quality & Quality[name]]
    # The separator is a message too: Chinese takes the full-width comma.
    return gettext(N_(", ")).join(words)


def cli_locale(environ: Mapping[str, str] | None = None) -> str:
    """The command line's locale from the environment (see the module's text)."""
    environ = os.environ if environ is None else environ
    value = environ.get("HAZMON_LANG", "").strip()
    if not value:
        for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
            value = environ.get(name, "").strip()
            if value:
                break
    return "en" if value.lower().startswith("en") else DEFAULT_LOCALE


def cli_translator(environ: Mapping[str, str] | None = None) -> Gettext:
    """The ``_`` of the command line's human output."""
    return translator(cli_locale(environ))


def local_time(moment: dt.datetime | int | None, zone: str, *, seconds: bool = True) -> str:
    """A UTC datetime (or ns since the epoch) as local wall time ``YYYY-MM-DD HH:MM[:SS]``."""
    if moment is None:
        return ""
    if isinstance(moment, int):
        moment = dt.datetime.fromtimestamp(moment / 1e9, dt.UTC)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    local = moment.astimezone(ZoneInfo(zone))
    return local.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")
