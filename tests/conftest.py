"""Shared test settings.

Tests that need a server (PostgreSQL, Mosquitto, VictoriaMetrics) skip with a clear
reason on a machine that lacks it. CI sets ``HAZMON_REQUIRE_SERVICES=1``: there every
server must be present, so a skip is turned into a failure that says which one.
"""

from __future__ import annotations

import os
from collections.abc import Generator

import pytest

REQUIRE_SERVICES = os.environ.get("HAZMON_REQUIRE_SERVICES") == "1"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, None]:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    if REQUIRE_SERVICES and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = (
            f"skipped where HAZMON_REQUIRE_SERVICES=1 requires every service: {reason}"
        )
