"""The CI matrix, derived from the profiles so that CI builds exactly what they name.

A profile added, removed or retargeted changes CI with no edit to the workflow: the
workflow's first job runs `imagegate matrix` and hands the JSON to
`strategy.matrix: ${{ fromJSON(...) }}`. Everything here is read from a profile, never
written twice:

- `python`, `platform`: the profile's target.
- `gpu`: what the profile's facts say torch was built for. A CUDA torch reports its CUDA
  version in `torch.version.cuda`; a ROCm torch reports `None` there and its HIP version in
  `torch.version.hip`. A version number alone cannot tell: PyPI's torch 2.5.1 is a CUDA
  build with no local label, `2.5.1+cpu` is not.
- `runner`, `require_gpu`: the profile's `ci` section; by default GitHub's hosted
  `ubuntu-latest`, which has no GPU, so GPU steps are SKIPPED there. A profile that names
  a GPU runner (e.g. `[self-hosted, gpu]`) with `require_gpu: true` is verified with
  `--require-gpu` there: a GPU step that can't run fails the job.
- `slow`: the build pulls a multi-GB vendor base image (CUDA, ROCm) or installs torchvision
  beside a GPU torch; CI uses it to make room on the runner first.
"""

from __future__ import annotations

from typing import Literal, TypedDict

from imagegate.facts import CUDA_FACT, HIP_FACT
from imagegate.profiles import Profile

SLOW_PACKAGE = "torchvision"
_NONE = "None"
_OFFICIAL = ("library/",)
"""Docker Hub's own images (`python`, `debian`) are under `library/`; the rest are vendors'."""

Gpu = Literal["nvidia", "amd", "none"]


class Entry(TypedDict):
    """One job of the matrix; the workflow reads these keys as `matrix.<key>`."""

    profile: str
    python: str
    platform: str
    gpu: Gpu
    runner: list[str]
    """GitHub's `runs-on`: the labels the runner must all have."""
    require_gpu: bool
    slow: bool


class Matrix(TypedDict):
    include: list[Entry]


def matrix(profiles: list[Profile]) -> Matrix:
    """One entry per profile, in the order given; `json.dumps` of it is what `fromJSON` reads."""
    return {"include": [entry(profile) for profile in profiles]}


def entry(profile: Profile) -> Entry:
    return {
        "profile": profile.name,
        "python": profile.target.python,
        "platform": profile.target.platform,
        "gpu": gpu(profile),
        "runner": list(profile.ci.runner),
        "require_gpu": profile.ci.require_gpu,
        "slow": is_vendor_image(profile.base.image) or SLOW_PACKAGE in profile.protected,
    }


def gpu(profile: Profile) -> Gpu:
    """The accelerator the profile's torch is built for, as its facts state it."""
    if profile.facts.get(CUDA_FACT, _NONE) != _NONE:
        return "nvidia"
    if any(k.startswith(HIP_FACT) and v != _NONE for k, v in profile.facts.items()):
        return "amd"
    return "none"


def is_vendor_image(ref: str) -> bool:
    """True unless `ref` is one of Docker Hub's official images (`python:3.11-slim`)."""
    first, _, rest = ref.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        if first not in ("docker.io", "index.docker.io", "registry-1.docker.io"):
            return True
        ref = rest
    return "/" in ref and not ref.startswith(_OFFICIAL)
