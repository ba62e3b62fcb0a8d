"""How the ``hazmon`` command starts: what it imports, and Ctrl-C at any moment.

Nothing here is timed. Which modules a call imports is read from ``python -X importtime``
(one stderr line per module, written as each import finishes), and every SIGINT is sent
after a readiness signal the process gives (an import line, a connection), never after
a fixed wait.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hazmon.acquisition.cli import EXIT_INTERRUPTED, INTERRUPTED_MESSAGE, main
from hazmon.acquisition.commands import SUMMARIES

#: Packages that take most of a second or more to import; a call that does not need
#: them must not import them.
HEAVY = ("numpy", "pandas", "scipy", "sqlalchemy", "pymodbus", "paho", "rich", "pydantic")

#: The installed console script (its entry function), or the module run as a script.
CONSOLE_SCRIPT = Path(sys.executable).with_name("hazmon")
HAZMON = (
    [str(CONSOLE_SCRIPT)]
    if CONSOLE_SCRIPT.exists()
    else [sys.executable, "-m", "hazmon.acquisition.cli"]
)
ENV = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1", "PYTHONPROFILEIMPORTTIME": "1"}
DEADLINE = 60.0  # [s] generous: the suite runs on loaded two-core machines


def _imported(arguments: list[str]) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """Run ``hazmon ARGUMENTS``; return the result and every module it imported."""
    result = subprocess.run(
        [*HAZMON, *arguments],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=DEADLINE,
        check=False,
    )
    modules = {
        line.rsplit("|", 1)[1].strip()
        for line in result.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }
    assert "hazmon.acquisition.cli" in modules, result.stderr[-2000:]
    return result, modules


def _heavy(modules: set[str]) -> list[str]:
    return sorted(name for name in modules if name.split(".")[0] in HEAVY)


@pytest.mark.parametrize("arguments", [["--version"], ["--help"], []])
def test_version_help_and_a_bare_call_import_no_heavy_package(arguments: list[str]) -> None:
    result, modules = _imported(arguments)
    assert result.returncode == 0, result.stderr[-2000:]
    assert _heavy(modules) == []
    # Every command module imports this one: no command module was loaded.
    assert "hazmon.acquisition.commands.common" not in modules


def test_the_check_for_heavy_imports_sees_them_when_a_command_needs_them() -> None:
    """The test above could not fail if the import listing missed packages: it does not."""
    result, modules = _imported(["analyze", "--help"])
    assert result.returncode == 0, result.stderr[-2000:]
    assert "numpy" in modules
    assert "hazmon.acquisition.commands.common" in modules


def test_a_bare_call_prints_the_help_and_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: hazmon")
    for command in SUMMARIES:
        assert command in out


def test_every_command_in_the_table_has_its_module_and_parser(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``hazmon NAME --help`` reaches NAME's real parser, not the help-only placeholder."""
    for command in SUMMARIES:
        with pytest.raises(SystemExit) as exited:
            main([command, "--help"])
        assert exited.value.code == 0
        assert capsys.readouterr().out.startswith(f"usage: hazmon {command} [-h]")


@pytest.fixture
def silent_meter() -> Iterator[socket.socket]:
    """A TCP port that accepts connections and never answers."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        server.settimeout(DEADLINE)
        yield server


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class Watched:
    """``hazmon read`` of a meter that never answers (it cannot finish on its own).

    A thread reads stderr as it comes, so the pipe never fills and blocks the process,
    and records each module that ``-X importtime`` reports imported.
    """

    def __init__(self, server: socket.socket) -> None:
        address = f"127.0.0.1:{server.getsockname()[1]}"
        self.process = subprocess.Popen(
            [*HAZMON, "read", address, "--profile", "generic-4gas", "--timeout", "600"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=ENV,
            # A suite started in the background by a non-interactive shell inherits SIGINT
            # ignored, and so would hazmon: give it the default, as a terminal would.
            preexec_fn=_default_sigint,
        )
        self.lines: list[str] = []
        self.imported: list[str] = []
        self.changed = threading.Condition()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            with self.changed:
                self.lines.append(line)
                if line.startswith("import time:") and "|" in line:
                    self.imported.append(line.rsplit("|", 1)[1].strip())
                self.changed.notify_all()
        with self.changed:
            self.changed.notify_all()

    def wait_for_import(self, module: str, then_more: int = 0) -> None:
        """Return once ``module`` and ``then_more`` further modules have been imported."""

        def seen() -> bool:
            if module not in self.imported:
                return not self.reader.is_alive()
            return len(self.imported) > self.imported.index(module) + then_more

        with self.changed:
            self.changed.wait_for(seen, timeout=DEADLINE)
            assert module in self.imported, "".join(self.lines)[-3000:]

    def interrupt_and_check(self) -> None:
        """SIGINT, then: exit 130, and stderr (less import lines) is the one message."""
        self.process.send_signal(signal.SIGINT)
        # Not communicate(): it would read stderr too, in a race with the reader thread.
        assert self.process.stdout is not None
        out = self.process.stdout.read()
        self.process.wait(timeout=DEADLINE)
        self.reader.join(timeout=DEADLINE)
        messages = [line for line in self.lines if not line.startswith("import time:")]
        assert self.process.returncode == EXIT_INTERRUPTED, (out, "".join(messages))
        assert "Traceback" not in "".join(messages)
        assert [line.rstrip("\n") for line in messages] == [INTERRUPTED_MESSAGE]


def test_ctrl_c_while_a_command_imports_its_modules_prints_one_line(
    silent_meter: socket.socket,
) -> None:
    watched = Watched(silent_meter)
    # numpy's first submodule: the command's imports have begun and are far from done.
    watched.wait_for_import("numpy._globals")
    watched.interrupt_and_check()


def test_ctrl_c_while_a_command_waits_prints_one_line(silent_meter: socket.socket) -> None:
    watched = Watched(silent_meter)
    connection, _ = silent_meter.accept()  # the request is on its way: the command waits
    # Kept open until the command has ended: a closed link would end it on its own (exit
    # 1, "no reply") before SIGINT arrived on a loaded machine.
    with connection:
        watched.interrupt_and_check()


@pytest.mark.parametrize("step", range(12))
def test_ctrl_c_at_any_moment_after_startup_prints_one_line(
    silent_meter: socket.socket, step: int
) -> None:
    """SIGINT at growing offsets after hazmon's own code starts: always one clean line.

    The offsets only spread the moments sampled over importing, parsing, connecting and
    waiting; the outcome asserted is the same at every one of them, so no offset can
    make the test fail by being too short or too long. (Before the first line of hazmon
    runs, CPython's own start-up answers Ctrl-C as it does for ``python -c pass``.)
    """
    watched = Watched(silent_meter)
    # The first import after the CLI module's own is one main() makes: from then on
    # hazmon's code runs, inside main()'s handling of KeyboardInterrupt.
    watched.wait_for_import("hazmon.acquisition.cli", then_more=1)
    time.sleep(step * 0.04)
    watched.interrupt_and_check()


class _InterruptsInItsDestructor:
    """Sends SIGINT to this process from ``__del__`` and waits until it is handled.

    The handler's KeyboardInterrupt is raised inside the destructor, where Python prints
    "Exception ignored" and swallows it: the case a loaded machine produced at random
    (the garbage collector ran a destructor just as Ctrl-C came).
    """

    def __del__(self) -> None:
        os.kill(os.getpid(), signal.SIGINT)
        deadline = time.monotonic() + DEADLINE
        while time.monotonic() < deadline:  # the handler runs between two bytecodes
            time.sleep(0.001)


# The swallowed interrupt is the point of the test; pytest reports it as unraisable.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_ctrl_c_swallowed_by_a_destructor_still_ends_the_command(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import hazmon.acquisition.cli as cli

    chosen = cli._chosen_command

    def choose_while_a_destructor_runs(argv: list[str]) -> str | None:
        _InterruptsInItsDestructor()  # created and collected at once: __del__ runs here
        return chosen(argv)

    monkeypatch.setattr(cli, "_chosen_command", choose_while_a_destructor_runs)
    status = main(["check", "no-such-site.toml"])  # would exit 2 if it ran
    assert status == EXIT_INTERRUPTED
    assert capsys.readouterr().err.strip().endswith(INTERRUPTED_MESSAGE)
