"""Where a project's parts live: profiles, rendered Dockerfiles, the wheelhouse."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

STATE = ".imagegate"


@dataclass(frozen=True, kw_only=True)
class Project:
    root: Path
    """The build context: holds profiles/, dockerfiles/, wheelhouse/ and smoke_tests/."""
    profiles: Path

    @classmethod
    def from_profiles(cls, profiles: Path) -> Project:
        profiles = profiles.resolve()
        return cls(root=profiles.parent, profiles=profiles)

    def dockerfile(self, name: str) -> Path:
        return self.root / "dockerfiles" / f"{name}.Dockerfile"

    def wheelhouse_dir(self, name: str) -> Path:
        return self.root / "wheelhouse" / name

    @property
    def state(self) -> Path:
        """imagegate's own bookkeeping (run locks); never committed."""
        return self.root / STATE

    def run_lock(self, name: str) -> Path:
        """The lock file held by every run that writes what belongs to profile `name`."""
        return self.state / "locks" / f"{name}.lock"

    def sbom(self, name: str) -> Path:
        """Where `gate` writes the SBOM of what it pushes for profile `name` unless told."""
        return self.state / "sbom" / f"{name}.cdx.json"

    def relative(self, path: Path) -> str:
        return path.resolve().relative_to(self.root).as_posix()
