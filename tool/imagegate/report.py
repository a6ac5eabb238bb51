"""Findings shown to people (a table) and to programs (JSON)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from tabulate import tabulate

from imagegate.findings import Finding, counts, passed

FORMATS = ("table", "json")
_EVIDENCE_WIDTH = 90


def document(subject: str, findings: Sequence[Finding], **extra: Any) -> dict[str, Any]:
    """The JSON shape: what was judged, the verdict, the tallies and every finding."""
    return {
        "subject": subject,
        "passed": passed(findings),
        "counts": counts(findings),
        **extra,
        "findings": [finding.to_dict() for finding in findings],
    }


def table(findings: Sequence[Finding]) -> str:
    rows = [
        (
            finding.tier,
            finding.check,
            finding.subject,
            finding.expected,
            finding.actual,
            finding.status.value,
            _short(finding.evidence),
        )
        for finding in findings
    ]
    headers = ("tier", "check", "package / probe", "expected", "installed", "status", "evidence")
    return tabulate(rows, headers=headers, tablefmt="simple")


def summary(subject: str, findings: Sequence[Finding]) -> str:
    tally = ", ".join(f"{n} {status}" for status, n in counts(findings).items() if n)
    verdict = "PASSED" if passed(findings) else "FAILED"
    return f"{subject}: {verdict} ({tally})"


def render(subject: str, findings: Sequence[Finding], fmt: str, **extra: Any) -> str:
    if fmt == "json":
        return json.dumps(document(subject, findings, **extra), indent=2)
    return f"{table(findings)}\n\n{summary(subject, findings)}"


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _EVIDENCE_WIDTH else text[: _EVIDENCE_WIDTH - 1] + "…"
