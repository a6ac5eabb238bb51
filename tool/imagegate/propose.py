"""`propose`: newer releases of a profile's pins, each proven before it is proposed.

For each pin, the newest release for the target and the newest patch of the current minor.
Each candidate is a profile with that one pin changed; the cheapest proof comes first:
static (its closure resolves with every other pin, the resolver keeping the current lock's
versions wherever they fit; invariants and known issues hold over it), then deep, only for
what passed static (its closure installed in a trial venv, tiers 1-2, and 3 when asked).
Two candidates that each fail alone for a reason naming the other are tried together.
`write` puts the best proven candidates in the files that write those pins and locks again;
on any failure every file is left as it was.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from imagegate import lock as locks
from imagegate import pip, preflight, progress, resolver, transaction, trial
from imagegate.errors import ProfileError, UsageError
from imagegate.files import write_atomic
from imagegate.findings import Finding, Status, passed
from imagegate.lock import Lock
from imagegate.profiles import Profile, load_each, load_profile, pin_file, profile_names
from imagegate.project import Project


@dataclass(frozen=True, kw_only=True)
class Bump:
    package: NormalizedName
    current: Version
    version: Version


@dataclass(frozen=True, kw_only=True)
class Candidate:
    bumps: tuple[Bump, ...]
    static: Status | None = None
    deep: Status | None = None
    tier3: Status | None = None
    evidence: str = ""

    @property
    def proven(self) -> bool:
        done = self.static is Status.OK and self.deep is Status.OK
        return done and self.tier3 in (None, Status.OK)

    @property
    def package(self) -> str:
        return " + ".join(bump.package for bump in self.bumps)

    def row(self) -> dict[str, str]:
        return {
            "package": self.package,
            "from": " + ".join(str(bump.current) for bump in self.bumps),
            "to": " + ".join(str(bump.version) for bump in self.bumps),
            "static": _shown(self.static),
            "deep": _shown(self.deep),
            "tier 3": _shown(self.tier3),
            "evidence": self.evidence,
        }


def _shown(status: Status | None) -> str:
    if status is None:
        return "-"
    return {Status.OK: "proven", Status.SKIPPED: "skipped"}.get(status, "rejected")


@dataclass(frozen=True, kw_only=True)
class Proposal:
    profile: str
    candidates: tuple[Candidate, ...]
    venvs: int
    seconds: float
    written: tuple[str, ...] = field(default=())
    """What `--write` changed (files, the lock), and the other profiles it left stale."""

    def to_dict(self) -> dict[str, object]:
        return {
            "profile": self.profile,
            "proven": sum(c.proven for c in self.candidates),
            "venvs": self.venvs,
            "seconds": round(self.seconds, 1),
            "written": list(self.written),
            "candidates": [{**c.row(), "proven": c.proven} for c in self.candidates],
        }


def candidates(current: Version, available: Sequence[Version]) -> list[Version]:
    """The newest release, and the newest patch of the current minor, when newer than
    `current`; final releases of the same build flavour (`+cpu` stays `+cpu`) only."""
    newer = sorted(
        (v for v in available if v > current and not v.is_prerelease and v.local == current.local),
        reverse=True,
    )
    patch = [v for v in newer if v.release[:2] == current.release[:2]]
    return list(dict.fromkeys(newer[:1] + patch[:1]))


def chosen(profile: Profile, packages: Sequence[str]) -> list[NormalizedName]:
    """The pins to try: those named, else every pin but the protected ones."""
    if not packages:
        return [name for name in sorted(profile.pins) if name not in profile.protected]
    named = [canonicalize_name(package) for package in packages]
    for name in named:
        if name not in profile.pins:
            raise UsageError(
                f"{name}: not pinned by profile {profile.name}; name one of "
                f"{', '.join(sorted(profile.pins))}"
            )
    return list(dict.fromkeys(named))


def derive(profile: Profile, bumps: Sequence[Bump]) -> Profile:
    """The profile with these pins changed (nothing is written)."""
    return replace(profile, pins={**profile.pins, **{b.package: b.version for b in bumps}})


def evidence(findings: Sequence[Finding]) -> str:
    """The failures, one line each: what failed and its key line of evidence."""
    lines = []
    for finding in findings:
        if finding.status.failed:
            said = [line.strip() for line in finding.evidence.splitlines() if line.strip()]
            why = said[-1] if said else f"expected {finding.expected}, found {finding.actual}"
            lines.append(f"{finding.check} {finding.subject}: {why}")
    return "; ".join(dict.fromkeys(lines))


def ranked(found: Sequence[Candidate]) -> list[Candidate]:
    """Proven first; then by package, newest first."""
    newest = sorted(found, key=lambda c: [b.version for b in c.bumps], reverse=True)
    return sorted(newest, key=lambda c: (not c.proven, c.package))


def best(found: Sequence[Candidate]) -> list[Bump]:
    """The newest proven version of each package (a joint candidate takes all its packages)."""
    taken: dict[NormalizedName, Bump] = {}
    proven = [c for c in found if c.proven]
    for candidate in sorted(proven, key=lambda c: [b.version for b in c.bumps], reverse=True):
        if not any(bump.package in taken for bump in candidate.bumps):
            taken.update({bump.package: bump for bump in candidate.bumps})
    return sorted(taken.values(), key=lambda bump: bump.package)


def together(found: Sequence[Candidate]) -> list[tuple[Candidate, Candidate]]:
    """Pairs of single candidates rejected statically, each for a reason naming the other's
    package: they may only work together (a new peft wanting a new transformers and back)."""
    rejected = [c for c in found if len(c.bumps) == 1 and c.static is Status.BROKEN]
    pairs = []
    for i, first in enumerate(rejected):
        for second in rejected[i + 1 :]:
            a, b = first.bumps[0].package, second.bumps[0].package
            if a != b and _names(first.evidence, b) and _names(second.evidence, a):
                pairs.append((first, second))
    return pairs


def _names(text: str, package: str) -> bool:
    pattern = re.escape(package).replace("\\-", "[-_.]")
    return re.search(rf"(?<![\w.-]){pattern}(?![\w-])", text, re.IGNORECASE) is not None


_PIN_LINE = re.compile(
    r"^(?P<head>[ \t]+(?P<q1>[\"']?)(?P<key>[A-Za-z0-9][A-Za-z0-9._-]*)(?P=q1)[ \t]*:[ \t]*)"
    r"(?P<q>[\"']?)(?P<value>[^\"'#\s]+)(?P=q)(?P<tail>[ \t]*(?:#.*)?)$"
)


def set_pins(text: str, changes: Mapping[NormalizedName, Version], where: Path) -> str:
    """`text` (a profile file) with the version of each pin in `changes` replaced on its own
    line under the top-level `pins:`; quotes, comments and every other line kept."""
    lines = text.splitlines(keepends=True)
    inside, done = False, set()
    for index, line in enumerate(lines):
        body = line.rstrip("\r\n")
        if body and not body[0].isspace() and not body.startswith("#"):
            inside = re.match(r"pins[ \t]*:[ \t]*(#.*)?$", body) is not None
            continue
        match = _PIN_LINE.match(body) if inside else None
        if match is None:
            continue
        name = canonicalize_name(match["key"])
        if name in changes:
            new = f"{match['head']}{match['q']}{changes[name]}{match['q']}{match['tail']}"
            lines[index] = new + line[len(body) :]
            done.add(name)
    for name in changes:
        if name not in done:
            raise ProfileError(
                f'{where}: pins.{name}: not written as `{name}: "VERSION"` on a line of its '
                "own under `pins:`; change it by hand"
            )
    return "".join(lines)


def propose(
    profile: Profile, project: Project, packages: Sequence[str], *, tier3: bool = False
) -> Proposal:
    """Every candidate of the chosen pins, tried static first, then deep."""
    started = time.monotonic()
    names = chosen(profile, packages)
    found: list[Candidate] = []
    for name in names:
        with progress.step("versions", name):
            available = pip.versions(
                name,
                target=profile.target,
                indexes=profile.indexes,
                sources=profile.sources,
                default=profile.index,
            )
        current = profile.pins[name]
        for version in candidates(current, available):
            bump = Bump(package=name, current=current, version=version)
            found.append(_static(profile, (bump,)))
    found += [_static(profile, first.bumps + second.bumps) for first, second in together(found)]
    cannot = trial.host_cannot_run(profile)
    venvs = 0
    for index, candidate in enumerate(found):
        if candidate.static is not Status.OK:
            continue
        if cannot is not None:
            found[index] = replace(candidate, deep=Status.SKIPPED, evidence=cannot)
            continue
        found[index] = _deep(profile, project, candidate, tier3=tier3)
        venvs += 1
    return Proposal(
        profile=profile.name,
        candidates=tuple(ranked(found)),
        venvs=venvs,
        seconds=time.monotonic() - started,
    )


def _resolved(profile: Profile) -> Lock:
    text = resolver.resolve(profile)
    return Lock.parse(text.encode("utf-8"), locks.lock_path(profile))


def _static(profile: Profile, bumps: tuple[Bump, ...]) -> Candidate:
    candidate = Candidate(bumps=bumps)
    trying = derive(profile, bumps)
    with progress.step("static", " ".join(f"{b.package}=={b.version}" for b in bumps)):
        try:
            lock = _resolved(trying)
        except ProfileError as error:
            return replace(candidate, static=Status.BROKEN, evidence=f"resolve: {error}")
        found = preflight.judge_closure(trying, lock)
    if not passed(found):
        return replace(candidate, static=Status.BROKEN, evidence=evidence(found))
    return replace(candidate, static=Status.OK, evidence=f"{len(lock.packages)} packages resolve")


def _deep(profile: Profile, project: Project, candidate: Candidate, *, tier3: bool) -> Candidate:
    trying = derive(profile, candidate.bumps)
    lock = _resolved(trying)
    found = trial.try_lock(trying, lock, project, tier3=tier3)
    tiers12 = [finding for finding in found if finding.tier <= 2]
    models = [finding for finding in found if finding.tier == 3]
    deep = Status.OK if passed(tiers12) else Status.BROKEN
    third = None if not tier3 else Status.OK if passed(models) else Status.BROKEN
    if deep is Status.BROKEN:
        third = None
    said = evidence(found) or f"tiers 1-{3 if tier3 else 2}: {len(found)} checks pass"
    return replace(candidate, deep=deep, tier3=third, evidence=said)


def write(profile: Profile, proposal: Proposal) -> tuple[str, ...]:
    """Apply the best proven candidates to the files that write those pins, then lock again;
    the new lock must pass the static judge. On any failure (or an interrupt) every file is
    put back byte for byte. Returns what changed, and the other profiles left stale."""
    bumps = best(proposal.candidates)
    if not bumps:
        raise UsageError(f"propose {profile.name}: no candidate was proven; nothing to write")
    directory = profile.path.parent
    others = [n for n in profile_names(directory) if n != profile.name]
    fresh_before = _fresh(others, directory)
    edits: dict[Path, dict[NormalizedName, Version]] = {}
    for bump in bumps:
        edits.setdefault(pin_file(profile, bump.package), {})[bump.package] = bump.version
    lock_file = locks.lock_path(profile)
    saved = {path: path.read_bytes() for path in edits}
    saved_lock = lock_file.read_bytes() if lock_file.is_file() else None
    try:
        for path, changes in edits.items():
            write_atomic(path, set_pins(path.read_text(encoding="utf-8"), changes, path))
        changed = load_profile(profile.name, directory)
        for bump in bumps:
            if changed.pins.get(bump.package) != bump.version:
                raise ProfileError(
                    f"{profile.path}: pins.{bump.package}: still not {bump.version} after the "
                    "edit (a child file overrides it?); change it by hand"
                )
        with progress.step("lock", profile.name):
            relocked = transaction.commit(resolver.relock(changed))
        failed = evidence(preflight.judge_closure(changed, relocked))
        if failed:
            raise ProfileError(f"{lock_file}: the proven pins fail together: {failed}")
    except BaseException:
        for path, data in saved.items():
            path.write_bytes(data)
        if saved_lock is None:
            lock_file.unlink(missing_ok=True)
        else:
            lock_file.write_bytes(saved_lock)
        raise
    stale = sorted(set(fresh_before) - set(_fresh(others, directory)))
    written = [
        f"{path.name}: {', '.join(f'{n}=={v}' for n, v in c.items())}" for path, c in edits.items()
    ]
    written.append(f"{lock_file.name}: locked again")
    written += [f"pylock.{name}.toml: now stale (run `imagegate lock {name}`)" for name in stale]
    return tuple(written)


def _fresh(names: Sequence[str], directory: Path) -> list[str]:
    loaded = load_each(names, directory).values()
    return [p.name for p in loaded if isinstance(p, Profile) and locks.staleness(p) is None]
