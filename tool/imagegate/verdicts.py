"""Verdicts kept beside the project: a verdict is a fact about an image, a lock and a judge.

The key is everything the verdict depends on: the image's ID, the interpreter in it that
was judged, the lock's sha256, the profile as loaded (pins, invariants, facts, probes), the
in-image scripts' bytes, imagegate's own version and code, whether GPU steps were required
and whether GPUs were visible, and the worker's tests (tier 4) when there are any. Any
change to one is another key, so a changed probe, script, rule or lock is never served an
old verdict.

Only a verdict this user's imagegate reached, sealed (`seal`), on that very image ID, and
passing is ever served: the folder is the project's, and a CI cache, a branch or a person
may have written it.
"""

from __future__ import annotations

import functools
import hashlib
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from packaging.utils import NormalizedName, canonicalize_name

from imagegate import __version__, seal
from imagegate.files import sha256
from imagegate.findings import Finding, Status, passed
from imagegate.profiles import Profile
from imagegate.project import Project
from imagegate.scripts import script_files

KEPT = 16
"""Verdicts kept per profile: the newest first; older ones are forgotten."""


@dataclass(frozen=True, kw_only=True)
class Kept:
    findings: list[Finding]
    when: str
    """When the verdict was reached (UTC, ISO 8601)."""
    image: str
    installed: dict[NormalizedName, str]
    """What tier 1 found installed (name -> version): a reused verdict still has its SBOM."""


def key(
    profile: Profile,
    *,
    image_id: str,
    python: str,
    lock_sha256: str,
    require_gpu: bool,
    gpus: bool,
    worker_tests: str = "",
) -> str:
    scripts = {path.name: sha256(path) for path in script_files()}
    judged = replace(profile, path=Path(profile.name))  # where the file lives is no input
    inputs = {
        "image": image_id,
        "python": python,
        "lock": lock_sha256,
        "profile": repr(judged),
        "scripts": scripts,
        "imagegate": judge_digest(),
        "require_gpu": require_gpu,
        "gpus": gpus,
        "worker_tests": worker_tests,
    }
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()


@functools.cache
def judge_digest() -> str:
    """imagegate's version and the digest of its own code and data: a changed judge (a new
    rule in `verify`, a known issue added) is another key, released or not."""
    package = Path(__file__).parent
    digest = hashlib.sha256(__version__.encode())
    for path in sorted(p for p in package.rglob("*") if p.is_file() and p.suffix != ".pyc"):
        digest.update(path.relative_to(package).as_posix().encode() + b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _file(project: Project, profile: Profile) -> Path:
    return project.verdicts(profile.name)


def recall(project: Project, profile: Profile, wanted: str, *, image_id: str) -> Kept | None:
    """The verdict kept under `wanted`, served only when it is intact (sealed by this user's
    imagegate, see `seal`), was reached on `image_id`, and passed: a verdict that failed is
    never a reason to skip a judgement."""
    for entry in seal.entries(_file(project, profile)):
        if entry.get("key") != wanted or entry.get("image_id") != image_id:
            continue
        try:
            kept = Kept(
                findings=[_finding(row) for row in entry["findings"]],
                when=str(entry["when"]),
                image=str(entry["image"]),
                installed={canonicalize_name(n): str(v) for n, v in entry["installed"].items()},
            )
        except (ValueError, KeyError, TypeError, AttributeError):
            return None
        return kept if passed(kept.findings) else None
    return None


def keep(
    project: Project,
    profile: Profile,
    wanted: str,
    image: str,
    found: list[Finding],
    installed: Mapping[NormalizedName, str],
    *,
    image_id: str,
) -> str:
    """Remember a passing verdict reached on `image_id` and what the image holds; returns
    when it was reached. A verdict that did not pass is not kept."""
    when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    if not passed(found):
        return when
    entry = {
        "key": wanted,
        "when": when,
        "image": image,
        "image_id": image_id,
        "findings": [f.to_dict() for f in found],
        "installed": dict(sorted(installed.items())),
    }
    seal.add(_file(project, profile), entry, unique="key", kept=KEPT)
    return when


def _finding(row: dict[str, Any]) -> Finding:
    return Finding(**{**row, "status": Status(row["status"])})
