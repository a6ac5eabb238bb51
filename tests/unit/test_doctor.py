"""The doctor's consistency rows, the pure part: a lock its profile no longer matches."""

from __future__ import annotations

import shutil
from pathlib import Path

from imagegate import doctor
from imagegate.findings import Status
from imagegate.profiles import load_profile
from imagegate.project import Project
from tests.unit.test_verify import make_facts

SHIPPED = Path(__file__).resolve().parents[2] / "profiles"


def test_a_lock_the_profile_no_longer_matches_is_a_stale_lock(tmp_path: Path) -> None:
    profiles = tmp_path / "profiles"
    shutil.copytree(SHIPPED, profiles)
    common = profiles / "_common.yaml"
    fresh = doctor.consistency(
        load_profile("cpu", profiles), Project.from_profiles(profiles), make_facts()
    )
    common.write_text(common.read_text().replace('"4.51.3"', '"4.51.2"'))

    rows = doctor.consistency(
        load_profile("cpu", profiles), Project.from_profiles(profiles), make_facts()
    )

    assert fresh[0].status is Status.OK  # control: the shipped lock is fresh
    assert [(row.subject, row.status) for row in rows] == [("profile ↔ lock", Status.STALE_LOCK)]
    assert rows[0].status.failed and "imagegate lock cpu" in rows[0].evidence


def test_no_lock_at_all_is_missing(tmp_path: Path) -> None:
    profiles = tmp_path / "profiles"
    shutil.copytree(SHIPPED, profiles)
    (profiles / "pylock.cpu.toml").unlink()

    rows = doctor.consistency(
        load_profile("cpu", profiles), Project.from_profiles(profiles), make_facts()
    )

    assert [(row.subject, row.status) for row in rows] == [("profile ↔ lock", Status.MISSING)]
