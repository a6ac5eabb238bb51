"""Findings: what every check yields, and the verdict over a list of them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from enum import Enum
from typing import Any


class Status(Enum):
    OK = "OK"
    WRONG_VERSION = "WRONG VERSION"
    BROKEN = "BROKEN"
    MISSING = "MISSING"
    SKIPPED = "SKIPPED"
    STALE_LOCK = "STALE LOCK"
    """The lock no longer matches its profile: lock again (a failure, exit 1)."""
    WARN = "WARN"
    """Works, but costs or risks what the user likely did not mean (a CPU build on a GPU
    endpoint): not a failure (exit 0), yet shown to a person even on a pass."""

    @property
    def failed(self) -> bool:
        return self in (Status.WRONG_VERSION, Status.BROKEN, Status.MISSING, Status.STALE_LOCK)

    @property
    def shown(self) -> bool:
        """A row a person sees without --verbose: a failure or a warning."""
        return self.failed or self is Status.WARN


@dataclass(frozen=True, kw_only=True)
class Finding:
    tier: int
    check: str
    """The kind of check: python, pin, invariant, requirement, fact, import, statement."""
    subject: str
    status: Status
    expected: str = ""
    actual: str = ""
    evidence: str = ""
    seconds: float | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["status"] = self.status.value
        return data


def passed(findings: Iterable[Finding]) -> bool:
    return not any(finding.status.failed for finding in findings)


def counts(findings: Iterable[Finding]) -> dict[str, int]:
    tally = {status.value: 0 for status in Status}
    for finding in findings:
        tally[finding.status.value] += 1
    return tally
