"""Real parts: the Docker engine, pip, the wheels; a project copied to a temp folder."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from imagegate import base
from imagegate.engine import Engine

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Run:
    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


def imagegate(*args: str, cwd: Path = ROOT, env: dict[str, str] | None = None) -> Run:
    """The CLI as a person runs it, in its own process."""
    done = subprocess.run(
        [sys.executable, "-m", "imagegate", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=3600,
    )
    return Run(done.returncode, done.stdout, done.stderr)


def findings(document: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(f["check"], f["subject"]): f for f in document["findings"]}


@pytest.fixture(scope="session")
def engine() -> Engine:
    return Engine()


@pytest.fixture(scope="session")
def base_image(engine: Engine) -> str:
    """The local Debian stand-in for python:3.11-slim-bookworm (no registry here)."""
    return base.make("bookworm", engine)


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Path]:
    """A copy of the shipped profiles in a fresh project folder (own wheelhouse, own images)."""
    shutil.copytree(ROOT / "profiles", tmp_path / "profiles")
    yield tmp_path


@pytest.fixture(scope="session")
def cpu_build(base_image: str) -> Run:
    """`imagegate build cpu` in the repository itself, as `make build-cpu` runs it."""
    return imagegate("build", "cpu", "--format", "json")


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real registry server (Debian's docker-registry) on 127.0.0.1, for pushes."""
    folder = tmp_path_factory.mktemp("registry")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
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
    )
    address = f"127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                with urllib.request.urlopen(f"http://{address}/v2/", timeout=1):
                    break
            except OSError:
                time.sleep(0.1)
        else:
            pytest.fail(f"docker-registry did not answer on {address}")
        yield address
    finally:
        server.terminate()
        server.wait(timeout=10)


def tags(registry: str, repository: str) -> list[str]:
    try:
        with urllib.request.urlopen(f"http://{registry}/v2/{repository}/tags/list") as answer:
            return list(json.load(answer).get("tags") or [])
    except urllib.error.HTTPError as error:
        if error.code == 404:
            return []
        raise
