"""Which GPUs this machine has, and which profile's wheels run on them.

Facts first: `parse_nvidia_smi`, `parse_amd_smi` and `parse_rocm_smi` turn a tool's output
into `Gpu`s, and `detect` runs the tools through the one runner. Judgement second:
`supports`, `choose` and `consistency` are pure functions of profiles and GPUs, so every
rule is tested on recorded outputs without a GPU.

Only machine code counts: a profile's `hardware.architectures` are the GPUs its wheels
carry cubins for; the rule is `kernels`' (pure, shared with `verify`).
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

from packaging.version import InvalidVersion, Version

from imagegate import runner
from imagegate.errors import EnvironmentProblem, UsageError
from imagegate.facts import CUDA_FACT, HIP_FACT
from imagegate.kernels import SM, machine_code, runs
from imagegate.profiles import Profile

NVIDIA_SMI = ("nvidia-smi", "--query-gpu=name,compute_cap,driver_version", "--format=csv,noheader")
AMD_SMI = ("amd-smi", "static", "--asic", "--driver", "--json")
ROCM_SMI = ("rocm-smi", "--showproductname", "--showdriverversion", "--json")
TIMEOUT = 20.0
"""How long a GPU tool may take. With persistence mode off, nvidia-smi's first call
initialises every GPU (seconds each); far longer means the driver is hung."""
TIMEOUT_ENV = "IMAGEGATE_SMI_TIMEOUT"
"""Seconds, to allow a slower first call (or a shorter wait in tests)."""
PATIENCE = 1.0
"""A tool that answers within this long is awaited silently."""

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
AMD_TARGETS = {
    "MI50": "gfx906", "MI60": "gfx906", "MI100": "gfx908",
    "MI210": "gfx90a", "MI250": "gfx90a", "MI250X": "gfx90a",
    "MI300A": "gfx942", "MI300X": "gfx942", "MI325X": "gfx942",
    "MI350X": "gfx950", "MI355X": "gfx950",
}  # fmt: skip
"""Instinct names to gfx targets, for tools too old to report the target (rocm-smi < 6.1)."""

_CAPABILITY = re.compile(r"(\d+)\.(\d)")
_GFX = re.compile(r"gfx[0-9a-f]{3,4}")
_DECIMAL_GFX = re.compile(r"gfx(9\d{3}|\d{5})")
_INSTINCT = re.compile(r"\bMI(\d{2,3}[AX]?)\b")
_CARD = re.compile(r"card(\d+)")


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


class Run(Protocol):
    def __call__(self, args: Sequence[str | Path], *, timeout: float) -> runner.Completed: ...


def parse_nvidia_smi(text: str) -> tuple[Gpu, ...]:
    """GPUs from `nvidia-smi --query-gpu=name,compute_cap,driver_version --format=csv,noheader`."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if lines == ["No devices were found"]:
        return ()
    gpus = []
    for line in lines:
        fields = [field.strip() for field in line.rsplit(",", 2)]
        capability = _CAPABILITY.fullmatch(fields[1]) if len(fields) == 3 else None
        if capability is None or not fields[0] or not fields[2]:
            raise EnvironmentProblem(
                f"nvidia-smi could not report the GPUs: {line}; "
                "check that the NVIDIA driver is installed and loaded"
            )
        major, minor = capability.groups()
        gpus.append(
            Gpu(vendor="nvidia", name=fields[0], arch=f"sm_{major}{minor}", driver=fields[2])
        )
    return tuple(gpus)


def parse_amd_smi(text: str) -> tuple[Gpu, ...]:
    """GPUs from `amd-smi static --asic --driver --json`: a list, or {"gpu_data": [...]} (7.x)."""
    data = _json(text, "amd-smi")
    entries = _field(data, "gpu_data") if isinstance(data, Mapping) else data
    if not isinstance(entries, list):
        raise EnvironmentProblem("amd-smi: no list of GPUs in its JSON; report the output")
    gpus = []
    for entry in entries:
        asic, driver = _field(entry, "asic"), _field(entry, "driver")
        name = _text(asic, "market_name") or "an AMD GPU"
        arch = _gfx_target(_text(asic, "target_graphics_version"), name, "amd-smi")
        version = _text(driver, "version", "driver_version")
        gpus.append(Gpu(vendor="amd", name=name, arch=arch, driver=version))
    return tuple(gpus)


def parse_rocm_smi(text: str) -> tuple[Gpu, ...]:
    """GPUs from `rocm-smi --showproductname --showdriverversion --json` (cardN and system)."""
    data = _json(text, "rocm-smi")
    if not isinstance(data, Mapping):
        raise EnvironmentProblem("rocm-smi: its JSON is not an object of cards; report the output")
    driver = _text(_field(data, "system"), "driver version")
    cards = sorted(
        (int(match.group(1)), key)
        for key in data
        if (match := _CARD.fullmatch(str(key).lower())) is not None
    )
    gpus = []
    for _, key in cards:
        name = _text(data[key], "card series", "device name") or key
        arch = _gfx_target(_text(data[key], "gfx version"), name, "rocm-smi")
        gpus.append(Gpu(vendor="amd", name=name, arch=arch, driver=driver))
    return tuple(gpus)


def detect(
    *,
    run: Run = runner.run,
    which: Callable[[str], str | None] = shutil.which,
    timeout: float | None = None,
) -> tuple[Gpu, ...]:
    """This machine's GPUs; a vendor's tool not on PATH means no GPU of that vendor.

    Each tool gets `timeout` seconds (default: $IMAGEGATE_SMI_TIMEOUT, else `TIMEOUT`)."""
    limit = smi_timeout() if timeout is None else timeout
    gpus: tuple[Gpu, ...] = ()
    if (output := _query(NVIDIA_SMI, run, which, limit)) is not None:
        gpus += parse_nvidia_smi(output)
    if (output := _query(AMD_SMI, run, which, limit)) is not None:
        gpus += parse_amd_smi(output)
    elif (output := _query(ROCM_SMI, run, which, limit)) is not None:
        gpus += parse_rocm_smi(output)
    return gpus


def smi_timeout() -> float:
    """`TIMEOUT`, or the seconds $IMAGEGATE_SMI_TIMEOUT asks for."""
    raw = os.environ.get(TIMEOUT_ENV)
    if raw is None or not raw.strip():
        return TIMEOUT
    try:
        seconds = float(raw)
    except ValueError:
        seconds = 0.0
    if not math.isfinite(seconds) or seconds <= 0:
        raise UsageError(
            f"{TIMEOUT_ENV}={raw!r}: not a positive number of seconds; fix or unset it"
        )
    return seconds


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
    pattern = SM if vendor == "nvidia" else _GFX
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


def _query(
    args: Sequence[str], run: Run, which: Callable[[str], str | None], timeout: float
) -> str | None:
    """The tool's output; None when it is not installed. A tool that hangs is a problem.

    One line on stderr says what is awaited, once, if the tool has not answered within
    `PATIENCE`; the runner stops it at `timeout`, and a stop that late means it hung."""
    tool = args[0]
    if which(tool) is None:
        return None
    waiting = threading.Timer(
        PATIENCE,
        lambda: print(f"waiting for {tool} (up to {timeout:g} s)…", file=sys.stderr, flush=True),
    )
    started = time.monotonic()
    waiting.start()
    try:
        return run(args, timeout=timeout).output
    except EnvironmentProblem:
        if time.monotonic() - started < timeout:
            raise
        raise EnvironmentProblem(
            f"{tool} did not answer within {timeout:g} s: the driver may be hung; "
            "check `dmesg` for driver errors (NVRM/Xid, amdgpu) and reload the driver or "
            f"reboot; if it is only slow, set {TIMEOUT_ENV} to more seconds"
        ) from None
    finally:
        waiting.cancel()


def _json(text: str, tool: str) -> Any:
    """The JSON document in `text`; log lines the tool wrote around it are skipped."""
    lines = text.splitlines(keepends=True)
    for index, line in enumerate(lines):
        if line.lstrip().startswith(("{", "[")):
            try:
                return json.JSONDecoder().raw_decode("".join(lines[index:]).lstrip())[0]
            except json.JSONDecodeError:
                break
    said = [line.strip() for line in lines if line.strip()]
    raise EnvironmentProblem(
        f"{tool} could not report the GPUs: {said[-1] if said else 'no output'}; "
        "check that the amdgpu driver is installed and loaded"
    )


def _field(mapping: Any, key: str) -> Any:
    """`key` of a JSON object, matched without regard to case (tools renamed keys)."""
    if not isinstance(mapping, Mapping):
        return None
    for name, value in mapping.items():
        if str(name).lower() == key:
            return value
    return None


def _text(mapping: Any, *keys: str) -> str | None:
    for key in keys:
        value = _field(mapping, key)
        if isinstance(value, str | int) and str(value).strip() not in ("", "N/A"):
            return str(value).strip()
    return None


def _gfx_target(reported: str | None, name: str, tool: str) -> str:
    """The LLVM gfx target; ROCm 6.1/6.2-era tools print the stepping in decimal (gfx9010)."""
    if reported is not None and (decimal := _DECIMAL_GFX.fullmatch(reported.lower())):
        digits = decimal.group(1)
        return f"gfx{digits[:-2]}{int(digits[-2:]):x}"
    if reported is not None and _GFX.fullmatch(reported.lower()):
        return reported.lower()
    if (model := _INSTINCT.search(name.upper())) and f"MI{model.group(1)}" in AMD_TARGETS:
        return AMD_TARGETS[f"MI{model.group(1)}"]
    raise EnvironmentProblem(
        f"{tool}: {name}: no gfx target reported and none known for the name; "
        "read it from `rocminfo` (Name: gfx...) and report it"
    )


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
