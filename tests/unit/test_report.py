"""Reports: JUnit XML for CI test reporters, Markdown for step summaries, atomic writes."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from imagegate.errors import EnvironmentProblem, ExitCode, UsageError
from imagegate.findings import Finding, Status
from imagegate.report import (
    FORMATS,
    Result,
    document,
    junit,
    markdown,
    render,
    show,
    table,
)
from imagegate.report_outputs import append_step_summary, write

SUBJECT = "cuda121 (imagegate/cuda121:test)"
UNESCAPED_PIPE = re.compile(r"(?<!\\)\|")


def finding(status: Status, subject: str = "torch", **fields: Any) -> Finding:
    base = Finding(
        tier=1,
        check="pin",
        subject=subject,
        status=status,
        expected="2.5.1+cu121",
        actual="2.5.1+cu121" if status is Status.OK else "",
    )
    return replace(base, **fields)


def stack() -> list[Finding]:
    """One finding of every status, the failed ones in the middle."""
    return [
        finding(Status.OK, "torch", seconds=1.25),
        finding(Status.WRONG_VERSION, "numpy", expected="1.26.4", actual="2.0.0", evidence="pip"),
        finding(
            Status.BROKEN,
            "torchvision",
            tier=2,
            check="import",
            actual="ImportError",
            evidence="Traceback (most recent call last):\nImportError: libcudnn.so.9",
            seconds=0.5,
        ),
        finding(Status.MISSING, "triton", expected="3.1.0", evidence="not in pip list"),
        finding(Status.SKIPPED, "gpu", tier=3, check="fact", expected="", evidence="no GPU"),
        finding(Status.OK, "python", check="python", expected="3.11", actual="3.11.7"),
    ]


def suite_of(xml: str) -> ET.Element:
    root = ET.fromstring(xml)
    assert root.tag == "testsuites"
    suites = root.findall("testsuite")
    assert len(suites) == 1
    return suites[0]


def case_named(suite: ET.Element, name: str) -> ET.Element:
    (case,) = (case for case in suite.iter("testcase") if case.get("name") == name)
    return case


def test_junit_has_one_testcase_per_finding_and_the_counts() -> None:
    findings = stack()
    xml = junit(SUBJECT, findings)
    assert xml.startswith('<?xml version="1.0" encoding="UTF-8"?>\n')
    suite = suite_of(xml)
    assert suite.get("name") == SUBJECT
    cases = suite.findall("testcase")
    assert [case.get("name") for case in cases] == [f.subject for f in findings]
    assert [case.get("classname") for case in cases] == [
        "imagegate.tier1.pin",
        "imagegate.tier1.pin",
        "imagegate.tier2.import",
        "imagegate.tier1.pin",
        "imagegate.tier3.fact",
        "imagegate.tier1.python",
    ]
    expected = {"tests": "6", "failures": "3", "errors": "0", "skipped": "1"}
    assert {key: suite.get(key) for key in expected} == expected
    assert float(suite.get("time", "")) == pytest.approx(1.75)
    assert [float(case.get("time", "")) for case in cases] == [1.25, 0, 0.5, 0, 0, 0]


@pytest.mark.parametrize(
    ("name", "status", "expected", "actual", "evidence"),
    [
        ("numpy", Status.WRONG_VERSION, "1.26.4", "2.0.0", "pip"),
        ("torchvision", Status.BROKEN, "2.5.1+cu121", "ImportError", "libcudnn.so.9"),
        ("triton", Status.MISSING, "3.1.0", "", "not in pip list"),
    ],
)
def test_junit_failed_findings_are_failures_with_the_evidence(
    name: str, status: Status, expected: str, actual: str, evidence: str
) -> None:
    case = case_named(suite_of(junit(SUBJECT, stack())), name)
    assert [child.tag for child in case] == ["failure"]
    failure = case[0]
    assert failure.get("type") == status.value
    assert name in failure.get("message", "")
    text = failure.text or ""
    assert f"expected: {expected}\n" in text
    assert f"actual: {actual}\n" in text
    assert evidence in text


def test_junit_broken_message_is_the_last_line_of_the_traceback() -> None:
    failure = case_named(suite_of(junit(SUBJECT, stack())), "torchvision")[0]
    assert failure.get("message") == "torchvision: BROKEN: ImportError: libcudnn.so.9"


def test_junit_skipped_and_ok_findings() -> None:
    suite = suite_of(junit(SUBJECT, stack()))
    skipped = case_named(suite, "gpu")
    assert [(child.tag, child.get("message")) for child in skipped] == [("skipped", "no GPU")]
    assert list(case_named(suite, "torch")) == []
    assert list(case_named(suite, "python")) == []


def test_junit_carries_extra_keys_and_survives_terminal_colours() -> None:
    colour = finding(Status.BROKEN, evidence="\x1b[31mRuntimeError: CUDA\x1b[0m\x00 driver")
    suite = suite_of(junit(SUBJECT, [colour], image="imagegate/cuda121:test"))
    properties = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert properties == {"image": "imagegate/cuda121:test"}
    text = suite.find("testcase/failure")
    assert text is not None
    assert "evidence: RuntimeError: CUDA\ufffd driver" in (text.text or "")


def test_junit_of_no_findings_is_an_empty_passing_suite() -> None:
    suite = suite_of(junit(SUBJECT, []))
    assert (suite.get("tests"), suite.get("failures"), suite.findall("testcase")) == ("0", "0", [])


def table_rows(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("| ")][2:]


def test_markdown_puts_failed_rows_first_and_keeps_the_rest_in_order() -> None:
    text = markdown(SUBJECT, stack())
    subjects = [UNESCAPED_PIPE.split(row)[3].strip() for row in table_rows(text)]
    assert subjects == ["numpy", "torchvision", "triton", "torch", "gpu", "python"]


def test_markdown_verdict_line_and_heading() -> None:
    failed = markdown(SUBJECT, stack())
    assert failed.startswith(f"### imagegate: {SUBJECT}\n")
    assert "❌ **FAILED** (2 OK, 1 WRONG VERSION, 1 BROKEN, 1 MISSING, 1 SKIPPED)" in failed
    good = markdown(SUBJECT, [finding(Status.OK), finding(Status.SKIPPED, "gpu")])
    assert "✅ **PASSED** (1 OK, 1 SKIPPED)" in good
    assert "❌" not in good


def test_markdown_escapes_pipes_newlines_and_html() -> None:
    nasty = finding(
        Status.BROKEN,
        expected="torch|cuda",
        evidence='File "<string>", line 1\n  a | b\nImportError',
    )
    (row,) = table_rows(markdown(SUBJECT, [nasty]))
    assert len(UNESCAPED_PIPE.findall(row)) == 8
    assert "torch\\|cuda" in row
    assert 'File "&lt;string&gt;", line 1<br>  a \\| b<br>ImportError' in row
    assert "\n" not in row


KEY = (
    "ImportError: numpy.core.multiarray failed to import; a module that was compiled using "
    "NumPy 1.x cannot be run in NumPy 2.0.0 as it may crash (compile it with NumPy 2.0)"
)


def test_table_never_cuts_the_key_line_of_a_failure() -> None:
    traceback = f'Traceback (most recent call last):\n  File "<string>", line 1\n{KEY}'
    broken = finding(Status.BROKEN, "pandas", check="import", evidence=traceback)
    text = table([broken, finding(Status.OK)])
    assert "…" not in text
    cells, under = text.split("\n\n", 1)
    assert KEY in " ".join(cells.split())  # the key line, wrapped in its cell, every word kept
    rows = cells.splitlines()
    assert len(rows) > 4 and all(len(row) <= 160 for row in rows)  # wrapped, not one long row
    assert "pandas" in under and 'File "<string>", line 1' in under
    assert KEY in " ".join(under.split())  # wrapped to the width, every word kept
    assert all(len(line) <= 120 for line in text.splitlines())


def test_table_gives_a_one_line_failure_only_its_cell() -> None:
    wrong = finding(Status.WRONG_VERSION, "numpy", actual="2.0.0", evidence="z" * 200)
    text = table([wrong])
    assert "\n\n" not in text and "…" not in text
    assert "".join(text.split()).count("z") == 200


def test_table_shortens_what_passed() -> None:
    text = table([finding(Status.OK, evidence="y" * 200)])
    assert "…" in text and "y" * 200 not in text


def test_a_long_answer_is_cut_in_the_table_and_whole_in_json() -> None:
    answer = json.dumps({"answer_ids": list(range(100))}, separators=(",", ":"))
    row = finding(Status.OK, "answers a prompt", actual=answer, evidence="answered in 1.0 s")

    text = table([row], width=400)

    assert "…" in text and answer not in text and answer[:40] in text
    assert document(SUBJECT, [row])["findings"][0]["actual"] == answer


def test_render_handles_every_format() -> None:
    findings = stack()
    rendered = {fmt: render(SUBJECT, findings, fmt, image="x") for fmt in FORMATS}
    assert set(FORMATS) == {"table", "json", "junit", "markdown"}
    assert json.loads(rendered["json"]) == document(SUBJECT, findings, image="x")
    assert rendered["junit"] == junit(SUBJECT, findings, image="x")
    assert rendered["markdown"] == markdown(SUBJECT, findings, image="x")
    assert rendered["table"].endswith(
        f"{SUBJECT}: FAILED (2 OK, 1 WRONG VERSION, 1 BROKEN, 1 MISSING, 1 SKIPPED)"
    )
    with pytest.raises(ValueError, match="html"):
        render(SUBJECT, findings, "html")


def test_document_shape() -> None:
    data = document(SUBJECT, stack()[:2], image="x")
    assert list(data) == ["subject", "passed", "counts", "image", "findings"]
    assert data["passed"] is False
    assert data["counts"] == {
        "OK": 1,
        "WRONG VERSION": 1,
        "BROKEN": 0,
        "MISSING": 0,
        "SKIPPED": 0,
        "STALE LOCK": 0,
        "WARN": 0,
    }
    assert data["findings"][0] == {
        "tier": 1,
        "check": "pin",
        "subject": "torch",
        "status": "OK",
        "expected": "2.5.1+cu121",
        "actual": "2.5.1+cu121",
        "evidence": "",
        "seconds": 1.25,
    }


def test_append_step_summary_appends(tmp_path: Path) -> None:
    target = tmp_path / "step_summary.md"
    target.write_text("earlier step\n", encoding="utf-8")
    environ = {"GITHUB_STEP_SUMMARY": str(target)}
    assert append_step_summary("# first", environ) is True
    assert append_step_summary("# second\n", environ) is True
    assert target.read_text(encoding="utf-8") == "earlier step\n# first\n\n# second\n\n"


def test_append_step_summary_outside_actions(tmp_path: Path) -> None:
    assert append_step_summary("# report", {}) is False
    assert append_step_summary("# report", {"GITHUB_STEP_SUMMARY": ""}) is False
    assert list(tmp_path.iterdir()) == []


def test_write_replaces_a_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "reports" / "junit.xml"
    write(path, "old and longer\n")
    write(path, "new\n")
    assert path.read_text(encoding="utf-8") == "new\n"
    assert [p.name for p in path.parent.iterdir()] == ["junit.xml"]


def test_a_step_summary_in_a_missing_folder_is_an_environment_problem(tmp_path: Path) -> None:
    target = tmp_path / "missing" / "summary.md"
    with pytest.raises(EnvironmentProblem) as caught:
        append_step_summary("# report", {"GITHUB_STEP_SUMMARY": str(target)})
    assert str(caught.value).startswith(f"GITHUB_STEP_SUMMARY={target}: ")
    assert not target.parent.exists()


def test_a_report_written_over_a_directory_is_bad_input_and_leaves_it_alone(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "reports"
    (folder / "kept.xml").parent.mkdir()
    (folder / "kept.xml").write_text("kept\n", encoding="utf-8")
    with pytest.raises(UsageError) as caught:
        write(folder, "report\n")
    assert str(caught.value).startswith(f"--output {folder}: ")
    assert caught.value.exit_code is ExitCode.BAD_INPUT
    assert [p.name for p in folder.iterdir()] == ["kept.xml"]
    assert [p.name for p in tmp_path.iterdir()] == ["reports"]


# --- what a person reads -------------------------------------------------------------------

RECORDED = Path(__file__).parent / "recorded" / "python-import.transformers-tokenizers.txt"
CAUSE = "ImportError: tokenizers>=0.21,<0.22 is required for a normal functioning of this module"
DIGEST = "sha256:" + "0123456789abcdef" * 4


def passing(tiers: dict[int, int], skipped: int = 0) -> list[Finding]:
    rows = [
        finding(Status.OK, f"p{tier}-{n}", tier=tier) for tier, n in tiers.items() for n in range(n)
    ]
    skips = [finding(Status.SKIPPED, f"gpu{n}", tier=3, evidence="no GPU") for n in range(skipped)]
    return rows + skips


def test_a_pass_is_one_line_per_tier_naming_what_it_skipped() -> None:
    findings = passing({0: 40, 1: 64, 2: 30}, skipped=2)

    lines = render(SUBJECT, findings, "table").splitlines()

    assert lines == [
        "tier 0: 40 OK",
        "tier 1: 64 OK",
        "tier 2: 30 OK",
        "tier 3: 2 SKIPPED: gpu0, gpu1",
        "",
        f"{SUBJECT}: PASSED (134 OK, 2 SKIPPED)",
    ]


def test_a_failure_is_its_rows_under_the_tier_lines() -> None:
    findings = [*passing({1: 30}, skipped=1), finding(Status.MISSING, "numpy", actual="")]

    lines = render(SUBJECT, findings, "table").splitlines()

    assert lines[:2] == ["tier 1: 30 OK, 1 MISSING", "tier 3: 1 SKIPPED: gpu0"]
    rows = [line.split() for line in lines if line.startswith("  ")]
    assert [row[2] for row in rows if "MISSING" in row] == ["numpy"]
    assert not any("p1-" in line for line in lines)


def test_a_warning_passes_and_its_row_is_shown_under_the_tier_lines() -> None:
    warned = finding(Status.WARN, "runsOn", tier=4, evidence="a CPU build on a GPU endpoint")
    findings = [*passing({1: 3}), warned]

    lines = render(SUBJECT, findings, "table").splitlines()
    junit_suite = suite_of(render(SUBJECT, findings, "junit"))

    assert lines[:2] == ["tier 1: 3 OK", "tier 4: 1 WARN"]
    assert any("runsOn" in line and "WARN" in line for line in lines[2:-1])
    assert not any("p1-" in line for line in lines)
    assert lines[-1] == f"{SUBJECT}: PASSED (3 OK, 1 WARN)"
    assert junit_suite.get("failures") == "0"


def test_verbose_shows_every_row_and_so_do_the_other_formats() -> None:
    findings = passing({1: 5})
    assert render(SUBJECT, findings, "table").splitlines()[0] == "tier 1: 5 OK"
    verbose = render(SUBJECT, findings, "table", verbose=True)
    assert all(f"p1-{n}" in verbose for n in range(5))
    assert len(json.loads(render(SUBJECT, findings, "json"))["findings"]) == 5
    assert render(SUBJECT, findings, "junit").count("<testcase") == 5
    assert all(f"p1-{n}" in render(SUBJECT, findings, "markdown") for n in range(5))


@pytest.mark.parametrize("width", [100, 120, 200])
def test_the_table_fits_the_width_with_digests_shortened(width: int) -> None:
    label = finding(
        Status.SKIPPED,
        "org.imagegate.lock",
        check="lock-label",
        expected=f"{DIGEST} (pylock.worker-with-a-long-name.toml)",
        actual=DIGEST,
        evidence="the image names another lock (not in this project); judged against "
        "pylock.worker-with-a-long-name.toml",
    )
    broken = finding(Status.BROKEN, "transformers", evidence=RECORDED.read_text())

    text = render(SUBJECT, [label, broken], "table", verbose=True, width=width)

    assert max(len(line) for line in text.splitlines()) <= width
    assert DIGEST not in text and "sha256:" in text
    assert "sha256:01234567… (pylock" in render(SUBJECT, [label], "table", verbose=True, width=200)
    assert DIGEST in render(SUBJECT, [label], "json")  # whole where a program reads it


def test_the_evidence_of_a_failure_is_its_cause_not_the_hint_after_it() -> None:
    broken = finding(Status.BROKEN, "transformers", evidence=RECORDED.read_text())

    cell = table([broken]).split("\n\n")[0]
    message = case_named(suite_of(junit(SUBJECT, [broken])), "transformers")[0].get("message")

    assert CAUSE in " ".join(cell.split()) and "Try:" not in cell
    assert message is not None and CAUSE in message and "Try:" not in message


@pytest.mark.parametrize(
    ("code", "verdict"),
    [
        (ExitCode.PASSED, "PASSED"),
        (ExitCode.VERIFICATION_FAILED, "FAILED"),
        (ExitCode.BAD_INPUT, "FAILED (bad input)"),
        (ExitCode.ENVIRONMENT, "NOT PROVEN (environment problem)"),
    ],
)
def test_the_verdict_says_what_the_exit_code_says(code: ExitCode, verdict: str) -> None:
    """`check --all` with one index out of reach: every finding judged passed, exit 3."""
    findings = passing({0: 3})

    assert render(SUBJECT, findings, "table", code=code).endswith(f"{SUBJECT}: {verdict} (3 OK)")
    assert json.loads(render(SUBJECT, findings, "json", code=code))["passed"] is (code == 0)
    assert f"**{verdict}**" in render(SUBJECT, findings, "markdown", code=code)


def test_a_result_that_carries_an_environment_problem_never_says_passed() -> None:
    """`check --all`: every finding judged passed, one profile's index out of reach."""
    result = Result(
        subject="preflight",
        code=ExitCode.PASSED,
        findings=tuple(passing({0: 3})),
        error=EnvironmentProblem("check ghost: http://127.0.0.1:9/simple refused"),
    )

    assert result.exit_code is ExitCode.ENVIRONMENT
    assert show(result, "table").endswith("preflight: NOT PROVEN (environment problem) (3 OK)")
    assert result.summary == "preflight: NOT PROVEN (environment problem) (3 OK)"
    assert json.loads(show(result, "json"))["passed"] is False


@pytest.mark.parametrize("width", [80, 120])
def test_a_listings_table_fits_the_width_every_word_kept(width: int) -> None:
    long = "because " * 30 + "sha256:" + "ab" * 32
    rows = [{"package": "transformers", "from": "4.51.3", "to": "4.52.0", "evidence": long}]
    result = Result(subject="propose cpu", code=ExitCode.PASSED, rows=tuple(rows))

    text = show(result, "table", width=width)

    assert max(len(line) for line in text.splitlines()) <= width
    assert " ".join(text.split()).count("because") == 30
    assert "sha256:abababab…" in " ".join(text.split())
