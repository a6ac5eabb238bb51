"""Tier 4's fitness rows: the report the in-image hook prints, judged as RunPod would."""

from __future__ import annotations

import ast
import json
from typing import Any

from imagegate import contract
from imagegate.findings import Status
from imagegate.fitness import FitnessRun, judge_fitness
from imagegate.scripts import scripts_dir

HOOK = scripts_dir() / contract.FITNESS_HOOK / "sitecustomize.py"
SYSTEM = "runpod.serverless.modules.rp_system_fitness"
MEMORY = {
    "name": "_memory_check",
    "module": SYSTEM,
    "seconds": 0.01,
    "figure": {"available_gib": 22.6, "minimum": 4.0},
}
DISK = {
    "name": "_disk_check",
    "module": SYSTEM,
    "seconds": 0.0,
    "figure": {"free_percent": 18.1, "free_gib": 45.6, "minimum": 10.0},
}
NETWORK = {"name": "_network_check", "module": SYSTEM, "skipped": "networking is off"}


def run_of(report: dict[str, Any] | None, *, code: int = 0, log: str = "") -> FitnessRun:
    line = f"{contract.FITNESS_MARK}{json.dumps(report)}\n" if report is not None else ""
    return FitnessRun(output=log + line, errors="", exit_code=code, timed_out=False, seconds=4.0)


def report(*checks: dict[str, Any], gpu: bool = False) -> dict[str, Any]:
    return {"schema": 1, "runpod": "1.12.0", "gpu": gpu, "checks": list(checks)}


def rows(run: FitnessRun, *, require_gpu: bool = False) -> dict[str, Any]:
    return {f.subject: f for f in judge_fitness(run, gpus=False, require_gpu=require_gpu)}


def test_the_hook_prints_the_mark_the_package_reads() -> None:
    tree = ast.parse(HOOK.read_text(encoding="utf-8"))
    [mark] = [
        node.value.value
        for node in tree.body
        if isinstance(node, ast.Assign)
        and ast.unparse(node.targets[0]) == "MARK"
        and isinstance(node.value, ast.Constant)
    ]
    assert mark == contract.FITNESS_MARK


def test_built_in_checks_show_the_figure_and_the_variable_that_sets_the_threshold() -> None:
    found = rows(run_of(report(MEMORY, DISK, NETWORK)))

    memory = found["memory"]
    assert memory.status is Status.OK
    assert (memory.expected, memory.actual) == ("≥ 4 GiB", "22.6 GiB free")
    assert "RUNPOD_MIN_MEMORY_GB" in memory.evidence
    assert (found["disk"].expected, found["disk"].actual) == ("≥ 10% free", "18.1% free")
    assert "RUNPOD_MIN_DISK_PERCENT" in found["disk"].evidence
    assert found["network"].status is Status.SKIPPED


def test_a_short_memory_here_is_a_warning_with_the_sdks_reason_never_a_failure() -> None:
    """Memory and disk are this machine's, not RunPod's host's: below the threshold here is
    shown (WARN), and the run still passes."""
    short = {**MEMORY, "error": "RuntimeError: Insufficient memory: 2.00GB available"}

    found = rows(run_of(report(short)))

    assert found["memory"].status is Status.WARN
    assert "Insufficient memory" in found["memory"].evidence
    assert not found["memory"].status.failed


def test_the_workers_own_check_is_a_row_by_its_name() -> None:
    own = {"name": "model_file_present", "module": "__main__", "seconds": 0.0}
    failing = {**own, "name": "weights_readable", "error": "OSError: /models: no such file"}

    found = rows(run_of(report(own, failing, MEMORY)))

    assert found["model_file_present"].status is Status.OK
    assert found["weights_readable"].status is Status.BROKEN
    assert found["weights_readable"].evidence.startswith("OSError: /models: no such file")


def test_a_check_named_like_a_built_in_but_the_workers_own_is_not_taken_for_it() -> None:
    own = {"name": "_memory_check", "module": "__main__", "seconds": 0.0}

    found = rows(run_of(report(own)))

    assert "_memory_check" in found and "memory" not in found


def test_without_a_gpu_the_sdks_gpu_checks_are_skipped_and_fail_under_require_gpu() -> None:
    gpu_checks = ("GPU allocation", "CUDA version", "CUDA device init", "GPU matmul")

    skipped = rows(run_of(report(MEMORY)))
    required = rows(run_of(report(MEMORY)), require_gpu=True)

    assert {skipped[name].status for name in gpu_checks} == {Status.SKIPPED}
    assert {required[name].status for name in gpu_checks} == {Status.BROKEN}
    assert required["memory"].status is Status.OK
    assert required["GPU matmul"].evidence.startswith("--require-gpu: ")


def test_on_a_gpu_host_the_gpu_checks_are_judged_as_they_ran() -> None:
    cuda = {
        "name": "_cuda_version_check",
        "module": SYSTEM,
        "seconds": 0.2,
        "figure": {"found": "12.4", "minimum": "11.8"},
    }
    matmul = {
        "name": "_benchmark_check",
        "module": SYSTEM,
        "seconds": 2.5,
        "error": "RuntimeError: GPU compute too slow",
        "figure": {"maximum_s": 2},
    }

    found = rows(run_of(report(MEMORY, cuda, matmul, gpu=True)))

    assert (found["CUDA version"].status, found["CUDA version"].actual) == (Status.OK, "CUDA 12.4")
    assert found["GPU matmul"].status is Status.BROKEN
    assert (found["GPU matmul"].expected, found["GPU matmul"].actual) == ("≤ 2 s", "2.50 s")
    assert "RUNPOD_GPU_BENCHMARK_TIMEOUT" in found["GPU matmul"].evidence
    assert "GPU allocation" not in found  # the SDK did not register it: not a row


def test_a_worker_that_never_reaches_its_checks_is_broken_with_its_last_line() -> None:
    found = rows(run_of(None, code=1, log="ModuleNotFoundError: No module named 'vllm'\n"))

    [only] = found.values()
    assert only.status is Status.BROKEN and only.actual == "exit 1"
    assert "No module named 'vllm'" in only.evidence


def test_a_worker_still_starting_at_the_timeout_is_broken_saying_so() -> None:
    run = FitnessRun(output="loading…\n", errors="", exit_code=-1, timed_out=True, seconds=300.0)

    [only] = judge_fitness(run, gpus=False, require_gpu=False)

    assert only.status is Status.BROKEN and only.actual == "timed out"


def test_an_sdk_without_fitness_checks_is_skipped_naming_its_version() -> None:
    old = {"schema": 1, "runpod": "1.7.0", "unsupported": "AttributeError: _fitness_checks"}

    [only] = judge_fitness(run_of(old), gpus=False, require_gpu=False)

    assert only.status is Status.SKIPPED and only.actual == "runpod 1.7.0"
