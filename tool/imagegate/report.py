"""Findings shown to people (a table, Markdown) and to programs (JSON, JUnit XML).

The JSON shape, from ``document(subject, findings, **extra)``::

    {
      "subject": "cuda121 (imagegate/cuda121:latest)",  # what was judged
      "passed": false,                                  # no finding failed
      "counts": {"OK": 9, "WRONG VERSION": 1, "BROKEN": 0, "MISSING": 0, "SKIPPED": 1},
      ...,                                              # any extra keys, e.g. "image"
      "findings": [
        {"tier": 1, "check": "pin", "subject": "torch", "status": "WRONG VERSION",
         "expected": "2.5.1+cu121", "actual": "2.5.1", "evidence": "...", "seconds": 0.4}
      ]
    }

``counts`` has every status as a key, zero or not; ``seconds`` is null when not timed;
``passed`` is what the exit code says (0), not only the findings' verdict.

JUnit XML is for CI test reporters: one testcase per finding, where a failed finding (WRONG
VERSION, MISSING, BROKEN, STALE LOCK) is a ``<failure>`` (a broken import is the image failing,
not the harness) and a SKIPPED one is ``<skipped>``. Markdown is for ``$GITHUB_STEP_SUMMARY``.

A person's table is a line per tier and the failed rows (every row with --verbose, and always
in JSON, JUnit, Markdown), fitted to the terminal: digests shortened, long values cut (whole
in JSON), evidence wrapped.

Every command returns one ``Result``; ``show`` is the one place it becomes text. A
judgement (findings) has every format; a listing (what was written, fetched, proposed) has
its own JSON document, its lines or rows for a person and Markdown, and no JUnit.
"""

from __future__ import annotations

import html
import json
import re
import textwrap
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tabulate import tabulate

from imagegate.errors import ExitCode, ImagegateError, UsageError
from imagegate.findings import Finding, Status, counts, passed

FORMATS = ("table", "json", "junit", "markdown")
LISTING_FORMATS = ("table", "json", "markdown")
"""What a result without findings can be shown as: JUnit's test cases are findings."""
WIDTH = 120  # where there is no terminal to ask (a pipe, a CI log)
_HANG: dict[str, Any] = {"initial_indent": "    ", "subsequent_indent": "      "}
_WRAP: dict[str, Any] = {"subsequent_indent": "    ", "break_on_hyphens": False}
_FIXED = (0, 5)  # tier and status, never wrapped
_EVIDENCE_WIDTH = 90  # a passing row's evidence, cut (the table's cell is wrapped after)
_DIGEST = re.compile(r"\b(sha256:)?([0-9a-f]{8})[0-9a-f]{56}\b")
_EXCEPTION = re.compile(r"^(?:\w+\.)*\w*(?:Error|Exception|Exit|Interrupt|Warning)\b(?::|$)")
_VERDICTS = {
    ExitCode.PASSED: "PASSED",
    ExitCode.VERIFICATION_FAILED: "FAILED",
    ExitCode.BAD_INPUT: "FAILED (bad input)",
    ExitCode.ENVIRONMENT: "NOT PROVEN (environment problem)",
}
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def document(
    subject: str, findings: Sequence[Finding], *, code: ExitCode | None = None, **extra: Any
) -> dict[str, Any]:
    """The JSON shape: what was judged, the verdict, the tallies and every finding."""
    return {
        "subject": subject,
        "passed": _code(findings, code) is ExitCode.PASSED,
        "counts": counts(findings),
        **extra,
        "findings": [finding.to_dict() for finding in findings],
    }


def overview(findings: Sequence[Finding], *, verbose: bool = False, width: int = WIDTH) -> str:
    """What a person reads: every row with `verbose`; else one line per tier naming what it
    skipped (why: with -v), then the failed and WARN rows (a clean pass is the tier lines)."""
    if verbose:
        return table(findings, width=width)
    lines = []
    for tier in sorted({finding.tier for finding in findings}):
        mine = [finding for finding in findings if finding.tier == tier]
        skipped = ", ".join(f.subject for f in mine if f.status is Status.SKIPPED)
        line = f"tier {tier}: {_tally(mine)}" + (f": {skipped}" if skipped else "")
        lines.append(textwrap.fill(line, width, **_WRAP))
    shown = [finding for finding in findings if finding.status.shown]
    return "\n\n".join(["\n".join(lines), *([table(shown, width=width)] if shown else [])])


def table(findings: Sequence[Finding], *, width: int = WIDTH) -> str:
    """The findings fitted to `width`: digests shortened, long expected and found cells cut (a
    worker's answer; whole in JSON), a failure's key line of evidence wrapped, never cut, and
    its whole evidence under the table if there is more."""
    rows = [
        [
            finding.tier,
            *map(_digests, (finding.check, finding.subject)),
            *(_short(_digests(cell)) for cell in (finding.expected, finding.actual)),
            finding.status.value,
            _key_line(finding.evidence) if finding.status.shown else _short(finding.evidence),
        ]
        for finding in findings
    ]
    headers = ("tier", "check", "package / probe", "expected", "installed", "status", "evidence")
    text, room = "", width
    for _ in range(4):  # again, less what tabulate's own padding took, until it fits
        widths = _fit(headers, rows, room)
        text = tabulate(rows, headers=headers, tablefmt="simple", maxcolwidths=widths)
        over = max(len(line) for line in text.splitlines()) - width
        if over <= 0:
            break
        room -= over
    for finding in findings:
        evidence = finding.evidence.strip()
        if finding.status.failed and evidence != _key_line(evidence):
            full = "\n".join(textwrap.fill(line, width, **_HANG) for line in evidence.splitlines())
            text += f"\n\n{finding.subject} ({finding.status.value}), the whole evidence:\n{full}"
    return text


def summary(subject: str, findings: Sequence[Finding], code: ExitCode | None = None) -> str:
    """The verdict line: what the exit code says (`code`, else the findings' verdict)."""
    return f"{subject}: {_VERDICTS[_code(findings, code)]} ({_tally(findings)})"


def junit(subject: str, findings: Sequence[Finding], **extra: Any) -> str:
    """JUnit XML with one testcase per finding; extra keys become suite properties."""
    tally = counts(findings)
    failures = sum(n for status, n in tally.items() if Status(status).failed)
    attributes = {
        "name": _xml(subject),
        "tests": str(len(findings)),
        "failures": str(failures),
        "errors": "0",
        "skipped": str(tally[Status.SKIPPED.value]),
        "time": f"{sum(finding.seconds or 0.0 for finding in findings):.3f}",
    }
    suites = ET.Element("testsuites", attributes)
    suite = ET.SubElement(suites, "testsuite", attributes)
    if extra:
        properties = ET.SubElement(suite, "properties")
        for key, value in extra.items():
            ET.SubElement(properties, "property", name=_xml(key), value=_xml(str(value)))
    for finding in findings:
        case = ET.SubElement(
            suite,
            "testcase",
            classname=f"imagegate.tier{finding.tier}.{finding.check}",
            name=_xml(finding.subject),
            time=f"{finding.seconds or 0.0:.3f}",
        )
        if finding.status.failed:
            failure = ET.SubElement(
                case, "failure", message=_xml(_verdict(finding)), type=finding.status.value
            )
            failure.text = _xml(
                f"expected: {finding.expected}\n"
                f"actual: {finding.actual}\n"
                f"evidence: {finding.evidence}"
            )
        elif finding.status is Status.SKIPPED:
            ET.SubElement(case, "skipped", message=_xml(finding.evidence))
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode")


def markdown(subject: str, findings: Sequence[Finding], **extra: Any) -> str:
    """A GitHub step summary: the verdict first, then every finding, the failed ones on top."""
    code = _code(findings, extra.pop("code", None))
    mark, verdict = ("✅" if code is ExitCode.PASSED else "❌"), _VERDICTS[code]
    lines = [f"### imagegate: {_cell(subject)}", "", f"{mark} **{verdict}** ({_tally(findings)})"]
    if extra:
        lines += ["", *(f"- **{_cell(key)}**: {_cell(str(value))}" for key, value in extra.items())]
    lines.append("")
    if not findings:
        return "\n".join([*lines, "_No findings._", ""])
    headers = ("tier", "check", "subject", "expected", "installed", "status", "evidence")
    lines += [_row(headers), _row(("---",) * len(headers))]
    for finding in sorted(findings, key=lambda finding: not finding.status.failed):
        status = f"**{finding.status.value}**" if finding.status.failed else finding.status.value
        cells = (finding.check, finding.subject, finding.expected, finding.actual)
        lines.append(_row((str(finding.tier), *map(_cell, cells), status, _cell(finding.evidence))))
    return "\n".join([*lines, ""])


def render(
    subject: str,
    findings: Sequence[Finding],
    fmt: str,
    *,
    code: ExitCode | None = None,
    verbose: bool = False,
    width: int = WIDTH,
    **extra: Any,
) -> str:
    """The findings in one of FORMATS; extra keys go where the format has room for them.
    `code` is the exit code the verdict must agree with (default: the findings' own)."""
    if fmt == "table":
        body = overview(findings, verbose=verbose, width=width)
        return "\n\n".join([*([body] if body else []), summary(subject, findings, code)])
    if fmt == "json":
        return json.dumps(document(subject, findings, code=code, **extra), indent=2)
    if fmt == "junit":
        return junit(subject, findings, **extra)
    if fmt == "markdown":
        return markdown(subject, findings, code=code, **extra)
    raise ValueError(f"unknown report format {fmt!r}; choose one of {', '.join(FORMATS)}")


def grid(
    title: str,
    rows: Sequence[Mapping[str, str]],
    fmt: str,
    notes: Sequence[str] = (),
    width: int = WIDTH,
) -> str:
    """Rows of one kind (their keys are the columns) for a person (table, fitted to `width`, the
    last column giving way last) or a pull request (markdown), the title and notes with them;
    JSON is the caller's own document."""
    headers = list(rows[0]) if rows else []
    if fmt == "markdown":
        lines = [f"### imagegate: {_cell(title)}", ""]
        if rows:
            lines += [_row(headers), _row(("---",) * len(headers))]
            lines += [_row([_cell(row[key]) for key in headers]) for row in rows]
        return "\n".join([*lines, "", *(f"- {_cell(note)}" for note in notes), ""])
    cells = [[_digests(str(value)) for value in row.values()] for row in rows]
    widths = _fit(headers, cells, width, fixed=(), slow=len(headers) - 1)
    text = tabulate(cells, headers=headers, maxcolwidths=widths)
    return "\n".join([text, "", *notes, title] if rows else [*notes, title])


@dataclass(frozen=True, kw_only=True)
class Result:
    """What one command returns: rendered by `show`, mapped to an exit code by the CLI.

    `findings` (a judgement) or else `document` (JSON), `lines` or `rows` (a person's view)
    and `notes`; `error`, when set, is raised once the report is out: the verdict is never
    lost to an error met after it (an SBOM that can't be written, an index out of reach).
    """

    subject: str
    code: ExitCode
    findings: tuple[Finding, ...] | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    document: Any = None
    lines: tuple[str, ...] = ()
    rows: tuple[Mapping[str, str], ...] | None = None
    """A grid (rows of one kind under the subject), shown in place of `lines`."""
    notes: tuple[str, ...] = ()
    error: ImagegateError | None = None

    @property
    def summary(self) -> str:
        """One line for the terminal when the report went to a file."""
        if self.findings is not None:
            return summary(self.subject, self.findings, self.exit_code)
        return self.subject

    @property
    def exit_code(self) -> ExitCode:
        """What the command exits with: the error's code when it carries one."""
        return ExitCode(self.error.exit_code) if self.error is not None else self.code


def show(result: Result, fmt: str, *, verbose: bool = False, width: int = WIDTH) -> str:
    """The result in one of FORMATS (a listing: one of LISTING_FORMATS); a table of findings
    fitted to `width`, every row with `verbose`."""
    if result.findings is not None:
        return render(
            result.subject,
            result.findings,
            fmt,
            code=result.exit_code,
            verbose=verbose,
            width=width,
            **result.extra,
        )
    if fmt not in LISTING_FORMATS:
        raise UsageError(unrenderable(result.subject, fmt))
    if fmt == "json":
        return json.dumps(result.document, indent=2)
    if result.rows is not None:
        return grid(result.subject, result.rows, fmt, result.notes, width)
    if fmt == "markdown":
        items = [f"- {_cell(line)}" for line in (*result.lines, *result.notes)]
        return "\n".join([f"### imagegate: {_cell(result.subject)}", "", *items, ""])
    return "\n".join((*result.lines, *result.notes))


def unrenderable(command: str, fmt: str) -> str:
    return (
        f"--format {fmt}: {command} reports no findings to turn into test cases; "
        f"choose {', '.join(LISTING_FORMATS)}"
    )


def _code(findings: Sequence[Finding], code: ExitCode | None) -> ExitCode:
    fallback = ExitCode.PASSED if passed(findings) else ExitCode.VERIFICATION_FAILED
    return fallback if code is None else ExitCode(code)


def _fit(
    headers: Sequence[str],
    rows: Sequence[Sequence[Any]],
    width: int,
    fixed: Sequence[int] = _FIXED,
    slow: int = 6,
) -> list[int | None]:
    """Each column's width so a row fits `width`: the widest wrappable column gives way first
    (`slow`, the evidence, at a third of the pace), none narrower than its header (or 10);
    `fixed` ones (a findings table's tier and status) are never wrapped."""
    widths = [
        max([len(header)] + [len(str(row[i])) for row in rows]) for i, header in enumerate(headers)
    ]
    floors = [
        w if i in fixed else max(len(h), min(w, 10))
        for i, (h, w) in enumerate(zip(headers, widths, strict=True))
    ]
    room = width - 2 * (len(headers) - 1)
    while sum(widths) > room:
        i = max(range(len(widths)), key=lambda i: (widths[i] - floors[i]) / (1 + 2 * (i == slow)))
        if widths[i] <= floors[i]:
            break
        widths[i] -= 1
    return [None if i in fixed else w for i, w in enumerate(widths)]


def _digests(text: str) -> str:
    """A sha256 digest in a person's table: its first 8 hex digits are enough to tell."""
    return _DIGEST.sub(lambda match: f"{match[1] or ''}{match[2]}…", text)


def _tally(findings: Sequence[Finding]) -> str:
    return ", ".join(f"{n} {status}" for status, n in counts(findings).items() if n) or "none"


def _verdict(finding: Finding) -> str:
    """A failure's one-line message: what was wanted and what was found."""
    if finding.status is Status.BROKEN:
        return f"{finding.subject}: BROKEN: {_key_line(finding.evidence) or 'no evidence'}"
    found = finding.actual or "nothing"
    return f"{finding.subject}: {finding.status.value}: expected {finding.expected}, found {found}"


def _xml(text: str) -> str:
    """Text without terminal colours or the control characters XML 1.0 (and Markdown) refuse."""
    return _NOT_XML.sub("\ufffd", _ANSI.sub("", text))


def _cell(text: str) -> str:
    """One Markdown table cell: no raw HTML, no column breaks, no line breaks."""
    text = html.escape(_xml(text).strip(), quote=False)
    text = text.replace("\\", "\\\\").replace("|", "\\|")
    return "<br>".join(text.splitlines())


def _row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _key_line(evidence: str) -> str:
    """The line that says what went wrong: a traceback's last exception line ("ImportError:
    tokenizers>=0.21,<0.22 is required …"), not a hint printed after it ("Try: `pip …`");
    else the last line."""
    lines = [line.strip() for line in evidence.splitlines() if line.strip()]
    causes = [line for line in lines if _EXCEPTION.match(line)]
    return (causes or lines or [""])[-1]


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _EVIDENCE_WIDTH else text[: _EVIDENCE_WIDTH - 1] + "…"
