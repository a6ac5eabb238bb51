"""The wheelhouse: a validated cache of the wheels an image installs, one folder per profile.

What is already there is judged against the profile first (exact version with its local
label, tags that fit the target, bytes that match what was recorded when fetched); a wheel
that fails is removed and the right one fetched. New wheels land in a staging folder, are
verified there, and only then replace the old folder, so a failed or partial fetch leaves
the previous wheelhouse as it was.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from packaging.tags import Tag
from packaging.utils import InvalidWheelFilename, NormalizedName, parse_wheel_filename
from packaging.version import Version

from imagegate import pip
from imagegate.files import write_atomic
from imagegate.profiles import Profile
from imagegate.target import Target

PROTECTED, REST = "protected", "rest"
"""Protected pins and their closure install in an image layer of their own."""
MANIFEST = "wheels.json"
"""sha256 of each wheel as fetched: a wheel whose bytes changed since is not reused."""


@dataclass(frozen=True, kw_only=True)
class Change:
    group: str
    filename: str
    reason: str = ""


@dataclass(frozen=True, kw_only=True)
class Outcome:
    profile: str
    directory: Path
    kept: tuple[Change, ...] = ()
    removed: tuple[Change, ...] = ()
    """Wheels judged wrong or unusable, with why."""
    fetched: tuple[Change, ...] = ()
    dropped: tuple[Change, ...] = ()
    """Valid wheels the profile no longer needs."""

    def to_dict(self) -> dict[str, object]:
        def rows(changes: tuple[Change, ...]) -> list[dict[str, str]]:
            return [{"group": c.group, "wheel": c.filename, "reason": c.reason} for c in changes]

        return {
            "profile": self.profile,
            "directory": str(self.directory),
            "kept": rows(self.kept),
            "removed": rows(self.removed),
            "fetched": rows(self.fetched),
            "dropped": rows(self.dropped),
        }


def judge_wheel(
    filename: str, target: Target, pins: Mapping[NormalizedName, Version]
) -> str | None:
    """Why a wheel cannot serve this target and these pins, or None when it can.

    Pure: names and tags only. `2.5.1`, `2.5.1+cpu` and `2.5.1+cu121` are different builds.
    """
    if not filename.endswith(".whl"):
        return "not a wheel (a partial or foreign file)"
    try:
        name, version, _, tags = parse_wheel_filename(filename)
    except InvalidWheelFilename:
        return "not a valid wheel file name"
    if not target.accepts(tags):
        return f"tags {_tag_text(tags)} do not fit Python {target.python} on {target.platform}"
    pin = pins.get(name)
    if pin is not None and version != pin:
        return f"version {version} but the profile pins {name}=={pin}"
    return None


def _tag_text(tags: frozenset[Tag]) -> str:
    return ".".join(sorted({str(tag) for tag in tags})[:2]) + ("…" if len(tags) > 2 else "")


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def damage(path: Path) -> str | None:
    """Why the file is not a whole wheel (a truncated download has no central directory)."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError) as error:
        return f"damaged: {error}"
    if not any(name.endswith(".dist-info/METADATA") for name in names):
        return "damaged: no .dist-info/METADATA inside"
    return None


def groups(profile: Profile) -> dict[str, list[str]]:
    """Requirement lines per group; the rest restates the protected pins so pip keeps them."""
    protected = profile.requirements(protected_only=True)
    everything = profile.requirements()
    return {PROTECTED: protected, REST: everything} if protected else {REST: everything}


@dataclass
class _Ledger:
    kept: list[Change] = field(default_factory=list)
    removed: list[Change] = field(default_factory=list)
    fetched: list[Change] = field(default_factory=list)
    dropped: list[Change] = field(default_factory=list)


def prepare(profile: Profile, directory: Path, *, echo: bool = True) -> Outcome:
    """Make `directory` hold exactly the wheels the profile's closure needs, validated.

    Usable wheels are hard-linked into a staging folder, pip fills in the rest of the
    closure there, and the staging folder replaces `directory` only once all of it checks
    out: a failure at any point leaves `directory` exactly as it was.
    """
    ledger = _Ledger()
    staging = directory.with_name(f".{directory.name}.staging")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        usable = _validate_existing(profile, directory, ledger)
        new_manifest: dict[str, str] = {}
        plan = groups(profile)
        for group, requirements in plan.items():
            folder = staging / group
            folder.mkdir(parents=True)
            reuse = [directory / key for key in usable if key.startswith(f"{group}/")]
            earlier = [staging / g for g in plan if g != group and (staging / g).is_dir()]
            for path in [*reuse, *(p for f in earlier for p in f.glob("*.whl"))]:
                _link(path, folder / path.name)
            resolved = pip.download(
                requirements,
                constraints=[pin for pin in profile.requirements() if pin not in requirements],
                dest=folder,
                target=profile.target,
                find_links=[folder, *earlier],
                indexes=profile.indexes,
                sources=profile.sources,
                echo=echo,
            )
            taken = {p.name for f in earlier for p in f.glob("*.whl")}
            for path in sorted(folder.iterdir()):
                if path.name not in resolved or path.name in taken:
                    path.unlink()
                    continue
                key = f"{group}/{path.name}"
                _verify_fetched(path, profile)
                if key in usable:
                    new_manifest[key] = usable[key]
                    ledger.kept.append(Change(group=group, filename=path.name))
                else:
                    new_manifest[key] = sha256(path)
                    ledger.fetched.append(Change(group=group, filename=path.name))
        for key in sorted(set(usable) - set(new_manifest)):
            group, _, filename = key.partition("/")
            ledger.dropped.append(Change(group=group, filename=filename, reason="no longer needed"))
        write_atomic(staging / MANIFEST, json.dumps(new_manifest, indent=1, sort_keys=True) + "\n")
        _swap(staging, directory)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return Outcome(
        profile=profile.name,
        directory=directory,
        kept=tuple(ledger.kept),
        removed=tuple(ledger.removed),
        fetched=tuple(ledger.fetched),
        dropped=tuple(ledger.dropped),
    )


def _link(source: Path, target: Path) -> None:
    """A hard link costs nothing (the staging folder is beside the wheelhouse); else copy."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def _validate_existing(profile: Profile, directory: Path, ledger: _Ledger) -> dict[str, str]:
    """The usable wheels ("group/filename" -> sha256); what is not usable goes in the ledger.

    Nothing is deleted here: the old folder stays whole until its replacement is ready.
    """
    manifest = _read_manifest(directory)
    usable: dict[str, str] = {}
    for group in (PROTECTED, REST):
        folder = directory / group
        for path in sorted(folder.iterdir()) if folder.is_dir() else ():
            key = f"{group}/{path.name}"
            reason = judge_wheel(path.name, profile.target, profile.pins) or damage(path)
            if reason is None:
                digest = sha256(path)
                if manifest.get(key, digest) == digest:
                    usable[key] = digest
                    continue
                reason = "damaged: its bytes changed since it was fetched"
            ledger.removed.append(Change(group=group, filename=path.name, reason=reason))
    return usable


def _verify_fetched(path: Path, profile: Profile) -> None:
    reason = judge_wheel(path.name, profile.target, profile.pins) or damage(path)
    if reason is not None:
        raise pip.FetchProblem(f"{path.name}: fetched but unusable: {reason}")


def _read_manifest(directory: Path) -> dict[str, str]:
    try:
        data = json.loads((directory / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def _swap(staging: Path, directory: Path) -> None:
    """Put the verified staging folder in place of the old one."""
    old = directory.with_name(f".{directory.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if directory.exists():
        directory.rename(old)
    staging.rename(directory)
    shutil.rmtree(old, ignore_errors=True)
