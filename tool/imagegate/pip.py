"""pip, run on the host to fetch wheels for a target that is not the host.

pip is used (not uv) because it honours the user's own pip configuration: a mirror or a
find-links folder that already holds the exact wheel is as good as the profile's index
(DESIGN.md, "Where wheels come from"). A profile's index that cannot be reached is only an
environment problem when no other source has the pinned wheel.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Mapping
from functools import cache
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from imagegate import installer, progress, runner
from imagegate.errors import EnvironmentProblem, ProfileError, UsageError
from imagegate.installer import UserSources
from imagegate.target import Target

PROBE_TIMEOUT = 10.0
DOWNLOAD_TIMEOUT = 3600.0


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
    requirements: Path,
    *,
    dest: Path,
    target: Target,
    indexes: Mapping[str, str],
    sources: Mapping[NormalizedName, str],
    default: str | None = None,
    lock: Path,
    echo: bool,
) -> None:
    """Fetch exactly the hashed wheels of a requirements file for `target` into `dest`.

    Hash-checking mode and no dependencies: the lock already holds the whole closure, and
    a wheel counts only if its sha256 is the one locked, wherever pip found it. Which files
    arrived is for the caller to see in `dest` (the lock names them), not in pip's output.
    """
    reach = installer.profile_indexes(indexes, sources.values(), unreachable, default=default)
    args = installer.download(requirements, dest=dest, target=target, indexes=reach)
    watch = _Fetching(requirements, dest)
    completed = runner.run(
        args, timeout=DOWNLOAD_TIMEOUT, echo=echo, prefix="  pip: ", watch=watch.line
    )
    if not completed.ok:
        raise _explain(completed, indexes, sources, reach.out_of_reach, lock)


class _Fetching:
    """pip's output read as progress: the file being fetched, how many of the lock's wheels
    are here, and the bytes downloaded (pip names each file's size as it starts it)."""

    def __init__(self, requirements: Path, dest: Path) -> None:
        lines = requirements.read_text(encoding="utf-8").splitlines()
        self.total = sum(1 for line in lines if line.strip() and not line.startswith(("#", "-")))
        self.group = dest.name
        self.done = 0
        self.nbytes = progress.current().nbytes or 0
        self.size = 0
        progress.current().update(self.group, done=0, total=self.total)

    def line(self, text: str) -> None:
        task = progress.current()
        if (started := installer.download_started(text)) is not None:
            self.size = started.nbytes
            task.update(f"{self.group}: {started.filename} ({started.size})")
        elif (name := installer.download_done(text)) is not None:
            self.done += 1
            self.nbytes, self.size = self.nbytes + self.size, 0
            task.update(f"{self.group}: {name}", done=self.done, nbytes=self.nbytes)


def _explain(
    completed: runner.Completed,
    indexes: Mapping[str, str],
    sources: Mapping[NormalizedName, str],
    out_of_reach: Mapping[str, str],
    lock: Path,
) -> Exception:
    output = completed.output
    if (mismatched := installer.hash_mismatch(output)) is not None:
        wheels = ", ".join(mismatched) or "a wheel"
        return ProfileError(
            f"{lock}: {wheels}: the sha256 in the lock matches no wheel pip can find "
            "(edited by hand, or the wheel changed); run `imagegate lock` again"
        )
    text = installer.not_found(output)
    if text is not None:
        name = canonicalize_name(Requirement(text).name)
        index = sources.get(name)
        if index is not None and index in out_of_reach:
            return index_out_of_reach(text, index, indexes[index], out_of_reach[index])
        if installer.network_failed(output):
            return FetchProblem(f"{text}: not found, and pip could not reach an index")
        return ProfileError(
            f"{lock}: packages.{name}: {text} is locked but no source has its wheel; "
            "run `imagegate lock` again"
        )
    return FetchProblem(f"pip download failed (exit {completed.returncode}): {completed.tail(1)}")


def index_out_of_reach(wanted: str, index: str, url: str, why: str) -> EnvironmentProblem:
    return EnvironmentProblem(
        f"{wanted}: not found; it must come from index {index!r} ({url}), which cannot be "
        f"reached from here ({why}); run where it is reachable, or put the exact wheel in a "
        "pip find-links folder"
    )


@cache
def user_sources() -> UserSources:
    """What `pip config list` shows (files and PIP_* variables), reduced to where it searches."""
    values: dict[str, list[str]] = {}
    for key, raw in _pip_configuration():
        option = key.rpartition(".")[2]
        values.setdefault(option, []).extend(raw.split())
    index = values.get("index-url", [])
    return UserSources(
        index_url=index[-1] if index else None,
        extra_index_urls=tuple(dict.fromkeys(values.get("extra-index-url", []))),
        find_links=tuple(dict.fromkeys(values.get("find-links", []))),
    )


def _pip_configuration() -> list[tuple[str, str]]:
    """pip's own configuration loader, in-process (what `pip config list` prints, 0.4 s
    faster); the `pip config list` subprocess where pip's internals have moved."""
    try:
        from pip._internal.configuration import Configuration
        from pip._internal.exceptions import ConfigurationError

        configuration = Configuration(isolated=False)
        try:
            configuration.load()
        except ConfigurationError as error:
            raise _unreadable_configuration(error) from None
        return installer.configuration_items(configuration.items())
    except (ImportError, AttributeError, TypeError):
        listed = runner.run(installer.config_list(), timeout=PROBE_TIMEOUT)
        return installer.configuration(listed.output)


def _unreadable_configuration(error: Exception) -> UsageError:
    """A pip configuration file the user wrote is malformed: name it (and the line) once.

    A UsageError, not a ProfileError: the preflight reads a ProfileError from resolving as
    a conflict between pins, and this is no fault of the profile's.
    """
    cause = getattr(error, "error", None) or error  # the configparser error, when there is one
    where = getattr(cause, "source", None) or getattr(error, "fname", None)
    line = getattr(cause, "lineno", None)
    reason = str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__
    at = f"{where}{f': line {line}' if line else ''}: " if where else ""
    return UsageError(
        f"{at}pip cannot read its configuration file ({reason}); fix the file, "
        "or point PIP_CONFIG_FILE at a valid one"
    )


def versions(
    name: str,
    *,
    target: Target,
    indexes: Mapping[str, str],
    sources: Mapping[NormalizedName, str],
    default: str | None = None,
) -> list[Version]:
    """The releases of `name` that have a wheel for `target`, where pip looks (the user's
    configuration and the profile's index for it), newest first."""
    index = sources.get(canonicalize_name(name))
    named = [] if index is None else [index]
    reach = installer.profile_indexes(indexes, named, unreachable, default=default)
    listed = runner.run(
        installer.index_versions(name, target=target, indexes=reach), timeout=PROBE_TIMEOUT * 6
    )
    found = installer.available_versions(listed.output)
    if found is None:
        if listed.ok or installer.no_distribution(listed.output):
            return []
        raise FetchProblem(f"pip index versions {name} failed: {listed.tail(1)}")
    return found
