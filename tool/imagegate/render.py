"""Render one Dockerfile per profile from the Jinja template; check committed ones are fresh.

A profile's values must never become instructions. Text written as a comment goes through
`comment`, which starts every line it makes with `# `; every value written into an
instruction must be one plain word (`_WORD`), or the render refuses the profile. The schema
refuses most bad values first, with the key that holds them; this is the last guard.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import textwrap
from dataclasses import dataclass
from pathlib import Path

from jinja2 import Environment, PackageLoader, StrictUndefined
from uv import find_uv_bin

from imagegate import lock, nvidia_runtime, references
from imagegate.errors import ProfileError
from imagegate.files import write_atomic
from imagegate.lock import Lock, lock_path
from imagegate.profiles import Profile
from imagegate.project import STATE, Project
from imagegate.smoke import (
    ENTRY,
    IN_IMAGE_DIR,
    OFFLINE,
    VENV_PYTHON,
    collector_args,
    has_models,
    model_args,
)
from imagegate.wheelhouse import PROTECTED, REST

_TEMPLATES = Environment(
    loader=PackageLoader("imagegate", "templates"),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
    autoescape=False,
)
BUILD_FACTS = "/opt/imagegate/build-facts.json"
BUILD_MODELS = "/opt/imagegate/build-models.json"
INSTALLER_DIR = f"{STATE}/installer"
"""In the build context: the uv that installs the wheels (see `place_installer`)."""
INSTALLER_MOUNT = "/opt/imagegate-installer"
"""Tiers 1-2 and tier 3 as the build's own smoke step found them (no GPU in a build)."""
_WORD = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+:/@\[\]-]*", re.ASCII)
"""What a profile may put into an instruction: no space, quote, backslash, `$` or line break."""


def comment(text: str, width: int | None = None) -> str:
    """`text` as the rest of a comment line: every line break it holds, or that wrapping at
    `width` makes, continues the comment on a new line that starts with `# `."""
    lines = text.splitlines() or [""]
    if width is not None:
        lines = [part for line in lines for part in textwrap.wrap(line, width) or [""]]
    return "\n# ".join(lines)


_TEMPLATES.filters["comment"] = comment


def render(profile: Profile, project: Project) -> dict[Path, str]:
    """Each file rendered for `profile`: its Dockerfile and that Dockerfile's .dockerignore."""
    _refuse_what_is_not_a_word(profile, project)
    offline = [f"{key}={value}" for key, value in OFFLINE.items()]
    command = ["/usr/bin/env", *offline, VENV_PYTHON, f"{IN_IMAGE_DIR}/{ENTRY}"]
    command += [*collector_args(profile, fail_on_broken=True), "--output", BUILD_FACTS]
    if has_models(profile):  # tier 3 beside tiers 1-2, in the same step
        command += ["--models-output", BUILD_MODELS]
        tier3 = [*model_args(profile, require_gpu=False), "--fail-on-broken"]
        command += [f"--model-arg={arg}" for arg in tier3]
    common = {
        "name": profile.name,
        "source": project.relative(profile.path),
        "wheelhouse": project.relative(project.wheelhouse_dir(profile.name)),
        "installer": INSTALLER_DIR,
    }
    lock_file = lock_path(profile)
    locked = Lock.read(lock_file) if lock_file.is_file() else None
    dockerfile = _TEMPLATES.get_template("Dockerfile.j2").render(
        **common,
        description=profile.description,
        base_image=profile.base.image,
        base_packages=profile.base.packages,
        lock_name=lock_file.name,
        lock_digest=f"sha256:{locked.sha256}" if locked else "none: not locked",
        version=locked.sha256[:12] if locked else "unlocked",
        require_cuda=nvidia_runtime.require_cuda(profile),
        groups=[PROTECTED, REST] if profile.protected else [REST],
        protected=list(profile.protected),
        smoke_dir=IN_IMAGE_DIR,
        python=VENV_PYTHON,
        smoke_command=json.dumps(command),
        models=has_models(profile),
        installer_mount=INSTALLER_MOUNT,
    )
    path = project.dockerfile(profile.name)
    ignore = _TEMPLATES.get_template("dockerignore.j2").render(**common)
    return {path: dockerfile, path.with_name(f"{path.name}.dockerignore"): ignore}


def _refuse_what_is_not_a_word(profile: Profile, project: Project) -> None:
    """Every profile value that lands inside an instruction, checked before any is written."""
    if (message := references.problem(profile.base.image)) is not None:
        raise ProfileError(f"{profile.path}: base.image: {message}")
    words: dict[str, list[str]] = {
        "the profile name (the file's name)": [profile.name],
        "the wheelhouse folder": [project.relative(project.wheelhouse_dir(profile.name))],
        "base.packages": list(profile.base.packages),
        "protected": list(profile.protected),
    }
    for key, values in words.items():
        for value in values:
            if _WORD.fullmatch(value) is None:
                raise ProfileError(
                    f"{profile.path}: {key}: {value!r} cannot be written into a Dockerfile "
                    "instruction (only letters, digits and _ . + : / @ -); rename it"
                )


@dataclass(frozen=True, kw_only=True)
class Rendered:
    profile: str
    path: Path
    """The Dockerfile; its .dockerignore sits beside it."""
    changed: bool
    stale_lock: str | None = None
    """Why the profile's lock no longer matches it (a missing lock is not stale here)."""


def write(profile: Profile, project: Project, *, check_only: bool = False) -> Rendered:
    """Render and write what changed; with `check_only`, only say whether anything did."""
    changed = False
    for path, text in render(profile, project).items():
        if path.is_file() and path.read_text(encoding="utf-8") == text:
            continue
        changed = True
        if not check_only:
            write_atomic(path, text)
    stale = lock.staleness(profile) if lock.lock_path(profile).is_file() else None
    return Rendered(
        profile=profile.name,
        path=project.dockerfile(profile.name),
        changed=changed,
        stale_lock=stale,
    )


def place_installer(project: Project) -> Path:
    """Put the uv this imagegate runs where the Dockerfiles mount it from (unchanged, it is
    not copied again: BuildKit keys the install layers on its bytes)."""
    source = Path(find_uv_bin())
    target = project.root / INSTALLER_DIR / "uv"
    known = target.stat() if target.is_file() else None
    here = source.stat()
    if known is None or (known.st_size, known.st_mtime_ns) != (here.st_size, here.st_mtime_ns):
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".uv.{os.getpid()}.tmp")
        shutil.copy2(source, partial)
        os.replace(partial, target)
    return target
