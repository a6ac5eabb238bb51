"""Nothing changed, nothing redone: an unchanged build is not rebuilt and its passing verdict
is reused, said so in the report; --fresh and any change to what judged it run it again."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import Run, findings, imagegate, with_kept_verdicts

pytestmark = pytest.mark.docker


def test_an_unchanged_build_is_not_rebuilt_and_reuses_its_verdict(
    cpu_build: Run, workspace: Path
) -> None:
    assert cpu_build.code == 0, cpu_build.stderr[-2000:]
    assert "verdict" not in cpu_build.json()  # the first build judged the image itself

    again = imagegate("build", "cpu", "--format", "json", cwd=workspace)

    assert again.code == 0, again.stderr[-2000:]
    document = again.json()
    assert document["verdict"].startswith("reused from ")
    assert "not rebuilt" in again.stderr
    assert "build" not in document["seconds"]
    assert document["counts"] == cpu_build.json()["counts"]


def test_fresh_judges_the_image_again(cpu_build: Run, workspace: Path) -> None:
    assert cpu_build.code == 0

    reused = imagegate("verify", "cpu", "--format", "json", cwd=workspace)
    fresh = imagegate("verify", "cpu", "--fresh", "--format", "json", cwd=workspace)

    assert reused.code == 0 and reused.json()["verdict"].startswith("reused from ")
    assert fresh.code == 0, fresh.stderr[-2000:]
    assert "verdict" not in fresh.json()
    assert "==> tier 3" in fresh.stderr


def test_a_changed_probe_is_never_served_an_old_verdict(
    cpu_build: Run, workspace: Path, tmp_path: Path
) -> None:
    assert cpu_build.code == 0
    profiles = with_kept_verdicts(workspace, tmp_path / "project")
    copy = tmp_path / "project"
    kept = imagegate("verify", "cpu", "--format", "json", "--profiles", profiles)
    assert kept.json().get("verdict", "").startswith("reused from ")  # the control
    cpu = copy / "profiles" / "cpu.yaml"
    cpu.write_text(
        cpu.read_text(encoding="utf-8")
        + "probes:\n  statements:\n    torch-nn: from torch import nn\n",
        encoding="utf-8",
    )

    changed = imagegate("verify", "cpu", "--format", "json", "--profiles", profiles)

    assert changed.code == 0, changed.stderr[-2000:]
    assert "verdict" not in changed.json()
    assert findings(changed.json())[("statement", "torch-nn")]["status"] == "OK"
