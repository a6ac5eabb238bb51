"""Tier 4: what a RunPod worker's cold start costs, judged against the profile's budgets.

A cold worker is pulled, started, and answers its first job. Three figures, per image:
- its size as a registry stores it: each layer compressed with gzip at level 6 (what
  `docker push` writes: Go's gzip.NewWriter, or pigz, at their default level), summed;
- its largest layer (pulls fetch layers in parallel: the largest one bounds the pull);
- the time from the container's start to the handler's first answer: a run of the first
  test (`--test_input`, networking off), from the engine's create call to the container's
  exit after answering, the median of 3 (`worker.cold_starts`).
`worker: {max_size_gb, max_cold_start_s}` in the profile sets budgets; a figure over its
budget is BROKEN with both. Without a budget the figure is shown, OK.

Pure: `worker_start` measures.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from imagegate.findings import Finding, Status
from imagegate.profiles import Profile
from imagegate.worker_tests import TIER

CHECK = "cold start"
GB = 10**9


@dataclass(frozen=True, kw_only=True)
class Layer:
    digest: str
    """Its diff ID (sha256 of the uncompressed tar), as the image's RootFS lists it."""
    size: int
    """Uncompressed bytes."""
    compressed: int
    """Bytes as gzip (level 6) writes it: what a registry stores."""

    def to_dict(self) -> dict[str, object]:
        return {"digest": self.digest, "size": self.size, "compressed": self.compressed}

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> Layer:
        return cls(
            digest=str(data["digest"]),
            size=int(str(data["size"])),
            compressed=int(str(data["compressed"])),
        )


def _gb(size: int) -> str:
    return f"{size / GB:.2f} GB"


def judge_size(profile: Profile, layers: Sequence[Layer]) -> list[Finding]:
    """The compressed size against `worker.max_size_gb`, and the largest layer (shown)."""
    compressed = sum(layer.compressed for layer in layers)
    unpacked = sum(layer.size for layer in layers)
    budget = profile.worker.max_size_gb
    excess = compressed - int(budget * GB) if budget is not None else 0
    size = Finding(
        tier=TIER,
        check=CHECK,
        subject="compressed size",
        status=Status.BROKEN if excess > 0 else Status.OK,
        expected=f"≤ {budget:g} GB (worker.max_size_gb)" if budget is not None else "",
        actual=f"{_gb(compressed)} compressed",
        evidence=f"{len(layers)} layers, {_gb(unpacked)} unpacked; gzip level 6, as pushed"
        + (f": {_gb(excess)} over the budget" if excess > 0 else ""),
    )
    if not layers:
        return [size]
    largest = max(layers, key=lambda layer: layer.compressed)
    share = largest.compressed / compressed if compressed else 0.0
    biggest = Finding(
        tier=TIER,
        check=CHECK,
        subject="largest layer",
        status=Status.OK,
        actual=f"{_gb(largest.compressed)} compressed",
        evidence=f"{largest.digest[:19]}, {share:.0%} of the image, {_gb(largest.size)} unpacked",
    )
    return [size, biggest]


def judge_cold_start(profile: Profile, test: str, seconds: Sequence[float]) -> Finding:
    """The median time of `seconds` (runs of test `test`) against `worker.max_cold_start_s`."""
    median = statistics.median(seconds)
    budget = profile.worker.max_cold_start_s
    excess = median - budget if budget is not None else 0.0
    runs = ", ".join(f"{s:.1f}" for s in seconds)
    return Finding(
        tier=TIER,
        check=CHECK,
        subject="first answer",
        status=Status.BROKEN if excess > 0 else Status.OK,
        expected=f"≤ {budget:g} s (worker.max_cold_start_s)" if budget is not None else "",
        actual=f"{median:.1f} s",
        evidence=f"median of {len(seconds)} starts of test {test!r} ({runs} s), container "
        "start to its answer" + (f": {excess:.1f} s over the budget" if excess > 0 else ""),
        seconds=median,
    )


def not_measured(why: str) -> Finding:
    return Finding(
        tier=TIER, check=CHECK, subject="first answer", status=Status.SKIPPED, evidence=why
    )


def failed_start(test: str, sample: int, samples: int, exit_code: int) -> Finding:
    """A start of a test that had answered, failing: a worker that answers only sometimes."""
    return Finding(
        tier=TIER,
        check=CHECK,
        subject="first answer",
        status=Status.BROKEN,
        expected=f"test {test!r} answers each time",
        actual=f"exit {exit_code}",
        evidence=f"start {sample} of {samples} of test {test!r} failed, though it had answered",
    )
