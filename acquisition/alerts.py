"""Alerts raised on level transitions and communication faults, and where they go."""

from __future__ import annotations

import datetime as dt
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from rich.text import Text

from hazmon.analysis.limits import LEVEL_NAMES
from hazmon.config.numbers import format_number

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

    @property
    def time_text(self) -> str:
        """Local wall-clock time of the alert, ``HH:MM:SS``."""
        return dt.datetime.fromtimestamp(self.ts / 1e9).strftime("%H:%M:%S")


AlertSink = Callable[[Alert], None]


def level_transition_kind(previous: int, level: int) -> AlertKind:
    """Name the change from ``previous`` to ``level``."""
    if previous == 0:
        return "raise"
    if level == 0:
        return "clear"
    return "escalate" if level > previous else "de-escalate"


def format_alert(alert: Alert) -> Text:
    """One line for an alert, coloured by level."""
    if alert.kind in ("sensor_fault", "sensor_restored"):
        style = "magenta" if alert.kind == "sensor_fault" else "cyan"
        word = "SENSOR" if alert.kind == "sensor_fault" else "SENSOR OK"
        return Text(
            f"{alert.time_text} {word:<11} {alert.device}/{alert.quantity}: {alert.message}",
            style=style,
        )
    if alert.kind in REGISTER_KINDS | STORE_KINDS:
        style = "cyan" if alert.kind in ENDING_KINDS else "magenta"
        word = {
            "register_down": "REGISTER DOWN",
            "register_slow": "REGISTER SLOW",
            "register_restored": "REGISTER OK",
            "store_down": "STORE DOWN",
            "store_restored": "STORE OK",
        }[alert.kind]
        return Text(f"{alert.time_text} {word:<11} {alert.message}", style=style)
    if alert.kind in INTAKE_KINDS:
        word = "GAP" if alert.kind == "message_gap" else "DEAD LETTER"
        return Text(
            f"{alert.time_text} {word:<11} {alert.device}/{alert.quantity}: {alert.message}",
            style="magenta",
        )
    if alert.kind in ("comm_fault", "comm_restored"):
        style = "magenta" if alert.kind == "comm_fault" else "cyan"
        word = "COMM FAULT" if alert.kind == "comm_fault" else "COMM OK"
        return Text(f"{alert.time_text} {word:<11} {alert.device}: {alert.message}", style=style)
    value = "—" if alert.value is None else f"{format_number(alert.value)} {alert.unit}"
    level_name = LEVEL_NAMES[min(alert.level, 3)]
    previous_name = LEVEL_NAMES[min(alert.previous_level, 3)]
    word = {
        "raise": "ALARM",
        "escalate": "ESCALATE",
        "de-escalate": "EASING",
        "clear": "CLEAR",
    }[alert.kind]
    text = (
        f"{alert.time_text} {word:<11} {alert.device}/{alert.quantity} "
        f"{previous_name} → {level_name} at {value} ({alert.citation})"
    )
    return Text(text, style=LEVEL_STYLES[min(alert.level, 3)] if alert.level else "green")
