"""Build timings of the `cpu` image, printed side by side in one run.

    python tests/benchmarks/bench_build.py        (or: make bench)

1. cold: the build cache pruned, `imagegate build cpu` from a warm wheelhouse;
2. rebuild after bumping one light pin (accelerate 1.6.0 -> 1.7.0): the protected torch
   layer must come from the cache, and torch must not be installed again.
It prunes the engine's build cache (images are kept), so run it on a machine you own.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from imagegate.engine import Engine

ROOT = Path(__file__).resolve().parents[2]


def imagegate(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "imagegate", *args, "--profiles", str(project / "profiles")]
    return subprocess.run(command, capture_output=True, text=True, check=False)


def build(project: Path, tag: str) -> tuple[float, float, list[str]]:
    """Wall seconds of `imagegate build`, seconds of its docker build step, the build log."""
    started = time.monotonic()
    done = imagegate(project, "build", "cpu", "--tag", tag, "--format", "json")
    seconds = time.monotonic() - started
    if done.returncode != 0:
        sys.exit(
            f"bench: the build of {tag} failed (exit {done.returncode}):\n{done.stderr[-2000:]}"
        )
    log = [line for line in done.stderr.splitlines() if line.startswith("  build: #")]
    return seconds, float(json.loads(done.stdout)["seconds"]["build"]), log


def torch_layer(log: list[str]) -> str:
    [step] = [line.split()[1] for line in log if "source=wheelhouse/cpu/protected" in line]
    if f"  build: {step} CACHED" in log:
        return "cached"
    return "REBUILT"


def main() -> int:
    engine = Engine()
    with tempfile.TemporaryDirectory(prefix="imagegate-bench-") as scratch:
        project = Path(scratch)
        shutil.copytree(ROOT / "profiles", project / "profiles")
        if imagegate(project, "wheelhouse", "cpu").returncode != 0:  # cold build, warm wheels
            sys.exit("bench: `imagegate wheelhouse cpu` failed")
        engine.prune_build_cache()
        cold, cold_step, _ = build(project, "imagegate-bench/cpu:cold")
        common = project / "profiles" / "_common.yaml"
        common.write_text(common.read_text().replace('accelerate: "1.6.0"', 'accelerate: "1.7.0"'))
        rebuild, rebuild_step, log = build(project, "imagegate-bench/cpu:bumped")
    torch_installs = [line for line in log if "Processing /wheels/" in line and "/torch-" in line]
    rows = [
        ("cold (build cache pruned)", cold, cold_step),
        ("rebuild after accelerate 1.6.0 -> 1.7.0", rebuild, rebuild_step),
    ]
    print(f"{'imagegate build cpu':<42}{'wall s':>8}{'ratio':>7}{'docker build s':>16}{'ratio':>7}")
    for label, wall, step in rows:
        print(f"{label:<42}{wall:>8.1f}{wall / cold:>7.2f}{step:>16.1f}{step / cold_step:>7.2f}")
    print(
        f"torch layer on rebuild: {torch_layer(log)}; torch wheels installed: {len(torch_installs)}"
    )
    for ref in ("imagegate-bench/cpu:cold", "imagegate-bench/cpu:bumped"):
        engine.remove_image(ref)
    return 0 if torch_layer(log) == "cached" and not torch_installs else 1


if __name__ == "__main__":
    sys.exit(main())
