"""The bad-input campaign of issue #17 (items 9 and 10), one case to one test id.

Every case the issue names is listed here once, named as the issue names it, and runs
the CLI in-process through :func:`hazmon.acquisition.cli.main`, as a user's shell
would run ``hazmon …``, against real files, sockets, brokers and databases. Each
asserts the documented exit status (2 bad input, 3 nothing answers; 0 where the input
is now read, as epoch milliseconds are), that no traceback is printed, and a message
that fits one screen and names what is wrong.

Bad input that is not in the campaign stays beside its feature (``test_cli_errors.py``,
``tests/config/test_file_encodings.py``); the datalog reader's own messages for the same
files are checked at the reader in ``test_datalog_reader.py``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from hazmon.acquisition.cli import main

#: Lines a message may take: one terminal screen.
SCREEN_LINES = 24
PROFILE_TEXT = (
    (Path(__file__).parents[2] / "config" / "profiles" / "generic-4gas.toml")
    .read_text(encoding="utf-8")
    .replace('name = "generic-4gas"', 'name = "my-4gas"')
    .replace("description = ", 'description = "四合一气体检测仪" #')
)
SITE_TEXT = """schema = "hazmon.site/1"
name = "enc"
enterprise = "演示化工有限公司"

[[devices]]
id = "gd-1"
profile = "{profile}"
address = "{address}"
location = "罐区东侧"
{extra}
"""
#: 2026-03-02 09:00 UTC [s]: readings one minute apart from here.
START_S = 1_772_442_000


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


class _Server:
    """A TCP server on a free port: ``answer`` gets each accepted connection."""

    def __init__(self, answer: Callable[[socket.socket], None]) -> None:
        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        self.socket.listen(8)
        self.socket.settimeout(0.2)
        self.port = int(self.socket.getsockname()[1])
        self.held: list[socket.socket] = []
        self.done = threading.Event()
        self.answer = answer
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.done.is_set():
            try:
                connection = self.socket.accept()[0]
            except OSError:
                continue
            self.held.append(connection)
            with contextlib.suppress(OSError):
                self.answer(connection)

    def close(self) -> None:
        self.done.set()
        self.thread.join()
        for connection in self.held:
            connection.close()
        self.socket.close()


def _say_garbage(connection: socket.socket) -> None:
    # Not MQTT: a CONNACK is 0x20 0x02 …; this is an HTTP answer, then the door shuts.
    connection.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n")
    connection.close()


@dataclass
class Env:
    """What a case may need; each resource is made on first use and torn down after."""

    tmp: Path
    monkeypatch: pytest.MonkeyPatch
    stack: contextlib.ExitStack

    def silent_port(self) -> int:
        """A port that accepts connections and never answers a byte."""
        server = _Server(lambda connection: None)
        self.stack.callback(server.close)
        return server.port

    def broken_broker(self) -> int:
        """A port that accepts and answers something that is not MQTT."""
        server = _Server(_say_garbage)
        self.stack.callback(server.close)
        return server.port

    def mosquitto(self, settings: str) -> int:
        from conftest import Broker

        broker = Broker(self.tmp, settings=settings)  # skips without mosquitto
        broker.start()
        self.stack.callback(broker.stop)
        return broker.port

    def site(self, address: str = "127.0.0.1:502", extra: str = "", profile: str = "") -> str:
        return SITE_TEXT.format(address=address, extra=extra, profile=profile or "generic-4gas")

    def write(self, name: str, data: str | bytes) -> Path:
        path = self.tmp / name
        if isinstance(data, str):
            path.write_text(data, encoding="utf-8")
        else:
            path.write_bytes(data)
        return path


@dataclass(frozen=True)
class Case:
    """One campaign case: the argv it runs, the status and the words it must print."""

    argv: Callable[[Env], list[str]]
    status: int
    words: tuple[str, ...]
    read: bool = False
    """The input is good now (read, not refused): the words are in the report."""


# -- site and profile files in encodings Windows saves --------------------------------

ENCODINGS: dict[str, Callable[[str], bytes]] = {
    "gbk": lambda text: text.encode("gbk"),
    # Notepad's "Unicode" has a BOM and is read; without one it is refused, not guessed.
    "utf-16": lambda text: text.encode("utf-16-le"),
    "binary": lambda text: os.urandom(64) + b"\x00" + text.encode(),
}
ENCODING_WORDS = {
    "gbk": "looks like GBK/GB18030",
    "utf-16": "UTF-16 without a byte-order mark",
    "binary": "a binary file",
}


def _bad_site(encoding: str) -> Callable[[Env], list[str]]:
    def argv(env: Env) -> list[str]:
        return ["check", str(env.write("site.toml", ENCODINGS[encoding](env.site())))]

    return argv


def _bad_profile(encoding: str) -> Callable[[Env], list[str]]:
    def argv(env: Env) -> list[str]:
        profile = env.write("my-4gas.toml", ENCODINGS[encoding](PROFILE_TEXT))
        return ["check", str(env.write("site.toml", env.site(profile=str(profile))))]

    return argv


# -- run --db --------------------------------------------------------------------------


def _run(db: Callable[[Env], Path]) -> Callable[[Env], list[str]]:
    return lambda env: ["run", "demo", "--db", str(db(env)), "--duration", "1", "--no-live"]


def _unwritable(env: Env) -> Path:
    """A folder nobody may write: permissions for a user; a read-only mount for root,
    whom permissions do not stop."""
    target = env.tmp / "locked"
    target.mkdir()
    if os.geteuid() != 0:
        target.chmod(0o500)
        env.stack.callback(target.chmod, 0o700)
        return target / "kit.db"
    answer = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m,ro", "tmpfs", str(target)],
        capture_output=True,
        text=True,
        check=False,
    )
    if answer.returncode != 0:
        pytest.skip(f"root, and cannot mount a read-only tmpfs: {answer.stderr.strip()}")
    env.stack.callback(subprocess.run, ["umount", "-l", str(target)], check=False)
    return target / "kit.db"


# -- datalogs for analyze --------------------------------------------------------------


def _datalog(env: Env, name: str, rows: list[str], header: str = "Time,CO [ppm]") -> str:
    return str(env.write(name, "\n".join([header, *rows]) + "\n"))


def _minutes(count: int = 20) -> list[str]:
    return [f"2026-03-02 09:{minute:02d}:00,{3 + minute % 4}" for minute in range(count)]


def _epoch_ms(env: Env) -> list[str]:
    rows = [f"{(START_S + 60 * i) * 1000},{3 + i % 4}" for i in range(20)]
    return ["analyze", _datalog(env, "ms.csv", rows, "timestamp,CO [ppm]")]


def _epoch_extra_digit(env: Env) -> list[str]:
    rows = [f"{START_S + 60 * i},{3 + i % 4}" for i in range(20)]
    # Line 7 (row 6): 11 digits, neither seconds nor milliseconds; taken as seconds it
    # would span 500 years, a grid of 4.4 GB at the analysis' one-second step.
    rows[5] = f"{(START_S + 300) * 10},40"
    return ["analyze", _datalog(env, "digit.csv", rows, "timestamp,CO [ppm]")]


def _one_bad_date(env: Env) -> list[str]:
    rows = _minutes()
    rows[4] = "2026-02-30 09:04:00,40"  # line 6; February has no 30th
    return ["analyze", _datalog(env, "bad-date.csv", rows)]


# -- check ------------------------------------------------------------------------------


def _check(address: str, extra: str = "") -> Callable[[Env], list[str]]:
    return lambda env: ["check", str(env.write("site.toml", env.site(address, extra)))]


# -- MQTT --------------------------------------------------------------------------------


def _wrong_credentials(env: Env) -> list[str]:
    passwd = shutil.which("mosquitto_passwd")
    if passwd is None:
        pytest.skip("mosquitto_passwd is not installed (apt-get install mosquitto)")
    subprocess.run([passwd, "-b", "-c", str(env.tmp / "pw"), "kit", "right"], check=True)
    port = env.mosquitto(f"allow_anonymous false\npassword_file {env.tmp / 'pw'}\n")
    env.monkeypatch.setenv("HAZMON_MQTT_USERNAME", "kit")
    env.monkeypatch.setenv("HAZMON_MQTT_PASSWORD", "wrong-pw")
    return ["read", f"mqtt://127.0.0.1:{port}", "--profile", "toxic-6gas-mqtt", "--timeout", "5"]


def _tls_ca_mismatch(env: Env) -> list[str]:
    """A broker whose certificate no CA the client trusts signed (a self-signed one;
    ``read`` trusts the system CAs)."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    cert, key = env.tmp / "server.pem", env.tmp / "server-key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    port = env.mosquitto(f"allow_anonymous true\ncertfile {cert}\nkeyfile {key}\n")
    return ["read", f"mqtts://127.0.0.1:{port}", "--profile", "toxic-6gas-mqtt", "--timeout", "5"]


# -- the campaign ------------------------------------------------------------------------

CASES: dict[str, Case] = {
    # Item 9.
    **{
        f"site TOML saved as {encoding}": Case(_bad_site(encoding), 2, (ENCODING_WORDS[encoding],))
        for encoding in ENCODINGS
    },
    **{
        f"profile TOML saved as {encoding}": Case(
            _bad_profile(encoding), 2, (ENCODING_WORDS[encoding], "my-4gas.toml")
        )
        for encoding in ENCODINGS
    },
    "run --db unwritable": Case(
        _run(_unwritable),
        2,
        (
            "--db = ",
            "is on a read-only filesystem — remount it writable"
            if os.geteuid() == 0
            else "is not writable by this user",
        ),
    ),
    "run --db a directory": Case(
        _run(lambda env: env.tmp), 2, ("is a folder — give a file name inside it",)
    ),
    "run --db in a missing folder": Case(
        _run(lambda env: env.tmp / "missing" / "x.db"),
        2,
        ("does not exist — create it or give another path",),
    ),
    "analyze on a directory": Case(lambda env: ["analyze", str(env.tmp)], 2, ("is a directory",)),
    "analyze --utc-offset nan": Case(
        lambda env: ["analyze", _datalog(env, "log.csv", _minutes(2)), "--utc-offset", "nan"],
        2,
        ("--utc-offset", "give hours from -14 to 14"),
    ),
    "hazards --db on a non-database file": Case(
        lambda env: [
            "hazards",
            "list",
            "--db",
            str(env.write("not-a-db.sqlite", b"garbage, not SQLite\n" * 10)),
        ],
        2,
        ("not a hazmon database",),
    ),
    "hazards an unreachable PostgreSQL URL": Case(
        lambda env: [
            "hazards",
            "list",
            "--url",
            f"postgresql+psycopg://u:secret@127.0.0.1:{_free_port()}/x",
        ],
        3,
        ("is the database server running",),
    ),
    "hazards a garbage URL": Case(
        lambda env: ["hazards", "list", "--url", "garbage"], 2, ("not a database URL",)
    ),
    "hazards an unknown dialect": Case(
        lambda env: ["hazards", "list", "--url", "nosuchdialect://x/y"],
        2,
        ("unknown database kind",),
    ),
    "central run with the broker down": Case(
        lambda env: [
            "central",
            "run",
            "--nats",
            f"nats://127.0.0.1:{_free_port()}",
            "--db",
            str(env.tmp / "c.db"),
        ],
        3,
        ("central run --nats", "no NATS server answers"),
    ),
    "central run a bad --nats": Case(
        lambda env: ["central", "run", "--nats", "nats://:4222x", "--db", str(env.tmp / "c.db")],
        2,
        ("--nats", "'nats://:4222x' is not a server URL"),
    ),
    "wrong MQTT credentials": Case(
        _wrong_credentials, 2, ("the broker refused the login — set HAZMON_MQTT_USERNAME",)
    ),
    "a TLS CA mismatch": Case(
        _tls_ca_mismatch, 2, ("TLS refused", "is not signed by a CA hazmon trusts")
    ),
    "read on a port that accepts and never answers": Case(
        lambda env: [
            "read",
            f"127.0.0.1:{env.silent_port()}",
            "--profile",
            "generic-4gas",
            "--timeout",
            "0.5",
        ],
        3,
        ("no value came back",),
    ),
    "read a missing serial device": Case(
        lambda env: [
            "read",
            "serial:///dev/hazmon-no-such-tty",
            "--profile",
            "nova-sds011",
            "--timeout",
            "0.5",
        ],
        3,
        ("no value came back",),
    ),
    "read a broken broker exits 3 not 1": Case(
        lambda env: [
            "read",
            f"mqtt://127.0.0.1:{env.broken_broker()}",
            "--profile",
            "toxic-6gas-mqtt",
            "--timeout",
            "3",
        ],
        3,
        ("no value came back",),
    ),
    "read --timeout 1e308 hangs": Case(
        lambda env: ["read", "127.0.0.1:1", "--profile", "generic-4gas", "--timeout", "1e308"],
        2,
        ("--timeout", "up to"),
    ),
    "check accepts tcp://host:0": Case(
        _check("tcp://127.0.0.1:0"), 2, ("port '0' is not 1-65535", "site.toml")
    ),
    "check accepts an mqtt:// address for a Modbus profile": Case(
        _check("mqtt://127.0.0.1:1883"), 2, ("is a modbus profile", "site.toml")
    ),
    "check accepts backoff_max = inf": Case(
        _check("127.0.0.1:502", "backoff_max = inf"), 2, ("backoff_max", "site.toml")
    ),
    # Item 10.
    # Read as milliseconds; exit 1 as documented for a log too short to judge a shift.
    "analyze on epoch-millisecond times": Case(
        _epoch_ms,
        1,
        ("times: epoch milliseconds (UTC)", "2026-03-02T09:00:00Z to 2026-03-02T09:19:00Z"),
        read=True,
    ),
    "one epoch with an extra digit": Case(
        _epoch_extra_digit,
        2,
        (f"line 7, column 'timestamp': {(START_S + 300) * 10} is not epoch seconds",),
    ),
    "a header with no rows": Case(
        lambda env: ["analyze", _datalog(env, "empty.csv", [])], 2, ("has no rows of readings",)
    ),
    "one bad date": Case(
        _one_bad_date, 2, ("line 6, column 'Time': '2026-02-30 09:04:00' is not",)
    ),
}


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    monkeypatch.delenv("HAZMON_DB", raising=False)
    monkeypatch.setenv("HAZMON_REGISTER_URL", f"sqlite:///{tmp_path / 'register.db'}")
    monkeypatch.setenv("COLUMNS", "200")
    # The cases quote the English wording; the Chinese of the same output is tested
    # where the catalog is (tests/config/test_i18n.py, the analyze and hazards tests).
    monkeypatch.setenv("HAZMON_LANG", "en")
    with contextlib.ExitStack() as stack:
        yield Env(tmp_path, monkeypatch, stack)


@pytest.mark.parametrize("name", list(CASES), ids=list(CASES))
def test_campaign_case(env: Env, capsys: pytest.CaptureFixture[str], name: str) -> None:
    case = CASES[name]
    status = main(case.argv(env))
    said = capsys.readouterr()
    output = said.out + said.err
    assert status == case.status, output
    assert "Traceback" not in output
    for words in case.words:
        assert words in (said.out if case.read else said.err), output
    if not case.read:
        lines = said.err.strip().splitlines()
        assert 0 < len(lines) <= SCREEN_LINES, said.err
        assert any(line.startswith("hazmon: ") for line in lines), said.err
    # Never a password.
    assert "secret" not in output
    assert "wrong-pw" not in output


def test_the_campaign_lists_every_case_of_items_9_and_10_once() -> None:
    # Item 9: 6 encodings, 3 --db, 2 analyze, 4 hazards, 2 central, 2 MQTT, 4 read,
    # 3 check; item 10: 4 datalogs.
    assert len(CASES) == 6 + 3 + 2 + 4 + 2 + 2 + 4 + 3 + 4
