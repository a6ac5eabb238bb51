"""Tier 4: a RunPod worker's fitness checks, as the SDK runs them when a worker starts on a
host, judged from the report `smoke_tests/fitness/sitecustomize.py` prints (runpod 1.9+).

On RunPod a failing check kills the worker before it takes a job (`os._exit(1)` in the
SDK's `run_fitness_checks`): every registered check must pass. Rows, in the SDK's order:
the worker's own checks (`@runpod.serverless.register_fitness_check`), then the SDK's
built-in ones with the figure each compares (its threshold is a `RUNPOD_MIN_*` variable,
read from the endpoint's env). Memory and disk are this machine's: the host RunPod picks
has its own, so a figure below its threshold here is a WARN, never a failure (the build
host's free disk says nothing of RunPod's). The SDK registers its GPU checks only where
`nvidia-smi` answers; without a GPU they are SKIPPED here, and BROKEN with `--require-gpu`.
Its network check connects to 8.8.8.8:53, which a container with networking off cannot:
SKIPPED, never run.

Pure: `worker_start` runs the container.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

from imagegate.contract import FITNESS_MARK
from imagegate.findings import Finding, Status
from imagegate.worker_tests import TIER

CHECK = "fitness"
BUILT_IN = {
    "_memory_check": "memory",
    "_disk_check": "disk",
    "_network_check": "network",
    "_gpu_health_check": "GPU allocation",
    "_cuda_version_check": "CUDA version",
    "_cuda_init_check": "CUDA device init",
    "_benchmark_check": "GPU matmul",
}
"""The SDK's own checks (runpod 1.12.0: rp_system_fitness, rp_gpu_fitness), by function name."""
GPU_ONLY = ("_gpu_health_check", "_cuda_version_check", "_cuda_init_check", "_benchmark_check")
THRESHOLDS = {
    "_memory_check": "RUNPOD_MIN_MEMORY_GB",
    "_disk_check": "RUNPOD_MIN_DISK_PERCENT",
    "_cuda_version_check": "RUNPOD_MIN_CUDA_VERSION",
    "_benchmark_check": "RUNPOD_GPU_BENCHMARK_TIMEOUT",
    "_gpu_health_check": "RUNPOD_GPU_TEST_TIMEOUT",
}
"""The environment variable each built-in check reads its threshold from."""


@dataclass(frozen=True, kw_only=True)
class FitnessRun:
    """What the container of a fitness run left: its stdout, stderr and how it ended."""

    output: str
    errors: str
    exit_code: int
    timed_out: bool
    seconds: float


def report_of(ran: FitnessRun) -> dict[str, Any] | None:
    """The report line in the run's stdout, or None when the worker never reached its checks."""
    for line in reversed(ran.output.splitlines()):
        if line.startswith(FITNESS_MARK):
            try:
                found = json.loads(line[len(FITNESS_MARK) :])
            except json.JSONDecodeError:
                return None
            return found if isinstance(found, dict) else None
    return None


def judge_fitness(ran: FitnessRun, *, gpus: bool, require_gpu: bool) -> list[Finding]:
    """One row per check the SDK ran (or would run on a GPU host), from one fitness run."""
    report = report_of(ran)
    if report is None:
        return [_never_reached(ran)]
    if "unsupported" in report or not isinstance(report.get("checks"), list):
        version = report.get("runpod", "this runpod")
        return [
            Finding(
                tier=TIER,
                check=CHECK,
                subject="fitness checks",
                status=Status.SKIPPED,
                expected="runpod 1.9 or newer",
                actual=f"runpod {version}",
                evidence=f"this SDK runs no fitness checks ({report.get('unsupported', '')})",
            )
        ]
    checks = [row for row in report["checks"] if isinstance(row, dict)]
    findings = [_judge_check(row) for row in checks]
    if not report.get("gpu"):
        ran_names = {row.get("name") for row in checks}
        findings += [_no_gpu(name, gpus) for name in GPU_ONLY if name not in ran_names]
    if require_gpu:
        findings = [
            replace(f, status=Status.BROKEN, evidence=f"--require-gpu: {f.evidence}")
            if f.status is Status.SKIPPED and f.subject in _GPU_SUBJECTS
            else f
            for f in findings
        ]
    return findings


_GPU_SUBJECTS = {BUILT_IN[name] for name in GPU_ONLY}


def _never_reached(ran: FitnessRun) -> Finding:
    lines = [line.strip() for line in (ran.output + ran.errors).splitlines() if line.strip()]
    last = lines[-1] if lines else "no output"
    if ran.timed_out:
        actual, why = (
            "timed out",
            f"it did not reach the SDK's fitness checks in {ran.seconds:.0f} s",
        )
    else:
        actual, why = f"exit {ran.exit_code}", f"it exited before its fitness checks ran: {last}"
    return Finding(
        tier=TIER,
        check=CHECK,
        subject="fitness checks",
        status=Status.BROKEN,
        expected="the worker starts as on RunPod and runs its fitness checks",
        actual=actual,
        evidence=f"{why} (its command, started as RunPod starts a worker: "
        "RUNPOD_WEBHOOK_GET_JOB set, no --test_input)",
        seconds=ran.seconds,
    )


def _judge_check(row: Mapping[str, Any]) -> Finding:
    name = str(row.get("name", "?"))
    built_in = str(row.get("module", "")).startswith("runpod.") and name in BUILT_IN
    subject = BUILT_IN[name] if built_in else name
    seconds = row.get("seconds") if isinstance(row.get("seconds"), int | float) else None
    found = partial(Finding, tier=TIER, check=CHECK, subject=subject, seconds=seconds)
    if "skipped" in row:
        return found(
            status=Status.SKIPPED,
            expected="connects to 8.8.8.8:53" if name == "_network_check" else "",
            evidence=f"not run: {row['skipped']}; RunPod's hosts are online",
        )
    if not built_in:
        expected, actual, why = "passes", "", "the worker's own check"
    else:
        expected, actual = _figures(name, row.get("figure"), seconds)
        variable = THRESHOLDS.get(name)
        why = f"the SDK's check, threshold {variable}" if variable else "the SDK's check"
        why += "; this machine's figure (RunPod's host has its own)" if name in _LOCAL else ""
    if "error" in row and name in _LOCAL and built_in:
        return found(
            status=Status.WARN,
            expected=expected,
            actual=actual or "failed",
            evidence=f"{row['error']}: this machine's figure, not RunPod's host's, which the SDK "
            f"judges there before any job ({why})",
        )
    if "error" in row:
        return found(
            status=Status.BROKEN,
            expected=expected,
            actual=actual or "failed",
            evidence=f"{row['error']}: on RunPod the worker is killed before any job ({why})",
        )
    return found(status=Status.OK, expected=expected, actual=actual or "passed", evidence=why)


_LOCAL = ("_memory_check", "_disk_check")
"""Checks of the machine the container runs on, not of the image."""


def _figures(name: str, figure: Any, seconds: float | None) -> tuple[str, str]:
    """What the built-in check compares, as `expected` and `actual`: "≥ 4 GiB" and
    "22.6 GiB free"."""
    figure = figure if isinstance(figure, dict) else {}
    minimum = figure.get("minimum")
    if name == "_memory_check" and "available_gib" in figure:
        return f"≥ {minimum:g} GiB", f"{figure['available_gib']:.1f} GiB free"
    if name == "_disk_check" and "free_percent" in figure:
        return f"≥ {minimum:g}% free", f"{figure['free_percent']:.1f}% free"
    if name == "_cuda_version_check":
        return f"≥ CUDA {minimum}", f"CUDA {figure.get('found') or 'unknown'}"
    if "maximum_s" in figure and seconds is not None:
        return f"≤ {figure['maximum_s']:g} s", f"{seconds:.2f} s"
    return "passes", f"{seconds:.2f} s" if seconds is not None else ""


def _no_gpu(name: str, gpus: bool) -> Finding:
    why = (
        "nvidia-smi does not answer in the container"
        if gpus
        else "no GPU here: the SDK registers it only where nvidia-smi answers"
    )
    return Finding(
        tier=TIER,
        check=CHECK,
        subject=BUILT_IN[name],
        status=Status.SKIPPED,
        expected="runs on a GPU host",
        actual="not registered",
        evidence=why,
    )
