"""A RunPod worker's deployment settings judged against its image: tests.json's `config`
and the Hub listing's (hub.json), with one rule for each setting both files share.

Which host CUDA versions can start an image (`allowedCudaVersions`):
- An image that carries `NVIDIA_REQUIRE_CUDA="cuda>=X.Y"` is refused by the NVIDIA
  container runtime on a host whose driver supports an older CUDA: X.Y or newer is needed.
- Without it, CUDA's minor-version compatibility lets a runtime X.y run on any driver of
  major X, from X.0 on, so the major must match and be no older; a newer major's driver
  runs it too (drivers are backward compatible).
Every allowed version must be able to start the image: RunPod places a worker on any of
them.

Which GPUs (a test's `gpuTypeId`, the listing's `gpuIds` pools less their exclusions): each
GPU's architecture must be served by the image's own machine code (and the profile's
declaration). A CPU build on a GPU endpoint works but pays for a GPU it never uses: WARN.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from functools import cache
from importlib.resources import files
from typing import Any

from packaging.version import InvalidVersion, Version

from imagegate import gpu_rules
from imagegate.findings import Finding, Status
from imagegate.hub import CUDA_VERSION, Hub
from imagegate.kernels import Kernels, machine_code
from imagegate.profile_yaml import safe_load
from imagegate.profiles import Profile
from imagegate.worker_tests import TIER, WorkerTests

_REQUIRE = re.compile(r"cuda>=(\d+\.\d+)")


@cache
def gpu_architectures() -> Mapping[str, str]:
    """RunPod GPU type id → CUDA architecture (sm_89), from the data file."""
    return {str(name): str(arch) for name, arch in _data("runpod_gpus.yaml").items()}


@cache
def gpu_pools() -> Mapping[str, tuple[str, ...]]:
    """RunPod GPU pool id (ADA_24) → the GPU type ids it holds, from the data file."""
    return {str(pool): tuple(map(str, ids)) for pool, ids in _data("runpod_pools.yaml").items()}


def _data(name: str) -> dict[str, Any]:
    text = (files("imagegate") / "data" / name).read_text(encoding="utf-8")
    loaded: dict[str, Any] = safe_load(text)
    return loaded


def judge_deployment(
    profile: Profile,
    tests: WorkerTests,
    *,
    cuda_runtime: str | None,
    require_cuda: str | None,
    kernels: Kernels | None = None,
) -> list[Finding]:
    """tests.json's settings, then the Hub listing's when there is one, against the image.

    `cuda_runtime` is the image's `torch.version.cuda` ("None" or None for a CPU build);
    `require_cuda` is its NVIDIA_REQUIRE_CUDA, if it carries one; `kernels` what its torch
    was compiled for, when that was read: a GPU type must be served by the image's own
    machine code, not only by the profile's declaration."""
    findings = []
    if tests.allowed_cuda:
        findings.append(judge_cuda("deployment", tests.allowed_cuda, cuda_runtime, require_cuda))
    for gpu_type in tests.gpu_types:
        findings.append(_judge_test_gpu(profile, tests, gpu_type, kernels))
    if tests.hub is not None:
        findings += judge_hub(
            profile,
            tests.hub,
            tests,
            cuda_runtime=cuda_runtime,
            require_cuda=require_cuda,
            kernels=kernels,
        )
    return findings


def judge_cuda(
    check: str, allowed: Sequence[str], runtime: str | None, require: str | None
) -> Finding:
    """Whether every host CUDA version in `allowed` starts the image (see the module)."""
    subject = "allowedCudaVersions"
    listed = ", ".join(allowed)
    required = _REQUIRE.search(require or "")
    if required is not None:
        need, strict, expected = _version(required.group(1)), True, f"cuda>={required.group(1)}"
    elif runtime and runtime != "None" and CUDA_VERSION.fullmatch(runtime):
        need, strict, expected = _version(runtime), False, f"a {runtime.split('.')[0]}.x host"
    else:
        return Finding(
            tier=TIER,
            check=check,
            subject=subject,
            status=Status.OK,
            actual=listed,
            evidence="the image runs no CUDA: any host CUDA version starts it",
        )
    refused = [v for v in allowed if not _starts(_version(v), need, strict=strict)]
    why = (
        "the NVIDIA container runtime refuses it there (NVIDIA_REQUIRE_CUDA)"
        if strict
        else f"CUDA {runtime} needs a driver of major {need.major} or newer"
    )
    return Finding(
        tier=TIER,
        check=check,
        subject=subject,
        status=Status.BROKEN if refused else Status.OK,
        expected=expected,
        actual=listed,
        evidence=(
            f"hosts with CUDA {', '.join(refused)} cannot start this image: {why}"
            if refused
            else f"every allowed host CUDA version starts an image built for CUDA {runtime or need}"
        ),
    )


def _starts(host: Version, need: Version, *, strict: bool) -> bool:
    return host >= need if strict else host.major >= need.major


def _version(text: str) -> Version:
    try:
        return Version(text)
    except InvalidVersion:  # the parser accepted only N.N
        return Version("0")


def _serves(
    profile: Profile, gpu_type: str, kernels: Kernels | None
) -> tuple[str, str | None, str]:
    """One GPU type against the image: its architecture ("unknown" when imagegate does not
    know the id), why the image cannot run on it (None when it can) and what serves it."""
    arch = gpu_architectures().get(gpu_type)
    if profile.hardware.vendor == "none":
        return (
            arch or "unknown",
            None,
            f"{profile.name} is a CPU build: a GPU here is paid for, never used",
        )
    if arch is None:
        return (
            "unknown",
            (
                f"{gpu_type} is not a RunPod GPU type imagegate knows: check the id (its exact "
                "spelling in RunPod's GPU list) or add it to imagegate/data/runpod_gpus.yaml"
            ),
            "",
        )
    gpu = gpu_rules.Gpu(vendor="nvidia", name=gpu_type, arch=arch, driver=None)
    why = kernels.missing(arch) if kernels is not None else None
    why = why or gpu_rules.architecture_mismatch(profile, gpu)
    if kernels is not None and why is None:
        served = f"torch {kernels.build}'s {machine_code(arch, kernels.codes)} code runs on {arch}"
    else:
        served = f"{profile.name}'s wheels carry code for {arch}"
    return arch, why, served


def _judge_test_gpu(
    profile: Profile, tests: WorkerTests, gpu_type: str, kernels: Kernels | None
) -> Finding:
    arch, why, served = _serves(profile, gpu_type, kernels)
    status, evidence = (Status.OK, served) if why is None else (Status.BROKEN, why)
    if why is None and profile.hardware.vendor == "none":
        status = Status.WARN
        evidence = f"{profile.name} is a CPU build tested on a GPU: a CPU test names a cpuFlavor"
    elif why is None and tests.gpu_count == 0:
        status = Status.WARN
        evidence = (
            "gpuCount is 0 (or absent): the test names a GPU type and asks for no GPU; set "
            "gpuCount, or a cpuFlavor for a CPU test"
        )
    return Finding(
        tier=TIER,
        check="deployment",
        subject=f"gpuTypeId {gpu_type}",
        status=status,
        expected=_declared(profile),
        actual=arch,
        evidence=evidence,
    )


def _declared(profile: Profile) -> str:
    if profile.hardware.vendor == "none":
        return "a CPU host"
    return ", ".join(profile.hardware.architectures) or "none"


def judge_hub(
    profile: Profile,
    hub: Hub,
    tests: WorkerTests,
    *,
    cuda_runtime: str | None,
    require_cuda: str | None,
    kernels: Kernels | None = None,
) -> list[Finding]:
    """The Hub listing against the image and against the tests the Hub runs before it
    publishes (`tests`): host CUDA versions, machine type, each GPU pool."""

    def row(subject: str, verdict: tuple[Status, str, str]) -> Finding:
        status, actual, evidence = verdict
        return Finding(
            tier=TIER,
            check="hub",
            subject=subject,
            status=status,
            expected=_declared(profile),
            actual=actual,
            evidence=evidence,
        )

    findings = [row("runsOn", _machine(profile, hub, tests))]
    if hub.allowed_cuda:
        findings.append(judge_cuda("hub", hub.allowed_cuda, cuda_runtime, require_cuda))
    if not hub.on_gpu:
        return findings
    pools = gpu_pools()
    known = gpu_architectures()
    for token in hub.pools:
        gpus = [
            g for g in pools.get(token, (token,) if token in known else ()) if g not in hub.excluded
        ]
        findings.append(row(f"gpuIds {token}", _pool(profile, token, gpus, tests, kernels)))
    chosen = {g for token in hub.pools for g in pools.get(token, (token,))}
    for gpu_type in hub.excluded:
        if gpu_type not in known:
            why = "not a GPU type imagegate knows: the GPU it means is not excluded"
            findings.append(row(f"gpuIds -{gpu_type}", (Status.BROKEN, "unknown", why)))
        elif gpu_type not in chosen:
            why = "no selected pool holds it: the exclusion changes nothing"
            findings.append(row(f"gpuIds -{gpu_type}", (Status.WARN, known[gpu_type], why)))
    return findings


def _machine(profile: Profile, hub: Hub, tests: WorkerTests) -> tuple[Status, str, str]:
    """runsOn against the build, and against where the Hub's tests run."""
    actual = f"GPU x{hub.gpu_count}" if hub.on_gpu else f"CPU {hub.cpu_flavor}"
    cpu_build = profile.hardware.vendor == "none"
    if hub.on_gpu and cpu_build:
        return (
            Status.WARN,
            actual,
            (
                f"{profile.name} is a CPU build on a GPU endpoint: every worker pays for a GPU "
                'it never uses; set runsOn "CPU" and a cpuFlavor'
            ),
        )
    if not hub.on_gpu and not cpu_build:
        return (
            Status.WARN,
            actual,
            (
                f"{profile.name} is a {gpu_rules.VENDOR_NAMES[profile.hardware.vendor]} build on a "
                "CPU endpoint: its GPU code never runs there"
            ),
        )
    tested = "GPU" if tests.gpu_types else "CPU" if tests.cpu_flavor else None
    if tested is not None and tested != hub.runs_on:
        return (
            Status.WARN,
            actual,
            (
                f"the Hub's tests run on {tested} ({tests.path.name}) and the endpoint on "
                f"{hub.runs_on}: they prove another machine than the one deployed"
            ),
        )
    vendor = gpu_rules.VENDOR_NAMES[profile.hardware.vendor]
    return (
        Status.OK,
        actual,
        f"{profile.name} is a {vendor} build: a {hub.runs_on} endpoint fits it",
    )


def _pool(
    profile: Profile,
    token: str,
    gpus: Sequence[str],
    tests: WorkerTests,
    kernels: Kernels | None,
) -> tuple[Status, str, str]:
    """One `gpuIds` entry (a pool or a GPU type, less the exclusions) against the image."""
    if token not in gpu_pools() and token not in gpu_architectures():
        return (
            Status.BROKEN,
            "unknown",
            (
                "not a RunPod GPU pool or GPU type imagegate knows: check the id or add it to "
                "imagegate/data/runpod_pools.yaml"
            ),
        )
    if not gpus:
        return Status.WARN, "none", "every GPU of the pool is excluded: it adds none"
    cpu_build = profile.hardware.vendor == "none"
    verdicts = [(gpu, *_serves(profile, gpu, kernels)) for gpu in gpus]
    archs = " ".join(dict.fromkeys(arch for _, arch, _, _ in verdicts))  # the pool's order
    broken = [f"{gpu} ({arch}): {why}" for gpu, arch, why, _ in verdicts if why is not None]
    if broken:
        return Status.BROKEN, archs, "; ".join(broken)
    tested = [gpu for gpu in gpus if gpu in tests.gpu_types]
    named = ", ".join(gpus)
    if tested:
        coverage = f"the Hub's tests run on {', '.join(tested)}"
    else:
        coverage = f"the Hub's tests never run on {named}"
    served = verdicts[0][3] if cpu_build else "the image's machine code runs on each"
    return Status.OK, archs, f"{named}: {served}; {coverage}"
