"""`bisect`: the smallest set of package changes between a good lock and a bad one that
breaks the stack.

The changes are ordered so that what a package needs comes before it (from the metadata of
the bad lock's wheels), and a change always brings along the packages the bad lock adds
for it. A mix is the good closure with some changes applied; each is first resolved with
its exact versions (a mix that cannot be installed is skipped and said so, and a neighbour
is tried), then installed in a trial venv and judged. The search finds the shortest
failing prefix of the changes by halving (about log2(N) rounds), takes its last change as
a culprit, checks whether the culprits alone fail, and otherwise searches again before it
with them applied: a pair that only breaks together is found as a pair.
"""

from __future__ import annotations

import time
import zipfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from email.parser import HeaderParser
from functools import partial
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from imagegate import lock as locks
from imagegate import progress, resolver, runner, trial
from imagegate.errors import ProfileError, UsageError
from imagegate.findings import passed
from imagegate.lock import Lock, Locked
from imagegate.profiles import Profile
from imagegate.project import Project
from imagegate.propose import evidence
from imagegate.target import Target

GIT_TIMEOUT = 60.0
FAILS, PASSES, SKIPPED = "fails", "passes", "skipped"


@dataclass(frozen=True, kw_only=True)
class Change:
    package: NormalizedName
    good: Version | None
    bad: Version | None

    def __str__(self) -> str:
        if self.good is None:
            return f"{self.package} (added {self.bad})"
        if self.bad is None:
            return f"{self.package} (removed {self.good})"
        return f"{self.package} {self.good} -> {self.bad}"


@dataclass(frozen=True, kw_only=True)
class Round:
    changes: tuple[NormalizedName, ...]
    """The changes applied to the good closure (with what they bring along)."""
    outcome: str
    evidence: str = ""

    def to_dict(self) -> dict[str, object]:
        return {"changes": list(self.changes), "outcome": self.outcome, "evidence": self.evidence}


@dataclass(frozen=True, kw_only=True)
class Bisection:
    profile: str
    changes: tuple[Change, ...]
    rounds: tuple[Round, ...]
    culprits: tuple[NormalizedName, ...]
    evidence: str
    last_good: tuple[NormalizedName, ...] | None
    """The largest mix that passed; None when none was tried (the good lock itself)."""
    unsplit: bool = False
    """The culprits hold a block of changes whose mixes in between could not be installed."""
    seconds: float = 0.0
    skipped: tuple[str, ...] = field(default=())

    @property
    def venvs(self) -> int:
        return sum(r.outcome != SKIPPED for r in self.rounds)

    def to_dict(self) -> dict[str, object]:
        return {
            "profile": self.profile,
            "changes": [str(change) for change in self.changes],
            "rounds": [r.to_dict() for r in self.rounds],
            "venvs": self.venvs,
            "culprits": list(self.culprits),
            "evidence": self.evidence,
            "last_good": None if self.last_good is None else list(self.last_good),
            "unsplit": self.unsplit,
            "seconds": round(self.seconds, 1),
        }


def changes(good: Lock, bad: Lock) -> list[Change]:
    """Every package whose version differs, added or removed, by name."""
    names = sorted(set(good.packages) | set(bad.packages))
    found = []
    for name in names:
        before, after = good.packages.get(name), bad.packages.get(name)
        if before is None or after is None or before.version != after.version:
            found.append(
                Change(
                    package=name,
                    good=None if before is None else before.version,
                    bad=None if after is None else after.version,
                )
            )
    return found


def mix(good: Lock, bad: Lock, chosen: Iterable[NormalizedName]) -> dict[NormalizedName, Locked]:
    """The good closure with the chosen changes taken from the bad one."""
    packages = dict(good.packages)
    for name in chosen:
        if name in bad.packages:
            packages[name] = bad.packages[name]
        else:
            packages.pop(name, None)
    return dict(sorted(packages.items()))


def order(found: Sequence[Change], requires: Mapping[str, set[str]]) -> list[Change]:
    """What a changed package needs before it (a stable topological order, else by name)."""
    by_name = {change.package: change for change in found}
    done: list[Change] = []
    seen: set[str] = set()

    def visit(name: str, path: tuple[str, ...]) -> None:
        if name in seen or name in path or name not in by_name:
            return
        for needed in sorted(requires.get(name, set())):
            visit(needed, (*path, name))
        seen.add(name)
        done.append(by_name[NormalizedName(name)])

    for change in found:
        visit(change.package, ())
    return done


def brought(
    chosen: Iterable[str], found: Sequence[Change], requires: Mapping[str, set[str]]
) -> frozenset[NormalizedName]:
    """The chosen changes with every package the bad lock adds that they need, transitively."""
    added = {c.package for c in found if c.good is None}
    result: set[NormalizedName] = set()
    todo = [NormalizedName(name) for name in chosen]
    while todo:
        name = todo.pop()
        if name not in result:
            result.add(name)
            todo += [NormalizedName(n) for n in requires.get(name, set()) if n in added]
    return frozenset(result)


@dataclass(frozen=True, kw_only=True)
class Found:
    culprits: tuple[str, ...]
    last_good: frozenset[str] | None
    unsplit: bool


def search(units: Sequence[str], fails: Callable[[frozenset[str]], bool | None]) -> Found:
    """The culprits among `units` (ordered), given `fails(applied)`: True when the mix
    fails, False when it passes, None when it cannot be installed. `fails(all)` must be True
    and the empty mix is taken as passing. Asks each mix at most once."""
    asked: dict[frozenset[str], bool | None] = {}

    def ask(applied: frozenset[str]) -> bool | None:
        if applied not in asked:
            asked[applied] = fails(applied)
        return asked[applied]

    culprits: list[str] = []
    rest = list(units)
    last_good: frozenset[str] | None = None
    unsplit = False
    while rest:
        base = frozenset(culprits)
        if culprits and ask(base):
            break
        lo, hi = 0, len(rest)  # base + rest[:lo] passes, base + rest[:hi] fails
        while hi - lo > 1:
            probed = _probe(lo, hi, partial(_prefix, ask, base, tuple(rest)))
            if probed is None:
                break
            k, failed = probed
            if failed:
                hi = k
            else:
                lo, last_good = k, base | frozenset(rest[:k])
        if hi - lo > 1:  # nothing between could be installed: the block stays whole
            unsplit = True
        culprits += rest[lo:hi]
        rest = rest[:lo]
    return Found(culprits=tuple(culprits), last_good=last_good, unsplit=unsplit)


def _prefix(
    ask: Callable[[frozenset[str]], bool | None],
    base: frozenset[str],
    rest: tuple[str, ...],
    k: int,
) -> bool | None:
    return ask(base | frozenset(rest[:k]))


def _probe(lo: int, hi: int, ask: Callable[[int], bool | None]) -> tuple[int, bool] | None:
    """The prefix length nearest the middle of (lo, hi) whose mix can be installed."""
    middle = (lo + hi) // 2
    nearest = sorted(range(lo + 1, hi), key=lambda k: (abs(k - middle), k))
    for k in nearest:
        verdict = ask(k)
        if verdict is not None:
            return k, verdict
    return None


def marker_environment(target: Target) -> dict[str, str]:
    """The environment markers of the target (linux wheels), for a wheel's Requires-Dist."""
    return {
        "python_version": target.python,
        "python_full_version": f"{target.python}.0",
        "implementation_name": "cpython",
        "platform_python_implementation": "CPython",
        "os_name": "posix",
        "sys_platform": "linux",
        "platform_system": "Linux",
        "platform_machine": target.arch,
        "extra": "",
    }


def requirement_names(metadata: str, environment: Mapping[str, str]) -> set[str]:
    """What a wheel's METADATA requires on the target, without extras, by name."""
    names: set[str] = set()
    for line in HeaderParser().parsestr(metadata).get_all("Requires-Dist") or []:
        try:
            requirement = Requirement(line)
        except InvalidRequirement:
            continue
        if requirement.marker is None or requirement.marker.evaluate(dict(environment)):
            names.add(canonicalize_name(requirement.name))
    return names


def read_lock(spec: str, profile: Profile) -> Lock:
    """A lock file, or the profile's lock at a git revision (`HEAD~3`, a tag, a commit)."""
    path = Path(spec)
    if path.is_file():
        return Lock.read(path)
    lock_file = locks.lock_path(profile)
    shown = runner.run(
        ["git", "-C", lock_file.parent, "show", f"{spec}:./{lock_file.name}"], timeout=GIT_TIMEOUT
    )
    if not shown.ok:
        raise UsageError(
            f"{spec}: neither a lock file nor a git revision holding {lock_file.name} "
            f"({shown.tail(1)}); pass a pylock file or a revision"
        )
    return Lock.parse(shown.output.encode("utf-8"), Path(f"{spec}:{lock_file.name}"))


def bisect(
    profile: Profile, project: Project, good: Lock, bad: Lock, *, tier3: bool = False
) -> Bisection:
    started = time.monotonic()
    cannot = trial.host_cannot_run(profile)
    if cannot is not None:
        raise UsageError(f"bisect {profile.name}: cannot run the target's wheels here: {cannot}")
    found = changes(good, bad)
    if not found:
        raise UsageError(f"{good.path} and {bad.path} hold the same versions; nothing to bisect")
    rounds: list[Round] = []
    tried: dict[frozenset[NormalizedName], bool | None] = {}
    requires: dict[str, set[str]] = {}
    failing: dict[frozenset[NormalizedName], str] = {}

    def fails(applied: frozenset[str]) -> bool | None:
        whole = brought(applied, found, requires)
        if whole in tried:
            return tried[whole]
        packages = mix(good, bad, whole)
        trying = _profile_for(profile, packages)
        names = tuple(sorted(whole))
        with progress.step("mix", ", ".join(names) or "none"):
            why = _cannot_install(trying, packages)
            if why is not None:
                rounds.append(Round(changes=names, outcome=SKIPPED, evidence=why))
                tried[whole] = None
                return None
            found_now = trial.try_lock(
                trying, replace(good, packages=packages), project, tier3=tier3
            )
        judged = [f for f in found_now if f.tier <= (3 if tier3 else 2)]
        broken = not passed(judged)
        said = evidence(judged)
        rounds.append(Round(changes=names, outcome=FAILS if broken else PASSES, evidence=said))
        tried[whole] = broken
        if broken:
            failing[whole] = said
        return broken

    everything = frozenset(c.package for c in found)
    verdict = fails(everything)
    if verdict is None:
        raise UsageError(f"{bad.path}: cannot be installed here: {rounds[-1].evidence}")
    if not verdict:
        raise UsageError(
            f"{bad.path}: passes tiers 1-{3 if tier3 else 2} here; nothing to bisect "
            "(pass the lock that fails as --bad)"
        )
    requires.update(_requirements(profile, project, bad, found))
    ordered = order(found, requires)
    result = search([c.package for c in ordered], fails)
    culprits = brought(result.culprits, found, requires)
    said = failing.get(culprits, "") or next(
        (failing[m] for m in failing if culprits <= m), rounds[0].evidence
    )
    return Bisection(
        profile=profile.name,
        changes=tuple(ordered),
        rounds=tuple(rounds),
        culprits=tuple(NormalizedName(c) for c in result.culprits),
        evidence=said,
        last_good=None
        if result.last_good is None
        else tuple(sorted(brought(result.last_good, found, requires))),
        unsplit=result.unsplit,
        seconds=time.monotonic() - started,
    )


def _profile_for(profile: Profile, packages: Mapping[NormalizedName, Locked]) -> Profile:
    """The profile whose pins are the mix's versions: a pin moved by a change is the change
    under test, not a wrong version."""
    pins = {name: packages[name].version for name in profile.pins if name in packages}
    protected = tuple(name for name in profile.protected if name in pins)
    return replace(profile, pins=pins, protected=protected)


def _cannot_install(profile: Profile, packages: Mapping[NormalizedName, Locked]) -> str | None:
    exact = [f"{name}=={locked.version}" for name, locked in packages.items()]
    try:
        resolved = set(resolver.resolve_exact(profile, exact))
    except ProfileError as error:
        return str(error).partition(": pins: ")[2] or str(error)
    missing = sorted(resolved - set(packages))
    return f"needs {', '.join(missing)}, which the mix lacks" if missing else None


def _requirements(
    profile: Profile, project: Project, bad: Lock, found: Sequence[Change]
) -> dict[str, set[str]]:
    """What each changed package of the bad lock requires, from its wheel's METADATA (the
    trial of the bad lock put every wheel in the pool)."""
    pool = project.pool
    environment = marker_environment(profile.target)
    result: dict[str, set[str]] = {}
    for change in found:
        locked = bad.packages.get(change.package)
        if locked is None:
            continue
        for wheel in locked.wheels:
            metadata = _metadata(pool / wheel.filename)
            if metadata is not None:
                result[change.package] = requirement_names(metadata, environment)
                break
    return result


def _metadata(wheel: Path) -> str | None:
    try:
        with zipfile.ZipFile(wheel) as archive:
            for name in archive.namelist():
                if name.count("/") == 1 and name.endswith(".dist-info/METADATA"):
                    return archive.read(name).decode("utf-8", errors="replace")
    except (OSError, zipfile.BadZipFile):
        return None
    return None
