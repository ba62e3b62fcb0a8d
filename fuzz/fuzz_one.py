"""Run one fuzz target under atheris (libFuzzer): ``fuzz_one.py TARGET [libFuzzer
arguments and corpus folders]``; ``--list`` prints the target names.

Only hazmon and the targets are instrumented for coverage: numpy, pandas and
pydantic are imported first, so that the fuzzer's feedback is hazmon's own branches.
"""

from __future__ import annotations

import sys

import numpy  # noqa: F401 - imported before instrumentation, on purpose
import pandas  # noqa: F401
import pydantic  # noqa: F401


def main() -> None:
    import atheris

    with atheris.instrument_imports(include=["hazmon", "targets"]):
        from targets import TARGETS

    if sys.argv[1:2] == ["--list"]:
        print("\n".join(TARGETS))
        return
    name, *arguments = sys.argv[1:]
    atheris.Setup([sys.argv[0], *arguments], TARGETS[name])
    atheris.Fuzz()


if __name__ == "__main__":
    main()
