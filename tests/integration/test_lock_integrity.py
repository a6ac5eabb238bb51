"""A lock is what imagegate wrote, or it is refused: by check, render --check, wheelhouse, build.

And it is portable: locking the same profile twice, from sources found differently (the
user's pip configuration or none of it), gives the same file.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest
from packaging.version import Version

from .conftest import REPOSITORY, imagegate

LOCK = "pylock.cpu.toml"


def zero_first_hash(text: str) -> str:
    return re.sub(r'sha256 = "[0-9a-f]{64}"', f'sha256 = "{"0" * 64}"', text, count=1)


def add_a_package(text: str) -> str:
    block = (
        '[[packages]]\nname = "six"\nversion = "1.16.0"\n\n[[packages.wheels]]\n'
        'name = "six-1.16.0-py2.py3-none-any.whl"\n'
        'path = "../wheelhouse/cpu/rest/six-1.16.0-py2.py3-none-any.whl"\n\n'
        '[packages.wheels.hashes]\nsha256 = "' + "1" * 64 + '"\n\n'
    )
    return text.replace("[[packages]]", block + "[[packages]]", 1)


EDITS = [
    pytest.param(zero_first_hash, id="a-hash-zeroed"),
    pytest.param(add_a_package, id="a-package-added"),
]
COMMANDS = [
    pytest.param(("check", "cpu"), id="check"),
    pytest.param(("render", "cpu", "--check"), id="render-check"),
    pytest.param(("wheelhouse", "cpu"), id="wheelhouse"),
    pytest.param(("constraints", "cpu"), id="constraints"),
]


@pytest.mark.parametrize("edit", EDITS)
@pytest.mark.parametrize("command", COMMANDS)
def test_a_lock_edited_by_hand_is_refused_in_one_line(
    project: Path, edit: Callable[[str], str], command: tuple[str, ...]
) -> None:
    lock = project / "profiles" / LOCK
    lock.write_text(edit(lock.read_text(encoding="utf-8")), encoding="utf-8")
    edited = lock.read_bytes()

    run = imagegate(*command, "--profiles", str(project / "profiles"))

    assert run.code == 2, run.stdout + run.stderr
    assert "Traceback" not in run.stderr
    last = run.stderr.strip().splitlines()[-1]
    assert last.startswith("imagegate: error: ") and LOCK in last
    assert "edited by hand" in last and last.endswith("run `imagegate lock cpu`")
    assert lock.read_bytes() == edited  # refused, not silently replaced
    assert not (project / "wheelhouse" / "cpu").exists()


@pytest.mark.docker
def test_build_refuses_an_edited_lock_before_it_builds(project: Path) -> None:
    lock = project / "profiles" / LOCK
    lock.write_text(zero_first_hash(lock.read_text(encoding="utf-8")), encoding="utf-8")

    run = imagegate(
        "build",
        "cpu",
        "--tag",
        f"{REPOSITORY}/edited:never",
        "--profiles",
        str(project / "profiles"),
    )

    assert run.code == 2, run.stderr[-2000:]
    assert "edited by hand" in run.stderr.strip().splitlines()[-1]
    assert not (project / "wheelhouse").exists()


LIGHT = """\
description: a light profile for the portability test
target:
  python: "3.11"
  platform: manylinux_2_36_x86_64
base:
  image: python:3.11-slim-bookworm
pins:
  requests: "2.32.3"
  six: "1.17.0"
"""


def test_the_same_profile_locks_to_the_same_file_wherever_wheels_were_found(
    tmp_path: Path,
) -> None:
    """Once with the machine's pip sources (local mirrors, find-links folders) and once with
    none of them (PyPI alone): the closure is the same, and so must be the file."""
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    (profiles / "light.yaml").write_text(LIGHT, encoding="utf-8")
    lock = profiles / "pylock.light.toml"

    here = imagegate("lock", "light", "--profiles", str(profiles))
    assert here.code == 0, here.stderr[-2000:]
    with_sources = lock.read_bytes()
    lock.unlink()
    bare = imagegate(
        "lock", "light", "--profiles", str(profiles), env={"PIP_CONFIG_FILE": "/dev/null"}
    )

    assert bare.code == 0, bare.stderr[-2000:]
    assert lock.read_bytes() == with_sources
    text = with_sources.decode()
    assert 'name = "urllib3"' in text  # the closure, not only the pins
    assert "file://" not in text and "/opt/" not in text and "url = " not in text


def locked_versions(lock: Path) -> dict[str, str]:
    raw = tomllib.loads(lock.read_text(encoding="utf-8"))
    return {package["name"]: package["version"] for package in raw["packages"]}


def test_a_relock_keeps_what_still_fits_and_upgrade_takes_the_newest(tmp_path: Path) -> None:
    """Bumping one pin moves that package; what was released upstream since the last lock
    comes only with --upgrade."""
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    profile = profiles / "light.yaml"
    lock = profiles / "pylock.light.toml"
    older = LIGHT.replace('six: "1.17.0"', 'six: "1.16.0"\n  urllib3: "2.2.1"')
    profile.write_text(older, encoding="utf-8")
    first = imagegate("lock", "light", "--profiles", str(profiles))
    assert first.code == 0, first.stderr[-2000:]
    assert locked_versions(lock)["urllib3"] == "2.2.1"

    profile.write_text(LIGHT, encoding="utf-8")  # six bumped, urllib3 no longer pinned
    bumped = imagegate("lock", "light", "--profiles", str(profiles))

    assert bumped.code == 0, bumped.stderr[-2000:]
    after = locked_versions(lock)
    assert after["six"] == "1.17.0"
    assert after["urllib3"] == "2.2.1"  # kept: it still fits

    upgraded = imagegate("lock", "light", "--upgrade", "--profiles", str(profiles))

    assert upgraded.code == 0, upgraded.stderr[-2000:]
    assert Version(locked_versions(lock)["urllib3"]) > Version("2.2.1")
