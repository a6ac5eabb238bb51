"""The command line: parse, call one library function, map the outcome to an exit code.

Exit codes: 0 passed, 1 verification failed, 2 bad input, 3 environment problem.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import replace
from pathlib import Path

from imagegate import (
    __version__,
    contract,
    doctor,
    exclusive,
    hardware,
    interrupts,
    lock,
    matrix,
    preflight,
    progress,
    render,
    repair,
    report,
    sbom,
    transaction,
    wheelhouse,
    worker,
)
from imagegate.errors import (
    EnvironmentProblem,
    ExitCode,
    ImagegateError,
    ProfileError,
    UsageError,
)
from imagegate.findings import Finding, Status, passed
from imagegate.profiles import (
    PROFILE_SUFFIX,
    Profile,
    load_each,
    load_profile,
    load_profiles,
    profile_names,
)
from imagegate.project import Project

AUTO = "auto"
Handler = Callable[[argparse.Namespace], ExitCode]
EPILOG = "exit codes: 0 passed, 1 verification failed, 2 bad input, 3 environment problem"


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--profiles",
        type=Path,
        default=Path("profiles"),
        metavar="DIR",
        help="the profiles directory; its parent is the project root (default: ./profiles)",
    )
    common.add_argument("--debug", action="store_true", help="show the traceback of an error")
    shown = common.add_mutually_exclusive_group()
    shown.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="also show the output of pip, uv, docker and debootstrap (each warning once)",
    )
    shown.add_argument(
        "-q", "--quiet", action="store_true", help="show only the result (and errors)"
    )
    listed = argparse.ArgumentParser(add_help=False)
    listed.add_argument("--format", choices=("table", "json"), default="table")
    judged = argparse.ArgumentParser(add_help=False)
    judged.add_argument(
        "--format",
        choices=report.FORMATS,
        default="table",
        help="table for people; json (documented in the README); junit for CI test reporters; "
        "markdown (also appended to $GITHUB_STEP_SUMMARY when that is set, whatever the format)",
    )
    judged.add_argument("--output", type=Path, metavar="FILE", help="write the report here")
    writes = argparse.ArgumentParser(add_help=False)
    writes.add_argument(
        "--wait",
        type=float,
        default=exclusive.DEFAULT_WAIT,
        metavar="SECONDS",
        help="when another run holds the profile (or environment), wait this long for it "
        f"before giving up with exit 3 (default: {exclusive.DEFAULT_WAIT:g})",
    )
    gpu = argparse.ArgumentParser(add_help=False)
    gpu.add_argument(
        "--worker-tests",
        type=Path,
        metavar="FILE",
        help="a RunPod worker's tests (the Hub's tests.json) to run in the image as tier 4, "
        "offline, with its own entrypoint and command (verify and gate --image default to "
        "the project's .runpod/tests.json when there is one)",
    )
    gpu.add_argument(
        "--fresh",
        action="store_true",
        help="judge the image again even when a passing verdict on the same image, lock, "
        "profile and scripts is kept (and build even when the image's inputs are unchanged)",
    )
    gpu.add_argument(
        "--require-gpu",
        action="store_true",
        help="fail tier 3's GPU steps instead of skipping them when no GPU is visible "
        "(for a gate on a GPU runner); GPUs are passed to the container when the host has them",
    )

    parser = argparse.ArgumentParser(
        prog="imagegate",
        description="Prove a GPU Python image works before it ships: "
        "profiles -> wheelhouse -> Dockerfile -> image -> verified.",
        epilog=EPILOG,
    )
    parser.add_argument("--version", action="version", version=f"imagegate {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(
        name: str, text: str, handler: Handler, *parents: argparse.ArgumentParser
    ) -> argparse.ArgumentParser:
        sub = commands.add_parser(
            name, parents=[common, *parents], help=text, description=text, epilog=EPILOG
        )
        sub.set_defaults(handler=handler)
        return sub

    sub = command(
        "render", "Write dockerfiles/PROFILE.Dockerfile from each profile.", _render, listed, writes
    )
    _profiles_args(sub)
    sub.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 when a committed Dockerfile differs from a fresh render",
    )

    sub = command(
        "lock",
        "Resolve each profile's whole closure for its target with uv and write "
        "profiles/pylock.PROFILE.toml (PEP 751), every wheel pinned and hashed. Versions "
        "the current lock holds are kept wherever they still fit.",
        _lock,
        listed,
        writes,
    )
    _profiles_args(sub)
    sub.add_argument(
        "--upgrade",
        action="store_true",
        help="take the newest version of every package the pins allow, not the locked ones",
    )

    sub = command(
        "check",
        "Preflight, no Docker, in seconds: the profile is valid, its lock fresh, its pins "
        "resolve together for the target, every locked wheel fits, pins, invariants and "
        "known issues hold over the whole closure.",
        _check,
        judged,
        writes,
    )
    _profiles_args(sub)
    sub.add_argument(
        "--deep",
        action="store_true",
        help="also install the lock into a throwaway venv from the wheelhouse and run "
        "tiers 1-2 there (when the host can run the target's wheels)",
    )

    proof = argparse.ArgumentParser(add_help=False)
    proof.add_argument("--format", choices=("table", "json", "markdown"), default="table")
    proof.add_argument("--tier", type=int, choices=(2, 3), default=2, help="3 adds tiny models")
    sub = command(
        "propose",
        "Newer releases of the profile's pins (the newest, and the newest patch of the current "
        "minor), each proven before it is proposed: static first (resolves with every other "
        "pin, invariants, known issues), then its closure in a throwaway venv (tiers 1-2). "
        "No Docker.",
        _propose,
        proof,
        writes,
    )
    sub.add_argument("profile")
    sub.add_argument(
        "packages", nargs="*", metavar="PACKAGE", help="only these pins (protected ones too)"
    )
    sub.add_argument(
        "--write",
        action="store_true",
        help="put the newest proven version of each package in the file that writes its pin "
        "(comments and order kept) and lock again; on any failure nothing changes",
    )

    sub = command(
        "bisect",
        "The smallest set of package changes between a good and a bad lock that breaks "
        "tiers 1-2, by installing mixed closures in throwaway venvs (about log2(N) rounds). "
        "No Docker.",
        _bisect,
        proof,
    )
    sub.add_argument("profile")
    sub.add_argument("--good", required=True, metavar="LOCK", help="a lock file, or a git revision")
    sub.add_argument("--bad", required=True, metavar="LOCK", help="a lock file, or a git revision")

    sub = command(
        "doctor",
        "Check a live Python environment against the profile with the same scripts and judge "
        "as verify, and say which of profile, lock, wheelhouse and environment is wrong.",
        _doctor,
        judged,
    )
    sub.add_argument("profile")
    sub.add_argument(
        "--python",
        type=Path,
        default=Path(sys.executable),
        metavar="PATH",
        help="the environment's interpreter, e.g. /workspace/venv/bin/python (default: this one)",
    )
    sub.add_argument("--tier", type=int, choices=(2, 3), default=2, help="3 adds tiny models")

    sub = command(
        "repair",
        "Fix what doctor found, from the validated wheelhouse only (hashes required): "
        "uninstall, then install the exact locked build; journalled, re-checked, and rolled "
        "back to exactly what was there if anything fails. Never replaces a protected build.",
        _repair,
        writes,
    )
    sub.add_argument("profile")
    sub.add_argument("--python", type=Path, default=Path(sys.executable), metavar="PATH")
    sub.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")

    command(
        "detect",
        "Find this machine's GPUs (nvidia-smi; amd-smi or rocm-smi), their architecture and "
        "driver, and name the profile that fits, with the reason; no GPU picks the CPU one.",
        _detect,
        listed,
    )

    command(
        "matrix",
        "Print the GitHub Actions matrix of every profile as one line of JSON "
        "(for `strategy.matrix: ${{ fromJSON(...) }}`).",
        _matrix,
    )

    sub = command(
        "constraints",
        "Print a pip constraints file that keeps the profile's protected builds: "
        "`pip install -c FILE -e .` then refuses to replace them.",
        _constraints,
    )
    sub.add_argument("profile")

    sub = command(
        "wheelhouse",
        "Fill wheelhouse/PROFILE/ with the profile's wheels for its target; "
        "validate and heal what is there.",
        _wheelhouse,
        listed,
        writes,
    )
    _profiles_args(sub)

    sub = command(
        "base",
        "Make the local stand-in base image (Debian + Python, via debootstrap) "
        "for profiles whose base image cannot be pulled.",
        _base,
    )
    sub.add_argument(
        "profile", nargs="?", default="cpu", help="whose base.local suite (default: cpu)"
    )
    sub.add_argument("--rebuild", action="store_true", help="make it again even if present")

    sub = command(
        "build",
        "Render, fill the wheelhouse, build the image with BuildKit, "
        "then run the smoke tiers in a container from it.",
        _build,
        judged,
        gpu,
        writes,
    )
    sub.add_argument("profile")
    sub.add_argument("--tag", help="image reference (default: imagegate/PROFILE:latest)")
    sub.add_argument(
        "--base-image",
        metavar="REF",
        help="build FROM this local image instead of the profile's base.image",
    )

    in_image = argparse.ArgumentParser(add_help=False)
    in_image.add_argument(
        "--python",
        metavar="PATH",
        help="the stack's interpreter in the image, e.g. /workspace/venv/bin/python (default: "
        f"the one the image's {contract.PYTHON_LABEL} label names, else the one Python on its "
        f"PATH or in {contract.VENV}, /workspace/venv, /opt/conda, /usr/local/bin, /usr/bin "
        "that holds the profile's protected packages)",
    )
    sub = command(
        "gate",
        "The pre-deploy gate: check, build (or take --image, built elsewhere), verify, and push "
        "REF only if everything passed; the pushed image is labelled with the profile, the "
        "lock's digest and the result.",
        _gate,
        judged,
        gpu,
        writes,
        in_image,
    )
    sub.add_argument("profile")
    sub.add_argument("--push", required=True, metavar="REF", help="where to push on a pass")
    sub.add_argument(
        "--sbom",
        type=Path,
        metavar="FILE",
        help="where to write the CycloneDX SBOM of the pushed image, whose digest it is "
        "labelled with (default: .imagegate/sbom/PROFILE.cdx.json)",
    )
    source = sub.add_mutually_exclusive_group()
    source.add_argument("--base-image", metavar="REF", help="as for build")
    source.add_argument(
        "--image", metavar="REF", help="gate this image, built elsewhere: every tier, no build"
    )
    sub.add_argument(
        "--tag", help="the image reference to build as (default: imagegate/PROFILE:latest)"
    )

    sub = command(
        "verify",
        "Run the smoke tiers (1-2, then 3: tiny models; 4: a RunPod worker's own tests when "
        "the project has them) against an existing image, built here or elsewhere, "
        "networking off.",
        _verify,
        judged,
        gpu,
        in_image,
    )
    sub.add_argument("profile")
    sub.add_argument("--image", metavar="REF", help="default: imagegate/PROFILE:latest")
    sub.add_argument(
        "--sbom",
        type=Path,
        metavar="FILE",
        help="also write a CycloneDX JSON SBOM of the Python distributions found in the image, "
        "each with the lock's sha256 where the lock holds that exact version",
    )
    return parser


def _profiles_args(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("names", nargs="*", metavar="PROFILE")
    sub.add_argument("--all", action="store_true", help="every profile in the profiles directory")


def _selected_names(args: argparse.Namespace) -> list[str]:
    if args.all == bool(args.names):
        raise UsageError("name one or more profiles, or pass --all (not both)")
    return profile_names(args.profiles) if args.all else list(args.names)


def _selected(args: argparse.Namespace) -> list[Profile]:
    return load_profiles(_selected_names(args), args.profiles)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    progress.configure(verbose=args.verbose, quiet=args.quiet)
    interrupts.install()
    try:
        return int(args.handler(args))
    except ImagegateError as error:
        _show(error, args)
        return int(error.exit_code)
    except KeyboardInterrupt as error:
        if args.debug:
            traceback.print_exception(error)
        stopped = error if isinstance(error, interrupts.Interrupted) else None
        kept = stopped.unchanged if stopped else []
        said = f"; left as they were: {', '.join(kept)}" if kept else ""
        print(f"imagegate: interrupted by {stopped or 'SIGINT'}{said}", file=sys.stderr)
        return stopped.exit_code if stopped else 130
    except BrokenPipeError:  # output piped into `head`: the reader has what it wanted
        sys.stderr.close()
        return int(ExitCode.PASSED)


def _show(error: ImagegateError, args: argparse.Namespace) -> None:
    """An error as the user sees it: one line (after its traceback under --debug)."""
    if args.debug:
        traceback.print_exception(error)
    print(f"imagegate: error: {error}", file=sys.stderr)


def _project(args: argparse.Namespace) -> Project:
    return Project.from_profiles(args.profiles)


def _holding(args: argparse.Namespace, profile: Profile) -> AbstractContextManager[None]:
    """The profile's run lock: one run at a time writes its lock, wheelhouse, files, image."""
    project = _project(args)
    what = f"the run lock of profile {profile.name} ({project.run_lock(profile.name)})"
    return exclusive.hold(project.run_lock(profile.name), what, wait=args.wait)


def _doctor(args: argparse.Namespace) -> ExitCode:
    profile = _profile(args.profile, args.profiles)
    _interpreter(args.python)
    found = doctor.diagnose(profile, _project(args), args.python, tier3=args.tier == 3)
    _print(args, f"{profile.name} (doctor: {args.python})", found, {"python": str(args.python)})
    return ExitCode.PASSED if passed(found) else ExitCode.VERIFICATION_FAILED


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


def _detect(args: argparse.Namespace) -> ExitCode:
    choice = _choose(args.profiles)
    if args.format == "json":
        print(json.dumps(choice.to_dict(), indent=2))
    else:
        for gpu in choice.gpus:
            print(f"gpu: {gpu.describe()}, driver {gpu.driver or 'unknown'}")
        print(f"profile: {choice.profile or 'none fits'} ({choice.reason})")
        for name, why in choice.rejected:
            print(f"  not {name}: {why}")
    return ExitCode.PASSED if choice.profile else ExitCode.ENVIRONMENT


def _matrix(args: argparse.Namespace) -> ExitCode:
    """The matrix of every profile that loads; each one that doesn't is named (exit 2)."""
    loaded = load_each(profile_names(args.profiles), args.profiles).values()
    broken = [error for error in loaded if isinstance(error, ProfileError)]
    for error in broken:
        _show(error, args)
    print(json.dumps(matrix.matrix([p for p in loaded if isinstance(p, Profile)])))
    return ExitCode.BAD_INPUT if broken else ExitCode.PASSED


def _constraints(args: argparse.Namespace) -> ExitCode:
    sys.stdout.write(lock.constraints(load_profile(args.profile, args.profiles)))
    return ExitCode.PASSED


def _base(args: argparse.Namespace) -> ExitCode:
    from imagegate import base
    from imagegate.engine import Engine

    suite = base.require_local(load_profile(args.profile, args.profiles))
    print(base.make(suite, Engine(), rebuild=args.rebuild))
    return ExitCode.PASSED


def _build(args: argparse.Namespace) -> ExitCode:
    profile = _profile(args.profile, args.profiles)
    from imagegate import building  # Docker's SDK loads only for the commands that need it
    from imagegate.engine import Engine

    with _holding(args, profile):
        built = building.build(
            profile,
            _project(args),
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
    _print(args, f"{profile.name} ({built.image})", built.findings, built.report_fields())
    return ExitCode.PASSED if built.passed else ExitCode.VERIFICATION_FAILED


def _gate(args: argparse.Namespace) -> ExitCode:
    profile = _profile(args.profile, args.profiles)
    from imagegate import shipping
    from imagegate.engine import Engine

    if args.python is not None and args.image is None:
        raise UsageError(
            "gate: --python names the interpreter of an image built elsewhere; pass --image REF "
            "too (an image gate builds names its own)"
        )
    if args.tag is not None and args.image is not None:
        raise UsageError("gate: --tag names the image gate builds; with --image nothing is built")
    with _holding(args, profile):
        gated = shipping.gate(
            profile,
            _project(args),
            Engine(),
            push=args.push,
            bom_file=args.sbom or _project(args).sbom(profile.name),
            image=args.image,
            tag=args.tag,
            python=args.python,
            base_image=args.base_image,
            require_gpu=args.require_gpu,
            fresh=args.fresh,
            worker_tests=_worker_tests(args, default=args.image is not None),
        )
    outcome = f"pushed {gated.ref} ({gated.digest})" if gated.pushed else "pushed nothing"
    print(f"imagegate: gate {profile.name}: {outcome}: {gated.reason}", file=sys.stderr)
    _print(args, f"{profile.name} gate ({gated.ref})", gated.findings, gated.report_fields())
    return ExitCode.PASSED if gated.pushed else ExitCode.VERIFICATION_FAILED


def _verify(args: argparse.Namespace) -> ExitCode:
    profile = _profile(args.profile, args.profiles)
    from imagegate import workflow
    from imagegate.engine import Engine

    image = args.image or workflow.default_tag(profile)
    locked = lock.on_disk(profile)
    verified = workflow.verify_image(
        profile,
        _project(args),
        Engine(),
        image,
        lock=locked,
        python=args.python,
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
    _print(args, f"{profile.name} ({image})", verified.findings, extra)
    if unwritten is not None:
        raise unwritten
    return ExitCode.PASSED if passed(verified.findings) else ExitCode.VERIFICATION_FAILED


def _worker_tests(args: argparse.Namespace, *, default: bool) -> worker.WorkerTests | None:
    """--worker-tests, else (with `default`) the project's .runpod/tests.json if it has one.

    The default serves the commands given the worker image (verify, gate --image): what
    `build` makes is the stack a worker is built FROM, whose command is no handler."""
    if args.worker_tests is None and not default:
        return None
    return worker.find(_project(args).root, args.worker_tests)


def _print(
    args: argparse.Namespace, subject: str, findings: Sequence[Finding], extra: dict[str, object]
) -> None:
    """The report in the format asked for, to stdout or --output, before the step summary.

    A report that can't be written to --output is printed instead (then exit 2); a step
    summary that can't be appended is a warning: either way the report is not lost.
    """
    text = report.render(subject, findings, args.format, **extra)
    unwritten: UsageError | None = None
    if args.output is not None:
        try:
            report.write(args.output, text + "\n")
        except UsageError as error:
            unwritten = error
    if args.output is None or unwritten is not None:
        print(text, flush=True)
    else:
        print(f"{report.summary(subject, findings)}; report written to {args.output}", flush=True)
    try:
        report.append_step_summary(report.markdown(subject, findings, **extra))
    except EnvironmentProblem as problem:
        print(f"imagegate: warning: {problem}", file=sys.stderr)
    if unwritten is not None:
        raise unwritten


def _render(args: argparse.Namespace) -> ExitCode:
    project = _project(args)
    results = []
    for profile in _selected(args):
        if args.check:
            results.append(render.write(profile, project, lock.on_disk(profile), check_only=True))
            continue
        with _holding(args, profile):
            results.append(render.write(profile, project, lock.on_disk(profile)))
    if args.format == "json":
        rows = [
            {
                "profile": r.profile,
                "path": str(r.path),
                "changed": r.changed,
                "stale_lock": r.stale_lock,
            }
            for r in results
        ]
        print(json.dumps({"check": args.check, "dockerfiles": rows}, indent=2))
    for result in results:
        if result.stale_lock is not None:
            state = f"STALE lock ({result.stale_lock}): run `imagegate lock {result.profile}`"
        elif args.check:
            state = f"STALE: run `imagegate render {result.profile}`" if result.changed else "fresh"
        else:
            state = "written" if result.changed else "unchanged"
        if args.format == "table":
            print(f"{project.relative(result.path)}: {state}")
    if args.check and any(r.changed or r.stale_lock for r in results):
        return ExitCode.VERIFICATION_FAILED
    return ExitCode.PASSED


def _check(args: argparse.Namespace) -> ExitCode:
    """One report over every profile asked for; each finding's subject names its profile.

    A profile that can't be loaded is named on stderr and is a BROKEN finding; the others
    are still checked, and the exit code is at least 2.
    """
    project = _project(args)
    everything: list[Finding] = []
    worst = ExitCode.PASSED
    unresolved: list[str] = []
    for name, loaded in load_each(_selected_names(args), args.profiles).items():
        if isinstance(loaded, ProfileError):
            _show(loaded, args)
            everything.append(_unloadable(name, loaded))
            worst = ExitCode.BAD_INPUT
            continue
        deep = preflight.Checked(findings=[], lock=None)
        if args.deep:
            with _holding(args, loaded):
                deep = preflight.deep(loaded, project)  # locks and fills first when stale
        try:
            found = preflight.examine(loaded, deep.lock).findings + deep.findings
        except preflight.Unresolved as error:  # report what was judged, then exit 3
            found, unresolved = error.findings, [*unresolved, str(error)]
        everything += [replace(f, subject=f"{loaded.name}: {f.subject}") for f in found]
    subject = f"preflight{' --deep' if args.deep else ''}"
    problem = "; ".join(unresolved)
    _print(args, subject, everything, {"environment_problem": problem} if problem else {})
    if problem:
        raise EnvironmentProblem(problem)
    return max(worst, ExitCode.PASSED if passed(everything) else ExitCode.VERIFICATION_FAILED)


def _propose(args: argparse.Namespace) -> ExitCode:
    from imagegate import propose

    profile = load_profile(args.profile, args.profiles)
    proposal = propose.propose(profile, _project(args), args.packages, tier3=args.tier == 3)
    if args.write:
        with _holding(args, profile):
            proposal = replace(proposal, written=propose.write(profile, proposal))
    rows = [candidate.row() for candidate in proposal.candidates]
    proven = sum(candidate.proven for candidate in proposal.candidates)
    title = (
        f"propose {profile.name}: {proven} of {len(rows)} candidates proven "
        f"({proposal.venvs} venvs, {proposal.seconds:.0f} s)"
    )
    notes = [f"written: {line}" for line in proposal.written]
    if args.format == "json":
        print(json.dumps(proposal.to_dict(), indent=2))
    else:
        print(report.grid(title, rows, args.format, notes))
    return ExitCode.PASSED if proven or not rows else ExitCode.VERIFICATION_FAILED


def _bisect(args: argparse.Namespace) -> ExitCode:
    from imagegate import bisect

    profile = load_profile(args.profile, args.profiles)
    good, bad = bisect.read_lock(args.good, profile), bisect.read_lock(args.bad, profile)
    found = bisect.bisect(profile, _project(args), good, bad, tier3=args.tier == 3)
    if args.format == "json":
        print(json.dumps(found.to_dict(), indent=2))
        return ExitCode.PASSED
    rows = [
        {
            "round": str(number),
            "changes applied": ", ".join(r.changes) or "none",
            "outcome": r.outcome,
            "evidence": r.evidence.partition("; ")[0],
        }
        for number, r in enumerate(found.rounds, 1)
    ]
    last = "the good lock" if found.last_good is None else ", ".join(found.last_good) or "none"
    notes = [
        f"changes ({len(found.changes)}): {'; '.join(map(str, found.changes))}",
        f"culprit{'s' if len(found.culprits) > 1 else ''}: {' + '.join(found.culprits)}"
        + (" (mixes between them could not be installed)" if found.unsplit else ""),
        f"evidence: {found.evidence}",
        f"last good mix: {last}",
    ]
    skipped = len(found.rounds) - found.venvs
    title = (
        f"bisect {profile.name}: {found.venvs} rounds (venvs), {skipped} mixes skipped, "
        f"{found.seconds:.0f} s"
    )
    print(report.grid(title, rows, args.format, notes))
    return ExitCode.PASSED


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


def _choose(directory: Path) -> hardware.Choice:
    profiles = load_profiles(profile_names(directory), directory)
    return hardware.choose(profiles, hardware.detect())


def _profile(name: str, directory: Path) -> Profile:
    """A profile by name; `auto` is the one `imagegate detect` picks for this machine."""
    if name != AUTO:
        return load_profile(name, directory)
    choice = _choose(directory)
    if choice.profile is None:
        raise EnvironmentProblem(f"--profile auto: no profile fits this machine: {choice.reason}")
    progress.note(f"==> auto: {choice.profile} ({choice.reason})")
    return load_profile(choice.profile, directory)


def _repair(args: argparse.Namespace) -> ExitCode:
    profile = _profile(args.profile, args.profiles)
    _interpreter(args.python)
    with _holding(args, profile):
        done = repair.repair(
            profile,
            _project(args),
            lock.read_fresh(profile),
            args.python,
            dry_run=args.dry_run,
            wait=args.wait,
        )
    if done.interrupted is not None:
        print(
            f"would roll back  an interrupted repair ({done.interrupted.folder}): restore "
            f"{', '.join(done.interrupted.restores())}; then plan the repair again"
        )
        return ExitCode.PASSED
    for target in done.plan.targets:
        print(
            f"{'would repair' if args.dry_run else 'repair'}  {target.name}=={target.version}: "
            f"{done.plan.reasons[target.name]}"
        )
    if not done.plan.targets:
        print(f"repair {profile.name}: nothing to repair in {args.python}")
    if done.rolled_back is not None:
        print(
            f"imagegate: repair {profile.name}: {done.rolled_back}; "
            "the environment was restored exactly as it was",
            file=sys.stderr,
        )
        return ExitCode.VERIFICATION_FAILED
    if done.changed:
        print(f"repair {profile.name}: done; the doctor passes")
    return (
        ExitCode.PASSED if args.dry_run or passed(done.findings) else ExitCode.VERIFICATION_FAILED
    )


def _lock(args: argparse.Namespace) -> ExitCode:
    """Lock each profile; one that can't be locked is reported and the others still are."""
    rows: list[dict[str, object]] = []
    worst = ExitCode.PASSED
    for profile in _selected(args):
        try:
            with _holding(args, profile), progress.step("lock", profile.name):
                locked = transaction.commit(lock.relock(profile, upgrade=args.upgrade))
        except ImagegateError as error:
            _show(error, args)
            rows.append({"profile": profile.name, "error": str(error)})
            worst = max(worst, error.exit_code)
            continue
        protected = sum(p.protected for p in locked.packages.values())
        rows.append(
            {
                "profile": profile.name,
                "lock": str(locked.path),
                "packages": len(locked.packages),
                "protected": protected,
                "sha256": locked.sha256,
            }
        )
        if args.format == "table":
            print(f"{locked.path}: {len(locked.packages)} packages ({protected} protected)")
    if args.format == "json":
        print(json.dumps(rows, indent=2))
    return worst


def _wheelhouse(args: argparse.Namespace) -> ExitCode:
    project = _project(args)
    outcomes = []
    for profile in _selected(args):
        directory = project.wheelhouse_dir(profile.name)
        with (
            _holding(args, profile),
            progress.step("wheelhouse", profile.name),
            interrupts.keeping(lock.lock_path(profile)),
        ):
            with interrupts.keeping(directory):
                locked = lock.prepare(profile)
            outcome = wheelhouse.fill(profile, locked, directory)
        outcomes.append(outcome)
        if args.format == "table":
            for change in outcome.removed:
                print(f"replaced  {change.group}/{change.filename}: {change.reason}")
            for change in outcome.dropped:
                print(f"dropped   {change.group}/{change.filename}: {change.reason}")
            for change in outcome.fetched:
                print(f"fetched   {change.group}/{change.filename}")
            for change in outcome.kept:
                print(f"kept      {change.group}/{change.filename}")
            print(outcome.summary)
    if args.format == "json":
        print(json.dumps([outcome.to_dict() for outcome in outcomes], indent=2))
    return ExitCode.PASSED
