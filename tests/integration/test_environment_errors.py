"""Environment problems exit 3 with one line that says what and where; no traceback."""

from __future__ import annotations

from pathlib import Path

from .conftest import imagegate


def test_build_with_the_daemon_unreachable_exits_3(tmp_path: Path) -> None:
    dead = f"unix://{tmp_path / 'no-docker.sock'}"
    run = imagegate("build", "cpu", env={"DOCKER_HOST": dead})
    assert run.code == 3
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr
    assert "Docker daemon" in lines[0] and dead in lines[0]
    assert "Traceback" not in run.stderr


def test_an_unreachable_index_exits_3_and_names_it(project: Path) -> None:
    run = imagegate("wheelhouse", "cuda121", "--profiles", str(project / "profiles"))
    assert run.code == 3, run.stderr[-2000:]
    last = run.stderr.strip().splitlines()[-1]
    assert last.startswith("imagegate: error: torch==2.5.1+cu121: not found")
    assert "pytorch-cu121" in last
    assert not (project / "wheelhouse" / "cuda121").exists()


def test_make_build_cuda121_fails_with_exit_3(project: Path) -> None:
    run = imagegate("build", "cuda121", "--profiles", str(project / "profiles"))
    assert run.code == 3
    assert "pytorch-cu121" in run.stderr.strip().splitlines()[-1]
