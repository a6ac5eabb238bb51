"""What `propose` and `bisect` cost here: wall time and the venvs they build.

    python tests/benchmarks/bench_propose.py

1. `imagegate propose cpu accelerate numpy peft transformers`: each candidate static first,
   deep (a trial venv with torch) only for what passed static.
2. `bisect cpu` over 8 changes with one culprit: a bad closure made of the shipped cpu lock
   and 8 changes taken from a lock of the same pins upgraded, with accelerate and peft bumped
   and six and tabulate added (numpy 2.0.2 among them: it breaks cpu's numpy<2 invariant;
   the other 7 are harmless).
Both in a fresh copy of the project: the trial wheel pool starts empty (uv's own cache is
whatever this machine has), so the figures include fetching the candidates' wheels.
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from imagegate import bisect, progress, resolver
from imagegate.lock import Lock
from imagegate.profiles import load_profile
from imagegate.project import Project

ROOT = Path(__file__).resolve().parents[2]
LIGHT = ("accelerate", "numpy", "peft", "transformers")
UPGRADED = 'extends: cpu\npins:\n  numpy: "2.0.2"\n  accelerate: "1.15.0"\n  peft: "0.21.2"\n'
UPGRADED += '  six: "1.17.0"\n  tabulate: "0.9.0"\n'
KEPT_BACK = ("transformers", "tokenizers", "huggingface-hub")
"""Not among the harmless bumps: a newer transformers needs the others with it."""
CULPRIT = "numpy"
HARMLESS = 7


def _propose(project: Path) -> tuple[float, dict[str, object]]:
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "imagegate", "propose", "cpu", *LIGHT, "--format", "json", "-q"],
        cwd=project, capture_output=True, text=True, check=False,
    )  # fmt: skip
    return time.monotonic() - started, json.loads(done.stdout)


def _bad_lock(project: Path) -> tuple[Lock, Lock]:
    profiles = project / "profiles"
    (profiles / "cpu-upgraded.yaml").write_text(UPGRADED)
    upgraded = resolver.relock(load_profile("cpu-upgraded", profiles), upgrade=True)
    good = Lock.read(profiles / "pylock.cpu.toml")
    found = bisect.changes(good, upgraded)
    harmless = [
        c.package for c in found if c.package != CULPRIT and c.package not in KEPT_BACK and c.bad
    ]
    chosen = {CULPRIT, *harmless[:HARMLESS]}
    return good, replace(good, packages=bisect.mix(good, upgraded, chosen))


def main() -> None:
    progress.configure(quiet=True)
    with tempfile.TemporaryDirectory(prefix="bench-propose-") as folder:
        project = Path(folder)
        shutil.copytree(ROOT / "profiles", project / "profiles")
        seconds, document = _propose(project)
        print(
            f"propose cpu {' '.join(LIGHT)}: {seconds:.1f} s, {document['venvs']} venvs, "
            f"{document['proven']} of {len(document['candidates'])} candidates proven"  # type: ignore[arg-type]
        )
        good, bad = _bad_lock(project)
        profile = load_profile("cpu", project / "profiles")
        started = time.monotonic()
        found = bisect.bisect(profile, Project.from_profiles(project / "profiles"), good, bad)
        seconds = time.monotonic() - started
        n, skipped = len(found.changes), len(found.rounds) - found.venvs
        print(
            f"bisect cpu over {n} changes: {seconds:.1f} s, {found.venvs} venvs "
            f"(log2(N)+2 = {math.ceil(math.log2(n)) + 2}), "
            f"{skipped} mixes skipped, culprits: {', '.join(found.culprits)}"
        )


if __name__ == "__main__":
    main()
