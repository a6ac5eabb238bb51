"""The CI matrix: one job per buildable profile, every value read from the profile."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name

from imagegate.matrix import Entry, gpu, is_vendor_image, matrix
from imagegate.profiles import Profile, load_profile, load_profiles, profile_names

SHIPPED = Path(__file__).resolve().parents[2] / "profiles"


@pytest.fixture(scope="module")
def shipped() -> list[Profile]:
    return load_profiles(profile_names(SHIPPED), SHIPPED)


@pytest.fixture(scope="module")
def by_name(shipped: list[Profile]) -> dict[str, Entry]:
    return {entry["profile"]: entry for entry in matrix(shipped)["include"]}


def test_one_entry_per_buildable_profile_in_order(shipped: list[Profile]) -> None:
    names = [entry["profile"] for entry in matrix(shipped)["include"]]
    assert names == profile_names(SHIPPED)
    assert "_common" not in names
    assert {"cpu", "cuda121", "cuda124", "cuda128", "cuda130", "rocm57"} <= set(names)


def test_each_entry_carries_the_profiles_target(shipped: list[Profile]) -> None:
    for profile, entry in zip(shipped, matrix(shipped)["include"], strict=True):
        assert entry["python"] == profile.target.python
        assert entry["platform"] == profile.target.platform
        assert entry["runner"] == list(profile.ci.runner)
        assert entry["require_gpu"] is profile.ci.require_gpu


def test_the_shipped_profiles_as_ci_sees_them(by_name: dict[str, Entry]) -> None:
    assert by_name["cpu"] == {
        "profile": "cpu",
        "python": "3.11",
        "platform": "manylinux_2_36_x86_64",
        "gpu": "none",
        "runner": ["ubuntu-latest"],
        "require_gpu": False,
        "slow": False,
    }
    assert by_name["cuda130"]["gpu"] == "nvidia"
    assert by_name["cuda130"]["runner"] == ["self-hosted", "linux", "x64", "gpu"]
    assert by_name["cuda130"]["require_gpu"] is True  # its GPU steps can't be SKIPPED in CI
    assert by_name["cuda130"]["slow"] is True  # torchvision beside a CUDA torch
    assert by_name["cuda121"]["gpu"] == "nvidia"
    assert by_name["cuda121"]["python"] == "3.10"
    assert by_name["rocm57"] == {
        "profile": "rocm57",
        "python": "3.10",
        "platform": "manylinux_2_35_x86_64",
        "gpu": "amd",
        "runner": ["ubuntu-latest"],
        "require_gpu": False,
        "slow": True,
    }


def test_the_output_is_json_that_fromjson_reads_back(shipped: list[Profile]) -> None:
    result = matrix(shipped)
    text = json.dumps(result)
    assert "\n" not in text  # one line: fits `name=value` in $GITHUB_OUTPUT too
    assert json.loads(text) == result
    assert list(json.loads(text)) == ["include"]
    for entry in json.loads(text)["include"]:
        assert set(entry) == Entry.__required_keys__
        assert isinstance(entry["slow"], bool) and isinstance(entry["require_gpu"], bool)
        assert entry["runner"] and all(isinstance(label, str) for label in entry["runner"])


def test_no_profiles_give_an_empty_include() -> None:
    assert matrix([]) == {"include": []}


@pytest.fixture(scope="module")
def cpu() -> Profile:
    return load_profile("cpu", SHIPPED)


@pytest.mark.parametrize(
    ("facts", "expected"),
    [
        ({"torch.version.cuda": "None"}, "none"),
        ({}, "none"),
        ({"torch.version.cuda": "12.4"}, "nvidia"),
        ({"torch.version.cuda": "None", "torch.version.hip[:3]": "5.7"}, "amd"),
        ({"torch.version.hip": "6.1.40091-a8dbc0c19"}, "amd"),
        ({"torch.version.hip": "None"}, "none"),
    ],
)
def test_gpu_is_what_the_facts_say_torch_was_built_for(
    cpu: Profile, facts: dict[str, str], expected: str
) -> None:
    assert gpu(dataclasses.replace(cpu, facts=facts)) == expected


def test_slow_for_a_vendor_base_or_a_protected_torchvision(cpu: Profile) -> None:
    vendor = dataclasses.replace(
        cpu, base=dataclasses.replace(cpu.base, image="nvidia/cuda:12.4.1-runtime-ubuntu22.04")
    )
    torchvision = canonicalize_name("torchvision")
    vision = dataclasses.replace(cpu, protected=(*cpu.protected, torchvision))
    assert matrix([cpu])["include"][0]["slow"] is False
    assert matrix([vendor])["include"][0]["slow"] is True
    assert matrix([vision])["include"][0]["slow"] is True


@pytest.mark.parametrize(
    ("ref", "vendor"),
    [
        ("python:3.11-slim-bookworm", False),
        ("python", False),
        ("docker.io/library/python:3.11", False),
        ("docker.io/python:3.11", False),
        ("library/debian:bookworm", False),
        ("python@sha256:" + "0" * 64, False),
        ("nvidia/cuda:12.1.1-runtime-ubuntu22.04", True),
        ("rocm/dev-ubuntu-22.04:5.7", True),
        ("docker.io/nvidia/cuda:13.0.0-base-ubuntu24.04", True),
        ("ghcr.io/owner/image:tag", True),
        ("localhost:5000/python:3.11", True),
        ("localhost/python", True),
    ],
)
def test_vendor_images(ref: str, vendor: bool) -> None:
    assert is_vendor_image(ref) is vendor
