"""Locks: a profile's whole dependency closure, every wheel pinned and hashed (PEP 751).

uv resolves for the profile's target (not the host) in seconds and writes `pylock.toml`
(`resolver`, the edge that runs it); this module, pure, rewrites it portably — each wheel by
its file name, its sha256 and its place in the project's wheelhouse (never where this
machine found it), or its URL where the profile names its own index (`index:`) and so
where every wheel came from; the profile's index for the packages that must come from one —
and adds a
`[tool.imagegate]` table that ties the lock to the profile it came from (a digest of the
profile's inputs), names the protected closure (installed in an image layer of its own) and
holds a digest of the lock's body, so a lock edited by hand is refused. Parsing and
validation are packaging's `pylock`.

A new lock keeps every version the previous lock held that still fits (uv's preferences):
bumping one pin moves that package and what it needs, never whatever was released upstream
since; `imagegate lock --upgrade` takes the newest of everything.

A lock is a value: read once, or resolved, then handed down a command. Nothing here writes
one: `transaction.commit` does, together with its verified wheels when there are any, so a
lock never stands beside another lock's wheels.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import tomli_w
from packaging.markers import Marker
from packaging.pylock import PackageWheel, Pylock, PylockValidationError
from packaging.utils import NormalizedName, canonicalize_name, parse_wheel_filename
from packaging.version import Version

from imagegate.errors import EnvironmentProblem, ProfileError
from imagegate.profiles import Profile
from imagegate.project import lock_file
from imagegate.target import Target


@dataclass(frozen=True, kw_only=True)
class LockedWheel:
    filename: str
    url: str
    sha256: str


@dataclass(frozen=True, kw_only=True)
class Locked:
    name: NormalizedName
    version: Version
    wheels: tuple[LockedWheel, ...]
    protected: bool
    """In the protected closure: installed in the image's first layer."""
    marker: Marker | None = None
    """Where the package is installed at all (evaluated in the image's environment)."""

    def requirement(self) -> str:
        """A pip requirement line that accepts only these wheels (hash-checking mode)."""
        hashes = " ".join(f"--hash=sha256:{wheel.sha256}" for wheel in self.wheels)
        return f"{self.name}=={self.version} {hashes}"


@dataclass(frozen=True, kw_only=True)
class Lock:
    path: Path
    profile: str
    inputs: str
    """The digest of the profile's inputs when locked; a different digest means stale."""
    packages: Mapping[NormalizedName, Locked]
    sha256: str
    """Of the lock file itself: images carry it as a label."""
    text: str
    written: bool = False
    """True when `path` holds it already (it was read from there, or committed)."""

    @classmethod
    def read(cls, path: Path) -> Lock:
        try:
            data = path.read_bytes()
        except OSError as error:
            raise ProfileError(f"{path}: cannot be read ({error}); run `imagegate lock`") from None
        return cls.parse(data, path, written=True)

    @classmethod
    def parse(cls, data: bytes, path: Path, *, written: bool = False) -> Lock:
        """`path` is where the lock lives (or would): it names the lock in messages."""
        try:
            text = data.decode("utf-8")
            raw = tomllib.loads(text)
            pylock = Pylock.from_dict(raw)
        except (
            UnicodeDecodeError,
            tomllib.TOMLDecodeError,
            PylockValidationError,
        ) as error:
            raise ProfileError(
                f"{path}: not a valid pylock.toml ({error}); run `imagegate lock`"
            ) from None
        tool = (raw.get("tool") or {}).get("imagegate") or {}
        if tool.get("body") != body_digest(raw):
            name = tool.get("profile") or path.stem.removeprefix("pylock.")
            raise ProfileError(
                f"{path}: edited by hand (its packages no longer match the digest imagegate "
                f"wrote); run `imagegate lock {name}`"
            )
        protected = {canonicalize_name(name) for name in tool.get("protected", [])}
        packages: dict[NormalizedName, Locked] = {}
        for package in pylock.packages:
            name = canonicalize_name(package.name)
            wheels = tuple(
                LockedWheel(
                    filename=wheel.filename,
                    url=wheel.url or str(wheel.path or ""),
                    sha256=wheel.hashes.get("sha256", ""),
                )
                for wheel in package.wheels or ()
            )
            if package.version is None or not wheels or not all(w.sha256 for w in wheels):
                raise ProfileError(
                    f"{path}: packages.{name}: needs a version and sha256-hashed wheels; "
                    "run `imagegate lock` again"
                )
            packages[name] = Locked(
                name=name,
                version=package.version,
                wheels=wheels,
                protected=name in protected,
                marker=package.marker,
            )
        return cls(
            path=path,
            profile=str(tool.get("profile", "")),
            inputs=str(tool.get("inputs", "")),
            packages=packages,
            sha256=hashlib.sha256(data).hexdigest(),
            text=text,
            written=written,
        )

    def at(self, path: Path) -> Lock:
        """The same lock, to be committed at `path` instead (a trial's own folder)."""
        return replace(self, path=path, written=False)

    def closure_for(self, environment: Mapping[str, str]) -> dict[NormalizedName, Locked]:
        """The packages an environment with these PEP 508 marker values holds: those whose
        marker holds there (values it lacks are this interpreter's)."""
        values = {**environment, "extra": ""}
        return {
            name: locked
            for name, locked in self.packages.items()
            if locked.marker is None or locked.marker.evaluate(values)
        }

    def requirements(self, *, protected: bool) -> list[str]:
        return [p.requirement() for p in self.packages.values() if p.protected == protected]

    def filenames(self, *, protected: bool) -> set[str]:
        """The wheel files the lock names for one group: all a fetch may bring."""
        return {
            wheel.filename
            for package in self.packages.values()
            if package.protected == protected
            for wheel in package.wheels
        }


def lock_path(profile: Profile) -> Path:
    return lock_file(profile)


def inputs_digest(profile: Profile) -> str:
    """What the closure depends on: target, pins (local labels included), sources, and the
    profile's own index."""
    inputs = {
        "target": [profile.target.python, profile.target.platform],
        "pins": sorted(str(pin) for pin in profile.requirements()),
        "protected": sorted(profile.protected),
        "sources": sorted(f"{n}={profile.indexes[i]}" for n, i in profile.sources.items()),
    }
    if profile.index is not None:  # only when named: the locks of profiles without it hold
        inputs["index"] = [profile.index]
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()


def on_disk(profile: Profile) -> Lock | None:
    """The profile's lock as its file holds it, read once; None when there is no such file."""
    path = lock_path(profile)
    return Lock.read(path) if path.is_file() else None


def why_stale(profile: Profile, lock: Lock | None) -> str | None:
    """Why `lock` (the profile's, None when there is none) can't be used for the profile as
    it is, or None when it is fresh. Pure: nothing is read."""
    name = lock_path(profile).name
    if lock is None:
        return f"{name} does not exist"
    if lock.inputs != inputs_digest(profile):
        return f"{name} was made from other pins, target or sources"
    for pinned, pin in profile.pins.items():
        locked = lock.packages.get(pinned)
        if locked is None or locked.version != pin:
            return f"{name} does not hold {pinned}=={pin}"
    return None


def staleness(profile: Profile) -> str | None:
    """Why the profile's lock on disk can't be used as it is, or None when it is fresh."""
    return why_stale(profile, on_disk(profile))


def body_digest(raw: Mapping[str, object]) -> str:
    """A digest of everything in a lock but its `[tool]` table: any edit to a package shows."""
    body = {key: value for key, value in raw.items() if key != "tool"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


def read_fresh(profile: Profile) -> Lock:
    lock = on_disk(profile)
    why = why_stale(profile, lock)
    if lock is None or why is not None:
        raise ProfileError(
            f"{lock_path(profile)}: stale: {why}; run `imagegate lock {profile.name}`"
        )
    return lock


def previous_versions(path: Path) -> dict[str, str]:
    """Each package's version in the lock at `path`; none when there is no readable lock
    (they are preferences only: a wrong one costs a version, never a wrong wheel)."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
        return {str(p["name"]): str(p["version"]) for p in raw.get("packages", [])}
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, KeyError, TypeError):
        return {}


def portable(profile: Profile, raw: Mapping[str, Any], protected: list[str]) -> str:
    """The lock's text from a resolver's pylock: the same closure gives the same bytes on
    every machine (no URL or path of where a wheel was found, no upload times)."""
    packages = []
    for package, parsed in zip(raw["packages"], Pylock.from_dict(raw).packages, strict=True):
        name = canonicalize_name(parsed.name)
        group = "protected" if name in protected else "rest"
        entry = {key: package[key] for key in _KEPT if key in package}
        index = profile.index_for(name)
        if index is not None:
            entry["index"] = index
        wheel = _best(profile.target, parsed.wheels or ())
        entry["wheels"] = [{"name": wheel.filename, **_where(profile, group, wheel)}]
        packages.append(entry)
    body: dict[str, Any] = {
        "lock-version": raw.get("lock-version", "1.0"),
        "created-by": "imagegate",
        **({"requires-python": raw["requires-python"]} if "requires-python" in raw else {}),
        "packages": packages,
    }
    tool = {
        "profile": profile.name,
        "inputs": inputs_digest(profile),
        "protected": protected,
        "body": body_digest(body),
    }
    where = (
        "# Wheel URLs are on the profile's own index: any PEP 751 installer installs this file.\n"
        if profile.index is not None
        else "# Wheel paths are relative to this file: `imagegate wheelhouse` puts them there.\n"
    )
    header = (
        f"# Written by `imagegate lock {profile.name}` from {profile.path.name}; do not edit.\n"
        + where
    )
    return header + tomli_w.dumps({**body, "tool": {"imagegate": tool}})


def _where(profile: Profile, group: str, wheel: PackageWheel) -> dict[str, Any]:
    """Where an installer finds the wheel. With the profile's own `index:`, every wheel came
    from an index the profile names, so its URL is the profile's word, the same on every
    machine: the lock records it (and no path, which a standard installer would prefer to
    it), and installs anywhere that index answers. Otherwise a wheel may have come from this
    machine's pip sources (a mirror, a find-links folder): only its place in the project's
    wheelhouse is recorded, so the lock is the same wherever it was made."""
    url = wheel.url or ""
    if profile.index is not None and url.startswith(("https://", "http://")):
        return {"url": url, "hashes": dict(wheel.hashes)}
    path = f"../wheelhouse/{profile.name}/{group}/{wheel.filename}"
    return {"path": path, "hashes": dict(wheel.hashes)}


def _best(target: Target, wheels: Sequence[PackageWheel]) -> PackageWheel:
    """The one wheel an installer picks for the target: which others a source happened to
    offer must not change the lock (a mirror holds one wheel of a release, PyPI five)."""
    fitting = [
        (rank, wheel.filename, wheel)
        for wheel in wheels
        if (rank := target.preference(parse_wheel_filename(wheel.filename)[3])) is not None
    ]
    if not fitting:
        names = ", ".join(wheel.filename for wheel in wheels) or "none"
        where = f"Python {target.python} on {target.platform}"
        raise EnvironmentProblem(f"the resolver chose no wheel for {where}: {names}")
    return min(fitting, key=lambda row: row[:2])[2]


_KEPT = ("name", "version", "marker", "requires-python")
"""What a locked package keeps of the resolver's entry; where a wheel was found is `_where`'s."""


def constraints(profile: Profile) -> str:
    """A pip constraints file: the protected closure and every pin, exact, local labels kept.

    `pip install -c` with it can install a project's own requirements on top of an image but
    never replace a protected build: a requirement that needs another torch is a conflict.
    """
    lines = [f"# imagegate constraints for {profile.name}: protected builds stay as they are."]
    exact = {name: str(pin) for name, pin in profile.pins.items()}
    if staleness(profile) is None:
        lines.append(f"# From {lock_path(profile).name} (the protected closure) and the pins.")
        locked = Lock.read(lock_path(profile))
        exact |= {n: str(p.version) for n, p in locked.packages.items() if p.protected}
    else:
        lines.append(f"# From {profile.path.name} alone: it has no fresh lock here.")
    lines += [f"{name}=={version}" for name, version in sorted(exact.items())]
    return "\n".join(lines) + "\n"
