"""The workflow's jobs: pinned actions, bounded jobs, GPU jobs only where the runner exists,
and the example worker gated like any profile.

The matrix step's script is run here as the runner runs it (bash -e, the real `imagegate
matrix`, jq), with the repository variable unset and set.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.unit.test_workflows import WORKFLOW, _step, _steps

ROOT = Path(__file__).resolve().parents[2]
PINNED = re.compile(r"^\s*(?:- )?uses: ([\w.-]+/[\w.-]+)@([0-9a-f]{40}) # (v\d+(?:\.\d+)*)$")


@pytest.fixture(scope="module")
def workflow() -> dict[Any, Any]:
    loaded = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


INIT_WORKFLOW = ROOT / "tool" / "imagegate" / "templates" / "init" / "workflow.yml.j2"
"""The workflow `imagegate init` writes into a user's project: pinned the same way."""


@pytest.mark.parametrize("path", [WORKFLOW, INIT_WORKFLOW], ids=["images.yml", "init"])
def test_every_action_is_pinned_by_commit_with_its_tag_beside_it(path: Path) -> None:
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if "uses:" in line]
    assert lines
    unpinned = [line for line in lines if PINNED.match(line) is None]
    assert unpinned == []


def test_the_pin_check_rejects_a_tag_and_a_commit_without_its_tag() -> None:
    commit = "actions/checkout@3d3c42e5aac5ba805825da76410c181273ba90b1"
    assert PINNED.match(f"      - uses: {commit} # v7.0.1")
    assert PINNED.match("      - uses: actions/checkout@v7 # v7") is None
    assert PINNED.match(f"      - uses: {commit}") is None


def test_every_job_has_a_timeout(workflow: dict[Any, Any]) -> None:
    assert all("timeout-minutes" in job for job in workflow["jobs"].values())


def _matrix(workflow: dict[Any, Any], tmp_path: Path, gpu_runner: str) -> dict[str, Any]:
    """The matrix job's step run as the runner runs it, its output read back."""
    if shutil.which("jq") is None:
        pytest.fail("jq is not installed (GitHub's runners have it)")
    step = _step(workflow, "matrix", lambda s: s.get("id") == "matrix")
    output = tmp_path / "output"
    environ = {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "HOME": os.environ.get("HOME", str(tmp_path)),
        "RUNNER_TEMP": str(tmp_path),
        "GITHUB_OUTPUT": str(output),
        "GPU_RUNNER": gpu_runner,
        **workflow["env"],
    }
    done = subprocess.run(
        ["bash", "-e", "-c", step["run"]],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    text = output.read_text(encoding="utf-8").splitlines()
    assert text[0] == "matrix<<IMAGEGATE_MATRIX" and text[-1] == "IMAGEGATE_MATRIX"
    loaded = json.loads("\n".join(text[1:-1]))
    assert isinstance(loaded, dict)
    return loaded


def _profiles(matrix: dict[str, Any]) -> dict[str, list[str]]:
    return {entry["profile"]: entry["runner"] for entry in matrix["include"]}


def test_without_the_variable_no_job_waits_for_a_self_hosted_runner(
    workflow: dict[Any, Any], tmp_path: Path
) -> None:
    profiles = _profiles(_matrix(workflow, tmp_path, ""))
    assert {"cpu", "worker"} <= set(profiles)
    assert "cuda130" not in profiles  # the shipped profile that names a GPU runner
    assert all("self-hosted" not in runner for runner in profiles.values())


def test_with_the_variable_the_gpu_profiles_run_on_their_runner(
    workflow: dict[Any, Any], tmp_path: Path
) -> None:
    profiles = _profiles(_matrix(workflow, tmp_path, "true"))
    assert "self-hosted" in profiles["cuda130"]
    assert {"cpu", "worker"} <= set(profiles)


def test_the_variable_is_the_repositorys(workflow: dict[Any, Any]) -> None:
    step = _step(workflow, "matrix", lambda s: s.get("id") == "matrix")
    assert step["env"]["GPU_RUNNER"] == "${{ vars.IMAGEGATE_GPU_RUNNER }}"


def test_the_worker_is_verified_and_gated_as_the_image_built_from_its_stack(
    workflow: dict[Any, Any],
) -> None:
    steps = _steps(workflow, "image")
    assert (ROOT / workflow["env"]["WORKER"] / "Dockerfile").is_file()

    def named(text: str) -> dict[str, Any]:
        return _step(workflow, "image", lambda s: text in s.get("run", ""))

    build, worker = named("imagegate build "), named("docker build ")
    verify, gate = named("imagegate verify "), named("imagegate gate ")
    assert worker["if"] == "env.IMAGE != ''"
    assert steps.index(build) < steps.index(worker) < steps.index(verify)
    assert '${STACK:+--tag "$STACK"}' in build["run"]
    assert '--build-arg STACK="$STACK"' in worker["run"]
    for step in (verify, gate):
        assert '${IMAGE:+--image "$IMAGE"}' in step["run"]
    for step in (named("imagegate check "), build, verify, gate):
        assert '--profiles "$PROJECT/profiles"' in step["run"]
