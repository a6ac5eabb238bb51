"""Verdict keys: every input of a verdict changes the key; kept verdicts come back whole."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from packaging.utils import canonicalize_name

from imagegate import verdicts
from imagegate.findings import Finding, Status
from imagegate.profiles import Probes, Profile
from imagegate.project import Project
from tests.unit.test_lock import make_profile


def key(profile: Profile, **changes: object) -> str:
    inputs: dict[str, object] = {
        "image_id": "sha256:aa",
        "python": "/opt/venv/bin/python",
        "lock_sha256": "bb",
        "require_gpu": False,
        "gpus": False,
    } | changes
    return verdicts.key(profile, **inputs)  # type: ignore[arg-type]


def test_every_input_of_a_verdict_changes_its_key(tmp_path: Path) -> None:
    profile = make_profile(tmp_path)
    probed = replace(profile, probes=Probes(imports=("torch",)))
    base = key(profile)

    others = [
        key(profile, image_id="sha256:cc"),
        key(profile, python="/workspace/venv/bin/python"),
        key(profile, lock_sha256="dd"),
        key(profile, require_gpu=True),
        key(profile, gpus=True),
        key(probed),
    ]

    assert base == key(profile)
    assert base == key(replace(profile, path=tmp_path / "elsewhere" / "demo.yaml"))
    assert len({base, *others}) == 1 + len(others)


def test_a_kept_verdict_comes_back_whole_and_only_for_its_key(tmp_path: Path) -> None:
    profile = make_profile(tmp_path / "profiles")
    project = Project.from_profiles(tmp_path / "profiles")
    found = [
        Finding(tier=1, check="pin", subject="torch", status=Status.OK, expected="1", actual="1"),
        Finding(tier=3, check="model", subject="gpt2/gpu", status=Status.SKIPPED, seconds=0.5),
    ]

    installed = {canonicalize_name("torch"): "2.13.0+cpu", canonicalize_name("pip"): "24.0"}

    when = verdicts.keep(project, profile, "k1", "img:1", found, installed)
    kept = verdicts.recall(project, profile, "k1")

    assert kept is not None and kept.when == when and kept.image == "img:1"
    assert kept.findings == found
    assert kept.installed == installed  # a reused verdict can still write its SBOM
    assert verdicts.recall(project, profile, "k2") is None


def test_a_verdict_kept_without_what_the_image_holds_is_judged_again(tmp_path: Path) -> None:
    """One kept by an older imagegate: reusing it would leave `--sbom` with nothing to list."""
    profile = make_profile(tmp_path / "profiles")
    project = Project.from_profiles(tmp_path / "profiles")
    verdicts.keep(project, profile, "k1", "img:1", [], {canonicalize_name("pip"): "24.0"})
    path = project.state / "verdicts" / f"{profile.name}.json"
    entries = json.loads(path.read_text(encoding="utf-8"))
    assert verdicts.recall(project, profile, "k1") is not None  # the control
    path.write_text(json.dumps([{k: v for k, v in entries[0].items() if k != "installed"}]))

    assert verdicts.recall(project, profile, "k1") is None
