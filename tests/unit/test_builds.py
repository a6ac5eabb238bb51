"""The record of images imagegate built: only a sealed record of this very ID and inputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from imagegate import builds
from imagegate.project import Project
from tests.unit.test_lock import make_profile


def test_only_an_image_imagegate_recorded_from_these_inputs_counts_as_built(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    profile = make_profile(tmp_path / "profiles")
    project = Project.from_profiles(tmp_path / "profiles")
    builds.remember(project, profile, image_id="sha256:aa", inputs="i1")

    assert builds.by_imagegate(project, profile, image_id="sha256:aa", inputs="i1")
    assert not builds.by_imagegate(project, profile, image_id="sha256:bb", inputs="i1")
    assert not builds.by_imagegate(project, profile, image_id="sha256:aa", inputs="i2")

    path = project.state / "built" / f"{profile.name}.json"
    [entry] = json.loads(path.read_text(encoding="utf-8"))
    path.write_text(json.dumps([{**entry, "image_id": "sha256:cc"}]))  # a child's ID, copied in
    assert not builds.by_imagegate(project, profile, image_id="sha256:cc", inputs="i1")

    path.write_text(json.dumps([entry]))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "another-machine"))
    assert not builds.by_imagegate(project, profile, image_id="sha256:aa", inputs="i1")
