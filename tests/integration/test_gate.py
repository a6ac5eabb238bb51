"""The pre-deploy gate against a real registry on 127.0.0.1: push on pass, nothing on fail."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from imagegate.engine import Engine

from .conftest import Run, findings, imagegate, tags
from .test_broken_stack import VARIANT


def test_a_passing_gate_pushes_a_labelled_image(
    cpu_build: Run, registry: str, engine: Engine, workspace: Path
) -> None:
    ref = f"{registry}/imagegate/cpu:test"
    run = imagegate("gate", "cpu", "--push", ref, "--format", "json")
    assert run.code == 0, run.stderr[-3000:]
    document = run.json()
    assert document["pushed"] is True and document["digest"].startswith("sha256:")
    assert "test" in tags(registry, "imagegate/cpu")
    labels = engine.image(ref).labels  # type: ignore[union-attr]
    assert labels["org.imagegate.profile"] == "cpu"
    assert labels["org.imagegate.verified"] == "passed"
    lock_digest = hashlib.sha256((workspace / "profiles" / "pylock.cpu.toml").read_bytes())
    assert labels["org.imagegate.lock"] == f"sha256:{lock_digest.hexdigest()}"
    assert json.loads(labels["org.imagegate.findings"])["BROKEN"] == 0


def test_a_broken_stack_pushes_nothing_and_exits_1(
    project: Path, registry: str, base_image: str
) -> None:
    (project / "profiles" / "cpu-pandas-numpy2.yaml").write_text(VARIANT)
    ref = f"{registry}/imagegate/broken:test"
    run = imagegate(
        "gate",
        "cpu-pandas-numpy2",
        "--push",
        ref,
        "--format",
        "json",
        "--profiles",
        str(project / "profiles"),
    )
    assert run.code == 1
    document = run.json()
    assert document["pushed"] is False
    assert findings(document)[("known-issue", "pandas-built-for-numpy1")]["status"] == "BROKEN"
    assert "pushed nothing" in run.stderr.strip().splitlines()[-1]
    assert tags(registry, "imagegate/broken") == []


def test_a_stale_lock_fails_the_gate_before_any_build(project: Path, registry: str) -> None:
    common = project / "profiles" / "_common.yaml"
    common.write_text(common.read_text().replace('accelerate: "1.6.0"', 'accelerate: "1.7.0"'))
    ref = f"{registry}/imagegate/stale:test"
    run = imagegate(
        "gate", "cpu", "--push", ref, "--format", "json", "--profiles", str(project / "profiles")
    )
    assert run.code == 1
    assert findings(run.json())[("lock", "pylock.cpu.toml")]["status"] == "STALE LOCK"
    assert "==> build" not in run.stderr
    assert tags(registry, "imagegate/stale") == []
