"""The desk's two heavy answers against a plain SELECT of the same rows.

Run: ``.venv/bin/python benchmarks/bench_desk.py [--hazards 100000] [--readings 1000000]``.

1. The hazard list: ``GET /api/hazards`` (session check, filters, sort, one page of 50,
   the total and the counts per status, JSON) over ``--hazards`` hazards of 20
   enterprises, filtered by one enterprise and status, sorted by deadline. Baseline: a
   plain ``SELECT`` of the same 50 rows with sqlite3.
2. The evidence chart: ``GET /api/hazards/ID/chart?width=1000`` over an evidence window
   of ``--readings`` readings (1 Hz), downsampled per pixel with min and max kept; the
   window is longer than 1000 minutes, so a pixel is whole minutes and the store reads
   its per-minute summaries. Baseline: a plain ``SELECT ts, value, quality, level`` of
   the window's rows; and, beside it, a plain ``SELECT`` of the window's summary rows
   (what the chart reads).

Both run in this process through FastAPI's TestClient (no network), best of 7 runs.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sqlite3
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from fastapi.testclient import TestClient

from hazmon.analysis.readings import Channel, ChannelTable, Readings
from hazmon.store.accounts import Accounts
from hazmon.store.hazards import HazardContext, HazardRegister, hazards_table
from hazmon.store.timeseries.sqlite import SqliteTimeSeries
from hazmon.web.app import DeskSettings, create_app
from hazmon.web.chart import pixel_interval

SECOND = 1_000_000_000
T0 = 1_700_000_000 * SECOND
STATUSES = ("pending_review", "confirmed", "rectifying", "rectified", "verified", "dismissed")


def best(function: Callable[[], object], runs: int = 7) -> float:
    """Best wall time of ``runs`` calls [s]."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def seed(folder: Path, hazards: int, readings: int) -> tuple[str, Path, int]:
    url = f"sqlite:///{folder / 'register.db'}"
    store_path = folder / "readings.db"
    rng = np.random.default_rng(7)
    now = dt.datetime.now(dt.UTC)
    with HazardRegister(url) as register:
        rows = [
            {
                "created_at": now - dt.timedelta(minutes=int(number)),
                "status": STATUSES[int(rng.integers(len(STATUSES)))],
                "source": "supervision_inspection",
                "enterprise": f"企业{number % 20:02d}",
                "location": f"区域{number % 50}",
                "finding": f"隐患描述 {number}",
                "rule_id": "manual",
                "standard": "GB 30871-2022",
                "clause": "5.1",
                "grade": "general" if number % 4 else "major",
                "deadline": now + dt.timedelta(days=int(rng.integers(-30, 60))),
                "penalty_basis": False,
                "closed_on_spot": False,
            }
            for number in range(hazards)
        ]
        with register.engine.begin() as connection:
            connection.execute(hazards_table.insert(), rows)
        channel = Channel("bench", "gd-01", "lel", "%LEL", "methane")
        end = T0 + (readings - 1) * SECOND
        hazard_id = register.add_hazard(
            HazardContext(enterprise="企业00", location="罐区"),
            "证据曲线基准",
            rule_id="manual",
            standard="GB/T 50493-2019",
            clause="5.5.2",
            actor="bench",
            evidence=[(channel, T0, end)],
        )
        Accounts(register.engine).add("officer", "bench-password", role="officer")
    channels = ChannelTable()
    channels.add(channel)
    ts = T0 + np.arange(readings, dtype=np.int64) * SECOND
    value = 10 + 5 * np.sin(np.arange(readings) / 600.0) + rng.normal(0, 0.5, readings)
    value[readings // 2] = 80.0
    level = np.where(value >= 50, 2, 0).astype(np.uint8)
    with SqliteTimeSeries(store_path) as store:
        step = 200_000
        for start in range(0, readings, step):
            part = slice(start, start + step)
            batch = Readings.from_columns(ts[part], np.zeros(len(ts[part])), value[part])
            store.write(batch, level[part], channels)
    return url, store_path, hazard_id


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hazards", type=int, default=100_000)
    parser.add_argument("--readings", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        started = time.perf_counter()
        url, store_path, hazard_id = seed(folder, args.hazards, args.readings)
        print(
            f"seeded {args.hazards} hazards and {args.readings} readings in "
            f"{time.perf_counter() - started:.1f} s"
        )
        app = create_app(DeskSettings(url, store_path))
        http = TestClient(app)
        signed = http.post("/api/login", json={"username": "officer", "password": "bench-password"})
        assert signed.status_code == 200
        params = {
            "enterprise": "企业07",
            "status": "rectifying",
            "sort": "deadline",
            "order": "asc",
        }

        def listing() -> None:
            answer = http.get("/api/hazards", params=params)
            assert answer.status_code == 200
            assert len(answer.json()["hazards"]) == 50

        plain = sqlite3.connect(folder / "register.db")

        def plain_list() -> None:
            rows = plain.execute(
                "SELECT * FROM hazards WHERE enterprise = ? AND status = ? "
                "ORDER BY deadline ASC, id DESC LIMIT 50",
                ("企业07", "rectifying"),
            ).fetchall()
            assert len(rows) == 50

        desk_list, base_list = best(listing), best(plain_list)
        print(
            f"hazard list ({args.hazards} hazards): desk {desk_list * 1e3:.1f} ms, plain "
            f"SELECT {base_list * 1e3:.1f} ms, ratio {desk_list / base_list:.1f}"
        )

        def chart() -> None:
            answer = http.get(f"/api/hazards/{hazard_id}/chart", params={"width": 1000})
            data = answer.json()[0]
            assert answer.status_code == 200
            assert max(data["maximum"]) == 80.0

        readings_db = sqlite3.connect(store_path)

        def plain_window() -> None:
            rows = readings_db.execute(
                "SELECT ts, value, quality, level FROM readings WHERE channel_id = 1 "
                "AND ts BETWEEN ? AND ? ORDER BY ts",
                (T0, T0 + (args.readings - 1) * SECOND),
            ).fetchall()
            assert len(rows) == args.readings

        def plain_summaries() -> None:
            rows = readings_db.execute(
                "SELECT start_ts, minimum, maximum, total, count, quality, level FROM rollups "
                "WHERE channel_id = 1 AND kept = 1 AND start_ts BETWEEN ? AND ? "
                "ORDER BY start_ts",
                (T0, T0 + (args.readings - 1) * SECOND),
            ).fetchall()
            assert rows

        desk_chart, base_chart = best(chart, 5), best(plain_window, 5)
        base_summaries = best(plain_summaries, 5)
        print(
            f"evidence chart ({args.readings} readings, 1000 px): desk "
            f"{desk_chart * 1e3:.1f} ms, plain SELECT {base_chart * 1e3:.1f} ms, ratio "
            f"{desk_chart / base_chart:.3f}; plain SELECT of its per-minute summaries "
            f"{base_summaries * 1e3:.1f} ms, ratio {desk_chart / base_summaries:.1f}"
        )

        # The store's aggregate alone, from the summaries and from raw rows only (what
        # the chart read before the summaries), in the same run.
        interval = pixel_interval(T0, T0 + (args.readings - 1) * SECOND, 1000)
        channel = Channel("bench", "gd-01", "lel", "%LEL", "methane")
        with SqliteTimeSeries(store_path) as store:
            window = (channel, T0, T0 + (args.readings - 1) * SECOND, interval)
            fast = best(lambda: store.aggregate(*window), 5)
            slow = best(lambda: store.aggregate(*window, summaries=False), 3)
            same = (
                store.aggregate(*window).maximum
                == store.aggregate(*window, summaries=False).maximum
            )
            assert same.all()
        print(
            f"store aggregate ({interval // (60 * SECOND)}-min columns): per-minute summaries "
            f"{fast * 1e3:.1f} ms, raw rows only {slow * 1e3:.1f} ms, ratio {slow / fast:.0f}"
        )

        # Retention as a long-running store applies it: readings older than the last
        # hour rolled up per minute; the chart reads the rollups through the same query.
        end = T0 + (args.readings - 1) * SECOND
        with SqliteTimeSeries(store_path) as store:
            rolled = store.downsample(end - 3600 * SECOND, 60 * SECOND)

        def plain_rolled() -> None:
            rows = readings_db.execute(
                "SELECT ts, value, quality, level FROM readings WHERE channel_id = 1 "
                "AND ts BETWEEN ? AND ? ORDER BY ts",
                (T0, end),
            ).fetchall()
            rows += readings_db.execute(
                "SELECT start_ts, minimum, maximum, level FROM rollups WHERE channel_id = 1 "
                "AND kept = 0 AND start_ts BETWEEN ? AND ? ORDER BY start_ts",
                (T0, end),
            ).fetchall()
            assert rows

        desk_rolled, base_rolled = best(chart, 5), best(plain_rolled, 5)
        print(
            f"evidence chart after retention ({rolled} readings in 1-min rollups, the last "
            f"hour raw): desk {desk_rolled * 1e3:.1f} ms, plain SELECT "
            f"{base_rolled * 1e3:.1f} ms, ratio {desk_rolled / base_rolled:.2f}"
        )
        app.state.desk.close()
        plain.close()
        readings_db.close()


if __name__ == "__main__":
    main()
