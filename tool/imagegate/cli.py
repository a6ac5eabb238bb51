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
from pathlib import Path
from typing import Any, NoReturn

from imagegate import (
    __version__,
    commands,
    interrupts,
    listings,
    options,
    progress,
    report,
    report_outputs,
)
from imagegate.errors import EnvironmentProblem, ExitCode, ImagegateError, UsageError
from imagegate.profiles import profile_names

Handler = Callable[[argparse.Namespace], report.Result]
EPILOG = "exit codes: 0 passed, 1 verification failed, 2 bad input, 3 environment problem"
EXAMPLES = {
    "init": "imagegate init my-stack --from cpu --name app",
    "render": "imagegate render --all --check",
    "lock": "imagegate lock cpu",
    "check": "imagegate check --all --deep",
    "propose": "imagegate propose cpu transformers --tier 3",
    "bisect": "imagegate bisect cpu --good HEAD~1 --bad profiles/pylock.cpu.toml",
    "doctor": "imagegate doctor cpu --python /workspace/venv/bin/python",
    "repair": "imagegate repair cpu --python /workspace/venv/bin/python --dry-run",
    "detect": "imagegate detect --format json",
    "matrix": "imagegate matrix",
    "schema": "imagegate schema > profiles/profile.schema.json",
    "constraints": "imagegate constraints cpu > constraints.txt",
    "wheelhouse": "imagegate wheelhouse cpu",
    "base": "imagegate base cpu",
    "build": "imagegate build cpu --tag me/stack:dev",
    "gate": "imagegate gate cpu --push 127.0.0.1:5000/me/stack:1.0 --output gate.xml",
    "verify": "imagegate -v verify cpu --image me/stack:dev",
}
"""Each command's help ends with one (the top level's with `imagegate -q build cpu`)."""

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
        "pin, invariants, known issues), then its closure in a trial venv (tiers 1-2). "
        "No Docker.",
    ),
    "bisect": (
        listings.bisect,
        "The smallest set of package changes between a good and a bad lock that breaks "
        "tiers 1-2, by installing mixed closures in trial venvs (about log2(N) rounds). "
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
    """argparse, with its errors as one line (exit 2) like every other error; the top-level
    parser settles the options that may come before the command or after it."""

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        parsed, rest = super().parse_known_args(args, namespace)
        if self.prog == "imagegate" and (problem := _settle(parsed)) is not None:
            self.error(problem)
        return parsed, rest

    def error(self, message: str) -> NoReturn:
        moved = ""
        if message.startswith("unrecognized arguments") and "--python" in message:
            moved = " (the interpreter inside an image is --image-python)"
        command = self.prog.partition(" ")[2]
        where = f"{command}: " if command else ""
        print(f"imagegate: error: {where}{message}{moved}", file=sys.stderr)
        raise SystemExit(int(ExitCode.BAD_INPUT))


class _Formatter(argparse.HelpFormatter):
    """Paragraphs wrapped as argparse does; an indented line (an example) kept as written."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        return "\n".join(
            indent + line
            if line.startswith("  ")
            else super(_Formatter, self)._fill_text(line, width, indent)
            for line in text.splitlines()
        )


def _epilog(example: str) -> str:
    return f"{EPILOG}\n\nexample:\n  {example}"


def build_parser(known: Sequence[str] = ()) -> argparse.ArgumentParser:
    """The parser; the profile argument's help lists `known` (the profiles folder's)."""
    common: dict[str, Any] = {"formatter_class": _Formatter}
    parser = Parser(
        prog="imagegate",
        description="Prove a GPU Python image works before it ships: "
        "profiles -> wheelhouse -> Dockerfile -> image -> verified.",
        epilog=_epilog("imagegate -q build cpu --tag me/stack:dev"),
        **common,
    )
    parser.add_argument("--version", action="version", version=f"imagegate {__version__}")
    options.add_global(parser)
    subparsers = parser.add_subparsers(
        dest="command",
        required=True,
        metavar="COMMAND",
        help="what to do (`imagegate COMMAND --help` for its own flags and an example)",
    )
    for name, (handler, text) in COMMANDS.items():
        sub = subparsers.add_parser(
            name, help=text, description=text, epilog=_epilog(EXAMPLES[name]), **common
        )
        options.add(sub, name, known)
        sub.set_defaults(handler=handler)
    return parser


def _known(argv: Sequence[str] | None) -> list[str]:
    """The profiles of the folder --profiles names (default ./profiles), for the help."""
    prescan = argparse.ArgumentParser(add_help=False)
    prescan.add_argument("--profiles", type=Path, default=Path("profiles"))
    try:
        return profile_names(prescan.parse_known_args(argv)[0].profiles)
    except (ImagegateError, OSError):
        return []


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser(_known(argv)).parse_args(argv)
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
    text = report.show(
        result, getattr(args, "format", "table"), verbose=args.verbose, width=progress.width()
    )
    output = getattr(args, "output", None)
    unwritten: UsageError | None = None
    if output is not None:
        try:
            report_outputs.write(output, text + "\n")
        except UsageError as error:
            unwritten = error
    if output is None or unwritten is not None:
        if text or result.findings is not None:
            print(text, flush=True)
    else:
        print(f"{result.summary}; report written to {output}", flush=True)
    if result.findings is not None:
        try:
            markdown = report.markdown(
                result.subject, result.findings, code=result.exit_code, **result.extra
            )
            report_outputs.append_step_summary(markdown)
        except EnvironmentProblem as problem:
            print(f"imagegate: warning: {problem}", file=sys.stderr)
    if unwritten is not None:
        raise unwritten
    if result.error is not None:
        raise result.error


def _settle(args: argparse.Namespace) -> str | None:
    """Each GLOBAL option's default where it was given on neither side; the problem (for a
    one-line error) when one was given before a command that does not take it."""
    for option in options.OPTIONS:
        if option.flags[-1] not in options.GLOBAL:
            continue
        dest = option.flags[-1].lstrip("-").replace("-", "_")
        if args.command not in option.commands:
            if hasattr(args, dest):
                return f"{args.command} takes no {option.flags[-1]}"
        elif not hasattr(args, dest):
            off = False if option.settings.get("action") == "store_true" else None
            setattr(args, dest, option.settings.get("default", off))
    if getattr(args, "verbose", False) and getattr(args, "quiet", False):
        return "-v/--verbose and -q/--quiet exclude each other"
    return None
