"""Progress without a terminal: one timed line per step, warnings once, --quiet silent."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from imagegate import progress
from imagegate.progress import Warnings

LOCATION = "WARNING: Location 'file:///opt/pypi-more/simple/{}/' is ignored: it is not a folder."


@pytest.fixture(autouse=True)
def normal() -> Iterator[None]:
    progress.configure()
    yield
    progress.configure()


def test_one_warning_of_each_kind_is_shown() -> None:
    warnings = Warnings()
    shown = [
        warnings.first(line)
        for line in (
            LOCATION.format("idna"),
            LOCATION.format("certifi"),
            "warning: `VIRTUAL_ENV=/tmp/x` does not match the project environment path",
            "Collecting idna==3.10",
            "Collecting idna==3.10",
            LOCATION.format("idna"),
            "WARNING: Retrying after connection broken by 'ReadTimeout'",
        )
    ]
    assert shown == [True, False, True, True, True, False, True]
    assert warnings.hidden() == 2


def test_child_output_shows_only_when_verbose(capsys: pytest.CaptureFixture[str]) -> None:
    progress.output(LOCATION.format("idna"), prefix="  pip: ")
    assert capsys.readouterr().err == ""
    progress.configure(verbose=True)
    with progress.step("wheelhouse", "cpu"):
        for name in ("idna", "certifi", "numpy"):
            progress.output(LOCATION.format(name) + "\n", prefix="  pip: ")
            progress.output(f"Collecting {name}\n", prefix="  pip: ")
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == "  pip: " + LOCATION.format("idna")
    assert sum("WARNING" in line for line in lines) == 1
    assert sum("Collecting" in line for line in lines) == 3
    assert lines[-1] == "    (2 repeated warnings not shown)"


def test_a_log_gets_one_line_per_step_with_its_time(capsys: pytest.CaptureFixture[str]) -> None:
    with progress.step("fill", "cpu") as task:
        task.update("rest: numpy-2.1.0.whl", done=3, total=40, nbytes=10**6)
        progress.note("    kept 40")
    with pytest.raises(RuntimeError), progress.step("install", "a venv"):
        raise RuntimeError("uv failed")
    err = capsys.readouterr().err
    assert not re.search(r"[\r\x1b]", err)
    fill, note, install = err.splitlines()
    assert re.fullmatch(r"==> fill: cpu \(\d+\.\d s\)", fill)
    assert note == "    kept 40"  # after its step's line
    assert re.fullmatch(r"==> install: a venv \(failed after \d+\.\d s\)", install)


def test_quiet_shows_nothing_but_steps_still_run(capsys: pytest.CaptureFixture[str]) -> None:
    progress.configure(quiet=True)
    with progress.step("fill", "cpu") as task:
        task.update("numpy", done=1, total=2)
        progress.note("    kept 2")
        progress.output("WARNING: x\n")
    assert task.done == 1 and task.seconds >= 0
    assert capsys.readouterr().err == ""


def test_the_live_line_names_the_step_count_bytes_and_file() -> None:
    task = progress.Task(name="wheelhouse", detail="cpu")
    task.update("rest: torch.whl", done=3, total=40, nbytes=2_500_000)
    line = task.line()
    assert line.startswith("wheelhouse: cpu · 3/40 · 2.5 MB at ")
    assert line.endswith(" · rest: torch.whl")

    with progress.step("build", "cpu") as inside:
        assert progress.current() is inside
    progress.current().update("nowhere", done=1)  # outside a step: harmless
    assert inside.activity == ""
