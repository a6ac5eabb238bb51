"""When the reports build starts beside the image's (`building.reports_beside`)."""

from __future__ import annotations

from pathlib import Path

from imagegate import building
from imagegate.project import Project
from tests.unit.test_lock import make_profile

RUNNING = [
    "#7 [stack 3/8] RUN     --mount=type=bind,source=wheelhouse/{name}/protected,target=/w\n",
    "#7 0.186 Using Python 3.11.2 environment at: /opt/venv\n",
]


def starts_beside(tmp_path: Path, wheel_bytes: int) -> bool:
    profile = make_profile(tmp_path / "profiles")
    project = Project.from_profiles(tmp_path / "profiles")
    wheels = project.wheelhouse_dir(profile.name) / "protected"
    wheels.mkdir(parents=True)
    with (wheels / "torch-2.13.0-cp311-cp311-linux_x86_64.whl").open("wb") as wheel:
        wheel.truncate(wheel_bytes)  # sparse: its size without the disk
    watch = building.reports_beside(project, profile)
    return any([watch(line.format(name=profile.name)) for line in RUNNING])


def test_a_cold_stack_of_a_small_wheelhouse_starts_the_reports_build_beside(
    tmp_path: Path,
) -> None:
    assert starts_beside(tmp_path, 300 << 20)


def test_a_wheelhouse_too_large_to_send_twice_never_does(tmp_path: Path) -> None:
    assert not starts_beside(tmp_path, building.BESIDE_AT_MOST + 1)
