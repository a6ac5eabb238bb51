"""The resolver: `uv pip compile` for a profile's target, and what its failures mean.

lock.py holds the lock itself (its model, digests, freshness and portable text: pure); this
module runs uv to resolve a closure (`resolve`; `prepare` and `relock` make the Lock value
a command hands down, never writing it) and turns uv's refusals into one-line errors: a pin
with no wheel on its index, pins that cannot be installed together, an index out of reach.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import tomli_w
from packaging.pylock import Pylock
from packaging.utils import NormalizedName, canonicalize_name

from imagegate import installer, interrupts, pip, progress, runner
from imagegate.errors import EnvironmentProblem, ProfileError
from imagegate.files import scratch
from imagegate.lock import Lock, lock_path, on_disk, portable, previous_versions, why_stale
from imagegate.profiles import Profile

RESOLVE_TIMEOUT = 600.0


def resolve_exact(profile: Profile, requirements: Sequence[str]) -> list[NormalizedName]:
    """The closure the resolver makes of exact `requirements` for the profile's target, by
    name: a set of versions that can be installed together gives back only its own names.
    Raises ProfileError (with the resolver's sentence) when they cannot."""
    with scratch("lock") as folder:
        resolved = _resolve(profile, folder, "exact", list(requirements), {})
    return [canonicalize_name(package.name) for package in resolved.packages]


def _resolve(
    profile: Profile,
    folder: Path,
    name: str,
    requirements: list[str],
    preferred: Mapping[str, str],
) -> Pylock:
    command = _compile_command(profile, folder, name, requirements, preferred)
    return command.read(runner.run(command.args, timeout=RESOLVE_TIMEOUT))


@dataclass(frozen=True, kw_only=True)
class _Compile:
    """One `uv pip compile` to run, and how to read what it wrote."""

    profile: Profile
    args: list[str]
    output: Path
    out_of_reach: Mapping[str, str]

    def read(self, done: runner.Completed) -> Pylock:
        if not done.ok:
            raise _explain(self.profile, done.output, self.out_of_reach)
        return Pylock.from_dict(tomllib.loads(self.output.read_text(encoding="utf-8")))


def _compile_command(
    profile: Profile,
    folder: Path,
    name: str,
    requirements: list[str],
    preferred: Mapping[str, str],
) -> _Compile:
    source = folder / f"{name}.in"
    source.write_text("\n".join(requirements) + "\n", encoding="utf-8")
    others = [pin for pin in profile.requirements() if pin not in requirements]
    output = folder / f"pylock.{name}.toml"
    if preferred:  # uv prefers the versions of the output file it is about to replace
        packages = [{"name": n, "version": v} for n, v in sorted(preferred.items())]
        output.write_text(
            tomli_w.dumps({"lock-version": "1.0", "created-by": "imagegate", "packages": packages}),
            encoding="utf-8",
        )
    constraints = None
    if others:
        constraints = folder / f"{name}.constraints.txt"
        constraints.write_text("\n".join(others) + "\n", encoding="utf-8")
    reach = installer.profile_indexes(
        profile.indexes, profile.sources.values(), pip.unreachable, default=profile.index
    )
    args = installer.compile_lock(
        source,
        output,
        target=profile.target,
        constraints=constraints,
        user=pip.user_sources(),
        indexes=reach,
    )
    return _Compile(profile=profile, args=args, output=output, out_of_reach=reach.out_of_reach)


def _explain(profile: Profile, output: str, out_of_reach: Mapping[str, str]) -> Exception:
    missing = installer.missing_version(output)
    if missing is not None:
        name = canonicalize_name(missing.name)
        wanted = str(missing)
        index = profile.sources.get(name)
        if index is not None and index in out_of_reach:
            url, why = profile.indexes[index], out_of_reach[index]
            return pip.index_out_of_reach(wanted, index, url, why)
        where = f"index {index!r}" if index else "the configured package indexes"
        return ProfileError(
            f"{profile.path}: pins.{name}: {wanted} has no wheel for Python "
            f"{profile.target.python} on {profile.target.platform} on {where}; "
            "pick a version that exists there"
        )
    causes = installer.conflict(output)
    if causes:
        return ProfileError(
            f"{profile.path}: pins: they cannot be installed together: {' '.join(causes)}"
        )
    last = installer.last_line(output)
    if installer.index_unreachable(output):
        return EnvironmentProblem(f"uv could not reach a package index: {last}")
    return EnvironmentProblem(f"uv pip compile failed: {last}")


def prepare(profile: Profile, found: Lock | None = None) -> Lock:
    """The profile's lock: `found` (a lock already in hand) or the one on disk when it is
    fresh, else a new one, not yet written (`transaction.commit` writes it)."""
    lock = found if found is not None else on_disk(profile)
    why = why_stale(profile, lock)
    if lock is not None and why is None:
        return lock
    progress.note(f"    {why}: locking {profile.name}")
    with interrupts.keeping(lock_path(profile)):
        text = resolve(profile)
    return Lock.parse(text.encode("utf-8"), lock_path(profile))


def relock(profile: Profile, *, upgrade: bool = False) -> Lock:
    """Resolve the profile's closure for its target: a new lock, not yet written
    (`transaction.commit` writes it)."""
    with interrupts.keeping(lock_path(profile)):
        text = resolve(profile, upgrade=upgrade)
    return Lock.parse(text.encode("utf-8"), lock_path(profile))


def resolve(profile: Profile, *, upgrade: bool = False) -> str:
    """The text of a fresh lock for `profile` (nothing is written); unless `upgrade`, the
    versions of the lock it replaces are preferred wherever they still fit."""
    kept = {} if upgrade else previous_versions(lock_path(profile))
    with scratch("lock") as folder:
        whole = _compile_command(profile, folder, "all", profile.requirements(), kept)
        commands = [whole]
        if profile.protected:  # the protected closure alone, resolved at the same time
            wanted = profile.requirements(protected_only=True)
            commands.append(_compile_command(profile, folder, "protected", wanted, kept))
        done = runner.run_together([c.args for c in commands], timeout=RESOLVE_TIMEOUT)
        whole.read(done[0])  # a conflict shows in the whole closure first
        raw = tomllib.loads(whole.output.read_text(encoding="utf-8"))
        protected: list[str] = []
        if profile.protected:
            first = commands[1].read(done[1])
            protected = sorted(canonicalize_name(p.name) for p in first.packages)
    return portable(profile, raw, protected)
