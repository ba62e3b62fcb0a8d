"""Message catalogs of the desk: zh_CN (complete, the default) and en beside it.

The ``.po`` files under ``locale/`` are read with Babel when the app starts, so the
package needs no compile step at install time. An English msgid with no translation
shows as itself.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

from babel.messages.pofile import read_po

LOCALES = ("zh_CN", "en")
DEFAULT_LOCALE = "zh_CN"
_FOLDER = Path(__file__).parent / "locale"


@cache
def catalog(locale: str) -> dict[str, str]:
    """msgid → translation for ``locale`` (empty translations left out)."""
    path = _FOLDER / locale / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as handle:
        messages = read_po(handle, locale=locale)
    return {
        str(message.id): str(message.string)
        for message in messages
        if message.id and isinstance(message.string, str) and message.string
    }


def translator(locale: str) -> Callable[[str], str]:
    """The ``_`` of one locale."""
    messages = catalog(locale if locale in LOCALES else DEFAULT_LOCALE)

    def gettext(message: str) -> str:
        return messages.get(message, message)

    return gettext


def plain_number(value: float | None, digits: int = 4) -> str:
    """A number as people write it: no exponent, at most ``digits`` significant digits.

    5000.0 → "5000", 6543.2 → "6543", 0.012345 → "0.01235", 1234567.0 → "1234567".
    """
    if value is None or math.isnan(value):
        return "—"
    if value == 0:
        return "0"
    magnitude = math.floor(math.log10(abs(value)))
    decimals = max(digits - 1 - magnitude, 0)
    text = f"{value:.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


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
