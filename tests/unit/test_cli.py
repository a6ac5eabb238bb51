"""The CLI maps outcomes to exit codes and shows an error as one line, without a traceback."""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import pytest

from imagegate.cli import build_parser, main

SHIPPED = Path(__file__).resolve().parents[2] / "profiles"


@pytest.fixture
def profiles(tmp_path: Path) -> Path:
    shutil.copytree(SHIPPED, tmp_path / "profiles")
    return tmp_path / "profiles"


def one_error_line(capsys: pytest.CaptureFixture[str], err: str | None = None) -> str:
    err = capsys.readouterr().err if err is None else err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    assert lines[0].startswith("imagegate: error: ")
    return lines[0]


@pytest.mark.parametrize("command", ["build", "verify"])
def test_an_unknown_profile_exits_2(
    command: str, profiles: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([command, "cuda999", "--profiles", str(profiles)]) == 2
    line = one_error_line(capsys)
    assert "no profile 'cuda999'" in line and "cpu" in line


def test_a_malformed_profile_exits_2_naming_file_and_line(
    profiles: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (profiles / "cpu.yaml").write_text("pins:\n  torch: [unclosed\n")
    assert main(["render", "cpu", "--profiles", str(profiles)]) == 2
    line = one_error_line(capsys)
    assert f"{profiles / 'cpu.yaml'}: line " in line and "malformed YAML" in line


def test_a_bad_pin_exits_2_naming_the_key(
    profiles: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = (profiles / "cpu.yaml").read_text().replace('"2.13.0+cpu"', '"2.13,0"')
    (profiles / "cpu.yaml").write_text(text)
    assert main(["build", "cpu", "--profiles", str(profiles)]) == 2
    assert f"{profiles / 'cpu.yaml'}: pins.torch: '2.13,0' is not a valid version" in (
        one_error_line(capsys)
    )


def test_debug_shows_the_traceback(profiles: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["render", "nope", "--profiles", str(profiles), "--debug"]) == 2
    assert "Traceback" in capsys.readouterr().err


def test_names_and_all_together_is_bad_input(
    profiles: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["render", "cpu", "--all", "--profiles", str(profiles)]) == 2
    assert "--all" in one_error_line(capsys)


def test_render_check_fails_on_a_stale_dockerfile_and_passes_once_rendered(
    profiles: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["render", "--all", "--check", "--profiles", str(profiles)]) == 1
    assert "STALE" in capsys.readouterr().out
    assert main(["render", "--all", "--profiles", str(profiles)]) == 0
    assert main(["render", "--all", "--check", "--profiles", str(profiles)]) == 0
    cpu = profiles / "cpu.yaml"
    cpu.write_text(cpu.read_text().replace("CPU only.", "CPU only, described anew."))
    capsys.readouterr()
    assert main(["render", "--all", "--check", "--profiles", str(profiles)]) == 1
    stale = [line for line in capsys.readouterr().out.splitlines() if "STALE" in line]
    assert stale == ["dockerfiles/cpu.Dockerfile: STALE: run `imagegate render cpu`"]


def test_render_check_reports_a_lock_the_profile_no_longer_matches(
    profiles: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["render", "--all", "--profiles", str(profiles)]) == 0
    common = profiles / "_common.yaml"
    common.write_text(common.read_text().replace('"4.51.3"', '"4.51.2"'))
    capsys.readouterr()
    assert main(["render", "--all", "--check", "--profiles", str(profiles)]) == 1
    stale = [line for line in capsys.readouterr().out.splitlines() if "STALE lock" in line]
    locked = sorted(p.name for p in profiles.glob("pylock.*.toml"))
    assert locked, "the shipped profiles have locks"
    assert len(stale) == len(locked)
    assert all("run `imagegate lock " in line for line in stale)


def test_the_committed_dockerfiles_are_fresh(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["render", "--all", "--check", "--profiles", str(SHIPPED)]) == 0


def test_help_explains_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["build", "--help"])
    assert exited.value.code == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "--base-image" in out and "3 environment problem" in out


MINIMAL = {
    "render": ["--all"],
    "lock": ["--all"],
    "check": ["--all"],
    "doctor": ["cpu"],
    "repair": ["cpu"],
    "detect": [],
    "matrix": [],
    "schema": [],
    "constraints": ["cpu"],
    "wheelhouse": ["--all"],
    "base": [],
    "build": ["cpu"],
    "gate": ["cpu", "--push", "127.0.0.1:5000/x:y"],
    "verify": ["cpu"],
}
HONOURS_FORMAT = {
    "render",
    "lock",
    "check",
    "doctor",
    "detect",
    "wheelhouse",
    "build",
    "gate",
    "verify",
}


@pytest.mark.parametrize("command", sorted(MINIMAL))
def test_each_command_has_its_own_handler(command: str) -> None:
    args = build_parser().parse_args([command, *MINIMAL[command]])
    others = {
        build_parser().parse_args([other, *rest]).handler
        for other, rest in MINIMAL.items()
        if other != command
    }
    assert callable(args.handler)
    assert args.handler not in others


@pytest.mark.parametrize("command", sorted(MINIMAL))
def test_format_is_offered_only_where_it_is_honoured(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [command, *MINIMAL[command], "--format", "json"]
    if command in HONOURS_FORMAT:
        assert build_parser().parse_args(argv).format == "json"
        return
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(argv)
    assert exited.value.code == 2
    assert "--format" in capsys.readouterr().err


def test_matrix_names_a_bad_profile_and_still_lists_the_others(
    profiles: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (profiles / "latin1.yaml").write_bytes(b"extends: cpu\ndescription: caf\xe9\n")
    assert main(["matrix", "--profiles", str(profiles)]) == 2
    captured = capsys.readouterr()
    listed = [entry["profile"] for entry in json.loads(captured.out)["include"]]
    assert "cpu" in listed and "latin1" not in listed
    line = one_error_line(capsys, captured.err)
    assert line.startswith(f"imagegate: error: {profiles / 'latin1.yaml'}: line 2, byte ")


def test_check_reports_an_unloadable_profile_as_broken(
    profiles: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (profiles / "empty.yaml").write_text("")
    assert main(["check", "empty", "empty", "--format", "json", "--profiles", str(profiles)]) == 2
    captured = capsys.readouterr()
    rows = json.loads(captured.out)["findings"]
    assert [(r["check"], r["subject"], r["status"]) for r in rows] == [
        ("profile", "empty: empty.yaml", "BROKEN")
    ]
    assert "the file is empty" in one_error_line(capsys, captured.err)


@pytest.mark.parametrize("command", ["doctor", "repair"])
@pytest.mark.parametrize("kind", ["directory", "not executable", "missing"])
def test_python_that_cannot_run_is_one_line_of_bad_input(
    command: str, kind: str, profiles: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    python = tmp_path / "venv"
    if kind == "directory":
        python.mkdir()
    elif kind == "not executable":
        python.write_text("#!/bin/sh\n")
        python.chmod(0o644)
    assert main([command, "cpu", "--python", str(python), "--profiles", str(profiles)]) == 2
    assert f"--python {python}: " in one_error_line(capsys)


# --- global flags, help ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["-q", "--format", "json", "--profiles", "elsewhere", "--debug", "check", "--all"],
        ["check", "--all", "-q", "--format", "json", "--profiles", "elsewhere", "--debug"],
        ["--quiet", "--profiles", "elsewhere", "check", "--all", "--format", "json", "--debug"],
    ],
)
def test_global_flags_work_before_or_after_the_command(argv: list[str]) -> None:
    args = build_parser().parse_args(argv)
    assert (args.quiet, args.verbose, args.format) == (True, False, "json")
    assert (args.profiles, args.debug, args.output) == (Path("elsewhere"), True, None)


def test_global_flags_take_their_defaults_when_given_nowhere() -> None:
    args = build_parser().parse_args(["check", "--all"])
    assert (args.quiet, args.verbose, args.format, args.profiles) == (
        False,
        False,
        "table",
        Path("profiles"),
    )


@pytest.mark.parametrize(
    "argv",
    [["--format", "json", "matrix"], ["-q", "check", "--all", "-v"], ["-v", "-q", "detect"]],
)
def test_a_global_flag_the_command_refuses_is_one_line_of_bad_input(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    one_error_line(capsys)


def test_every_argument_has_help_and_every_command_an_example(
    profiles: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    parser = build_parser()
    (subparsers,) = (a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, sub in [("imagegate", parser), *subparsers.choices.items()]:
        for action in sub._actions:
            assert action.help and action.help != argparse.SUPPRESS, (name, action.dest)
    for name in subparsers.choices:
        with pytest.raises(SystemExit):
            main([name, "--help", "--profiles", str(profiles)])
        out = capsys.readouterr().out.rstrip()
        assert out.splitlines()[-2:][0] == "example:", name
        assert out.splitlines()[-1].startswith("  imagegate "), name


def test_the_profile_help_lists_the_profiles_of_the_folder(
    profiles: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (profiles / "mine.yaml").write_text((profiles / "cpu.yaml").read_text())
    with pytest.raises(SystemExit):
        main(["--profiles", str(profiles), "verify", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "here: cpu, " in out and ", mine" in out and "_common" not in out
