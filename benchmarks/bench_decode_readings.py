"""What reading a ``hazmon.readings/1`` message costs a central worker beyond parsing
its JSON: :func:`~hazmon.acquisition.publish.decode_readings` (checks of every item's
type and range, the columns as numpy arrays) against ``json.loads`` of the same payload,
measured in the same run.

Run: ``.venv/bin/python benchmarks/bench_decode_readings.py [--readings 100] [--messages 20000]``.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from hazmon.acquisition.publish import decode_readings, encode_readings
from hazmon.analysis.readings import Channel

T0 = 1_790_000_000_000_000_000


def per_message(function: object, payload: bytes, messages: int) -> float:
    """Seconds per call of ``function(payload)``, the best of three rounds."""
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(messages):
            function(payload)  # type: ignore[operator]
        best = min(best, (time.perf_counter() - start) / messages)
    return best


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--readings", type=int, default=100, help="per message")
    parser.add_argument("--messages", type=int, default=20000, help="per round")
    args = parser.parse_args()
    channel = Channel(site="kit-1", device="gd-1", quantity="lel", unit="%LEL")
    n = args.readings
    rng = np.random.default_rng(1)
    value = rng.uniform(0, 100, n)
    value[::10] = np.nan  # a reading now and then with no value
    payload = encode_readings(
        channel,
        T0 + np.arange(n, dtype=np.int64) * 1_000_000_000,
        value,
        np.zeros(n, np.uint16),
        np.zeros(n, np.uint8),
        boot=T0,
        seq=1,
    )
    arrival = T0 + (n + 1) * 1_000_000_000
    parse = per_message(json.loads, payload, args.messages)
    decode = per_message(
        lambda body: decode_readings(body, arrival_ns=arrival), payload, args.messages
    )
    print(f"{n} readings a message, {len(payload)} bytes")
    print(f"json.loads (the floor): {parse * 1e6:.1f} µs a message")
    print(
        f"decode_readings: {decode * 1e6:.1f} µs a message ({decode / parse:.2f}× json.loads; "
        f"{n / decode:,.0f} readings/s)"
    )


if __name__ == "__main__":
    main()
