"""A fill takes a locked wheel from the user's wheel store, never one whose bytes differ from
the lock's sha256, and keeps what pip fetched there. pip is replaced by a stand-in that
copies from a folder (its own fetching is test_wheelhouse.py's, against a real index)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from imagegate import pip, wheel_store, wheelhouse
from imagegate.profiles import Profile
from tests.unit.test_lock import make_profile
from tests.unit.test_wheelhouse_memory import WHEEL, lock_for, real_wheel


@pytest.fixture
def profile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Profile:
    monkeypatch.setenv(wheel_store.STORE_ENV, str(tmp_path / "store"))
    return make_profile(tmp_path / "profiles", pins={"tokenizers": "0.21.1"}, protected=[])


def fetching_from(index: Path, asked: list[str]) -> Any:
    """pip's download as far as the fill sees it: the requirements' wheels land in `dest`."""

    def download(requirements: Path, *, dest: Path, **_: object) -> None:
        asked.extend(line.split("==")[0] for line in requirements.read_text().splitlines())
        for wheel in index.glob("*.whl"):
            shutil.copyfile(wheel, dest / wheel.name)

    return download


def test_a_stored_wheel_is_taken_and_pip_is_not_asked(
    profile: Profile, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    digest = real_wheel(tmp_path / WHEEL)
    stored = wheel_store.keep(tmp_path / WHEEL, digest) / WHEEL
    asked: list[str] = []
    monkeypatch.setattr(pip, "download", fetching_from(tmp_path / "none", asked))
    directory = tmp_path / "wheelhouse" / "demo"

    outcome = wheelhouse.fill(profile, lock_for(profile, digest), directory, echo=False)

    assert asked == []
    assert [(c.filename, c.reason) for c in outcome.fetched] == [(WHEEL, wheelhouse.STORED)]
    assert "fetched 1 (1 from the wheel store)" in outcome.summary
    taken = directory / "rest" / WHEEL
    assert taken.read_bytes() == stored.read_bytes()
    assert taken.stat().st_ino != stored.stat().st_ino  # a copy: neither can damage the other


def test_a_stored_wheel_with_other_bytes_is_dropped_and_fetched(
    profile: Profile, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (index := tmp_path / "index").mkdir()
    digest = real_wheel(index / WHEEL)
    stored = wheel_store.folder(digest) / WHEEL
    stored.parent.mkdir(parents=True)
    real_wheel(stored, payload=b"x = 2\n")  # same name and size, other bytes
    asked: list[str] = []
    monkeypatch.setattr(pip, "download", fetching_from(index, asked))
    directory = tmp_path / "wheelhouse" / "demo"

    outcome = wheelhouse.fill(profile, lock_for(profile, digest), directory, echo=False)

    assert asked == ["tokenizers"]
    assert [(c.filename, c.reason) for c in outcome.fetched] == [(WHEEL, "")]
    assert (directory / "rest" / WHEEL).read_bytes() == (index / WHEEL).read_bytes()
    assert stored.read_bytes() == (index / WHEEL).read_bytes()  # the store mended by the fetch


def test_what_pip_fetched_is_kept_in_the_store_for_the_next_project(
    profile: Profile, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (index := tmp_path / "index").mkdir()
    digest = real_wheel(index / WHEEL)
    asked: list[str] = []
    monkeypatch.setattr(pip, "download", fetching_from(index, asked))
    lock = lock_for(profile, digest)
    wheelhouse.fill(profile, lock, tmp_path / "first" / "demo", echo=False)
    assert asked == ["tokenizers"]
    (index / WHEEL).unlink()

    second = wheelhouse.fill(profile, lock, tmp_path / "second" / "demo", echo=False)

    assert asked == ["tokenizers"]  # not asked again
    assert [c.reason for c in second.fetched] == [wheelhouse.STORED]
    kept = wheel_store.folder(digest) / WHEEL
    assert kept.stat().st_ino != (tmp_path / "first" / "demo" / "rest" / WHEEL).stat().st_ino


def test_a_store_that_cannot_be_written_costs_only_the_next_fetch(
    profile: Profile, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (index := tmp_path / "index").mkdir()
    digest = real_wheel(index / WHEEL)
    (tmp_path / "store").write_text("a file where the store's folder would be\n")
    monkeypatch.setattr(pip, "download", fetching_from(index, []))
    directory = tmp_path / "wheelhouse" / "demo"

    outcome = wheelhouse.fill(profile, lock_for(profile, digest), directory, echo=False)

    assert [c.filename for c in outcome.fetched] == [WHEEL]
    assert (directory / "rest" / WHEEL).read_bytes() == (index / WHEEL).read_bytes()
