"""Secrets come from the environment only: a config file names the variable."""

from __future__ import annotations

import logging
import os

log = logging.getLogger(__name__)


def secret_from_env(variable: str | None, source: str, key: str) -> str | None:
    """The value of environment ``variable`` (None when unset or no variable named).

    Secrets live in the environment only; this never logs or prints the value.
    """
    if not variable:
        return None
    value = os.environ.get(variable)
    if value is None:
        log.debug("%s: %s names %s, which is not set", source, key, variable)
    return value
