"""Markers by folder (everything under tests/integration/ needs the real Docker engine), the
order files are handed to `make test`'s workers in, and the images a run leaves behind."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

INTEGRATION = Path(__file__).parent / "integration"
LONGEST_FIRST = (
    "test_worker.py",
    "test_repair.py",
    "test_foreign.py",
    "test_action.py",
    "test_build_cuda130.py",
    "test_doctor.py",
    "test_transaction.py",
    "test_bisect.py",
    "test_check.py",
)
"""Integration files that take minutes, handed out first: `make test` runs three workers,
each taking a whole file at a time (`--dist loadfile`, in this order), so the longest must not be
the last one started. The rest follow in the order collected."""
KEPT = ("imagegate-base:",)
"""Tags a run may make and leave: the Debian stand-ins (a minute of debootstrap each)."""
SWEEP: pytest.StashKey[set[str] | None] = pytest.StashKey()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if INTEGRATION in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.docker)

    def rank(item: pytest.Item) -> int:
        path = Path(str(item.fspath))
        if INTEGRATION in path.parents and path.name in LONGEST_FIRST:
            return LONGEST_FIRST.index(path.name)
        return len(LONGEST_FIRST)  # a unit test file of the same name is not the long one

    items.sort(key=rank)  # stable: the same order in every worker, as xdist requires


def image_tags() -> set[str] | None:
    """Every tagged image of the engine; None when there is no engine to ask."""
    try:
        listed = subprocess.run(
            ["docker", "images", "--format", "{{.Repository}}:{{.Tag}}"],
            capture_output=True,
            text=True,
            timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if listed.returncode != 0:
        return None
    return {tag for tag in listed.stdout.split() if "<none>" not in tag}


def _controller(config: pytest.Config) -> bool:
    """The process that runs the session: the only one under plain pytest, the one handing
    out files under xdist (its workers have `workerinput`)."""
    return not hasattr(config, "workerinput")


def pytest_sessionstart(session: pytest.Session) -> None:
    if _controller(session.config):
        session.config.stash[SWEEP] = image_tags()


def _stop(pid: Path) -> None:
    """The process whose pid the file holds, stopped and reaped (gone already: nothing)."""
    with contextlib.suppress(OSError, ValueError):
        number = int(pid.read_text(encoding="utf-8"))
        os.kill(number, signal.SIGTERM)
        for _ in range(100):
            with contextlib.suppress(ChildProcessError):  # not this process's child
                if os.waitpid(number, os.WNOHANG)[0]:
                    return  # this process's own (a run without workers started it)
            os.kill(number, 0)  # raises once it is gone
            time.sleep(0.1)
        os.kill(number, signal.SIGKILL)


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Every image the run tagged (in any worker, under any name) is removed once every worker
    has finished; tags that were there before the run are never touched."""
    if not _controller(session.config):
        return
    basetemp = session.config._tmp_path_factory.getbasetemp()  # type: ignore[attr-defined]
    for folder in basetemp.glob("shared-*"):  # what the workers shared (integration conftest)
        for pid in folder.glob("*.pid"):  # a server one of them started for the run
            _stop(pid)
        shutil.rmtree(folder, ignore_errors=True)
    before = session.config.stash.get(SWEEP, None)
    after = image_tags() if before is not None else None
    if before is None or after is None:
        return
    made = sorted(tag for tag in after - before if not tag.startswith(KEPT))
    if made:
        subprocess.run(["docker", "rmi", "--force", *made], capture_output=True, check=False)


@pytest.fixture(scope="session", autouse=True)
def state_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """imagegate's sealing key (and any other user state) and its caches (the wheel store,
    uv's cache) in a folder of the test session's own, never in the user's home; imagegate
    run as a subprocess inherits them. The folder is removed at the end (caches grow large)."""
    folder = tmp_path_factory.mktemp("home")
    names = {
        "XDG_STATE_HOME": str(folder / "state"),
        "XDG_CACHE_HOME": str(folder / "cache"),
        "UV_CACHE_DIR": str(folder / "uv"),
    }
    before = {name: os.environ.get(name) for name in names}
    os.environ.update(names)
    try:
        yield folder / "state"
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        shutil.rmtree(folder, ignore_errors=True)
