"""The images imagegate itself built in a project, and from which inputs.

An image's labels and files were written by whoever built it, and every image built `FROM`
it inherits them: a child carries its parent's `org.imagegate.inputs` label. So the proof
that an image is one imagegate built from given inputs is kept here, when the build ends,
under the image ID the build itself reported (`docker build --iidfile`), sealed (`seal`).
Only such an image is left unbuilt when its inputs are unchanged. (The facts its build's
smoke step found leave that build as files and are in no image.)
"""

from __future__ import annotations

import time
from pathlib import Path

from imagegate import seal
from imagegate.profiles import Profile
from imagegate.project import Project

KEPT = 16
"""Images remembered per profile, the newest first."""


def _file(project: Project, profile: Profile) -> Path:
    return project.built(profile.name)


def remember(project: Project, profile: Profile, *, image_id: str, inputs: str) -> None:
    """Record that imagegate built `image_id` from `inputs` and its smoke step passed."""
    entry = {
        "image_id": image_id,
        "inputs": inputs,
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    seal.add(_file(project, profile), entry, unique="image_id", kept=KEPT)


def by_imagegate(project: Project, profile: Profile, *, image_id: str, inputs: str) -> bool:
    """Whether imagegate built `image_id` here from exactly `inputs` (a sealed record says so)."""
    return any(
        entry.get("image_id") == image_id and entry.get("inputs") == inputs
        for entry in seal.entries(_file(project, profile))
    )
