"""A protected build is never replaced by another build of the same version (seed 003).

Two real wheels differ only in their local label: gpulib 1.0+rocm57 is installed, gpulib 1.0
is what the index offers. Neither `imagegate repair` nor `pip install -c $(imagegate
constraints …)` may swap one for the other.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import imagegate
from .test_constraints import make_wheel

PROFILE = """\
description: a stand-in GPU stack whose protected build carries a local label
target:
  python: "3.11"
  platform: manylinux_2_36_x86_64
base:
  image: python:3.11-slim-bookworm
pins:
  gpulib: "{pin}"
protected: [gpulib]
probes:
  imports: [gpulib]
"""


@pytest.fixture
def stack(tmp_path: Path) -> tuple[Path, Path, Path]:
    """(profiles dir, the index's folder offering gpulib 1.0, a venv with 1.0+rocm57)."""
    rocm, offered = tmp_path / "rocm", tmp_path / "offered"
    rocm.mkdir()
    offered.mkdir()
    installed = make_wheel(rocm, "gpulib", [], version="1.0+rocm57")
    make_wheel(offered, "gpulib", [], version="1.0")
    make_wheel(offered, "app", ["gpulib"])
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "--isolated", "--disable-pip-version-check"]
    subprocess.run([*pip, "install", "--no-index", str(installed)], check=True, capture_output=True)
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    return profiles, offered, venv


def build_of(venv: Path) -> str:
    done = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import gpulib; print(gpulib.BUILD)"],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def pip_install(venv: Path, offered: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-m",
            "pip",
            "--isolated",
            "install",
            "--no-index",
            "--find-links",
            str(offered),
            *args,
        ],
        capture_output=True,
        text=True,
    )


def test_without_constraints_a_force_reinstall_swaps_the_build(
    stack: tuple[Path, Path, Path],
) -> None:
    _, offered, venv = stack
    done = pip_install(venv, offered, "--force-reinstall", "gpulib==1.0")
    assert done.returncode == 0, done.stderr
    assert build_of(venv) == "1.0"  # the control: this is what seed 003 suffered


def test_pip_with_imagegate_constraints_refuses_to_swap_the_build(
    stack: tuple[Path, Path, Path],
) -> None:
    profiles, offered, venv = stack
    (profiles / "gpu.yaml").write_text(PROFILE.format(pin="1.0+rocm57"))
    constraints = imagegate("constraints", "gpu", "--profiles", str(profiles))
    assert constraints.code == 0, constraints.stderr
    assert "gpulib==1.0+rocm57" in constraints.stdout.splitlines()
    path = profiles.parent / "constraints.txt"
    path.write_text(constraints.stdout)

    forced = pip_install(venv, offered, "-c", str(path), "--force-reinstall", "gpulib==1.0")
    assert forced.returncode == 1
    assert "gpulib==1.0+rocm57" in forced.stdout + forced.stderr
    upgraded = pip_install(venv, offered, "-c", str(path), "--upgrade", "app")
    assert upgraded.returncode == 0, upgraded.stderr
    assert build_of(venv) == "1.0+rocm57"


def test_repair_refuses_to_replace_the_protected_build(stack: tuple[Path, Path, Path]) -> None:
    profiles, offered, venv = stack
    (profiles / "gpu.yaml").write_text(PROFILE.format(pin="1.0"))
    sources = {"PIP_FIND_LINKS": f"{os.environ.get('PIP_FIND_LINKS', '')} {offered}".strip()}
    assert imagegate("lock", "gpu", "--profiles", str(profiles), env=sources).code == 0
    assert imagegate("wheelhouse", "gpu", "--profiles", str(profiles), env=sources).code == 0

    run = imagegate(
        "repair",
        "gpu",
        "--python",
        str(venv / "bin" / "python"),
        "--profiles",
        str(profiles),
        env=sources,
    )

    assert run.code == 1, run.stderr[-2000:]
    last = run.stderr.strip().splitlines()[-1]
    assert "gpulib: 1.0+rocm57 installed, 1.0 locked" in last
    assert "protected, so repair never replaces its build" in last
    assert build_of(venv) == "1.0+rocm57"
