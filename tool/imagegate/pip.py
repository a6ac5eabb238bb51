"""pip, run on the host to fetch wheels for a target that is not the host.

pip is used (not uv) because it honours the user's own pip configuration: a mirror or a
find-links folder that already holds the exact wheel is as good as the profile's index
(DESIGN.md, "Where wheels come from"). A profile's index that cannot be reached is only an
environment problem when no other source has the pinned wheel.
"""

from __future__ import annotations

import re
import sys
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name

from imagegate import runner
from imagegate.errors import EnvironmentProblem, ProfileError
from imagegate.target import Target

PROBE_TIMEOUT = 10.0
DOWNLOAD_TIMEOUT = 3600.0
_RESOLVED = re.compile(
    r"^\s*(?:Saved|File was already downloaded) (?P<path>\S+\.whl)$", re.MULTILINE
)
_NOT_FOUND = re.compile(r"No matching distribution found for (?P<requirement>\S+)")
_CONFLICT = re.compile(r"^\s*(The conflict is caused by:|ResolutionImpossible)", re.MULTILINE)
_NETWORK = re.compile(r"(Could not fetch URL|NewConnectionError|Max retries exceeded|SSLError)")


class FetchProblem(EnvironmentProblem):
    """pip could not produce the wheels (network, or a fetched file that is unusable)."""


@cache
def unreachable(url: str) -> str | None:
    """Why the index at `url` can't be reached from here, or None when it answers."""
    if url.startswith("file://"):
        return None if Path(url.removeprefix("file://")).is_dir() else "no such folder"
    try:
        with urllib.request.urlopen(url.rstrip("/") + "/", timeout=PROBE_TIMEOUT):
            return None
    except urllib.error.HTTPError as error:
        return None if error.code < 500 else f"HTTP {error.code}"
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        return str(reason) or type(error).__name__


def download(
    requirements: Sequence[str],
    *,
    constraints: Sequence[str],
    dest: Path,
    target: Target,
    find_links: Sequence[Path],
    indexes: Mapping[str, str],
    sources: Mapping[NormalizedName, str],
    echo: bool,
) -> set[str]:
    """Download `requirements` and their closure as wheels for `target` into `dest`.

    Returns the file names of the closure: what pip saved, and what it found already there.

    `constraints` (the profile's other pins) hold for the whole closure, so a dependency of
    one group (numpy under torchvision) is the version the profile pins, not the newest.
    A pin is never also a constraint: pip would then report a missing version as a conflict.
    """
    constraints_file = dest.with_name(f".{dest.name}.constraints.txt")
    constraints_file.write_text("".join(f"{line}\n" for line in constraints), encoding="utf-8")
    args = [sys.executable, "-m", "pip", "download", "--dest", str(dest), "--progress-bar", "off"]
    args += ["--constraint", str(constraints_file)]
    args += target.pip_options()
    for folder in find_links:
        args += ["--find-links", str(folder)]
    out_of_reach: dict[str, str] = {}
    for name, url in indexes.items():
        if name not in sources.values():
            continue
        why = unreachable(url)
        if why is None:
            args += ["--extra-index-url", url]
        else:
            out_of_reach[name] = why
    completed = runner.run(
        [*args, *requirements], timeout=DOWNLOAD_TIMEOUT, echo=echo, prefix="  pip: "
    )
    if completed.ok:
        return {Path(match["path"]).name for match in _RESOLVED.finditer(completed.output)}
    raise _explain(completed, indexes, sources, out_of_reach)


def _explain(
    completed: runner.Completed,
    indexes: Mapping[str, str],
    sources: Mapping[NormalizedName, str],
    out_of_reach: Mapping[str, str],
) -> Exception:
    output = completed.output
    missing = _NOT_FOUND.search(output)
    if missing is not None:
        text = missing["requirement"]
        name = canonicalize_name(Requirement(text).name)
        index = sources.get(name)
        if index is not None and index in out_of_reach:
            return EnvironmentProblem(
                f"{text}: not found; it must come from index {index!r} ({indexes[index]}), "
                f"which cannot be reached from here ({out_of_reach[index]}); "
                "run where it is reachable, or put the exact wheel in a pip find-links folder"
            )
        if _NETWORK.search(output):
            return FetchProblem(
                f"{text}: not found, and pip could not reach its index; check the network"
            )
        where = f"index {index!r}" if index else "the configured package indexes"
        return ProfileError(
            f"pins.{name}: {text} has no wheel for this target on {where}; "
            "pick a version that exists there"
        )
    if _CONFLICT.search(output):
        lines = [line.strip() for line in output.splitlines() if " depends on " in line]
        detail = "; ".join(dict.fromkeys(lines)) or "see pip's output above"
        return ProfileError(f"pins: the pins cannot be installed together: {detail}")
    return FetchProblem(f"pip download failed (exit {completed.returncode}): {completed.tail(1)}")
