"""Real parts: the Docker engine, pip, the wheels; a project copied to a temp folder."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from filelock import FileLock

from imagegate import base
from imagegate import wheel_store as wheel_store_env
from imagegate.engine import Engine

GPU_TOOLS = ("nvidia-smi", "amd-smi", "rocm-smi")
ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ("profiles", "dockerfiles", "smoke_tests", ".dockerignore")
"""What a build needs from the checkout; the session copies these, never writes them."""
TOOLING = (".venv/", ".pytest_cache/", ".mypy_cache/", ".ruff_cache/", "__pycache__/")
"""Ignored paths that running the tests itself creates in the checkout (and egg-info)."""
REPOSITORY = f"imagegate-test-{secrets.token_hex(4)}"
"""The session's own image repository (`$IMAGEGATE_REPOSITORY` for every imagegate run):
what the tests build never takes a user's tag nor another session's, and is removed at the
end (`own_names`)."""
CPU_IMAGE = f"{REPOSITORY}/cpu:latest"
CUDA130_IMAGE = f"{REPOSITORY}/cuda130:latest"
_workspace: list[Path] = []
"""The session's copy of the project (set by the `workspace` fixture): where `imagegate()`
runs when no cwd is given."""


@dataclass(frozen=True)
class Run:
    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


def imagegate(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> Run:
    """The CLI as a person runs it, in its own process; by default in the session's copy of
    the project (its ./profiles), never in the checkout."""
    done = subprocess.run(
        [sys.executable, "-m", "imagegate", *args],
        cwd=cwd or _workspace[0],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=3600,
    )
    return Run(done.returncode, done.stdout, done.stderr)


def findings(document: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(f["check"], f["subject"]): f for f in document["findings"]}


def checkout_state() -> dict[str, object]:
    """`git status` of the checkout, and every file under an ignored path that is not the
    tests' own tooling (a wheelhouse/, a reports/) with its size and mtime."""
    done = subprocess.run(
        ["git", "status", "--porcelain=v1", "-z", "--ignored=matching", "--untracked-files=all"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    state: dict[str, object] = {}
    for entry in filter(None, done.stdout.split("\0")):
        code, path = entry[:2], entry[3:]
        tooling = path.endswith(".egg-info/") or any(
            path == t or path.endswith(f"/{t}") for t in TOOLING
        )
        if code != "!!":
            state[path] = code
        elif not tooling:
            files = [path] if not path.endswith("/") else sorted((ROOT / path).rglob("*"))
            for file in map(Path, files):
                info = (ROOT / file).stat()
                state[str(file)] = (info.st_size, info.st_mtime_ns)
    return state


@pytest.fixture(scope="session", autouse=True)
def own_names() -> Iterator[None]:
    """Every imagegate run of the session (of each worker) tags under REPOSITORY; the images
    the run tagged are removed when it ends (tests/conftest.py), the caches live under the
    session's home (`state_home`)."""
    before = os.environ.get("IMAGEGATE_REPOSITORY")
    os.environ["IMAGEGATE_REPOSITORY"] = REPOSITORY
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("IMAGEGATE_REPOSITORY", None)
        else:
            os.environ["IMAGEGATE_REPOSITORY"] = before


@pytest.fixture(scope="session", autouse=True)
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One copy of the project (profiles, dockerfiles, smoke scripts) for the whole session:
    the shared builds and their wheelhouse live there. The checkout must be unchanged after
    the session; a test that wrote into it fails the run here."""
    before = checkout_state()
    folder = tmp_path_factory.mktemp("project")
    listed = subprocess.run(
        ["git", "ls-files", "-z", *SHIPPED], cwd=ROOT, capture_output=True, text=True, check=True
    )
    for name in filter(None, listed.stdout.split("\0")):
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, folder / name)
    _workspace[:] = [folder]
    yield folder
    _workspace.clear()
    after = checkout_state()
    changed = sorted(
        path for path in before.keys() | after.keys() if before.get(path) != after.get(path)
    )
    assert not changed, (
        f"the checkout {ROOT} changed during the session (a test wrote into it, or it was "
        f"edited meanwhile): {', '.join(changed[:10])}"
    )


def with_kept_verdicts(workspace: Path, folder: Path) -> str:
    """A copy of the session project's profiles and kept verdicts in `folder`; its profiles
    folder, for --profiles."""
    shutil.copytree(workspace / "profiles", folder / "profiles")
    shutil.copytree(workspace / ".imagegate" / "verdicts", folder / ".imagegate" / "verdicts")
    return str(folder / "profiles")


def no_gpu_env(folder: Path) -> dict[str, str]:
    """PATH as it is, less nvidia-smi, amd-smi and rocm-smi: a directory holding one of them
    is replaced by a folder of links to everything else in it, so this machine has no GPU."""
    entries = []
    for index, directory in enumerate(os.environ.get("PATH", "").split(os.pathsep)):
        found = [tool for tool in GPU_TOOLS if (Path(directory) / tool).exists()]
        if not found:
            entries.append(directory)
            continue
        shadow = folder / f"path{index}"
        shadow.mkdir(parents=True)
        for item in Path(directory).iterdir():
            if item.name not in GPU_TOOLS:
                (shadow / item.name).symlink_to(item)
        entries.append(str(shadow))
    return {"PATH": os.pathsep.join(entries)}


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def refusing_index() -> str:
    """An index URL on 127.0.0.1 where nothing listens: every connection is refused."""
    return f"http://127.0.0.1:{free_port()}/simple"


def shared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder every pytest worker of this run shares (the session's own without workers):
    for what one worker makes under a file lock and the others use as it is."""
    base = tmp_path_factory.getbasetemp()
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID")
    folder = base.parent / f"shared-{run}" if run else base / "shared-session"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="session", autouse=True)
def wheel_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One wheel store for the run (`$IMAGEGATE_WHEEL_STORE`), shared by every pytest
    worker as a user's projects share theirs: a project's fill takes the wheels an earlier
    one fetched, each checked against its lock's sha256. Tests of pip's own fetching give
    themselves an empty one (`own_wheel_store`)."""
    folder = shared(tmp_path_factory) / "wheels"
    before = os.environ.get(wheel_store_env.STORE_ENV)
    os.environ[wheel_store_env.STORE_ENV] = str(folder)
    try:
        yield folder
    finally:
        if before is None:
            os.environ.pop(wheel_store_env.STORE_ENV, None)
        else:
            os.environ[wheel_store_env.STORE_ENV] = before


@pytest.fixture
def own_wheel_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty wheel store for one test: every wheel its fills need, pip fetches."""
    folder = tmp_path / "own-wheel-store"
    monkeypatch.setenv(wheel_store_env.STORE_ENV, str(folder))
    return folder


@pytest.fixture(scope="session")
def engine() -> Engine:
    return Engine()


@pytest.fixture(scope="session")
def base_image(engine: Engine) -> str:
    """The local Debian stand-in for python:3.11-slim-bookworm (no registry here), made by
    one worker while the other waits (two debootstraps of one tag would race)."""
    with FileLock(Path(tempfile.gettempdir()) / "imagegate-test-base.lock"):
        return base.make("bookworm", engine)


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Path]:
    """A copy of the shipped profiles in a fresh project folder (own wheelhouse, own images)."""
    shutil.copytree(ROOT / "profiles", tmp_path / "profiles")
    yield tmp_path


@pytest.fixture(scope="session")
def cpu_wheelhouse(workspace: Path) -> Path:
    """The cpu profile's wheelhouse, filled once in the session's copy of the project."""
    run = imagegate("wheelhouse", "cpu", cwd=workspace)
    assert run.code == 0, run.stderr[-2000:]
    return workspace / "wheelhouse" / "cpu"


@pytest.fixture(scope="session")
def cpu_build(base_image: str, workspace: Path) -> Run:
    """`imagegate build cpu` in the session's copy of the project, as `make build-cpu` runs
    it; its image (CPU_IMAGE) and wheelhouse are shared by the tests."""
    return imagegate("build", "cpu", "--format", "json", cwd=workspace)


@pytest.fixture(scope="session")
def cuda130(base_image: str, workspace: Path) -> Run:
    """`imagegate build cuda130` once for the session; its image (CUDA130_IMAGE, 6 GB) is
    shared by the tests that judge a real CUDA 13.0 stack. Each pytest worker would build it
    again: they live in one file (test_build_cuda130.py), which runs whole on one worker."""
    return imagegate("build", "cuda130", "--format", "json", cwd=workspace)


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A real registry server (Debian's docker-registry) on 127.0.0.1, for pushes: one for
    the run, started by the first pytest worker that asks, as a team shares one. A layer
    one worker pushed is then mounted, not compressed again, by the next push that holds it
    (a cpu stack's first push to a registry gzips ~1 GB, ~35 s). Its pid is in
    `registry.pid` in the shared folder: the session's end stops it (tests/conftest.py)."""
    folder = shared(tmp_path_factory) / "registry"
    with FileLock(f"{folder}.lock"):
        address = folder / "address"
        known = address.read_text(encoding="utf-8") if address.is_file() else ""
        if known and _answers(known):
            return known
        folder.mkdir(exist_ok=True)
        port = free_port()
        config = folder / "config.yml"
        config.write_text(
            "version: 0.1\n"
            f"storage:\n  filesystem:\n    rootdirectory: {folder / 'data'}\n"
            f"http:\n  addr: 127.0.0.1:{port}\n"
        )
        server = subprocess.Popen(
            ["docker-registry", "serve", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # outlives the worker that started it
        )
        (folder.parent / f"{folder.name}.pid").write_text(str(server.pid), encoding="utf-8")
        served = f"127.0.0.1:{port}"
        for _ in range(100):
            if _answers(served):
                break
            time.sleep(0.1)
        else:
            pytest.fail(f"docker-registry did not answer on {served}")
        address.write_text(served, encoding="utf-8")
        return served


def _answers(address: str) -> bool:
    try:
        with urllib.request.urlopen(f"http://{address}/v2/", timeout=1):
            return True
    except OSError:
        return False


def tags(registry: str, repository: str) -> list[str]:
    try:
        with urllib.request.urlopen(f"http://{registry}/v2/{repository}/tags/list") as answer:
            return list(json.load(answer).get("tags") or [])
    except urllib.error.HTTPError as error:
        if error.code == 404:
            return []
        raise
