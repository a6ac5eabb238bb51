"""Verdict keys: every input of a verdict changes the key; kept verdicts come back whole."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

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

    when = verdicts.keep(project, profile, "k1", "img:1", found)
    kept = verdicts.recall(project, profile, "k1")

    assert kept is not None and kept.when == when and kept.image == "img:1"
    assert kept.findings == found
    assert verdicts.recall(project, profile, "k2") is None
