"""With no GPU tool on PATH (arranged, not assumed): detect says so and picks the CPU profile."""

from __future__ import annotations

from pathlib import Path

from .conftest import findings, imagegate, no_gpu_env


def test_detect_finds_no_gpu_and_picks_cpu(tmp_path: Path) -> None:
    run = imagegate("detect", "--format", "json", env=no_gpu_env(tmp_path))
    assert run.code == 0, run.stderr
    choice = run.json()
    assert (choice["profile"], choice["reason"], choice["gpus"]) == ("cpu", "no GPU found", [])
    assert choice["rejected"]["cuda130"] == "needs an NVIDIA GPU; none found"


def test_check_refuses_blackwell_on_a_cuda_12_4_build(project: Path) -> None:
    cuda124 = project / "profiles" / "cuda124.yaml"
    cuda124.write_text(cuda124.read_text().replace("sm_86, sm_90]", "sm_86, sm_90, sm_120]"))
    run = imagegate("check", "cuda124", "--format", "json", "--profiles", str(project / "profiles"))
    assert run.code == 1
    row = findings(run.json())[("hardware", "cuda124: architectures")]
    assert row["status"] == "BROKEN"
    assert "sm_120" in row["evidence"] and "12.8" in row["evidence"]


def test_doctor_auto_uses_the_detected_profile(tmp_path: Path) -> None:
    run = imagegate("doctor", "auto", "--format", "json", env=no_gpu_env(tmp_path))
    assert "==> auto: cpu (no GPU found)" in run.stderr
