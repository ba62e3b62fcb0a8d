"""The tamper-evident audit history: a hash chain over every change to the register.

Each entry's hash covers its own content and the hash of the entry before it, so an
edited entry no longer matches its hash and a deleted one breaks the link of the next.
Entries are numbered without gaps and the newest number and hash are kept in a
one-row head table, so dropping the newest entries is found too. Each entry also
records the hash of the record's state after the change; a record edited behind the
register's back no longer matches the state its newest entry recorded.

A chain proves that what is there was not rewritten by someone who cannot also
recompute every later hash; anchoring the head hash elsewhere (printed on the
inspection report, sent to the department) is what makes a full rewrite detectable.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from typing import Any

#: The ``prev_hash`` of the first entry.
GENESIS = "0" * 64


def utc(moment: dt.datetime) -> dt.datetime:
    """``moment`` as an aware UTC datetime; a naive one is taken to be UTC already.

    SQLite keeps no zone and PostgreSQL answers in the session's zone: both are
    normalised here so that a state hashes the same on either database.
    """
    if moment.tzinfo is None:
        return moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC)


def _plain(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return utc(value).isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return repr(value)  # exact and the same on every database driver
    return str(value)


def plain(value: Any) -> Any:
    """``value`` as the chain hashes it: UTC ISO datetimes, floats by repr, lists for tuples."""
    return _plain(value)


def canonical_json(value: Any) -> str:
    """One JSON text per value: sorted keys, no spaces, UTC datetimes, floats by repr."""
    return json.dumps(_plain(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def state_hash(state: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of a record's state in canonical JSON."""
    return hashlib.sha256(canonical_json(state).encode()).hexdigest()


def entry_hash(
    prev_hash: str,
    seq: int,
    hazard_id: int | None,
    at: str,
    actor: str,
    action: str,
    detail: str,
    state: str | None,
) -> str:
    """SHA-256 (hex) of one audit entry chained to the one before it."""
    content = canonical_json([seq, hazard_id, at, actor, action, detail, state])
    return hashlib.sha256(f"{prev_hash}\n{content}".encode()).hexdigest()
