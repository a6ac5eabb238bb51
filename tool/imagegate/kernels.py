"""Which GPUs an installed torch has kernels for: pure rules on arch flags, read without a GPU.

Only machine code counts: a profile's `hardware.architectures` are the GPUs its wheels
carry cubins for, and `Kernels` judges them against what the installed torch was compiled
for. PTX that the driver could JIT for a newer GPU is slow to start (minutes at the first
launch, redone when its cache is cold), misses the kernels a library ships as cubins only,
and is proven by no build, so it is never counted as support; it is named in the evidence.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

SM = re.compile(r"sm_(\d+)(\d)")
"""NVIDIA machine code for compute capability X.Y."""
_PTX = re.compile(r"compute_(\d+)(\d)")


def machine_code(arch: str, built: Iterable[str]) -> str | None:
    """The newest of `built` that runs on `arch` as machine code (`runs`), or None. PTX
    (`compute_XY`) never does: see the module's docstring."""
    running = [code for code in built if runs(code, arch)]
    return max(running, key=_number, default=None)


def ptx(arch: str, built: Iterable[str]) -> str | None:
    """The newest PTX in `built` a driver could JIT for `arch` (compute_XY, XY at or below
    it), or None: named in the evidence, never counted as support."""
    device = SM.fullmatch(arch)
    if device is None:
        return None
    below = [
        code
        for code in built
        if (found := _PTX.fullmatch(code)) is not None
        and (int(found.group(1)), int(found.group(2)))
        <= (int(device.group(1)), int(device.group(2)))
    ]
    return max(below, key=_number, default=None)


def _number(code: str) -> int:
    """sm_90 or compute_90 -> 90, for ordering codes of one kind."""
    return int(re.sub(r"\D", "", code) or 0)


@dataclass(frozen=True, kw_only=True)
class Kernels:
    """What an installed torch was compiled for, read without a GPU from the image.

    `build` is torch's version with its local label ("2.14.1", "2.5.1+cu121"); `codes` the
    arch flags torch reports (`torch._C._cuda_getArchFlags()`): sm_XY machine code, and
    compute_XY where it also ships PTX."""

    build: str
    codes: tuple[str, ...]

    def describe(self) -> str:
        return f"torch {self.build} (compiled for {' '.join(self.codes) or 'nothing'})"

    def missing(self, arch: str) -> str | None:
        """Why `arch` has no kernel in this torch (a GPU it starts on then fails its first
        CUDA op: "no kernel image is available for execution on the device"), or None."""
        if machine_code(arch, self.codes) is not None:
            return None
        jit = ptx(arch, self.codes)
        if jit is not None:
            return (
                f"{self.describe()} has no machine code for {arch}: only PTX {jit}, which the "
                "driver would JIT at first launch, and PTX is not counted as support"
            )
        return f"{self.describe()} has no kernel image for {arch}"


def runs(built: str, arch: str) -> bool:
    """A cubin for X.y runs on X.Y when y <= Y (same major); a gfx code object on its target."""
    code, device = SM.fullmatch(built), SM.fullmatch(arch)
    if code is None or device is None:
        return built == arch
    return code.group(1) == device.group(1) and int(code.group(2)) <= int(device.group(2))
