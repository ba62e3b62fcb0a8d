"""The documented commands run as written.

A shell block in README.md or docs/ preceded by ``<!-- test: run -->`` is run here, in a
fresh folder, with this environment's ``hazmon`` standing in for ``.venv/bin/hazmon``
(the install steps of a quick-start line are dropped: this environment is installed).
Each must exit 0, or the status its marker documents (``<!-- test: run exits 1 -->``),
so an example cannot drift from the code.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# A marker is a line of its own (one quoted inside a sentence is not a marker).
MARKER = re.compile(r"^<!-- test: run(?: exits (\d+))? -->[ \t]*$", re.MULTILINE)
BLOCK = re.compile(MARKER.pattern + r"\s*\n```sh\n(.*?)```", re.DOTALL | re.MULTILINE)
INSTALL_STEP = re.compile(r"^\s*(python3 -m venv|\.venv/bin/pip install)")


def documented_pages() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def runnable_blocks() -> list[tuple[str, int, str]]:
    """(page#number, documented exit status, script) of every marked block."""
    blocks = []
    for page in documented_pages():
        text = page.read_text(encoding="utf-8")
        for number, match in enumerate(BLOCK.finditer(text), 1):
            status = int(match.group(1) or 0)
            blocks.append((f"{page.relative_to(ROOT)}#{number}", status, match.group(2)))
    return blocks


LAST_STATUS = "last command exited "


def as_run_here(script: str, bin_dir: Path, status: int = 0) -> str:
    """The block with install steps dropped and ``.venv/bin/`` pointing at this env.

    With a documented non-zero status every line but the last must still succeed; the
    last line's status is printed, so a refusal earlier in the block cannot pass for it.
    """
    lines = []
    for line in script.splitlines():
        steps = [step for step in line.split("&&") if not INSTALL_STEP.match(step)]
        lines.append("&&".join(steps).replace(".venv/bin/", f"{bin_dir}/"))
    if status:
        last = lines.pop()
        lines += ["set +e", last, f'echo "{LAST_STATUS}$?" >&2', "exit 0"]
    return "set -e\n" + "\n".join(lines) + "\n"


BLOCKS = runnable_blocks()


def test_the_docs_have_runnable_examples() -> None:
    assert len(BLOCKS) >= 7, "README and docs lost their tested examples"


def test_every_marker_is_followed_by_a_shell_block() -> None:
    """A marker the block pattern misses (a typo, a ```bash fence) would silently not run."""
    markers = sum(len(MARKER.findall(p.read_text(encoding="utf-8"))) for p in documented_pages())
    assert markers == len(BLOCKS)


@pytest.mark.slow
@pytest.mark.parametrize(("where", "status", "script"), BLOCKS, ids=[b[0] for b in BLOCKS])
def test_documented_commands_run(where: str, status: int, script: str, tmp_path: Path) -> None:
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    result = subprocess.run(
        ["bash", "-c", as_run_here(script, bin_dir, status)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    output = f"{where}:\n{result.stdout}\n{result.stderr}"
    assert result.returncode == 0, f"exit status {result.returncode}: {output}"
    if status:
        assert f"{LAST_STATUS}{status}\n" in result.stderr, f"documented exit {status}: {output}"
    assert "Traceback" not in result.stderr


def test_every_page_is_in_the_nav() -> None:
    nav = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    missing = [p.name for p in (ROOT / "docs").glob("*.md") if f" {p.name}" not in nav]
    assert not missing, f"pages not in mkdocs.yml's nav: {missing}"


def test_no_file_points_outside_the_repository() -> None:
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=False
    ).stdout.split()
    if not tracked:
        pytest.skip("not a git checkout")
    this = Path(__file__).resolve()
    offenders = [
        name
        for name in tracked
        if (ROOT / name).resolve() != this
        and (ROOT / name).is_file()
        and "shared/" in (ROOT / name).read_text(encoding="utf-8", errors="replace")
    ]
    assert not offenders, f"files that cite shared/, which users never have: {offenders}"
