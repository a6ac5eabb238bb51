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


def render(profile: Profile, project: Project) -> str:
    offline = [f"{key}={value}" for key, value in OFFLINE.items()]
    command = ["/usr/bin/env", *offline, VENV_PYTHON, f"{IN_IMAGE_DIR}/{ENTRY}"]
    command += [*collector_args(profile, fail_on_broken=True), "--output", BUILD_FACTS]
    return _TEMPLATES.get_template("Dockerfile.j2").render(
        name=profile.name,
        source=project.relative(profile.path),
        description=profile.description,
        base_image=profile.base.image,
        base_packages=profile.base.packages,
        wheelhouse=project.relative(project.wheelhouse_dir(profile.name)),
        protected_pins=profile.requirements(protected_only=True),
        pins=profile.requirements(),
        smoke_dir=IN_IMAGE_DIR,
        smoke_command=json.dumps(command),
    )


@dataclass(frozen=True, kw_only=True)
class Rendered:
    profile: str
    path: Path
    changed: bool


def write(profile: Profile, project: Project, *, check_only: bool = False) -> Rendered:
    """Render and write the Dockerfile if it changed; with `check_only`, only say whether."""
    path = project.dockerfile(profile.name)
    text = render(profile, project)
    changed = not path.is_file() or path.read_text(encoding="utf-8") != text
    if changed and not check_only:
        write_atomic(path, text)
    return Rendered(profile=profile.name, path=path, changed=changed)
