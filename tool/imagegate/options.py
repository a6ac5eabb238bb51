"""Every command-line option, declared once: its flags, help, type, default and the commands
that take it. A flag means the same on every command that has it (the README's flag table
lists them, and a unit test holds it to the parsers).

The GLOBAL options are taken before the command as well as after it (`imagegate -q build
cpu`), each by the commands that take it after.

`--python` is always an interpreter on this machine (doctor, repair); `--image-python` is
always one inside the image (verify, gate). `--format` has one choice set everywhere; a
command with no findings refuses `junit` (exit 2) before it runs.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from imagegate import contract, exclusive, references, report, scaffold, worker_tests
from imagegate.shipped import shipped_names

AUTO = "auto"
"""In place of a profile name: the profile `imagegate detect` picks for this machine."""

EVERY = (
    "init",
    "render",
    "lock",
    "check",
    "propose",
    "bisect",
    "doctor",
    "repair",
    "detect",
    "matrix",
    "schema",
    "constraints",
    "wheelhouse",
    "base",
    "build",
    "gate",
    "verify",
)
IN_PROJECT = EVERY[1:]
"""The commands that work on an existing project (its profiles folder): all but init."""
MANY = ("render", "lock", "check", "wheelhouse")
"""The commands that take several profiles (or --all)."""
ONE = ("propose", "bisect", "doctor", "repair", "constraints", "build", "gate", "verify")
"""The commands that take one profile."""
IMAGES = ("build", "gate", "verify")
RENDERED = (
    "render",
    "lock",
    "check",
    "propose",
    "bisect",
    "doctor",
    "detect",
    "wheelhouse",
    *IMAGES,
)
"""The commands whose result is rendered in a --format (and can go to --output)."""
FINDINGS = ("check", "doctor", "build", "gate", "verify")
"""The commands whose result is findings: every format, JUnit included."""
STATE = ("render", "lock", "check", "propose", "bisect", "repair", "wheelhouse", *IMAGES)
"""The commands that write the project's state: each takes the profile's run lock."""
TIERED = ("propose", "bisect", "doctor")
"""The commands that run tiers 1-2 on the host and add tier 3 on request."""
GLOBAL = ("--profiles", "--debug", "--verbose", "--quiet", "--format", "--output")
"""The options taken before the command too; either side, the same flag."""


def reference(text: str) -> str:
    """An image reference, checked as the arguments are parsed (exit 2, one line)."""
    if (why := references.problem(text)) is not None:
        raise argparse.ArgumentTypeError(why)
    return text


@dataclass(frozen=True)
class Option:
    flags: tuple[str, ...]
    commands: tuple[str, ...]
    settings: Mapping[str, Any] = field(default_factory=dict)
    group: str | None = None
    """Options of one group exclude each other on a command that takes more than one."""


PROFILE_HELP = f"a profile's name (or its file in the profiles folder), or {AUTO}: the one "
PROFILE_HELP += "`imagegate detect` picks for this machine"

OPTIONS: tuple[Option, ...] = (
    Option(("names",), MANY, {"nargs": "*", "metavar": "PROFILE", "help": PROFILE_HELP}),
    Option(("--all",), MANY, {"action": "store_true", "help": "every profile in the folder"}),
    Option(("profile",), ONE, {"help": PROFILE_HELP}),
    Option(
        ("profile",),
        ("base",),
        {"nargs": "?", "default": "cpu", "help": "whose base.local suite (default: cpu)"},
    ),
    Option(
        ("--profiles",),
        IN_PROJECT,
        {
            "type": Path,
            "default": Path("profiles"),
            "metavar": "DIR",
            "help": "the profiles directory; its parent is the project root (default: ./profiles)",
        },
    ),
    Option(
        ("folder",),
        ("init",),
        {
            "nargs": "?",
            "type": Path,
            "default": Path("."),
            "help": "where to start the project (made when missing; default: here)",
        },
    ),
    Option(
        ("--from",),
        ("init",),
        {
            "dest": "parent",
            "default": scaffold.DEFAULT_PARENT,
            "metavar": "PROFILE",
            "help": "the shipped profile the new one extends: "
            f"{', '.join(shipped_names())} (default: {scaffold.DEFAULT_PARENT})",
        },
    ),
    Option(
        ("--name",),
        ("init",),
        {
            "default": scaffold.DEFAULT_NAME,
            "help": f"the new profile's name (default: {scaffold.DEFAULT_NAME})",
        },
    ),
    Option(("--debug",), EVERY, {"action": "store_true", "help": "show an error's traceback"}),
    Option(
        ("-v", "--verbose"),
        EVERY,
        {
            "action": "store_true",
            "help": "also show the output of pip, uv, docker and debootstrap (each warning once)",
        },
        group="shown",
    ),
    Option(
        ("-q", "--quiet"),
        EVERY,
        {"action": "store_true", "help": "show only the result (and errors)"},
        group="shown",
    ),
    Option(
        ("--format",),
        RENDERED,
        {
            "choices": report.FORMATS,
            "default": "table",
            "help": "table for people; json (documented in the README); junit for CI test "
            "reporters (commands that judge: check, doctor, build, gate, verify); markdown "
            "(a judgement's is also appended to $GITHUB_STEP_SUMMARY when that is set)",
        },
    ),
    Option(
        ("--output",),
        RENDERED,
        {"type": Path, "metavar": "FILE", "help": "write the report here, not to stdout"},
    ),
    Option(
        ("--wait",),
        STATE,
        {
            "type": float,
            "default": exclusive.DEFAULT_WAIT,
            "metavar": "SECONDS",
            "help": "when another run holds the profile (or environment), wait this long for "
            f"it before giving up with exit 3 (default: {exclusive.DEFAULT_WAIT:g})",
        },
    ),
    Option(
        ("--tier",),
        TIERED,
        {"type": int, "choices": (2, 3), "default": 2, "help": "3 adds tiny models"},
    ),
    Option(
        ("--check",),
        ("render",),
        {
            "action": "store_true",
            "help": "write nothing; exit 1 when a committed Dockerfile differs from a fresh render",
        },
    ),
    Option(
        ("--upgrade",),
        ("lock",),
        {
            "action": "store_true",
            "help": "take the newest version of every package the pins allow, not the locked ones",
        },
    ),
    Option(
        ("--deep",),
        ("check",),
        {
            "action": "store_true",
            "help": "also install the lock into a trial venv from the wheelhouse and run "
            "tiers 1-2 there (when the host can run the target's wheels)",
        },
    ),
    Option(
        ("packages",),
        ("propose",),
        {"nargs": "*", "metavar": "PACKAGE", "help": "only these pins (protected ones too)"},
    ),
    Option(
        ("--write",),
        ("propose",),
        {
            "action": "store_true",
            "help": "put the newest proven version of each package in the file that writes its "
            "pin (comments and order kept) and lock again; on any failure nothing changes",
        },
    ),
    Option(
        ("--good",),
        ("bisect",),
        {"required": True, "metavar": "LOCK", "help": "a lock file, or a git revision"},
    ),
    Option(
        ("--bad",),
        ("bisect",),
        {"required": True, "metavar": "LOCK", "help": "a lock file, or a git revision"},
    ),
    Option(
        ("--python",),
        ("doctor", "repair"),
        {
            "type": Path,
            "default": Path(sys.executable),
            "metavar": "PATH",
            "help": "the interpreter of the environment on this machine, e.g. "
            "/workspace/venv/bin/python (default: the one running imagegate)",
        },
    ),
    Option(
        ("--dry-run",),
        ("repair",),
        {"action": "store_true", "help": "print the plan, change nothing"},
    ),
    Option(
        ("--rebuild",),
        ("base",),
        {"action": "store_true", "help": "make it again even if present"},
    ),
    Option(
        ("--worker-tests",),
        IMAGES,
        {
            "type": Path,
            "metavar": "FILE",
            "help": "a RunPod worker's tests (the Hub's tests.json) to run in the image as tier "
            "4, offline, with its own entrypoint and command (verify and gate --image default to "
            "the project's .runpod/tests.json when there is one)",
        },
    ),
    Option(
        ("--worker-mode",),
        IMAGES,
        {
            "choices": worker_tests.MODES,
            "default": worker_tests.MODES[0],
            "help": "how tier 4 sends each worker test: api, a /runsync job to the worker's "
            "local API (--rp_serve_api), as the RunPod Hub sends it; test-input, the SDK's "
            "one-job run (--test_input), a container per test (default: api)",
        },
    ),
    Option(
        ("--fresh",),
        IMAGES,
        {
            "action": "store_true",
            "help": "judge the image again even when a passing verdict on the same image, lock, "
            "profile and scripts is kept (and build even when the image's inputs are unchanged)",
        },
    ),
    Option(
        ("--require-gpu",),
        IMAGES,
        {
            "action": "store_true",
            "help": "fail tier 3's GPU steps instead of skipping them when no GPU is visible "
            "(for a gate on a GPU runner); GPUs are passed to the container when the host has "
            "them",
        },
    ),
    Option(
        ("--tag",),
        ("build", "gate"),
        {
            "type": reference,
            "metavar": "REF",
            "help": "the reference to build the image as (default: REPOSITORY/PROFILE:latest, "
            "REPOSITORY being $IMAGEGATE_REPOSITORY, else the profile's repository, else "
            "imagegate)",
        },
    ),
    Option(
        ("--base-image",),
        ("build", "gate"),
        {
            "type": reference,
            "metavar": "REF",
            "help": "build FROM this local image instead of the profile's base.image",
        },
        group="source",
    ),
    Option(
        ("--image",),
        ("gate", "verify"),
        {
            "type": reference,
            "metavar": "REF",
            "help": "judge this image, built elsewhere or here: every tier, no build "
            "(verify's default: the tag build gives, REPOSITORY/PROFILE:latest)",
        },
        group="source",
    ),
    Option(
        ("--image-python",),
        ("gate", "verify"),
        {
            "metavar": "PATH",
            "help": "the stack's interpreter inside the image, e.g. /workspace/venv/bin/python "
            f"(default: the one the image's {contract.PYTHON_LABEL} label names, else the one "
            f"Python on its PATH or in {contract.VENV}, /workspace/venv, /opt/conda, "
            "/usr/local/bin, /usr/bin that holds the profile's protected packages)",
        },
    ),
    Option(
        ("--push",),
        ("gate",),
        {"type": reference, "required": True, "metavar": "REF", "help": "where to push on a pass"},
    ),
    Option(
        ("--sbom",),
        ("gate", "verify"),
        {
            "type": Path,
            "metavar": "FILE",
            "help": "write a CycloneDX JSON SBOM of the Python distributions in the image, each "
            "with the lock's sha256 where the lock holds that exact version (gate: of the image "
            "it pushes, by default .imagegate/sbom/PROFILE.cdx.json)",
        },
    ),
)


def add(parser: argparse.ArgumentParser, command: str, known: Sequence[str] = ()) -> None:
    """Every option `command` takes, onto its parser; the profile's help lists `known`."""
    _add(parser, [option for option in OPTIONS if command in option.commands], known)


def add_global(parser: argparse.ArgumentParser) -> None:
    """The GLOBAL options, onto the parser before the command."""
    _add(parser, [option for option in OPTIONS if option.flags[-1] in GLOBAL])


def _add(
    parser: argparse.ArgumentParser, taken: Sequence[Option], known: Sequence[str] = ()
) -> None:
    groups: dict[str, argparse._MutuallyExclusiveGroup] = {}
    for option in taken:
        settings = dict(option.settings)
        if option.flags[-1] in GLOBAL:  # its default is set by `settle`, once both sides are read
            settings["default"] = argparse.SUPPRESS
        if settings.get("help") == PROFILE_HELP and known:
            settings["help"] = f"{PROFILE_HELP}; here: {', '.join(known)}"
        if option.group and sum(other.group == option.group for other in taken) > 1:
            if option.group not in groups:
                groups[option.group] = parser.add_mutually_exclusive_group()
            groups[option.group].add_argument(*option.flags, **settings)
        else:
            parser.add_argument(*option.flags, **settings)


def flags(command: str) -> list[str]:
    """The long flags `command` takes, as the README's flag table lists them."""
    return [
        option.flags[-1]
        for option in OPTIONS
        if command in option.commands and option.flags[0].startswith("-")
    ]
