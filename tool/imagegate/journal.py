"""The repair journal: what `repair` records in an environment before it changes anything.

It lives in `PREFIX/.imagegate-repair/` while a repair runs and is removed when the repair
ends either way; one that is still there was left by a repair killed outright. `repair`
rolls it back; `repair --dry-run` and `doctor` only read it and say so.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from imagegate import runner
from imagegate.errors import EnvironmentProblem
from imagegate.files import write_atomic

FOLDER = ".imagegate-repair"
RECORD = "journal.json"
FILES = "files"
"""Beside the record: a copy of every file of each touched distribution, at its path from /."""


@dataclass(frozen=True, kw_only=True)
class Journal:
    folder: Path
    versions: Mapping[str, str]
    """Every distribution's version before the repair, by name."""
    targets: tuple[str, ...]
    """The distributions the repair uninstalls and installs again."""
    files: Mapping[str, tuple[str, ...]]
    """Each target that was installed: its files, as saved under FILES."""

    def restores(self) -> list[str]:
        """What a rollback puts back: each target as it was, or gone if it was missing."""
        return [
            f"{name} {self.versions[name]}" if name in self.versions else f"{name} (removed)"
            for name in self.targets
        ]

    def saved(self, path: str) -> Path:
        return self.folder / FILES / Path(path).relative_to("/")

    def write(self) -> None:
        state = {
            "versions": dict(self.versions),
            "targets": list(self.targets),
            "files": {name: list(paths) for name, paths in self.files.items()},
        }
        write_atomic(self.folder / RECORD, json.dumps(state, indent=1))


def folder(prefix: Path) -> Path:
    return prefix / FOLDER


def read(prefix: Path) -> Journal | None:
    """The journal a repair left in this environment, if any."""
    record = folder(prefix) / RECORD
    if not record.is_file():
        return None
    try:
        state = json.loads(record.read_text(encoding="utf-8"))
        return Journal(
            folder=folder(prefix),
            versions={str(k): str(v) for k, v in state["versions"].items()},
            targets=tuple(str(name) for name in state["targets"]),
            files={str(k): tuple(map(str, v)) for k, v in state["files"].items()},
        )
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise EnvironmentProblem(
            f"{record}: the repair journal is unreadable ({error}); the environment may be "
            "half-repaired: rebuild it"
        ) from None


def prefix(python: Path) -> Path:
    """The environment's sys.prefix, where its journal lives."""
    done = runner.run([python, "-c", "import sys; print(sys.prefix)"], timeout=60)
    if not done.ok:
        raise EnvironmentProblem(f"{python}: does not run: {done.tail(1)}")
    return Path(done.output.strip())
