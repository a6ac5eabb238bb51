"""Tier 4: a RunPod worker's own tests, run in its image offline, and its deployment judged.

A worker's tests are the RunPod Hub's `.runpod/tests.json` (read by `worker_tests`), sent
in one of two modes, each with networking off, the config's environment, and the image's
own entrypoint and command: `api` (the default; `worker_api`), one started worker serving
each test as a `/runsync` job, as the Hub sends them; `test-input`, a container per test
with `--test_input '{"input": …}'` appended: the RunPod SDK then runs the handler once on
that job and exits. What each answered is judged by `worker_answers`; the deployment
settings (tests.json's and hub.json's) by `deployment`.

The judging is pure; `run_tests` is the side effect (the engine).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from imagegate import progress, worker_api, worker_start
from imagegate.deployment import judge_deployment
from imagegate.findings import Finding, Status, passed
from imagegate.kernels import Kernels
from imagegate.profiles import Profile
from imagegate.runner import Completed
from imagegate.worker_answers import from_log, judge_answer
from imagegate.worker_tests import TIER, WorkerTest, WorkerTests

if TYPE_CHECKING:
    from imagegate.engine import Engine


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
    with progress.step("tier 4", f"worker test {one.name}"):
        ran = worker_start.run_test(engine, image, command, tests, one, gpus)
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
    sizes: Path,
) -> list[Finding]:
    """Tier 4: the deployment settings, every test, then the worker started as on RunPod
    (`worker_start`: fitness checks, cold start; the size, kept in `sizes`)."""
    deployment = judge_deployment(
        profile, tests, cuda_runtime=cuda_runtime, require_cuda=require_cuda, kernels=kernels
    )
    ran = run_tests(engine, image, tests, python=python, gpus=gpus, require_gpu=require_gpu)
    failed = not passed([*deployment, *ran])
    return [
        *deployment,
        *ran,
        *worker_start.started(
            engine,
            image,
            profile,
            tests,
            ran,
            gpus=gpus,
            require_gpu=require_gpu,
            sizes=sizes,
            failed=failed,
        ),
    ]
