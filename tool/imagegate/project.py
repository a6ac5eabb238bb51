"""Where a project's parts live: profiles and their locks, rendered Dockerfiles, the
wheelhouse, the in-image scripts of the build context, and imagegate's own state.

Every other module asks a `Project` for a path instead of joining one itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from imagegate.profiles import Profile

STATE = ".imagegate"
INSTALLER = f"{STATE}/installer"
"""Relative to the project's root: the uv that installs the wheels in a build."""
POOL = "trial-wheels"
"""In the state folder: every wheel a trial fetched (a wheel is known by its file name and
verified by its hash, whichever profile fetched it)."""


def lock_file(profile: Profile) -> Path:
    """The profile's lock: beside the profile it was made from, wherever that is."""
    return profile.path.with_name(f"pylock.{profile.name}.toml")


@dataclass(frozen=True, kw_only=True)
class Project:
    root: Path
    """The build context: holds profiles/, dockerfiles/, wheelhouse/ and smoke_tests/."""
    profiles: Path

    @classmethod
    def from_profiles(cls, profiles: Path) -> Project:
        profiles = profiles.resolve()
        return cls(root=profiles.parent, profiles=profiles)

    def lock(self, profile: Profile) -> Path:
        return lock_file(profile)

    def dockerfile(self, name: str) -> Path:
        return self.root / "dockerfiles" / f"{name}.Dockerfile"

    def dockerignore(self, name: str) -> Path:
        """The Dockerfile's own ignore file, beside it."""
        dockerfile = self.dockerfile(name)
        return dockerfile.with_name(f"{dockerfile.name}.dockerignore")

    def wheelhouse_dir(self, name: str) -> Path:
        return self.root / "wheelhouse" / name

    @property
    def smoke_tests(self) -> Path:
        """The in-image scripts in the build context (copied from the package)."""
        return self.root / "smoke_tests"

    @property
    def installer(self) -> Path:
        """The uv binary the Dockerfiles mount (see `render.place_installer`)."""
        return self.root / INSTALLER / "uv"

    @property
    def state(self) -> Path:
        """imagegate's own bookkeeping (run locks, records, verdicts); never committed."""
        return self.root / STATE

    def run_lock(self, name: str) -> Path:
        """The lock file held by every run that writes what belongs to profile `name`."""
        return self.state / "locks" / f"{name}.lock"

    def built(self, name: str) -> Path:
        """The sealed record of the images imagegate built for profile `name`."""
        return self.state / "built" / f"{name}.json"

    def verdicts(self, name: str) -> Path:
        """The sealed verdicts kept for profile `name`."""
        return self.state / "verdicts" / f"{name}.json"

    @property
    def layer_sizes(self) -> Path:
        """Compressed sizes of the layers of images measured (tier 4's cold start)."""
        return self.state / "layer-sizes.json"

    @property
    def pool(self) -> Path:
        """Wheels trials fetched, shared by the next ones."""
        return self.state / POOL

    def sbom(self, name: str) -> Path:
        """Where `gate` writes the SBOM of what it pushes for profile `name` unless told."""
        return self.state / "sbom" / f"{name}.cdx.json"

    def relative(self, path: Path) -> str:
        return path.resolve().relative_to(self.root).as_posix()
