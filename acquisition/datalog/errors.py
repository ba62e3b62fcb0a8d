"""The one error of the datalog reader: the file, the row or column, the fix."""

from __future__ import annotations

from hazmon.config.errors import ConfigError


class DatalogError(ConfigError):
    """A datalog cannot be read; the message names the file, the row or column, the fix.

    A subclass of :class:`ConfigError` so the CLI's one handler exits 2 with it, but
    worded as what it is: ``cannot read datalog X.csv: ...``.
    """

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        if len(problems) == 1:
            text = f"cannot read datalog {source}: {problems[0]}"
        else:
            text = f"cannot read datalog {source}:\n" + "\n".join(f"  {p}" for p in problems)
        ValueError.__init__(self, text)
