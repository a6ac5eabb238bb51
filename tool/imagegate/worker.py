"""Tier 4: a RunPod worker's own tests, run in its image offline, and its deployment judged.

A worker's tests are the RunPod Hub's `.runpod/tests.json` (read by `worker_tests`). Each
test starts a container from the image with networking off, the config's environment, and
the image's own entrypoint and command followed by
`--test_input '{"input": …}'`: the RunPod SDK then runs the handler once on that job and
exits 0, or 1 with the handler's error in its log. The deployment settings (tests.json's
and hub.json's) are judged by `deployment`.

The judging is pure; `run_tests` is the side effect (the engine).
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from functools import partial
from typing import TYPE_CHECKING

from imagegate import progress
from imagegate.deployment import judge_deployment
from imagegate.findings import Finding, Status
from imagegate.kernels import Kernels
from imagegate.profiles import Profile
from imagegate.runner import Completed
from imagegate.worker_tests import TIER, WorkerTest, WorkerTests

if TYPE_CHECKING:
    from imagegate.engine import Engine

_GPU_TROUBLE = re.compile(
    r"CUDA|cuda|NVIDIA|nvidia|GPU|no kernel image|libcuda|cudaGetDeviceCount|HIP|ROCm"
)


def judge_run(test: WorkerTests, one: WorkerTest, ran: Completed, *, gpus: bool) -> Finding:
    """One test's outcome: OK with its time, or BROKEN with the handler's error (from its
    whole log: stdout, then stderr)."""
    output = ran.output + ran.errors
    limit = f"{one.timeout_ms / 1000:g} s"
    row = partial(
        Finding,
        tier=TIER,
        check="worker",
        subject=one.name,
        expected=f"handled within {limit}",
        seconds=ran.seconds,
    )
    if ran.timed_out:
        evidence = f"no answer within {limit}; it was stopped"
        return row(status=Status.BROKEN, actual="timed out", evidence=evidence)
    if ran.returncode == 0 and _job_failed(output) is None:
        return row(status=Status.OK, actual=f"answered in {ran.seconds:.1f} s")
    error = _handler_error(output, ran.returncode)
    if test.gpu_count > 0 and not gpus and _GPU_TROUBLE.search(error):
        evidence = f"gpuCount {test.gpu_count} and no GPU here: {error}"
        return row(status=Status.SKIPPED, actual="needs a GPU", evidence=evidence)
    return row(status=Status.BROKEN, actual="failed", evidence=error)


_ERROR_BLOCK = re.compile(
    r'"error_type":\s*"(?P<type>[^"]*)",\s*"error_message":\s*"(?P<msg>(?:[^"\\]|\\.)*)"'
)
_JOB_FAILED = re.compile(r"Job \S+ failed with error: (?P<error>.*)$", re.MULTILINE)
_CLASS = re.compile(r"<class '(?:[\w.]*\.)?(?P<name>\w+)'>")


def _job_failed(output: str) -> str | None:
    found = _JOB_FAILED.search(output)
    return found.group("error").strip() if found else None


def _handler_error(output: str, exit_code: int) -> str:
    """The handler's error type and message, not the SDK's whole log."""
    block = _ERROR_BLOCK.search(output)
    if block is not None:
        kind = _CLASS.fullmatch(block.group("type"))
        message = json.loads(f'"{block.group("msg")}"')
        return f"{kind.group('name') if kind else block.group('type')}: {message}"
    failed = _job_failed(output)
    if failed is not None:
        return f"the handler answered an error: {failed}"
    lines = [line for line in output.strip().splitlines() if line.strip()]
    last = lines[-1].strip() if lines else "no output"
    return f"exit {exit_code}: {last}"


def run_tests(
    engine: Engine,
    image: str,
    tests: WorkerTests,
    *,
    gpus: bool,
    require_gpu: bool,
) -> list[Finding]:
    """Each test in a fresh container from `image`, networking off, the image's own
    entrypoint and command (a worker's CMD is what RunPod starts)."""
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
    command = list(info.command)
    findings = []
    for one in tests.tests:
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
        finding = judge_run(tests, one, ran, gpus=gpus)
        if require_gpu and finding.status is Status.SKIPPED:
            finding = replace(
                finding, status=Status.BROKEN, evidence=f"--require-gpu: {finding.evidence}"
            )
        findings.append(finding)
    return findings


def worker_findings(
    engine: Engine,
    image: str,
    profile: Profile,
    tests: WorkerTests,
    *,
    cuda_runtime: str | None,
    require_cuda: str | None,
    kernels: Kernels | None = None,
    gpus: bool,
    require_gpu: bool,
) -> list[Finding]:
    """Tier 4: the deployment settings, then every test."""
    return [
        *judge_deployment(
            profile, tests, cuda_runtime=cuda_runtime, require_cuda=require_cuda, kernels=kernels
        ),
        *run_tests(engine, image, tests, gpus=gpus, require_gpu=require_gpu),
    ]
