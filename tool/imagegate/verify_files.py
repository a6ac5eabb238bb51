"""What Python will run, judged: the installed files against their RECORDs (tier 1) and
where each imported module was loaded from (tier 2). Pure functions over facts; `verify.judge`
calls them.
"""

from __future__ import annotations

from collections.abc import Sequence

from imagegate.facts import Facts, FileProblems, ItemResult
from imagegate.findings import Finding, Status

SHOWN = 3
"""Paths a finding names before it gives the count of the rest."""
_PROBLEMS = {
    "changed": "changed",
    "missing": "missing",
    "unlisted": "not in any RECORD",
    "unreadable": "unreadable",
}


def installed_files(facts: Facts) -> list[Finding]:
    """Tier 1: every hashed file of every distribution as its RECORD lists it, and no module
    file under a distribution's top-level folders that no RECORD lists. One row for all that
    match, one BROKEN row for each distribution with a file missing, changed or unlisted."""
    checked = facts.files
    if checked is None:
        why = "not collected (facts from a collector without this check, or tier 1 not run)"
        return [
            Finding(
                tier=1,
                check="files",
                subject="installed files",
                status=Status.SKIPPED,
                evidence=why,
            )
        ]
    if checked.error is not None:
        return [
            Finding(
                tier=1,
                check="files",
                subject="installed files",
                status=Status.BROKEN,
                expected="as their RECORD lists them (sha256)",
                actual="not checked",
                evidence=checked.error,
            )
        ]
    wrong = sum(
        len(problems.changed) + len(problems.missing) + len(problems.unreadable)
        for problems in checked.problems
    )
    bare = ", ".join(checked.without_record)
    summary = Finding(
        tier=1,
        check="files",
        subject=f"{checked.files - wrong} files of {checked.distributions} distributions",
        status=Status.OK,
        expected="as their RECORD lists them (sha256)",
        actual="match their RECORD",
        evidence=f"no RECORD, not checked: {bare}" if bare else "",
        seconds=checked.seconds,
    )
    return [summary, *map(_file_problems, checked.problems)]


def _file_problems(problems: FileProblems) -> Finding:
    found = {kind: getattr(problems, kind) for kind in _PROBLEMS if getattr(problems, kind)}
    actual = ", ".join(f"{len(paths)} {_PROBLEMS[kind]}" for kind, paths in found.items())
    evidence = "; ".join(f"{_PROBLEMS[kind]}: {_first(paths)}" for kind, paths in found.items())
    return Finding(
        tier=1,
        check="files",
        subject=problems.name or "(no distribution)",
        status=Status.BROKEN,
        expected=f"{problems.name} {problems.version}: files as its RECORD lists them".strip(),
        actual=actual,
        evidence=evidence,
    )


def _first(paths: Sequence[str]) -> str:
    shown = ", ".join(paths[:SHOWN])
    return shown if len(paths) <= SHOWN else f"{shown} and {len(paths) - SHOWN} more"


def origins(facts: Facts) -> list[Finding]:
    """Tier 2: each imported top-level module was loaded from the installed files of the
    distribution that provides it. A copy found first on sys.path is BROKEN, with the entry
    that holds it and what put that entry there; one row holds all the others."""
    imported = [item for item in facts.items if item.kind == "module" and item.ok]
    if imported and all(item.origin is None for item in imported):
        why = "not collected (facts from a collector without this check)"
        return [
            Finding(
                tier=2,
                check="origin",
                subject="imported modules",
                status=Status.SKIPPED,
                evidence=why,
            )
        ]
    judged = [
        item
        for item in imported
        if item.origin is not None and (item.origin.distributions or item.origin.error)
    ]
    wrong = [_origin(item) for item in judged if _foreign(item)]
    if not judged:
        return wrong
    summary = Finding(
        tier=2,
        check="origin",
        subject=f"{len(judged) - len(wrong)} modules",
        status=Status.OK,
        expected="loaded from their distributions' own files",
        actual="as installed",
    )
    return [summary, *wrong]


def _foreign(item: ItemResult) -> bool:
    return item.origin is not None and bool(item.origin.foreign or item.origin.error)


def _origin(item: ItemResult) -> Finding:
    assert item.origin is not None
    owners = ", ".join(item.origin.distributions)
    places = [
        f"{place.path} (sys.path entry {place.entry!r}, from {place.via})"
        if place.entry is not None
        else f"{place.path} (on no sys.path entry)"
        for place in item.origin.foreign
    ]
    return Finding(
        tier=2,
        check="origin",
        subject=item.subject,
        status=Status.BROKEN,
        expected=f"loaded from the files of {owners}",
        actual=item.origin.foreign[0].path if item.origin.foreign else "not checked",
        evidence="; ".join(places) or item.origin.error or "",
    )
