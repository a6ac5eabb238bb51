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
import shlex
import shutil
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from jinja2 import Environment, PackageLoader, StrictUndefined
from packaging.utils import canonicalize_name
from uv import find_uv_bin

from imagegate import installer, nvidia_runtime, references
from imagegate.contract import (
    BUILD_FACTS,
    BUILD_MODELS,
    ENTRY,
    IN_IMAGE_DIR,
    INSTALLER_MOUNT,
    LOCK_LABEL,
    PROFILE_LABEL,
    PROTECTED,
    PYTHON_LABEL,
    REPORTS_STAGE,
    REQUIREMENTS,
    REST,
    SMOKE_STAGE,
    STACK_STAGE,
    VENV,
    VENV_PYTHON,
)
from imagegate.errors import ProfileError
from imagegate.files import write_atomic
from imagegate.lock import Lock, Locked, lock_path, why_stale
from imagegate.profiles import Profile
from imagegate.project import INSTALLER, Project
from imagegate.scripts import OFFLINE, beside_collector, collector_args, has_models, model_args

TEMPLATES = Environment(
    loader=PackageLoader("imagegate", "templates"),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
    autoescape=False,
)
_WORD = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+:/@\[\]-]*", re.ASCII)
"""What a profile may put into an instruction: no space, quote, backslash, `$` or line break."""


def comment(text: str, width: int | None = None) -> str:
    """`text` as the rest of a comment line: every line break it holds, or that wrapping at
    `width` makes, continues the comment on a new line that starts with `# `."""
    lines = text.splitlines() or [""]
    if width is not None:
        lines = [part for line in lines for part in textwrap.wrap(line, width) or [""]]
    return "\n# ".join(lines)


STEP_WIDTH = 102
"""Where a command in a RUN step wraps: the width the template's install steps have had."""


def command(args: list[str], indent: int = 6, width: int = STEP_WIDTH) -> str:
    """`args` (one of `installer`'s commands) as a shell command in a RUN step whose line
    starts `indent` columns in, wrapped before `width` where it can be: an option keeps its
    value on its line."""
    groups: list[str] = []
    for arg in args:
        word = shlex.quote(arg)
        if groups and not arg.startswith("-"):
            groups[-1] += f" {word}"
        else:
            groups.append(word)
    lines = [" " * indent + groups[0]]
    for group in groups[1:]:
        if len(lines[-1]) + len(f" {group} \\") > width:
            lines.append(" " * (indent + 2) + group)
        else:
            lines[-1] += f" {group}"
    return " \\\n".join(lines).removeprefix(" " * indent)


TEMPLATES.filters["comment"] = comment
TEMPLATES.filters["command"] = command


def render(profile: Profile, project: Project, locked: Lock | None) -> dict[Path, str]:
    """Each file rendered for `profile` from its lock (`locked`, None when it has none yet):
    its Dockerfile and that Dockerfile's .dockerignore."""
    _refuse_what_is_not_a_word(profile, project)
    offline = [f"{key}={value}" for key, value in OFFLINE.items()]
    command = ["/usr/bin/env", *offline, VENV_PYTHON, f"{IN_IMAGE_DIR}/{ENTRY}"]
    command += [*collector_args(profile, fail_on_broken=True), "--output", BUILD_FACTS]
    if has_models(profile):  # tier 3 beside tiers 1-2, in the same step
        command += ["--models-output", BUILD_MODELS]
        tier3 = [*model_args(profile, require_gpu=False), "--fail-on-broken"]
        command += beside_collector(tier3)
    common = {
        "name": profile.name,
        "source": project.relative(profile.path),
        "wheelhouse": project.relative(project.wheelhouse_dir(profile.name)),
        "installer": INSTALLER,
    }
    dockerfile = TEMPLATES.get_template("Dockerfile.j2").render(
        **common,
        description=profile.description,
        base_image=profile.base.image,
        base_packages=profile.base.packages,
        lock_name=lock_path(profile).name,
        lock_digest=f"sha256:{locked.sha256}" if locked else "none: not locked",
        version=locked.sha256[:12] if locked else "unlocked",
        require_cuda=nvidia_runtime.require_cuda(profile),
        layers=layers(profile, project, locked),
        smoke_dir=IN_IMAGE_DIR,
        python=VENV_PYTHON,
        smoke_command=json.dumps(command),
        models=has_models(profile),
        stages={"stack": STACK_STAGE, "smoke": SMOKE_STAGE, "reports": REPORTS_STAGE},
        reports=[BUILD_FACTS, *([BUILD_MODELS] if has_models(profile) else [])],
        installer_mount=INSTALLER_MOUNT,
        uv_runs=installer.image_uv_runs(INSTALLER_MOUNT),
        venv=VENV,
        labels={"python": PYTHON_LABEL, "profile": PROFILE_LABEL, "lock": LOCK_LABEL},
    )
    ignore = TEMPLATES.get_template("dockerignore.j2").render(**common)
    return {
        project.dockerfile(profile.name): dockerfile,
        project.dockerignore(profile.name): ignore,
    }


@dataclass(frozen=True, kw_only=True)
class Layer:
    """One install step of the Dockerfile: which wheels it mounts and what it installs."""

    name: str
    why: str
    """The comment above the step."""
    mounts: tuple[tuple[str, str], ...]
    """(source in the build context, target in the step)."""
    requirements: str
    """The requirements file the step installs (in a mounted folder, or written by the step
    from `lines`)."""
    lines: tuple[str, ...] = ()

    @property
    def wheels(self) -> str:
        return f"/wheels/{self.name}"

    @property
    def install(self) -> list[str]:
        """The step's install by imagegate's uv, mounted."""
        where = {"wheels": self.wheels, "requirements": self.requirements}
        return installer.image_install(INSTALLER_MOUNT, python=VENV_PYTHON, **where)

    @property
    def pip_install(self) -> list[str]:
        """The same by the image's pip, where that uv cannot run."""
        return installer.image_pip_install(wheels=self.wheels, requirements=self.requirements)


REQUIREMENTS_IN_STEP = "/tmp/imagegate-requirements.txt"
_REQUIREMENT = re.compile(r"[a-z0-9.-]+==[A-Za-z0-9.+!_-]+( --hash=sha256:[0-9a-f]{64})+", re.ASCII)


def layers(profile: Profile, project: Project, locked: Lock | None) -> list[Layer]:
    """The install steps, least often changed first: the protected closure (one folder),
    then the rest of the closure that nothing pins, then each pin in its own step in the
    order the profile lists them, so a bump reinstalls that pin and the ones after it only.

    A step other than the protected one mounts its wheels one file at a time: BuildKit keys
    a step on the bytes it mounts, so another pin's new wheel leaves it cached. Without a
    lock (nothing to split by), one step installs the rest group's folder."""
    wheelhouse = project.relative(project.wheelhouse_dir(profile.name))
    steps: list[Layer] = []
    if profile.protected:
        folder = (f"{wheelhouse}/{PROTECTED}", f"/wheels/{PROTECTED}")
        why = (
            f"The protected packages ({', '.join(profile.protected)}) and their closure, in a "
            "layer of their own: a change to a lighter pin leaves it cached."
        )
        steps.append(_folder_step(PROTECTED, why, folder))
    if locked is None:
        folder = (f"{wheelhouse}/{REST}", f"/wheels/{REST}")
        return [*steps, _folder_step(REST, "Everything else in the lock.", folder)]
    rest = [package for package in locked.packages.values() if not package.protected]
    pinned = [canonicalize_name(name) for name in profile.pins]
    unpinned = [package for package in rest if package.name not in pinned]
    if unpinned:
        why = "What the pins need and nothing pins: it changes less often than the pins."
        steps.append(_files_step("deps", why, unpinned, wheelhouse))
    for name in pinned:
        package = locked.packages.get(name)
        if package is not None and not package.protected:
            why = f"The pin {name}, in a step of its own."
            steps.append(_files_step(f"pin-{name}", why, [package], wheelhouse))
    return steps


def _folder_step(name: str, why: str, folder: tuple[str, str]) -> Layer:
    return Layer(name=name, why=why, mounts=(folder,), requirements=f"{folder[1]}/{REQUIREMENTS}")


def _files_step(name: str, why: str, packages: list[Locked], wheelhouse: str) -> Layer:
    mounts = tuple(
        (f"{wheelhouse}/{REST}/{wheel.filename}", f"/wheels/{name}/{wheel.filename}")
        for package in packages
        for wheel in package.wheels
    )
    lines = tuple(package.requirement() for package in packages)
    # From the lock, but each must stay one word of the instruction (a quoted one for lines).
    written = [(line, _REQUIREMENT) for line in lines]
    written += [(source, _WORD) for source, _ in mounts]
    for text, shape in written:
        if shape.fullmatch(text) is None:
            raise ProfileError(f"{name}: {text!r} cannot be written into a Dockerfile step")
    return Layer(name=name, why=why, mounts=mounts, requirements=REQUIREMENTS_IN_STEP, lines=lines)


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
    files: Mapping[Path, str] = field(default_factory=dict)
    """What each file rendered holds (what was written, or would be)."""


def write(
    profile: Profile, project: Project, locked: Lock | None, *, check_only: bool = False
) -> Rendered:
    """Render and write what changed; with `check_only`, only say whether anything did."""
    changed = False
    files = render(profile, project, locked)
    for path, text in files.items():
        if path.is_file() and path.read_text(encoding="utf-8") == text:
            continue
        changed = True
        if not check_only:
            write_atomic(path, text)
    stale = why_stale(profile, locked) if locked is not None else None
    return Rendered(
        profile=profile.name,
        path=project.dockerfile(profile.name),
        changed=changed,
        stale_lock=stale,
        files=files,
    )


def place_installer(project: Project) -> Path:
    """Put the uv this imagegate runs where the Dockerfiles mount it from (unchanged, it is
    not copied again: BuildKit keys the install layers on its bytes)."""
    source = Path(find_uv_bin())
    target = project.installer
    known = target.stat() if target.is_file() else None
    here = source.stat()
    if known is None or (known.st_size, known.st_mtime_ns) != (here.st_size, here.st_mtime_ns):
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".uv.{os.getpid()}.tmp")
        shutil.copy2(source, partial)
        os.replace(partial, target)
    return target
