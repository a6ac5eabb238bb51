"""Build timings, printed side by side in one run: median (min-max) of RUNS each.

    python tests/benchmarks/bench_build.py        (or: make bench)

- unchanged re-validation of the cpu and cuda130 wheelhouses (nothing to fetch);
- a cold `imagegate build cpu` (build cache pruned, warm wheelhouse) against a hand-written
  BuildKit Dockerfile installing the same wheelhouse with no checks (a venv, two
  bind-mounted `pip install --no-index` layers), back to back from a pruned cache; and
  against the same hand-written Dockerfile installing with uv (bytecode compiled, as
  imagegate's does), so the price of the checks alone shows too;
- a rebuild after one light pin (accelerate 1.6.0 -> 1.7.0 -> 1.8.1 -> 1.9.0, each new to
  the build cache): torch's layer must be cached;
- an unchanged `imagegate build cpu`.
It prunes the engine's build cache (images are kept), so run it on a machine you own.
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from uv import find_uv_bin

from imagegate.engine import Engine

ROOT = Path(__file__).resolve().parents[2]
RUNS = 3
LIGHT = ("1.7.0", "1.8.1", "1.9.0")
"""accelerate releases for the light-pin rebuilds: each one new to the build cache."""
HAND_WRITTEN = """\
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
RUN python3 -m venv /opt/venv
RUN --mount=type=bind,source=wheelhouse/cpu/protected,target=/w \\
    /opt/venv/bin/pip install --no-index --no-deps --find-links /w -r /w/requirements.txt
RUN --mount=type=bind,source=wheelhouse/cpu/rest,target=/w \\
    /opt/venv/bin/pip install --no-index --no-deps --find-links /w -r /w/requirements.txt
"""


def imagegate(project: Path, *args: str) -> None:
    command = [sys.executable, "-m", "imagegate", *args, "--profiles", str(project / "profiles")]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"bench: imagegate {' '.join(args)} failed:\n{done.stderr[-2000:]}")


MADE: set[str] = set()
"""Every image a run made: each build of a tag leaves the one before it untagged."""


def timed(action: Callable[[], None]) -> float:
    started = time.monotonic()
    action()
    seconds = time.monotonic() - started
    for tag in ("imagegate-bench/cpu:latest", "imagegate-bench/hand:latest"):
        if (info := Engine().image(tag)) is not None:
            MADE.add(info.id)
    return seconds


HAND_WRITTEN_UV = HAND_WRITTEN.replace(
    "/opt/venv/bin/pip install",
    "/uv/uv pip install --python /opt/venv/bin/python --no-cache --compile-bytecode",
).replace("target=/w \\", "target=/w --mount=type=bind,source=uv,target=/uv \\")


def hand_written(project: Path, tag: str, text: str = HAND_WRITTEN) -> None:
    dockerfile = project / "hand.Dockerfile"
    dockerfile.write_text(text, encoding="utf-8")
    command = ["/usr/bin/docker", "build", "-q", "-f", str(dockerfile), "-t", tag]
    command += ["--build-arg", "BASE_IMAGE=imagegate-base:bookworm", str(project)]
    done = subprocess.run(
        command, capture_output=True, text=True, env={"DOCKER_BUILDKIT": "1"}, check=False
    )
    if done.returncode != 0:
        sys.exit(f"bench: the hand-written build failed:\n{done.stderr[-2000:]}")


def bump_light_pin(project: Path, version: str) -> None:
    common = project / "profiles" / "_common.yaml"
    text = common.read_text(encoding="utf-8")
    current = text.split('accelerate: "', 1)[1].split('"', 1)[0]
    common.write_text(text.replace(f'accelerate: "{current}"', f'accelerate: "{version}"'))


def row(label: str, samples: list[float], baseline: list[float] | None = None) -> str:
    median = statistics.median(samples)
    spread = f"{median:7.2f} s ({min(samples):.2f}-{max(samples):.2f})"
    ratio = f"{median / statistics.median(baseline):6.2f}x" if baseline else ""
    return f"{label:<54}{spread:>24}  {ratio}"


def main() -> int:
    engine = Engine()
    tags = ["imagegate-bench/cpu:latest", "imagegate-bench/hand:latest"]
    with tempfile.TemporaryDirectory(prefix="imagegate-bench-") as scratch:
        project = Path(scratch)
        shutil.copytree(ROOT / "profiles", project / "profiles")
        for profile in ("cpu", "cuda130"):
            imagegate(project, "wheelhouse", profile)
        revalidate = {
            profile: [timed(lambda p=profile: imagegate(project, "wheelhouse", p))]
            for profile in ("cpu", "cuda130")
        }
        for profile, samples in revalidate.items():
            samples += [timed(lambda p=profile: imagegate(project, "wheelhouse", p))]
            samples += [timed(lambda p=profile: imagegate(project, "wheelhouse", p))]
        shutil.rmtree(project / "wheelhouse" / "cuda130")
        (project / "uv").mkdir()
        shutil.copy2(find_uv_bin(), project / "uv" / "uv")
        cold, hand, hand_uv, rebuild, unchanged = [], [], [], [], []
        build = ["build", "cpu", "--tag", tags[0]]
        for _ in range(RUNS):
            engine.prune_build_cache()
            cold.append(timed(lambda: imagegate(project, *build, "--fresh")))
            engine.prune_build_cache()
            hand.append(timed(lambda: hand_written(project, tags[1])))
            engine.prune_build_cache()
            hand_uv.append(timed(lambda: hand_written(project, tags[1], HAND_WRITTEN_UV)))
        imagegate(project, *build, "--fresh")  # the build cache warm again for the rebuilds
        for version in LIGHT[:RUNS]:
            bump_light_pin(project, version)
            rebuild.append(timed(lambda: imagegate(project, *build)))
        for _ in range(RUNS):
            unchanged.append(timed(lambda: imagegate(project, *build)))
    for ref in [*tags, *MADE]:
        engine.remove_image(ref)
    print(f"{'':<54}{'median (min-max)':>24}  ratio")
    print(row("wheelhouse cpu, nothing changed", revalidate["cpu"]))
    print(row("wheelhouse cuda130, nothing changed", revalidate["cuda130"]))
    print(row("hand-written BuildKit build of the same wheels (cold)", hand))
    print(row("hand-written, installing with uv instead (cold)", hand_uv))
    print(row("imagegate build cpu, cold (vs hand-written)", cold, hand))
    print(row("imagegate build cpu, cold (vs hand-written with uv)", cold, hand_uv))
    print(row("rebuild after one light pin (vs cold)", rebuild, cold))
    print(row("imagegate build cpu, nothing changed", unchanged))
    return 0


if __name__ == "__main__":
    sys.exit(main())
