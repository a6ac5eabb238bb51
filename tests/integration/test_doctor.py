"""The doctor on real venvs filled from real wheels: seed 000's drift, named where it is."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from filelock import FileLock

from imagegate import installer

from .conftest import findings, imagegate, shared


def uv_install(python: Path, *args: str) -> None:
    """What a user might run by hand: uv installs `args` into the venv, no index, no deps (its
    bytecode compiled, so the doctor's imports don't compile it on every run)."""
    install = [*installer.UV, "install", "--python", str(python), "--no-index", "--no-deps"]
    install += ["--compile-bytecode"]
    subprocess.run([*install, *args], check=True, capture_output=True)


@pytest.fixture(scope="module")
def stale_transformers(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("stale")
    subprocess.run(
        [*installer.PIP, "download", "--no-deps", "-d", str(folder), "transformers==4.57.3"],
        check=True,
        capture_output=True,
    )
    [wheel] = folder.glob("transformers-4.57.3-*.whl")
    return wheel


@pytest.fixture(scope="session")
def compiled_cpu_venv(
    tmp_path_factory: pytest.TempPathFactory, cpu_wheelhouse: Path
) -> Iterator[Path]:
    """The cpu stack installed by hash from the session's wheelhouse into one venv, its
    bytecode compiled at install (as an image's is): the doctor never writes bytecode, so in
    a venv without any each run would compile torch and transformers again. One for the
    run: the first pytest worker to ask makes it (about a minute), the other uses it. Each
    test's venv shares its files (hard links): a test, or imagegate, that wrote into a file in
    place instead of replacing it would change this one too, and fails the session here."""
    folder = shared(tmp_path_factory) / "compiled-cpu-venv"
    venv = folder / "venv"
    with FileLock(f"{folder}.lock"):  # made by the first pytest worker that asks
        if not (folder / "made").exists():
            shutil.rmtree(folder, ignore_errors=True)
            subprocess.run(installer.make_venv(venv), check=True)
            python = venv / "bin" / "python"
            for group in ("protected", "rest"):
                wheels = cpu_wheelhouse / group
                install = installer.install(
                    python, find_links=[wheels], requirements=[wheels / "requirements.txt"]
                )
                subprocess.run([*install, "--compile-bytecode"], check=True, capture_output=True)
            (folder / "made").touch()
    before = stamps(venv)
    yield venv
    changed = sorted(path for path, stamp in stamps(venv).items() if before.get(path) != stamp)
    assert not changed, f"written in place through a test venv's hard link: {changed[:5]}"


def stamps(venv: Path) -> dict[str, tuple[int, int]]:
    """Each file's size and mtime: what a write in place moves (not its ctime: each new
    link to it moves that)."""
    found = {}
    for path in venv.rglob("*"):
        if path.is_file() and not path.is_symlink():
            stat = path.stat()
            found[str(path.relative_to(venv))] = (stat.st_size, stat.st_mtime_ns)
    return found


@pytest.fixture
def healthy(project: Path, cpu_wheelhouse: Path, compiled_cpu_venv: Path) -> tuple[Path, Path]:
    """A project with the cpu wheelhouse (links to the session's), and its own venv: the
    session's installed one with every folder made anew and every file hard-linked (a second
    to make and to remove, where a copy of 1 GB took ten each way). A test changes a file by
    replacing it (`replace`), never by writing into it."""
    shutil.copytree(cpu_wheelhouse, project / "wheelhouse" / "cpu", copy_function=os.link)
    venv = project / "venv"
    subprocess.run(["cp", "-al", str(compiled_cpu_venv), str(venv)], check=True)
    return project, venv / "bin" / "python"


def replace(path: Path, text: str) -> None:
    """`path` holding `text` as a new file: the one it replaces is a link shared with the
    session's venv (and uv's cache), which must not change."""
    path.unlink()
    path.write_text(text)


def doctor(project: Path, python: Path) -> tuple[int, dict[tuple[str, str], dict[str, str]]]:
    run = imagegate(
        "doctor",
        "cpu",
        "--python",
        str(python),
        "--format",
        "json",
        "--profiles",
        str(project / "profiles"),
    )
    return run.code, findings(run.json())


def test_a_healthy_venv_passes(healthy: tuple[Path, Path]) -> None:
    code, rows = doctor(*healthy)
    assert code == 0
    assert rows[("pin", "torch")]["actual"] == "2.13.0+cpu"
    assert rows[("consistency", "lock ↔ environment")]["status"] == "OK"
    assert rows[("consistency", "repair journal")]["status"] == "OK"


def test_seed_000_drift_is_blamed_on_the_environment(
    healthy: tuple[Path, Path], stale_transformers: Path
) -> None:
    project, python = healthy
    uv_install(python, "--reinstall-package", "transformers", str(stale_transformers))
    code, rows = doctor(project, python)
    assert code == 1
    pin = rows[("pin", "transformers")]
    assert (pin["status"], pin["expected"], pin["actual"]) == (
        "WRONG VERSION",
        "==4.51.3",
        "4.57.3",
    )
    assert rows[("consistency", "lock ↔ wheelhouse")]["status"] == "OK"
    drift = rows[("consistency", "lock ↔ environment")]
    assert drift["status"] == "WRONG VERSION"
    assert "transformers 4.57.3 (locked 4.51.3)" in drift["evidence"]


def test_a_stale_wheelhouse_is_blamed_on_the_wheelhouse(
    healthy: tuple[Path, Path], stale_transformers: Path
) -> None:
    project, python = healthy
    rest = project / "wheelhouse" / "cpu" / "rest"
    [good] = rest.glob("transformers-4.51.3-*.whl")
    good.unlink()
    shutil.copy(stale_transformers, rest)
    code, rows = doctor(project, python)
    assert code == 1
    blame = rows[("consistency", "lock ↔ wheelhouse")]
    assert blame["status"] == "WRONG VERSION"
    assert "transformers==4.51.3 is locked" in blame["evidence"]
    assert rows[("consistency", "lock ↔ environment")]["status"] == "OK"


def test_a_module_broken_on_disk_is_broken_with_its_error(healthy: tuple[Path, Path]) -> None:
    project, python = healthy
    [site] = (python.parent.parent / "lib").glob("python3.*/site-packages")
    replace(site / "peft" / "__init__.py", "from .nothing_here import LoraConfig\n")
    code, rows = doctor(project, python)
    assert code == 1
    peft = rows[("import", "peft")]
    assert peft["status"] == "BROKEN"
    assert "nothing_here" in peft["evidence"]
