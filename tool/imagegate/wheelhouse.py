"""The wheelhouse: the lock's wheels for one profile, validated, one folder per group.

What is already there is judged first: exact version with its local label, tags that fit
the target, a whole zip, and a sha256 the lock lists for it. New wheels land in a staging
folder (usable ones hard-linked there), then the wheel store's copies whose bytes hash to
what the lock names (`wheel_store`), and pip fetches the rest in hash-checking mode (kept in
the store once the fill is committed); the staging folder replaces the old one only once
every locked package has its wheel: a failed or partial fetch leaves the previous wheelhouse
as it was.
"""

from __future__ import annotations

import contextlib
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

from imagegate import interrupts, pip, progress, transaction, wheel_store
from imagegate.contract import PROTECTED as PROTECTED
from imagegate.contract import REQUIREMENTS
from imagegate.contract import REST as REST
from imagegate.errors import EnvironmentProblem
from imagegate.files import sha256, write_atomic
from imagegate.lock import Lock, Locked
from imagegate.profiles import Profile
from imagegate.target import Target

STORED = "from the wheel store"
"""The reason a fetched wheel gives when it came from the store, not from pip."""


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

    @property
    def summary(self) -> str:
        stored = sum(1 for change in self.fetched if change.reason == STORED)
        return (
            f"{self.directory}: kept {len(self.kept)}, replaced {len(self.removed)}, "
            f"fetched {len(self.fetched)}{f' ({stored} {STORED})' if stored else ''}, "
            f"dropped {len(self.dropped)}"
        )

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
    """Why a wheel cannot serve this target and these exact versions, or None when it can.

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
        return f"version {version} but {name}=={pin} is locked"
    return None


def _tag_text(tags: frozenset[Tag]) -> str:
    return ".".join(sorted({str(tag) for tag in tags})[:2]) + ("…" if len(tags) > 2 else "")


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


@dataclass
class _Ledger:
    kept: list[Change] = field(default_factory=list)
    removed: list[Change] = field(default_factory=list)
    fetched: list[Change] = field(default_factory=list)
    dropped: list[Change] = field(default_factory=list)


def fill(profile: Profile, lock: Lock, directory: Path, *, echo: bool = True) -> Outcome:
    """Make `directory` hold exactly one verified wheel for every package in `lock`, and
    write `lock` too when it is new (`transaction.commit`): both change together or neither
    does."""
    transaction.recover(directory, lock.path)
    with interrupts.keeping(lock.path, directory):
        outcome = _fill(profile, lock, directory, echo=echo)
    progress.note(f"    {outcome.summary}")
    return outcome


def _fill(profile: Profile, lock: Lock, directory: Path, *, echo: bool) -> Outcome:
    ledger = _Ledger()
    staging = transaction.staging(directory)
    pins = {name: locked.version for name, locked in lock.packages.items()}
    usable = _validate_existing(profile, lock, directory, ledger)
    if lock.written and _complete(lock, directory, usable, ledger):
        _remember(directory, lock)
        return Outcome(
            profile=profile.name,
            directory=directory,
            kept=tuple(
                Change(group=k.partition("/")[0], filename=k.partition("/")[2])
                for k in sorted(usable)
            ),
        )
    try:
        try:
            staging.mkdir(parents=True)
        except OSError as error:
            raise EnvironmentProblem(
                f"{staging.parent}: cannot write the wheelhouse ({error.strerror or error}); "
                "make it writable; nothing was changed"
            ) from None
        for group, protected in _groups(lock):
            folder = staging / group
            folder.mkdir()
            for key in usable:
                if key.startswith(f"{group}/"):
                    _link(directory / key, folder / key.partition("/")[2])
            write_atomic(folder / REQUIREMENTS, _requirements(lock, protected))
            stored = _from_store(_missing(lock, protected, folder), folder, profile, pins)
            missing = _missing(lock, protected, folder)
            if missing:
                wanted = staging / f"{group}.missing.txt"
                write_atomic(wanted, "\n".join(p.requirement() for p in missing) + "\n")
                pip.download(
                    wanted,
                    dest=folder,
                    target=profile.target,
                    indexes=profile.indexes,
                    sources=profile.sources,
                    default=profile.index,
                    lock=lock.path,
                    echo=echo,
                )
            expected = lock.filenames(protected=protected)
            for path in sorted(folder.glob("*.whl")):
                if path.name not in expected:
                    path.unlink()
                    continue
                reason = judge_wheel(path.name, profile.target, pins) or damage(path)
                if reason is not None:
                    raise pip.FetchProblem(f"{path.name}: fetched but unusable: {reason}")
                key = f"{group}/{path.name}"
                if key in usable:
                    ledger.kept.append(Change(group=group, filename=path.name))
                elif path.name in stored:
                    ledger.fetched.append(Change(group=group, filename=path.name, reason=STORED))
                else:
                    ledger.fetched.append(Change(group=group, filename=path.name))
            _require_every_package(lock, protected, folder)
        for key in sorted(usable - {f"{c.group}/{c.filename}" for c in ledger.kept}):
            group, _, filename = key.partition("/")
            ledger.dropped.append(Change(group=group, filename=filename, reason="no longer locked"))
        transaction.commit(lock, directory)
        _remember(directory, lock)
        _store(lock, directory, [c for c in ledger.fetched if c.reason != STORED])
    finally:
        if not transaction.committed(directory):  # a marked commit is the next run's to finish
            shutil.rmtree(staging, ignore_errors=True)
    return Outcome(
        profile=profile.name,
        directory=directory,
        kept=tuple(ledger.kept),
        removed=tuple(ledger.removed),
        fetched=tuple(ledger.fetched),
        dropped=tuple(ledger.dropped),
    )


def _groups(lock: Lock) -> list[tuple[str, bool]]:
    """The image's layers: the protected closure first (when there is one), then the rest."""
    has_protected = any(locked.protected for locked in lock.packages.values())
    return [(PROTECTED, True), (REST, False)] if has_protected else [(REST, False)]


def _from_store(
    missing: list[Locked], folder: Path, profile: Profile, pins: Mapping[NormalizedName, Version]
) -> set[str]:
    """The wheels of `missing` the wheel store holds with the bytes the lock names, copied
    into `folder`: pip fetches only the rest. Their names."""
    taken: set[str] = set()
    for locked in missing:
        for wheel in locked.wheels:
            if judge_wheel(wheel.filename, profile.target, pins) is not None:
                continue
            if wheel_store.take(wheel.filename, wheel.sha256, folder / wheel.filename):
                taken.add(wheel.filename)
                break
    return taken


def _store(lock: Lock, directory: Path, fetched: list[Change]) -> None:
    """What pip fetched, kept in the wheel store for the next fill anywhere on this machine."""
    digests = {w.filename: w.sha256 for locked in lock.packages.values() for w in locked.wheels}
    for change in fetched:
        wheel_store.keep_quietly(
            directory / change.group / change.filename, digests[change.filename]
        )


def _require_every_package(lock: Lock, protected: bool, folder: Path) -> None:
    for locked in _missing(lock, protected, folder):
        raise pip.FetchProblem(f"{lock.path}: packages.{locked.name}: pip fetched no wheel for it")


def _missing(lock: Lock, protected: bool, folder: Path) -> list[Locked]:
    """The group's locked packages that have no wheel in `folder` yet."""
    present = {parse_wheel_filename(p.name)[0] for p in folder.glob("*.whl")}
    return [
        locked
        for name, locked in lock.packages.items()
        if locked.protected == protected and name not in present
    ]


def _requirements(lock: Lock, protected: bool) -> str:
    return "\n".join(lock.requirements(protected=protected)) + "\n"


def _complete(lock: Lock, directory: Path, usable: set[str], ledger: _Ledger) -> bool:
    """Nothing to do: every locked wheel is there and verified, nothing else is, and each
    group's requirements file says exactly what the lock does."""
    if ledger.removed:
        return False
    for group, protected in _groups(lock):
        names = {key.partition("/")[2] for key in usable if key.startswith(f"{group}/")}
        if names != lock.filenames(protected=protected):
            return False
        requirements = directory / group / REQUIREMENTS
        try:
            if requirements.read_text(encoding="utf-8") != _requirements(lock, protected):
                return False
        except OSError:
            return False
    return True


def _link(source: Path, target: Path) -> None:
    """A hard link costs nothing (the staging folder is beside the wheelhouse); else copy."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def audit(profile: Profile, lock: Lock, directory: Path) -> list[str]:
    """What is wrong with the wheelhouse against the lock (nothing is changed)."""
    ledger = _Ledger()
    usable = _validate_existing(profile, lock, directory, ledger)
    problems = [f"{c.group}/{c.filename}: {c.reason}" for c in ledger.removed]
    have = {parse_wheel_filename(key.partition("/")[2])[0] for key in usable}
    problems += [
        f"{name}=={locked.version}: no usable wheel"
        for name, locked in lock.packages.items()
        if name not in have
    ]
    return problems


def _validate_existing(
    profile: Profile,
    lock: Lock,
    directory: Path,
    ledger: _Ledger,
    memory: Mapping[str, Remembered] | None = None,
) -> set[str]:
    """The usable wheels ("group/filename"); what is not usable goes in the ledger.

    A file the memory knows, by the same identity, was verified before and is not read
    again. Nothing is deleted here: the old folder stays whole until its replacement is ready.
    """
    memory = _recall(directory) if memory is None else memory
    pins = {name: locked.version for name, locked in lock.packages.items()}
    usable: set[str] = set()
    for group, protected in _groups(lock):
        folder = directory / group
        for path in sorted(folder.iterdir()) if folder.is_dir() else ():
            if path.name == REQUIREMENTS:
                continue
            key = f"{group}/{path.name}"
            reason = judge_wheel(path.name, profile.target, pins)
            if reason is None:
                locked = lock.packages.get(parse_wheel_filename(path.name)[0])
                known = memory.get(key)
                if known is not None and known.identity == identity(path):
                    digest = known.sha256
                else:
                    reason = damage(path)
                    digest = "" if reason else sha256(path)
                if reason is not None:
                    pass
                elif locked is None or locked.protected != protected:
                    reason = f"not in the lock's {group} group"
                elif digest not in {wheel.sha256 for wheel in locked.wheels}:
                    reason = "damaged or another build: its sha256 is not in the lock"
                else:
                    usable.add(key)
                    continue
            ledger.removed.append(Change(group=group, filename=path.name, reason=reason))
    return usable


@dataclass(frozen=True, kw_only=True)
class Remembered:
    """A wheel verified before: its identity then, and its sha256."""

    identity: tuple[int, ...]
    sha256: str


MEMORY = ".verified.json"
"""In the wheelhouse: what was verified, so an unchanged wheel is not hashed again."""


def identity(path: Path) -> tuple[int, ...]:
    """What changes when a file does: its inode, size, and modification and change times
    (the change time can't be set back, so an edit hidden behind an old mtime shows)."""
    st = path.stat()
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _recall(directory: Path) -> dict[str, Remembered]:
    try:
        raw = json.loads((directory / MEMORY).read_text(encoding="utf-8"))
        return {
            key: Remembered(identity=tuple(row["identity"]), sha256=str(row["sha256"]))
            for key, row in raw.items()
        }
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return {}


def _remember(directory: Path, lock: Lock) -> None:
    """Record each wheel now in place with its identity (after every link and rename)."""
    rows: dict[str, dict[str, object]] = {}
    for group, protected in _groups(lock):
        digests = {
            wheel.filename: wheel.sha256
            for package in lock.packages.values()
            if package.protected == protected
            for wheel in package.wheels
        }
        for path in sorted((directory / group).glob("*.whl")):
            if path.name in digests:
                rows[f"{group}/{path.name}"] = {
                    "identity": list(identity(path)),
                    "sha256": digests[path.name],
                }
    with contextlib.suppress(OSError):  # a memory is a cache: without it, wheels are hashed
        write_atomic(directory / MEMORY, json.dumps(rows, indent=0))
