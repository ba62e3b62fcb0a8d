"""A writing process for the SIGKILL test: spools numbered batches and says when each is in.

Usage: ``python outbox_writer_process.py URL SPOOL FIRST LAST START_NS``

Writes batches FIRST..LAST (inclusive) of deterministic readings through a
:class:`LineProtocolTimeSeries`, printing ``committed N`` once batch N is durable in the
spool, then drains the spool and prints ``drained`` (or ``not drained``).
"""

from __future__ import annotations

import sys

import numpy as np

from hazmon.analysis.readings import Channel, ChannelTable, Readings
from hazmon.store.timeseries.line_protocol import LineProtocolTimeSeries

CHANNELS = ChannelTable([Channel("sigkill", f"gd-{number}", "lel", "%LEL") for number in range(4)])
PER_BATCH = 40
STEP_NS = 3_000_000  # [ns] between a channel's readings


def batch(number: int, start_ns: int) -> tuple[Readings, np.ndarray]:
    """Batch ``number``: the same readings every time it is asked for."""
    row = number * PER_BATCH + np.arange(PER_BATCH)
    channel = row % len(CHANNELS)
    ts = start_ns + (row // len(CHANNELS)) * STEP_NS
    value = (row % 997) * 0.25 + 0.125
    return Readings.from_columns(ts, channel, value), (row % 4).astype(np.uint8)


def main() -> int:
    url, spool, first, last, start_ns = sys.argv[1:6]
    store = LineProtocolTimeSeries.victoria_metrics(url, spool, timeout=2.0)
    store.open()
    for number in range(int(first), int(last) + 1):
        readings, level = batch(number, int(start_ns))
        store.write(readings, level, CHANNELS)
        print(f"committed {number}", flush=True)
    drained = store.flush(60)
    store.close(timeout=0)
    print("drained" if drained else "not drained", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
