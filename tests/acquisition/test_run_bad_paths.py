"""`hazmon run --db` on a path that cannot be a database: one clear line, exit 2,
before any meter is polled (issue #17: these were tracebacks)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

HAZMON = [sys.executable, "-m", "hazmon.acquisition.cli"]


@pytest.mark.parametrize(
    ("make", "says"),
    [
        (lambda tmp: tmp, "is a folder — give a file name inside it"),
        (lambda tmp: tmp / "missing" / "x.db", "does not exist — create it or give another path"),
    ],
    ids=["a folder", "a missing folder"],
)
def test_run_refuses_a_database_path_it_cannot_write(
    tmp_path: Path, make: object, says: str
) -> None:
    target = make(tmp_path)  # type: ignore[operator]
    answer = subprocess.run(
        [*HAZMON, "run", "demo", "--db", str(target), "--duration", "1", "--no-live"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "200"},
        check=False,
    )
    assert answer.returncode == 2, answer.stderr
    assert "Traceback" not in answer.stderr
    assert f"--db = '{target}'" in answer.stderr
    assert says in answer.stderr
