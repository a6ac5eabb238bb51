"""A project of the user's own, in any folder: what `imagegate init` writes there.

A profile extending a shipped one (its base, pins and probes come with imagegate), a GitHub
workflow that checks, builds and verifies it, and a pre-commit config that keeps profiles,
locks and Dockerfiles fresh. Nothing is written over: one file already there refuses the
whole start, before anything is written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from imagegate.errors import UsageError
from imagegate.files import write_atomic
from imagegate.render import TEMPLATES
from imagegate.shipped import shipped_names

DEFAULT_NAME = "app"
DEFAULT_PARENT = "cpu"
STARTERS = {
    "profiles/{name}.yaml": "init/profile.yaml.j2",
    ".github/workflows/imagegate.yml": "init/workflow.yml.j2",
    ".pre-commit-config.yaml": "init/pre-commit-config.yaml.j2",
}
"""Each file written (relative to the folder) and the template it is rendered from."""
_NAME = re.compile(r"[a-z0-9][a-z0-9_.-]*", re.ASCII)
"""A profile name that is also a lowercase image path component and a plain YAML word."""


@dataclass(frozen=True, kw_only=True)
class Started:
    folder: Path
    name: str
    parent: str
    written: tuple[Path, ...]


def start(folder: Path, *, name: str = DEFAULT_NAME, parent: str = DEFAULT_PARENT) -> Started:
    """Write the starter files into `folder` (made when missing) for profile `name`."""
    known = shipped_names()
    if parent not in known:
        raise UsageError(
            f"--from {parent}: no such shipped profile; pick one of: {', '.join(known)}"
        )
    if _NAME.fullmatch(name) is None:
        raise UsageError(
            f"--name {name!r}: a profile name is lowercase letters, digits, '.', '_' and '-', "
            "starting with a letter or digit"
        )
    if name == parent:
        raise UsageError(f"--name {name}: the name of the profile it extends; pick another")
    texts = {
        folder / path.format(name=name): TEMPLATES.get_template(template).render(
            name=name, parent=parent
        )
        for path, template in STARTERS.items()
    }
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"{folder}: is a file, not a folder; name a folder to start in")
    for path in texts:
        if path.exists():
            raise UsageError(
                f"{path}: exists already; init writes over nothing (move it away, or start "
                "in another folder)"
            )
    for path, text in texts.items():
        write_atomic(path, text)
    return Started(folder=folder, name=name, parent=parent, written=tuple(texts))
