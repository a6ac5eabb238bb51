"""Which GPUs this machine has: each vendor's tool run through the one runner, its output read.

`parse_nvidia_smi`, `parse_amd_smi` and `parse_rocm_smi` turn a tool's output into `Gpu`s
(tested on recorded outputs), and `detect` runs the tools. Which profile fits them is
`gpu_rules`' judgement (pure).
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
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from imagegate import runner
from imagegate.errors import EnvironmentProblem, UsageError
from imagegate.gpu_rules import GFX, Gpu

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
AMD_TARGETS = {
    "MI50": "gfx906", "MI60": "gfx906", "MI100": "gfx908",
    "MI210": "gfx90a", "MI250": "gfx90a", "MI250X": "gfx90a",
    "MI300A": "gfx942", "MI300X": "gfx942", "MI325X": "gfx942",
    "MI350X": "gfx950", "MI355X": "gfx950",
}  # fmt: skip
"""Instinct names to gfx targets, for tools too old to report the target (rocm-smi < 6.1)."""
_CAPABILITY = re.compile(r"(\d+)\.(\d)")
_DECIMAL_GFX = re.compile(r"gfx(9\d{3}|\d{5})")
_INSTINCT = re.compile(r"\bMI(\d{2,3}[AX]?)\b")
_CARD = re.compile(r"card(\d+)")


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
    if reported is not None and GFX.fullmatch(reported.lower()):
        return reported.lower()
    if (model := _INSTINCT.search(name.upper())) and f"MI{model.group(1)}" in AMD_TARGETS:
        return AMD_TARGETS[f"MI{model.group(1)}"]
    raise EnvironmentProblem(
        f"{tool}: {name}: no gfx target reported and none known for the name; "
        "read it from `rocminfo` (Name: gfx...) and report it"
    )
