"""The in-image smoke scripts as the package sees them: where they live, what to ask them.

The same arguments serve the Dockerfile's build step and a run against an existing image,
so what a build checks and what `verify` checks cannot drift apart.
"""

from __future__ import annotations

from importlib.resources import as_file, files
from pathlib import Path

from imagegate.profiles import Profile

IN_IMAGE_DIR = "/opt/imagegate/smoke_tests"
ENTRY = "collect.py"


def collector_args(profile: Profile, *, fail_on_broken: bool = False) -> list[str]:
    """Arguments for collect.py that ask for every fact and probe the profile names."""
    args = ["--all-distributions", "--timeout", f"{profile.probes.timeout:g}"]
    for module in profile.probes.imports:
        args += ["--import", module]
    for name, code in profile.probes.statements.items():
        args += ["--statement", f"{name}={code}"]
    for expression in profile.facts:
        args += ["--fact", expression]
    for module in profile.probes.exclude:
        args += ["--exclude", module]
    if fail_on_broken:
        args.append("--fail-on-broken")
    return args


def scripts_dir() -> Path:
    """The smoke_tests directory shipped with the package (or the source tree's, in development)."""
    with as_file(files("imagegate.smoke_tests")) as path:
        return Path(path)


def script_files() -> list[Path]:
    return sorted(scripts_dir().glob("*.py"))
