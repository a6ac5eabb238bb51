"""What a torch build can run on and whether its parts agree, judged without a GPU: the
kernels it was compiled for against the profile's GPUs, and PyTorch's own consistency checks
(the cuDNN and CUDA runtime it loads, torchvision's CUDA). Pure functions over facts;
`verify.judge` calls them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from functools import partial

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from imagegate.facts import CUDA_FACT, Distribution, Facts, ItemResult
from imagegate.findings import Finding, Status
from imagegate.kernels import Kernels, machine_code, ptx
from imagegate.profiles import Profile


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


def architectures(profile: Profile, facts: Facts) -> Iterator[Finding]:
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


def torch_consistency(facts: Facts) -> Iterator[Finding]:
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
