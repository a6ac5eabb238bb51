"""Tier 4: a RunPod worker's own tests, run in its image offline, and its deployment judged.

A worker's tests are the RunPod Hub's `.runpod/tests.json` (read by `worker_tests`), sent
in one of two modes, each with networking off, the config's environment, and the image's
own entrypoint and command: `api` (the default; `worker_api`), one started worker serving
each test as a `/runsync` job, as the Hub sends them; `test-input`, a container per test
with `--test_input '{"input": …}'` appended: the RunPod SDK then runs the handler once on
that job and exits. What each answered is judged by `worker_answers`.

Which host CUDA versions can start an image (`allowedCudaVersions`):
- An image that carries `NVIDIA_REQUIRE_CUDA="cuda>=X.Y"` is refused by the NVIDIA
  container runtime on a host whose driver supports an older CUDA: X.Y or newer is needed.
- Without it, CUDA's minor-version compatibility lets a runtime X.y run on any driver of
  major X, from X.0 on, so the major must match and be no older; a newer major's driver
  runs it too (drivers are backward compatible).
Every allowed version must be able to start the image: RunPod places a worker on any of
them.

The judging is pure; `run_tests` is the side effect (the engine).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import replace
from functools import cache
from importlib.resources import files
from typing import TYPE_CHECKING

import yaml
from packaging.version import InvalidVersion, Version

from imagegate import gpu_rules, progress, worker_api
from imagegate.findings import Finding, Status
from imagegate.kernels import Kernels, machine_code
from imagegate.profiles import Profile
from imagegate.runner import Completed
from imagegate.worker_answers import TIER, from_log, judge_answer
from imagegate.worker_tests import CUDA_VERSION, WorkerTest, WorkerTests

if TYPE_CHECKING:
    from imagegate.engine import Engine

_REQUIRE = re.compile(r"cuda>=(\d+\.\d+)")


@cache
def gpu_architectures() -> Mapping[str, str]:
    """RunPod GPU type id → CUDA architecture (sm_89), from the data file."""
    text = (files("imagegate") / "data" / "runpod_gpus.yaml").read_text(encoding="utf-8")
    return {str(name): str(arch) for name, arch in yaml.safe_load(text).items()}


def judge_deployment(
    profile: Profile,
    tests: WorkerTests,
    *,
    cuda_runtime: str | None,
    require_cuda: str | None,
    kernels: Kernels | None = None,
) -> list[Finding]:
    """The deployment settings against the image: host CUDA versions and GPU types.

    `cuda_runtime` is the image's `torch.version.cuda` ("None" or None for a CPU build);
    `require_cuda` is its NVIDIA_REQUIRE_CUDA, if it carries one; `kernels` what its torch
    was compiled for, when that was read: a GPU type must be served by the image's own
    machine code, not only by the profile's declaration."""
    findings = []
    if tests.allowed_cuda:
        findings.append(_judge_cuda(tests, cuda_runtime, require_cuda))
    for gpu_type in tests.gpu_types:
        findings.append(_judge_gpu_type(profile, gpu_type, kernels))
    return findings


def _judge_cuda(tests: WorkerTests, runtime: str | None, require: str | None) -> Finding:
    subject = "allowedCudaVersions"
    allowed = ", ".join(tests.allowed_cuda)
    required = _REQUIRE.search(require or "")
    if required is not None:
        need, strict, expected = _version(required.group(1)), True, f"cuda>={required.group(1)}"
    elif runtime and runtime != "None" and CUDA_VERSION.fullmatch(runtime):
        need, strict, expected = _version(runtime), False, f"a {runtime.split('.')[0]}.x host"
    else:
        return Finding(
            tier=TIER,
            check="deployment",
            subject=subject,
            status=Status.OK,
            actual=allowed,
            evidence="the image runs no CUDA: any host CUDA version starts it",
        )
    refused = [v for v in tests.allowed_cuda if not _starts(_version(v), need, strict=strict)]
    why = (
        "the NVIDIA container runtime refuses it there (NVIDIA_REQUIRE_CUDA)"
        if strict
        else f"CUDA {runtime} needs a driver of major {need.major} or newer"
    )
    return Finding(
        tier=TIER,
        check="deployment",
        subject=subject,
        status=Status.BROKEN if refused else Status.OK,
        expected=expected,
        actual=allowed,
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


def _judge_gpu_type(profile: Profile, gpu_type: str, kernels: Kernels | None) -> Finding:
    arch = gpu_architectures().get(gpu_type)
    declared = ", ".join(profile.hardware.architectures) or "none"
    if profile.hardware.vendor == "none":
        return Finding(
            tier=TIER,
            check="deployment",
            subject=f"gpuTypeId {gpu_type}",
            status=Status.OK,
            expected="any",
            actual=arch or "unknown",
            evidence=f"{profile.name} is a CPU build: it runs on any GPU host, unused",
        )
    if arch is None:
        return Finding(
            tier=TIER,
            check="deployment",
            subject=f"gpuTypeId {gpu_type}",
            status=Status.BROKEN,
            expected=declared,
            actual="unknown",
            evidence="not a RunPod GPU type imagegate knows: check the id (its exact spelling "
            "in RunPod's GPU list) or add it to imagegate/data/runpod_gpus.yaml",
        )
    gpu = gpu_rules.Gpu(vendor="nvidia", name=gpu_type, arch=arch, driver=None)
    why = kernels.missing(arch) if kernels is not None else None
    why = why or gpu_rules.architecture_mismatch(profile, gpu)
    if why is None and kernels is not None:
        code = machine_code(arch, kernels.codes)
        served = f"torch {kernels.build}'s {code} code runs on {arch}"
    else:
        served = f"{profile.name}'s wheels carry code for {arch}"
    return Finding(
        tier=TIER,
        check="deployment",
        subject=f"gpuTypeId {gpu_type}",
        status=Status.OK if why is None else Status.BROKEN,
        expected=declared,
        actual=arch,
        evidence=why or served,
    )


def judge_run(test: WorkerTests, one: WorkerTest, ran: Completed, *, gpus: bool) -> Finding:
    """One `--test_input` run's row, from its exit code and whole log (stdout, then stderr)."""
    log = ran.output + ran.errors
    answer = from_log(log, exit_code=ran.returncode, seconds=ran.seconds, timed_out=ran.timed_out)
    return judge_answer(
        one, answer, test.expected.get(one.name), gpu_count=test.gpu_count, gpus=gpus
    )


def run_tests(
    engine: Engine,
    image: str,
    tests: WorkerTests,
    *,
    python: str,
    gpus: bool,
    require_gpu: bool,
) -> list[Finding]:
    """Each test, in `tests.mode`, with the image's own entrypoint and command (a worker's
    CMD is what RunPod starts); `python` is the stack's interpreter (the API mode's client)."""
    info = engine.image(image)
    if info is None or not (info.command or info.entrypoint):
        return [
            Finding(
                tier=TIER,
                check="worker",
                subject=one.name,
                status=Status.BROKEN,
                expected="the image's command starts the handler",
                actual="no command",
                evidence=f"{image} has neither ENTRYPOINT nor CMD: RunPod would start nothing",
            )
            for one in tests.tests
        ]
    if tests.mode == "api":
        worker = [*info.entrypoint, *info.command]
        answers = worker_api.send_tests(engine, image, worker, tests, python=python, gpus=gpus)
        found = [
            judge_answer(
                one, answer, tests.expected.get(one.name), gpu_count=tests.gpu_count, gpus=gpus
            )
            for one, answer in zip(tests.tests, answers, strict=True)
        ]
    else:
        found = [
            _test_input(engine, image, list(info.command), tests, one, gpus) for one in tests.tests
        ]
    findings = []
    for finding in found:
        if require_gpu and finding.status is Status.SKIPPED:
            finding = replace(
                finding, status=Status.BROKEN, evidence=f"--require-gpu: {finding.evidence}"
            )
        findings.append(finding)
    return findings


def _test_input(
    engine: Engine, image: str, command: list[str], tests: WorkerTests, one: WorkerTest, gpus: bool
) -> Finding:
    """One test in its own container: the command (its entrypoint kept) with `--test_input`."""
    job = json.dumps({"input": one.input})
    with progress.step("tier 4", f"worker test {one.name}"):
        ran = engine.run(
            image,
            [*command, "--test_input", job],
            files={},
            timeout=one.timeout_ms / 1000,
            environment=dict(tests.env),
            gpus=gpus,
        )
    return judge_run(tests, one, ran, gpus=gpus)


def worker_findings(
    engine: Engine,
    image: str,
    profile: Profile,
    tests: WorkerTests,
    *,
    cuda_runtime: str | None,
    require_cuda: str | None,
    kernels: Kernels | None = None,
    python: str,
    gpus: bool,
    require_gpu: bool,
) -> list[Finding]:
    """Tier 4: the deployment settings, then every test."""
    return [
        *judge_deployment(
            profile, tests, cuda_runtime=cuda_runtime, require_cuda=require_cuda, kernels=kernels
        ),
        *run_tests(engine, image, tests, python=python, gpus=gpus, require_gpu=require_gpu),
    ]
