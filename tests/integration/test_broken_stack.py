"""A real runtime-only break must fail the build: pandas 2.0.3 was compiled against numpy 1."""

from __future__ import annotations

from itertools import takewhile
from pathlib import Path

import pytest

from .conftest import Run, findings, imagegate

VARIANT = """\
extends: cpu
description: pandas 2.0.3 beside numpy 2.0.2 installs cleanly and fails on import
pins:
  pandas: "2.0.3"
  numpy: "2.0.2"
invariants:
  numpy: null
probes:
  imports: [torch, numpy, transformers, peft, accelerate, pandas]
"""
SYMPTOM = "numpy.dtype size changed"


@pytest.fixture
def broken_build(project: Path, base_image: str) -> Run:
    (project / "profiles" / "cpu-pandas-numpy2.yaml").write_text(VARIANT)
    return imagegate(
        "build", "cpu-pandas-numpy2", "--format", "json", "--profiles", str(project / "profiles")
    )


def test_the_build_fails_and_reports_pandas_broken(broken_build: Run) -> None:
    assert broken_build.code == 1, broken_build.stderr[-3000:]
    document = broken_build.json()
    assert document["passed"] is False
    assert document["built"] is False
    pandas = findings(document)[("import", "pandas")]
    assert pandas["status"] == "BROKEN"
    assert SYMPTOM in pandas["evidence"]
    assert "failed in its smoke step" in broken_build.stderr
    assert findings(document)[("pin", "pandas")]["status"] == "OK"  # installed as pinned


def test_verify_reports_pandas_broken_with_its_message(broken_build: Run, project: Path) -> None:
    image = broken_build.json()["image"]
    wide = {"COLUMNS": "250"}  # a terminal wide enough for the row, its evidence on one line
    run = imagegate(
        "verify",
        "cpu-pandas-numpy2",
        "--image",
        image,
        "--profiles",
        str(project / "profiles"),
        env=wide,
    )
    assert run.code == 1
    lines = run.stdout.splitlines()
    [at] = [i for i, line in enumerate(lines) if " pandas " in line and "import" in line]
    wrapped = takewhile(lambda line: line.strip() and not line[:6].strip(), lines[at + 1 :])
    cell = " ".join(" ".join([lines[at], *wrapped]).split())  # the row, its evidence wrapped
    assert "BROKEN" in lines[at]
    assert SYMPTOM in cell
