"""The face: the README's flag table holds for every command's real parser, each flag is
declared once, and what a parser refuses is refused in one line before anything runs."""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import pytest

from imagegate import options, report
from imagegate.cli import COMMANDS, build_parser, main
from imagegate.errors import ExitCode, UsageError
from imagegate.findings import Finding, Status

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"


def readme_flags() -> dict[str, set[str]]:
    """The README's flag table (under `### Flags`): each command's column, the long flag of
    each row ticked in it."""
    text = README.read_text(encoding="utf-8").split("### Flags", 1)[1]
    rows = []
    for line in text.lstrip().splitlines():
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    header, body = rows[0], rows[2:]
    taken: dict[str, set[str]] = {command: set() for command in header[2:]}
    for row in body:
        flag = row[0].split(",")[-1].strip().strip("`")
        for command, cell in zip(header[2:], row[2:], strict=True):
            if cell:
                assert cell == "✓", f"{flag} / {command}: {cell!r}"
                taken[command].add(flag)
    return taken


def parser_flags() -> dict[str, set[str]]:
    """Each subcommand's long flags, read from the parser argparse really uses."""
    parser = build_parser()
    (subparsers,) = (a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return {
        name: {
            action.option_strings[-1]
            for action in sub._actions
            if action.option_strings and action.option_strings[-1] != "--help"
        }
        for name, sub in subparsers.choices.items()
    }


def test_the_readme_flag_table_holds_for_every_command() -> None:
    documented, real = readme_flags(), parser_flags()
    assert sorted(documented) == sorted(real) == sorted(COMMANDS)
    for command in real:
        assert documented[command] == real[command], command


def test_the_table_bites_on_a_flag_it_does_not_list() -> None:
    """Treatment for the test above: a parser with one more flag disagrees with the table."""
    real = parser_flags()
    real["render"].add("--upgrade")
    assert readme_flags()["render"] != real["render"]


def test_each_flag_is_declared_once_per_command() -> None:
    for command in options.EVERY:
        declared = options.flags(command)
        assert len(declared) == len(set(declared)), command
    assert list(options.EVERY) == list(COMMANDS)


def test_python_is_the_host_and_image_python_the_image() -> None:
    real = parser_flags()
    host = {command for command, flags in real.items() if "--python" in flags}
    image = {command for command, flags in real.items() if "--image-python" in flags}
    assert host == {"doctor", "repair"} and image == {"gate", "verify"}


def one_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("imagegate: error: "), err
    return lines[0]


@pytest.mark.parametrize(
    "argv",
    [
        ["build", "cpu", "--tag", "Not A Ref"],
        ["build", "cpu", "--base-image", "team/Image"],
        ["verify", "cpu", "--image", "img:-bad"],
        ["gate", "cpu", "--push", "bad ref"],
    ],
)
def test_a_reference_is_refused_as_arguments_are_parsed(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """Parsing alone refuses it: nothing could run with it (the handler is never reached)."""
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(argv)
    assert exited.value.code == ExitCode.BAD_INPUT
    assert "is not an image reference" in one_line(capsys)


def test_the_image_interpreter_under_the_old_name_is_refused_naming_the_new(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(["verify", "cpu", "--python", "/opt/venv/bin/python"])
    assert exited.value.code == ExitCode.BAD_INPUT
    assert "--image-python" in one_line(capsys)


@pytest.fixture
def profiles(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "profiles", tmp_path / "profiles")
    return tmp_path / "profiles"


def test_junit_for_a_listing_is_refused_before_it_runs(
    profiles: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["render", "--all", "--format", "junit", "--profiles", str(profiles)]
    assert main(argv) == ExitCode.BAD_INPUT
    assert "--format junit" in one_line(capsys)
    assert not (profiles.parent / "dockerfiles").exists()


@pytest.mark.parametrize("fmt", ["table", "json", "markdown"])
def test_a_listing_goes_to_output_in_every_format_it_has(
    fmt: str, profiles: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = profiles.parent / "out" / f"render.{fmt}"
    argv = ["render", "cpu", "--format", fmt, "--output", str(output), "--profiles", str(profiles)]
    assert main(argv) == ExitCode.PASSED
    assert "report written to" in capsys.readouterr().out
    text = output.read_text()
    if fmt == "json":
        assert json.loads(text)["dockerfiles"][0]["profile"] == "cpu"
    else:
        assert "dockerfiles/cpu.Dockerfile" in text


def finding(status: Status) -> Finding:
    return Finding(
        tier=1, check="pin", subject="torch", status=status, expected="1", actual="1", evidence=""
    )


def test_show_renders_findings_in_every_format() -> None:
    result = report.Result(
        subject="s", code=ExitCode.PASSED, findings=(finding(Status.OK),), extra={"k": "v"}
    )
    for fmt in report.FORMATS:
        assert report.show(result, fmt) == report.render("s", result.findings or (), fmt, k="v")


def test_show_renders_a_listing_and_refuses_junit() -> None:
    listing = report.Result(
        subject="lock", code=ExitCode.PASSED, document=[{"a": 1}], lines=("one", "two")
    )
    assert report.show(listing, "table") == "one\ntwo"
    assert json.loads(report.show(listing, "json")) == [{"a": 1}]
    assert "- one" in report.show(listing, "markdown")
    with pytest.raises(UsageError):
        report.show(listing, "junit")
    grid = report.Result(subject="t", code=ExitCode.PASSED, rows=({"x": "1"},), notes=("n",))
    assert report.show(grid, "table").splitlines()[-2:] == ["n", "t"]
