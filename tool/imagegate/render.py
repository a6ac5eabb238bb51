"""Render one Dockerfile per profile from the Jinja template; check committed ones are fresh."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from jinja2 import Environment, PackageLoader, StrictUndefined

from imagegate.files import write_atomic
from imagegate.profiles import Profile
from imagegate.project import Project
from imagegate.smoke import ENTRY, IN_IMAGE_DIR, OFFLINE, VENV_PYTHON, collector_args

_TEMPLATES = Environment(
    loader=PackageLoader("imagegate", "templates"),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
    autoescape=False,
)
BUILD_FACTS = "/opt/imagegate/build-facts.json"


def render(profile: Profile, project: Project) -> dict[Path, str]:
    """Each file rendered for `profile`: its Dockerfile and that Dockerfile's .dockerignore."""
    offline = [f"{key}={value}" for key, value in OFFLINE.items()]
    command = ["/usr/bin/env", *offline, VENV_PYTHON, f"{IN_IMAGE_DIR}/{ENTRY}"]
    command += [*collector_args(profile, fail_on_broken=True), "--output", BUILD_FACTS]
    common = {
        "name": profile.name,
        "source": project.relative(profile.path),
        "wheelhouse": project.relative(project.wheelhouse_dir(profile.name)),
    }
    dockerfile = _TEMPLATES.get_template("Dockerfile.j2").render(
        **common,
        description=profile.description,
        base_image=profile.base.image,
        base_packages=profile.base.packages,
        protected_pins=profile.requirements(protected_only=True),
        pins=profile.requirements(),
        smoke_dir=IN_IMAGE_DIR,
        smoke_command=json.dumps(command),
    )
    path = project.dockerfile(profile.name)
    ignore = _TEMPLATES.get_template("dockerignore.j2").render(**common)
    return {path: dockerfile, path.with_name(f"{path.name}.dockerignore"): ignore}


@dataclass(frozen=True, kw_only=True)
class Rendered:
    profile: str
    path: Path
    """The Dockerfile; its .dockerignore sits beside it."""
    changed: bool


def write(profile: Profile, project: Project, *, check_only: bool = False) -> Rendered:
    """Render and write what changed; with `check_only`, only say whether anything did."""
    changed = False
    for path, text in render(profile, project).items():
        if path.is_file() and path.read_text(encoding="utf-8") == text:
            continue
        changed = True
        if not check_only:
            write_atomic(path, text)
    return Rendered(profile=profile.name, path=project.dockerfile(profile.name), changed=changed)
