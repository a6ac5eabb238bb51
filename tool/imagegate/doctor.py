"""The doctor: a live Python environment (a venv, a pod's interpreter) against its profile.

The same in-image scripts collect facts and the same judge as `verify` decides; on top, the
three-way consistency of seed 000 — profile ↔ lock ↔ wheelhouse ↔ environment — is checked
and the one that is wrong is named, so a stale wheelhouse is not mistaken for a broken venv;
a repair killed half-way (its journal still there) is named too, with the command that rolls
it back.
"""

from __future__ import annotations

from pathlib import Path

from imagegate import journal as journals
from imagegate import lock as locks
from imagegate import wheelhouse
from imagegate.closure import compare
from imagegate.executors import HostPython
from imagegate.facts import Facts
from imagegate.findings import Finding, Status
from imagegate.lock import Lock
from imagegate.profiles import Profile
from imagegate.project import Project
from imagegate.smoke import examine as examine_tiers

CHECK = "consistency"


def diagnose(
    profile: Profile,
    project: Project,
    python: Path,
    *,
    tier3: bool = False,
    repairing: bool = False,
) -> list[Finding]:
    """`repairing`: the caller is the repair that holds the journal, which is no leftover."""
    return examine(profile, project, python, tier3=tier3, repairing=repairing)[1]


def examine(
    profile: Profile,
    project: Project,
    python: Path,
    *,
    tier3: bool = False,
    repairing: bool = False,
) -> tuple[Facts, list[Finding]]:
    """The facts of the environment and the findings on them: the tiers, and the doctor's
    own rows on the same facts."""

    def rows(facts: Facts) -> list[Finding]:
        found = consistency(profile, project, facts)
        return found if repairing else [*found, interrupted_repair(profile, python)]

    return examine_tiers(HostPython(python), profile, tier3=tier3, more=rows)


def consistency(profile: Profile, project: Project, facts: Facts) -> list[Finding]:
    """profile ↔ lock, lock ↔ wheelhouse, lock ↔ environment: one row each."""
    lock = locks.on_disk(profile)
    stale = locks.why_stale(profile, lock)
    if lock is None or stale is not None:
        return [
            _row(
                "profile ↔ lock",
                Status.MISSING if lock is None else Status.STALE_LOCK,
                stale or "",
                f"run `imagegate lock {profile.name}`",
            )
        ]
    rows = [_row("profile ↔ lock", Status.OK, "fresh")]
    directory = project.wheelhouse_dir(profile.name)
    problems = wheelhouse.audit(profile, lock, directory)
    if problems:
        evidence = f"{'; '.join(problems[:3])}; run `imagegate wheelhouse {profile.name}`"
        rows.append(
            _row("lock ↔ wheelhouse", Status.WRONG_VERSION, f"{len(problems)} wrong", evidence)
        )
    else:
        rows.append(_row("lock ↔ wheelhouse", Status.OK, f"{len(lock.packages)} wheels"))
    rows.append(lock_environment(profile, lock, facts))
    return rows


def lock_environment(profile: Profile, lock: Lock, facts: Facts) -> Finding:
    """The lock ↔ environment row: the locked closure for this environment's markers, as
    installed (what the lock holds for other platforms or Pythons is not drift)."""
    compared = compare(lock, facts)
    drift = [
        f"{d.name} {'missing' if d.installed is None else d.installed} (locked {d.locked})"
        for d in compared.drifted
    ]
    if drift:
        return _row(
            "lock ↔ environment",
            Status.WRONG_VERSION,
            f"{len(drift)} differ",
            f"{'; '.join(drift[:5])}; run `imagegate repair {profile.name}`",
        )
    return _row("lock ↔ environment", Status.OK, f"{len(compared.closure)} as locked")


def interrupted_repair(profile: Profile, python: Path) -> Finding:
    """A repair journal left in the environment: half of a repair is installed."""
    left = journals.read(journals.prefix(python))
    if left is None:
        return _row("repair journal", Status.OK, "none left")
    return _row(
        "repair journal",
        Status.BROKEN,
        "left by a killed repair",
        f"{left.folder}: half-repaired, a rollback restores {', '.join(left.restores()[:5])}; "
        f"run `imagegate repair {profile.name} --python {python}` (it rolls back first)",
    )


def _row(subject: str, status: Status, actual: str, evidence: str = "") -> Finding:
    return Finding(
        tier=1,
        check=CHECK,
        subject=subject,
        status=status,
        expected="consistent",
        actual=actual,
        evidence=evidence,
    )
