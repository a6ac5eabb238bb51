"""The wheelhouse remembers what it verified: an unchanged wheel is not read again, and any
change to one — a byte, a replacement with the same size and time, a cut — is still seen."""

from __future__ import annotations

import hashlib
import os
import zipfile
from pathlib import Path

import pytest

from imagegate import wheelhouse
from imagegate.lock import Lock
from imagegate.profiles import Profile
from tests.unit.test_lock import lock_text, make_profile

WHEEL = "tokenizers-0.21.1-py3-none-any.whl"


def real_wheel(path: Path, payload: bytes = b"x = 1\n") -> str:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("tokenizers/__init__.py", payload)
        archive.writestr("tokenizers-0.21.1.dist-info/METADATA", "Name: tokenizers\n")
    return hashlib.sha256(path.read_bytes()).hexdigest()


def lock_for(profile: Profile, digest: str) -> Lock:
    package = (
        f'[[packages]]\nname = "tokenizers"\nversion = "0.21.1"\n'
        f'wheels = [{{ name = "{WHEEL}", path = "{WHEEL}", hashes = {{ sha256 = "{digest}" }} }}]\n'
    )
    text = lock_text(package, profile=profile.name)
    return Lock.parse(text.encode(), profile.path.with_name("pylock.demo.toml"))


@pytest.fixture
def remembered(tmp_path: Path) -> tuple[Profile, Lock, Path]:
    profile = make_profile(tmp_path / "profiles", pins={"tokenizers": "0.21.1"}, protected=[])
    directory = tmp_path / "wheelhouse" / "demo"
    (directory / "rest").mkdir(parents=True)
    digest = real_wheel(directory / "rest" / WHEEL)
    lock = lock_for(profile, digest)
    wheelhouse._remember(directory, lock)
    return profile, lock, directory


def judged(profile: Profile, lock: Lock, directory: Path) -> tuple[set[str], list[str]]:
    ledger = wheelhouse._Ledger()
    usable = wheelhouse._validate_existing(profile, lock, directory, ledger)
    return usable, [change.reason for change in ledger.removed]


def test_a_remembered_wheel_is_not_read_again(
    remembered: tuple[Profile, Lock, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    profile, lock, directory = remembered

    def never(path: Path) -> str:
        raise AssertionError(f"{path} was hashed again")

    monkeypatch.setattr(wheelhouse, "sha256", never)

    assert judged(profile, lock, directory) == ({f"rest/{WHEEL}"}, [])


def test_a_changed_byte_behind_the_same_mtime_is_seen(
    remembered: tuple[Profile, Lock, Path],
) -> None:
    profile, lock, directory = remembered
    path = directory / "rest" / WHEEL
    before = path.stat()
    data = bytearray(path.read_bytes())
    data[40] ^= 0xFF  # inside the first member's data: still a zip, other bytes
    with path.open("r+b") as stream:  # in place: same inode
        stream.write(bytes(data))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert path.stat().st_size == before.st_size and path.stat().st_ino == before.st_ino

    usable, reasons = judged(profile, lock, directory)

    assert usable == set()
    assert reasons and ("sha256" in reasons[0] or "damaged" in reasons[0])


def test_a_replacement_with_the_same_size_and_time_is_seen(
    remembered: tuple[Profile, Lock, Path], tmp_path: Path
) -> None:
    profile, lock, directory = remembered
    path = directory / "rest" / WHEEL
    before = path.stat()
    other = tmp_path / "other.whl"
    real_wheel(other, payload=b"x = 2\n")  # the same size, other bytes
    assert other.stat().st_size == before.st_size
    os.utime(other, ns=(before.st_atime_ns, before.st_mtime_ns))
    os.replace(other, path)

    usable, reasons = judged(profile, lock, directory)

    assert usable == set()
    assert "its sha256 is not in the lock" in reasons[0]


def test_a_truncated_wheel_is_seen(remembered: tuple[Profile, Lock, Path]) -> None:
    profile, lock, directory = remembered
    path = directory / "rest" / WHEEL
    path.write_bytes(path.read_bytes()[:50])

    usable, reasons = judged(profile, lock, directory)

    assert usable == set()
    assert reasons[0].startswith("damaged")


def test_a_memory_that_is_not_json_is_ignored(remembered: tuple[Profile, Lock, Path]) -> None:
    profile, lock, directory = remembered
    (directory / wheelhouse.MEMORY).write_text("{not json", encoding="utf-8")

    assert judged(profile, lock, directory) == ({f"rest/{WHEEL}"}, [])
