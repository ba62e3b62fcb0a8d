"""Datalog times and values outside what a meter can mean are refused or flagged:
times before 2000 or over a day ahead (an unset clock, a negative epoch), values
beyond float range."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hazmon.acquisition.cli import main
from hazmon.acquisition.datalog import DatalogError, read_datalog
from hazmon.config.quality import Quality


@pytest.mark.parametrize(
    ("times", "expected"),
    [
        # -1777622400000 ms: 1913-09-02T16:00:00Z, a sign no meter writes.
        (["-1777622400000", "-1777622401000"], "line 2, column 'time': 1913-09-02T16:00:00Z"),
        (["1999-12-31 23:59:59", "2000-01-01 00:00:00"], "1999-12-31T15:59:59Z is before 2000"),
        (
            ["2100-01-01 00:00:00", "2100-01-01 00:00:01"],
            "2099-12-31T16:00:00Z is more than a day from now",
        ),
    ],
)
def test_a_time_no_clock_can_mean_is_refused_with_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], times: list[str], expected: str
) -> None:
    path = tmp_path / "log.csv"
    path.write_text("time,CO [ppm]\n" + "".join(f"{t},5\n" for t in times), encoding="utf-8")
    with pytest.raises(DatalogError, match=r"before 2000|more than a day"):
        read_datalog(path)
    assert main(["analyze", str(path)]) == 2
    error = capsys.readouterr().err
    assert str(path) in error
    assert expected in error, error
    assert "Traceback" not in error


def test_a_value_beyond_float_range_is_a_sensor_fault_not_infinity(tmp_path: Path) -> None:
    path = tmp_path / "log.csv"
    path.write_text(
        "time,CO [ppm]\n"
        "1777622400000,5\n"
        f"1777622401000,{'9' * 400}\n"
        "1777622402000,1e400\n"
        "1777622403000,-1e400\n",
        encoding="utf-8",
    )
    readings = read_datalog(path).readings
    assert readings.value[0] == 5.0
    assert np.isnan(readings.value[1:]).all()
    assert (readings.quality[1:] & Quality.SENSOR_FAULT).all()


def test_one_row_with_a_zone_among_rows_without_is_refused(tmp_path: Path) -> None:
    # Found by fuzz/run: dateutil reads "0z" as seconds and UTC, the other rows are
    # naive, and the column became objects pandas could not treat as times.
    path = tmp_path / "log.csv"
    path.write_text(
        "time,CO [ppm]\n2026-03-02 09:00:00,1\n2026-03-02 09:01:0z,40\n", encoding="utf-8"
    )
    with pytest.raises(
        DatalogError, match=r"line 3, column 'time': '2026-03-02 09:01:0z' has a time zone"
    ):
        read_datalog(path)
