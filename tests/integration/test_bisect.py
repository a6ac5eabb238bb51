"""bisect between the shipped lock and a batch of bumps with a real runtime break."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from .conftest import ROOT, imagegate

FREE = "extends: cpu\ninvariants:\n  numpy: null\n"
"""cpu without its numpy<2 invariant: numpy 2 alone is no break, only beside pandas 2.0.3."""
BUMPED = 'extends: cpu-free\npins:\n  pandas: "2.0.3"\n  numpy: "2.0.2"\n  accelerate: "1.15.0"\n'


def _ours() -> set[str]:
    root = Path(tempfile.gettempdir())
    return {p.name for kind in ("venv", "trial") for p in root.glob(f"imagegate-{kind}-*")}


def test_bisect_names_the_pair_that_breaks_only_together_and_leaves_no_venv(
    tmp_path: Path,
) -> None:
    shutil.copytree(ROOT / "profiles", tmp_path / "profiles")
    profiles = tmp_path / "profiles"
    (profiles / "cpu-free.yaml").write_text(FREE)
    (profiles / "cpu-bumped.yaml").write_text(BUMPED)
    shutil.copy(profiles / "pylock.cpu.toml", profiles / "pylock.cpu-bumped.toml")  # kept versions
    assert imagegate("lock", "cpu-bumped", cwd=tmp_path).code == 0
    before = _ours()

    run = imagegate(
        "bisect", "cpu-free", "--good", "profiles/pylock.cpu.toml",
        "--bad", "profiles/pylock.cpu-bumped.toml", "--format", "json", cwd=tmp_path,
    )  # fmt: skip

    assert run.code == 0, run.stderr[-3000:]
    document = run.json()
    assert len(document["changes"]) >= 4  # accelerate, numpy, pandas and what pandas adds
    assert sorted(document["culprits"]) == ["numpy", "pandas"]
    assert "pandas" in document["evidence"]
    assert not {"numpy", "pandas"} <= set(document["last_good"] or [])  # the last good mix
    outcomes = [r["outcome"] for r in document["rounds"]]
    assert outcomes[0] == "fails" and "passes" in outcomes
    assert document["venvs"] == sum(o != "skipped" for o in outcomes)
    assert _ours() <= before  # every venv and trial folder it made is gone
