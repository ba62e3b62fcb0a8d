"""Startup cost of the ``hazmon`` command: CPU time of ``--version`` and ``--help``.

Run: ``.venv/bin/python benchmarks/bench_cli_startup.py [--runs 20]``. Each command runs
``--runs`` times as a child process; its CPU time (user + system, from
``resource.getrusage(RESOURCE_CHILDREN)``) is what the machine spent on it, so the
figure holds on a loaded machine, where wall time would not. The baseline, measured
in the same run the same way, is ``python -c pass``: the interpreter's own start, which
no Python command can go below. Prints the median CPU time per run [ms] of each and
its ratio to the baseline; the target is well under 500 ms for ``--version`` and
``--help``.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
from pathlib import Path

CONSOLE_SCRIPT = Path(sys.executable).with_name("hazmon")
HAZMON = (
    [str(CONSOLE_SCRIPT)]
    if CONSOLE_SCRIPT.exists()
    else [sys.executable, "-m", "hazmon.acquisition.cli"]
)


def _children_cpu() -> float:
    """CPU time [s] (user + system) of all waited-for children so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def cpu_per_run(command: list[str], runs: int) -> list[float]:
    """CPU time [s] of each of ``runs`` runs of ``command``."""
    times = []
    for _ in range(runs):
        before = _children_cpu()
        subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        times.append(_children_cpu() - before)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=20, help="runs of each command")
    args = parser.parse_args()

    commands = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "hazmon --version": [*HAZMON, "--version"],
        "hazmon --help": [*HAZMON, "--help"],
    }
    # One warm-up run each, so that every command finds its files in the page cache.
    for command in commands.values():
        cpu_per_run(command, 1)
    medians = {name: statistics.median(cpu_per_run(c, args.runs)) for name, c in commands.items()}
    baseline = medians["python -c pass"]
    print(f"CPU time per run, median of {args.runs} (user + system):")
    for name, median in medians.items():
        print(f"  {name:<18} {median * 1000:7.1f} ms  ({median / baseline:4.1f}x python -c pass)")


if __name__ == "__main__":
    main()
