"""The runner stops a program's whole process group: on a timeout, and when interrupted."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

from imagegate import runner
from imagegate.errors import EnvironmentProblem

_SLEEPER = "import sys, time; time.sleep(300)"
_PARENT = (
    "import subprocess, sys, time\n"
    "subprocess.Popen([sys.executable, '-c', {sleeper!r}, sys.argv[1]])\n"
    "time.sleep(300)\n"
)


def family(marker: str) -> list[str]:
    """A program that starts a child of its own and waits: both carry `marker`."""
    return [sys.executable, "-c", _PARENT.format(sleeper=_SLEEPER), marker]


def alive(marker: str) -> list[str]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().decode(errors="replace")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if marker in cmdline and state != "Z":
            found.append(entry.name)
    return found


def until_started(marker: str) -> None:
    deadline = time.monotonic() + 20
    while len(alive(marker)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)


def test_a_timeout_stops_the_program_and_its_children() -> None:
    marker = uuid.uuid4().hex

    with pytest.raises(EnvironmentProblem, match="still running after 2s"):
        runner.run(family(marker), timeout=2)

    time.sleep(0.3)
    assert alive(marker) == []


def test_an_interruption_stops_the_group_and_goes_on_up() -> None:
    marker = uuid.uuid4().hex
    watcher = threading.Thread(
        target=lambda: (until_started(marker), os.kill(os.getpid(), signal.SIGINT))
    )
    watcher.start()
    started = time.monotonic()

    with pytest.raises(KeyboardInterrupt):
        runner.run(family(marker), timeout=120)
    watcher.join()

    assert time.monotonic() - started < 60
    time.sleep(0.3)
    assert alive(marker) == []


@pytest.mark.skipif(sys.platform != "linux", reason="the kernel's parent-death signal is Linux's")
def test_a_program_dies_with_imagegate_killed_outright() -> None:
    marker = uuid.uuid4().hex
    code = (
        "import sys\n"
        "from imagegate import runner\n"
        f"marker = {marker[:16]!r} + {marker[16:]!r}\n"  # in the program's arguments only
        f"runner.run([sys.executable, '-c', {_SLEEPER!r}, marker], timeout=300)\n"
    )
    process = subprocess.Popen([sys.executable, "-c", code])
    deadline = time.monotonic() + 20
    while not alive(marker) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert alive(marker)  # the program runs, in a session of its own

    process.kill()  # SIGKILL: imagegate can stop nothing
    process.wait()

    deadline = time.monotonic() + 5
    while alive(marker) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert alive(marker) == []


def test_programs_run_together_and_report_in_order(tmp_path: Path) -> None:
    """The first waits for a file only the second makes: run one after the other, it would
    wait until its timeout."""
    flag = tmp_path / "flag"
    waits = (
        f"import os, time\nwhile not os.path.exists({str(flag)!r}): time.sleep(0.05)\nprint('saw')"
    )
    makes = f"open({str(flag)!r}, 'w').close(); print('made'); raise SystemExit(3)"

    first, second = runner.run_together(
        [[sys.executable, "-c", waits], [sys.executable, "-c", makes]], timeout=30
    )

    assert (first.returncode, first.output) == (0, "saw\n")
    assert (second.returncode, second.output) == (3, "made\n")


def test_programs_run_together_show_each_line_as_it_comes() -> None:
    """The first program prints a line and runs on for 4 s; the second's line is shown
    while the first still runs, not when it is done."""
    started = time.monotonic()
    seen: dict[str, float] = {}
    line = "import time\nprint({0!r}, flush=True)\ntime.sleep({1})"

    runner.run_together(
        [
            [sys.executable, "-c", line.format("one", 4)],
            [sys.executable, "-c", line.format("two", 0)],
        ],
        timeout=30,
        watch=lambda text: seen.setdefault(text.strip(), time.monotonic() - started),
    )

    assert set(seen) == {"one", "two"}
    assert seen["two"] < 3


def test_held_programs_start_when_the_first_says_so(tmp_path: Path) -> None:
    """The first makes a file, then says "go"; the second, held until then, sees the file."""
    flag = tmp_path / "flag"
    first = f"import time\ntime.sleep(0.5)\nopen({str(flag)!r}, 'w').close()\nprint('go')\n"
    first += "time.sleep(1)"
    second = f"import os\nprint(os.path.exists({str(flag)!r}))"

    _, held = runner.run_together(
        [[sys.executable, "-c", first], [sys.executable, "-c", second]],
        timeout=30,
        hold=lambda line: line.strip() == "go",
    )

    assert held.output == "True\n"


def test_held_programs_start_when_the_first_ends_without_the_line() -> None:
    first, second = runner.run_together(
        [[sys.executable, "-c", "raise SystemExit(2)"], [sys.executable, "-c", "print('ran')"]],
        timeout=30,
        hold=lambda line: line.strip() == "go",
    )

    assert (first.returncode, second.returncode, second.output) == (2, 0, "ran\n")


def test_a_timeout_in_one_stops_every_program_run_together() -> None:
    slow, other = uuid.uuid4().hex, uuid.uuid4().hex

    with pytest.raises(EnvironmentProblem, match="still running after 2s"):
        runner.run_together([family(slow), family(other)], timeout=2)

    time.sleep(0.3)
    assert alive(slow) == [] and alive(other) == []


def test_a_program_is_not_told_a_terminal_width_it_does_not_write_to(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """uv wraps its messages to COLUMNS: read back from the pipe, a wrapped one lost words."""
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setenv("LINES", "24")
    show = "import os; print(os.environ.get('COLUMNS'), os.environ.get('LINES'))"

    alone = runner.run([sys.executable, "-c", show], timeout=60)
    [together] = runner.run_together([[sys.executable, "-c", show]], timeout=60)

    assert alone.output.split() == together.output.split() == ["None", "None"]
