"""The deployment settings judged against the image: tests.json's `config` and the Hub
listing's (hub.json), by one rule per setting."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from imagegate.deployment import gpu_architectures, gpu_pools, judge_deployment
from imagegate.findings import Finding, Status
from imagegate.hub import Hub
from imagegate.hub import parse as parse_hub
from imagegate.kernels import Kernels
from imagegate.profiles import load_profile
from imagegate.worker_tests import WorkerTests

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "profiles"
EXAMPLE = ROOT / "examples" / "runpod-worker"
OLDER = Kernels(build="2.14.1", codes=("sm_80", "sm_86", "sm_90"))
"""A torch built for Ampere and Hopper only: its sm_86 code runs on Ada (sm_89), nothing
of it on Blackwell (sm_120, another major)."""


def parsed(**config: Any) -> WorkerTests:
    data = {"tests": [{"name": "t", "input": {"prompt": "x"}, "timeout": 1000}], "config": config}
    return WorkerTests.parse(data, Path("tests.json"))


def listing(**config: Any) -> Hub:
    data = {
        "title": "t",
        "description": "d",
        "type": "serverless",
        "category": "language",
        "config": {"containerDiskInGb": 20, **config},
    }
    return parse_hub(data, Path("hub.json"))


def hub_rows(
    profile: str, hub: Hub, tests: WorkerTests | None = None, **image: Any
) -> dict[str, Finding]:
    """The hub's rows (check "hub") by subject, judged with `tests` (a GPU test on an RTX
    4090 when not given) against a profile's image."""
    tests = replace(tests or parsed(gpuTypeId="NVIDIA GeForce RTX 4090", gpuCount=1), hub=hub)
    image = {"cuda_runtime": "13.0", "require_cuda": None, **image}
    findings = judge_deployment(load_profile(profile, SHIPPED), tests, **image)
    return {f.subject: f for f in findings if f.check == "hub"}


def cuda130_deployment(allowed: list[str], require: str | None) -> Any:
    profile = load_profile("cuda130", SHIPPED)
    [finding] = judge_deployment(
        profile, parsed(allowedCudaVersions=allowed), cuda_runtime="13.0", require_cuda=require
    )
    return finding


def test_hosts_older_than_the_image_needs_fail_naming_both() -> None:
    finding = cuda130_deployment(["12.8", "12.4"], "cuda>=13.0")

    assert finding.status is Status.BROKEN
    assert "13.0" in finding.expected
    assert "12.8" in finding.evidence and "12.4" in finding.evidence


def test_one_old_host_among_new_ones_still_fails_it_would_be_placed_there() -> None:
    finding = cuda130_deployment(["13.1", "13.0", "12.9"], "cuda>=13.0")

    assert finding.status is Status.BROKEN
    assert "12.9" in finding.evidence and "13.1" not in finding.evidence


def test_hosts_at_or_above_the_requirement_pass() -> None:
    assert cuda130_deployment(["13.0", "13.1"], "cuda>=13.0").status is Status.OK


def test_without_a_requirement_minor_version_compatibility_applies() -> None:
    # no NVIDIA_REQUIRE_CUDA: a 13.0 runtime runs on any 13.x driver, never on 12.x
    assert cuda130_deployment(["13.0", "13.2"], None).status is Status.OK
    assert cuda130_deployment(["12.8"], None).status is Status.BROKEN


def test_a_cpu_image_starts_on_any_host() -> None:
    profile = load_profile("cpu", SHIPPED)
    [finding] = judge_deployment(
        profile, parsed(allowedCudaVersions=["11.8"]), cuda_runtime="None", require_cuda=None
    )

    assert finding.status is Status.OK


def test_a_gpu_type_outside_the_profiles_architectures_fails() -> None:
    profile = load_profile("cuda130", SHIPPED)  # sm_75 and newer: Volta (sm_70) was dropped

    [v100] = judge_deployment(
        profile,
        parsed(gpuTypeId="Tesla V100-SXM2-32GB", gpuCount=1),
        cuda_runtime="13.0",
        require_cuda=None,
    )
    [ada] = judge_deployment(
        profile,
        parsed(gpuTypeId="NVIDIA GeForce RTX 4090", gpuCount=1),
        cuda_runtime="13.0",
        require_cuda=None,
    )
    [typo] = judge_deployment(
        profile,
        parsed(gpuTypeId="NVIDIA RTX 4090", gpuCount=1),
        cuda_runtime="13.0",
        require_cuda=None,
    )

    assert v100.status is Status.BROKEN and v100.actual == "sm_70"
    assert ada.status is Status.OK and ada.actual == "sm_89"  # sm_86 code runs on sm_89
    assert typo.status is Status.BROKEN and typo.actual == "unknown"


def test_a_gpu_type_is_judged_against_the_images_own_kernels() -> None:
    profile = load_profile("cuda130", SHIPPED)  # declares sm_120 (RTX 5090)
    tests = parsed(gpuTypeIds=["NVIDIA GeForce RTX 5090", "NVIDIA L40S"], gpuCount=1)
    rtx5090, l40s = judge_deployment(
        profile, tests, cuda_runtime="13.0", require_cuda=None, kernels=OLDER
    )

    assert (rtx5090.status, rtx5090.actual) == (Status.BROKEN, "sm_120")
    assert "torch 2.14.1" in rtx5090.evidence and "sm_80 sm_86 sm_90" in rtx5090.evidence
    assert l40s.status is Status.OK and "sm_86" in l40s.evidence


def test_a_gpu_type_with_gpu_count_0_is_a_warning_not_a_pass() -> None:
    profile = load_profile("cuda130", SHIPPED)

    [none] = judge_deployment(
        profile, parsed(gpuTypeId="NVIDIA L40S", gpuCount=0), cuda_runtime="13.0", require_cuda=None
    )
    [one] = judge_deployment(
        profile, parsed(gpuTypeId="NVIDIA L40S", gpuCount=1), cuda_runtime="13.0", require_cuda=None
    )

    assert none.status is Status.WARN and "gpuCount is 0" in none.evidence
    assert one.status is Status.OK


def test_a_cpu_build_tested_on_a_gpu_is_a_warning_that_never_fails() -> None:
    profile = load_profile("cpu", SHIPPED)

    [finding] = judge_deployment(
        profile,
        parsed(gpuTypeId="NVIDIA GeForce RTX 4090", gpuCount=0),
        cuda_runtime="None",
        require_cuda=None,
    )

    assert finding.status is Status.WARN and not finding.status.failed
    assert "CPU build" in finding.evidence and "cpuFlavor" in finding.evidence


def test_hub_cuda_versions_are_judged_by_the_same_rule_as_the_tests() -> None:
    rows = hub_rows(
        "cuda130",
        listing(
            runsOn="GPU", gpuCount=1, gpuIds="ADA_24", allowedCudaVersions=["13.0", "12.8", "12.6"]
        ),
        require_cuda="cuda>=13.0",
    )

    cuda = rows["allowedCudaVersions"]
    assert cuda.status is Status.BROKEN and cuda.expected == "cuda>=13.0"
    assert "12.8" in cuda.evidence and "12.6" in cuda.evidence and "13.0," not in cuda.evidence


def test_each_pool_is_judged_gpu_by_gpu_against_the_images_kernels() -> None:
    hub = listing(runsOn="GPU", gpuCount=1, gpuIds="AMPERE_48,ADA_32_PRO,BLACKWELL_96")

    rows = hub_rows("cuda130", hub, kernels=OLDER)

    assert (rows["gpuIds AMPERE_48"].status, rows["gpuIds AMPERE_48"].actual) == (
        Status.OK,
        "sm_86",
    )
    rtx5090 = rows["gpuIds ADA_32_PRO"]
    assert (rtx5090.status, rtx5090.actual) == (Status.BROKEN, "sm_120")
    assert (
        "NVIDIA GeForce RTX 5090 (sm_120)" in rtx5090.evidence
        and "torch 2.14.1" in rtx5090.evidence
    )
    blackwell = rows["gpuIds BLACKWELL_96"]
    assert blackwell.status is Status.BROKEN
    assert blackwell.evidence.count("(sm_120)") == 3  # every card of the pool is named


def test_an_exclusion_takes_its_gpu_out_of_the_pool() -> None:
    ada_only = Kernels(build="2.14.1", codes=("sm_89",))  # no code for Ampere's sm_86
    mixed = listing(runsOn="GPU", gpuCount=1, gpuIds="AMPERE_16")
    ada = listing(runsOn="GPU", gpuCount=1, gpuIds="AMPERE_16,-NVIDIA RTX A4000,-NVIDIA RTX A4500")

    broken = hub_rows("cuda130", mixed, kernels=ada_only)["gpuIds AMPERE_16"]
    fixed = hub_rows("cuda130", ada, kernels=ada_only)["gpuIds AMPERE_16"]

    assert broken.status is Status.BROKEN and "NVIDIA RTX A4000 (sm_86)" in broken.evidence
    assert "NVIDIA RTX 4000 Ada Generation" not in broken.evidence
    assert (fixed.status, fixed.actual) == (Status.OK, "sm_89")
    assert "A4000" not in fixed.evidence and "A4500" not in fixed.evidence


def test_a_pool_the_tests_never_run_on_is_named() -> None:
    hub = listing(runsOn="GPU", gpuCount=1, gpuIds="ADA_24,ADA_48_PRO")

    rows = hub_rows("cuda130", hub)  # the tests run on an RTX 4090

    assert "tests run on NVIDIA GeForce RTX 4090" in rows["gpuIds ADA_24"].evidence
    assert "never run on" in rows["gpuIds ADA_48_PRO"].evidence
    assert "NVIDIA L40S" in rows["gpuIds ADA_48_PRO"].evidence


def test_unknown_pools_and_exclusions_fail_and_a_needless_exclusion_warns() -> None:
    hub = listing(
        runsOn="GPU",
        gpuCount=1,
        gpuIds="ADA_25,ADA_24,-NVIDIA RTX 4090,-NVIDIA B200,-NVIDIA GeForce RTX 4090",
    )

    rows = hub_rows("cuda130", hub)

    assert rows["gpuIds ADA_25"].status is Status.BROKEN
    assert rows["gpuIds -NVIDIA RTX 4090"].status is Status.BROKEN  # a typo excludes nothing
    assert rows["gpuIds -NVIDIA B200"].status is Status.WARN  # no chosen pool holds it
    assert rows["gpuIds ADA_24"].status is Status.WARN  # its one GPU excluded: adds none
    assert "gpuIds -NVIDIA GeForce RTX 4090" not in rows  # a working exclusion: no row of its own


def test_a_cpu_build_on_a_gpu_endpoint_warns_and_on_a_cpu_endpoint_passes() -> None:
    cpu_tests = parsed(cpuFlavor="cpu3c")
    on_gpu = listing(runsOn="GPU", gpuCount=1, gpuIds="ADA_24")
    on_cpu = listing(runsOn="CPU", cpuFlavor="cpu3c")

    warned = hub_rows("cpu", on_gpu, cpu_tests, cuda_runtime="None")["runsOn"]
    fitting = hub_rows("cpu", on_cpu, cpu_tests, cuda_runtime="None")["runsOn"]

    assert warned.status is Status.WARN and "pays for a GPU it never uses" in warned.evidence
    assert fitting.status is Status.OK


def test_a_cuda_build_on_a_cpu_endpoint_warns() -> None:
    hub = listing(runsOn="CPU", cpuFlavor="cpu5c")

    row = hub_rows("cuda130", hub, parsed(cpuFlavor="cpu5c"))["runsOn"]

    assert row.status is Status.WARN and "never runs" in row.evidence


def test_tests_on_another_machine_than_the_endpoint_warn() -> None:
    hub = listing(runsOn="GPU", gpuCount=1, gpuIds="ADA_24")

    row = hub_rows("cuda130", hub, parsed(cpuFlavor="cpu3c"))["runsOn"]

    assert row.status is Status.WARN and "tests run on CPU" in row.evidence


def test_the_example_workers_settings_all_pass() -> None:
    profile = load_profile("worker", EXAMPLE / "profiles")
    tests = WorkerTests.read(EXAMPLE / ".runpod" / "tests.json")

    findings = judge_deployment(profile, tests, cuda_runtime="None", require_cuda=None)

    assert [(f.check, f.subject, f.status) for f in findings] == [("hub", "runsOn", Status.OK)]


def test_every_pools_gpu_has_an_architecture() -> None:
    known = gpu_architectures()

    unknown = {gpu for gpus in gpu_pools().values() for gpu in gpus if gpu not in known}

    assert unknown == set()
