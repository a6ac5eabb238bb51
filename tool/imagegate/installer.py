"""The installers' command lines, and what their output says.

Every uv and pip command imagegate runs is built here, and every line of their human
output imagegate reads is read here, each reading by a function of its own that the unit
tests check on output recorded from the real tools (tests/unit/recorded). Building a
command is pure; running it is `runner`'s, and deciding what a reading means is the
caller's. A profile's indexes join a command through one function (`profile_indexes`).

uv resolves and installs (fast, and it resolves for a target that is not the host); pip
fetches, because it honours the user's own pip configuration (pip.py says why).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.version import InvalidVersion, Version

from imagegate.errors import EnvironmentProblem
from imagegate.target import Target

UV = (sys.executable, "-m", "uv", "pip")
PIP = (sys.executable, "-m", "pip")
UV_BINARY = "uv"
"""The file name of the uv binary a Dockerfile step mounts (render puts it there)."""
HASHED_WHEELS_ONLY = ("--no-index", "--no-deps", "--require-hashes", "--only-binary=:all:")
"""An install of exactly the locked wheels, by hash, from local folders only."""


# -- where packages come from --------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class UserSources:
    """Where the user's own pip configuration looks for packages (uv does not read it)."""

    index_url: str | None = None
    extra_index_urls: tuple[str, ...] = ()
    find_links: tuple[str, ...] = ()

    def options(self) -> list[str]:
        """The same sources as uv's options."""
        args = ["--index-url", self.index_url] if self.index_url else []
        for url in self.extra_index_urls:
            args += ["--extra-index-url", url]
        for link in self.find_links:
            args += ["--find-links", link]
        return args


@dataclass(frozen=True, kw_only=True)
class Indexes:
    """A profile's indexes as a command's options: the reachable ones, and why the others
    are not (a missing package from one of those is an environment problem)."""

    options: tuple[str, ...]
    out_of_reach: Mapping[str, str]
    default: str | None = None
    """The profile's own default index (its `index:`), when it names one: it replaces PyPI
    and the user's pip sources, so where a wheel comes from is the profile's word alone."""


def profile_indexes(
    indexes: Mapping[str, str],
    names: Iterable[str],
    unreachable: Callable[[str], str | None],
    *,
    default: str | None = None,
) -> Indexes:
    """The profile's indexes `names` (keys of `indexes`) that `unreachable` finds answering,
    each as an extra index, after its `default` index (`index:`) if it names one: the one
    place a profile's index joins a command."""
    options: list[str] = []
    out_of_reach: dict[str, str] = {}
    if default is not None:
        why = unreachable(default)
        if why is not None:
            raise EnvironmentProblem(
                f"index {default} cannot be reached ({why}): the profile's `index:` serves "
                "every package it does not source elsewhere; run where it is reachable"
            )
        options += ["--index-url", default]
    for name in sorted(set(names)):
        why = unreachable(indexes[name])
        if why is None:
            options += ["--extra-index-url", indexes[name]]
        else:
            out_of_reach[name] = why
    return Indexes(options=tuple(options), out_of_reach=out_of_reach, default=default)


def target_options(target: Target) -> list[str]:
    """The options that make pip choose wheels for this target rather than the host."""
    options = ["--only-binary=:all:", "--python-version", target.python]
    options += ["--implementation", "cp", "--abi", target.abi, "--abi", "abi3", "--abi", "none"]
    for platform in target.platforms:
        options += ["--platform", platform]
    return options


# -- commands --------------------------------------------------------------------------------


def compile_lock(
    source: Path,
    output: Path,
    *,
    target: Target,
    constraints: Path | None,
    user: UserSources,
    indexes: Indexes,
) -> list[str]:
    """`uv pip compile` of a requirements file into a pylock.toml for `target`: wheels only,
    the best match across every index (a profile's index holds only some versions)."""
    args = [*UV, "compile", str(source), "-o", str(output)]
    args += ["--format", "pylock.toml", "--quiet", "--only-binary", ":all:"]
    args += ["--python", sys.executable]  # a base for uv, not the target: never fetch a Python
    args += ["--python-version", target.python]
    args += ["--python-platform", target.uv_platform]
    args += ["--index-strategy", "unsafe-best-match"]
    if constraints is not None:
        args += ["--constraints", str(constraints)]
    own = indexes.default is not None  # the profile's index replaces the user's sources
    return [*args, *([] if own else user.options()), *indexes.options]


def download(requirements: Path, *, dest: Path, target: Target, indexes: Indexes) -> list[str]:
    """`pip download` of exactly the hashed wheels of a requirements file, for `target`."""
    args = [*PIP, "download", "--dest", str(dest), "--progress-bar", "off"]
    args += ["--no-deps", "--require-hashes", "-r", str(requirements), "--find-links", str(dest)]
    return [*args, *target_options(target), *indexes.options]


def index_versions(name: str, *, target: Target, indexes: Indexes) -> list[str]:
    """`pip index versions`: the releases of `name` with a wheel for `target`."""
    return [*PIP, "index", "versions", name, *target_options(target), *indexes.options]


def config_list() -> list[str]:
    """`pip config list`: the user's pip configuration, one `key='value'` a line."""
    return [*PIP, "config", "list"]


def make_venv(venv: Path) -> list[str]:
    """A venv of the running Python without pip (uv installs into it)."""
    return [sys.executable, "-m", "venv", "--without-pip", str(venv)]


def install(
    python: Path, *, find_links: Sequence[str | Path], requirements: Sequence[Path]
) -> list[str]:
    """`uv pip install` of hash-pinned requirements into the environment of `python`, from
    the folders `find_links` only (uv's cache makes a repeat install of torch a matter of
    links, not unzips)."""
    args = [*UV, "install", "--python", str(python), *HASHED_WHEELS_ONLY]
    for folder in find_links:
        args += ["--find-links", str(folder)]
    for path in requirements:
        args += ["-r", str(path)]
    return args


def sync(
    python: Path,
    *,
    find_links: Sequence[str | Path],
    requirements: Sequence[Path],
    reinstall: Iterable[str] = (),
) -> list[str]:
    """`uv pip sync`: the environment of `python` made exactly the hash-pinned requirements
    (what else is there is removed), from the folders `find_links` only. uv keeps what is
    installed at the version asked without looking at its hashes: a distribution that must
    come from another wheel of the same version is named in `reinstall`."""
    args = [*UV, "sync", "--python", str(python)]
    args += [option for option in HASHED_WHEELS_ONLY if option != "--no-deps"]  # sync has none
    for folder in find_links:
        args += ["--find-links", str(folder)]
    for name in reinstall:
        args += ["--reinstall-package", name]
    return [*args, *map(str, requirements)]


def uninstall(python: Path, name: str) -> list[str]:
    return [*UV, "uninstall", "--python", str(python), name]


def image_uv_runs(mount: str) -> list[str]:
    """Whether the uv mounted at `mount` in a Dockerfile step runs in the image."""
    return [f"{mount}/{UV_BINARY}", "--version"]


def image_install(mount: str, *, python: str, wheels: str, requirements: str) -> list[str]:
    """A Dockerfile step's install by the uv mounted at `mount`: bytecode compiled as pip
    would, no cache in the image. Files are hard-linked from the step's own temporary
    cache, which is gone when the step ends (`--link-mode=copy` wrote every file twice:
    5 s more of the cpu stack's 30 s cold build)."""
    args = [f"{mount}/{UV_BINARY}", "pip", "install", "--python", python, "--no-cache"]
    args += ["--compile-bytecode", *HASHED_WHEELS_ONLY]
    return [*args, "--find-links", wheels, "-r", requirements]


def image_pip_install(*, wheels: str, requirements: str) -> list[str]:
    """The same step by the image's own pip, where the mounted uv cannot run."""
    return ["pip", "install", *HASHED_WHEELS_ONLY, "--find-links", wheels, "-r", requirements]


def named(args: Sequence[str]) -> str:
    """How a message names a command built here: "uv pip install", "pip download"."""
    if tuple(args[: len(UV)]) == UV:
        return f"uv pip {args[len(UV)]}"
    if tuple(args[: len(PIP)]) == PIP:
        return f"pip {args[len(PIP)]}"
    return Path(args[0]).name


# -- reading uv ------------------------------------------------------------------------------

_NO_VERSION = re.compile(r"there is no version of (?P<name>[A-Za-z0-9._-]+)(?P<spec>\S*)")
_CAUSE = re.compile(r"^\s*(?:cause: )?(?P<text>(?:Because|And because) .*)$")
_UNREACHABLE = ("error resolving DNS", "Could not connect", "client error (Connect)")
"""How uv says it could not connect (its wording has changed; all it has used are here)."""


@dataclass(frozen=True, kw_only=True)
class Missing:
    """A requirement the resolver found no version of."""

    name: str
    spec: str

    def __str__(self) -> str:
        return f"{self.name}{self.spec}"


def missing_version(output: str) -> Missing | None:
    """The requirement uv's resolution failed on for want of a version, if that was why."""
    found = _NO_VERSION.search(output)
    return None if found is None else Missing(name=found["name"], spec=found["spec"])


def conflict(output: str) -> list[str]:
    """uv's explanation of requirements that cannot be installed together, sentence by
    sentence (empty when that was not why it failed)."""
    return [m["text"].strip() for line in output.splitlines() if (m := _CAUSE.match(line))]


def index_unreachable(output: str) -> bool:
    """Whether uv failed because it could not connect to an index."""
    return any(text in output for text in _UNREACHABLE)


def not_installed(output: str) -> bool:
    """Whether `uv pip uninstall` failed only because the package was not there."""
    return "not installed" in output.lower()


def last_line(output: str) -> str:
    """The last line that says anything: where uv and pip put the reason they stopped."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


# -- reading pip -----------------------------------------------------------------------------

_HASH_MISMATCH = re.compile(r"DO NOT MATCH THE HASHES")
_MISMATCHED = re.compile(r"^\s+(\S+==\S+) from ", re.MULTILINE)
_NOT_FOUND = re.compile(r"No matching distribution found for (?P<requirement>\S+)")
_NETWORK = re.compile(r"(Could not fetch URL|NewConnectionError|Max retries exceeded|SSLError)")
_DOWNLOADING = re.compile(
    r"^\s*Downloading (?P<file>\S+) \((?P<size>[\d.]+) (?P<unit>bytes|kB|MB|GB)\)"
)
_HAVE = re.compile(r"^\s*(?:Saved|File was already downloaded) (?P<path>\S+)")
_UNITS = {"bytes": 1, "kB": 10**3, "MB": 10**6, "GB": 10**9}
_AVAILABLE = re.compile(r"^Available versions: (?P<versions>.+)$", re.MULTILINE)


def hash_mismatch(output: str) -> list[str] | None:
    """The `name==version` of each wheel whose hash did not match the required one (maybe
    none named), or None when no hash mismatched."""
    if _HASH_MISMATCH.search(output) is None:
        return None
    return list(dict.fromkeys(_MISMATCHED.findall(output)))


def not_found(output: str) -> str | None:
    """The requirement pip found no distribution for, as pip wrote it."""
    found = _NOT_FOUND.search(output)
    return None if found is None else found["requirement"]


def network_failed(output: str) -> bool:
    """Whether pip could not reach an index."""
    return _NETWORK.search(output) is not None


@dataclass(frozen=True, kw_only=True)
class Started:
    """A download pip began: the file, and its size as pip wrote it and in bytes."""

    filename: str
    size: str
    nbytes: int


def download_started(line: str) -> Started | None:
    """A line of `pip download` that starts fetching a file (pip names its size)."""
    found = _DOWNLOADING.match(line)
    if found is None:
        return None
    return Started(
        filename=found["file"].rpartition("/")[2],
        size=f"{found['size']} {found['unit']}",
        nbytes=int(float(found["size"]) * _UNITS[found["unit"]]),
    )


def download_done(line: str) -> str | None:
    """The file name of a wheel a line of `pip download` says is in place, saved or there
    before."""
    found = _HAVE.match(line)
    return None if found is None else Path(found["path"]).name


def available_versions(output: str) -> list[Version] | None:
    """The versions `pip index versions` lists, newest first (ones not PEP 440 left out),
    or None when it lists none."""
    found = _AVAILABLE.search(output)
    if found is None:
        return None
    parsed = []
    for text in found["versions"].split(","):
        try:
            parsed.append(Version(text.strip()))
        except InvalidVersion:
            continue
    return sorted(parsed, reverse=True)


def no_distribution(output: str) -> bool:
    """Whether pip says no source has the package at all."""
    return "No matching distribution" in output


def configuration_items(items: Iterable[tuple[str, Any]]) -> list[tuple[str, str]]:
    """pip's loaded configuration (`Configuration.items()`) as (key, value) pairs: pip 23 to 25
    yield each key with its value, pip 26 each file (or `:env:`) with a mapping of its keys."""
    pairs: list[tuple[str, str]] = []
    for key, value in items:
        if isinstance(value, Mapping):
            pairs += [(str(k), str(v)) for k, v in value.items()]
        else:
            pairs.append((str(key), str(value)))
    return pairs


def configuration(output: str) -> list[tuple[str, str]]:
    """`pip config list` read into (key, value) pairs, the value unquoted."""
    pairs = [line.partition("=") for line in output.splitlines()]
    return [(key, raw.strip().strip("'\"")) for key, sep, raw in pairs if sep]
