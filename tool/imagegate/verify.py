"""The one judge: facts collected from an image (or a venv) against a profile.

Pure functions over facts. Build, verify and doctor call `judge` on facts from a live
Python; `check` calls `judge_versions` on a lock's closure, the versions half of the same
judgement; `judge_closure` holds an image's whole closure against its lock. Versions are
compared as `packaging` Versions with their local label: `2.5.1+cu121`, `2.5.1` and
`2.5.1+cpu` are three different builds, so an exact pin never uses a specifier (where
`==2.5.1` would accept `2.5.1+cpu`).

Here: versions, requirements, facts, probes and tier 3. Apart, by concern: the installed
files and module origins (`verify_files`), torch's kernels and consistency (`verify_torch`),
what the image asks of the container runtime (`verify_runtime`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import replace
from functools import partial

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import InvalidVersion, Version

from imagegate import known_issues
from imagegate.closure import Drift, compare, same_build
from imagegate.contract import LOCK_LABEL
from imagegate.facts import Facts, ItemResult, ModelFacts
from imagegate.findings import Finding, Status
from imagegate.known_issues import KnownIssue
from imagegate.lock import Lock
from imagegate.profiles import Profile
from imagegate.verify_files import installed_files, origins
from imagegate.verify_torch import architectures, torch_consistency


def judge(
    profile: Profile, facts: Facts, issues: Sequence[KnownIssue] | None = None
) -> list[Finding]:
    """Every tier 1-2 finding for facts collected from a live Python environment."""
    return [
        *judge_versions(profile, facts, issues, tier=1),
        *installed_files(facts),
        *_requirements(facts),
        *_facts(profile, facts),
        *architectures(profile, facts),
        *torch_consistency(facts),
        *_probes(profile, facts),
        *origins(facts),
    ]


def judge_versions(
    profile: Profile, facts: Facts, issues: Sequence[KnownIssue] | None = None, *, tier: int
) -> list[Finding]:
    """Python, pins, invariants and known issues: what versions alone can tell."""
    versions = {name: dist.version for name, dist in facts.distributions.items()}
    known = known_issues.load() if issues is None else issues
    found = [
        _python(profile, facts),
        *_pins(profile, facts),
        *_invariants(profile, facts),
        *known_issues.findings(versions, known, tier=tier),
    ]
    return [replace(finding, tier=tier) for finding in found]


def judge_closure(
    profile: Profile, facts: Facts, lock: Lock, *, image_lock: str | None
) -> list[Finding]:
    """Tier 1: every distribution installed against `lock`, exactly, both ways.

    `image_lock` is the lock the image says it was built from (its `org.imagegate.lock`
    label, `sha256:…`), or None. One row says which lock is judged, one row holds all that
    is as locked, and each deviation is a row of its own: a locked package missing or at
    another build, an installed one the lock does not hold (failing unless the profile
    allows it under `allow_extra`)."""
    compared = compare(lock, facts)
    deviations = [
        Finding(
            tier=1,
            check="lock",
            subject=deviation.name,
            status=Status.MISSING if deviation.drift is Drift.MISSING else Status.WRONG_VERSION,
            expected=f"=={deviation.locked}",
            actual="not installed" if deviation.installed is None else deviation.installed,
        )
        for deviation in compared.drifted
    ]
    extras = [
        _extra(profile, lock, deviation.name, deviation.installed or "")
        for deviation in compared.extras
    ]
    as_locked = Finding(
        tier=1,
        check="lock",
        subject=f"{compared.as_locked} distributions",
        status=Status.OK,
        expected=f"as locked in {lock.path.name}",
        actual="as locked",
    )
    return [_lock_label(lock, image_lock), as_locked, *deviations, *extras]


def _lock_label(lock: Lock, image_lock: str | None) -> Finding:
    """Which lock is judged: the image's own when it names this one; else this one, said so."""
    judged = f"sha256:{lock.sha256}"
    same = image_lock == judged
    named = "another lock (not in this project)" if image_lock else "no lock"
    return Finding(
        tier=1,
        check="lock-label",
        subject=LOCK_LABEL,
        status=Status.OK if same else Status.SKIPPED,
        expected=f"{judged} ({lock.path.name})",
        actual=image_lock or "none",
        evidence="" if same else f"the image names {named}; judged against {lock.path.name}",
    )


def _extra(profile: Profile, lock: Lock, name: NormalizedName, version: str) -> Finding:
    reason = profile.allow_extra.get(name)
    if reason is not None:
        return Finding(
            tier=1,
            check="extra",
            subject=name,
            status=Status.OK,
            expected="allowed (allow_extra)",
            actual=version,
            evidence=reason,
        )
    return Finding(
        tier=1,
        check="extra",
        subject=name,
        status=Status.WRONG_VERSION,
        expected=f"not installed (not in {lock.path.name})",
        actual=version,
        evidence=f"remove it from the image, or allow it under allow_extra in "
        f"{profile.path.name} with a reason",
    )


def _python(profile: Profile, facts: Facts) -> Finding:
    actual = ".".join(facts.python_version.split(".")[:2])
    status = Status.OK if actual == profile.target.python else Status.WRONG_VERSION
    return Finding(
        tier=1,
        check="python",
        subject="python",
        status=status,
        expected=profile.target.python,
        actual=facts.python_version,
    )


def _pins(profile: Profile, facts: Facts) -> Iterator[Finding]:
    for name, pin in profile.pins.items():
        installed = facts.distributions.get(name)
        if installed is None:
            status, actual = Status.MISSING, "not installed"
        else:
            ok = same_build(installed.version, pin)
            status, actual = (Status.OK if ok else Status.WRONG_VERSION), installed.version
        yield Finding(
            tier=1, check="pin", subject=name, status=status, expected=f"=={pin}", actual=actual
        )


def _invariants(profile: Profile, facts: Facts) -> Iterator[Finding]:
    for name, specifier in profile.invariants.items():
        installed = facts.distributions.get(name)
        common = partial(Finding, tier=1, check="invariant", subject=name, expected=str(specifier))
        if installed is None:
            yield common(status=Status.SKIPPED, actual="not installed")
            continue
        try:
            holds = specifier.contains(Version(installed.version), prereleases=True)
        except InvalidVersion:
            holds = False
        status = Status.OK if holds else Status.WRONG_VERSION
        yield common(status=status, actual=installed.version)


def _requirements(facts: Facts) -> Iterator[Finding]:
    """What `pip check` does, judged with packaging against the image's own markers."""
    environment = {**facts.environment, "extra": ""}
    problems = 0
    for dist in facts.distributions.values():
        for text in dist.requires:
            try:
                requirement = Requirement(text)
            except InvalidRequirement as error:
                problems += 1
                yield _requirement_finding(
                    dist.name, dist.version, text, Status.BROKEN, "", str(error)
                )
                continue
            if requirement.marker is not None and not requirement.marker.evaluate(environment):
                continue
            needed = facts.distributions.get(canonicalize_name(requirement.name))
            if needed is None:
                problems += 1
                yield _requirement_finding(
                    dist.name, dist.version, text, Status.MISSING, "not installed", ""
                )
            elif not _satisfies(needed.version, requirement):
                problems += 1
                yield _requirement_finding(
                    dist.name, dist.version, text, Status.WRONG_VERSION, needed.version, ""
                )
    if not problems:
        yield Finding(
            tier=1,
            check="requirement",
            subject=f"requirements of {len(facts.distributions)} distributions",
            status=Status.OK,
            expected="all declared requirements met",
            actual="met",
        )


def _satisfies(version: str, requirement: Requirement) -> bool:
    try:
        return requirement.specifier.contains(Version(version), prereleases=True)
    except InvalidVersion:
        return False


def _requirement_finding(
    owner: str, owner_version: str, text: str, status: Status, actual: str, evidence: str
) -> Finding:
    name = Requirement(text).name if status is not Status.BROKEN else text
    return Finding(
        tier=1,
        check="requirement",
        subject=f"{canonicalize_name(name)} (required by {owner} {owner_version})",
        status=status,
        expected=text,
        actual=actual,
        evidence=evidence,
    )


def _facts(profile: Profile, facts: Facts) -> Iterator[Finding]:
    reported = {item.subject: item for item in facts.items if item.kind == "fact"}
    for expression, expected in profile.facts.items():
        item = reported.get(expression)
        common = partial(Finding, tier=1, check="fact", subject=expression, expected=expected)
        if item is None:
            yield common(status=Status.MISSING, actual="not collected")
        elif not item.ok:
            yield common(status=Status.BROKEN, evidence=item.error or "", seconds=item.seconds)
        else:
            actual = str(item.value)  # a null value is Python's None, written "None" in profiles
            status = Status.OK if actual == expected else Status.WRONG_VERSION
            yield common(status=status, actual=actual, seconds=item.seconds)


def _probes(profile: Profile, facts: Facts) -> Iterator[Finding]:
    reported = {(item.kind, item.subject): item for item in facts.items if item.kind != "fact"}
    wanted = [("module", name) for name in profile.probes.imports]
    wanted += [("statement", name) for name in profile.probes.statements]
    for key in wanted:
        if key not in reported:
            yield Finding(
                tier=2,
                check=_CHECK[key[0]],
                subject=key[1],
                status=Status.MISSING,
                actual="not run",
            )
    for item in reported.values():
        yield _probe_finding(item)
    for module, reason in profile.probes.exclude.items():
        yield Finding(
            tier=2, check="import", subject=module, status=Status.SKIPPED, evidence=reason
        )


_CHECK = {"module": "import", "statement": "statement"}


def _probe_finding(item: ItemResult) -> Finding:
    return Finding(
        tier=2,
        check=_CHECK.get(item.kind, item.kind),
        subject=item.subject,
        status=Status.OK if item.ok else Status.BROKEN,
        expected="imports" if item.kind == "module" else item.code,
        actual="ok" if item.ok else "failed",
        evidence=(item.error or "") + (" (isolated)" if item.isolated and not item.ok else ""),
        seconds=item.seconds,
    )


def judge_models(profile: Profile, facts: ModelFacts) -> list[Finding]:
    """Tier 3: each step as reported; a model or step the profile names but nobody ran is
    MISSING. A step skipped for want of a GPU is SKIPPED (the script itself turns it into a
    failure under --require-gpu)."""
    found = [
        Finding(
            tier=3,
            check="model",
            subject=step.step,
            status=Status.OK if step.ok else Status.SKIPPED if step.skipped else Status.BROKEN,
            expected="runs",
            actual="ok" if step.ok else "skipped" if step.skipped else "failed",
            evidence=step.reason or step.error or "",
            seconds=step.seconds,
        )
        for step in facts.steps
    ]
    ran = {step.step for step in facts.steps}
    wanted = [f"{model}/build" for model in profile.probes.models]
    wanted += [f"custom/{name}" for name in profile.probes.steps]
    found += [
        Finding(
            tier=3,
            check="model",
            subject=name,
            status=Status.MISSING,
            expected="runs",
            actual="not run",
        )
        for name in wanted
        if name not in ran
    ]
    return found
