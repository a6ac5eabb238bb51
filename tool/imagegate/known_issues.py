"""Known incompatibilities that package metadata does not express, checked against a closure.

The data (`data/known_issues.yaml`) is a list of entries, each a set of version ranges that,
when all hold at once, break at import or run time: the symptom, the fix and a source.
Matching is a pure function over installed (or locked) versions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import InvalidVersion, Version

from imagegate.errors import ProfileError
from imagegate.findings import Finding, Status
from imagegate.profile_yaml import safe_load

DATA = "known_issues.yaml"
_FIELDS = ("id", "when", "symptom", "fix", "source", "verified")


@dataclass(frozen=True, kw_only=True)
class KnownIssue:
    id: str
    when: Mapping[NormalizedName, SpecifierSet]
    symptom: str
    fix: str
    source: str

    def applies(self, versions: Mapping[NormalizedName, str]) -> bool:
        for name, specifier in self.when.items():
            installed = versions.get(name)
            if installed is None:
                return False
            try:
                if not specifier.contains(Version(installed), prereleases=True):
                    return False
            except InvalidVersion:
                return False
        return True


def parse(raw: Any, where: str) -> tuple[KnownIssue, ...]:
    if not isinstance(raw, list):
        raise ProfileError(f"{where}: expected a list of entries")
    issues = []
    for index, entry in enumerate(raw):
        at = f"{where}: [{index}]"
        if not isinstance(entry, dict) or set(entry) - set(_FIELDS):
            raise ProfileError(f"{at}: an entry has exactly the keys {', '.join(_FIELDS)}")
        missing = [key for key in _FIELDS if not entry.get(key)]
        if missing:
            raise ProfileError(f"{at}.{missing[0]}: missing")
        if not isinstance(entry["when"], dict):
            raise ProfileError(f"{at}.when: expected a mapping of package to specifier")
        when: dict[NormalizedName, SpecifierSet] = {}
        for name, text in entry["when"].items():
            try:
                when[canonicalize_name(str(name))] = SpecifierSet(str(text))
            except InvalidSpecifier:
                raise ProfileError(f"{at}.when.{name}: {text!r} is not a specifier") from None
        issues.append(
            KnownIssue(
                id=str(entry["id"]),
                when=when,
                symptom=str(entry["symptom"]),
                fix=str(entry["fix"]),
                source=str(entry["source"]),
            )
        )
    return tuple(issues)


@cache
def load(path: Path | None = None) -> tuple[KnownIssue, ...]:
    """The shipped data (or another file): read once."""
    if path is None:
        resource = files("imagegate") / "data" / DATA
        return parse(safe_load(resource.read_text(encoding="utf-8")), f"imagegate/data/{DATA}")
    return parse(safe_load(path.read_text(encoding="utf-8")), str(path))


def findings(
    versions: Mapping[NormalizedName, str], issues: Sequence[KnownIssue], *, tier: int
) -> list[Finding]:
    """One BROKEN finding per issue whose ranges all hold; one OK row when none does."""
    hits = [issue for issue in issues if issue.applies(versions)]
    rows = [
        Finding(
            tier=tier,
            check="known-issue",
            subject=issue.id,
            status=Status.BROKEN,
            expected=f"not {', '.join(f'{n}{s}' for n, s in issue.when.items())}",
            actual=", ".join(f"{n} {versions[n]}" for n in issue.when),
            evidence=f"{issue.symptom}; fix: {issue.fix}; see {issue.source}",
        )
        for issue in hits
    ]
    if rows:
        return rows
    return [
        Finding(
            tier=tier,
            check="known-issue",
            subject=f"{len(issues)} known issues",
            status=Status.OK,
            expected="none applies",
            actual="none applies",
        )
    ]
