"""The one judge: facts collected from an image (or a venv) against a profile.

Pure functions over facts. Build, verify and doctor call `judge` on facts from a live
Python; `check` calls `judge_versions` on a lock's closure, the versions half of the same
judgement; `judge_closure` holds an image's whole closure against its lock. Versions are
compared as `packaging` Versions with their local label: `2.5.1+cu121`, `2.5.1` and
`2.5.1+cpu` are three different builds, so an exact pin never uses a specifier (where
`==2.5.1` would accept `2.5.1+cpu`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import replace
from functools import partial

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import InvalidVersion, Version

from imagegate import known_issues, nvidia_runtime
from imagegate.closure import Drift, compare, same_build
from imagegate.contract import LOCK_LABEL
from imagegate.facts import (
    CUDA_FACT,
    Distribution,
    Facts,
    FileProblems,
    ItemResult,
    ModelFacts,
)
from imagegate.findings import Finding, Status
from imagegate.kernels import Kernels, machine_code, ptx
from imagegate.known_issues import KnownIssue
from imagegate.lock import Lock
from imagegate.profiles import Profile
from imagegate.target import Platform


def judge(
    profile: Profile, facts: Facts, issues: Sequence[KnownIssue] | None = None
) -> list[Finding]:
    """Every tier 1-2 finding for facts collected from a live Python environment."""
    return [
        *judge_versions(profile, facts, issues, tier=1),
        *installed_files(facts),
        *_requirements(facts),
        *_facts(profile, facts),
        *_architectures(profile, facts),
        *_torch_consistency(facts),
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


# --- what Python will run: the installed files and where modules load from ---------------

SHOWN = 3
"""Paths a finding names before it gives the count of the rest."""
_PROBLEMS = {
    "changed": "changed",
    "missing": "missing",
    "unlisted": "not in any RECORD",
    "unreadable": "unreadable",
}


def installed_files(facts: Facts) -> list[Finding]:
    """Tier 1: every hashed file of every distribution as its RECORD lists it, and no module
    file under a distribution's top-level folders that no RECORD lists. One row for all that
    match, one BROKEN row for each distribution with a file missing, changed or unlisted."""
    checked = facts.files
    if checked is None:
        why = "not collected (facts from a collector without this check, or tier 1 not run)"
        return [
            Finding(
                tier=1,
                check="files",
                subject="installed files",
                status=Status.SKIPPED,
                evidence=why,
            )
        ]
    if checked.error is not None:
        return [
            Finding(
                tier=1,
                check="files",
                subject="installed files",
                status=Status.BROKEN,
                expected="as their RECORD lists them (sha256)",
                actual="not checked",
                evidence=checked.error,
            )
        ]
    wrong = sum(
        len(problems.changed) + len(problems.missing) + len(problems.unreadable)
        for problems in checked.problems
    )
    bare = ", ".join(checked.without_record)
    summary = Finding(
        tier=1,
        check="files",
        subject=f"{checked.files - wrong} files of {checked.distributions} distributions",
        status=Status.OK,
        expected="as their RECORD lists them (sha256)",
        actual="match their RECORD",
        evidence=f"no RECORD, not checked: {bare}" if bare else "",
        seconds=checked.seconds,
    )
    return [summary, *map(_file_problems, checked.problems)]


def _file_problems(problems: FileProblems) -> Finding:
    found = {kind: getattr(problems, kind) for kind in _PROBLEMS if getattr(problems, kind)}
    actual = ", ".join(f"{len(paths)} {_PROBLEMS[kind]}" for kind, paths in found.items())
    evidence = "; ".join(f"{_PROBLEMS[kind]}: {_first(paths)}" for kind, paths in found.items())
    return Finding(
        tier=1,
        check="files",
        subject=problems.name or "(no distribution)",
        status=Status.BROKEN,
        expected=f"{problems.name} {problems.version}: files as its RECORD lists them".strip(),
        actual=actual,
        evidence=evidence,
    )


def _first(paths: Sequence[str]) -> str:
    shown = ", ".join(paths[:SHOWN])
    return shown if len(paths) <= SHOWN else f"{shown} and {len(paths) - SHOWN} more"


def origins(facts: Facts) -> list[Finding]:
    """Tier 2: each imported top-level module was loaded from the installed files of the
    distribution that provides it. A copy found first on sys.path is BROKEN, with the entry
    that holds it and what put that entry there; one row holds all the others."""
    imported = [item for item in facts.items if item.kind == "module" and item.ok]
    if imported and all(item.origin is None for item in imported):
        why = "not collected (facts from a collector without this check)"
        return [
            Finding(
                tier=2,
                check="origin",
                subject="imported modules",
                status=Status.SKIPPED,
                evidence=why,
            )
        ]
    judged = [
        item
        for item in imported
        if item.origin is not None and (item.origin.distributions or item.origin.error)
    ]
    wrong = [_origin(item) for item in judged if _foreign(item)]
    if not judged:
        return wrong
    summary = Finding(
        tier=2,
        check="origin",
        subject=f"{len(judged) - len(wrong)} modules",
        status=Status.OK,
        expected="loaded from their distributions' own files",
        actual="as installed",
    )
    return [summary, *wrong]


def _foreign(item: ItemResult) -> bool:
    return item.origin is not None and bool(item.origin.foreign or item.origin.error)


def _origin(item: ItemResult) -> Finding:
    assert item.origin is not None
    owners = ", ".join(item.origin.distributions)
    places = [
        f"{place.path} (sys.path entry {place.entry!r}, from {place.via})"
        if place.entry is not None
        else f"{place.path} (on no sys.path entry)"
        for place in item.origin.foreign
    ]
    return Finding(
        tier=2,
        check="origin",
        subject=item.subject,
        status=Status.BROKEN,
        expected=f"loaded from the files of {owners}",
        actual=item.origin.foreign[0].path if item.origin.foreign else "not checked",
        evidence="; ".join(places) or item.origin.error or "",
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


def kernels(profile: Profile, facts: Facts) -> Kernels | None:
    """What the image's torch was compiled for, from the profile's arch fact; None where
    the profile collects none (a CPU or ROCm build) or it could not be read."""
    expression = profile.hardware.arch_fact
    item = next((i for i in facts.items if i.kind == "fact" and i.subject == expression), None)
    if expression is None or item is None or not item.ok:
        return None
    torch = facts.distributions.get(canonicalize_name("torch"))
    build = torch.version if torch is not None else "(not installed)"
    return Kernels(build=build, codes=tuple(str(item.value or "").split()))


def _architectures(profile: Profile, facts: Facts) -> Iterator[Finding]:
    """Each GPU the profile targets (`hardware.architectures`) against the kernels its
    torch was compiled for: one row per target, served by machine code or failing.

    The rule is kernels' (`Kernels.missing`): a cubin of the target's major at or below
    its minor runs on it; PTX alone does not count. A target without machine code is the
    "no kernel image" failure of a GPU generation newer than the torch build: the image
    starts there and its first CUDA op fails. Codes torch has beyond the targets pass."""
    expression = profile.hardware.arch_fact
    if expression is None:
        return
    found = kernels(profile, facts)
    if found is None:
        declared = " ".join(profile.hardware.architectures)
        common = partial(
            Finding, tier=1, check="fact", subject="CUDA architectures", expected=declared
        )
        item = next((i for i in facts.items if i.kind == "fact" and i.subject == expression), None)
        if item is None:
            yield common(status=Status.MISSING, actual="not collected")
        else:
            yield common(status=Status.BROKEN, evidence=item.error or "", seconds=item.seconds)
        return
    for target in profile.hardware.architectures:
        common = partial(
            Finding, tier=1, check="kernel", subject=target, expected=f"machine code for {target}"
        )
        code = machine_code(target, found.codes)
        if code is not None:
            yield common(
                status=Status.OK, actual=code, evidence=f"torch {found.build}'s {code} runs on it"
            )
            continue
        jit = ptx(target, found.codes)
        fix = (
            f"install a torch built for {target}, or remove {target} from "
            f"hardware.architectures in {profile.path.name}"
        )
        yield common(
            status=Status.MISSING,
            actual=f"PTX {jit} only" if jit else "none",
            evidence=f"{found.missing(target)}; {fix}",
        )


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


# --- what the image tells the container runtime ------------------------------------------


def judge_runtime(profile: Profile, env: Mapping[str, str]) -> list[Finding]:
    """Tier 1: the image's NVIDIA_REQUIRE_CUDA (from its config's Env) against the profile.

    The rule: the runtime can evaluate it, nothing turns it off, and every alternative sets
    a floor at least the profile's, `cuda>=V` with V at least the profile's CUDA or
    `driver>=D` with D at least its min_driver (`>` and `=` are floors too). An alternative
    with neither, such as the `brand=tesla,driver>=470,driver<471` ranges NVIDIA's base
    images carry, lets the runtime start the image on a host the profile says cannot run
    it. A higher floor passes: it refuses hosts, never admits a wrong one. Nothing is
    judged for a profile without CUDA.
    """
    wanted = nvidia_runtime.require_cuda(profile)
    if wanted is None:
        return []
    subject = nvidia_runtime.REQUIRE_CUDA
    written = env.get(subject)
    common = partial(Finding, tier=1, check="runtime", subject=subject, expected=wanted)
    if not written or not written.strip():
        why = "the NVIDIA runtime starts it on any host, however old its driver"
        return [common(status=Status.MISSING, actual="not set", evidence=why)]
    if nvidia_runtime.disabled(env):
        why = f"{nvidia_runtime.DISABLE_REQUIRE}={env[nvidia_runtime.DISABLE_REQUIRE]}"
        return [common(status=Status.WRONG_VERSION, actual=written, evidence=f"{why} turns it off")]
    try:
        alternatives = nvidia_runtime.parse(written)
    except ValueError as error:
        why = f"the runtime refuses to start it: {error}"
        return [common(status=Status.BROKEN, actual=written, evidence=why)]
    floors = {"cuda": nvidia_runtime.cuda_version(profile), "driver": profile.hardware.min_driver}
    loose = [terms for terms in alternatives if not _has_floor(terms, floors)]
    if loose:
        shown = " ".join(",".join(map(str, terms)) for terms in loose)
        floor = " or ".join(f"{key}>={value}" for key, value in floors.items() if value)
        why = f"{shown} sets no floor at {floor}: it admits hosts the profile cannot run on"
        return [common(status=Status.WRONG_VERSION, actual=written, evidence=why)]
    return [common(status=Status.OK, actual=written)]


def _has_floor(terms: list[nvidia_runtime.Term], floors: Mapping[str, str | None]) -> bool:
    return any(
        (floor := floors.get(term.key)) is not None
        and term.operator in (">=", ">", "=")
        and Version(term.value) >= Version(floor)
        for term in terms
    )


def judge_platform(profile: Profile, image: Platform) -> Finding:
    """Tier 1: the image config's os and architecture against the profile's target.platform
    (a wheel tag: manylinux_2_36_x86_64 is linux/amd64, an aarch64 one linux/arm64).

    Judged from the config alone, before any container starts: a foreign image would not
    run here, and its wheels are not the ones the lock chose. The variant (arm64's v8) is
    shown, not judged: a wheel tag names none. A config naming no platform is SKIPPED."""
    wanted = profile.target.oci_platform
    expected = f"{wanted} ({profile.target.platform})"
    common = partial(Finding, tier=1, check="platform", subject="image platform", expected=expected)
    if not image.os or not image.architecture:
        return common(
            status=Status.SKIPPED,
            actual=str(image) or "not stated",
            evidence=("the image config names no os or architecture"),
        )
    if (image.os, image.architecture) == (wanted.os, wanted.architecture):
        return common(status=Status.OK, actual=str(image))
    return common(
        status=Status.WRONG_VERSION,
        actual=str(image),
        evidence=f"image is {image}; profile {profile.name} targets {expected}",
    )


# --- PyTorch's own consistency checks that need no GPU -----------------------------------

TORCH_CUDA = CUDA_FACT
TORCH_CUDNN = "torch.backends.cudnn.version()"
TORCHVISION_CUDA = "torchvision.version.__dict__.get('cuda')"
"""torchvision defines `version.cuda` only in a CUDA build; a CPU build reports None here."""
_CUDNN_WHEEL = re.compile(r"nvidia-cudnn-cu\d+")
_RUNTIME_WHEEL = re.compile(r"nvidia-cuda-runtime(?:-cu\d+)?")


def consistency_facts(profile: Profile) -> list[str]:
    """The facts the consistency checks read, for a profile that pins torch (torchvision's
    only where it pins torchvision: the expression fails where torchvision is absent)."""
    facts = [TORCH_CUDA, TORCH_CUDNN] if "torch" in profile.pins else []
    return facts + ([TORCHVISION_CUDA] if "torchvision" in profile.pins else [])


def _torch_consistency(facts: Facts) -> Iterator[Finding]:
    """The cuDNN torch loads is the installed nvidia-cudnn wheel's; torchvision was built for
    torch's CUDA; torch's CUDA is the installed nvidia-cuda-runtime wheel's major.minor.

    Each check applies only where both sides are installed: a CPU image has no nvidia
    wheels and gets no finding, as a profile without torchvision gets none for it.
    """
    if "torch" not in facts.distributions:
        return
    reported = {item.subject: item for item in facts.items if item.kind == "fact"}
    for name, wheel in sorted(facts.distributions.items()):
        if _CUDNN_WHEEL.fullmatch(name):
            yield _cudnn(wheel, reported.get(TORCH_CUDNN))
        elif _RUNTIME_WHEEL.fullmatch(name):
            yield _cuda_runtime(wheel, reported.get(TORCH_CUDA))
    if "torchvision" in facts.distributions and TORCHVISION_CUDA in reported:
        yield _torchvision(reported.get(TORCH_CUDA), reported[TORCHVISION_CUDA])


def _compare(
    subject: str,
    expected: str,
    item: ItemResult | None,
    reading: Callable[[str | None], tuple[bool, str]],
) -> Finding:
    """`reading` says whether the fact's value agrees with `expected`, and how to show it."""
    common = partial(Finding, tier=1, check="consistency", subject=subject, expected=expected)
    if item is None:
        return common(status=Status.MISSING, actual="not collected")
    if not item.ok:
        return common(status=Status.BROKEN, evidence=item.error or "", seconds=item.seconds)
    same, actual = reading(item.value)
    status = Status.OK if same else Status.WRONG_VERSION
    return common(status=status, actual=actual, seconds=item.seconds)


def _cudnn(wheel: Distribution, item: ItemResult | None) -> Finding:
    def reading(value: str | None) -> tuple[bool, str]:
        loaded = cudnn_release(value)
        if loaded is None:
            return False, f"no cuDNN ({value})"
        return _release(wheel.version, 3) == loaded, f"{'.'.join(map(str, loaded))} ({value})"

    return _compare(f"cuDNN torch loads = {wheel.name}", wheel.version, item, reading)


def _cuda_runtime(wheel: Distribution, item: ItemResult | None) -> Finding:
    wanted = _release(wheel.version, 2)
    shown = ".".join(map(str, wanted)) if wanted else wheel.version

    def reading(value: str | None) -> tuple[bool, str]:
        return wanted is not None and cuda_release(value) == wanted, str(value)

    subject = f"torch.version.cuda = {wheel.name}"
    return _compare(subject, f"{shown} ({wheel.name} {wheel.version})", item, reading)


def _torchvision(torch: ItemResult | None, item: ItemResult) -> Finding:
    subject = "torchvision's CUDA = torch.version.cuda"
    if torch is None or not torch.ok:
        return _compare(subject, "torch.version.cuda", torch, lambda _: (False, ""))
    wanted = cuda_release(torch.value)

    def reading(value: str | None) -> tuple[bool, str]:
        built = cuda_release(value)
        shown = str(value) if built is None else f"{'.'.join(map(str, built))} ({value})"
        return built == wanted, shown

    return _compare(subject, str(torch.value), item, reading)


def _release(version: str, parts: int) -> tuple[int, ...] | None:
    try:
        return Version(version).release[:parts]
    except InvalidVersion:
        return None


def cuda_release(value: str | None) -> tuple[int, ...] | None:
    """(major, minor) of a CUDA version as torch (`13.0`) or torchvision (13000, that is
    major * 1000 + minor * 10) reports it; None for a build without CUDA."""
    if value is None or value == "None":
        return None
    if value.isdigit():
        number = int(value)
        return (number // 1000, number % 1000 // 10)
    return _release(value, 2)


def cudnn_release(value: str | None) -> tuple[int, ...] | None:
    """(major, minor, patch) of `torch.backends.cudnn.version()`: 92400 is 9.24.0 (cuDNN 9
    counts major * 10000 + minor * 100 + patch; cuDNN 7 and 8 counted major * 1000, 8907)."""
    if value is None or not value.isdigit():
        return None
    number = int(value)
    major, rest = divmod(number, 10000) if number >= 90000 else divmod(number, 1000)
    return (major, rest // 100, rest % 100)
