"""Kernels for every target GPU, read from the real CUDA 13.0 image without a GPU.

PyPI's torch 2.14.1 (the CUDA 13.0 build) is compiled for sm_75 sm_80 sm_86 sm_90 sm_100
sm_120: nothing of major 11, so Jetson Thor (sm_110, so named from CUDA 13.0 on) gets no
kernel from it. A profile that declares Thor passes every check on paper (`check`), and
fails tier 1 on the image, naming the target and the torch build.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import CUDA130_IMAGE, Run, findings, imagegate

pytestmark = pytest.mark.docker

THOR = """\
extends: cuda130
description: >-
  cuda130 for Jetson Thor too: sm_110 is a CUDA 13.0 target, but PyPI's torch 2.14.1
  carries no sm_11x code.
hardware:
  architectures: [sm_90, sm_110]
"""
FAILED = ("WRONG VERSION", "BROKEN", "MISSING")


@pytest.mark.slow
def test_a_target_gpu_the_torch_build_has_no_kernel_for_fails_tier_1(
    cuda130: Run, project: Path
) -> None:
    assert cuda130.code == 0, cuda130.stderr[-3000:]
    profiles = project / "profiles"
    (profiles / "cuda130-thor.yaml").write_text(THOR)
    check = imagegate("check", "cuda130-thor", "--profiles", str(profiles), "--format", "json")
    hardware = findings(check.json())[("hardware", "cuda130-thor: architectures")]
    assert hardware["status"] == "OK"  # sm_110 is valid for CUDA 13.0: only the image tells

    run = imagegate(
        "verify",
        "cuda130-thor",
        "--image",
        CUDA130_IMAGE,
        "--profiles",
        str(profiles),
        "--format",
        "json",
    )

    assert run.code == 1, run.stderr[-3000:]
    rows = findings(run.json())
    failed = [(row["tier"], check, subject) for (check, subject), row in rows.items()]
    failed = [key for key in failed if rows[key[1:]]["status"] in FAILED]
    assert failed == [(1, "kernel", "sm_110")]
    thor = rows[("kernel", "sm_110")]
    assert thor["status"] == "MISSING" and thor["actual"] == "none"
    assert "sm_110" in thor["evidence"] and "torch 2.14.1" in thor["evidence"]
    assert "sm_75 sm_80 sm_86 sm_90 sm_100 sm_120" in thor["evidence"]
    assert (rows[("kernel", "sm_90")]["status"], rows[("kernel", "sm_90")]["actual"]) == (
        "OK",
        "sm_90",
    )
