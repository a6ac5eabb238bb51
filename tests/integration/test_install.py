"""imagegate as a user installs it: a wheel built from the source, installed with its
dependencies by `uv tool install` (a tool environment of its own, pip not given), then
`init` in an empty folder and a real build, verify and gate (to a registry on 127.0.0.1)
there under a tag of the user's choosing, with no checkout in sight.

The dependencies come from the package index uv reaches, as they do for a user. The new
project's wheelhouse starts as a copy of the session's cpu wheelhouse: its profile extends
`cpu` and adds nothing, so the wheels are the same files, checked again by hash as any
wheelhouse is; what is built and judged is the new project's.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from ..conftest import image_tags
from .conftest import REPOSITORY, ROOT, tags

TIMEOUT = 3600


def run(
    *command: str | Path, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """A command as a user runs it: no PYTHONPATH, so nothing comes from the checkout."""
    env = {**{k: v for k, v in os.environ.items() if k != "PYTHONPATH"}, **(env or {})}
    return subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=env,
        timeout=TIMEOUT,
        check=False,
    )


def image_id(tag: str) -> str:
    done = run("docker", "image", "inspect", "--format", "{{.Id}}", tag, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The `imagegate` that `uv tool install WHEEL` gives, in a tool folder of its own,
    from a wheel built from a copy of the source (building in the checkout would leave
    build/ and egg-info there)."""
    folder = tmp_path_factory.mktemp("install")
    source = folder / "source"
    listed = run("git", "ls-files", "-z", "--cached", "--others", "--exclude-standard", cwd=ROOT)
    for name in filter(None, listed.stdout.split("\0")):
        if (ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    uv = (sys.executable, "-m", "uv")
    built = run(*uv, "build", "--wheel", "--out-dir", folder / "dist", source, cwd=folder)
    assert built.returncode == 0, built.stderr[-3000:]
    (wheel,) = (folder / "dist").glob("imagegate-*.whl")
    tools = {"UV_TOOL_DIR": str(folder / "tools"), "UV_TOOL_BIN_DIR": str(folder / "bin")}
    done = run(*uv, "tool", "install", wheel, cwd=folder, env=tools)
    assert done.returncode == 0, done.stderr[-3000:]
    yield folder / "bin" / "imagegate"
    shutil.rmtree(folder, ignore_errors=True)


def test_the_wheel_carries_what_a_run_needs(installed: Path, tmp_path: Path) -> None:
    venv = installed.parents[1] / "tools" / "imagegate"
    where = run(
        venv / "bin" / "python",
        "-c",
        "import json, imagegate.shipped as s, imagegate.scripts as c; "
        "print(json.dumps([str(s.shipped_profiles()), str(c.scripts_dir())]))",
        cwd=tmp_path,
    )
    assert where.returncode == 0, where.stderr
    for folder in map(Path, json.loads(where.stdout)):
        assert venv in folder.parents, folder
    names = {p.name for p in Path(json.loads(where.stdout)[0]).iterdir()}
    assert {"_common.yaml", "cpu.yaml", "cuda130.yaml"} <= names


def test_init_then_build_and_verify_in_an_empty_folder(
    installed: Path, cpu_wheelhouse: Path, base_image: str, registry: str, tmp_path: Path
) -> None:
    folder = tmp_path / "mine"
    folder.mkdir()
    started = run(installed, "init", cwd=folder)
    assert started.returncode == 0, started.stderr
    assert started.stdout.splitlines()[-1] == "next: imagegate build app"
    assert "extends: cpu" in (folder / "profiles" / "app.yaml").read_text(encoding="utf-8")
    again = run(installed, "init", cwd=folder)
    assert again.returncode == 2 and again.stderr.count("\n") == 1

    shutil.copytree(cpu_wheelhouse, folder / "wheelhouse" / "app", copy_function=os.link)
    chosen = f"{REPOSITORY}/mine-app:1"
    default = f"{REPOSITORY}/app:latest"
    run("docker", "tag", base_image, default, cwd=folder)  # the user's own image, another name
    before = image_id(default)
    pushed = ""
    try:
        build = run(installed, "build", "app", "--tag", chosen, "--format", "json", cwd=folder)
        assert build.returncode == 0, build.stderr[-3000:]
        assert json.loads(build.stdout)["passed"] is True
        verify = run(installed, "verify", "app", "--image", chosen, "--format", "json", cwd=folder)
        assert verify.returncode == 0, verify.stderr[-3000:]
        document = json.loads(verify.stdout)
        assert [f for f in document["findings"] if f["status"] not in ("OK", "SKIPPED")] == []
        pins = {f["subject"]: f["actual"] for f in document["findings"] if f["check"] == "pin"}
        assert pins["torch"] == "2.13.0+cpu"
        pushed = f"{registry}/mine/app:1"
        gate = run(installed, "gate", "app", "--tag", chosen, "--push", pushed, cwd=folder)
        assert gate.returncode == 0, gate.stderr[-3000:]
        assert tags(registry, "mine/app") == ["1"]
        assert image_id(default) == before
        assert (folder / "profiles" / "pylock.app.toml").is_file()
        assert (folder / "dockerfiles" / "app.Dockerfile").is_file()
    finally:
        made = [tag for tag in (chosen, default, pushed) if tag in (image_tags() or set())]
        run("docker", "rmi", "--force", *made, cwd=folder)


def test_a_git_url_installs_a_working_tool(tmp_path: Path) -> None:
    """`uv tool install git+URL`: the committed tree alone (a clone of this checkout's HEAD,
    over file://) gives an imagegate that starts a project."""
    clone = tmp_path / "clone"
    cloned = run("git", "clone", "--quiet", "--no-local", ROOT, clone, cwd=tmp_path)
    assert cloned.returncode == 0, cloned.stderr
    tools = {"UV_TOOL_DIR": str(tmp_path / "tools"), "UV_TOOL_BIN_DIR": str(tmp_path / "bin")}
    uv = (sys.executable, "-m", "uv")
    done = run(*uv, "tool", "install", f"git+file://{clone}", cwd=tmp_path, env=tools)
    assert done.returncode == 0, done.stderr[-3000:]

    started = run(tmp_path / "bin" / "imagegate", "init", "project", cwd=tmp_path)

    assert started.returncode == 0, started.stderr
    assert (tmp_path / "project" / "profiles" / "app.yaml").is_file()
    tool = tmp_path / "bin" / "imagegate"
    locked = run(tool, "lock", "app", cwd=tmp_path / "project")
    assert locked.returncode == 0, locked.stderr[-2000:]
    check = run(tool, "check", "app", cwd=tmp_path / "project")
    assert check.returncode == 0, check.stdout[-2000:] + check.stderr[-2000:]
