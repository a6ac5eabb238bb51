"""Which profile's wheels run on which GPUs: pure rules over profiles and `Gpu`s.

`supports`, `architecture_mismatch`, `choose` and `consistency` judge; `hardware` finds the
GPUs. Only machine code counts: a profile's `hardware.architectures` are the GPUs its wheels
carry cubins for; the rule is `kernels`' (pure, shared with `verify`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from packaging.version import InvalidVersion, Version

from imagegate.facts import CUDA_FACT, HIP_FACT
from imagegate.kernels import SM, machine_code, runs
from imagegate.profiles import Profile

VENDOR_NAMES = {"nvidia": "NVIDIA", "amd": "AMD", "none": "CPU"}
RUNTIMES = {"nvidia": "CUDA", "amd": "ROCm"}
CUDA_INTRODUCED = {
    "sm_80": "11.0", "sm_86": "11.1", "sm_87": "11.4", "sm_89": "11.8", "sm_90": "11.8",
    "sm_100": "12.8", "sm_101": "12.8", "sm_120": "12.8", "sm_103": "12.9", "sm_121": "12.9",
    "sm_110": "13.0",
}  # fmt: skip
"""The first CUDA whose compiler emits code for the architecture. (Thor was sm_101 in CUDA
12.8-12.9; CUDA 13.0 renamed it sm_110.)"""
CUDA_DROPPED = {
    "sm_35": "12.0", "sm_37": "12.0",
    "sm_50": "13.0", "sm_52": "13.0", "sm_53": "13.0", "sm_60": "13.0", "sm_61": "13.0",
    "sm_62": "13.0", "sm_70": "13.0", "sm_72": "13.0", "sm_101": "13.0",
}  # fmt: skip
"""The first CUDA that no longer emits code for it (13.0 dropped Maxwell, Pascal, Volta)."""

GFX = re.compile(r"gfx[0-9a-f]{3,4}")
"""An AMD GPU target as LLVM names it (gfx942)."""


@dataclass(frozen=True, kw_only=True)
class Gpu:
    vendor: str
    """nvidia or amd."""
    name: str
    arch: str
    """sm_89 for compute capability 8.9; the gfx target (gfx942) for AMD."""
    driver: str | None

    def describe(self) -> str:
        return f"{self.name} ({self.arch})"


@dataclass(frozen=True, kw_only=True)
class Choice:
    profile: str | None
    """The profile to build or run here; None when none fits."""
    reason: str
    gpus: tuple[Gpu, ...]
    rejected: tuple[tuple[str, str], ...]
    """Every other profile, with why not."""

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["rejected"] = dict(self.rejected)
        return data


def supports(profile: Profile, gpu: Gpu) -> str | None:
    """Why `profile`'s wheels do not run on `gpu`, or None when they do."""
    hardware = profile.hardware
    if hardware.vendor == "none":
        return f"a CPU build: it would leave {gpu.name} unused"
    if hardware.vendor != gpu.vendor:
        return (
            f"built for {VENDOR_NAMES.get(hardware.vendor, hardware.vendor)} GPUs, not {gpu.name}"
        )
    mismatch = architecture_mismatch(profile, gpu)
    if mismatch is not None:
        return mismatch
    if hardware.min_driver is None:
        return None
    minimum, runtime = str(hardware.min_driver), RUNTIMES.get(hardware.vendor, "runtime")
    if gpu.driver is None:
        return f"the driver version is unknown; this profile's {runtime} needs {minimum} or newer"
    try:
        too_old = Version(gpu.driver) < Version(minimum)
    except InvalidVersion:
        return f"driver {gpu.driver!r} cannot be compared with min_driver {minimum!r}"
    if too_old:
        return f"driver {gpu.driver} is older than {minimum}, which this profile's {runtime} needs"
    return None


def architecture_mismatch(profile: Profile, gpu: Gpu) -> str | None:
    """Why none of the profile's architectures runs on `gpu`, or None when one does."""
    architectures = profile.hardware.architectures
    if machine_code(gpu.arch, architectures) is not None:
        return None
    declared = ", ".join(architectures) or "none"
    if gpu.vendor == "nvidia" and (sm := SM.fullmatch(gpu.arch)) is not None:
        need = f"an sm_{sm.group(1)}x build at or below {gpu.arch}"
    else:
        need = f"a {gpu.arch} build"
    return f"{gpu.describe()} needs {need}; this profile has {declared}"


def choose(profiles: Sequence[Profile], gpus: Sequence[Gpu]) -> Choice:
    """The profile with the newest runtime that runs on every GPU here; the CPU one if none."""
    if not gpus:
        return _choose_cpu(profiles)
    reasons = {p.name: _why_not(p, gpus) for p in profiles}
    fitting = _newest_first(p for p in profiles if reasons[p.name] is None)
    if not fitting:
        rejected = tuple((p.name, reasons[p.name] or "") for p in profiles)
        reason = _none_fits(profiles, gpus)
        return Choice(profile=None, reason=reason, gpus=tuple(gpus), rejected=rejected)
    best = fitting[0]
    label, version = RUNTIMES.get(best.hardware.vendor, "runtime"), _runtime(best)
    if len(fitting) == 1:
        reason = f"the only profile that runs on {_summary(gpus)}"
    elif version is None:
        reason = f"the first by name of {len(fitting)} that run on {_summary(gpus)}"
    else:
        reason = f"the newest {label} ({version}) of {len(fitting)} that run on {_summary(gpus)}"
    for other in fitting[1:]:
        older = _runtime(other)
        if older is None or older == version:
            reasons[other.name] = f"runs here too; {best.name} is preferred ({reason})"
        else:
            reasons[other.name] = f"runs here too, but its {label} {older} is older than {version}"
    rejected = tuple((p.name, reasons[p.name] or "") for p in profiles if p is not best)
    return Choice(profile=best.name, reason=reason, gpus=tuple(gpus), rejected=rejected)


def consistency(profile: Profile) -> list[str]:
    """Contradictions between a profile's hardware section and its runtime facts."""
    vendor = profile.hardware.vendor
    where = f"{profile.path}: hardware"
    if vendor == "none":
        return _cpu_problems(profile, where)
    pattern = SM if vendor == "nvidia" else GFX
    problems = [
        f"{where}.architectures: {arch} is not a {RUNTIMES.get(vendor, vendor)} target"
        for arch in profile.hardware.architectures
        if pattern.fullmatch(arch) is None
    ]
    if not profile.hardware.architectures:
        problems.append(f"{where}.architectures: none declared, so no GPU can match it")
    if vendor == "amd":
        return problems + _amd_problems(profile, where)
    return problems + _cuda_problems(profile, where)


def _cpu_problems(profile: Profile, where: str) -> list[str]:
    problems = []
    cuda = profile.facts.get(CUDA_FACT)
    if cuda not in (None, "None"):
        problems.append(
            f"{where}.vendor is none, but facts.{CUDA_FACT} is {cuda}: "
            "a CPU build of torch reports None"
        )
    if profile.hardware.architectures:
        problems.append(f"{where}.architectures: a CPU build declares GPU architectures")
    return problems


def _cuda_problems(profile: Profile, where: str) -> list[str]:
    cuda = profile.facts.get(CUDA_FACT)
    if cuda is None or cuda == "None":
        fact = "missing" if cuda is None else "None, which a CPU or ROCm build reports"
        return [f"{where}.vendor is nvidia, but facts.{CUDA_FACT} is {fact}"]
    try:
        version = Version(cuda)
    except InvalidVersion:
        return [f"{profile.path}: facts.{CUDA_FACT}: {cuda!r} is not a version"]
    problems = []
    for arch in profile.hardware.architectures:
        if arch in CUDA_INTRODUCED and version < Version(CUDA_INTRODUCED[arch]):
            problems.append(
                f"{where}.architectures: {arch} needs CUDA {CUDA_INTRODUCED[arch]} or newer, "
                f"but the profile's CUDA is {cuda}"
            )
        if arch in CUDA_DROPPED and version >= Version(CUDA_DROPPED[arch]):
            problems.append(
                f"{where}.architectures: {arch} is not in CUDA {cuda} "
                f"(dropped in {CUDA_DROPPED[arch]})"
            )
    return problems


def _amd_problems(profile: Profile, where: str) -> list[str]:
    problems = []
    cuda = profile.facts.get(CUDA_FACT)
    if cuda not in (None, "None"):
        problems.append(
            f"{where}.vendor is amd, but facts.{CUDA_FACT} is {cuda}: "
            "a ROCm build of torch reports None"
        )
    if _hip_fact(profile) is None:
        problems.append(
            f"warning: {where}.architectures: gfx targets but no facts.{HIP_FACT}[:3], "
            "so nothing proves the wheels are a ROCm build"
        )
    return problems


def _why_not(profile: Profile, gpus: Sequence[Gpu]) -> str | None:
    reasons = list(dict.fromkeys(r for gpu in gpus if (r := supports(profile, gpu)) is not None))
    return "; ".join(reasons) or None


def _hip_fact(profile: Profile) -> str | None:
    keys = sorted(key for key in profile.facts if key.startswith(HIP_FACT))
    return profile.facts[keys[0]] if keys else None


def _runtime(profile: Profile) -> Version | None:
    """The CUDA (or HIP) version the profile's torch reports: newer is preferred."""
    vendor = profile.hardware.vendor
    raw = {"nvidia": profile.facts.get(CUDA_FACT), "amd": _hip_fact(profile)}.get(vendor)
    try:
        return None if raw is None else Version(raw)
    except InvalidVersion:
        return None


def _newest_first(profiles: Iterable[Profile]) -> list[Profile]:
    by_name = sorted(profiles, key=lambda p: p.name)
    return sorted(by_name, key=lambda p: _runtime(p) or Version("0"), reverse=True)


def _summary(gpus: Sequence[Gpu], *, driver: bool = True) -> str:
    counts: dict[str, int] = {}
    for gpu in gpus:
        counts[gpu.describe()] = counts.get(gpu.describe(), 0) + 1
    names = " + ".join(name if n == 1 else f"{n}x {name}" for name, n in counts.items())
    drivers = ", ".join(dict.fromkeys(gpu.driver for gpu in gpus if gpu.driver))
    return f"{names}, driver {drivers}" if drivers and driver else names


def _choose_cpu(profiles: Sequence[Profile]) -> Choice:
    cpus = [p for p in profiles if p.hardware.vendor == "none"]
    best = cpus[0] if cpus else None
    rejected = tuple(
        (p.name, _needs_gpu(p) if p.hardware.vendor != "none" else f"{cpus[0].name} comes first")
        for p in profiles
        if p is not best
    )
    if best is None:
        names = ", ".join(p.name for p in profiles) or "none"
        reason = f"no GPU found, and no CPU profile (hardware.vendor: none) among {names}"
        return Choice(profile=None, reason=reason, gpus=(), rejected=rejected)
    return Choice(profile=best.name, reason="no GPU found", gpus=(), rejected=rejected)


def _needs_gpu(profile: Profile) -> str:
    vendor = VENDOR_NAMES.get(profile.hardware.vendor, profile.hardware.vendor)
    return f"needs an {vendor} GPU; none found"


def _none_fits(profiles: Sequence[Profile], gpus: Sequence[Gpu]) -> str:
    """Name what would make a profile fit: the architecture, or the driver version."""
    vendors = sorted({gpu.vendor for gpu in gpus})
    if len(vendors) > 1:
        return f"GPUs of more than one vendor ({', '.join(vendors)}); no profile serves both"
    same = [p for p in profiles if p.hardware.vendor == vendors[0]]
    if not same:
        return f"no profile is built for {VENDOR_NAMES.get(vendors[0], vendors[0])} GPUs"
    arch_fits = _newest_first(
        p for p in same if all(any(runs(a, g.arch) for a in p.hardware.architectures) for g in gpus)
    )
    if not arch_fits:
        archs = ", ".join(dict.fromkeys(gpu.arch for gpu in gpus))
        return f"no profile holds code for {archs}; add one whose hardware.architectures covers it"
    drivers = ", ".join(dict.fromkeys(gpu.driver or "unknown" for gpu in gpus))
    newest = arch_fits[0]
    least = min(arch_fits, key=lambda p: _driver_key(p.hardware.min_driver))
    runs_on = f"every profile that runs on {_summary(gpus, driver=False)}"
    if any(_driver_key(gpu.driver) == Version("0") for gpu in gpus):
        reason = f"driver {drivers} cannot be compared with the driver {runs_on} needs"
    else:
        reason = f"driver {drivers} is too old for {runs_on}"
    if least.hardware.min_driver == newest.hardware.min_driver:
        return f"{reason}; update it to {newest.hardware.min_driver} or newer"
    return (
        f"{reason}; update it to {least.hardware.min_driver} or newer for {least.name}, "
        f"or to {newest.hardware.min_driver} or newer for {newest.name} (the newest runtime)"
    )


def _driver_key(raw: str | None) -> Version:
    try:
        return Version(str(raw))
    except InvalidVersion:
        return Version("0")
