"""An environment's closure against its lock: every locked build exactly, and nothing else;
verify, the doctor and a repair judge it by one comparison."""

from __future__ import annotations

from pathlib import Path

import pytest

from imagegate.closure import Deviation, Drift, compare
from imagegate.doctor import lock_environment
from imagegate.findings import Finding, Status, passed
from imagegate.lock import Lock
from imagegate.repair import plan
from imagegate.verify import judge_closure
from tests.unit.test_lock import lock_text, marked, package
from tests.unit.test_verify import dist, make_facts, make_profile

LOCKED = {"torch": "2.5.1+cu121", "numpy": "1.26.4", "filelock": "3.16.1", "jinja2": "3.1.6"}


def make_lock(tmp_path: Path, *extra: str) -> Lock:
    packages = [package(name, version) for name, version in LOCKED.items()]
    text = lock_text(*packages, *extra, profile="cuda121")
    path = tmp_path / "pylock.cuda121.toml"
    path.write_text(text, encoding="utf-8")
    return Lock.read(path)


def installed(**changes: str | None) -> list[dict[str, object]]:
    """The locked closure as installed; a change replaces a version, None removes it."""
    versions: dict[str, str | None] = {**LOCKED, **changes}
    return [dist(name, version) for name, version in versions.items() if version is not None]


def rows(findings: list[Finding], check: str) -> dict[str, Finding]:
    return {f.subject: f for f in findings if f.check == check}


def test_an_image_as_locked_is_one_ok_row_and_its_label_names_the_lock(tmp_path: Path) -> None:
    lock = make_lock(tmp_path)
    found = judge_closure(
        make_profile(),
        make_facts(distributions=installed()),
        lock,
        image_lock=f"sha256:{lock.sha256}",
    )

    assert passed(found)
    assert list(rows(found, "lock")) == ["4 distributions"]
    assert rows(found, "lock-label")["org.imagegate.lock"].status is Status.OK
    assert len(found) == 2


@pytest.mark.parametrize(
    ("name", "version", "status", "actual"),
    [
        ("jinja2", "3.1.5", Status.WRONG_VERSION, "3.1.5"),
        ("torch", "2.5.1", Status.WRONG_VERSION, "2.5.1"),
        ("torch", "2.5.1+cpu", Status.WRONG_VERSION, "2.5.1+cpu"),
        ("filelock", None, Status.MISSING, "not installed"),
    ],
)
def test_each_locked_package_off_its_locked_build_is_a_row_of_its_own(
    tmp_path: Path, name: str, version: str | None, status: Status, actual: str
) -> None:
    lock = make_lock(tmp_path)
    facts = make_facts(distributions=installed(**{name: version}))

    found = judge_closure(make_profile(), facts, lock, image_lock=f"sha256:{lock.sha256}")

    assert not passed(found)
    row = rows(found, "lock")[name]
    assert (row.status, row.expected, row.actual) == (status, f"=={LOCKED[name]}", actual)
    assert rows(found, "lock")["3 distributions"].status is Status.OK


def test_a_locked_package_whose_marker_excludes_this_image_is_not_required(
    tmp_path: Path,
) -> None:
    arm_only = package("nvidia-nccl", "2.1.0") + "marker = \"platform_machine == 'aarch64'\"\n"
    lock = make_lock(tmp_path, arm_only)

    found = judge_closure(
        make_profile(), make_facts(distributions=installed()), lock, image_lock=None
    )

    assert passed(found)
    assert "nvidia-nccl" not in rows(found, "lock")


def test_an_extra_distribution_fails_until_the_profile_allows_it(tmp_path: Path) -> None:
    lock = make_lock(tmp_path)
    facts = make_facts(distributions=[*installed(), dist("pip", "23.0.1")])

    refused = judge_closure(make_profile(), facts, lock, image_lock=None)
    allowed = judge_closure(
        make_profile(allow_extra={"pip": "venv installs it"}), facts, lock, image_lock=None
    )

    assert rows(refused, "extra")["pip"].status is Status.WRONG_VERSION
    assert rows(refused, "extra")["pip"].actual == "23.0.1"
    assert not passed(refused)
    assert rows(allowed, "extra")["pip"].status is Status.OK
    assert rows(allowed, "extra")["pip"].evidence == "venv installs it"
    assert passed(allowed)


@pytest.mark.parametrize("label", [None, "sha256:" + "0" * 64])
def test_an_image_naming_no_lock_or_another_is_judged_against_this_one_and_told(
    tmp_path: Path, label: str | None
) -> None:
    lock = make_lock(tmp_path)

    found = judge_closure(
        make_profile(), make_facts(distributions=installed()), lock, image_lock=label
    )

    row = rows(found, "lock-label")["org.imagegate.lock"]
    assert row.status is Status.SKIPPED
    assert row.actual == (label or "none")
    assert lock.path.name in row.evidence
    assert passed(found)


# --- one comparison for verify, the doctor and a repair ----------------------------------------

MARKED = (
    marked("tomli", "2.0.1", "python_version < '3.11'"),
    marked("triton", "3.1.0", "platform_machine == 'x86_64' and sys_platform == 'linux'"),
    marked("exceptiongroup", "1.2.2", "python_version < '3.11'"),
    marked("nvidia-nccl", "2.1.0", "platform_machine == 'aarch64'"),
    marked("pywin32", "308", "sys_platform == 'win32'"),
)


def drifted_venv() -> list[dict[str, object]]:
    """On Linux x86_64 with Python 3.10: torch at another build, tomli missing, triton at
    another version, pywin32 (locked for Windows only) at another, pip not locked at all."""
    return [
        *installed(torch="2.5.1+cpu"),
        dist("triton", "3.0.0"),
        dist("exceptiongroup", "1.2.2"),
        dist("pywin32", "307"),
        dist("pip", "23.0.1"),
    ]


def test_the_comparison_holds_the_installed_against_the_closure_for_their_markers(
    tmp_path: Path,
) -> None:
    lock = make_lock(tmp_path, *MARKED)

    compared = compare(lock, make_facts(distributions=drifted_venv()))

    assert set(compared.closure) == {*LOCKED, "tomli", "triton", "exceptiongroup"}
    assert compared.deviations == (
        Deviation(
            name="torch",
            drift=Drift.OTHER_BUILD,
            locked=lock.packages["torch"].version,
            installed="2.5.1+cpu",
        ),
        Deviation(
            name="tomli", drift=Drift.MISSING, locked=lock.packages["tomli"].version, installed=None
        ),
        Deviation(
            name="triton",
            drift=Drift.OTHER_BUILD,
            locked=lock.packages["triton"].version,
            installed="3.0.0",
        ),
        Deviation(name="pip", drift=Drift.EXTRA, locked=None, installed="23.0.1"),
    )
    assert compared.as_locked == 4


def test_verify_the_doctor_and_a_repair_see_the_same_drift_on_a_lock_with_markers(
    tmp_path: Path,
) -> None:
    lock = make_lock(tmp_path, *MARKED)
    facts = make_facts(distributions=drifted_venv())
    profile = make_profile()

    verified = judge_closure(profile, facts, lock, image_lock=None)
    doctor = lock_environment(profile, lock, facts)
    repair = plan(profile, lock, facts, findings=[])

    drift = {"torch", "tomli", "triton"}
    assert {f.subject for f in verified if f.check == "lock" and f.status.failed} == drift
    assert rows(verified, "lock")["4 distributions"].status is Status.OK
    assert (doctor.status, doctor.actual) == (Status.WRONG_VERSION, "3 differ")
    assert all(f"{name} " in doctor.evidence for name in drift)
    assert set(repair.reasons) == drift
    assert {target.name for target in repair.targets} == drift
    for other in ("nvidia-nccl", "pywin32"):
        assert other not in doctor.evidence
        assert other not in {f.subject for f in verified}


def as_locked_venv(*more: dict[str, object], **changes: str | None) -> list[dict[str, object]]:
    """On Linux x86_64 with Python 3.10: the closure for its markers, exactly."""
    return [
        *installed(**changes),
        dist("tomli", "2.0.1"),
        dist("triton", "3.1.0"),
        dist("exceptiongroup", "1.2.2"),
        *more,
    ]


def test_a_venv_as_locked_for_its_markers_is_as_locked_for_all_three(tmp_path: Path) -> None:
    lock = make_lock(tmp_path, *MARKED)
    facts = make_facts(distributions=as_locked_venv())
    profile = make_profile()

    doctor = lock_environment(profile, lock, facts)

    assert passed(judge_closure(profile, facts, lock, image_lock=None))
    assert (doctor.status, doctor.actual) == (Status.OK, "7 as locked")
    assert plan(profile, lock, facts, findings=[]).targets == ()


def broken_import(module: str) -> Finding:
    return Finding(
        tier=1,
        check="import",
        subject=module,
        status=Status.BROKEN,
        expected="imports",
        actual="ImportError",
        evidence=f"{module}: cannot be loaded",
    )


def test_a_repair_reinstalls_a_broken_package_of_the_closure_never_one_for_other_platforms(
    tmp_path: Path,
) -> None:
    lock = make_lock(tmp_path, *MARKED)
    owned = [
        {**dist("jinja2", "3.1.6"), "top_level": ["jinja2"]},
        {**dist("pywin32", "308"), "top_level": ["win32api"]},
    ]
    facts = make_facts(distributions=as_locked_venv(*owned, jinja2=None))

    chosen = plan(
        make_profile(), lock, facts, findings=[broken_import("jinja2"), broken_import("win32api")]
    )

    assert chosen.reasons == {"jinja2": "broken: jinja2: cannot be loaded"}
    assert [target.name for target in chosen.targets] == ["jinja2"]
