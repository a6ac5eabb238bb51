"""Which wheels fit an image: real wheel filenames, parsed by packaging, against a Target."""

from __future__ import annotations

import pytest
from packaging.utils import parse_wheel_filename

from imagegate.target import Target, is_valid_platform

CPU = Target(python="3.11", platform="manylinux_2_36_x86_64")
"""Debian bookworm, as the cpu profile targets it."""
CUDA121 = Target(python="3.10", platform="manylinux_2_35_x86_64")
"""Ubuntu 22.04, as the cuda121 profile targets it."""
ARM = Target(python="3.11", platform="manylinux_2_28_aarch64")

CPU_TORCH = "torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl"
"""The CPU torch this machine's pip finds (in /opt/wheels); only its name is used here."""


def fits(target: Target, filename: str) -> bool:
    _, _, _, tags = parse_wheel_filename(filename)
    return target.accepts(tags)


@pytest.mark.parametrize(
    "filename",
    [
        CPU_TORCH,
        "numpy-1.26.4-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
        "nvidia_cudnn_cu12-9.1.0.70-py3-none-manylinux2014_x86_64.whl",
        "nvidia_cublas_cu12-12.1.3.1-py3-none-manylinux1_x86_64.whl",
        "transformers-4.51.3-py3-none-any.whl",
        "six-1.16.0-py2.py3-none-any.whl",
        "cryptography-42.0.5-cp39-abi3-manylinux_2_28_x86_64.whl",
        "tokenizers-0.21.1-cp39-abi3-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
        "safetensors-0.5.3-cp38-abi3-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
        "newest-1.0-cp311-cp311-manylinux_2_36_x86_64.whl",
    ],
)
def test_wheels_that_fit_a_python_311_bookworm_image(filename: str) -> None:
    assert fits(CPU, filename)


@pytest.mark.parametrize(
    "filename",
    [
        "torch-2.5.1-cp311-none-macosx_11_0_arm64.whl",
        "torch-2.5.1+cu121-cp311-cp311-win_amd64.whl",
        "torch-2.5.1-cp311-cp311-manylinux2014_aarch64.whl",
        "numpy-1.26.4-cp311-cp311-musllinux_1_1_x86_64.whl",
        "numpy-1.26.4-cp310-cp310-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
        "numpy-1.26.4-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
        "newglibc-1.0-cp311-cp311-manylinux_2_39_x86_64.whl",
        "newglibc-1.0-py3-none-manylinux_2_37_x86_64.whl",
        "futureabi-1.0-cp312-abi3-manylinux_2_28_x86_64.whl",
        "pypyonly-1.0-pp310-pypy310_pp73-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
    ],
)
def test_wheels_that_do_not_fit_a_python_311_bookworm_image(filename: str) -> None:
    assert not fits(CPU, filename)


def test_the_cpu_torch_fits_python_311_but_not_python_310() -> None:
    assert fits(CPU, CPU_TORCH)
    assert not fits(CUDA121, CPU_TORCH)


def test_the_pytorch_index_cu121_torch_fits_the_cuda121_image() -> None:
    wheel = "torch-2.5.1+cu121-cp310-cp310-linux_x86_64.whl"

    assert fits(CUDA121, wheel)
    assert not fits(CPU, wheel)


def test_a_manylinux_2_36_wheel_does_not_fit_a_2_35_image() -> None:
    wheel = "newest-1.0-cp310-cp310-manylinux_2_36_x86_64.whl"

    assert not fits(CUDA121, wheel)
    assert fits(CUDA121, wheel.replace("2_36", "2_35"))


def test_an_aarch64_target_takes_aarch64_wheels_only() -> None:
    assert fits(ARM, "torch-2.5.1-cp311-cp311-manylinux2014_aarch64.whl")
    assert fits(ARM, "transformers-4.51.3-py3-none-any.whl")
    assert not fits(ARM, CPU_TORCH)
    assert not fits(ARM, "newarm-1.0-cp311-cp311-manylinux_2_34_aarch64.whl")


def test_platforms_are_listed_best_first_with_the_legacy_aliases() -> None:
    platforms = CPU.platforms

    assert platforms[0] == "manylinux_2_36_x86_64"
    assert platforms[-1] == "linux_x86_64"
    at = platforms.index("manylinux_2_17_x86_64")
    assert platforms[at + 1] == "manylinux2014_x86_64"
    assert {"manylinux2010_x86_64", "manylinux1_x86_64"} <= set(platforms)
    assert not [p for p in platforms if "2_37" in p or "aarch64" in p]


def test_aarch64_has_no_aliases_older_than_manylinux2014() -> None:
    assert "manylinux2014_aarch64" in ARM.platforms
    assert "manylinux2010_aarch64" not in ARM.platforms
    assert "manylinux1_aarch64" not in ARM.platforms


@pytest.mark.parametrize(
    ("platform", "valid"),
    [
        ("manylinux_2_36_x86_64", True),
        ("manylinux_2_28_aarch64", True),
        ("manylinux2014_x86_64", False),
        ("linux_x86_64", False),
        ("macosx_11_0_arm64", False),
        ("manylinux_2_36_ppc64le", False),
    ],
)
def test_only_pep600_manylinux_platforms_name_a_target(platform: str, valid: bool) -> None:
    assert is_valid_platform(platform) is valid


def test_a_target_with_an_unknown_platform_has_no_tags() -> None:
    with pytest.raises(ValueError, match="not a manylinux platform"):
        _ = Target(python="3.11", platform="win_amd64").tags


def test_a_wheel_platform_names_the_image_platform_its_binaries_run_on() -> None:
    assert str(CPU.oci_platform) == "linux/amd64"
    assert str(ARM.oci_platform) == "linux/arm64"
