"""A profile that names its own index is locked with each wheel's URL there: a standard PEP 751
installer (uv) installs the committed lock on a machine with no wheelhouse, hashes checked.

The index is a real one on 127.0.0.1 (PEP 503 pages over HTTP), holding real wheels.
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import shutil
import subprocess
import sys
import threading
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import imagegate

WHEELS = {"six": "1.17.0", "idna": "3.10"}


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A simple index on 127.0.0.1 serving WHEELS; yields its URL and its files folder."""
    root = tmp_path_factory.mktemp("index")
    files = root / "files"
    pins = [f"{name}=={version}" for name, version in WHEELS.items()]
    download = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:"]
    fetched = subprocess.run(
        [*download, "--dest", str(files), *pins],
        capture_output=True,
        text=True,
    )
    assert fetched.returncode == 0, fetched.stderr[-2000:]
    for wheel in files.glob("*.whl"):
        project = root / "simple" / wheel.name.split("-")[0].lower()
        project.mkdir(parents=True)
        digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
        link = f'<a href="../../files/{wheel.name}#sha256={digest}">{wheel.name}</a>\n'
        (project / "index.html").write_text(link, encoding="utf-8")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/simple", files
    finally:
        server.shutdown()
        server.server_close()


def light(index: str) -> str:
    pins = "".join(f'  {name}: "{version}"\n' for name, version in WHEELS.items())
    return (
        "description: a profile with an index of its own\n"
        f"index: {index}\n"
        'target:\n  python: "3.11"\n  platform: manylinux_2_36_x86_64\n'
        "base:\n  image: python:3.11-slim-bookworm\n"
        f"pins:\n{pins}"
    )


def uv_install(lock: Path, folder: Path) -> subprocess.CompletedProcess[str]:
    """A fresh venv in `folder` and `uv pip install -r LOCK` into it, uv's cache unused."""
    venv = folder / "venv"
    made = subprocess.run([sys.executable, "-m", "uv", "venv", "-q", str(venv)], text=True)
    assert made.returncode == 0
    install = [sys.executable, "-m", "uv", "pip", "install", "--no-cache"]
    return subprocess.run(
        [*install, "--python", str(venv / "bin" / "python"), "-r", str(lock)],
        capture_output=True,
        text=True,
    )


@pytest.fixture(scope="module")
def locked(index: tuple[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    url, _ = index
    profiles = tmp_path_factory.mktemp("urls") / "profiles"
    profiles.mkdir()
    (profiles / "light.yaml").write_text(light(url), encoding="utf-8")
    run = imagegate("lock", "light", "--profiles", str(profiles))
    assert run.code == 0, run.stderr[-2000:]
    return profiles / "pylock.light.toml"


def test_each_wheel_is_locked_with_its_url_on_the_profiles_index(
    locked: Path, index: tuple[str, Path]
) -> None:
    url, _ = index
    served = url.removesuffix("/simple")
    wheels = [w for p in tomllib.loads(locked.read_text())["packages"] for w in p["wheels"]]
    assert sorted(w["name"].split("-")[0] for w in wheels) == sorted(WHEELS)
    for wheel in wheels:
        assert wheel["url"] == f"{served}/files/{wheel['name']}"
        assert "path" not in wheel  # a standard installer would take a path before the URL


def test_a_standard_installer_installs_the_lock_with_no_wheelhouse(
    locked: Path, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    lock = elsewhere / locked.name
    shutil.copy(locked, lock)  # the committed file alone: no wheelhouse beside it

    installed = uv_install(lock, tmp_path)

    assert installed.returncode == 0, installed.stderr[-2000:]
    python = tmp_path / "venv" / "bin" / "python"
    six = subprocess.run(
        [str(python), "-c", "import six; print(six.__version__)"], capture_output=True, text=True
    )
    assert six.stdout.strip() == WHEELS["six"]


def test_a_wheel_that_changed_on_the_index_is_refused_by_its_hash(
    locked: Path, index: tuple[str, Path], tmp_path: Path
) -> None:
    _, files = index
    wheel = next(files.glob("six-*.whl"))
    original = wheel.read_bytes()
    try:
        wheel.write_bytes(original + b"\0")  # the same name, other bytes
        installed = uv_install(locked, tmp_path)
    finally:
        wheel.write_bytes(original)

    assert installed.returncode != 0
    assert not list((tmp_path / "venv").glob("lib/python*/site-packages/six.py"))


def test_the_wheelhouse_is_filled_from_the_profiles_index(locked: Path) -> None:
    run = imagegate("wheelhouse", "light", "--profiles", str(locked.parent))

    assert run.code == 0, run.stderr[-2000:]
    names = {p.name.split("-")[0] for p in locked.parent.parent.glob("wheelhouse/light/*/*.whl")}
    assert names == set(WHEELS)


def test_an_index_of_its_own_that_cannot_be_reached_is_an_environment_problem(
    tmp_path: Path,
) -> None:
    probe = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    port = probe.server_address[1]
    probe.server_close()  # a port nothing listens on
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    (profiles / "light.yaml").write_text(light(f"http://127.0.0.1:{port}/simple"), "utf-8")

    run = imagegate("lock", "light", "--profiles", str(profiles))

    assert run.code == 3, run.stderr[-2000:]
    assert f"127.0.0.1:{port}" in run.stderr.strip().splitlines()[-1]
    assert not (profiles / "pylock.light.toml").exists()
