"""The command line: parse, call one handler, render its result, map it to an exit code.

Exit codes: 0 passed, 1 verification failed, 2 bad input, 3 environment problem.
The options are declared in `options`; the handlers live in `commands` (those that judge)
and `listings` (those that make or list things); `report.show` renders every result.
"""

from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Callable, Sequence
from typing import NoReturn

from imagegate import __version__, commands, interrupts, listings, options, progress, report
from imagegate.errors import EnvironmentProblem, ExitCode, ImagegateError, UsageError

Handler = Callable[[argparse.Namespace], report.Result]
EPILOG = "exit codes: 0 passed, 1 verification failed, 2 bad input, 3 environment problem"

COMMANDS: dict[str, tuple[Handler, str]] = {
    "init": (
        listings.init,
        "Start a project in FOLDER: profiles/NAME.yaml extending a shipped profile, a GitHub "
        "workflow and a pre-commit config; writes over no file.",
    ),
    "render": (listings.render_, "Write dockerfiles/PROFILE.Dockerfile from each profile."),
    "lock": (
        listings.lock_,
        "Resolve each profile's whole closure for its target with uv and write "
        "profiles/pylock.PROFILE.toml (PEP 751), every wheel pinned and hashed. Versions "
        "the current lock holds are kept wherever they still fit.",
    ),
    "check": (
        commands.check,
        "Preflight, no Docker, in seconds: the profile is valid, its lock fresh, its pins "
        "resolve together for the target, every locked wheel fits, pins, invariants and "
        "known issues hold over the whole closure.",
    ),
    "propose": (
        listings.propose,
        "Newer releases of the profile's pins (the newest, and the newest patch of the current "
        "minor), each proven before it is proposed: static first (resolves with every other "
        "pin, invariants, known issues), then its closure in a throwaway venv (tiers 1-2). "
        "No Docker.",
    ),
    "bisect": (
        listings.bisect,
        "The smallest set of package changes between a good and a bad lock that breaks "
        "tiers 1-2, by installing mixed closures in throwaway venvs (about log2(N) rounds). "
        "No Docker.",
    ),
    "doctor": (
        commands.doctor_,
        "Check a live Python environment against the profile with the same scripts and judge "
        "as verify, and say which of profile, lock, wheelhouse and environment is wrong.",
    ),
    "repair": (
        commands.repair_,
        "Fix what doctor found, from the validated wheelhouse only (hashes required): "
        "uninstall, then install the exact locked build; journalled, re-checked, and rolled "
        "back to exactly what was there if anything fails. Never replaces a protected build.",
    ),
    "detect": (
        listings.detect,
        "Find this machine's GPUs (nvidia-smi; amd-smi or rocm-smi), their architecture and "
        "driver, and name the profile that fits, with the reason; no GPU picks the CPU one.",
    ),
    "matrix": (
        listings.matrix_,
        "Print the GitHub Actions matrix of every profile as one line of JSON "
        "(for `strategy.matrix: ${{ fromJSON(...) }}`).",
    ),
    "schema": (
        listings.schema,
        "Print the JSON Schema (draft 2020-12) of a profile file, made from the table the "
        "loader checks profiles with, for editors and other validators.",
    ),
    "constraints": (
        listings.constraints,
        "Print a pip constraints file that keeps the profile's protected builds: "
        "`pip install -c FILE -e .` then refuses to replace them.",
    ),
    "wheelhouse": (
        listings.wheelhouse_,
        "Fill wheelhouse/PROFILE/ with the profile's wheels for its target; "
        "validate and heal what is there.",
    ),
    "base": (
        listings.base,
        "Make the local stand-in base image (Debian + Python, via debootstrap) "
        "for profiles whose base image cannot be pulled.",
    ),
    "build": (
        commands.build,
        "Render, fill the wheelhouse, build the image with BuildKit, "
        "then run the smoke tiers in a container from it.",
    ),
    "gate": (
        commands.gate,
        "The pre-deploy gate: check, build (or take --image, built elsewhere), verify, and push "
        "REF only if everything passed; the pushed image is labelled with the profile, the "
        "lock's digest and the result.",
    ),
    "verify": (
        commands.verify,
        "Run the smoke tiers (1-2, then 3: tiny models; 4: a RunPod worker's own tests when "
        "the project has them) against an existing image, built here or elsewhere, "
        "networking off.",
    ),
}


class Parser(argparse.ArgumentParser):
    """argparse, with its errors as one line (exit 2) like every other error."""

    def error(self, message: str) -> NoReturn:
        moved = ""
        if message.startswith("unrecognized arguments") and "--python" in message:
            moved = " (the interpreter inside an image is --image-python)"
        command = self.prog.partition(" ")[2]
        where = f"{command}: " if command else ""
        print(f"imagegate: error: {where}{message}{moved}", file=sys.stderr)
        raise SystemExit(int(ExitCode.BAD_INPUT))


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="imagegate",
        description="Prove a GPU Python image works before it ships: "
        "profiles -> wheelhouse -> Dockerfile -> image -> verified.",
        epilog=EPILOG,
    )
    parser.add_argument("--version", action="version", version=f"imagegate {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (handler, text) in COMMANDS.items():
        sub = subparsers.add_parser(name, help=text, description=text, epilog=EPILOG)
        options.add(sub, name)
        sub.set_defaults(handler=handler)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    progress.configure(verbose=args.verbose, quiet=args.quiet)
    interrupts.install()
    try:
        if getattr(args, "format", "table") == "junit" and args.command not in options.FINDINGS:
            raise UsageError(report.unrenderable(args.command, "junit"))
        result = args.handler(args)
        _emit(args, result)
        return int(result.code)
    except ImagegateError as error:
        commands.show_error(error, args)
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


def _emit(args: argparse.Namespace, result: report.Result) -> None:
    """The result in the format asked for, to stdout or --output, then a judgement's step
    summary; then the error the result carries, if any.

    A report that can't be written to --output is printed instead (then exit 2); a step
    summary that can't be appended is a warning: either way the report is not lost.
    """
    text = report.show(result, getattr(args, "format", "table"))
    output = getattr(args, "output", None)
    unwritten: UsageError | None = None
    if output is not None:
        try:
            report.write(output, text + "\n")
        except UsageError as error:
            unwritten = error
    if output is None or unwritten is not None:
        if text or result.findings is not None:
            print(text, flush=True)
    else:
        print(f"{result.summary}; report written to {output}", flush=True)
    if result.findings is not None:
        try:
            markdown = report.markdown(result.subject, result.findings, **result.extra)
            report.append_step_summary(markdown)
        except EnvironmentProblem as problem:
            print(f"imagegate: warning: {problem}", file=sys.stderr)
    if unwritten is not None:
        raise unwritten
    if result.error is not None:
        raise result.error
