"""What the image tells the container runtime, judged from its config before any container
starts: NVIDIA_REQUIRE_CUDA against the profile's CUDA and driver floor, and the image's
platform against the profile's target. Pure functions.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial

from packaging.version import Version

from imagegate import nvidia_runtime
from imagegate.findings import Finding, Status
from imagegate.profiles import Profile
from imagegate.target import Platform


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
