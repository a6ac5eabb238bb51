"""Preflight, the pure parts: a lock's closure as facts, judged before any image exists."""

from __future__ import annotations

from pathlib import Path

import pytest
from packaging.utils import NormalizedName
from packaging.version import Version

from imagegate.findings import Finding, Status, passed
from imagegate.lock import Lock
from imagegate.preflight import TIER, _judge_pins, closure_facts
from imagegate.profiles import Profile
from imagegate.target import Target
from imagegate.verify import judge_versions
from imagegate.wheelhouse import judge_wheel
from tests.unit.test_lock import closure, lock_text, make_profile, package

PINNED_NUMPY = {"torch": "2.13.0+cpu", "transformers": "4.51.3", "numpy": "1.26.4"}


def lock_of(profile: Profile, *packages: str) -> Lock:
    text = lock_text(*packages, profile=profile.name, protected=("filelock", "torch"))
    return Lock.parse(text.encode(), profile.path.with_name(f"pylock.{profile.name}.toml"))


def judged(profile: Profile, lock: Lock) -> list[Finding]:
    return judge_versions(profile, closure_facts(profile, lock), tier=TIER)


def only(rows: list[Finding], check: str, subject: str) -> Finding:
    (row,) = [r for r in rows if r.check == check and r.subject == subject]
    return row


@pytest.fixture
def demo(tmp_path: Path) -> Profile:
    """torch, transformers and numpy pinned; numpy<2 as an invariant."""
    return make_profile(tmp_path, pins=PINNED_NUMPY)


# --- closure_facts ---------------------------------------------------------------------------


def test_closure_facts_hold_the_target_python_and_every_locked_version(demo: Profile) -> None:
    lock = lock_of(demo, *closure(numpy="1.26.4"))

    facts = closure_facts(demo, lock)

    assert facts.python_version == "3.11"
    assert set(facts.distributions) == set(lock.packages)
    assert {n: d.version for n, d in facts.distributions.items()} == {
        "filelock": "3.16.1",
        "torch": "2.13.0+cpu",
        "transformers": "4.51.3",
        "tokenizers": "0.21.1",
        "numpy": "1.26.4",
    }
    assert all(d.name == n for n, d in facts.distributions.items())
    assert facts.items == ()


# --- judge_versions over a lock's closure ----------------------------------------------------


def test_a_matching_lock_passes_every_pin(demo: Profile) -> None:
    rows = judged(demo, lock_of(demo, *closure(numpy="1.26.4")))

    pins = {r.subject: r for r in rows if r.check == "pin"}
    assert set(pins) == set(demo.pins)
    assert all(r.status is Status.OK for r in pins.values())
    assert pins["torch"].actual == "2.13.0+cpu"
    assert only(rows, "python", "python").status is Status.OK
    assert only(rows, "invariant", "numpy").status is Status.OK
    assert all(r.tier == TIER == 0 for r in rows)
    assert passed(rows)


def test_a_lock_without_the_local_label_is_the_wrong_version(demo: Profile) -> None:
    rows = judged(demo, lock_of(demo, *closure(torch="2.13.0", numpy="1.26.4")))

    torch = only(rows, "pin", "torch")
    assert torch.status is Status.WRONG_VERSION
    assert torch.expected == "==2.13.0+cpu"
    assert torch.actual == "2.13.0"
    assert only(rows, "pin", "transformers").status is Status.OK
    assert not passed(rows)


def test_a_dependency_that_breaks_an_invariant_is_caught(tmp_path: Path) -> None:
    profile = make_profile(tmp_path)
    assert "numpy" not in profile.pins

    rows = judged(profile, lock_of(profile, *closure(numpy="2.0.2")))

    numpy = only(rows, "invariant", "numpy")
    assert numpy.status is Status.WRONG_VERSION
    assert numpy.expected == "<2"
    assert numpy.actual == "2.0.2"
    assert not [r for r in rows if r.check == "pin" and r.subject == "numpy"]
    assert not passed(rows)


def test_a_known_issue_in_the_closure_is_broken(tmp_path: Path) -> None:
    profile = make_profile(tmp_path)

    lock = lock_of(profile, *closure(numpy="2.0.2"), package("pandas", "2.0.3"))
    rows = judged(profile, lock)

    issue = only(rows, "known-issue", "pandas-built-for-numpy1")
    assert issue.status is Status.BROKEN
    assert issue.tier == 0
    assert issue.actual == "pandas 2.0.3, numpy 2.0.2"


def test_a_closure_with_a_fixed_pandas_has_no_known_issue(tmp_path: Path) -> None:
    profile = make_profile(tmp_path, invariants={})

    lock = lock_of(profile, *closure(numpy="2.0.2"), package("pandas", "2.2.2"))
    rows = judged(profile, lock)

    issues = [r for r in rows if r.check == "known-issue"]
    assert [r.status for r in issues] == [Status.OK]
    assert passed(rows)


# --- _judge_pins: no closure (an index out of reach), only the profile's own pins -------------


def test_without_a_closure_the_pins_are_judged_against_invariants_and_known_issues(
    tmp_path: Path,
) -> None:
    profile = make_profile(tmp_path, pins={**PINNED_NUMPY, "numpy": "2.0.2", "pandas": "2.0.3"})

    rows = _judge_pins(profile)

    numpy = only(rows, "invariant", "numpy")
    assert (numpy.status, numpy.actual) == (Status.WRONG_VERSION, "2.0.2")
    assert only(rows, "known-issue", "pandas-built-for-numpy1").status is Status.BROKEN
    assert not [r for r in rows if r.check in ("pin", "python")]  # never judged against itself
    assert not passed(rows)


def test_without_a_closure_an_unpinned_invariant_is_skipped_not_passed(tmp_path: Path) -> None:
    pins = {name: version for name, version in PINNED_NUMPY.items() if name != "numpy"}
    profile = make_profile(tmp_path, pins=pins)

    rows = _judge_pins(profile)

    numpy = only(rows, "invariant", "numpy")
    assert (numpy.status, numpy.actual) == (Status.SKIPPED, "not pinned")
    assert all("pins only" in r.evidence for r in rows if r.status is not Status.BROKEN)


# --- judge_wheel -----------------------------------------------------------------------------

TARGET = Target(python="3.11", platform="manylinux_2_36_x86_64")
CU121: dict[NormalizedName, Version] = {NormalizedName("torch"): Version("2.5.1+cu121")}
PYPI: dict[NormalizedName, Version] = {NormalizedName("torch"): Version("2.5.1")}


@pytest.mark.parametrize(
    ("filename", "pins"),
    [
        ("torch-2.5.1+cu121-cp311-cp311-linux_x86_64.whl", CU121),
        ("torch-2.5.1-cp311-cp311-manylinux1_x86_64.whl", PYPI),
        ("filelock-3.16.1-py3-none-any.whl", CU121),
        (
            "numpy-1.26.4-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
            CU121,
        ),
    ],
)
def test_a_wheel_of_the_locked_version_for_the_target_fits(
    filename: str, pins: dict[NormalizedName, Version]
) -> None:
    assert judge_wheel(filename, TARGET, pins) is None


def test_the_pypi_build_is_not_the_locked_cuda_build() -> None:
    why = judge_wheel("torch-2.5.1-cp311-cp311-manylinux1_x86_64.whl", TARGET, CU121)

    assert why == "version 2.5.1 but torch==2.5.1+cu121 is locked"


def test_the_cuda_build_is_not_the_locked_pypi_build() -> None:
    why = judge_wheel("torch-2.5.1+cu121-cp311-cp311-linux_x86_64.whl", TARGET, PYPI)

    assert why == "version 2.5.1+cu121 but torch==2.5.1 is locked"


@pytest.mark.parametrize(
    "filename",
    [
        "torch-2.5.1+cu121-cp310-cp310-linux_x86_64.whl",
        "torch-2.5.1+cu121-cp311-cp311-manylinux_2_28_aarch64.whl",
        "torch-2.5.1+cu121-cp311-cp311-win_amd64.whl",
        "torch-2.5.1+cu121-cp311-cp311-manylinux_2_39_x86_64.whl",
    ],
)
def test_a_wheel_for_another_python_or_platform_is_refused(filename: str) -> None:
    why = judge_wheel(filename, TARGET, CU121)

    assert why is not None
    assert why.startswith("tags ")
    assert why.endswith("do not fit Python 3.11 on manylinux_2_36_x86_64")


@pytest.mark.parametrize(
    "filename",
    ["torch-2.5.1.tar.gz", "torch-2.5.1+cu121-cp311-cp311-linux_x86_64.whl.part"],
)
def test_a_file_that_is_not_a_wheel_is_refused(filename: str) -> None:
    assert judge_wheel(filename, TARGET, CU121) == "not a wheel (a partial or foreign file)"


@pytest.mark.parametrize("filename", ["torch.whl", "torch-2.5.1.whl", "torch-two-cp311.whl"])
def test_a_wheel_with_an_invalid_name_is_refused(filename: str) -> None:
    assert judge_wheel(filename, TARGET, CU121) == "not a valid wheel file name"
