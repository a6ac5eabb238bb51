"""An environment's closure against its lock: the one comparison of installed with locked.

A lock holds every package of a closure, some only under a marker (another platform, another
Python). What one environment should hold is the lock's closure for that environment's own
marker values (`Lock.closure_for`); `compare` holds the installed distributions against it.
`verify` judges an image by it, the doctor reports a venv's drift by it and a repair
reinstalls by it, so the three never disagree on what is missing or at another build.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass

from packaging.utils import NormalizedName
from packaging.version import InvalidVersion, Version

from imagegate.facts import Facts
from imagegate.lock import Lock, Locked


class Drift(enum.Enum):
    MISSING = "missing"
    OTHER_BUILD = "other build"
    EXTRA = "extra"


@dataclass(frozen=True, kw_only=True)
class Deviation:
    name: NormalizedName
    drift: Drift
    locked: Version | None
    """None for an extra: the lock does not hold it."""
    installed: str | None
    """As installed; None for a missing one."""


@dataclass(frozen=True, kw_only=True)
class Comparison:
    closure: Mapping[NormalizedName, Locked]
    """What the environment should hold: the locked packages whose marker holds in it."""
    deviations: tuple[Deviation, ...]
    """Locked ones missing or at another build, in the lock's order; then the extras."""

    @property
    def drifted(self) -> tuple[Deviation, ...]:
        """Missing or at another build: what a repair puts back."""
        return tuple(d for d in self.deviations if d.drift is not Drift.EXTRA)

    @property
    def extras(self) -> tuple[Deviation, ...]:
        return tuple(d for d in self.deviations if d.drift is Drift.EXTRA)

    @property
    def as_locked(self) -> int:
        return len(self.closure) - len(self.drifted)


def compare(lock: Lock, facts: Facts) -> Comparison:
    """The installed distributions against the lock's closure for the facts' environment.

    An installed package that the lock holds for other environments only is neither
    required nor extra."""
    closure = lock.closure_for(facts.environment)
    drifted = []
    for name, locked in closure.items():
        installed = facts.distributions.get(name)
        if installed is None:
            drift, version = Drift.MISSING, None
        elif not same_build(installed.version, locked.version):
            drift, version = Drift.OTHER_BUILD, installed.version
        else:
            continue
        drifted.append(Deviation(name=name, drift=drift, locked=locked.version, installed=version))
    extras = [
        Deviation(name=name, drift=Drift.EXTRA, locked=None, installed=installed.version)
        for name, installed in facts.distributions.items()
        if name not in lock.packages
    ]
    return Comparison(closure=closure, deviations=(*drifted, *extras))


def same_build(installed: str, pinned: Version) -> bool:
    """Exact equality, local label included; an unparseable installed version never matches."""
    try:
        return Version(installed) == pinned
    except InvalidVersion:
        return False
