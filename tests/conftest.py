"""Markers by folder: everything under tests/integration/ needs the real Docker engine."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

INTEGRATION = Path(__file__).parent / "integration"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if INTEGRATION in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.docker)


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
