"""PyTorch's own consistency checks that need no GPU, judged on the host from tier-1 facts:
the cuDNN torch loads, torchvision's CUDA and the CUDA runtime wheel all agree with torch."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from imagegate.findings import Finding, Status
from imagegate.profiles import load_profile
from imagegate.scripts import collector_args
from imagegate.verify import judge
from imagegate.verify_torch import (
    TORCH_CUDA,
    TORCH_CUDNN,
    TORCHVISION_CUDA,
    cuda_release,
    cudnn_release,
)

from .test_verify import dist, item, make_facts, make_profile

SHIPPED = Path(__file__).resolve().parents[2] / "profiles"


def cuda130_distributions(**drift: str) -> list[dict[str, Any]]:
    """torch 2.14.1's CUDA 13.0 closure as the cuda130 image holds it, one version changed."""
    versions = {
        "torch": "2.14.1",
        "torchvision": "0.29.1",
        "nvidia-cudnn-cu13": "9.24.0.43",
        "nvidia-cuda-runtime": "13.0.96",
        "nvidia-cudnn-frontend": "1.14.0",
        **drift,
    }
    return [dist(name, version) for name, version in versions.items()]


def cuda130_items(**values: str | None) -> list[dict[str, Any]]:
    facts = {TORCH_CUDA: "13.0", TORCH_CUDNN: "92400", TORCHVISION_CUDA: "13000", **values}
    return [item("fact", subject, value=value) for subject, value in facts.items()]


def consistency(distributions: list[dict[str, Any]], items: list[dict[str, Any]]) -> list[Finding]:
    facts = make_facts(distributions=distributions, items=items)
    return [f for f in judge(make_profile(), facts) if f.check == "consistency"]


def by_subject(findings: list[Finding]) -> dict[str, Finding]:
    return {f.subject: f for f in findings}


def test_a_consistent_cuda_stack_passes_each_check_once() -> None:
    found = by_subject(consistency(cuda130_distributions(), cuda130_items()))
    assert sorted(found) == [
        "cuDNN torch loads = nvidia-cudnn-cu13",
        "torch.version.cuda = nvidia-cuda-runtime",
        "torchvision's CUDA = torch.version.cuda",
    ]  # nvidia-cudnn-frontend is not cuDNN's library wheel
    assert all(f.status is Status.OK and f.tier == 1 for f in found.values())
    assert found["cuDNN torch loads = nvidia-cudnn-cu13"].actual == "9.24.0 (92400)"
    assert found["torchvision's CUDA = torch.version.cuda"].actual == "13.0 (13000)"


def test_a_cudnn_wheel_other_than_the_one_torch_loads_fails_naming_both() -> None:
    distributions = cuda130_distributions(**{"nvidia-cudnn-cu13": "9.28.1.4"})
    [cudnn] = [f for f in consistency(distributions, cuda130_items()) if "cuDNN" in f.subject]
    assert cudnn.status is Status.WRONG_VERSION
    assert (cudnn.expected, cudnn.actual) == ("9.28.1.4", "9.24.0 (92400)")


def test_a_stray_cuda_runtime_wheel_fails_naming_both_versions() -> None:
    distributions = cuda130_distributions(**{"nvidia-cuda-runtime": "13.2.51"})
    found = by_subject(consistency(distributions, cuda130_items()))
    runtime = found["torch.version.cuda = nvidia-cuda-runtime"]
    assert runtime.status is Status.WRONG_VERSION
    assert "13.2.51" in runtime.expected
    assert runtime.actual == "13.0"


def test_a_cuda_12_runtime_wheel_with_its_suffix_is_read_too() -> None:
    distributions = [dist("torch", "2.5.1"), dist("nvidia-cuda-runtime-cu12", "12.4.127")]
    [ok] = consistency(distributions, cuda130_items(**{TORCH_CUDA: "12.4"}))
    assert (ok.subject, ok.status) == ("torch.version.cuda = nvidia-cuda-runtime-cu12", Status.OK)
    [wrong] = consistency(distributions, cuda130_items(**{TORCH_CUDA: "12.1"}))
    assert wrong.status is Status.WRONG_VERSION


def test_torchvision_built_for_another_cuda_fails_naming_both() -> None:
    found = by_subject(
        consistency(cuda130_distributions(), cuda130_items(**{TORCHVISION_CUDA: "12080"}))
    )
    row = found["torchvision's CUDA = torch.version.cuda"]
    assert (row.status, row.expected, row.actual) == (Status.WRONG_VERSION, "13.0", "12.8 (12080)")


def test_torch_that_loads_no_cudnn_beside_a_cudnn_wheel_is_wrong() -> None:
    found = consistency(cuda130_distributions(), cuda130_items(**{TORCH_CUDNN: None}))
    [cudnn] = [f for f in found if "cuDNN" in f.subject]
    assert cudnn.status is Status.WRONG_VERSION


def test_a_fact_that_raised_is_broken_and_one_not_collected_is_missing() -> None:
    raised = [
        {
            **entry,
            "ok": False,
            "value": None,
            "error": "RuntimeError: cuDNN version incompatibility",
        }
        if entry["subject"] == TORCH_CUDNN
        else entry
        for entry in cuda130_items()
    ]
    [cudnn] = [f for f in consistency(cuda130_distributions(), raised) if "cuDNN" in f.subject]
    assert cudnn.status is Status.BROKEN
    assert "incompatibility" in cudnn.evidence
    missing = [entry for entry in cuda130_items() if entry["subject"] != TORCH_CUDNN]
    [cudnn] = [f for f in consistency(cuda130_distributions(), missing) if "cuDNN" in f.subject]
    assert cudnn.status is Status.MISSING


def test_a_cpu_stack_without_nvidia_wheels_gets_no_consistency_finding() -> None:
    distributions = [dist("torch", "2.13.0+cpu"), dist("numpy", "1.26.4")]
    items = [item("fact", TORCH_CUDA, value=None), item("fact", TORCH_CUDNN, value=None)]
    assert consistency(distributions, items) == []


def test_cpu_builds_of_torch_and_torchvision_agree() -> None:
    distributions = [dist("torch", "2.13.0+cpu"), dist("torchvision", "0.28.0+cpu")]
    items = [item("fact", TORCH_CUDA, value=None), item("fact", TORCHVISION_CUDA, value=None)]
    [row] = consistency(distributions, items)
    assert row.status is Status.OK


@pytest.mark.parametrize(
    ("value", "release"),
    [("13.0", (13, 0)), ("13000", (13, 0)), ("12040", (12, 4)), ("11080", (11, 8)), ("None", None)],
)
def test_cuda_versions_as_torch_and_torchvision_write_them(
    value: str, release: tuple[int, ...] | None
) -> None:
    assert cuda_release(value) == release


@pytest.mark.parametrize(
    ("value", "release"),
    [("92400", (9, 24, 0)), ("90100", (9, 1, 0)), ("8907", (8, 9, 7)), ("None", None)],
)
def test_cudnn_versions_as_torch_counts_them(value: str, release: tuple[int, ...] | None) -> None:
    assert cudnn_release(value) == release


@pytest.mark.parametrize(
    ("name", "wanted", "unwanted"),
    [
        ("cuda130", [TORCH_CUDA, TORCH_CUDNN, TORCHVISION_CUDA], []),
        ("cpu", [TORCH_CUDA, TORCH_CUDNN], [TORCHVISION_CUDA]),
    ],
)
def test_the_collector_is_asked_for_each_fact_once(
    name: str, wanted: list[str], unwanted: list[str]
) -> None:
    args = collector_args(load_profile(name, SHIPPED))
    asked = [args[i + 1] for i, arg in enumerate(args) if arg == "--fact"]
    assert len(asked) == len(set(asked))
    assert set(wanted) <= set(asked)
    assert not set(unwanted) & set(asked)
