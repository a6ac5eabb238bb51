"""The lock as a value: obtained once per command, handed down, written by `commit` alone.

The resolver is the one fake here (it would run uv): each test counts how often it ran.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path
from typing import Any

import pytest

from imagegate import building, render, shipping, transaction
from imagegate import resolver as resolvers
from imagegate.files import sha256
from imagegate.lock import Lock, inputs_digest, lock_path, on_disk, why_stale
from imagegate.profiles import Profile, load_profile
from imagegate.project import Project
from imagegate.resolver import prepare

from .test_lock import PROTECTED_CLOSURE, closure, lock_text, make_profile, write_lock

SHIPPED = Path(__file__).resolve().parents[2] / "profiles"


@pytest.fixture
def demo(tmp_path: Path) -> Profile:
    return make_profile(tmp_path / "profiles")


class Resolver:
    """Stands in for uv: gives the demo profile's closure, and counts the calls."""

    def __init__(self, profile: Profile) -> None:
        self.text = lock_text(
            *closure(),
            profile=profile.name,
            inputs=inputs_digest(profile),
            protected=PROTECTED_CLOSURE,
        )
        self.calls = 0

    def __call__(self, profile: Profile, *, upgrade: bool = False) -> str:
        self.calls += 1
        return self.text


@pytest.fixture
def resolver(demo: Profile, monkeypatch: pytest.MonkeyPatch) -> Resolver:
    fake = Resolver(demo)
    monkeypatch.setattr(resolvers, "resolve", fake)
    return fake


class NoDocker:
    """An engine that fails the test if anything asks it for anything."""

    def __getattr__(self, name: str) -> Any:
        pytest.fail(f"the engine was asked for {name}")


def test_the_gate_of_a_stale_lock_resolves_once_and_builds_nothing(
    demo: Profile, resolver: Resolver, tmp_path: Path
) -> None:
    stale = write_lock(demo, *closure(transformers="4.50.0"))
    before = stale.read_bytes()
    project = Project.from_profiles(demo.path.parent)

    gated = shipping.gate(
        demo, project, NoDocker(), push="127.0.0.1:5000/x:t", bom_file=tmp_path / "bom.json"
    )

    assert resolver.calls == 1
    assert not gated.pushed
    lock_row = next(f for f in gated.findings if f.check == "lock")
    assert lock_row.status.failed and "does not hold transformers==4.51.3" in lock_row.actual
    assert stale.read_bytes() == before  # a check writes no lock


def test_a_fresh_lock_in_hand_is_used_as_it_is(demo: Profile, resolver: Resolver) -> None:
    in_hand = Lock.parse(resolver.text.encode(), lock_path(demo))

    assert prepare(demo, in_hand) is in_hand
    assert resolver.calls == 0
    assert not lock_path(demo).exists()


def test_a_stale_lock_on_disk_is_resolved_once_and_not_written(
    demo: Profile, resolver: Resolver
) -> None:
    stale = write_lock(demo, *closure(torch="2.13.0"))
    before = stale.read_bytes()

    fresh = prepare(demo)

    assert resolver.calls == 1
    assert why_stale(demo, fresh) is None and not fresh.written
    assert stale.read_bytes() == before


def test_a_fresh_lock_on_disk_is_read_not_resolved(demo: Profile, resolver: Resolver) -> None:
    write_lock(demo, *closure())

    found = prepare(demo)

    assert resolver.calls == 0 and found.written
    assert found == on_disk(demo)


# --- commit: the one writer of a lock ---------------------------------------------------------


def test_commit_writes_a_new_lock_and_leaves_a_read_one_alone(
    demo: Profile, resolver: Resolver
) -> None:
    new = resolvers.relock(demo)
    assert not lock_path(demo).exists()  # resolving writes nothing

    committed = transaction.commit(new)

    assert committed.written
    assert lock_path(demo).read_text(encoding="utf-8") == new.text
    read = Lock.read(lock_path(demo))
    stat = lock_path(demo).stat()
    transaction.commit(read)
    assert (lock_path(demo).stat().st_ino, lock_path(demo).stat().st_mtime_ns) == (
        stat.st_ino,
        stat.st_mtime_ns,
    )


def _staged(wheelhouse: Path, wheel: str) -> None:
    folder = transaction.staging(wheelhouse) / "rest"
    folder.mkdir(parents=True)
    (folder / wheel).write_bytes(b"new")


def test_commit_puts_the_lock_and_the_staged_wheelhouse_in_place_together(
    demo: Profile, resolver: Resolver, tmp_path: Path
) -> None:
    wheelhouse = tmp_path / "wheelhouse" / "demo"
    (wheelhouse / "rest").mkdir(parents=True)
    (wheelhouse / "rest" / "old.whl").write_bytes(b"old")
    _staged(wheelhouse, "new.whl")

    transaction.commit(resolvers.relock(demo), wheelhouse)

    assert sorted(p.name for p in (wheelhouse / "rest").iterdir()) == ["new.whl"]
    assert lock_path(demo).read_text(encoding="utf-8") == resolver.text
    assert sorted(p.name for p in wheelhouse.parent.iterdir()) == ["demo"]  # nothing staged left


def test_a_commit_killed_after_its_mark_is_finished_by_the_next_run(
    demo: Profile, resolver: Resolver, tmp_path: Path
) -> None:
    wheelhouse = tmp_path / "wheelhouse" / "demo"
    _staged(wheelhouse, "new.whl")
    staged = transaction.staging(wheelhouse)
    (staged / transaction.STAGED_LOCK).write_text(resolver.text, encoding="utf-8")
    (staged / transaction.COMMITTED).write_text("", encoding="utf-8")
    assert transaction.committed(wheelhouse)

    transaction.recover(wheelhouse, lock_path(demo))

    assert (wheelhouse / "rest" / "new.whl").is_file()
    assert lock_path(demo).read_text(encoding="utf-8") == resolver.text
    assert not staged.exists() and not transaction.committed(wheelhouse)


def test_a_lock_moved_to_a_trial_folder_is_committed_there_only(
    demo: Profile, resolver: Resolver, tmp_path: Path
) -> None:
    write_lock(demo, *closure())
    before = lock_path(demo).read_bytes()
    trial = on_disk(demo).at(tmp_path / "trial" / "pylock.toml")  # type: ignore[union-attr]

    transaction.commit(trial)

    assert (tmp_path / "trial" / "pylock.toml").read_bytes() == before
    assert lock_path(demo).read_bytes() == before


# --- the build's inputs, digested from values -------------------------------------------------


def test_the_build_inputs_digested_from_values_are_the_files_digests(tmp_path: Path) -> None:
    shutil.copytree(SHIPPED, tmp_path / "profiles")
    (tmp_path / "smoke_tests").mkdir()
    (tmp_path / "smoke_tests" / "collect.py").write_text("print()\n", encoding="utf-8")
    project = Project.from_profiles(tmp_path / "profiles")
    profile = load_profile("cpu", project.profiles)
    lock = on_disk(profile)
    assert lock is not None

    rendered = render.write(profile, project, lock)
    digests = building.input_digests(project, lock, rendered.files)

    assert list(digests) == [
        project.dockerfile("cpu"),
        project.dockerignore("cpu"),
        lock_path(profile),
        project.smoke_tests / "collect.py",
    ]
    assert digests == {path: sha256(path) for path in digests}
    assert (
        digests[lock_path(profile)] == hashlib.sha256(lock_path(profile).read_bytes()).hexdigest()
    )
