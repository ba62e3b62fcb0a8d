"""Alerts raised on level transitions and communication faults, and where they go."""

from __future__ import annotations

import datetime as dt
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from rich.cells import cell_len
from rich.text import Text

from hazmon.analysis.limits import LEVEL_NAMES
from hazmon.config.i18n import (
    N_,
    Gettext,
    basis,
    cli_locale,
    context_translator,
    local_time,
    quality_words,
    translator,
)
from hazmon.config.numbers import format_number
from hazmon.config.quality import FLAG_NAMES, Quality
from hazmon.config.site import DEFAULT_TIME_ZONE

AlertKind = Literal[
    "raise",
    "escalate",
    "de-escalate",
    "clear",
    "comm_fault",
    "comm_restored",
    "sensor_fault",
    "sensor_restored",
    "register_down",
    "register_slow",
    "register_restored",
    "store_down",
    "store_restored",
    # A central worker found messages a kit numbered missing (hazmon.acquisition.central).
    "message_gap",
    # A central worker set a message aside it could not decode or judge.
    "dead_letter",
]

#: Kinds that end a condition: the channel's state goes back to normal.
ENDING_KINDS = frozenset(
    {"clear", "comm_restored", "sensor_restored", "register_restored", "store_restored"}
)
#: Kinds of the hazard register's health (:mod:`hazmon.acquisition.register_writer`).
REGISTER_KINDS = frozenset({"register_down", "register_slow", "register_restored"})
#: Kinds of the local readings store's health (disk full, read-only; the pipeline's).
STORE_KINDS = frozenset({"store_down", "store_restored"})
#: Kinds of a central worker's intake (one-off notices: nothing to clear).
INTAKE_KINDS = frozenset({"message_gap", "dead_letter"})
#: The key of the readings store's health alerts (one state per site).
STORE_KEY = "_store"
#: The pseudo-quantity of a device's communication alerts (one state per device).
COMM_QUANTITY = "_comm"
#: The key of the hazard register's health alerts (one state per site).
REGISTER_KEY = "_register"

LEVEL_STYLES = ("green", "yellow", "bold red", "bold white on red")


@dataclass(frozen=True, slots=True)
class Alert:
    """One alert: what changed, on which channel, against which clause."""

    ts: int
    """[ns UTC] of the reading that caused it."""
    kind: AlertKind
    device: str
    quantity: str
    level: int
    previous_level: int
    value: float | None
    unit: str
    citation: str
    message: str = ""
    channel: str = ""
    """The profile's channel name (``co_inlet``); empty for device-wide alerts."""

    @classmethod
    def health(cls, kind: AlertKind, device: str, quantity: str, message: str) -> Alert:
        """A health alert now (no level, no value): a link, a register."""
        return cls(time.time_ns(), kind, device, quantity, 0, 0, None, "", "", message=message)

    @property
    def key(self) -> str:
        """``device/channel`` (``device/quantity`` for an unnamed channel, ``device/_comm``
        for communication, ``device/channel:sensor`` for sensor faults): what
        deduplication, rate limits, state and acks are per. Two channels of one quantity
        are two keys, so one cell's alarm is never cleared by the other's reading."""
        name = self.channel or self.quantity
        if self.kind in REGISTER_KINDS:
            return REGISTER_KEY
        if self.kind in STORE_KINDS:
            return STORE_KEY
        if self.kind in ("comm_fault", "comm_restored"):
            return f"{self.device}/{COMM_QUANTITY}"
        if self.kind in ("sensor_fault", "sensor_restored"):
            return f"{self.device}/{name}:sensor"
        return f"{self.device}/{name}"

    @property
    def active(self) -> bool:
        """Whether the condition holds after this alert (False for a clear or recovery)."""
        if self.kind in ENDING_KINDS:
            return False
        faults = ("comm_fault", "sensor_fault", "register_down", "register_slow", "store_down")
        return self.kind in faults or self.level > 0

    def as_dict(self) -> dict[str, object]:
        """The alert as JSON-ready fields (``value`` null when the reading had none)."""
        value = None if self.value is None or math.isnan(self.value) else self.value
        return {
            "ts": self.ts,
            "time": dt.datetime.fromtimestamp(self.ts / 1e9, dt.UTC).isoformat(),
            "kind": self.kind,
            "device": self.device,
            "channel": self.channel,
            "quantity": self.quantity,
            "level": self.level,
            "previous_level": self.previous_level,
            "level_name": LEVEL_NAMES[min(self.level, 3)],
            "value": value,
            "unit": self.unit,
            "citation": self.citation,
            "message": self.message,
        }

    def time_text(self, zone: str = DEFAULT_TIME_ZONE) -> str:
        """The alert's wall-clock time in the site's zone ``zone``, ``HH:MM:SS``: the
        machine's own zone may be anything (a container's is UTC)."""
        return local_time(self.ts, zone)[-8:]


AlertSink = Callable[[Alert], None]


def level_transition_kind(previous: int, level: int) -> AlertKind:
    """Name the change from ``previous`` to ``level``."""
    if previous == 0:
        return "raise"
    if level == 0:
        return "clear"
    return "escalate" if level > previous else "de-escalate"


@dataclass(frozen=True, slots=True)
class AlertWords:
    """How alert lines speak to the person at the terminal.

    Attributes
    ----------
    locale
        The catalog's locale (the command line's language by default: zh_CN unless the
        environment asks for English).
    zone
        The site's IANA time zone the times are shown in.
    resolutions : [unit]
        Alert key (``device/channel``) → the meter's step from its profile: a value is
        shown to it (``7.5 ppm``, not ``7.467 ppm``).
    """

    locale: str = field(default_factory=cli_locale)
    zone: str = DEFAULT_TIME_ZONE
    resolutions: Mapping[str, float] = field(default_factory=dict)

    @property
    def gettext(self) -> Gettext:
        """The ``_`` of :attr:`locale`."""
        return translator(self.locale)

    def level(self, level: int) -> str:
        """A level as GB/T 50493 names it (一级报警 / 二级报警; the papers' words)."""
        return context_translator(self.locale)("paper", LEVEL_NAMES[min(level, 3)])


#: The word at the head of an alert line, per kind (the English is the msgid).
ALERT_WORDS: dict[AlertKind, str] = {
    "raise": N_("ALARM"),
    "escalate": N_("ESCALATE"),
    "de-escalate": N_("EASING"),
    "clear": N_("CLEAR"),
    "comm_fault": N_("COMM FAULT"),
    "comm_restored": N_("COMM OK"),
    "sensor_fault": N_("SENSOR"),
    "sensor_restored": N_("SENSOR OK"),
    "register_down": N_("REGISTER DOWN"),
    "register_slow": N_("REGISTER SLOW"),
    "register_restored": N_("REGISTER OK"),
    "store_down": N_("STORE DOWN"),
    "store_restored": N_("STORE OK"),
    "message_gap": N_("GAP"),
    "dead_letter": N_("DEAD LETTER"),
}

#: Cells the head word takes (a Chinese character is two cells wide).
WORD_CELLS = 11


def head_word(word: str, gettext: Gettext) -> str:
    """``word`` translated and padded to :data:`WORD_CELLS` terminal cells."""
    text = gettext(word)
    return text + " " * max(1, WORD_CELLS + 1 - cell_len(text))


def _sensor_words(message: str, locale: str, gettext: Gettext) -> str:
    """The pipeline's sensor message (``CALIBRATION_DUE|WARMUP``, ``clear of SENSOR_FAULT``)
    in the reader's words; English keeps the flag names, and any other text stays."""
    cleared = message.startswith("clear of ")
    names = message.removeprefix("clear of ").split("|")
    if locale == "en" or not all(name in FLAG_NAMES for name in names):
        return message
    flags = 0
    for name in names:
        flags |= Quality[name]
    text = quality_words(flags, gettext)
    return gettext("clear of %(flags)s") % {"flags": text} if cleared else text


def format_alert(alert: Alert, words: AlertWords | None = None) -> Text:
    """One line for an alert, coloured by level, in the reader's words (``words``: the
    command line's language and the Asia/Shanghai zone by default)."""
    words = words or AlertWords()
    _ = words.gettext
    time_text = alert.time_text(words.zone)
    word = head_word(ALERT_WORDS[alert.kind], _)
    if alert.kind in ("sensor_fault", "sensor_restored"):
        style = "magenta" if alert.kind == "sensor_fault" else "cyan"
        message = _sensor_words(alert.message, words.locale, _)
        return Text(f"{time_text} {word}{alert.device}/{alert.quantity}: {message}", style=style)
    if alert.kind in REGISTER_KINDS | STORE_KINDS:
        style = "cyan" if alert.kind in ENDING_KINDS else "magenta"
        return Text(f"{time_text} {word}{alert.message}", style=style)
    if alert.kind in INTAKE_KINDS:
        return Text(
            f"{time_text} {word}{alert.device}/{alert.quantity}: {alert.message}",
            style="magenta",
        )
    if alert.kind in ("comm_fault", "comm_restored"):
        style = "magenta" if alert.kind == "comm_fault" else "cyan"
        return Text(f"{time_text} {word}{alert.device}: {alert.message}", style=style)
    value = (
        "—"
        if alert.value is None
        else f"{format_number(alert.value, words.resolutions.get(alert.key))} {alert.unit}"
    )
    if alert.citation == "no rule":
        citation = _("no rule")
    else:
        # "standard §clause" (LimitRule.citation) read as the papers and the desk write it.
        standard, _mark, clause = alert.citation.partition(" §")
        citation = basis(standard, clause, _) if clause else alert.citation
    text = _("{time} {word}{channel} {previous} → {level} at {value} ({citation})").format(
        time=time_text,
        word=word,
        channel=f"{alert.device}/{alert.quantity}",
        previous=words.level(alert.previous_level),
        level=words.level(alert.level),
        value=value,
        citation=citation,
    )
    return Text(text, style=LEVEL_STYLES[min(alert.level, 3)] if alert.level else "green")
