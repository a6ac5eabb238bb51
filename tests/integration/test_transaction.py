"""A lock and its wheelhouse change together or not at all, whatever happens to the run.

Real processes, real signals: `imagegate wheelhouse` and `imagegate lock` are stopped with
SIGINT, SIGTERM and SIGKILL while uv resolves and while pip fetches; two real runs race for
one profile; a real folder that the run's user cannot write. After each, the lock's and the
wheelhouse's bytes are as they were, no child process is left, and the next run leaves no
staging or temporary folder behind.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from .conftest import ROOT, imagegate

CPU_LOCK = "pylock.cpu.toml"
LIGHT = ('accelerate: "1.6.0"', 'accelerate: "1.7.0"')
"""A light pin bumped: a new lock, one new wheel, torch kept."""


@pytest.fixture(autouse=True)
def pip_fetches(own_wheel_store: Path) -> Path:
    """What pip does while it fetches is what these tests watch: no wheel may come from the
    run's wheel store instead."""
    return own_wheel_store


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project whose cpu wheelhouse is filled once; tests take hard-linked copies."""
    folder = tmp_path_factory.mktemp("filled")
    shutil.copytree(ROOT / "profiles", folder / "profiles")
    run = imagegate("wheelhouse", "cpu", "--profiles", str(folder / "profiles"))
    assert run.code == 0, run.stderr[-2000:]
    return folder


@dataclass(frozen=True)
class Project:
    root: Path
    tmp: Path
    """The TMPDIR of every run in this project: what a run leaves there is seen."""

    @property
    def profiles(self) -> Path:
        return self.root / "profiles"

    @property
    def wheelhouse(self) -> Path:
        return self.root / "wheelhouse"

    def bump(self) -> None:
        shared = self.profiles / "_common.yaml"
        text = shared.read_text(encoding="utf-8")
        assert LIGHT[0] in text
        shared.write_text(text.replace(*LIGHT), encoding="utf-8")

    def state(self) -> dict[str, str]:
        """Every file of the lock and the wheelhouse by content (what must not change)."""
        files = [self.profiles / CPU_LOCK, *sorted((self.wheelhouse / "cpu").rglob("*"))]
        return {
            str(path.relative_to(self.root)): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in files
            if path.is_file()
        }

    def leftovers(self) -> list[str]:
        hidden = [p.name for p in self.wheelhouse.iterdir() if p.name.startswith(".")]
        return hidden + [p.name for p in self.tmp.iterdir()]

    def start(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "imagegate", *args, "--profiles", str(self.profiles)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "TMPDIR": str(self.tmp)},
        )


@pytest.fixture
def cpu(filled: Path, tmp_path: Path) -> Project:
    root = tmp_path / "project"
    shutil.copytree(filled / "profiles", root / "profiles")
    shutil.copytree(filled / "wheelhouse", root / "wheelhouse", copy_function=os.link)
    (tmp_path / "tmp").mkdir()
    return Project(root=root, tmp=tmp_path / "tmp")


def survivors(marker: Path) -> list[str]:
    """Processes whose command line names `marker` (pip's --dest, uv's scratch folder)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if str(marker) in cmdline:
            found.append(f"{entry.name}: {cmdline[:200]}")
    return found


def when(process: subprocess.Popen[str], condition: Callable[[], bool]) -> None:
    """Wait until the run reaches the point where it is to be interrupted."""
    deadline = time.monotonic() + 300
    while not condition():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            _, stderr = process.communicate()
            pytest.fail(f"the run never reached that point (exit {process.returncode}): {stderr}")
        time.sleep(0.01)


def stopped(process: subprocess.Popen[str], signum: int) -> tuple[int, str]:
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=120)
    return process.returncode, stderr


def fetching(project: Project) -> Callable[[], bool]:
    """pip is running, fetching into the staging folder."""
    return lambda: bool(survivors(project.wheelhouse / ".cpu.staging"))


def locking(project: Project) -> Callable[[], bool]:
    return lambda: any(project.tmp.glob("imagegate-lock-*/*.in"))


POINTS = [
    pytest.param(signal.SIGINT, locking, 130, id="SIGINT-while-locking"),
    pytest.param(signal.SIGTERM, locking, 143, id="SIGTERM-while-locking"),
    pytest.param(signal.SIGINT, fetching, 130, id="SIGINT-while-fetching"),
    pytest.param(signal.SIGTERM, fetching, 143, id="SIGTERM-while-fetching"),
]


@pytest.mark.parametrize(("signum", "point", "code"), POINTS)
def test_an_interrupted_fill_leaves_the_lock_and_wheelhouse_as_they_were(
    cpu: Project, signum: int, point: Callable[[Project], Callable[[], bool]], code: int
) -> None:
    before = cpu.state()
    cpu.bump()
    process = cpu.start("wheelhouse", "cpu")
    when(process, point(cpu))

    exit_code, stderr = stopped(process, signum)

    assert exit_code == code, stderr[-2000:]
    last = stderr.strip().splitlines()[-1]
    assert last.startswith(f"imagegate: interrupted by {signal.Signals(signum).name}")
    assert CPU_LOCK in last and "wheelhouse/cpu" in last
    assert "Traceback" not in stderr
    assert cpu.state() == before
    assert survivors(cpu.root) == [] and survivors(cpu.tmp) == []
    assert cpu.leftovers() == [], stderr[-3000:]

    again = imagegate("wheelhouse", "cpu", "--profiles", str(cpu.profiles))
    assert again.code == 0, again.stderr[-2000:]
    assert 'version = "1.7.0"' in (cpu.profiles / CPU_LOCK).read_text(encoding="utf-8")
    assert [p.name for p in (cpu.wheelhouse / "cpu" / "rest").glob("accelerate-*")] == [
        "accelerate-1.7.0-py3-none-any.whl"
    ]
    assert cpu.leftovers() == []


def test_a_killed_fill_changes_nothing_and_the_next_run_cleans_up(cpu: Project) -> None:
    before = cpu.state()
    cpu.bump()
    process = cpu.start("wheelhouse", "cpu")
    when(process, fetching(cpu))

    exit_code, _ = stopped(process, signal.SIGKILL)

    assert exit_code == -signal.SIGKILL
    assert cpu.state() == before
    assert (cpu.wheelhouse / ".cpu.staging").is_dir()  # what the killed run left
    for line in survivors(cpu.root):  # SIGKILL leaves pip to finish on its own
        os.kill(int(line.partition(":")[0]), signal.SIGKILL)

    again = imagegate("wheelhouse", "cpu", "--profiles", str(cpu.profiles))

    assert again.code == 0, again.stderr[-2000:]
    assert 'version = "1.7.0"' in (cpu.profiles / CPU_LOCK).read_text(encoding="utf-8")
    assert cpu.leftovers() == []


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=lambda s: s.name)
def test_an_interrupted_lock_keeps_the_old_lock(cpu: Project, signum: int) -> None:
    before = cpu.state()
    cpu.bump()
    process = cpu.start("lock", "cpu")
    when(process, locking(cpu))

    exit_code, stderr = stopped(process, signum)

    assert exit_code == 128 + signum, stderr[-2000:]
    assert "Traceback" not in stderr
    assert cpu.state() == before
    assert survivors(cpu.tmp) == []
    assert list(cpu.tmp.iterdir()) == []


def test_the_next_run_removes_what_a_killed_lock_left(cpu: Project) -> None:
    cpu.bump()
    process = cpu.start("lock", "cpu")
    when(process, locking(cpu))
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=60)
    for line in survivors(cpu.tmp):  # uv, its parent gone, is stopped by hand
        os.kill(int(line.partition(":")[0]), signal.SIGKILL)
    assert list(cpu.tmp.glob("imagegate-lock-*"))  # what the killed run left

    again = cpu.start("lock", "cpu")
    _, stderr = again.communicate(timeout=600)

    assert again.returncode == 0, stderr[-2000:]
    assert list(cpu.tmp.iterdir()) == []


def test_two_runs_on_one_profile_take_turns(cpu: Project) -> None:
    cpu.bump()
    first = cpu.start("wheelhouse", "cpu")
    when(first, locking(cpu))
    second = cpu.start("wheelhouse", "cpu", "--wait", "300")

    first_out, first_err = first.communicate(timeout=600)
    second_out, second_err = second.communicate(timeout=600)

    assert first.returncode == 0, first_err[-2000:]
    assert second.returncode == 0, second_err[-2000:]
    assert f"held by pid {first.pid}" in second_err
    assert "fetched   rest/accelerate-1.7.0-py3-none-any.whl" in first_out
    assert "fetched   " not in second_out  # the second found the first's work done
    assert cpu.leftovers() == []


def test_a_run_that_cannot_wait_names_the_holder(cpu: Project) -> None:
    cpu.bump()
    first = cpu.start("wheelhouse", "cpu")
    when(first, locking(cpu))

    second = imagegate("wheelhouse", "cpu", "--wait", "0", "--profiles", str(cpu.profiles))
    first.communicate(timeout=600)

    assert second.code == 3
    [line] = second.stderr.strip().splitlines()[-1:]
    assert line.startswith("imagegate: error: ")
    assert f"pid {first.pid}" in line and "wheelhouse cpu" in line
    assert first.returncode == 0


def test_fetching_counts_the_files_the_lock_names_whatever_pip_prints(
    cpu: Project, tmp_path: Path
) -> None:
    """A project path with a space, and pip told to be quiet by the user's configuration."""
    spaced = tmp_path / "my project"
    shutil.move(cpu.root, spaced)
    quiet = tmp_path / "pip.conf"
    quiet.write_text("[global]\nquiet = 1\n", encoding="utf-8")
    shutil.rmtree(spaced / "wheelhouse" / "cpu" / "rest")

    run = imagegate(
        "wheelhouse",
        "cpu",
        "--profiles",
        str(spaced / "profiles"),
        env={"PIP_CONFIG_FILE": str(quiet)},
    )

    assert run.code == 0, run.stderr[-2000:]
    assert "fetched   rest/transformers-4.51.3-py3-none-any.whl" in run.stdout
    assert len(list((spaced / "wheelhouse" / "cpu" / "rest").glob("*.whl"))) >= 10


IMAGEGATE = [sys.executable, "-m", "imagegate"]
NO_OVERRIDE = ["setpriv", "--bounding-set=-dac_override,-dac_read_search,-fowner", "--"]
"""Root without the capabilities that ignore permission bits: a read-only folder is one."""


@pytest.mark.skipif(shutil.which("setpriv") is None, reason="util-linux's setpriv is missing")
def test_a_wheelhouse_that_cannot_be_written_is_one_line_and_changes_nothing(
    cpu: Project,
) -> None:
    cpu.bump()
    lock_before = (cpu.profiles / CPU_LOCK).read_bytes()
    wheels_before = sorted(p.name for p in cpu.wheelhouse.rglob("*"))
    cpu.wheelhouse.chmod(0o555)
    try:
        done = subprocess.run(
            [*NO_OVERRIDE, *IMAGEGATE, "wheelhouse", "cpu", "--profiles", str(cpu.profiles)],
            capture_output=True,
            text=True,
            env={**os.environ, "TMPDIR": str(cpu.tmp)},
            timeout=600,
        )
    finally:
        cpu.wheelhouse.chmod(0o755)

    assert done.returncode == 3, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("imagegate: error: ") and str(cpu.wheelhouse) in last
    assert (cpu.profiles / CPU_LOCK).read_bytes() == lock_before
    assert sorted(p.name for p in cpu.wheelhouse.rglob("*")) == wheels_before


def test_an_unchanged_wheelhouse_runs_no_program_and_a_bump_fetches_only_its_wheel(
    cpu: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    from imagegate import resolver, runner, wheelhouse
    from imagegate.profiles import load_profile

    ran: list[tuple[str, ...]] = []
    real = runner.run

    def spy(args: Any, **options: Any) -> runner.Completed:
        ran.append(tuple(str(arg) for arg in args))
        return real(args, **options)

    monkeypatch.setattr(runner, "run", spy)
    directory = cpu.wheelhouse / "cpu"
    profile = load_profile("cpu", cpu.profiles)
    wheelhouse.fill(profile, resolver.prepare(profile), directory)  # learns what is verified
    ran.clear()
    before = cpu.state()

    unchanged = wheelhouse.fill(profile, resolver.prepare(profile), directory)

    assert ran == []
    assert cpu.state() == before
    assert len(unchanged.kept) == 28 and not unchanged.fetched

    cpu.bump()
    profile = load_profile("cpu", cpu.profiles)
    bumped = wheelhouse.fill(profile, resolver.prepare(profile), directory)

    fetches = [args for args in ran if "download" in args]
    assert len(fetches) == 1  # one group had a missing wheel; the protected one had none
    requirements = Path(fetches[0][fetches[0].index("-r") + 1])
    assert requirements.name == "rest.missing.txt"
    assert [c.filename for c in bumped.fetched] == ["accelerate-1.7.0-py3-none-any.whl"]
    assert [c.filename for c in bumped.removed] == ["accelerate-1.6.0-py3-none-any.whl"]
    assert len(bumped.kept) == 27
