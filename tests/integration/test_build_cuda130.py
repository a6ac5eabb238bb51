"""A real CUDA 13.0 image: PyPI's torch 2.14.1 and its nvidia-*-cu13 wheels, checked with no GPU."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from imagegate.engine import Engine
from imagegate.lock import Lock

from .conftest import CUDA130_IMAGE, REPOSITORY, Run, findings, imagegate

pytestmark = pytest.mark.docker

IMAGE = CUDA130_IMAGE
DRIFT = {"nvidia-cuda-runtime": "13.2.51"}
"""Another real release of a wheel torch 2.14.1 (built with CUDA 13.0.96) loads: a stray
upgrade, as `pip install -U` of one package makes. (nvidia-cudnn-cu13 9.24.1.1 would be the
other natural one, but it adds about 2 GB; its check is unit-tested in test_torch_consistency.)
"""


@pytest.mark.slow
def test_cuda130_builds_and_reports_cuda_13_and_its_cudnn(cuda130: Run) -> None:
    assert cuda130.code == 0, cuda130.stderr[-3000:]
    document = cuda130.json()
    rows = findings(document)
    assert rows[("fact", "torch.version.cuda")]["actual"] == "13.0"
    assert rows[("fact", "torch.backends.cudnn.version()")]["status"] == "OK"
    assert rows[("pin", "torch")]["actual"] == "2.14.1"
    assert rows[("import", "torchvision")]["status"] == "OK"
    kernels = {subject: row for (check, subject), row in rows.items() if check == "kernel"}
    assert list(kernels) == ["sm_75", "sm_80", "sm_86", "sm_90", "sm_100", "sm_120"]
    assert all((row["status"], row["actual"]) == ("OK", arch) for arch, row in kernels.items())
    print(
        f"\ncuda130: {document['size_bytes'] / 1e9:.2f} GB, steps {document['seconds']} (seconds)"
    )


@pytest.mark.slow
def test_cuda130_tells_the_nvidia_runtime_its_cuda_and_carries_stable_oci_labels(
    cuda130: Run, engine: Engine, workspace: Path
) -> None:
    assert cuda130.code == 0, cuda130.stderr[-3000:]
    info = engine.image(IMAGE)
    assert info is not None
    assert info.env["NVIDIA_REQUIRE_CUDA"] == "cuda>=13.0 driver>=580.65.06"
    rows = findings(cuda130.json())
    assert rows[("runtime", "NVIDIA_REQUIRE_CUDA")]["status"] == "OK"
    consistency = [row for (check, _), row in rows.items() if check == "consistency"]
    assert len(consistency) == 3
    assert all(row["status"] == "OK" for row in consistency), consistency
    lock = Lock.read(workspace / "profiles" / "pylock.cuda130.toml")
    oci = {k: v for k, v in info.labels.items() if k.startswith("org.opencontainers.image.")}
    assert oci["org.opencontainers.image.title"] == "cuda130"
    assert oci["org.opencontainers.image.version"] == lock.sha256[:12]
    assert "org.opencontainers.image.created" not in oci  # nothing that changes per build


@pytest.fixture
def drifted(request: pytest.FixtureRequest, engine: Engine, tmp_path: Path) -> Iterator[str]:
    """IMAGE with one more layer: DRIFT's wheels installed over torch's, with pip --no-deps.

    IMAGE as imagegate built it; built here only when there is none (a 6 GB image: what
    the drift is judged against does not depend on the build's own smoke step)."""
    if engine.image(IMAGE) is None:
        cuda130: Run = request.getfixturevalue("cuda130")
        assert cuda130.code == 0, cuda130.stderr[-3000:]
    wheels = tmp_path / "wheels"
    pins = [f"{name}=={version}" for name, version in DRIFT.items()]
    download = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:"]
    subprocess.run([*download, "--dest", str(wheels), *pins], check=True, capture_output=True)
    (tmp_path / "Dockerfile").write_text(
        f"FROM {IMAGE}\n"
        "RUN --mount=type=bind,source=wheels,target=/drift \\\n"
        "    pip install --no-deps --no-index /drift/*.whl\n"
    )
    tag = f"{REPOSITORY}/cuda130-drifted:latest"
    built = engine.build(
        context=tmp_path, dockerfile=tmp_path / "Dockerfile", tag=tag, build_args={}, echo=False
    )
    assert built.ok, built.tail(20)
    yield tag
    engine.remove_image(tag)


@pytest.mark.slow
def test_a_stray_nvidia_wheel_upgrade_fails_tier_1_naming_both_versions(drifted: str) -> None:
    run = imagegate("verify", "cuda130", "--image", drifted, "--format", "json")

    assert run.code == 1, run.stderr[-3000:]
    rows = findings(run.json())
    failed = [
        row
        for row in rows.values()
        if row["status"] != "OK" and row["tier"] == 1 and row["check"] != "runtime"
    ]  # (NVIDIA_REQUIRE_CUDA is the test above's: an IMAGE kept from before it has none)
    # No declared requirement pins the runtime wheel outside an extra (torch needs
    # cuda-toolkit[cudart], which pins it): the lock and the consistency check see the drift.
    assert sorted((row["check"], row["subject"]) for row in failed) == [
        ("consistency", "torch.version.cuda = nvidia-cuda-runtime"),
        ("lock", "nvidia-cuda-runtime"),
    ]
    locked = rows[("lock", "nvidia-cuda-runtime")]
    assert locked["actual"] == DRIFT["nvidia-cuda-runtime"]
    runtime = rows[("consistency", "torch.version.cuda = nvidia-cuda-runtime")]
    assert runtime["status"] == "WRONG VERSION"
    assert DRIFT["nvidia-cuda-runtime"] in runtime["expected"]
    assert runtime["actual"] == "13.0"
    cudnn = rows[("consistency", "cuDNN torch loads = nvidia-cudnn-cu13")]
    assert (cudnn["status"], cudnn["actual"]) == ("OK", "9.24.0 (92400)")


@pytest.mark.slow
def test_a_worker_allowing_only_cuda_12_hosts_fails_naming_13(cuda130: Run, tmp_path: Path) -> None:
    assert cuda130.code == 0, cuda130.stderr[-3000:]
    tests = tmp_path / "tests.json"
    tests.write_text(
        json.dumps(
            {
                "tests": [{"name": "starts", "input": {}, "timeout": 60000}],
                "config": {
                    "gpuTypeId": "NVIDIA L40S",
                    "gpuCount": 1,
                    "allowedCudaVersions": ["12.8", "12.6"],
                },
            }
        ),
        encoding="utf-8",
    )

    run = imagegate("verify", "cuda130", "--worker-tests", str(tests), "--format", "json")

    assert run.code == 1, run.stderr[-2000:]
    rows = findings(run.json())
    cuda = rows[("deployment", "allowedCudaVersions")]
    assert cuda["status"] == "BROKEN" and "13.0" in cuda["expected"]
    assert "12.8" in cuda["evidence"] and "12.6" in cuda["evidence"]
    assert rows[("deployment", "gpuTypeId NVIDIA L40S")]["status"] == "OK"  # sm_89: sm_86 code


@pytest.mark.slow
def test_a_hub_listing_allowing_cuda_12_hosts_fails_naming_them(
    cuda130: Run, tmp_path: Path
) -> None:
    """hub.json beside tests.json: its CUDA versions and pools judged against the real image
    (its NVIDIA_REQUIRE_CUDA, the kernels its torch carries); the tests' own are sound."""
    assert cuda130.code == 0, cuda130.stderr[-3000:]
    tests = {
        "tests": [{"name": "starts", "input": {}, "timeout": 60000}],
        "config": {"gpuTypeId": "NVIDIA L40S", "gpuCount": 1, "allowedCudaVersions": ["13.0"]},
    }
    listing = {
        "title": "cuda130 worker",
        "description": "a CUDA 13.0 stack",
        "type": "serverless",
        "category": "language",
        "config": {
            "runsOn": "GPU",
            "gpuCount": 1,
            "gpuIds": "ADA_48_PRO,AMPERE_16,-NVIDIA RTX A4000",
            "containerDiskInGb": 20,
            "allowedCudaVersions": ["13.0", "12.9", "12.8"],
        },
    }
    (tmp_path / "tests.json").write_text(json.dumps(tests), encoding="utf-8")
    (tmp_path / "hub.json").write_text(json.dumps(listing), encoding="utf-8")

    run = imagegate(
        "verify", "cuda130", "--worker-tests", str(tmp_path / "tests.json"), "--format", "json"
    )

    assert run.code == 1, run.stderr[-2000:]
    rows = findings(run.json())
    cuda = rows[("hub", "allowedCudaVersions")]
    assert cuda["status"] == "BROKEN" and cuda["expected"] == "cuda>=13.0"
    assert "12.9" in cuda["evidence"] and "12.8" in cuda["evidence"]
    assert rows[("deployment", "allowedCudaVersions")]["status"] == "OK"  # the tests' 13.0
    pool = rows[("hub", "gpuIds ADA_48_PRO")]
    assert (pool["status"], pool["actual"]) == ("OK", "sm_89")
    assert "tests run on NVIDIA L40S" in pool["evidence"]
    ampere = rows[("hub", "gpuIds AMPERE_16")]
    assert ampere["status"] == "OK" and "A4000" not in ampere["evidence"]
    assert "never run on" in ampere["evidence"]


# -- kernels for every target GPU, read from the image without a GPU --------------------------
# PyPI's torch 2.14.1 (the CUDA 13.0 build) is compiled for sm_75 sm_80 sm_86 sm_90 sm_100
# sm_120: nothing of major 11, so Jetson Thor (sm_110, so named from CUDA 13.0 on) gets no
# kernel from it. A profile that declares Thor passes every check on paper (`check`), and
# fails tier 1 on the image, naming the target and the torch build.
# Here, not in a file of its own: the cuda130 build is a session fixture of each pytest
# worker, and a file runs whole on one worker, so the 6 GB image is built once, not twice.

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
