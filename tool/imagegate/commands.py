"""The commands that judge: each parses nothing, calls the library and returns one Result.

Shared by every handler: the profile a name (or `auto`) means, the run lock of a profile,
and an error shown as one line.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from contextlib import AbstractContextManager
from dataclasses import replace
from pathlib import Path

from imagegate import (
    doctor,
    exclusive,
    gpu_rules,
    hardware,
    lock,
    preflight,
    progress,
    repair,
    worker_tests,
)
from imagegate.errors import EnvironmentProblem, ExitCode, ImagegateError, ProfileError, UsageError
from imagegate.findings import Finding, Status, passed
from imagegate.options import AUTO
from imagegate.profiles import PROFILE_SUFFIX, Profile, load_each, load_profiles, profile_names
from imagegate.project import Project
from imagegate.report import Result


def show_error(error: ImagegateError, args: argparse.Namespace) -> None:
    """An error as the user sees it: one line (after its traceback under --debug)."""
    if args.debug:
        traceback.print_exception(error)
    print(f"imagegate: error: {error}", file=sys.stderr)


def project(args: argparse.Namespace) -> Project:
    return Project.from_profiles(args.profiles)


def holding(args: argparse.Namespace, profile: Profile) -> AbstractContextManager[None]:
    """The profile's run lock: one run at a time writes its lock, wheelhouse, files, image."""
    path = project(args).run_lock(profile.name)
    what = f"the run lock of profile {profile.name} ({path})"
    return exclusive.hold(path, what, wait=args.wait)


def choose(directory: Path) -> gpu_rules.Choice:
    profiles = load_profiles(profile_names(directory), directory)
    return gpu_rules.choose(profiles, hardware.detect())


def chosen(name: str, directory: Path) -> str:
    """A profile's name as given; `auto` is the one `imagegate detect` picks here."""
    if name != AUTO:
        return name
    choice = choose(directory)
    if choice.profile is None:
        raise EnvironmentProblem(f"--profile auto: no profile fits this machine: {choice.reason}")
    progress.note(f"==> auto: {choice.profile} ({choice.reason})")
    return choice.profile


def profile_of(args: argparse.Namespace) -> Profile:
    """The one profile the command names (by name, file or `auto`)."""
    return load_profiles([chosen(args.profile, args.profiles)], args.profiles)[0]


def selected_names(args: argparse.Namespace) -> list[str]:
    """The profiles named (each may be `auto`), or every one with --all."""
    if args.all == bool(args.names):
        raise UsageError("name one or more profiles, or pass --all (not both)")
    if args.all:
        return profile_names(args.profiles)
    return [chosen(name, args.profiles) for name in args.names]


def selected(args: argparse.Namespace) -> list[Profile]:
    return load_profiles(selected_names(args), args.profiles)


def verdict(findings: list[Finding] | tuple[Finding, ...]) -> ExitCode:
    return ExitCode.PASSED if passed(findings) else ExitCode.VERIFICATION_FAILED


def doctor_(args: argparse.Namespace) -> Result:
    profile = profile_of(args)
    _interpreter(args.python)
    found = doctor.diagnose(profile, project(args), args.python, tier3=args.tier == 3)
    subject = f"{profile.name} (doctor: {args.python})"
    extra = {"python": str(args.python)}
    return Result(subject=subject, code=verdict(found), findings=tuple(found), extra=extra)


def _interpreter(python: Path) -> None:
    """--python names an interpreter this process can run (checked before anything runs it)."""
    if python.is_dir():
        raise UsageError(
            f"--python {python}: is a directory; pass the interpreter in it, "
            f"e.g. {python / 'bin' / 'python'}"
        )
    if not python.is_file():
        raise UsageError(f"--python {python}: no such interpreter; pass a venv's python")
    if not os.access(python, os.X_OK):
        raise UsageError(f"--python {python}: not executable; pass a venv's python")


def build(args: argparse.Namespace) -> Result:
    profile = profile_of(args)
    from imagegate import building  # Docker's SDK loads only for the commands that need it
    from imagegate.engine import Engine

    with holding(args, profile):
        built = building.build(
            profile,
            project(args),
            Engine(),
            tag=args.tag,
            base_image=args.base_image,
            require_gpu=args.require_gpu,
            fresh=args.fresh,
            worker_tests=_worker_tests(args, default=False),
        )
    if not built.built:
        print(
            f"imagegate: the build of {profile.name} failed in its smoke step; "
            f"the unverified stack is {built.image}",
            file=sys.stderr,
        )
    return Result(
        subject=f"{profile.name} ({built.image})",
        code=ExitCode.PASSED if built.passed else ExitCode.VERIFICATION_FAILED,
        findings=tuple(built.findings),
        extra=built.report_fields(),
    )


def gate(args: argparse.Namespace) -> Result:
    profile = profile_of(args)
    from imagegate import shipping
    from imagegate.engine import Engine

    if args.image_python is not None and args.image is None:
        raise UsageError(
            "gate: --image-python names the interpreter of an image built elsewhere; pass "
            "--image REF too (an image gate builds names its own)"
        )
    if args.tag is not None and args.image is not None:
        raise UsageError("gate: --tag names the image gate builds; with --image nothing is built")
    with holding(args, profile):
        gated = shipping.gate(
            profile,
            project(args),
            Engine(),
            push=args.push,
            bom_file=args.sbom or project(args).sbom(profile.name),
            image=args.image,
            tag=args.tag,
            python=args.image_python,
            base_image=args.base_image,
            require_gpu=args.require_gpu,
            fresh=args.fresh,
            worker_tests=_worker_tests(args, default=args.image is not None),
        )
    outcome = f"pushed {gated.ref} ({gated.digest})" if gated.pushed else "pushed nothing"
    print(f"imagegate: gate {profile.name}: {outcome}: {gated.reason}", file=sys.stderr)
    return Result(
        subject=f"{profile.name} gate ({gated.ref})",
        code=ExitCode.PASSED if gated.pushed else ExitCode.VERIFICATION_FAILED,
        findings=tuple(gated.findings),
        extra=gated.report_fields(),
    )


def verify(args: argparse.Namespace) -> Result:
    profile = profile_of(args)
    from imagegate import sbom, workflow
    from imagegate.engine import Engine

    image = args.image or workflow.default_tag(profile)
    locked = lock.on_disk(profile)
    with holding(args, profile):
        verified = workflow.verify_image(
            profile,
            project(args),
            Engine(),
            image,
            lock=locked,
            python=args.image_python,
            require_gpu=args.require_gpu,
            fresh=args.fresh,
            worker_tests=_worker_tests(args, default=True),
        )
    extra = {"image": image, **verified.report_fields()}
    unwritten: ImagegateError | None = None
    if args.sbom is not None:
        try:
            if locked is None:  # the message of a lock that can't be read
                locked = lock.Lock.read(lock.lock_path(profile))
            document = sbom.document(image, verified.installed, locked)
            extra |= {"sbom": str(args.sbom), "sbom_digest": sbom.write(args.sbom, document)}
        except (UsageError, ProfileError) as error:  # the verdict is still shown, then exit 2
            unwritten = error
    return Result(
        subject=f"{profile.name} ({image})",
        code=verdict(verified.findings),
        findings=tuple(verified.findings),
        extra=extra,
        error=unwritten,
    )


def _worker_tests(args: argparse.Namespace, *, default: bool) -> worker_tests.WorkerTests | None:
    """--worker-tests, else (with `default`) the project's .runpod/tests.json if it has one.

    The default serves the commands given the worker image (verify, gate --image): what
    `build` makes is the stack a worker is built FROM, whose command is no handler."""
    if args.worker_tests is None and not default:
        return None
    return worker_tests.find(project(args).root, args.worker_tests, args.worker_mode)


def check(args: argparse.Namespace) -> Result:
    """One report over every profile asked for; each finding's subject names its profile.

    A profile that can't be loaded is named on stderr and is a BROKEN finding (exit at
    least 2). A deep check that can't run is a finding too: BROKEN for a profile that can't
    be locked or installed (exit 1), SKIPPED for an index out of reach (exit 3, naming it).
    Either way the other profiles are still checked and reported.
    """
    everything: list[Finding] = []
    worst = ExitCode.PASSED
    unresolved: list[str] = []
    for name, loaded in load_each(selected_names(args), args.profiles).items():
        if isinstance(loaded, ProfileError):
            show_error(loaded, args)
            everything.append(_unloadable(name, loaded))
            worst = ExitCode.BAD_INPUT
            continue
        deep = preflight.Checked(findings=[], lock=None)
        if args.deep:
            try:
                with holding(args, loaded):
                    deep = preflight.deep(loaded, project(args))  # locks and fills when stale
            except ImagegateError as error:
                deep = preflight.Checked(findings=[_undeep(loaded, error)], lock=None)
                if isinstance(error, EnvironmentProblem):
                    unresolved.append(f"check {loaded.name}: {error}")
        try:
            found = preflight.examine(loaded, deep.lock).findings + deep.findings
        except preflight.Unresolved as error:  # report what was judged, then exit 3
            found, unresolved = error.findings + deep.findings, [*unresolved, str(error)]
        everything += [replace(f, subject=f"{loaded.name}: {f.subject}") for f in found]
    problem = "; ".join(dict.fromkeys(unresolved))
    return Result(
        subject=f"preflight{' --deep' if args.deep else ''}",
        code=max(worst, verdict(everything)),
        findings=tuple(everything),
        extra={"environment_problem": problem} if problem else {},
        error=EnvironmentProblem(problem) if problem else None,
    )


def _undeep(profile: Profile, error: ImagegateError) -> Finding:
    """A deep check that could not run: an index out of reach (SKIPPED, exit 3) or a
    profile that can't be locked or installed (BROKEN)."""
    unreachable = isinstance(error, EnvironmentProblem)
    return Finding(
        tier=preflight.TIER,
        check="deep",
        subject=profile.name,
        status=Status.SKIPPED if unreachable else Status.BROKEN,
        expected="tiers 1-2 in a venv",
        actual="not run",
        evidence=str(error),
    )


def _unloadable(name: str, error: ProfileError) -> Finding:
    file = name if name.endswith(PROFILE_SUFFIX) else f"{name}{PROFILE_SUFFIX}"
    return Finding(
        tier=preflight.TIER,
        check="profile",
        subject=f"{name}: {file}",
        status=Status.BROKEN,
        expected="valid",
        actual="invalid",
        evidence=str(error),
    )


def repair_(args: argparse.Namespace) -> Result:
    profile = profile_of(args)
    _interpreter(args.python)
    with holding(args, profile):
        done = repair.repair(
            profile,
            project(args),
            lock.read_fresh(profile),
            args.python,
            dry_run=args.dry_run,
            wait=args.wait,
        )
    subject = f"repair {profile.name}"
    if done.interrupted is not None:
        line = (
            f"would roll back  an interrupted repair ({done.interrupted.folder}): restore "
            f"{', '.join(done.interrupted.restores())}; then plan the repair again"
        )
        return Result(subject=subject, code=ExitCode.PASSED, lines=(line,))
    lines = [
        f"{'would repair' if args.dry_run else 'repair'}  {target.name}=={target.version}: "
        f"{done.plan.reasons[target.name]}"
        for target in done.plan.targets
    ]
    if not done.plan.targets:
        lines.append(f"repair {profile.name}: nothing to repair in {args.python}")
    if done.rolled_back is not None:
        print(
            f"imagegate: repair {profile.name}: {done.rolled_back}; "
            "the environment was restored exactly as it was",
            file=sys.stderr,
        )
        return Result(subject=subject, code=ExitCode.VERIFICATION_FAILED, lines=tuple(lines))
    if done.changed:
        lines.append(f"repair {profile.name}: done; the doctor passes")
    code = ExitCode.PASSED if args.dry_run else verdict(done.findings)
    return Result(subject=subject, code=code, lines=tuple(lines))
