"""Transactional repair on real venvs: fixed when it can be, exactly as before when not."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from imagegate import installer

from .test_constraints import make_wheel
from .test_doctor import compiled_cpu_venv, doctor, healthy, stale_transformers, uv_install

IMAGEGATE = [sys.executable, "-m", "imagegate"]
# fixtures shared with the doctor's tests
__all__ = ["compiled_cpu_venv", "healthy", "stale_transformers"]


def freeze(python: Path) -> str:
    done = subprocess.run(
        [*installer.UV, "freeze", "--python", str(python)],
        check=True,
        capture_output=True,
        text=True,
    )
    return done.stdout


def repair(project: Path, python: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "imagegate",
            "repair",
            "cpu",
            "--python",
            str(python),
            *args,
            "--profiles",
            str(project / "profiles"),
        ],
        capture_output=True,
        text=True,
        timeout=1800,
    )


def started(project: Path, python: Path) -> subprocess.Popen[str]:
    """`imagegate repair cpu` running in the background, its output captured."""
    return subprocess.Popen(
        [*IMAGEGATE, "repair", "cpu", "--python", str(python), "--profiles", f"{project}/profiles"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def contents(python: Path) -> dict[str, str]:
    """Every file of the environment (its journal included), by path: its bytes' digest."""
    prefix = python.parent.parent
    return {
        str(path.relative_to(prefix)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(prefix.rglob("*"))
        if path.is_file() and not path.is_symlink()
    }


def descendants(pid: int) -> set[int]:
    """The processes started, at any depth, by `pid` (read from /proc)."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        parents[int(stat.parent.name)] = int(text.rsplit(")", 1)[1].split()[1])
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def running(pids: set[int]) -> set[int]:
    """Those of `pids` still alive (a zombie has stopped for good)."""
    alive = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state not in ("Z", "X"):
            alive.add(pid)
    return alive


STACK = ("torch", "transformers", "peft", "accelerate", "unlocked_broken")
IMPORT_EACH = """
import importlib, json, sys
outcome = {}
for module in sys.argv[1:]:
    try:
        importlib.import_module(module)
        outcome[module] = "ok"
    except BaseException as error:
        outcome[module] = f"{type(error).__name__}: {error}"
print(json.dumps(outcome))
"""


def imports(python: Path) -> dict[str, str]:
    """Each stack module: "ok" or its error, imported in turn by one process (torch is
    imported once, not by each of the four that need it)."""
    done = subprocess.run(
        [str(python), "-c", IMPORT_EACH, *STACK], capture_output=True, text=True, check=True
    )
    return dict(json.loads(done.stdout))


def torch_file(python: Path) -> Path:
    [init] = (python.parent.parent / "lib").glob("python3.*/site-packages/torch/__init__.py")
    return init


def test_seed_000_drift_is_repaired_without_touching_torch(
    healthy: tuple[Path, Path], stale_transformers: Path
) -> None:
    project, python = healthy
    uv_install(python, "--reinstall-package", "transformers", str(stale_transformers))
    torch_inode = torch_file(python).stat().st_ino

    before = contents(python)
    dry = repair(project, python, "--dry-run")
    assert dry.returncode == 0
    assert "would repair  transformers==4.51.3: 4.57.3 installed, 4.51.3 locked" in dry.stdout
    assert contents(python) == before  # a dry run changes nothing

    done = repair(project, python)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "the doctor passes" in done.stdout
    code, rows = doctor(project, python)
    assert code == 0
    assert rows[("pin", "transformers")]["actual"] == "4.51.3"
    assert torch_file(python).stat().st_ino == torch_inode  # torch was not reinstalled


def test_a_wrong_wheelhouse_is_refused_and_nothing_changes(
    healthy: tuple[Path, Path], stale_transformers: Path
) -> None:
    project, python = healthy
    uv_install(python, "--reinstall-package", "transformers", str(stale_transformers))
    rest = project / "wheelhouse" / "cpu" / "rest"
    [good] = rest.glob("transformers-4.51.3-*.whl")
    good.unlink()
    before = freeze(python)

    done = repair(project, python)

    assert done.returncode == 1
    assert "the wheelhouse is wrong" in done.stderr and "nothing was changed" in done.stderr
    assert freeze(python) == before


def test_a_doctor_still_failing_after_repair_restores_everything(
    healthy: tuple[Path, Path], stale_transformers: Path, tmp_path: Path
) -> None:
    project, python = healthy
    uv_install(python, "--reinstall-package", "transformers", str(stale_transformers))
    extra = make_wheel(tmp_path, "unlocked_broken", [])
    uv_install(python, str(extra))
    [site] = (python.parent.parent / "lib").glob("python3.*/site-packages")
    (site / "unlocked_broken" / "__init__.py").write_text("raise ImportError('not mine to fix')\n")
    before = freeze(python)
    imports_before = imports(python)

    done = repair(project, python)

    assert done.returncode == 1
    assert "restored exactly as it was" in done.stderr
    assert freeze(python) == before
    assert not (python.parent.parent / ".imagegate-repair").exists()
    assert imports(python) == imports_before  # what imported still does, and only that


def test_a_killed_repair_is_reported_by_dry_run_and_doctor_and_rolled_back_by_repair(
    healthy: tuple[Path, Path], stale_transformers: Path
) -> None:
    project, python = healthy
    uv_install(python, "--reinstall-package", "transformers", str(stale_transformers))
    before = freeze(python)
    [site] = (python.parent.parent / "lib").glob("python3.*/site-packages")
    journal = python.parent.parent / ".imagegate-repair" / "journal.json"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "imagegate",
            "repair",
            "cpu",
            "--python",
            str(python),
            "--profiles",
            str(project / "profiles"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 300
    while (site / "transformers-4.57.3.dist-info").exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    children = descendants(process.pid)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    deadline = time.monotonic() + 10
    while running(children) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not running(children)  # its uv dies with it: nothing writes after the kill
    assert journal.exists(), "the repair never journalled"
    assert freeze(python) != before  # killed half-way: the stale transformers is gone
    half = contents(python)

    dry = repair(project, python, "--dry-run")

    assert dry.returncode == 0, dry.stderr[-2000:]
    assert "would roll back" in dry.stdout and "transformers 4.57.3" in dry.stdout
    assert contents(python) == half  # reported, not rolled back: nothing changed
    code, rows = doctor(project, python)
    assert code == 1
    left = rows[("consistency", "repair journal")]
    assert left["status"] == "BROKEN"
    assert f"imagegate repair cpu --python {python}" in left["evidence"]

    [good] = (project / "wheelhouse" / "cpu" / "rest").glob("transformers-4.51.3-*.whl")
    good.unlink()  # after the rollback, this repair is refused: the rollback alone is seen
    done = repair(project, python)

    assert done.returncode == 1, done.stderr[-2000:]
    assert freeze(python) == before
    assert not journal.parent.exists()
    code, rows = doctor(project, python)
    assert rows[("consistency", "repair journal")]["status"] == "OK"
    assert rows[("pin", "transformers")]["actual"] == "4.57.3"


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=lambda s: s.name)
def test_an_interrupted_repair_restores_the_environment_exactly(
    healthy: tuple[Path, Path], stale_transformers: Path, signum: int
) -> None:
    project, python = healthy
    uv_install(python, "--reinstall-package", "transformers", str(stale_transformers))
    before, files = freeze(python), contents(python)
    [site] = (python.parent.parent / "lib").glob("python3.*/site-packages")
    process = started(project, python)
    deadline = time.monotonic() + 300
    while (site / "transformers-4.57.3.dist-info").exists() and time.monotonic() < deadline:
        time.sleep(0.01)  # uninstalled: the repair is half-way
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=300)

    assert process.returncode == 128 + signum, stderr[-2000:]
    assert "Traceback" not in stderr
    assert (
        stderr.strip()
        .splitlines()[-1]
        .startswith(f"imagegate: interrupted by {signal.Signals(signum).name}")
    )
    assert freeze(python) == before
    assert contents(python) == files  # the journal is gone too: byte for byte as it was


def test_a_second_repair_of_one_environment_waits_or_names_the_holder(
    healthy: tuple[Path, Path], stale_transformers: Path
) -> None:
    project, python = healthy
    uv_install(python, "--reinstall-package", "transformers", str(stale_transformers))
    first = started(project, python)
    holder = project / ".imagegate" / "locks" / "cpu.lock.holder"
    deadline = time.monotonic() + 120
    while not holder.exists() and time.monotonic() < deadline:
        time.sleep(0.01)

    second = repair(project, python, "--wait", "0")
    first.communicate(timeout=600)

    assert second.returncode == 3, second.stderr[-2000:]
    assert f"pid {first.pid}" in second.stderr.strip().splitlines()[-1]
    assert first.returncode == 0
