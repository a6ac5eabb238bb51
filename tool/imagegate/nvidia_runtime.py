"""What an image tells the NVIDIA container runtime it needs: `NVIDIA_REQUIRE_CUDA`.

The runtime (libnvidia-container) reads the variable from the image's environment when a
container starts and refuses a host that does not meet it, so a driver too old for the
image fails at start, not at the first CUDA call in production. Its grammar, as
libnvidia-container's `dsl_evaluate` reads it: alternatives separated by spaces, any one of
which suffices (OR); inside one, terms separated by commas, all of which must hold (AND); a
term is `cuda`, `driver`, `arch` or `brand`, an operator and a value. `cuda` is the CUDA
version the host's driver supports, `driver` the driver's own version; versions are
compared number by number and may hold only digits and dots. Anything else is an "invalid
expression": the runtime refuses to start the container at all.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from imagegate.errors import ProfileError
from imagegate.facts import CUDA_FACT
from imagegate.profiles import Profile

REQUIRE_CUDA = "NVIDIA_REQUIRE_CUDA"
DISABLE_REQUIRE = "NVIDIA_DISABLE_REQUIRE"
"""Set to a true value (Go's strconv.ParseBool), it makes the runtime skip every check."""
_TRUE = ("1", "t", "T", "TRUE", "true", "True")
_OPERATORS = ("=", "!=", "<", "<=", ">", ">=")
_TERM = re.compile(r"(?P<key>[^<>=!]+)(?P<operator>[<>=!]+)(?P<value>.+)")
_VERSION = re.compile(r"[0-9]+(?:\.[0-9]+)*")
_VERSIONED = ("cuda", "driver", "arch")


@dataclass(frozen=True, kw_only=True)
class Term:
    key: str
    """cuda, driver, arch or brand (lower-cased: the runtime ignores case)."""
    operator: str
    value: str

    def __str__(self) -> str:
        return f"{self.key}{self.operator}{self.value}"


def cuda_version(profile: Profile) -> str | None:
    """The profile's CUDA as torch reports it (`13.0`); None for a CPU or ROCm profile."""
    if profile.hardware.vendor != "nvidia":
        return None
    value = profile.facts.get(CUDA_FACT)
    return None if value in (None, "None") else value


def require_cuda(profile: Profile) -> str | None:
    """The `NVIDIA_REQUIRE_CUDA` a profile's images carry; None where it has no CUDA.

    `cuda>=X.Y`: the host's driver supports the profile's CUDA. Where the profile names a
    `min_driver` (the oldest driver that runs its CUDA, through minor-version compatibility:
    525.60.13 for every CUDA 12.x), `driver>=MIN` is a second alternative, so the runtime
    admits exactly the hosts the profile (and `imagegate detect`) says run it. A driver that
    supports CUDA X.Y itself is never older than min_driver, so the alternative only widens
    `cuda>=X.Y`, as NVIDIA's own base images widen theirs (`cuda>=12.4
    brand=tesla,driver>=470,driver<471 ...` for forward-compatible datacenter drivers).
    """
    cuda = cuda_version(profile)
    if cuda is None:
        return None
    _comparable(profile, f"facts.{CUDA_FACT}", cuda, "a CUDA version such as 13.0")
    minimum = profile.hardware.min_driver
    if minimum is None:
        return f"cuda>={cuda}"
    _comparable(profile, "hardware.min_driver", str(minimum), "a driver version such as 580.65.06")
    return f"cuda>={cuda} driver>={minimum}"


def _comparable(profile: Profile, key: str, value: str, example: str) -> None:
    if _VERSION.fullmatch(value) is None:
        raise ProfileError(
            f"{profile.path}: {key}: {value!r} cannot be compared by the NVIDIA container "
            f"runtime (digits and dots only); write {example}"
        )


def disabled(env: Mapping[str, str]) -> bool:
    """Whether the image turns the runtime's checks off."""
    return env.get(DISABLE_REQUIRE, "") in _TRUE


def parse(text: str) -> list[list[Term]]:
    """The alternatives of an expression, each a list of terms; ValueError where the runtime
    would call the expression invalid."""
    alternatives: list[list[Term]] = []
    for alternative in filter(None, text.split(" ")):
        terms = []
        for written in filter(None, alternative.split(",")):
            match = _TERM.fullmatch(written)
            if match is None or match["operator"] not in _OPERATORS:
                raise ValueError(f"{written!r} is not a term such as cuda>=12.4")
            term = Term(key=match["key"].lower(), operator=match["operator"], value=match["value"])
            if term.key not in (*_VERSIONED, "brand"):
                raise ValueError(
                    f"{written!r}: {match['key']!r} is not cuda, driver, arch or brand"
                )
            if term.key in _VERSIONED and _VERSION.fullmatch(term.value) is None:
                raise ValueError(f"{written!r}: {term.value!r} is not digits and dots")
            if term.key == "brand" and term.operator not in ("=", "!="):
                raise ValueError(f"{written!r}: a brand is compared with = or != only")
            terms.append(term)
        alternatives.append(terms)
    return alternatives
