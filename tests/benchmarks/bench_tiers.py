"""The smoke tiers' cost on the `cpu` image, printed side by side in one run.

    python tests/benchmarks/bench_tiers.py [IMAGE] [--profile NAME] [--before DIR]
    (default imagegate/cpu:latest and cpu; make bench)

- tiers 1-2 (every distribution's metadata, every probe and every top-level module, each
  failure isolated) against the floor: one bare `python -c "import <the same modules>"`
  in a container from the same image. Both include the container's start.
- within tiers 1-2, what judging the code Python runs costs: the installed files hashed
  against their RECORD (in a thread of its own, overlapping tier 2) and each module's
  origin checked after its import; and the files check alone in a container of its own.
- with --before DIR (smoke scripts of an earlier revision, e.g. from
  `git archive REV smoke_tests | tar -x -C DIR`): tiers 1-2 with those scripts too.
- tier 3 (tiny gpt2 and llama built, saved, loaded, run, LoRA-wrapped) on the same image,
  alone, and tiers 1-3 in one container with tier 3 beside tiers 1-2 (as `verify` runs them).
Best of three runs each; and then, median (min-max) of three:
- a fresh verification of the unchanged image (`imagegate verify --fresh`, the CLI as a
  person runs it: tiers 1-3, nothing reused) against the bare-import floor
  `python -c "import torch, transformers, peft, accelerate"` in a container from the same
  image, and the mark (≤ 1.5x).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from imagegate.contract import ENTRY, RUN_DIR, VENV_PYTHON
from imagegate.engine import Engine
from imagegate.executors import Container
from imagegate.facts import Facts
from imagegate.profiles import load_profile
from imagegate.scripts import OFFLINE, collector_args, scripts_dir
from imagegate.smoke import collect, collect_all, collect_models

ROOT = Path(__file__).resolve().parents[2]
RUNS = 3


def best(action: Callable[[], object]) -> float:
    times = []
    for _ in range(RUNS):
        started = time.monotonic()
        action()
        times.append(time.monotonic() - started)
    return min(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("image", nargs="?", default="imagegate/cpu:latest")
    parser.add_argument("--profile", default="cpu")
    parser.add_argument("--before", type=Path, metavar="DIR", help="earlier smoke scripts")
    args = parser.parse_args()
    image = args.image
    engine = Engine()
    if engine.image(image) is None:
        sys.exit(f"bench: no image {image}; run `imagegate build {args.profile}` first")
    profile = load_profile(args.profile, ROOT / "profiles")
    container = Container(engine, image, VENV_PYTHON)
    facts = collect(container, profile)
    modules = [item.subject for item in facts.items if item.kind == "module" and item.ok]
    # setuptools must come before anything that imports distutils (tier 2 isolates it)
    modules.sort(key=lambda name: name != "setuptools")
    floor_code = f"import {', '.join(modules)}"

    def run(command: list[str], scripts: Path | None = None) -> str:
        files = {} if scripts is None else {RUN_DIR: scripts}
        ran = engine.run(image, command, files=files, timeout=900, environment=OFFLINE)
        assert ran.returncode == 0, ran.errors[-2000:]
        return ran.output

    collector = [VENV_PYTHON, f"{RUN_DIR}/{ENTRY}", *collector_args(profile), "--quiet"]
    check_files = f"import sys; sys.path.insert(0, {RUN_DIR!r}); import tier1_files as t; t.check()"
    timed: list[Facts] = []

    def tiers() -> None:
        timed.append(Facts.from_json(run(collector, scripts_dir()), source=image))

    rows = [
        (
            f"floor: python -c import {len(modules)} modules",
            best(lambda: run([VENV_PYTHON, "-c", floor_code])),
        )
    ]
    rows.append(("tiers 1-2 (collect.py)", best(tiers)))
    files = min(f.files.seconds for f in timed if f.files is not None)
    origin = min(sum(i.origin.seconds for i in f.items if i.origin) for f in timed)
    checked = timed[0].files
    count = f"{checked.files} files" if checked is not None else "no files"
    rows.append((f"  of which: RECORD hashes, {count} (overlapped)", files))
    rows.append(("  of which: module origins (after each import)", origin))
    alone = best(lambda: run([VENV_PYTHON, "-c", check_files], scripts_dir()))
    rows.append(("RECORD hashes alone (own container)", alone))
    if args.before is not None:
        rows.append(("tiers 1-2 with --before scripts", best(lambda: run(collector, args.before))))
    rows.append(
        (
            "tier 3 (gpt2 + llama, CPU)",
            best(lambda: collect_models(container, profile, require_gpu=False)),
        )
    )
    rows.append(
        (
            "tiers 1-3, tier 3 beside 1-2 (collect_all)",
            best(lambda: collect_all(container, profile, require_gpu=False)[1].read()),
        )
    )
    bare = rows[0][1]
    print(f"{'on ' + image:<52}{'seconds':>9}{'ratio':>8}")
    for label, seconds in rows:
        print(f"{label:<52}{seconds:>9.2f}{seconds / bare:>8.2f}")
    floor = samples(lambda: run([VENV_PYTHON, "-c", FLOOR]))
    with tempfile.TemporaryDirectory(prefix="imagegate-bench-") as scratch:
        shutil.copytree(ROOT / "profiles", Path(scratch) / "profiles")
        verify = [sys.executable, "-m", "imagegate", "verify", args.profile, "--image", image]
        verify += ["--fresh", "--profiles", f"{scratch}/profiles"]
        fresh = samples(
            lambda: subprocess.run(verify, capture_output=True, check=True, cwd=scratch)
        )
    ratio = statistics.median(fresh) / statistics.median(floor)
    met = "met" if ratio <= MARK else "MISSED"
    print(f"\n{'median (min-max) of 3':<52}{'seconds':>18}")
    print(f"{'floor: python -c ' + repr(FLOOR):<52}{spread(floor):>18}")
    print(
        f"{'imagegate verify --fresh (tiers 1-3)':<52}{spread(fresh):>18}{ratio:>7.2f}x   "
        f"mark ≤ {MARK:g}x: {met}"
    )
    return 0


FLOOR = "import torch, transformers, peft, accelerate"
MARK = 1.5


def samples(action: Callable[[], object]) -> list[float]:
    times = []
    for _ in range(RUNS):
        started = time.monotonic()
        action()
        times.append(time.monotonic() - started)
    return times


def spread(times: list[float]) -> str:
    return f"{statistics.median(times):.2f} ({min(times):.2f}-{max(times):.2f})"


if __name__ == "__main__":
    sys.exit(main())
