"""The SBOM of a real image: `verify --sbom` (judged now, and from a kept verdict) and the
gate's, whose digest the pushed image carries. Each lists what is installed in the image,
as read here independently of imagegate's collector, with the lock's hash for every wheel."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from packaging.utils import canonicalize_name

from imagegate.engine import Engine
from imagegate.lock import Lock

from .conftest import CPU_IMAGE, Run, imagegate

pytestmark = pytest.mark.docker

IMAGE = CPU_IMAGE
LIST = (
    "import importlib.metadata as m, json; "
    "print(json.dumps({d.metadata['Name']: d.version for d in m.distributions()}))"
)


def installed(engine: Engine, image: str) -> dict[str, str]:
    """What the image's venv holds, asked of its interpreter directly."""
    ran = engine.run(image, ["/opt/venv/bin/python", "-c", LIST], files={}, timeout=120)
    assert ran.returncode == 0, ran.errors
    return {canonicalize_name(name): version for name, version in json.loads(ran.output).items()}


def checked(path: Path, expected: dict[str, str], lock: Lock) -> dict[str, Any]:
    """The document at `path`: schema-valid, listing exactly `expected`, each locked wheel's
    hash on the distributions installed as locked."""
    text = path.read_text(encoding="utf-8")
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(text) is None
    document: dict[str, Any] = json.loads(text)
    listed = {c["name"]: c for c in document["components"]}
    assert {name: c["version"] for name, c in listed.items()} == expected
    for name, component in listed.items():
        locked = lock.packages.get(canonicalize_name(name))
        if locked is None:
            assert "hashes" not in component, name
            continue
        assert component["version"] == str(locked.version), name
        assert [h["content"] for h in component["hashes"]] == [w.sha256 for w in locked.wheels]
    return document


def test_verify_writes_the_sbom_of_what_the_image_holds(
    cpu_build: Run, engine: Engine, workspace: Path, tmp_path: Path
) -> None:
    assert cpu_build.code == 0, cpu_build.stderr[-2000:]
    lock = Lock.read(workspace / "profiles" / "pylock.cpu.toml")
    expected = installed(engine, IMAGE)
    assert set(lock.packages) <= set(expected)  # the whole lock is there: every one hashed
    reused_file, fresh_file = tmp_path / "reused.cdx.json", tmp_path / "fresh.cdx.json"

    reused = imagegate("verify", "cpu", "--sbom", str(reused_file), "--format", "json")
    fresh = imagegate("verify", "cpu", "--fresh", "--sbom", str(fresh_file), "--format", "json")

    assert reused.code == 0, reused.stderr[-2000:]
    assert fresh.code == 0, fresh.stderr[-2000:]
    assert reused.json()["verdict"].startswith("reused from ")  # facts kept with the verdict
    assert "verdict" not in fresh.json()
    for run, path in ((reused, reused_file), (fresh, fresh_file)):
        document = checked(path, expected, lock)
        assert document["metadata"]["component"]["name"] == IMAGE
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        assert run.json()["sbom_digest"] == f"sha256:{digest}"


def test_an_sbom_that_cannot_be_written_still_shows_the_verdict_and_exits_2(
    cpu_build: Run, tmp_path: Path
) -> None:
    assert cpu_build.code == 0
    blocker = tmp_path / "file"
    blocker.write_text("")

    run = imagegate("verify", "cpu", "--sbom", str(blocker / "x.cdx.json"), "--format", "json")

    assert run.code == 2
    document = run.json()
    assert document["findings"]  # the tiers' rows are still shown, every one OK
    assert all(f["status"] in ("OK", "SKIPPED") for f in document["findings"])
    assert document["passed"] is False  # the verdict follows the exit code: bad input
    assert "--sbom" in run.stderr


def test_the_gate_labels_the_pushed_image_with_its_sboms_digest(
    cpu_build: Run, registry: str, engine: Engine, workspace: Path, tmp_path: Path
) -> None:
    assert cpu_build.code == 0
    ref = f"{registry}/imagegate/cpu:sbom"
    path = tmp_path / "gate.cdx.json"
    try:
        run = imagegate("gate", "cpu", "--push", ref, "--sbom", str(path), "--format", "json")

        assert run.code == 0, run.stderr[-3000:]
        labels = engine.image(ref).labels  # type: ignore[union-attr]
        lock = Lock.read(workspace / "profiles" / "pylock.cpu.toml")
        document = checked(path, installed(engine, ref), lock)
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        assert labels["org.imagegate.sbom"] == f"sha256:{digest}" == run.json()["sbom_digest"]
        assert document["metadata"]["component"]["name"] == ref
    finally:
        engine.remove_image(ref)
