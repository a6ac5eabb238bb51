"""Bad input, as a person types it, gets one line and exit 2: never a traceback.

No Docker: every case is refused (or answered) before an engine is needed.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import Run, findings, imagegate

KNOWN = "known: cpu, cuda121, cuda124, cuda128, cuda130, rocm57"

EVERY_COMMAND = {
    "check": [],
    "render": [],
    "lock": [],
    "wheelhouse": [],
    "constraints": [],
    "doctor": [],
    "repair": [],
    "base": [],
    "build": [],
    "verify": [],
    "gate": ["--push", "127.0.0.1:9/never:pushed"],
}


def one_line(run: Run, prefix: str = "imagegate: error: ") -> str:
    assert "Traceback" not in run.stderr, run.stderr
    lines = [line for line in run.stderr.splitlines() if not line.startswith("==> ")]
    assert len(lines) == 1, run.stderr
    assert lines[0].startswith(prefix), lines[0]
    return lines[0]


def only_cpu(project: Path) -> Path:
    """The project with cpu (and what it extends) as its only profile: checked in seconds."""
    profiles = project / "profiles"
    for path in profiles.glob("*.yaml"):
        if path.stem not in ("cpu", "_common"):
            path.unlink()
    return profiles


# --- a profile is named by its name, or by the path of its file in the profiles folder --


@pytest.mark.parametrize("command", sorted(EVERY_COMMAND))
def test_a_path_outside_the_profiles_folder_is_refused_by_every_command(
    project: Path, command: str
) -> None:
    (project / "elsewhere").mkdir()
    (project / "elsewhere" / "cpu.yaml").write_bytes((project / "profiles/cpu.yaml").read_bytes())
    before = sorted(p.relative_to(project) for p in project.rglob("*"))

    for value in ("elsewhere/cpu.yaml", "./cpu", "../profiles/cpu"):
        run = imagegate(command, value, *EVERY_COMMAND[command], cwd=project)
        assert run.code == 2, run.stderr
        line = one_line(run)
        assert f"'{value}': not a profile in profiles ({KNOWN})" in line

    assert sorted(p.relative_to(project) for p in project.rglob("*")) == before


def test_a_path_to_a_profile_file_is_that_profile(project: Path) -> None:
    by_name = imagegate("constraints", "cpu", cwd=project)
    assert by_name.code == 0, by_name.stderr
    for value in ("profiles/cpu.yaml", "profiles/cpu", "cpu.yaml", str(project / "profiles/cpu")):
        run = imagegate("constraints", value, cwd=project)
        assert (run.code, run.stdout) == (0, by_name.stdout), run.stderr
    inside = imagegate(
        "constraints", "../profiles/cpu", "--profiles", ".", cwd=project / "profiles"
    )
    assert (inside.code, inside.stdout) == (0, by_name.stdout), inside.stderr

    rendered = imagegate("render", "profiles/cpu.yaml", cwd=project)
    assert rendered.code == 0, rendered.stderr
    assert [p.name for p in (project / "dockerfiles").glob("*.Dockerfile")] == ["cpu.Dockerfile"]


def test_a_profile_named_twice_is_checked_once(project: Path) -> None:
    profiles = only_cpu(project)
    once = imagegate("check", "cpu", "--format", "json", "--profiles", str(profiles))
    run = imagegate("check", "cpu", "cpu", "profiles/cpu.yaml", "--format", "json", cwd=project)
    assert (once.code, run.code) == (0, 0), run.stderr
    subjects = [row["subject"] for row in run.json()["findings"]]
    assert subjects == [row["subject"] for row in once.json()["findings"]]
    assert subjects.count("cpu: cpu.yaml") == 1


# --- a bad profile file says what is wrong with it, and spoils only itself --------------


def test_a_profile_that_is_not_utf8_spoils_only_itself(project: Path) -> None:
    profiles = only_cpu(project)
    latin1 = profiles / "latin1.yaml"
    latin1.write_bytes(b"extends: cpu\ndescription: caf\xe9 au lait\n")

    matrix = imagegate("matrix", "--profiles", str(profiles))
    assert matrix.code == 2
    assert [entry["profile"] for entry in matrix.json()["include"]] == ["cpu"]
    assert one_line(matrix).startswith(f"imagegate: error: {latin1}: line 2, byte 29 (0xe9)")

    check = imagegate("check", "--all", "--format", "json", "--profiles", str(profiles))
    assert check.code == 2
    rows = findings(check.json())
    assert rows[("profile", "latin1: latin1.yaml")]["status"] == "BROKEN"
    assert str(latin1) in rows[("profile", "latin1: latin1.yaml")]["evidence"]
    assert rows[("profile", "cpu: cpu.yaml")]["status"] == "OK"
    assert rows[("pin", "cpu: torch")]["status"] == "OK"
    assert one_line(check).startswith(f"imagegate: error: {latin1}: ")


def test_an_empty_profile_says_it_is_empty(project: Path) -> None:
    (project / "profiles" / "empty.yaml").write_text("\n")
    run = imagegate("check", "empty", "--profiles", str(project / "profiles"))
    assert run.code == 2
    line = one_line(run)
    assert line.startswith(
        f"imagegate: error: {project / 'profiles/empty.yaml'}: the file is empty"
    )


def test_a_version_read_as_a_number_is_quoted_as_written(project: Path) -> None:
    (project / "profiles" / "old.yaml").write_text("extends: cpu\npins:\n  numpy: 1.20\n")
    run = imagegate("render", "old", "--profiles", str(project / "profiles"))
    assert run.code == 2
    assert 'pins.numpy: 1.20 is a number in YAML; quote it ("1.20")' in one_line(run)


# --- reports reach stdout whatever else can't be written --------------------------------


def test_an_output_that_is_a_directory_still_prints_the_report(project: Path) -> None:
    profiles = only_cpu(project)
    reports = project / "reports"
    reports.mkdir()
    run = imagegate(
        "check", "cpu", "--format", "json", "--output", str(reports), "--profiles", str(profiles)
    )
    assert run.code == 2
    assert run.json()["passed"] is True
    assert f"--output {reports}: " in one_line(run)
    assert list(reports.iterdir()) == []


def test_a_step_summary_that_cannot_be_appended_is_a_warning(project: Path) -> None:
    profiles = only_cpu(project)
    summary = project / "missing" / "summary.md"
    run = imagegate(
        "check",
        "cpu",
        "--format",
        "json",
        "--profiles",
        str(profiles),
        env={"GITHUB_STEP_SUMMARY": str(summary)},
    )
    assert run.code == 0
    assert run.json()["passed"] is True
    assert str(summary) in one_line(run, prefix="imagegate: warning: ")
    assert not summary.parent.exists()


# --- an interpreter that can't run, a pip configuration that can't be read --------------


@pytest.mark.parametrize("command", ["doctor", "repair"])
def test_python_that_is_a_directory_or_not_executable(project: Path, command: str) -> None:
    script = project / "python"
    script.write_text("#!/bin/sh\nexit 0\n")
    script.chmod(0o644)
    for python in (script, project):
        run = imagegate(
            command, "cpu", "--python", str(python), "--profiles", str(project / "profiles")
        )
        assert run.code == 2
        assert f"--python {python}: " in one_line(run)


def test_a_malformed_pip_configuration_names_the_file(project: Path, tmp_path: Path) -> None:
    config = tmp_path / "pip.conf"
    config.write_text("index-url = https://example.invalid/simple\n")
    pylock = project / "profiles" / "pylock.cpu.toml"
    before = pylock.read_bytes()
    run = imagegate(
        "lock", "cpu", "--profiles", str(project / "profiles"), env={"PIP_CONFIG_FILE": str(config)}
    )
    assert run.code == 2
    assert one_line(run).startswith(f"imagegate: error: {config}: line 1: ")
    assert pylock.read_bytes() == before
