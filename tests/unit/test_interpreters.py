"""Which Python in an image is the stack's: candidates from its PATH, then the one that holds
the protected packages; none or several is the user's to name."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from imagegate.contract import INTERPRETERS
from imagegate.errors import ExitCode, UsageError
from imagegate.facts import Interpreter
from imagegate.interpreters import SEARCHED, candidates, choose
from imagegate.scripts import scripts_dir


def found(path: str, environment: str, **holds: str | None) -> Interpreter:
    return Interpreter(
        path=path, version="3.11.2", environment=environment, holds=holds, error=None
    )


def test_candidates_are_the_image_path_first_then_the_usual_places_each_once() -> None:
    looked = candidates({"PATH": "/workspace/venv/bin:/usr/local/bin/:relative:/usr/bin"})

    assert looked[:2] == ["/workspace/venv/bin/python", "/workspace/venv/bin/python3"]
    assert looked[2:4] == ["/usr/local/bin/python", "/usr/local/bin/python3"]
    assert len(looked) == len(set(looked))
    assert {path.rsplit("/", 1)[0] for path in looked} == {*SEARCHED}
    assert not any("relative" in path for path in looked)


def test_the_one_environment_holding_the_protected_packages_is_chosen() -> None:
    pythons = [
        found("/usr/bin/python3", "/usr /usr/bin/python3.11", torch=None),
        found("/workspace/venv/bin/python", "/workspace/venv /usr/bin/python3.11", torch="2.13"),
        found("/workspace/venv/bin/python3", "/workspace/venv /usr/bin/python3.11", torch="2.13"),
    ]

    assert choose("img", pythons, ["torch"]) == "/workspace/venv/bin/python"


def test_two_environments_holding_them_is_a_usage_error_naming_both() -> None:
    pythons = [
        found("/workspace/venv/bin/python", "/workspace/venv /usr/bin/python3.11", torch="2.13"),
        found("/opt/venv/bin/python", "/opt/venv /usr/bin/python3.11", torch="2.13"),
    ]

    with pytest.raises(UsageError) as caught:
        choose("img", pythons, ["torch"])

    message = str(caught.value)
    assert caught.value.exit_code is ExitCode.BAD_INPUT
    assert "\n" not in message
    assert "/workspace/venv/bin/python" in message and "/opt/venv/bin/python" in message
    assert "--image-python" in message


def test_none_holding_them_is_a_usage_error_naming_what_was_found() -> None:
    pythons = [found("/usr/bin/python3", "/usr /usr/bin/python3.11", torch=None)]

    with pytest.raises(UsageError) as caught:
        choose("img", pythons, ["torch"])

    assert "/usr/bin/python3 (3.11.2, without torch)" in str(caught.value)


def test_the_in_image_probe_reports_each_candidate_and_what_it_holds(tmp_path: Path) -> None:
    """Run for real with this Python: it holds packaging, not a made-up distribution."""
    missing = str(tmp_path / "bin" / "python")
    done = subprocess.run(
        [
            sys.executable,
            str(scripts_dir() / INTERPRETERS),
            "--want",
            "packaging",
            "--want",
            "no-such-distribution",
            sys.executable,
            missing,
        ],
        capture_output=True,
        text=True,
        check=True,
    )

    this, absent = Interpreter.list_from_json(done.stdout, source="probe")

    assert json.loads(done.stdout)["schema"] == 1
    assert this.error is None and this.holds["packaging"] is not None
    assert this.holds["no-such-distribution"] is None and not this.has_all
    assert absent.path == missing and absent.error is not None
