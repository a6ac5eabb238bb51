"""The command line: parse, call one library function, map the outcome to an exit code.

Exit codes: 0 passed, 1 verification failed, 2 bad input, 3 environment problem.
"""

from __future__ import annotations

import argparse
import json
import sys
import traceback
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from imagegate import (
    __version__,
    doctor,
    hardware,
    lock,
    matrix,
    preflight,
    render,
    repair,
    report,
    wheelhouse,
)
from imagegate.errors import EnvironmentProblem, ExitCode, ImagegateError, UsageError
from imagegate.findings import Finding, passed
from imagegate.profiles import Profile, load_profile, load_profiles, profile_names
from imagegate.project import Project

AUTO = "auto"
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
    plain = argparse.ArgumentParser(add_help=False)
    plain.add_argument("--format", choices=("table", "json"), default="table")
    judged = argparse.ArgumentParser(add_help=False)
    judged.add_argument(
        "--format",
        choices=report.FORMATS,
        default="table",
        help="table for people; json (documented in the README); junit for CI test reporters; "
        "markdown (also appended to $GITHUB_STEP_SUMMARY when that is set, whatever the format)",
    )
    judged.add_argument("--output", type=Path, metavar="FILE", help="write the report here")
    gpu = argparse.ArgumentParser(add_help=False)
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
        name: str, text: str, *, findings: bool = False, image: bool = False
    ) -> argparse.ArgumentParser:
        parents = [common, judged if findings else plain, *([gpu] if image else [])]
        return commands.add_parser(
            name, parents=parents, help=text, description=text, epilog=EPILOG
        )

    sub = command("render", "Write dockerfiles/PROFILE.Dockerfile from each profile.")
    _profiles_args(sub)
    sub.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 when a committed Dockerfile differs from a fresh render",
    )

    sub = command(
        "lock",
        "Resolve each profile's whole closure for its target with uv and write "
        "profiles/pylock.PROFILE.toml (PEP 751), every wheel pinned and hashed.",
    )
    _profiles_args(sub)

    sub = command(
        "check",
        "Preflight, no Docker, in seconds: the profile is valid, its lock fresh, its pins "
        "resolve together for the target, every locked wheel fits, pins, invariants and "
        "known issues hold over the whole closure.",
        findings=True,
    )
    _profiles_args(sub)
    sub.add_argument(
        "--deep",
        action="store_true",
        help="also install the lock into a throwaway venv from the wheelhouse and run "
        "tiers 1-2 there (when the host can run the target's wheels)",
    )

    sub = command(
        "doctor",
        "Check a live Python environment against the profile with the same scripts and judge "
        "as verify, and say which of profile, lock, wheelhouse and environment is wrong.",
        findings=True,
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
    )
    sub.add_argument("profile")
    sub.add_argument("--python", type=Path, default=Path(sys.executable), metavar="PATH")
    sub.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")

    command(
        "detect",
        "Find this machine's GPUs (nvidia-smi; amd-smi or rocm-smi), their architecture and "
        "driver, and name the profile that fits, with the reason; no GPU picks the CPU one.",
    )

    command(
        "matrix",
        "Print the GitHub Actions matrix of every profile as one line of JSON "
        "(for `strategy.matrix: ${{ fromJSON(...) }}`).",
    )

    sub = command(
        "constraints",
        "Print a pip constraints file that keeps the profile's protected builds: "
        "`pip install -c FILE -e .` then refuses to replace them.",
    )
    sub.add_argument("profile")

    sub = command(
        "wheelhouse",
        "Fill wheelhouse/PROFILE/ with the profile's wheels for its target; "
        "validate and heal what is there.",
    )
    _profiles_args(sub)

    sub = command(
        "base",
        "Make the local stand-in base image (Debian + Python, via debootstrap) "
        "for profiles whose base image cannot be pulled.",
    )
    sub.add_argument(
        "profile", nargs="?", default="cpu", help="whose base.local suite (default: cpu)"
    )
    sub.add_argument("--rebuild", action="store_true", help="make it again even if present")

    sub = command(
        "build",
        "Render, fill the wheelhouse, build the image with BuildKit, "
        "then run the smoke tiers in a container from it.",
        findings=True,
        image=True,
    )
    sub.add_argument("profile")
    sub.add_argument("--tag", help="image reference (default: imagegate/PROFILE:latest)")
    sub.add_argument(
        "--base-image",
        metavar="REF",
        help="build FROM this local image instead of the profile's base.image",
    )

    sub = command(
        "gate",
        "The pre-deploy gate: check, build, verify, and push REF only if everything passed; "
        "the pushed image is labelled with the profile, the lock's digest and the result.",
        findings=True,
        image=True,
    )
    sub.add_argument("profile")
    sub.add_argument("--push", required=True, metavar="REF", help="where to push on a pass")
    sub.add_argument("--base-image", metavar="REF", help="as for build")

    sub = command(
        "verify",
        "Run the smoke tiers (1-2, then 3: tiny models) against an existing image, networking off.",
        findings=True,
        image=True,
    )
    sub.add_argument("profile")
    sub.add_argument("--image", metavar="REF", help="default: imagegate/PROFILE:latest")
    return parser


def _profiles_args(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("names", nargs="*", metavar="PROFILE")
    sub.add_argument("--all", action="store_true", help="every profile in the profiles directory")


def _selected(args: argparse.Namespace) -> list[Profile]:
    if args.all == bool(args.names):
        raise UsageError("name one or more profiles, or pass --all (not both)")
    names = profile_names(args.profiles) if args.all else args.names
    return load_profiles(names, args.profiles)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(_dispatch(args))
    except ImagegateError as error:
        if args.debug:
            traceback.print_exc()
        print(f"imagegate: error: {error}", file=sys.stderr)
        return int(error.exit_code)
    except KeyboardInterrupt:
        print("imagegate: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head`: the reader has what it wanted
        sys.stderr.close()
        return int(ExitCode.PASSED)


def _dispatch(args: argparse.Namespace) -> ExitCode:
    project = Project.from_profiles(args.profiles)
    if args.command == "render":
        return _render(args, project)
    if args.command == "doctor":
        profile = _profile(args.profile, args.profiles)
        if not args.python.is_file():
            raise UsageError(f"--python {args.python}: no such interpreter; pass a venv's python")
        found = doctor.diagnose(profile, project, args.python, tier3=args.tier == 3)
        _print(args, f"{profile.name} (doctor: {args.python})", found, {"python": str(args.python)})
        return ExitCode.PASSED if passed(found) else ExitCode.VERIFICATION_FAILED
    if args.command == "repair":
        return _repair(args, project)
    if args.command == "detect":
        choice = _detect(args.profiles)
        if args.format == "json":
            print(json.dumps(choice.to_dict(), indent=2))
        else:
            for gpu in choice.gpus:
                print(f"gpu: {gpu.describe()}, driver {gpu.driver or 'unknown'}")
            print(f"profile: {choice.profile or 'none fits'} ({choice.reason})")
            for name, why in choice.rejected:
                print(f"  not {name}: {why}")
        return ExitCode.PASSED if choice.profile else ExitCode.ENVIRONMENT
    if args.command == "matrix":
        profiles = load_profiles(profile_names(args.profiles), args.profiles)
        print(json.dumps(matrix.matrix(profiles)))
        return ExitCode.PASSED
    if args.command == "constraints":
        sys.stdout.write(lock.constraints(load_profile(args.profile, args.profiles)))
        return ExitCode.PASSED
    if args.command == "check":
        return _check(args, project)
    if args.command == "lock":
        return _lock(args)
    if args.command == "wheelhouse":
        return _wheelhouse(args, project)
    if args.command == "base":
        from imagegate import base
        from imagegate.engine import Engine

        suite = base.require_local(load_profile(args.profile, args.profiles))
        print(base.make(suite, Engine(), rebuild=args.rebuild))
        return ExitCode.PASSED
    profile = _profile(args.profile, args.profiles)
    from imagegate import workflow  # Docker's SDK loads only for the commands that need it
    from imagegate.engine import Engine

    if args.command == "build":
        built = workflow.build(
            profile,
            project,
            Engine(),
            tag=args.tag,
            base_image=args.base_image,
            require_gpu=args.require_gpu,
        )
        _print(args, f"{profile.name} ({built.image})", built.findings, built.report_fields())
        if not built.built:
            print(
                f"imagegate: the build of {profile.name} failed in its smoke step; "
                f"the unverified stack is {built.image}",
                file=sys.stderr,
            )
        return ExitCode.PASSED if built.passed else ExitCode.VERIFICATION_FAILED
    if args.command == "gate":
        gated = workflow.gate(
            profile,
            project,
            Engine(),
            push=args.push,
            base_image=args.base_image,
            require_gpu=args.require_gpu,
        )
        _print(args, f"{profile.name} gate ({gated.ref})", gated.findings, gated.report_fields())
        outcome = f"pushed {gated.ref} ({gated.digest})" if gated.pushed else "pushed nothing"
        print(f"imagegate: gate {profile.name}: {outcome}: {gated.reason}", file=sys.stderr)
        return ExitCode.PASSED if gated.pushed else ExitCode.VERIFICATION_FAILED
    image = args.image or workflow.default_tag(profile)
    findings = workflow.verify_image(profile, Engine(), image, require_gpu=args.require_gpu)
    _print(args, f"{profile.name} ({image})", findings, {"image": image})
    return ExitCode.PASSED if passed(findings) else ExitCode.VERIFICATION_FAILED


def _print(
    args: argparse.Namespace, subject: str, findings: Sequence[Finding], extra: dict[str, object]
) -> None:
    """The report in the format asked for, to --output or stdout; the step summary if set."""
    report.append_step_summary(report.markdown(subject, findings, **extra))
    text = report.render(subject, findings, args.format, **extra)
    if args.output is None:
        print(text)
        return
    report.write(args.output, text + "\n")
    print(f"{report.summary(subject, findings)}; report written to {args.output}")


def _render(args: argparse.Namespace, project: Project) -> ExitCode:
    results = [render.write(p, project, check_only=args.check) for p in _selected(args)]
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


def _check(args: argparse.Namespace, project: Project) -> ExitCode:
    """One report over every profile asked for; each finding's subject names its profile."""
    everything: list[Finding] = []
    unresolved: list[str] = []
    for profile in _selected(args):
        if args.deep:
            lock.ensure(profile)  # deep installs the lock: make it first if it is stale
        try:
            found = preflight.check(profile)
        except preflight.Unresolved as error:  # report what was judged, then exit 3
            found, unresolved = error.findings, [*unresolved, str(error)]
        else:
            if args.deep:
                found += preflight.deep(profile, project)
        everything += [replace(f, subject=f"{profile.name}: {f.subject}") for f in found]
    subject = f"preflight{' --deep' if args.deep else ''}"
    problem = "; ".join(unresolved)
    _print(args, subject, everything, {"environment_problem": problem} if problem else {})
    if problem:
        raise EnvironmentProblem(problem)
    return ExitCode.PASSED if passed(everything) else ExitCode.VERIFICATION_FAILED


def _detect(directory: Path) -> hardware.Choice:
    profiles = load_profiles(profile_names(directory), directory)
    return hardware.choose(profiles, hardware.detect())


def _profile(name: str, directory: Path) -> Profile:
    """A profile by name; `auto` is the one `imagegate detect` picks for this machine."""
    if name != AUTO:
        return load_profile(name, directory)
    choice = _detect(directory)
    if choice.profile is None:
        raise EnvironmentProblem(f"--profile auto: no profile fits this machine: {choice.reason}")
    print(f"==> auto: {choice.profile} ({choice.reason})", file=sys.stderr, flush=True)
    return load_profile(choice.profile, directory)


def _repair(args: argparse.Namespace, project: Project) -> ExitCode:
    profile = _profile(args.profile, args.profiles)
    if not args.python.is_file():
        raise UsageError(f"--python {args.python}: no such interpreter; pass a venv's python")
    done = repair.repair(
        profile, project, lock.read_fresh(profile), args.python, dry_run=args.dry_run
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
        print(f"==> lock: {profile.name}", file=sys.stderr, flush=True)
        try:
            locked = lock.lock(profile)
        except ImagegateError as error:
            print(f"imagegate: error: {error}", file=sys.stderr)
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


def _wheelhouse(args: argparse.Namespace, project: Project) -> ExitCode:
    outcomes = []
    for profile in _selected(args):
        print(f"==> wheelhouse: {profile.name}", file=sys.stderr, flush=True)
        outcome = wheelhouse.fill(profile, project.wheelhouse_dir(profile.name))
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
