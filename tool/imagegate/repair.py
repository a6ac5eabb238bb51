"""Transactional repair of a live environment from the validated wheelhouse only.

A plan (pure) lists the distributions to put back to their locked build: of the lock's
closure for the environment's markers (what verify and the doctor judge by), those the
environment holds at another version or lacks, and those whose modules are broken. A
protected package is never replaced by another build: such a plan is refused. Applying it
journals the environment first (versions, and a copy of every file of each distribution it
will touch), then for each one uninstalls and installs the exact locked wheel by hash, then
runs the doctor again. A failure, an interruption or a doctor that still fails restores the
environment exactly; a repair killed outright is rolled back by the next `repair` (a dry
run only says what that rollback would restore: it changes nothing, ever).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from packaging.utils import NormalizedName

from imagegate import exclusive, installer, progress, runner, wheelhouse
from imagegate import journal as journals
from imagegate.closure import compare
from imagegate.doctor import diagnose, examine
from imagegate.errors import EnvironmentProblem, ExitCode, ImagegateError
from imagegate.executors import HostPython
from imagegate.facts import Facts
from imagegate.files import copy_whole, scratch
from imagegate.findings import Finding, Status, passed
from imagegate.lock import Lock, Locked
from imagegate.profiles import Profile
from imagegate.project import Project

TIMEOUT = 1800.0
_FILES = (
    "import importlib.metadata as m, json, pathlib, sys\n"
    "def files(name):\n"
    "    listed = [pathlib.Path(m.distribution(name).locate_file(f))\n"
    "              for f in (m.distribution(name).files or [])]\n"
    "    compiled = [c for p in listed if p.suffix == '.py'\n"
    "                for c in (p.parent / '__pycache__').glob(p.stem + '.*.pyc')]\n"
    "    return sorted({str(p) for p in [*listed, *compiled]})\n"
    "print(json.dumps({n: files(n) for n in sys.argv[1:]}))"
)
"""Each distribution's files: its RECORD, and the bytecode compiled from its modules, which
an installer may leave out of RECORD (uv's --compile-bytecode does) but removes with it."""


class RepairRefused(ImagegateError):
    """The repair would need what it must never do (replace a protected build, install
    from a wrong wheelhouse): nothing was changed. Exit 1."""

    exit_code = ExitCode.VERIFICATION_FAILED


@dataclass(frozen=True, kw_only=True)
class Plan:
    targets: tuple[Locked, ...]
    reasons: dict[NormalizedName, str]
    """Why each target is repaired, by name."""
    refused: str | None


def plan(profile: Profile, lock: Lock, facts: Facts, findings: list[Finding]) -> Plan:
    """What to reinstall, and whether it may be done (pure)."""
    compared = compare(lock, facts)
    reasons: dict[NormalizedName, str] = {
        d.name: f"missing (locked {d.locked})"
        if d.installed is None
        else f"{d.installed} installed, {d.locked} locked"
        for d in compared.drifted
    }
    owners = {module: d.name for d in facts.distributions.values() for module in d.top_level}
    for finding in findings:
        owner = owners.get(finding.subject)
        broken = finding.check == "import" and finding.status is Status.BROKEN
        if broken and owner is not None and owner in compared.closure:
            reasons.setdefault(owner, f"broken: {finding.evidence}")
    refused = next(
        (
            f"{name}: {reasons[name]}; it is protected, so repair never replaces its build: "
            "rebuild the environment, or use the profile that matches it"
            for name in profile.protected
            if name in reasons and name in facts.distributions
        ),
        None,
    )
    targets = tuple(compared.closure[name] for name in sorted(reasons))
    return Plan(targets=targets, reasons=reasons, refused=refused)


@dataclass(frozen=True, kw_only=True)
class Repaired:
    plan: Plan
    changed: bool
    rolled_back: str | None
    findings: list[Finding]
    interrupted: journals.Journal | None = None
    """A dry run's find: a killed repair's journal, which a real repair rolls back first
    (the plan is made after that, so a dry run has none)."""


def repair(
    profile: Profile,
    project: Project,
    lock: Lock,
    python: Path,
    *,
    dry_run: bool = False,
    wait: float = exclusive.DEFAULT_WAIT,
) -> Repaired:
    """Plan, and unless `dry_run`, apply: one repair of an environment at a time."""
    prefix = journals.prefix(python)
    if dry_run:
        return _repair(profile, project, lock, python, prefix, dry_run=True)
    with exclusive.hold(exclusive.environment_lock(prefix), f"the environment {prefix}", wait=wait):
        return _repair(profile, project, lock, python, prefix, dry_run=False)


def _repair(
    profile: Profile, project: Project, lock: Lock, python: Path, prefix: Path, *, dry_run: bool
) -> Repaired:
    left = journals.read(prefix)
    if left is not None and dry_run:
        nothing = Plan(targets=(), reasons={}, refused=None)
        return Repaired(
            plan=nothing, changed=False, rolled_back=None, findings=[], interrupted=left
        )
    if left is not None:
        with progress.step("rollback", f"an interrupted repair in {prefix}"):
            rollback(python, left)
    journal = journals.folder(prefix)
    directory = project.wheelhouse_dir(profile.name)
    with progress.step("doctor", f"{profile.name}: {python}"):
        facts, findings = examine(profile, project, python)
    chosen = plan(profile, lock, facts, findings)
    if chosen.refused is not None:
        raise RepairRefused(f"repair {profile.name}: refused: {chosen.refused}")
    if dry_run or not chosen.targets:
        return Repaired(plan=chosen, changed=False, rolled_back=None, findings=findings)
    problems = wheelhouse.audit(profile, lock, directory)
    if problems:
        raise RepairRefused(
            f"{directory}: the wheelhouse is wrong ({'; '.join(problems[:3])}); "
            f"nothing was changed; run `imagegate wheelhouse {profile.name}` first"
        )
    with progress.step("journal", str(journal)):
        recorded = _record(python, journal, facts, chosen)
    try:
        with progress.step("reinstall", f"{len(chosen.targets)} from {directory}") as task:
            _apply(python, directory, chosen, task)
        with progress.step("doctor", f"{profile.name}: after the repair"):
            after = diagnose(profile, project, python, repairing=True)
    except BaseException as error:
        rollback(python, recorded)
        if isinstance(error, ImagegateError):
            raise type(error)(f"{error} (the environment was restored as it was)") from None
        raise
    if not passed(after):
        rollback(python, recorded)
        still = [f"{f.subject}: {f.status.value}" for f in after if f.status.failed]
        return Repaired(
            plan=chosen,
            changed=False,
            rolled_back=f"the doctor still failed after the repair ({'; '.join(still[:3])})",
            findings=after,
        )
    shutil.rmtree(journal)
    return Repaired(plan=chosen, changed=True, rolled_back=None, findings=after)


def _record(python: Path, folder: Path, facts: Facts, chosen: Plan) -> journals.Journal:
    """The journal: the versions before, and a copy of each touched distribution's files."""
    installed = [t.name for t in chosen.targets if t.name in facts.distributions]
    there = HostPython(python)
    listed = there.run([there.python, "-c", _FILES, *installed], timeout=TIMEOUT)
    files: dict[str, list[str]] = json.loads(listed.output) if installed else {}
    journal = journals.Journal(
        folder=folder,
        versions={name: d.version for name, d in facts.distributions.items()},
        targets=tuple(t.name for t in chosen.targets),
        files={name: tuple(paths) for name, paths in files.items()},
    )
    shutil.rmtree(folder, ignore_errors=True)
    (folder / journals.FILES).mkdir(parents=True)
    for paths in journal.files.values():
        for text in paths:
            if Path(text).is_file():
                journal.saved(text).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(text, journal.saved(text))
    journal.write()
    return journal


def _apply(python: Path, directory: Path, chosen: Plan, task: progress.Task) -> None:
    with scratch("repair") as folder:
        for done, target in enumerate(chosen.targets):
            task.update(f"uninstall {target.name}", done=done, total=len(chosen.targets))
            _uv(installer.uninstall(python, target.name), allow_missing=True)
            task.update(f"install {target.name}=={target.version}")
            requirements = folder / f"{target.name}.txt"
            requirements.write_text(target.requirement() + "\n", encoding="utf-8")
            folders = [directory / wheelhouse.PROTECTED, directory / wheelhouse.REST]
            _uv(installer.install(python, find_links=folders, requirements=[requirements]))
    task.update("", done=len(chosen.targets))


def rollback(python: Path, journal: journals.Journal) -> None:
    """Put back every touched distribution exactly as the journal recorded it."""
    for name in journal.targets:
        _uv(installer.uninstall(python, name), allow_missing=True)
    for paths in journal.files.values():
        for text in paths:
            saved = journal.saved(text)
            if saved.is_file():
                copy_whole(saved, Path(text), times=True)  # links into uv's cache stay
    shutil.rmtree(journal.folder)


def _uv(args: list[str], *, allow_missing: bool = False) -> None:
    done = runner.run(args, timeout=TIMEOUT, echo=True, prefix="  uv: ")
    if not done.ok and not (allow_missing and installer.not_installed(done.output)):
        raise EnvironmentProblem(f"{installer.named(args)} failed: {done.tail(1)}")
