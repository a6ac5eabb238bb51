"""The commands that make or list things: each calls the library and returns one Result
whose JSON document, lines or rows `report.show` renders."""

from __future__ import annotations

import argparse
import json
import shlex
from dataclasses import replace
from pathlib import Path

from imagegate import (
    interrupts,
    lock,
    matrix,
    profile_schema,
    progress,
    render,
    resolver,
    scaffold,
    transaction,
    wheelhouse,
)
from imagegate.commands import choose, holding, profile_of, project, selected, show_error
from imagegate.errors import ExitCode, ImagegateError, ProfileError
from imagegate.profiles import Profile, load_each, profile_names
from imagegate.report import Result


def render_(args: argparse.Namespace) -> Result:
    where = project(args)
    results = []
    for profile in selected(args):
        if args.check:
            results.append(render.write(profile, where, lock.on_disk(profile), check_only=True))
            continue
        with holding(args, profile):
            results.append(render.write(profile, where, lock.on_disk(profile)))
    lines = []
    for result in results:
        if result.stale_lock is not None:
            state = f"STALE lock ({result.stale_lock}): run `imagegate lock {result.profile}`"
        elif args.check:
            state = f"STALE: run `imagegate render {result.profile}`" if result.changed else "fresh"
        else:
            state = "written" if result.changed else "unchanged"
        lines.append(f"{where.relative(result.path)}: {state}")
    rows = [
        {
            "profile": r.profile,
            "path": str(r.path),
            "changed": r.changed,
            "stale_lock": r.stale_lock,
        }
        for r in results
    ]
    stale = args.check and any(r.changed or r.stale_lock for r in results)
    return Result(
        subject=f"render{' --check' if args.check else ''}",
        code=ExitCode.VERIFICATION_FAILED if stale else ExitCode.PASSED,
        document={"check": args.check, "dockerfiles": rows},
        lines=tuple(lines),
    )


def lock_(args: argparse.Namespace) -> Result:
    """Lock each profile; one that can't be locked is reported and the others still are."""
    rows: list[dict[str, object]] = []
    lines: list[str] = []
    worst = ExitCode.PASSED
    for profile in selected(args):
        try:
            with holding(args, profile), progress.step("lock", profile.name):
                locked = transaction.commit(resolver.relock(profile, upgrade=args.upgrade))
        except ImagegateError as error:
            show_error(error, args)
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
        lines.append(f"{locked.path}: {len(locked.packages)} packages ({protected} protected)")
    return Result(subject="lock", code=worst, document=rows, lines=tuple(lines))


def wheelhouse_(args: argparse.Namespace) -> Result:
    outcomes = []
    lines: list[str] = []
    for profile in selected(args):
        directory = project(args).wheelhouse_dir(profile.name)
        with (
            holding(args, profile),
            progress.step("wheelhouse", profile.name),
            interrupts.keeping(lock.lock_path(profile)),
        ):
            with interrupts.keeping(directory):
                locked = resolver.prepare(profile)
            outcome = wheelhouse.fill(profile, locked, directory)
        outcomes.append(outcome)
        lines += [f"replaced  {c.group}/{c.filename}: {c.reason}" for c in outcome.removed]
        lines += [f"dropped   {c.group}/{c.filename}: {c.reason}" for c in outcome.dropped]
        lines += [
            f"fetched   {c.group}/{c.filename}{f' ({c.reason})' if c.reason else ''}"
            for c in outcome.fetched
        ]
        lines += [f"kept      {c.group}/{c.filename}" for c in outcome.kept]
        lines.append(outcome.summary)
    document = [outcome.to_dict() for outcome in outcomes]
    return Result(subject="wheelhouse", code=ExitCode.PASSED, document=document, lines=tuple(lines))


def detect(args: argparse.Namespace) -> Result:
    choice = choose(args.profiles)
    lines = [f"gpu: {gpu.describe()}, driver {gpu.driver or 'unknown'}" for gpu in choice.gpus]
    lines.append(f"profile: {choice.profile or 'none fits'} ({choice.reason})")
    lines += [f"  not {name}: {why}" for name, why in choice.rejected]
    return Result(
        subject="detect",
        code=ExitCode.PASSED if choice.profile else ExitCode.ENVIRONMENT,
        document=choice.to_dict(),
        lines=tuple(lines),
    )


def matrix_(args: argparse.Namespace) -> Result:
    """The matrix of every profile that loads; each one that doesn't is named (exit 2)."""
    loaded = load_each(profile_names(args.profiles), args.profiles).values()
    broken = [error for error in loaded if isinstance(error, ProfileError)]
    for error in broken:
        show_error(error, args)
    line = json.dumps(matrix.matrix([p for p in loaded if isinstance(p, Profile)]))
    code = ExitCode.BAD_INPUT if broken else ExitCode.PASSED
    return Result(subject="matrix", code=code, lines=(line,))


def schema(args: argparse.Namespace) -> Result:
    """The JSON Schema of a profile file, for editors (`# yaml-language-server: $schema=`)."""
    text = json.dumps(profile_schema.json_schema(), indent=2)
    return Result(subject="schema", code=ExitCode.PASSED, lines=tuple(text.splitlines()))


def constraints(args: argparse.Namespace) -> Result:
    text = lock.constraints(profile_of(args))
    return Result(subject="constraints", code=ExitCode.PASSED, lines=tuple(text.splitlines()))


def base(args: argparse.Namespace) -> Result:
    from imagegate import base
    from imagegate.engine import Engine

    suite = base.require_local(profile_of(args))
    made = base.make(suite, Engine(), rebuild=args.rebuild)
    return Result(subject="base", code=ExitCode.PASSED, lines=(made,))


def init(args: argparse.Namespace) -> Result:
    started = scaffold.start(args.folder, name=args.name, parent=args.parent)
    written = [f"wrote {path}" for path in started.written]
    where = "" if args.folder == Path(".") else f"cd {shlex.quote(str(args.folder))} && "
    return Result(
        subject=f"init {started.name} (extends the shipped {started.parent})",
        code=ExitCode.PASSED,
        document={
            "profile": started.name,
            "extends": started.parent,
            "written": [str(path) for path in started.written],
        },
        lines=(*written, f"next: {where}imagegate build {started.name}"),
    )


def propose(args: argparse.Namespace) -> Result:
    from imagegate import propose

    profile = profile_of(args)
    with holding(args, profile):  # its trials fill the project's pool of wheels
        proposal = propose.propose(profile, project(args), args.packages, tier3=args.tier == 3)
        if args.write:
            proposal = replace(proposal, written=propose.write(profile, proposal))
    rows = [candidate.row() for candidate in proposal.candidates]
    proven = sum(candidate.proven for candidate in proposal.candidates)
    title = (
        f"propose {profile.name}: {proven} of {len(rows)} candidates proven "
        f"({proposal.venvs} venvs, {proposal.seconds:.0f} s)"
    )
    return Result(
        subject=title,
        code=ExitCode.PASSED if proven or not rows else ExitCode.VERIFICATION_FAILED,
        document=proposal.to_dict(),
        rows=tuple(rows),
        notes=tuple(f"written: {line}" for line in proposal.written),
    )


def bisect(args: argparse.Namespace) -> Result:
    from imagegate import bisect

    profile = profile_of(args)
    good, bad = bisect.read_lock(args.good, profile), bisect.read_lock(args.bad, profile)
    with holding(args, profile):
        found = bisect.bisect(profile, project(args), good, bad, tier3=args.tier == 3)
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
    notes = (
        f"changes ({len(found.changes)}): {'; '.join(map(str, found.changes))}",
        f"culprit{'s' if len(found.culprits) > 1 else ''}: {' + '.join(found.culprits)}"
        + (" (mixes between them could not be installed)" if found.unsplit else ""),
        f"evidence: {found.evidence}",
        f"last good mix: {last}",
    )
    skipped = len(found.rounds) - found.venvs
    title = (
        f"bisect {profile.name}: {found.venvs} rounds (venvs), {skipped} mixes skipped, "
        f"{found.seconds:.0f} s"
    )
    return Result(
        subject=title,
        code=ExitCode.PASSED,
        document=found.to_dict(),
        rows=tuple(rows),
        notes=notes,
    )
