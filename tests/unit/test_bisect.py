"""bisect's planning: the changes between two locks, their order, and the search itself."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name
from packaging.version import Version

from imagegate.bisect import brought, changes, mix, order, requirement_names, search
from imagegate.lock import Lock, Locked, LockedWheel


def _lock(**versions: str) -> Lock:
    packages = {
        canonicalize_name(name): Locked(
            name=canonicalize_name(name),
            version=Version(version),
            wheels=(
                LockedWheel(filename=f"{name}-{version}-py3-none-any.whl", url="", sha256="0"),
            ),
            protected=False,
        )
        for name, version in versions.items()
    }
    return Lock(
        path=Path("pylock.toml"), profile="x", inputs="", packages=packages, sha256="", text=""
    )


def test_changes_and_mixes_between_two_locks() -> None:
    good = _lock(numpy="1.26.4", accelerate="1.6.0", six="1.16.0")
    bad = _lock(numpy="2.0.2", accelerate="1.6.0", pandas="2.0.3")
    found = changes(good, bad)
    assert [str(c) for c in found] == [
        "numpy 1.26.4 -> 2.0.2",
        "pandas (added 2.0.3)",
        "six (removed 1.16.0)",
    ]
    mixed = mix(good, bad, {canonicalize_name("pandas"), canonicalize_name("six")})
    assert {n: str(p.version) for n, p in mixed.items()} == {
        "accelerate": "1.6.0",
        "numpy": "1.26.4",
        "pandas": "2.0.3",
    }


def test_order_puts_what_a_package_needs_first_and_added_needs_come_along() -> None:
    good = _lock(numpy="1.26.4")
    bad = _lock(numpy="2.0.2", pandas="2.0.3", pytz="2024.1", tzdata="2024.1", zz="1.0")
    found = changes(good, bad)
    requires = {"pandas": {"numpy", "pytz", "tzdata"}, "tzdata": set(), "zz": {"pandas"}}
    assert [c.package for c in order(found, requires)] == [
        "numpy",
        "pytz",
        "tzdata",
        "pandas",
        "zz",
    ]
    assert brought({"zz"}, found, requires) == {"zz", "pandas", "pytz", "tzdata"}  # not numpy


def _judge(culprits: set[str], uninstallable: set[frozenset[str]] = frozenset()):  # type: ignore[no-untyped-def]
    asked: list[frozenset[str]] = []

    def fails(applied: frozenset[str]) -> bool | None:
        asked.append(applied)
        if applied in uninstallable:
            return None
        return culprits <= applied

    return fails, asked


@pytest.mark.parametrize("size", [2, 8, 16, 33])
def test_one_culprit_is_found_within_log2_n_plus_2_rounds(size: int) -> None:
    units = [f"p{i:02d}" for i in range(size)]
    for culprit in units:
        fails, asked = _judge({culprit})
        found = search(units, fails)
        assert found.culprits == (culprit,)
        assert len(asked) + 1 <= math.ceil(math.log2(size)) + 2  # +1: the bad lock itself


def test_a_pair_that_only_breaks_together_is_found_as_a_pair() -> None:
    units = ["accelerate", "numpy", "packaging", "filelock", "pytz", "tzdata", "pandas", "zz"]
    fails, asked = _judge({"numpy", "pandas"})
    found = search(units, fails)
    assert set(found.culprits) == {"numpy", "pandas"}
    assert found.last_good is not None and not {"numpy", "pandas"} <= found.last_good
    assert len(asked) == len(set(asked))  # no mix asked twice


def test_a_mix_that_cannot_be_installed_is_skipped_for_a_neighbour() -> None:
    units = [f"p{i}" for i in range(8)]
    blocked = {frozenset(units[:4]), frozenset(units[:5])}
    fails, asked = _judge({"p6"}, blocked)
    assert search(units, fails).culprits == ("p6",)
    assert frozenset(units[:4]) in asked  # asked, refused, and the search went on


def test_a_block_that_cannot_be_split_is_named_whole() -> None:
    units = ["a", "b", "c"]
    blocked = {frozenset({"a"}), frozenset({"a", "b"}), frozenset({"c"}), frozenset({"b"})}
    fails, _ = _judge({"b"}, blocked)
    found = search(units, fails)
    assert found.unsplit and set(found.culprits) == {"a", "b", "c"}


def test_requirement_names_follow_the_target_markers_and_skip_extras() -> None:
    metadata = (
        "Metadata-Version: 2.1\nName: pandas\nVersion: 2.0.3\n"
        "Requires-Dist: numpy>=1.23.2; python_version >= '3.11'\n"
        "Requires-Dist: tzdata>=2022.1\n"
        "Requires-Dist: pywin32; sys_platform == 'win32'\n"
        "Requires-Dist: pytest>=7; extra == 'test'\n"
    )
    env = {"python_version": "3.11", "sys_platform": "linux", "extra": ""}
    assert requirement_names(metadata, env) == {"numpy", "tzdata"}
