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
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import InvalidVersion, Version

from imagegate import progress, runner
from imagegate.errors import EnvironmentProblem, ProfileError, UsageError
from imagegate.target import Target

PROBE_TIMEOUT = 10.0
DOWNLOAD_TIMEOUT = 3600.0
_HASH_MISMATCH = re.compile(r"DO NOT MATCH THE HASHES")
_MISMATCHED = re.compile(r"^\s+(\S+==\S+) from ", re.MULTILINE)
_NOT_FOUND = re.compile(r"No matching distribution found for (?P<requirement>\S+)")
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
    requirements: Path,
    *,
    dest: Path,
    target: Target,
    indexes: Mapping[str, str],
    sources: Mapping[NormalizedName, str],
    lock: Path,
    echo: bool,
) -> None:
    """Fetch exactly the hashed wheels of a requirements file for `target` into `dest`.

    Hash-checking mode and no dependencies: the lock already holds the whole closure, and
    a wheel counts only if its sha256 is the one locked, wherever pip found it. Which files
    arrived is for the caller to see in `dest` (the lock names them), not in pip's output.
    """
    args = [sys.executable, "-m", "pip", "download", "--dest", str(dest), "--progress-bar", "off"]
    args += ["--no-deps", "--require-hashes", "-r", str(requirements), "--find-links", str(dest)]
    args += target.pip_options()
    out_of_reach: dict[str, str] = {}
    for name in sorted(set(sources.values())):
        why = unreachable(indexes[name])
        if why is None:
            args += ["--extra-index-url", indexes[name]]
        else:
            out_of_reach[name] = why
    watch = _Fetching(requirements, dest)
    completed = runner.run(
        args, timeout=DOWNLOAD_TIMEOUT, echo=echo, prefix="  pip: ", watch=watch.line
    )
    if not completed.ok:
        raise _explain(completed, indexes, sources, out_of_reach, lock)


_DOWNLOADING = re.compile(
    r"^\s*Downloading (?P<file>\S+) \((?P<size>[\d.]+) (?P<unit>bytes|kB|MB|GB)\)"
)
_HAVE = re.compile(r"^\s*(?:Saved|File was already downloaded) (?P<path>\S+)")
_UNITS = {"bytes": 1, "kB": 10**3, "MB": 10**6, "GB": 10**9}


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
        if (started := _DOWNLOADING.match(text)) is not None:
            self.size = int(float(started["size"]) * _UNITS[started["unit"]])
            name = started["file"].rpartition("/")[2]
            task.update(f"{self.group}: {name} ({started['size']} {started['unit']})")
        elif (have := _HAVE.match(text)) is not None:
            self.done += 1
            self.nbytes, self.size = self.nbytes + self.size, 0
            name = Path(have["path"]).name
            task.update(f"{self.group}: {name}", done=self.done, nbytes=self.nbytes)


def _explain(
    completed: runner.Completed,
    indexes: Mapping[str, str],
    sources: Mapping[NormalizedName, str],
    out_of_reach: Mapping[str, str],
    lock: Path,
) -> Exception:
    output = completed.output
    if _HASH_MISMATCH.search(output):
        wheels = ", ".join(dict.fromkeys(_MISMATCHED.findall(output))) or "a wheel"
        return ProfileError(
            f"{lock}: {wheels}: the sha256 in the lock matches no wheel pip can find "
            "(edited by hand, or the wheel changed); run `imagegate lock` again"
        )
    missing = _NOT_FOUND.search(output)
    if missing is not None:
        text = missing["requirement"]
        name = canonicalize_name(Requirement(text).name)
        index = sources.get(name)
        if index is not None and index in out_of_reach:
            return index_out_of_reach(text, index, indexes[index], out_of_reach[index])
        if _NETWORK.search(output):
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


@dataclass(frozen=True, kw_only=True)
class UserSources:
    """Where the user's own pip configuration looks for packages (uv does not read it)."""

    index_url: str | None = None
    extra_index_urls: tuple[str, ...] = ()
    find_links: tuple[str, ...] = ()


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
        return [(str(key), str(value)) for key, value in configuration.items()]
    except (ImportError, AttributeError, TypeError):
        listed = runner.run([sys.executable, "-m", "pip", "config", "list"], timeout=PROBE_TIMEOUT)
        pairs = [line.partition("=") for line in listed.output.splitlines()]
        return [(key, raw.strip().strip("'\"")) for key, sep, raw in pairs if sep]


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


_AVAILABLE = re.compile(r"^Available versions: (?P<versions>.+)$", re.MULTILINE)


def versions(
    name: str, *, target: Target, indexes: Mapping[str, str], sources: Mapping[NormalizedName, str]
) -> list[Version]:
    """The releases of `name` that have a wheel for `target`, where pip looks (the user's
    configuration and the profile's index for it), newest first."""
    args = [sys.executable, "-m", "pip", "index", "versions", name, *target.pip_options()]
    index = sources.get(canonicalize_name(name))
    if index is not None and unreachable(indexes[index]) is None:
        args += ["--extra-index-url", indexes[index]]
    listed = runner.run(args, timeout=PROBE_TIMEOUT * 6)
    found = _AVAILABLE.search(listed.output)
    if found is None:
        if listed.ok or "No matching distribution" in listed.output:
            return []
        raise FetchProblem(f"pip index versions {name} failed: {listed.tail(1)}")
    parsed = []
    for text in found["versions"].split(","):
        try:
            parsed.append(Version(text.strip()))
        except InvalidVersion:
            continue
    return sorted(parsed, reverse=True)
