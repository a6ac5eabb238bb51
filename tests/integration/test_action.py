"""The composite action's steps, run as a runner runs them, on the real cpu image.

Each step's script and `env:` come from action.yml (inputs and `runner.temp` put in place as
GitHub does); imagegate is the one under test, in place of the venv the install step makes.
Its outputs and the step summary are read back, for a verify and for a push to a registry
on 127.0.0.1.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from .conftest import REPOSITORY, ROOT, Run, tags

ACTION = ROOT / "action.yml"
_EXPRESSION = re.compile(r"\$\{\{\s*(inputs\.[\w-]+|runner\.temp)\s*\}\}")


def _steps() -> dict[str, dict[str, Any]]:
    action = yaml.safe_load(ACTION.read_text(encoding="utf-8"))
    return {step["name"]: step for step in action["runs"]["steps"]}


def _run_action(
    tmp_path: Path, workspace: Path, names: list[str], inputs: dict[str, str]
) -> tuple[dict[str, str], str]:
    """`names` run in order as the runner would (bash -e, in the workspace); the outputs
    and the step summary they wrote."""
    action = yaml.safe_load(ACTION.read_text(encoding="utf-8"))
    given = {
        name: inputs.get(name, spec.get("default", "")) for name, spec in action["inputs"].items()
    }
    temp = tmp_path / "runner-temp"
    venv = temp / "imagegate-venv" / "bin"
    venv.mkdir(parents=True)
    for program in ("python", "imagegate"):
        (venv / program).symlink_to(Path(sys.executable).parent / program)
    output, summary = tmp_path / "output", tmp_path / "summary.md"
    output.touch()
    summary.touch()

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        return str(temp) if name == "runner.temp" else given[name.removeprefix("inputs.")]

    steps = _steps()
    for name in names:
        step = steps[name]
        env = {key: _EXPRESSION.sub(value, str(text)) for key, text in step["env"].items()}
        done = subprocess.run(
            ["bash", "-e", "-c", step["run"]],
            cwd=workspace,
            env={
                **os.environ,
                "PATH": f"{venv}{os.pathsep}{os.environ['PATH']}",
                "IMAGEGATE_REPOSITORY": REPOSITORY,
                "RUNNER_TEMP": str(temp),
                "GITHUB_OUTPUT": str(output),
                "GITHUB_STEP_SUMMARY": str(summary),
                **env,
            },
            capture_output=True,
            text=True,
            timeout=3600,
            check=False,
        )
        assert done.returncode == 0, f"{name}: {done.stderr[-3000:]}"
    lines = output.read_text(encoding="utf-8").splitlines()
    return dict(line.split("=", 1) for line in lines), summary.read_text(encoding="utf-8")


def test_the_action_verifies_an_image_and_says_so(
    cpu_build: Run, workspace: Path, tmp_path: Path
) -> None:
    assert cpu_build.code == 0, cpu_build.stderr[-2000:]
    steps = ["imagegate check", "imagegate build", "imagegate verify", "Verdict"]
    assert all(_steps()[name]["if"] != "inputs.push != ''" for name in steps)

    outputs, summary = _run_action(tmp_path, workspace, steps, {"profile": "cpu"})

    assert outputs["passed"] == "true"
    assert outputs["image"] == f"{REPOSITORY}/cpu:latest"
    assert outputs["digest"].startswith("sha256:")
    assert summary.count("### imagegate: ") == summary.count("**PASSED**") == 3  # one each


def test_the_action_gates_and_pushes_to_a_registry(
    cpu_build: Run, workspace: Path, registry: str, tmp_path: Path
) -> None:
    assert cpu_build.code == 0, cpu_build.stderr[-2000:]
    ref = f"{registry}/imagegate/action:test"
    assert _steps()["imagegate gate"]["if"] == "inputs.push != ''"

    outputs, summary = _run_action(
        tmp_path, workspace, ["imagegate gate", "Verdict"], {"profile": "cpu", "push": ref}
    )

    assert outputs == {"passed": "true", "image": ref, "digest": outputs["digest"]}
    assert outputs["digest"].startswith("sha256:")
    assert "test" in tags(registry, "imagegate/action")
    assert summary.count("### imagegate: ") == summary.count("**PASSED**") == 1
