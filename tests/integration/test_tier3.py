"""Tier 3 for real: tiny gpt2 and llama models in the built CPU image, with networking off."""

from __future__ import annotations

import json
import subprocess
import time
from dataclasses import dataclass
from typing import Any

import pytest

from .conftest import CPU_IMAGE, ROOT, Run

IMAGE = CPU_IMAGE
MOUNT = "/mnt/smoke_tests"
ARCHES = ("gpt2", "llama")
MODEL_STEPS = ("build", "save", "load", "forward", "generate", "lora")
GPU_REQUIRED = "a GPU is required (--require-gpu) but none is visible"
WALL_LIMIT = 120.0
"""Seconds for a whole run, container start included: tier 3 is a smoke test, not a benchmark."""


@dataclass(frozen=True)
class Tier3:
    code: int
    document: dict[str, Any]
    stderr: str
    seconds: float

    def step(self, name: str) -> dict[str, Any]:
        [found] = [step for step in self.document["steps"] if step["step"] == name]
        return found


def tier3(*args: str) -> Tier3:
    """tier3_model.py in a fresh container of the image: the image's Python, no network."""
    command = [
        "docker",
        "run",
        "--rm",
        "--network",
        "none",
        "--volume",
        f"{ROOT / 'smoke_tests'}:{MOUNT}:ro",
        IMAGE,
        "/opt/venv/bin/python",
        f"{MOUNT}/tier3_model.py",
        *args,
    ]
    started = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    seconds = time.monotonic() - started
    try:
        document = json.loads(done.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"stdout is not one JSON document (exit {done.returncode}):\n{done.stdout}")
    return Tier3(done.returncode, document, done.stderr, seconds)


@pytest.fixture(scope="module")
def cpu_image(cpu_build: Run) -> str:
    """The session's cpu image, built by the shared fixture (never one left by another run)."""
    assert cpu_build.code == 0, cpu_build.stderr[-2000:]
    return IMAGE


@pytest.fixture(scope="module")
def default_run(cpu_image: str) -> Tier3:
    return tier3("--arch", "gpt2", "--arch", "llama", "--timeout", "300")


@pytest.fixture(scope="module")
def broken_run(cpu_image: str) -> Tier3:
    return tier3("--arch", "nosucharch", "--arch", "gpt2", "--arch", "llama")


def test_every_model_step_passes_on_cpu(default_run: Tier3) -> None:
    assert default_run.code == 0, default_run.stderr[-3000:]
    assert default_run.document["schema"] == 1
    assert default_run.document["tier"] == 3
    for arch in ARCHES:
        for name in MODEL_STEPS:
            step = default_run.step(f"{arch}/{name}")
            assert step["ok"] is True, step
            assert step["skipped"] is False
            assert step["reason"] is None
            assert step["error"] is None


def test_the_steps_are_listed_in_order_each_with_its_time(default_run: Tier3) -> None:
    per_arch = (*MODEL_STEPS, "4bit", "gpu-forward")
    expected = ["gpu/device", *(f"{arch}/{name}" for arch in ARCHES for name in per_arch)]
    steps = default_run.document["steps"]
    assert [step["step"] for step in steps] == expected
    for step in steps:
        assert set(step) == {"step", "ok", "skipped", "reason", "error", "seconds"}
        assert isinstance(step["seconds"], float)
        assert 0 <= step["seconds"] < 300, step


def test_gpu_steps_and_4bit_are_skipped_with_their_reasons(default_run: Tier3) -> None:
    assert default_run.document["gpu"] == {
        "available": False,
        "name": None,
        "torch_cuda": None,  # the CPU build of torch
        "torch_hip": None,
    }
    skipped = {"gpu/device": "no GPU"}
    for arch in ARCHES:
        skipped[f"{arch}/4bit"] = "bitsandbytes is not installed"
        skipped[f"{arch}/gpu-forward"] = "no GPU (torch.cuda.is_available() is False)"
    for name, reason in skipped.items():
        step = default_run.step(name)
        assert (step["ok"], step["skipped"], step["reason"], step["error"]) == (
            False,
            True,
            reason,
            None,
        ), step


def test_the_run_is_fast(default_run: Tier3) -> None:
    assert default_run.seconds < WALL_LIMIT, f"tier 3 took {default_run.seconds:.1f}s"


@pytest.mark.parametrize(("flags", "code"), [((), 0), (("--fail-on-broken",), 1)])
def test_require_gpu_fails_the_gpu_steps(cpu_image: str, flags: tuple[str, ...], code: int) -> None:
    run = tier3("--require-gpu", *flags)
    assert run.code == code, run.stderr[-3000:]
    for name in ("gpu/device", "gpt2/gpu-forward", "llama/gpu-forward"):
        step = run.step(name)
        assert (step["ok"], step["skipped"], step["error"]) == (False, False, GPU_REQUIRED), step
    for arch in ARCHES:
        # No bitsandbytes in this image: a GPU would not make 4bit runnable, so it stays skipped.
        assert run.step(f"{arch}/4bit")["reason"] == "bitsandbytes is not installed"
        assert all(run.step(f"{arch}/{name}")["ok"] for name in MODEL_STEPS)


def test_an_unknown_architecture_fails_its_build_and_the_others_still_run(
    broken_run: Tier3,
) -> None:
    assert broken_run.code == 0, broken_run.stderr[-3000:]
    build = broken_run.step("nosucharch/build")
    assert (build["ok"], build["skipped"]) == (False, False)
    assert build["error"].startswith("ValueError: Unrecognized model identifier: nosucharch")
    for name in (*MODEL_STEPS[1:], "4bit", "gpu-forward"):
        step = broken_run.step(f"nosucharch/{name}")
        assert (step["skipped"], step["reason"]) == (True, "nosucharch/build failed"), step
    for arch in ARCHES:
        assert all(broken_run.step(f"{arch}/{name}")["ok"] for name in MODEL_STEPS)
    assert "tier3: 1 failed: nosucharch/build" in broken_run.stderr
