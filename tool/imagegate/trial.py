"""Trials: a closure installed into a venv on the host and judged there.

`check --deep`, `propose` and `bisect` prove a closure the same way: its wheels, verified by
hash, brought by one `uv pip sync` into a venv kept between trials (one of eight slots, a
trial each at a time; a ninth gets a venv of its own in a scratch folder, gone when it
ends), then tiers 1-2 (and 3) run by the in-image scripts and judged by `verify`. A trial
of a lock that is not the profile's own gets its wheels from the project's wheelhouse and
a pool of wheels fetched by earlier trials (hard links) and pip fetches only the rest: a
second run fetches nothing.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout
from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename
from packaging.version import InvalidVersion, Version

from imagegate import installer, progress, runner, wheel_store, wheelhouse
from imagegate.contract import PROTECTED, REQUIREMENTS, REST
from imagegate.errors import EnvironmentProblem
from imagegate.executors import HostPython
from imagegate.files import copy_whole, scratch, write_atomic
from imagegate.findings import Finding, Status
from imagegate.lock import Lock
from imagegate.profiles import Profile
from imagegate.project import Project
from imagegate.smoke import examine

VENV_TIMEOUT = 1800.0
_HASHED = re.compile(r"^(?P<name>[^=\s]+)==(?P<version>\S+)\s+--hash=sha256:(?P<sha>[0-9a-f]{64})")


def host_cannot_run(profile: Profile) -> str | None:
    """Why this host cannot run the target's wheels, or None when it can."""
    host = f"{sys.version_info.major}.{sys.version_info.minor}"
    if host != profile.target.python:
        return f"the host's Python is {host}, the target's {profile.target.python}"
    if platform.machine() != profile.target.arch:
        return f"the host is {platform.machine()}, the target {profile.target.arch}"
    return None


def tiers(profile: Profile, directory: Path, *, tier3: bool = False) -> list[Finding]:
    """Install the wheelhouse at `directory` into a trial venv; judge tiers 1-2 (and 3 when
    they passed)."""
    groups = [directory / g for g in (PROTECTED, REST)]
    groups = [group for group in groups if group.is_dir()]
    what = f"{profile.name}: tiers 1-{3 if tier3 else 2} in the venv"
    with _slot() as slot:
        if slot is None:  # every slot taken: a venv of its own, nothing shared
            with scratch("venv") as workspace:
                venv = workspace / "venv"
                _bring(venv, groups, fresh=True, name=profile.name)
                with progress.step("tiers", what):
                    return examine(HostPython(venv / "bin" / "python"), profile, tier3=tier3)[1]
        kept = _bring(slot, groups, fresh=False, name=profile.name)
        trying = HostPython(slot / "bin" / "python", env=_bytecode_env())
        with progress.step("tiers", what):
            findings = examine(trying, profile, tier3=tier3)[1]
        if kept and any(f.check == "files" and f.status is Status.BROKEN for f in findings):
            # an earlier trial's files changed since: judge a venv made anew instead
            _bring(slot, groups, fresh=True, name=profile.name)
            with progress.step("tiers", f"{what}, made anew"):
                findings = examine(trying, profile, tier3=tier3)[1]
        return findings


SLOTS = 8
"""Trials that can keep a venv at once (a ninth runs in one of its own)."""
MANIFEST = "imagegate-trial.json"
"""In a slot's venv: the Python it was made by and the sha256 of each wheel installed."""


@contextmanager
def _slot() -> Iterator[Path | None]:
    """A kept venv this trial holds alone (`~/.cache/imagegate/trial-slots/N`), or None when
    every slot is taken.

    Kept, a venv is brought to the next trial's lock by `uv pip sync` (what changed only:
    no venv made, no 20,000 files linked, none removed) and its path stays the same, so
    the bytecode Python compiles for a module there serves the next trial too (one cache
    keyed by that path, `_bytecode_env`, used again while the source's size and mtime
    match; a trial's files are links to uv's cache, so torch's bytes unpacked once keep
    one mtime). What a kept venv holds is judged, never trusted: tier 1 hashes every file
    against its RECORD, and a trial whose files were found changed runs again in a venv
    made anew."""
    slots = wheel_store.root().parent / "trial-slots"
    slots.mkdir(parents=True, exist_ok=True)
    for slot in range(SLOTS):
        held = FileLock(slots / f"{slot}.lock")
        try:
            held.acquire(timeout=0)
        except Timeout:
            continue
        try:
            yield slots / str(slot)
        finally:
            held.release()
        return
    yield None


def _bring(venv: Path, groups: list[Path], *, fresh: bool, name: str) -> bool:
    """Make `venv` exactly the wheels the groups' hash-pinned requirements name; True when an
    earlier trial's venv was kept and synced, False when it was made anew (`fresh`, or no
    manifest a run of this Python wrote: none yet, an older layout, a trial killed halfway).

    uv keeps an installed distribution of the version asked without looking at its hashes,
    so one whose wheel differs from the one the manifest recorded is reinstalled."""
    requirements = [group / REQUIREMENTS for group in groups]
    wanted = {str(n): sha for path in requirements for (n, _), sha in _hashes(path).items()}
    manifest = None if fresh else _manifest(venv)
    (venv / MANIFEST).unlink(missing_ok=True)  # a trial stopped from here leaves none
    made = "a kept venv, synced" if manifest is not None else "a new venv"
    with progress.step("install", f"{name}: the lock into {made}"):
        if manifest is None:
            if venv.is_symlink() or venv.is_file():
                venv.unlink()
            shutil.rmtree(venv, ignore_errors=True)
            _run(installer.make_venv(venv), "making a venv")
        was = manifest or {}
        sync = installer.sync(
            venv / "bin" / "python",
            find_links=stable_sources(groups),
            requirements=requirements,
            reinstall=sorted(n for n, sha in was.items() if wanted.get(n) not in (None, sha)),
        )
        _run(sync, "installing the lock")
    write_atomic(venv / MANIFEST, json.dumps({**_python(), "wheels": wanted}, indent=1))
    return manifest is not None


def _python() -> dict[str, str]:
    return {"python": sys.executable, "version": sys.version}


def _manifest(venv: Path) -> dict[str, str] | None:
    """The wheels the slot's venv holds by name -> sha256, when this Python made it."""
    try:
        recorded = json.loads((venv / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(recorded, dict) or any(recorded.get(k) != v for k, v in _python().items()):
        return None
    wheels = recorded.get("wheels")
    if not isinstance(wheels, dict) or not (venv / "bin" / "python").exists():
        return None
    return {str(name): str(sha) for name, sha in wheels.items()}


def _bytecode_env() -> dict[str, str]:
    """Write and read bytecode in imagegate's cache, never in the venv."""
    return {
        "PYTHONDONTWRITEBYTECODE": "",
        "PYTHONPYCACHEPREFIX": str(wheel_store.root().parent / "pycache"),
    }


def stable_sources(groups: list[Path]) -> list[Path]:
    """The folders to find each wheel of `groups` in where it always is: the wheel store's,
    under its sha256 (a copy is kept there when there is none). uv's cache knows a local
    wheel by its path, so torch unpacked once serves every later trial; from a new folder
    each time, each trial would add another unpacked torch (~700 MB) to uv's cache. The
    install still checks every hash; a wheel the requirements don't name is found in its
    own folder."""
    folders: list[Path] = []
    for group in groups:
        hashes = _hashes(group / REQUIREMENTS)
        for wheel in sorted(group.glob("*.whl")):
            try:
                name, version, *_ = parse_wheel_filename(wheel.name)
            except (InvalidWheelFilename, InvalidVersion):
                continue
            digest = hashes.get((name, version))
            if digest is None:
                folders.append(group)
                continue
            folders.append(wheel_store.keep(wheel, digest))
    return list(dict.fromkeys(folders))


def _hashes(requirements: Path) -> dict[tuple[str, Version], str]:
    """(name, version) -> sha256 from a group's hash-pinned requirements file."""
    found: dict[tuple[str, Version], str] = {}
    try:
        lines = requirements.read_text(encoding="utf-8").splitlines()
    except OSError:
        return found
    for line in lines:
        if (row := _HASHED.match(line)) is not None:
            try:
                version = Version(row["version"])
            except InvalidVersion:
                continue
            found[(canonicalize_name(row["name"]), version)] = row["sha"]
    return found


def try_lock(
    profile: Profile, lock: Lock, project: Project, *, tier3: bool = False
) -> list[Finding]:
    """Tiers 1-2 (and 3) of a closure that is not the profile's lock on disk (a candidate, a
    mix of two locks): neither the profile's lock nor its wheelhouse is touched."""
    pool = project.pool
    with scratch("trial") as workspace:
        directory = workspace / "wheelhouse"
        _seed(lock, directory, [project.wheelhouse_dir(profile.name), pool])
        trial = lock.at(workspace / "pylock.toml")  # committed in the trial's folder only
        with progress.step("fill", f"{profile.name}: the trial's wheels"):
            wheelhouse.fill(profile, trial, directory, echo=False)
        _keep(directory, pool)
        return tiers(profile, directory, tier3=tier3)


def _seed(lock: Lock, directory: Path, sources: list[Path]) -> None:
    """Hard-link the wheels the lock names from where earlier runs put them (fill verifies
    each by hash before it counts)."""
    for group, protected in ((PROTECTED, True), (REST, False)):
        for filename in lock.filenames(protected=protected):
            for source in sources:
                found = [source / g / filename for g in (PROTECTED, REST)]
                found = [path for path in [*found, source / filename] if path.is_file()]
                if found:
                    (directory / group).mkdir(parents=True, exist_ok=True)
                    _link(found[0], directory / group / filename)
                    break


def _keep(directory: Path, pool: Path) -> None:
    pool.mkdir(parents=True, exist_ok=True)
    for wheel in directory.glob("*/*.whl"):
        if not (pool / wheel.name).exists():
            _link(wheel, pool / wheel.name)


def _link(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except FileExistsError:
        pass
    except OSError:  # another file system: a copy, made whole before it is named
        copy_whole(source, target)


def _run(args: list[str], what: str) -> None:
    done = runner.run(args, timeout=VENV_TIMEOUT, echo=True, prefix="    ")
    if not done.ok:
        raise EnvironmentProblem(f"a trial venv: {what} failed: {done.tail(1)}")
