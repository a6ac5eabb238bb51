"""Verdict keys: every input of a verdict changes the key; kept verdicts come back whole."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name

from imagegate import seal, verdicts
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


OK = Finding(tier=1, check="pin", subject="torch", status=Status.OK, expected="1", actual="1")
INSTALLED = {canonicalize_name("torch"): "2.13.0+cpu", canonicalize_name("pip"): "24.0"}


def kept_one(tmp_path: Path) -> tuple[Profile, Project, Path]:
    """A project with one passing verdict kept under "k1" for image sha256:aa; its file."""
    profile = make_profile(tmp_path / "profiles")
    project = Project.from_profiles(tmp_path / "profiles")
    verdicts.keep(project, profile, "k1", "img:1", [OK], INSTALLED, image_id="sha256:aa")
    assert verdicts.recall(project, profile, "k1", image_id="sha256:aa") is not None  # control
    return profile, project, project.state / "verdicts" / f"{profile.name}.json"


def test_a_kept_verdict_comes_back_whole_and_only_for_its_key(tmp_path: Path) -> None:
    profile = make_profile(tmp_path / "profiles")
    project = Project.from_profiles(tmp_path / "profiles")
    found = [
        OK,
        Finding(tier=3, check="model", subject="gpt2/gpu", status=Status.SKIPPED, seconds=0.5),
    ]

    when = verdicts.keep(project, profile, "k1", "img:1", found, INSTALLED, image_id="sha256:aa")
    kept = verdicts.recall(project, profile, "k1", image_id="sha256:aa")

    assert kept is not None and kept.when == when and kept.image == "img:1"
    assert kept.findings == found
    assert kept.installed == INSTALLED  # a reused verdict can still write its SBOM
    assert verdicts.recall(project, profile, "k2", image_id="sha256:aa") is None
    assert verdicts.recall(project, profile, "k1", image_id="sha256:bb") is None


def test_a_verdict_that_failed_is_never_kept_nor_served(tmp_path: Path) -> None:
    profile = make_profile(tmp_path / "profiles")
    project = Project.from_profiles(tmp_path / "profiles")
    broken = Finding(tier=2, check="import", subject="transformers", status=Status.BROKEN)

    verdicts.keep(project, profile, "k1", "img:1", [OK, broken], INSTALLED, image_id="sha256:aa")

    assert verdicts.recall(project, profile, "k1", image_id="sha256:aa") is None


def test_an_edited_verdict_is_not_served(tmp_path: Path) -> None:
    profile, project, path = kept_one(tmp_path)
    entries = json.loads(path.read_text(encoding="utf-8"))
    entries[0]["when"] = "2030-01-01T00:00:00Z"
    path.write_text(json.dumps(entries))

    assert verdicts.recall(project, profile, "k1", image_id="sha256:aa") is None


def test_a_verdict_copied_under_another_key_or_image_is_not_served(tmp_path: Path) -> None:
    profile, project, path = kept_one(tmp_path)
    [entry] = json.loads(path.read_text(encoding="utf-8"))
    copied = {**entry, "key": "k2", "image_id": "sha256:bb"}
    path.write_text(json.dumps([entry, copied]))

    assert verdicts.recall(project, profile, "k2", image_id="sha256:bb") is None
    assert verdicts.recall(project, profile, "k1", image_id="sha256:aa") is not None


def test_a_verdict_sealed_elsewhere_is_not_served(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Restored from a CI cache, or written by another user: another key sealed it."""
    profile, project, _ = kept_one(tmp_path)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "another-machine"))

    assert verdicts.recall(project, profile, "k1", image_id="sha256:aa") is None


def test_a_verdict_kept_without_what_the_image_holds_is_judged_again(tmp_path: Path) -> None:
    """One kept by an older imagegate: reusing it would leave `--sbom` with nothing to list."""
    profile, project, path = kept_one(tmp_path)
    [entry] = json.loads(path.read_text(encoding="utf-8"))
    path.write_text(json.dumps([seal.sealed({k: v for k, v in entry.items() if k != "installed"})]))

    assert verdicts.recall(project, profile, "k1", image_id="sha256:aa") is None
