"""NVIDIA_REQUIRE_CUDA: what a profile's images ask of the NVIDIA container runtime, and the
judge of what an image carries."""

from __future__ import annotations

from pathlib import Path

import pytest

from imagegate.errors import ProfileError
from imagegate.findings import Finding, Status
from imagegate.nvidia_runtime import Term, parse, require_cuda
from imagegate.profiles import Profile, load_profile
from imagegate.verify_runtime import judge_runtime

from .test_verify import make_profile

SHIPPED = Path(__file__).resolve().parents[2] / "profiles"


def shipped(name: str) -> Profile:
    return load_profile(name, SHIPPED)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("cuda130", "cuda>=13.0 driver>=580.65.06"),
        ("cuda124", "cuda>=12.4 driver>=525.60.13"),
        ("cuda121", "cuda>=12.1 driver>=525.60.13"),
        ("cpu", None),
        ("rocm57", None),
    ],
)
def test_each_shipped_profile_requires_its_cuda_or_its_min_driver(
    name: str, expected: str | None
) -> None:
    assert require_cuda(shipped(name)) == expected


def test_without_a_min_driver_the_cuda_version_alone_is_required() -> None:
    profile = make_profile(hardware={"vendor": "nvidia", "architectures": ["sm_80"]})
    assert require_cuda(profile) == "cuda>=12.1"


@pytest.mark.parametrize("driver", ["525.60.13-beta", "r580", "580 .65"])
def test_a_min_driver_the_runtime_cannot_compare_is_refused_naming_the_key(driver: str) -> None:
    hardware = {"vendor": "nvidia", "architectures": ["sm_80"], "min_driver": driver}
    with pytest.raises(ProfileError, match=r"cuda121\.yaml: hardware\.min_driver"):
        require_cuda(make_profile(hardware=hardware))


def test_the_runtime_grammar_ors_spaces_and_ands_commas() -> None:
    assert parse("cuda>=12.4 brand=tesla,driver>=470,driver<471") == [
        [Term(key="cuda", operator=">=", value="12.4")],
        [
            Term(key="brand", operator="=", value="tesla"),
            Term(key="driver", operator=">=", value="470"),
            Term(key="driver", operator="<", value="471"),
        ],
    ]


@pytest.mark.parametrize(
    "text", ["cuda>=12.4a", "cuda=>12.4", "gpu>=1", "cuda", "brand>=tesla", "driver>=5,x"]
)
def test_what_the_runtime_calls_an_invalid_expression_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse(text)


# --- the judge -----------------------------------------------------------------------------


def row(profile: Profile, env: dict[str, str]) -> Finding:
    [found] = judge_runtime(profile, env)
    assert (found.tier, found.check, found.subject) == (1, "runtime", "NVIDIA_REQUIRE_CUDA")
    return found


CUDA130 = {"NVIDIA_REQUIRE_CUDA": "cuda>=13.0 driver>=580.65.06"}


def test_the_rendered_requirement_is_consistent() -> None:
    found = row(shipped("cuda130"), CUDA130)
    assert (found.status, found.actual) == (Status.OK, CUDA130["NVIDIA_REQUIRE_CUDA"])


@pytest.mark.parametrize(
    "written", ["cuda>=13.0", "driver>=580.65.06", "cuda>=13.1", "driver>=590 cuda>=13.0,arch>=9.0"]
)
def test_a_floor_at_or_above_the_profiles_is_consistent(written: str) -> None:
    assert row(shipped("cuda130"), {"NVIDIA_REQUIRE_CUDA": written}).status is Status.OK


@pytest.mark.parametrize(
    "written",
    [
        "cuda>=12.8",
        "driver>=570.86.15",
        "cuda>=13.0 brand=tesla,driver>=535,driver<536",
        "cuda<=13.0",
        "arch>=9.0",
    ],
)
def test_an_alternative_below_the_profiles_floor_is_wrong_and_named(written: str) -> None:
    found = row(shipped("cuda130"), {"NVIDIA_REQUIRE_CUDA": written})
    assert found.status is Status.WRONG_VERSION
    assert found.expected == "cuda>=13.0 driver>=580.65.06"
    loose = written.split(" ")[-1]
    assert loose in found.evidence


def test_nvidias_own_forward_compatibility_ranges_are_below_cuda124s_min_driver() -> None:
    """As NVIDIA's cuda:12.4 base images write it: each range admits drivers older than
    525.60.13 (525.0 included), which the profile says cannot run its CUDA 12.4 wheels."""
    written = "cuda>=12.4 brand=tesla,driver>=470,driver<471 brand=tesla,driver>=525,driver<526"
    found = row(shipped("cuda124"), {"NVIDIA_REQUIRE_CUDA": written})
    assert found.status is Status.WRONG_VERSION
    assert "brand=tesla,driver>=470,driver<471" in found.evidence
    assert "brand=tesla,driver>=525,driver<526" in found.evidence
    assert found.evidence.startswith("brand=tesla")  # the alternative cuda>=12.4 is sound


@pytest.mark.parametrize("env", [{}, {"NVIDIA_REQUIRE_CUDA": ""}, {"NVIDIA_REQUIRE_CUDA": "  "}])
def test_a_cuda_image_without_a_requirement_is_missing(env: dict[str, str]) -> None:
    assert row(shipped("cuda130"), env).status is Status.MISSING


def test_an_expression_the_runtime_cannot_read_is_broken() -> None:
    found = row(shipped("cuda130"), {"NVIDIA_REQUIRE_CUDA": "cuda>=13.0-rc"})
    assert found.status is Status.BROKEN


def test_a_requirement_turned_off_is_wrong() -> None:
    env = {**CUDA130, "NVIDIA_DISABLE_REQUIRE": "true"}
    found = row(shipped("cuda130"), env)
    assert found.status is Status.WRONG_VERSION
    assert "NVIDIA_DISABLE_REQUIRE=true" in found.evidence
    assert row(shipped("cuda130"), {**CUDA130, "NVIDIA_DISABLE_REQUIRE": "no"}).status is Status.OK


@pytest.mark.parametrize("name", ["cpu", "rocm57"])
def test_a_profile_without_cuda_gets_no_finding(name: str) -> None:
    assert judge_runtime(shipped(name), CUDA130) == []
    assert judge_runtime(shipped(name), {}) == []
