"""`imagegate constraints` keeps a protected build: real pip, real resolution (seed 003)."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from .conftest import imagegate


def make_wheel(folder: Path, name: str, requires: list[str], version: str = "1.0") -> Path:
    """A real, minimal wheel: what a project's own package looks like to pip."""
    path = folder / f"{name}-{version}-py3-none-any.whl"
    info = f"{name}-{version}.dist-info"
    metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    metadata += "".join(f"Requires-Dist: {requirement}\n" for requirement in requires)
    files = {
        f"{name}/__init__.py": f"BUILD = {version!r}\n",
        f"{info}/METADATA": metadata,
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
        "Tag: py3-none-any\n",
    }
    with zipfile.ZipFile(path, "w") as archive:
        for member, text in files.items():
            archive.writestr(member, text)
        archive.writestr(f"{info}/RECORD", "".join(f"{m},,\n" for m in [*files, f"{info}/RECORD"]))
    return path


def dry_run(folder: Path, package: str, *extra: str) -> subprocess.CompletedProcess[str]:
    report = folder / f"{package}.json"
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--dry-run",
            "--ignore-installed",
            "--only-binary=:all:",
            "--report",
            str(report),
            "--find-links",
            str(folder),
            *extra,
            package,
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )


def resolved(folder: Path, package: str) -> dict[str, str]:
    document = json.loads((folder / f"{package}.json").read_text())
    return {item["metadata"]["name"]: item["metadata"]["version"] for item in document["install"]}


@pytest.fixture(scope="module")
def constraints(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = imagegate("constraints", "cpu")
    assert run.code == 0, run.stderr
    assert "torch==2.13.0+cpu" in run.stdout.splitlines()
    path = tmp_path_factory.mktemp("constraints") / "constraints.txt"
    path.write_text(run.stdout)
    return path


def test_without_constraints_pip_would_swap_the_cpu_torch(tmp_path: Path) -> None:
    make_wheel(tmp_path, "wants_new_torch", ["torch>=2.14"])
    run = dry_run(tmp_path, "wants_new_torch")
    assert run.returncode == 0, run.stderr[-2000:]
    assert resolved(tmp_path, "wants_new_torch")["torch"] != "2.13.0+cpu"


def test_with_constraints_pip_refuses_another_torch(tmp_path: Path, constraints: Path) -> None:
    """The control above resolves; with the constraints nothing does: no plan, no torch."""
    make_wheel(tmp_path, "wants_new_torch", ["torch>=2.14"])
    run = dry_run(tmp_path, "wants_new_torch", "-c", str(constraints))
    assert run.returncode != 0
    assert not (tmp_path / "wants_new_torch.json").exists()


def test_with_constraints_a_plain_torch_requirement_keeps_the_cpu_build(
    tmp_path: Path, constraints: Path
) -> None:
    make_wheel(tmp_path, "wants_any_torch", ["torch", "transformers"])
    run = dry_run(tmp_path, "wants_any_torch", "-c", str(constraints))
    assert run.returncode == 0, run.stderr[-2000:]
    versions = resolved(tmp_path, "wants_any_torch")
    assert versions["torch"] == "2.13.0+cpu"
    assert versions["transformers"] == "4.51.3"
