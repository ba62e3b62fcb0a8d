"""What the audit chain vouches for about a hazard's evidence, and how it is checked.

A hazard's audit entry (``created``, ``evidence_added``) carries, for each evidence
window it adds, the figures of its event (peak, start and end, level, duration …) and a
digest of the readings of the window as they were stored when the hazard was filed. The
entry's hash covers both, so ``verify-audit`` can re-read the event row and the readings
and name what changed: an edited peak, an edited, deleted or added reading.

The digest is SHA-256 over a canonical serialisation of the window (:func:`readings_digest`)::

    b"hazmon.evidence-readings/1\\n" + b"<count>\\n"
    + ts as little-endian int64 … + value as little-endian float64 (one NaN pattern) …
    + quality as little-endian uint16 … + level as uint8 …

column after column, in time order. It covers the readings from the window's start up to
the newest one stored when it was taken (``until``): readings arriving later (the rest of
an evidence margin) are not vouched for, and not mistaken for tampering.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

from hazmon.analysis.readings import Channel
from hazmon.config.i18n import Gettext
from hazmon.config.numbers import format_number
from hazmon.store.audit import plain
from hazmon.store.timeseries import Window, WindowReader
from hazmon.store.timeseries.sqlite import WINDOW_SQL, window_of

#: First line of the serialisation; a new layout gets a new name.
DIGEST_FORMAT = "hazmon.evidence-readings/1"

#: The event columns the chain vouches for (``events`` table).
EVENT_FIGURES: tuple[str, ...] = (
    "site",
    "device",
    "name",
    "quantity",
    "substance",
    "unit",
    "rule_id",
    "level",
    "side",
    "start_ts",
    "end_ts",
    "peak",
    "peak_ts",
    "duration_s",
    "samples",
    "limit_value",
)

#: The one NaN bit pattern a missing value hashes as (drivers differ in NaN payloads).
_NAN = np.float64(np.nan)


def serialise(window: Window) -> bytes:
    """The canonical bytes of ``window`` (see the module docstring)."""
    value = np.asarray(window.value, dtype="<f8").copy()
    value[np.isnan(value)] = _NAN
    return b"".join(
        (
            f"{DIGEST_FORMAT}\n{len(window.ts)}\n".encode(),
            np.asarray(window.ts, dtype="<i8").tobytes(),
            value.tobytes(),
            np.asarray(window.quality, dtype="<u2").tobytes(),
            np.asarray(window.level, dtype="u1").tobytes(),
        )
    )


def readings_digest(window: Window) -> dict[str, Any]:
    """What an audit entry keeps of an evidence window's readings.

    Returns
    -------
    dict
        ``count`` readings; ``until`` the newest reading's time [ns UTC] (None when
        none); ``maximum``, ``minimum`` of the values [canonical unit] (None when none
        has a value), so a report can say how an edit moved the extreme; ``sha256`` of
        :func:`serialise`.
    """
    has_value = ~np.isnan(window.value)
    return {
        "count": len(window.ts),
        "until": int(window.ts[-1]) if len(window.ts) else None,
        "maximum": float(np.max(window.value[has_value])) if has_value.any() else None,
        "minimum": float(np.min(window.value[has_value])) if has_value.any() else None,
        "sha256": hashlib.sha256(serialise(window)).hexdigest(),
    }


def event_figures(row: Mapping[str, Any]) -> dict[str, Any]:
    """The vouched-for columns of an ``events`` row."""
    return {name: row[name] for name in EVENT_FIGURES}


def changed_figures(recorded: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
    """``name: was → now`` for each figure that differs (compared as the chain hashes them)."""
    now = plain(event_figures(current))
    return [
        f"{name} {_shown(recorded.get(name))} → {_shown(now[name])}"
        for name in EVENT_FIGURES
        if recorded.get(name) != now[name]
    ]


def changed_readings(recorded: Mapping[str, Any], window: Window) -> str | None:
    """How the readings of ``window`` differ from the digest ``recorded``; None if not."""
    now = plain(readings_digest(window))
    if now["sha256"] == recorded["sha256"]:
        return None
    was, count = int(recorded["count"]), int(now["count"])
    if count < was:
        what = f"{was - count} of its {was} readings were deleted"
    elif count > was:
        what = f"{count - was} readings were added to its {was}"
    else:
        what = f"readings were edited (still {count})"
    moved = [
        f"{name} {_shown(recorded.get(name))} → {_shown(now[name])}"
        for name in ("maximum", "minimum")
        if recorded.get(name) != now[name]
    ]
    return what + (f"; {', '.join(moved)}" if moved else "")


def describe_evidence(items: Any, gettext: Gettext | None = None) -> str:
    """One line for the ``evidence`` of an audit entry's detail (history views).

    ``gettext``: the reader's catalog (:func:`hazmon.config.i18n.translator`); without
    it the line is English. Only the display is translated: the stored detail, which
    the audit chain hashes, is left as it is.
    """
    _ = gettext or _untranslated
    if not isinstance(items, list):
        return str(items)
    parts = []
    for item in items:
        if not isinstance(item, dict):
            parts.append(str(item))
            continue
        words = []
        event = item.get("event")
        if isinstance(event, dict):
            peak = event.get("peak")
            words.append(
                _("event {event} peak {peak} {unit}").format(
                    event=item.get("event_id"),
                    peak=format_number(peak) if isinstance(peak, int | float) else peak,
                    unit=event.get("unit"),
                )
            )
        readings = item.get("readings")
        if isinstance(readings, dict):
            words.append(
                _("{count} readings sha256 {digest}").format(
                    count=readings.get("count"), digest=str(readings.get("sha256"))[:12]
                )
            )
        parts.append(f"#{item.get('evidence_id')} " + _(", ").join(words))
    return _("; ").join(parts)


def _untranslated(message: str) -> str:
    return message


def _shown(value: Any) -> str:
    return "none" if value is None else str(value)


class RegisterReadings:
    """The readings a SQLite register file holds beside it (the demo's and ``hazmon run``'s
    one file), read on the register's own connection, inside its transaction.

    A separate store connection would wait on the register's own write lock, and
    opening one may migrate its schema; this reads only.
    """

    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    @staticmethod
    def present(connection: Connection) -> bool:
        """Whether the register's database holds a time-series store's tables."""
        if connection.dialect.name != "sqlite":
            return False
        inspector = inspect(connection)
        if not (inspector.has_table("readings") and inspector.has_table("channels")):
            return False
        return "name" in {column["name"] for column in inspector.get_columns("channels")}

    def read_window(self, channel: Channel, start_ns: int, end_ns: int) -> Window:
        """Readings of ``channel`` with ``start_ns <= ts <= end_ns`` [ns UTC], in time order."""
        # The store's own query, on the DB-API connection the register's transaction holds.
        raw = self.connection.connection.driver_connection
        assert raw is not None
        rows = raw.execute(WINDOW_SQL, (*channel.key, start_ns, end_ns)).fetchall()
        return window_of(rows)

    def close(self) -> None:
        """Nothing to release: the connection is the register's."""


class ReadingsFile:
    """The readings of a kit's SQLite store read from another register (PostgreSQL).

    The service's register writer files hazards from its own thread while the service
    writes readings: each window is read on a fresh read-only connection, so it neither
    shares a connection across threads nor takes the store's write lock.

    Parameters
    ----------
    path
        The time-series store's file (``hazmon run --db``).
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    def read_window(self, channel: Channel, start_ns: int, end_ns: int) -> Window:
        """Readings of ``channel`` with ``start_ns <= ts <= end_ns`` [ns UTC], in time order;
        empty when the file holds none (or cannot be read: the entry then vouches for none)."""
        try:
            connection = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True)
        except sqlite3.Error:
            return Window.empty()
        try:
            rows = connection.execute(WINDOW_SQL, (*channel.key, start_ns, end_ns)).fetchall()
        except sqlite3.Error:
            return Window.empty()
        finally:
            connection.close()
        return window_of(rows)

    def close(self) -> None:
        """Nothing held between reads."""


__all__ = [
    "DIGEST_FORMAT",
    "EVENT_FIGURES",
    "ReadingsFile",
    "RegisterReadings",
    "WindowReader",
    "changed_figures",
    "changed_readings",
    "describe_evidence",
    "event_figures",
    "readings_digest",
    "serialise",
]
