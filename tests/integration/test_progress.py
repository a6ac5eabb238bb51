"""What a person sees while `imagegate wheelhouse cpu` fetches: a live line on a terminal,
one timed line per step in a log, pip's own lines only with --verbose, nothing with --quiet.

Each run fills a fresh wheelhouse from an empty wheel store, so pip really runs (a filled
one, or a store holding the wheels, may need no pip at all).
"""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest

from .conftest import Run, imagegate

STEP = re.compile(r"^==> wheelhouse: cpu \(\d+\.\d s\)$")
CONTROL = re.compile(r"[\r\x1b]")
PIP = "  pip: "
"""The prefix imagegate gives pip's lines when it shows them."""


@pytest.fixture(autouse=True)
def pip_fetches(own_wheel_store: Path) -> Path:
    """What pip does while it fetches is what these tests watch: no wheel may come from the
    run's wheel store instead."""
    return own_wheel_store


def wheelhouse(project: Path, *options: str) -> Run:
    return imagegate("wheelhouse", "cpu", "--profiles", str(project / "profiles"), *options)


def under_a_terminal(project: Path, *args: str) -> tuple[int, str, str]:
    """The CLI with stderr on a pseudo-terminal (120 columns) and stdout on a pipe."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    env = {key: value for key, value in os.environ.items() if key not in ("NO_COLOR", "TERM")}
    process = subprocess.Popen(
        [sys.executable, "-m", "imagegate", *args, "--profiles", str(project / "profiles")],
        cwd=project,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=slave,
        env={**env, "TERM": "xterm-256color"},
    )
    os.close(slave)
    seen = bytearray()
    while True:
        ready, _, _ = select.select([master], [], [], 600)
        if not ready:
            process.kill()
            break
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: every writer of the terminal has closed it
            break
        if not chunk:
            break
        seen += chunk
    os.close(master)
    assert process.stdout is not None
    stdout = process.stdout.read().decode()
    return process.wait(timeout=60), stdout, seen.decode(errors="replace")


def test_a_log_gets_one_timed_line_per_step_and_no_pip_lines(project: Path) -> None:
    run = wheelhouse(project)

    assert run.code == 0, run.stderr[-2000:]
    assert not CONTROL.search(run.stderr), repr(run.stderr[:500])
    lines = run.stderr.splitlines()
    steps = [line for line in lines if line.startswith("==> ")]
    assert len(steps) == 1 and STEP.match(steps[0]), run.stderr
    assert all(line.startswith("    ") for line in lines if line not in steps), run.stderr
    assert PIP not in run.stderr

    quiet, plain = wheelhouse(project, "--quiet"), wheelhouse(project)
    assert (quiet.code, quiet.stderr) == (0, "")
    assert plain.stderr and quiet.stdout == plain.stdout  # the result, and only the result


def test_verbose_shows_pip_and_each_kind_of_warning_once(project: Path) -> None:
    run = wheelhouse(project, "--verbose")

    assert run.code == 0, run.stderr[-2000:]
    shown = [line.removeprefix(PIP) for line in run.stderr.splitlines() if line.startswith(PIP)]
    assert len(shown) > 10, run.stderr
    warnings = [line for line in shown if re.match(r"\s*WARNING\b", line, re.IGNORECASE)]
    kinds = [re.sub(r"'[^']*'|\S+://\S+|/\S+", "…", line) for line in warnings]
    assert len(kinds) == len(set(kinds)), warnings
    [step] = [line for line in run.stderr.splitlines() if line.startswith("==> ")]
    assert STEP.match(step), run.stderr


def test_a_terminal_gets_a_live_line_with_the_step_and_the_count(project: Path) -> None:
    code, stdout, seen = under_a_terminal(project, "wheelhouse", "cpu")

    assert code == 0, seen[-2000:]
    assert "\r" in seen and "\x1b[" in seen  # redrawn in place by the library
    frames = [re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", frame) for frame in seen.split("\r")]
    live = [frame for frame in frames if re.search(r"wheelhouse: cpu · \d+/\d+", frame)]
    assert live, seen[-2000:]
    assert any(STEP.match(frame.strip()) for frame in frames), frames[-5:]
    assert PIP not in seen
    assert re.search(r"fetched [1-9]", stdout.splitlines()[-1]), stdout
