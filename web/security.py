"""Sessions, CSRF tokens and login rate limiting of the desk.

The session is a signed cookie (itsdangerous) holding the user's id and a per-session
CSRF token; every POST must carry that token (form field ``csrf_token`` or header
``X-CSRF-Token``). The cookie is HttpOnly and SameSite=Lax, and Secure when the request
came over TLS or the site says it is behind TLS.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer

SESSION_COOKIE = "hazmon_session"
LOGIN_COOKIE = "hazmon_login"
#: A session lasts a working day and a half [s].
SESSION_MAX_AGE = 12 * 3600


class Sessions:
    """Signs and reads session cookies with one secret."""

    def __init__(self, secret: str) -> None:
        self._serializer = URLSafeTimedSerializer(secret, salt="hazmon-desk-session")

    def issue(self, user_id: int) -> tuple[str, str]:
        """(cookie value, CSRF token) of a new session for ``user_id``."""
        token = secrets.token_urlsafe(32)
        return self._serializer.dumps({"uid": user_id, "csrf": token}), token

    def read(self, cookie: str | None) -> dict[str, Any] | None:
        """The session in ``cookie``, or None when absent, forged or expired."""
        if not cookie:
            return None
        try:
            data = self._serializer.loads(cookie, max_age=SESSION_MAX_AGE)
        except BadSignature:
            return None
        return data if isinstance(data, dict) and "uid" in data and "csrf" in data else None


def same_token(expected: str | None, given: str | None) -> bool:
    """Constant-time comparison of two CSRF tokens; False when either is missing."""
    return bool(expected) and bool(given) and hmac.compare_digest(str(expected), str(given))


@dataclass
class LoginLimiter:
    """At most ``attempts`` failed sign-ins per user name and per client in ``window`` [s]."""

    attempts: int = 5
    window: float = 300.0
    _failures: dict[str, deque[float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self._failures.setdefault(key, deque())
        while times and now - times[0] > self.window:
            times.popleft()
        return times

    def blocked(self, username: str, client: str) -> bool:
        """True when this name or this client failed too often lately."""
        now = time.monotonic()
        with self._lock:
            return any(
                len(self._recent(key, now)) >= self.attempts
                for key in (f"user:{username.lower()}", f"client:{client}")
            )

    def failed(self, username: str, client: str) -> None:
        """Count one failed sign-in."""
        now = time.monotonic()
        with self._lock:
            for key in (f"user:{username.lower()}", f"client:{client}"):
                self._recent(key, now).append(now)

    def succeeded(self, username: str) -> None:
        """Forget the failures of a name that signed in."""
        with self._lock:
            self._failures.pop(f"user:{username.lower()}", None)
