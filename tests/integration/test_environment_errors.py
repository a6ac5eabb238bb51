"""Environment problems exit 3 with one line that says what and where; no traceback."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from .conftest import imagegate, refusing_index


def test_build_with_the_daemon_unreachable_exits_3(tmp_path: Path) -> None:
    dead = f"unix://{tmp_path / 'no-docker.sock'}"
    run = imagegate("build", "cpu", env={"DOCKER_HOST": dead})
    assert run.code == 3
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr
    assert "Docker daemon" in lines[0] and dead in lines[0]
    assert "Traceback" not in run.stderr


def unreachable(project: Path) -> str:
    """A variant of cpu whose torch (a version no find-links folder holds) must come from
    an index on 127.0.0.1 that refuses connections."""
    text = f'extends: cpu\nindexes:\n  pytorch-cpu: {refusing_index()}\npins:\n  torch: "2.99.0"\n'
    (project / "profiles" / "unreachable.yaml").write_text(text)
    return str(project / "profiles")


def test_an_unreachable_index_exits_3_and_names_it(project: Path) -> None:
    run = imagegate("wheelhouse", "unreachable", "--profiles", unreachable(project))
    assert run.code == 3, run.stderr[-2000:]
    last = run.stderr.strip().splitlines()[-1]
    assert "torch==2.99.0" in last and "pytorch-cpu" in last
    assert not (project / "wheelhouse" / "unreachable").exists()


def test_make_build_of_an_unreachable_profile_fails_with_exit_3(project: Path) -> None:
    run = imagegate("build", "unreachable", "--profiles", unreachable(project))
    assert run.code == 3
    assert "pytorch-cpu" in run.stderr.strip().splitlines()[-1]


def _path_with(folder: Path, **tools: str) -> dict[str, str]:
    """PATH holding only `folder`, with each tool a script there (exec: it is the process the
    runner stops)."""
    folder.mkdir(exist_ok=True)
    for name, body in tools.items():
        script = folder / name.replace("_", "-")
        script.write_text(f"#!/bin/sh\n{body}\n", encoding="utf-8")
        script.chmod(0o755)
    return {"PATH": str(folder)}


def test_detect_without_any_gpu_tool_picks_cpu(tmp_path: Path) -> None:
    run = imagegate("detect", "--format", "json", env=_path_with(tmp_path / "bin"))
    assert run.code == 0, run.stderr
    assert (run.json()["profile"], run.json()["gpus"]) == ("cpu", [])


def test_a_hung_nvidia_smi_is_reported_in_seconds_and_exits_3(tmp_path: Path) -> None:
    sleep = shutil.which("sleep")
    env = _path_with(tmp_path / "bin", nvidia_smi=f"exec {sleep} 120")
    env["IMAGEGATE_SMI_TIMEOUT"] = "3"
    started = time.monotonic()
    run = imagegate("detect", env=env)
    took = time.monotonic() - started

    assert run.code == 3
    assert "Traceback" not in run.stderr
    lines = run.stderr.strip().splitlines()
    assert lines[-1].startswith("imagegate: error: nvidia-smi did not answer within 3 s")
    assert [line for line in lines if "waiting" in line] == ["waiting for nvidia-smi (up to 3 s)…"]
    assert took < 20, f"detect took {took:.0f} s"
