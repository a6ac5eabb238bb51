"""`check`: everything that can be known before an image is built, in seconds, no Docker.

The profile is valid (or loading it failed already); its lock is fresh; its pins resolve
together for the target; every locked wheel fits the target; pins, invariants and known
issues hold over the whole closure (judged by `verify.judge_versions`, the same judge the
image gets). `deep` goes on where the host can run the target's wheels: it installs the
lock into a trial virtual environment (kept between runs, synced to each lock) and runs
tiers 1-2 there.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from packaging.utils import NormalizedName, parse_wheel_filename

from imagegate import gpu_rules, progress, resolver, trial, wheelhouse
from imagegate import lock as locks
from imagegate.errors import EnvironmentProblem, ProfileError
from imagegate.facts import Distribution, Facts
from imagegate.findings import Finding, Status
from imagegate.lock import Lock
from imagegate.profiles import Profile
from imagegate.project import Project
from imagegate.verify import judge_versions

TIER = 0
"""Preflight findings: before any image exists."""


class Unresolved(EnvironmentProblem):
    """The closure could not be resolved here (an index out of reach): exit 3, and not a
    pass. It carries the findings the check could still make, for the report."""

    def __init__(self, message: str, findings: list[Finding]) -> None:
        super().__init__(message)
        self.findings = findings


@dataclass(frozen=True, kw_only=True)
class Checked:
    findings: list[Finding]
    lock: Lock | None
    """The lock judged: the profile's own when it is fresh, else the one resolved now (not
    written); None when its pins did not resolve together."""


def check(profile: Profile) -> list[Finding]:
    """Raises Unresolved, with what was judged, when the closure cannot be resolved here."""
    return examine(profile).findings


def examine(profile: Profile, in_hand: Lock | None = None) -> Checked:
    """`check`, and the lock it judged, for the steps after it: the lock is read (unless it
    is `in_hand` already) or resolved once. Raises Unresolved as `check` does."""
    rows = [_row("profile", profile.path.name, Status.OK, "valid", "valid"), _hardware(profile)]
    path = locks.lock_path(profile)
    found = in_hand if in_hand is not None else locks.on_disk(profile)
    stale = locks.why_stale(profile, found)
    if found is not None and stale is None:
        rows.append(_row("lock", path.name, Status.OK, "fresh", "fresh"))
        return Checked(findings=rows + judge_closure(profile, found), lock=found)
    status = Status.MISSING if found is None else Status.STALE_LOCK
    lock_row = _row(
        "lock", path.name, status, "fresh", stale or "", f"run `imagegate lock {profile.name}`"
    )
    rows.append(lock_row)
    try:
        fresh = Lock.parse(resolver.resolve(profile).encode("utf-8"), path)  # not written
    except EnvironmentProblem as error:
        if status is Status.MISSING:
            rows[-1] = replace(
                lock_row, status=Status.SKIPPED, evidence=f"cannot lock here: {error}"
            )
        else:
            rows.append(_row("resolve", "pins", Status.SKIPPED, "resolve together", "", str(error)))
        raise Unresolved(f"check {profile.name}: {error}", rows + _judge_pins(profile)) from None
    except ProfileError as error:
        conflict = _row(
            "resolve", "pins", Status.BROKEN, "resolve together", "conflict", str(error)
        )
        return Checked(findings=[*rows, conflict], lock=None)
    rows.append(
        _row("resolve", "pins", Status.OK, "resolve together", f"{len(fresh.packages)} packages")
    )
    return Checked(findings=rows + judge_closure(profile, fresh), lock=fresh)


def _hardware(profile: Profile) -> Finding:
    """The declared GPU architectures against the profile's CUDA/ROCm version."""
    problems = [p for p in gpu_rules.consistency(profile) if not p.startswith("warning: ")]
    declared = " ".join(profile.hardware.architectures) or profile.hardware.vendor
    if problems:
        return _row(
            "hardware", "architectures", Status.BROKEN, "consistent", declared, "; ".join(problems)
        )
    return _row("hardware", "architectures", Status.OK, "consistent", declared)


def judge_closure(profile: Profile, lock: Lock) -> list[Finding]:
    """A closure judged without installing it: its wheels fit the target; pins, invariants
    and known issues hold over it."""
    target = profile.target
    unfit = [
        name
        for name, locked in lock.packages.items()
        if not any(target.accepts(parse_wheel_filename(w.filename)[3]) for w in locked.wheels)
    ]
    where = f"Python {target.python} on {target.platform}"
    if unfit:
        rows = [
            _row("wheel", name, Status.BROKEN, f"a wheel for {where}", "none in the lock")
            for name in unfit
        ]
    else:
        rows = [
            _row(
                "wheel",
                f"{len(lock.packages)} packages",
                Status.OK,
                f"wheels for {where}",
                "all fit",
            )
        ]
    return rows + judge_versions(profile, closure_facts(profile, lock), tier=TIER)


def _judge_pins(profile: Profile) -> list[Finding]:
    """Without a closure, what the profile's own pins tell: invariants and known issues over
    the pinned versions. The pins are not judged against themselves."""
    pinned = {name: str(version) for name, version in profile.pins.items()}
    scope = "judged over the profile's pins only: the closure could not be resolved"
    return [
        replace(
            finding,
            actual="not pinned" if finding.actual == "not installed" else finding.actual,
            evidence=finding.evidence or scope,
        )
        for finding in judge_versions(profile, _facts(profile, pinned), tier=TIER)
        if finding.check not in ("python", "pin")
    ]


def closure_facts(profile: Profile, lock: Lock) -> Facts:
    """The lock's closure as facts: what the image will hold, before it exists."""
    return _facts(profile, {name: str(locked.version) for name, locked in lock.packages.items()})


def _facts(profile: Profile, versions: Mapping[NormalizedName, str]) -> Facts:
    distributions = {
        name: Distribution(name=name, version=version, requires=(), top_level=())
        for name, version in versions.items()
    }
    return Facts(
        python_version=profile.target.python,
        environment={},
        distributions=distributions,
        items=(),
        seconds=0.0,
    )


def deep(profile: Profile, project: Project) -> Checked:
    """Tiers 1-2 in a trial venv on the host, installed from the wheelhouse by hash.

    The lock (made again when stale) and the wheelhouse are brought up to date first, and
    the lock installed is handed back, so `examine` after it judges that very lock (None
    when the host can't run the target: nothing was installed)."""
    why = trial.host_cannot_run(profile)
    if why is not None:
        skipped = _row("deep", profile.name, Status.SKIPPED, "tiers 1-2 in a venv", "", why)
        return Checked(findings=[skipped], lock=None)
    directory = project.wheelhouse_dir(profile.name)
    with progress.step("fill", f"{profile.name}: lock and wheelhouse"):
        lock = resolver.prepare(profile)
        wheelhouse.fill(profile, lock, directory, echo=False)
    return Checked(findings=trial.tiers(profile, directory), lock=lock)


def _row(
    check: str, subject: str, status: Status, expected: str, actual: str, evidence: str = ""
) -> Finding:
    return Finding(
        tier=TIER,
        check=check,
        subject=subject,
        status=status,
        expected=expected,
        actual=actual,
        evidence=evidence,
    )
