"""Images imagegate did not build: a hand-written Dockerfile puts the locked cpu stack in
/workspace/venv, runs as a non-root user and carries no imagegate label; verify and gate
judge it against the whole lock."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from imagegate.engine import Engine
from imagegate.lock import Lock

from .conftest import REPOSITORY, findings, imagegate, tags

pytestmark = pytest.mark.docker

STACK = "/workspace/venv/bin/python"
DRIFTED = ("jinja2", "3.1.5")
"""A locked dependency no profile pins, one real release off the lock's, still importing."""
EXTRA = ("six", "1.16.0")
"""A real distribution the cpu lock does not hold."""


def docker_build(
    context: Path, dockerfile: str, tag: str, folder: Path, target: str | None = None
) -> None:
    """`docker build` with BuildKit (of the stage `target`, when given), the Dockerfile kept
    in `folder`, outside the context."""
    path = folder / f"{uuid.uuid4().hex}.Dockerfile"
    path.write_text(dockerfile)
    command = ["/usr/bin/docker", "build", "-q", "-f", str(path)]
    command += ["--target", target] if target is not None else []
    done = subprocess.run(
        [*command, "-t", tag, str(context)],
        capture_output=True,
        text=True,
        env={"DOCKER_BUILDKIT": "1", "PATH": "/usr/bin:/bin"},
        timeout=1800,
    )
    assert done.returncode == 0, done.stderr[-3000:]


def layer(name: str, *steps: str) -> str:
    """One more layer on the foreign image, built as root, run as its user again: a stage
    FROM the stack's stage, not FROM its tag, so the engine never looks the tag up (once,
    BuildKit did not find a tag built a moment before and went to the network for it)."""
    return "\n".join([f"FROM stack AS {name}", "USER root", *steps, "USER 1000:1000", ""])


@pytest.fixture(scope="module")
def images(
    base_image: str, cpu_wheelhouse: Path, engine: Engine, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, str]]:
    """The foreign image and its variants (each one layer on it); all removed afterwards."""
    run = uuid.uuid4().hex[:8]
    made = {
        name: f"{REPOSITORY}/foreign-{name}:{run}" for name in ("stack", "two", "drifted", "extra")
    }
    folder = tmp_path_factory.mktemp("foreign")
    context = folder / "context"
    shutil.copytree(cpu_wheelhouse, context / "wheels", copy_function=os.link)
    download = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:"]
    downloaded = subprocess.run(
        [*download, "-d", str(context / "more"), "==".join(DRIFTED), "==".join(EXTRA)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert downloaded.returncode == 0, downloaded.stderr[-2000:]
    site = "lib/python3.11/site-packages"
    variants = {
        # a second venv that sees the first one's packages: two Pythons hold torch
        "two": f"RUN python3 -m venv /opt/venv && echo /workspace/venv/{site} > "
        f"/opt/venv/{site}/stack.pth",
        "drifted": "RUN --mount=type=bind,source=more,target=/more /workspace/venv/bin/pip "
        f"install --no-index --no-deps /more/{DRIFTED[0]}-{DRIFTED[1]}-py3-none-any.whl",
        "extra": "RUN --mount=type=bind,source=more,target=/more /workspace/venv/bin/pip "
        f"install --no-index --no-deps /more/{EXTRA[0]}-{EXTRA[1]}-py2.py3-none-any.whl",
    }
    dockerfile = "\n".join(
        [
            f"FROM {base_image} AS stack",
            "RUN python3 -m venv /workspace/venv",
            "RUN --mount=type=bind,source=wheels,target=/wheels /workspace/venv/bin/pip install "
            "--no-index --no-deps /wheels/protected/*.whl /wheels/rest/*.whl",
            "USER 1000:1000",
            "",
            *(layer(name, step) for name, step in variants.items()),
        ]
    )
    try:
        for name, tag in made.items():
            docker_build(context, dockerfile, tag, folder, target=name)
        yield made
    finally:
        for tag in made.values():
            engine.remove_image(tag)


def verify(image: str, *args: str) -> tuple[int, dict[str, Any], str]:
    run = imagegate("verify", "cpu", "--image", image, "--format", "json", "--fresh", *args)
    document = json.loads(run.stdout) if run.stdout.strip() else {}
    return run.code, document, run.stderr


@pytest.mark.parametrize("named", [True, False], ids=["--image-python", "discovered"])
def test_the_locked_stack_built_elsewhere_passes_every_tier(
    images: dict[str, str], named: bool
) -> None:
    code, document, stderr = verify(images["stack"], *(["--image-python", STACK] if named else []))

    assert code == 0, stderr[-3000:]
    assert document["python"] == STACK
    rows = findings(document)
    assert rows[("lock-label", "org.imagegate.lock")]["actual"] == "none"
    assert rows[("extra", "pip")]["status"] == "OK"
    ran = {f["tier"] for f in document["findings"] if f["status"] == "OK"}
    assert ran == {1, 2, 3}


def test_two_pythons_holding_the_stack_is_exit_2_naming_both(images: dict[str, str]) -> None:
    code, _, stderr = verify(images["two"])

    assert code == 2
    [line] = stderr.strip().splitlines()
    assert STACK in line and "/opt/venv/bin/python" in line


def test_a_drifted_dependency_fails_tier_1_naming_locked_and_installed(
    images: dict[str, str], workspace: Path
) -> None:
    name, installed = DRIFTED
    locked = Lock.read(workspace / "profiles" / "pylock.cpu.toml").packages[name].version
    assert str(locked) != installed

    code, document, _ = verify(images["drifted"], "--image-python", STACK)

    assert code == 1
    row = findings(document)[("lock", name)]
    assert (row["tier"], row["status"]) == (1, "WRONG VERSION")
    assert (row["expected"], row["actual"]) == (f"=={locked}", installed)


def test_an_extra_distribution_fails_until_the_profile_allows_it(
    images: dict[str, str], project: Path
) -> None:
    name, version = EXTRA
    profiles = str(project / "profiles")

    code, document, _ = verify(images["extra"], "--profiles", profiles)
    assert code == 1
    row = findings(document)[("extra", name)]
    assert (row["status"], row["actual"]) == ("WRONG VERSION", version)

    cpu = project / "profiles" / "cpu.yaml"
    cpu.write_text(cpu.read_text() + f"allow_extra:\n  {name}: the application needs it\n")
    code, document, stderr = verify(images["extra"], "--profiles", profiles)
    assert code == 0, stderr[-3000:]
    assert findings(document)[("extra", name)]["status"] == "OK"


def test_gate_pushes_a_labelled_foreign_image_on_a_pass(
    images: dict[str, str], registry: str, engine: Engine, workspace: Path
) -> None:
    ref = f"{registry}/imagegate/foreign:pass"

    run = imagegate("gate", "cpu", "--image", images["stack"], "--push", ref, "--format", "json")

    assert run.code == 0, run.stderr[-3000:]
    assert run.json()["pushed"] is True
    assert "pass" in tags(registry, "imagegate/foreign")
    labels = engine.image(ref).labels  # type: ignore[union-attr]
    lock = Lock.read(workspace / "profiles" / "pylock.cpu.toml")
    assert labels["org.imagegate.lock"] == f"sha256:{lock.sha256}"
    assert labels["org.imagegate.python"] == STACK
    assert labels["org.imagegate.verified"] == "passed"
    engine.remove_image(ref)


def test_gate_pushes_nothing_for_a_drifted_foreign_image(
    images: dict[str, str], registry: str
) -> None:
    ref = f"{registry}/imagegate/drifted:test"

    run = imagegate("gate", "cpu", "--image", images["drifted"], "--push", ref, "--format", "json")

    assert run.code == 1
    assert run.json()["pushed"] is False
    assert findings(run.json())[("lock", DRIFTED[0])]["status"] == "WRONG VERSION"
    assert tags(registry, "imagegate/drifted") == []
