"""Preflight and locks against the real resolver (uv) and real indexes: fast, exact, clear."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import Run, findings, imagegate
from .test_broken_stack import VARIANT


def variant(project: Path, name: str, text: str) -> str:
    (project / "profiles" / f"{name}.yaml").write_text(text)
    return str(project / "profiles")


def check(profiles: str, *args: str) -> Run:
    return imagegate("check", *args, "--format", "json", "--profiles", profiles)


def test_check_all_passes_on_the_shipped_profiles() -> None:
    run = imagegate("check", "--all", "--format", "json")
    assert run.code == 0, run.stdout[-3000:]
    rows = findings(run.json())
    assert rows[("pin", "cpu: torch")]["actual"] == "2.13.0+cpu"
    assert rows[("lock", "cuda130: pylock.cuda130.toml")]["status"] == "OK"
    unreachable = rows[("lock", "cuda121: pylock.cuda121.toml")]
    assert unreachable["status"] == "SKIPPED"
    assert "pytorch-cu121" in unreachable["evidence"]


def test_a_conflicting_pin_is_rejected_with_the_clash(project: Path) -> None:
    profiles = variant(project, "clash", 'extends: cpu\npins:\n  tokenizers: "0.19.0"\n')
    run = check(profiles, "clash")
    assert run.code == 1
    row = findings(run.json())[("resolve", "clash: pins")]
    assert row["status"] == "BROKEN"
    assert "transformers==4.51.3 depends on tokenizers>=0.21,<0.22" in row["evidence"]
    assert "tokenizers==0.19.0" in row["evidence"]


def test_numpy_2_pulled_by_a_dependency_breaks_the_invariant(project: Path) -> None:
    profiles = variant(project, "floating", "extends: cpu\npins:\n  numpy: null\n")
    run = check(profiles, "floating")
    assert run.code == 1
    row = findings(run.json())[("invariant", "floating: numpy")]
    assert row["status"] == "WRONG VERSION"
    assert row["expected"] == "<2" and row["actual"].startswith("2.")


def test_a_known_issue_in_the_closure_is_reported(project: Path) -> None:
    profiles = variant(project, "pandas-numpy2", VARIANT)
    run = check(profiles, "pandas-numpy2")
    assert run.code == 1
    row = findings(run.json())[("known-issue", "pandas-numpy2: pandas-built-for-numpy1")]
    assert row["status"] == "BROKEN"
    assert "numpy.dtype size changed" in row["evidence"]


def test_check_deep_catches_the_runtime_break_in_a_venv(project: Path) -> None:
    profiles = variant(project, "pandas-numpy2", VARIANT)
    run = check(profiles, "pandas-numpy2", "--deep")
    assert run.code == 1, run.stderr[-2000:]
    rows = findings(run.json())
    pandas = rows[("import", "pandas-numpy2: pandas")]
    assert pandas["tier"] == 2 and pandas["status"] == "BROKEN"
    assert "numpy.dtype size changed" in pandas["evidence"]
    assert rows[("pin", "pandas-numpy2: torch")]["actual"] == "2.13.0+cpu"
    assert rows[("import", "pandas-numpy2: transformers")]["status"] == "OK"


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("ghost", 'extends: cpu\npins:\n  peft: "0.13.99"\n', "pins.peft: peft==0.13.99"),
        (
            "old-python",
            'extends: cpu\ntarget:\n  python: "3.8"\npins:\n  torch: null\nprotected: []\n',
            "Python version (>=3.8) does not satisfy Python>=3.9.0 and accelerate==1.6.0",
        ),
    ],
)
def test_lock_refuses_bad_pins_and_keeps_the_previous_lock(
    project: Path, name: str, text: str, expected: str
) -> None:
    profiles = variant(project, name, text)
    lock = project / "profiles" / f"pylock.{name}.toml"
    lock.write_text("# the previous lock\n")

    run = imagegate("lock", name, "--profiles", profiles)

    assert run.code == 2, run.stderr[-2000:]
    last = run.stderr.strip().splitlines()[-1]
    assert str(project / "profiles" / f"{name}.yaml") in last
    assert expected in last
    assert lock.read_text() == "# the previous lock\n"


def test_lock_names_the_index_it_cannot_reach(project: Path) -> None:
    run = imagegate("lock", "cuda121", "--profiles", str(project / "profiles"))
    assert run.code == 3
    last = run.stderr.strip().splitlines()[-1]
    assert "pytorch-cu121" in last and "cannot be reached" in last
    assert not (project / "profiles" / "pylock.cuda121.toml").exists()
