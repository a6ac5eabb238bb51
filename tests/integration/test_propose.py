"""propose against real releases in real venvs: proven, rejected statically, rejected at
import; --write changes only the proven pin lines, or nothing at all."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from packaging.version import Version

from .conftest import ROOT, imagegate

NUMEXPR = """\
extends: cpu
description: numexpr 2.8.7 was built against numpy 1 and declares no upper bound
pins:
  numexpr: "2.8.7"
invariants:
  numpy: null
"""
FLOW = 'extends: cpu\npins: {accelerate: "1.6.0"}\n'


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One project for the module: its trial wheels are fetched once."""
    folder = tmp_path_factory.mktemp("propose")
    shutil.copytree(ROOT / "profiles", folder / "profiles")
    (folder / "profiles" / "numexpr-stack.yaml").write_text(NUMEXPR)
    (folder / "profiles" / "flow-pins.yaml").write_text(FLOW)
    return folder


def _copy(shared: Path, tmp_path: Path) -> Path:
    """A copy to write into; the trial wheels are hard links to the shared ones."""
    shutil.copytree(shared, tmp_path / "project", copy_function=os.link)
    for path in (tmp_path / "project" / "profiles").iterdir():  # own inodes: edits stay here
        path.write_bytes(path.read_bytes())
    return tmp_path / "project"


def _propose(project: Path, *args: str) -> tuple[int, dict[str, Any]]:
    run = imagegate("propose", *args, "--format", "json", cwd=project)
    assert run.stdout, run.stderr[-3000:]
    return run.code, run.json()


def _rows(document: dict[str, Any], package: str) -> list[dict[str, Any]]:
    return [row for row in document["candidates"] if row["package"] == package]


def test_propose_proves_a_light_pin_and_rejects_numpy_2_statically(shared: Path) -> None:
    code, document = _propose(shared, "cpu", "accelerate", "numpy")
    assert code == 0
    accelerate = _rows(document, "accelerate")
    assert accelerate and all(Version(row["to"]) > Version("1.6.0") for row in accelerate)
    assert accelerate[0]["proven"] and accelerate[0]["deep"] == "proven"
    numpy = _rows(document, "numpy")
    assert numpy and all(row["static"] == "rejected" and row["deep"] == "-" for row in numpy)
    assert any(
        Version(row["to"]).major >= 2 and "invariant numpy" in row["evidence"] for row in numpy
    )
    assert document["venvs"] == len(accelerate)  # numpy 2 never cost a venv
    assert document["candidates"][0]["proven"]  # proven rows first


def test_a_release_that_resolves_but_breaks_at_import_is_rejected_with_the_error(
    shared: Path,
) -> None:
    code, document = _propose(shared, "numexpr-stack", "numpy")
    assert code == 1  # nothing proven
    [newest] = [row for row in _rows(document, "numpy") if Version(row["to"]).major >= 2]
    assert (newest["static"], newest["deep"]) == ("proven", "rejected")
    assert "import numexpr" in newest["evidence"]


def test_write_changes_only_the_proven_pin_line_and_locks_again(
    shared: Path, tmp_path: Path
) -> None:
    project = _copy(shared, tmp_path)
    common = project / "profiles" / "_common.yaml"
    before = common.read_text().splitlines()
    code, document = _propose(project, "cpu", "accelerate", "--write")
    assert code == 0
    proven = Version(_rows(document, "accelerate")[0]["to"])
    after = common.read_text().splitlines()
    changed = [(a, b) for a, b in zip(before, after, strict=True) if a != b]
    assert changed == [('  accelerate: "1.6.0"', f'  accelerate: "{proven}"')]
    assert (project / "profiles" / "cpu.yaml").read_bytes() == (
        ROOT / "profiles/cpu.yaml"
    ).read_bytes()
    check = imagegate("check", "cpu", "--format", "json", cwd=project)
    assert check.code == 0, check.stdout[-2000:]  # the lock is fresh and holds the new pin
    assert any("pylock.cuda130.toml" in line for line in document["written"])  # named stale


def test_write_leaves_everything_as_it_was_when_it_cannot_finish(
    shared: Path, tmp_path: Path
) -> None:
    project = _copy(shared, tmp_path)
    profiles = project / "profiles"
    before = {path.name: path.read_bytes() for path in profiles.iterdir()}
    run = imagegate("propose", "flow-pins", "accelerate", "--write", cwd=project)
    assert run.code == 2, run.stderr[-2000:]
    assert "flow-pins.yaml" in run.stderr.strip().splitlines()[-1]
    assert {path.name: path.read_bytes() for path in profiles.iterdir()} == before
