"""The Python and platform an image runs, and which wheel tags fit it.

The host is never the target: a wheelhouse for a manylinux_2_36 cp311 image is built
the same on any machine. Tag logic is packaging's; this module only names the platforms.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property

from packaging.tags import Tag, compatible_tags, cpython_tags

PLATFORM = re.compile(r"^manylinux_(?P<major>\d+)_(?P<minor>\d+)_(?P<arch>x86_64|aarch64)$")
_LEGACY = {(2, 17): "manylinux2014", (2, 12): "manylinux2010", (2, 5): "manylinux1"}
PYTHON_VERSION = re.compile(r"^3\.\d{1,2}$")


_OCI_ARCHITECTURE = {"x86_64": "amd64", "aarch64": "arm64"}
"""A wheel platform's machine (packaging's tags name it as `uname -m` does) as an OCI image
config names it (Go's GOARCH)."""


def is_valid_platform(text: str) -> bool:
    return PLATFORM.match(text) is not None


@dataclass(frozen=True, kw_only=True)
class Platform:
    """What an image config says its binaries run on: OCI os, architecture and variant."""

    os: str
    architecture: str
    variant: str = ""

    def __str__(self) -> str:
        return "/".join(part for part in (self.os, self.architecture, self.variant) if part)


@dataclass(frozen=True, kw_only=True)
class Target:
    python: str
    """Major.minor of the image's interpreter, e.g. "3.11"."""
    platform: str
    """The newest manylinux the image's glibc supports, e.g. "manylinux_2_36_x86_64"."""

    @cached_property
    def arch(self) -> str:
        return self._match["arch"]

    @cached_property
    def _match(self) -> re.Match[str]:
        match = PLATFORM.match(self.platform)
        if match is None:
            raise ValueError(f"not a manylinux platform: {self.platform!r}")
        return match

    @cached_property
    def oci_platform(self) -> Platform:
        """The image platform whose binaries the target's wheels are: linux/amd64 for
        manylinux_2_36_x86_64, linux/arm64 for an aarch64 tag."""
        return Platform(os="linux", architecture=_OCI_ARCHITECTURE[self.arch])

    @cached_property
    def platforms(self) -> tuple[str, ...]:
        """Every platform tag the target accepts, best first (what pip's --platform needs)."""
        major, newest = int(self._match["major"]), int(self._match["minor"])
        names: list[str] = []
        for minor in range(newest, 4, -1):
            names.append(f"manylinux_{major}_{minor}_{self.arch}")
            legacy = _LEGACY.get((major, minor))
            if legacy and (self.arch == "x86_64" or minor >= 17):
                names.append(f"{legacy}_{self.arch}")
        names.append(f"linux_{self.arch}")
        return tuple(names)

    @cached_property
    def abi(self) -> str:
        return "cp" + self.python.replace(".", "")

    @cached_property
    def ranked_tags(self) -> tuple[Tag, ...]:
        """Every tag the target accepts, the one an installer prefers first."""
        version = tuple(int(part) for part in self.python.split("."))
        return (
            *cpython_tags(version, abis=[self.abi], platforms=self.platforms),
            *compatible_tags(version, interpreter=self.abi, platforms=self.platforms),
        )

    @cached_property
    def tags(self) -> frozenset[Tag]:
        return frozenset(self.ranked_tags)

    @cached_property
    def _rank(self) -> dict[Tag, int]:
        return {tag: rank for rank, tag in reversed(list(enumerate(self.ranked_tags)))}

    def accepts(self, tags: frozenset[Tag]) -> bool:
        return not tags.isdisjoint(self.tags)

    def preference(self, tags: frozenset[Tag]) -> int | None:
        """How much an installer wants a wheel with these tags (lower is better), or None
        when the target can't use it at all."""
        ranks = [self._rank[tag] for tag in tags if tag in self._rank]
        return min(ranks) if ranks else None

    @cached_property
    def uv_platform(self) -> str:
        """The target as uv's --python-platform names it, e.g. "x86_64-manylinux_2_36"."""
        return f"{self.arch}-manylinux_{self._match['major']}_{self._match['minor']}"
