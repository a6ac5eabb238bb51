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
- an unchanged `imagegate build cpu`;
- imagegate's rendered cpu Dockerfile built alone by `docker build` (its layers, no smoke
  step), cold, against the hand-written uv build: what the layout costs, apart from what
  verifying costs;
- the cuda130 pair (6 GB of CUDA wheels): a cold `imagegate build cuda130` against the
  hand-written uv build of its wheelhouse, back to back from a pruned cache;
- where a cold build's time goes: imagegate's own steps (lock, wheelhouse, render, build,
  verify) from its JSON report, and BuildKit's own timing of each Dockerfile step and of the
  export, from one more cold build of the rendered Dockerfile run as imagegate runs it (the
  image, and the smoke step's reports beside it).
`--only cpu` or `--only cuda130` runs one profile's part. It prunes the engine's build cache
(images are kept), so run it on a machine you own.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from uv import find_uv_bin

from imagegate.building import reports_beside
from imagegate.contract import REPORTS_STAGE
from imagegate.engine import Engine
from imagegate.profiles import load_profile
from imagegate.project import Project

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


def imagegate(project: Path, *args: str) -> str:
    command = [sys.executable, "-m", "imagegate", *args, "--profiles", str(project / "profiles")]
    done = subprocess.run(command, capture_output=True, text=True, check=False, cwd=project)
    if done.returncode != 0:
        sys.exit(f"bench: imagegate {' '.join(args)} failed:\n{done.stderr[-2000:]}")
    return done.stdout


TAGS = (
    "imagegate-bench/cpu:latest",
    "imagegate-bench/hand:latest",
    "imagegate-bench/cuda130:latest",
)
MADE: set[str] = set()
"""Every image a run made: each build of a tag leaves the one before it untagged."""


def timed(action: Callable[[], object]) -> float:
    started = time.monotonic()
    action()
    seconds = time.monotonic() - started
    for tag in TAGS:
        if (info := Engine().image(tag)) is not None:
            MADE.add(info.id)
    return seconds


HAND_WRITTEN_UV = HAND_WRITTEN.replace(
    "/opt/venv/bin/pip install",
    "/uv/uv pip install --python /opt/venv/bin/python --no-cache --compile-bytecode",
).replace("target=/w \\", "target=/w --mount=type=bind,source=uv,target=/uv \\")


def hand_written(project: Path, tag: str, text: str = HAND_WRITTEN, profile: str = "cpu") -> None:
    dockerfile = project / "hand.Dockerfile"
    dockerfile.write_text(text.replace("wheelhouse/cpu/", f"wheelhouse/{profile}/"))
    docker_build(project, dockerfile, tag, "the hand-written build")


def stack_alone(project: Path, tag: str) -> None:
    """A plain `docker build` of imagegate's rendered cpu Dockerfile: its image (every
    install layer as imagegate renders it) without the smoke step, which only imagegate's
    second build runs. Against the hand-written build it is the price of the layout; what
    is left of a cold `imagegate build` is the price of verifying."""
    docker_build(project, project / "dockerfiles" / "cpu.Dockerfile", tag, "the stack alone")


def docker_build(project: Path, dockerfile: Path, tag: str, what: str) -> None:
    command = ["/usr/bin/docker", "build", "-q", "-f", str(dockerfile), "-t", tag]
    command += ["--build-arg", "BASE_IMAGE=imagegate-base:bookworm", str(project)]
    done = subprocess.run(
        command, capture_output=True, text=True, env={"DOCKER_BUILDKIT": "1"}, check=False
    )
    if done.returncode != 0:
        sys.exit(f"bench: {what} failed:\n{done.stderr[-2000:]}")


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


def cold_build(project: Path, profile: str, tag: str, steps: list[dict[str, float]]) -> None:
    """A cold `imagegate build PROFILE --fresh`; its own steps' seconds added to `steps`."""
    report = imagegate(project, "build", profile, "--tag", tag, "--fresh", "--format", "json")
    steps.append(json.loads(report)["seconds"])


_STEP = re.compile(r"^#(\d+) (\[[^\]]+\] .*|exporting to image)$")
_DONE = re.compile(r"^#(\d+) DONE (\d+\.\d+)s$")


def buildkit_steps(project: Path, profile: str) -> list[tuple[str, float]]:
    """BuildKit's own timing of each step of the rendered Dockerfile (and of the export),
    from a cold build run as imagegate runs it: the image and, beside it, the smoke step's
    reports (a step both builds share shows in one of the two logs)."""
    with tempfile.TemporaryDirectory(prefix="imagegate-bench-reports-") as reports:
        logs = Engine().build_beside(
            context=project,
            dockerfile=project / "dockerfiles" / f"{profile}.Dockerfile",
            build_args={"BASE_IMAGE": "imagegate-base:bookworm"},
            labels={},
            iidfile=Path(reports) / "iid",
            reports=REPORTS_STAGE,
            reports_dir=Path(reports) / "out",
            beside_when=reports_beside(
                Project.from_profiles(project / "profiles"),
                load_profile(profile, project / "profiles"),
            ),
        )
        if (iid := Path(reports) / "iid").is_file():
            MADE.add(iid.read_text(encoding="utf-8").strip())
    found: list[tuple[str, float]] = []
    for log in logs:
        if not log.ok:
            sys.exit(f"bench: the plain-progress build failed:\n{log.tail(40)}")
        titles: dict[str, str] = {}
        for line in log.output.splitlines():
            if (step := _STEP.match(line)) is not None:
                titles.setdefault(step[1], step[2])
            elif (end := _DONE.match(line)) is not None and end[1] in titles:
                found.append((titles[end[1]], float(end[2])))
    return found


def where_time_goes(
    label: str, steps: list[dict[str, float]], kit: list[tuple[str, float]]
) -> None:
    print(f"\nwhere a cold `imagegate build {label}` spends its time (median of {len(steps)}):")
    for name in steps[0]:
        print(f"  imagegate {name:<44}{statistics.median(s.get(name, 0.0) for s in steps):8.2f} s")
    print("  BuildKit, one more cold build of the rendered Dockerfile (steps of 0.5 s or more):")
    for title, seconds in kit:
        if seconds >= 0.5:
            short = title if len(title) <= 60 else f"{title[:57]}..."
            print(f"    {short:<60}{seconds:8.2f} s")
    print(f"    {'all steps':<60}{sum(s for _, s in kit):8.2f} s")


def cpu_part(engine: Engine, project: Path) -> list[str]:
    imagegate(project, "wheelhouse", "cpu")
    revalidate = [timed(lambda: imagegate(project, "wheelhouse", "cpu")) for _ in range(RUNS)]
    cold, hand, hand_uv, alone, rebuild, unchanged = [], [], [], [], [], []
    steps: list[dict[str, float]] = []
    for _ in range(RUNS):
        engine.prune_build_cache()
        cold.append(timed(lambda: cold_build(project, "cpu", TAGS[0], steps)))
        engine.prune_build_cache()
        hand.append(timed(lambda: hand_written(project, TAGS[1])))
        engine.prune_build_cache()
        hand_uv.append(timed(lambda: hand_written(project, TAGS[1], HAND_WRITTEN_UV)))
        engine.prune_build_cache()
        alone.append(timed(lambda: stack_alone(project, TAGS[1])))
    engine.prune_build_cache()
    kit = buildkit_steps(project, "cpu")
    build = ["build", "cpu", "--tag", TAGS[0]]
    timed(lambda: imagegate(project, *build, "--fresh"))  # the build cache warm for the rebuilds
    for version in LIGHT[:RUNS]:
        bump_light_pin(project, version)
        rebuild.append(timed(lambda: imagegate(project, *build)))
    for _ in range(RUNS):
        unchanged.append(timed(lambda: imagegate(project, *build)))
    where_time_goes("cpu", steps, kit)
    return [
        row("wheelhouse cpu, nothing changed", revalidate),
        row("hand-written BuildKit build of the same wheels (cold)", hand),
        row("hand-written, installing with uv instead (cold)", hand_uv),
        row("imagegate build cpu, cold (vs hand-written)", cold, hand),
        row("imagegate build cpu, cold (vs hand-written with uv)", cold, hand_uv)
        + f"   mark ≤ {MARK:g}x: {met(cold, hand_uv)}",
        row("  its Dockerfile built alone, no smoke step (vs uv)", alone, hand_uv),
        row("rebuild after one light pin (vs cold)", rebuild, cold),
        row("imagegate build cpu, nothing changed", unchanged),
    ]


def cuda130_part(engine: Engine, project: Path) -> list[str]:
    imagegate(project, "wheelhouse", "cuda130")
    revalidate = [timed(lambda: imagegate(project, "wheelhouse", "cuda130")) for _ in range(RUNS)]
    cold, hand_uv = [], []
    steps: list[dict[str, float]] = []
    for _ in range(RUNS):
        engine.prune_build_cache()
        cold.append(timed(lambda: cold_build(project, "cuda130", TAGS[2], steps)))
        engine.prune_build_cache()
        hand_uv.append(
            timed(lambda: hand_written(project, TAGS[1], HAND_WRITTEN_UV, profile="cuda130"))
        )
    engine.prune_build_cache()
    kit = buildkit_steps(project, "cuda130")
    where_time_goes("cuda130", steps, kit)
    shutil.rmtree(project / "wheelhouse" / "cuda130")  # 3 GB of wheels
    return [
        row("wheelhouse cuda130, nothing changed", revalidate),
        row("hand-written uv build of the cuda130 wheels (cold)", hand_uv),
        row("imagegate build cuda130, cold (vs hand-written uv)", cold, hand_uv)
        + f"   mark ≤ {MARK:g}x: {met(cold, hand_uv)}",
    ]


MARK = 1.1
"""A cold imagegate build against the hand-written uv build of the same wheels."""


def met(ours: list[float], baseline: list[float]) -> str:
    return "met" if statistics.median(ours) <= MARK * statistics.median(baseline) else "MISSED"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=("cpu", "cuda130"), help="one profile's part")
    only = parser.parse_args().only
    engine = Engine()
    rows: list[str] = []
    with tempfile.TemporaryDirectory(prefix="imagegate-bench-") as scratch:
        project = Path(scratch)
        shutil.copytree(ROOT / "profiles", project / "profiles")
        (project / "uv").mkdir()
        shutil.copy2(find_uv_bin(), project / "uv" / "uv")
        try:
            if only != "cuda130":
                rows += cpu_part(engine, project)
            if only != "cpu":
                rows += cuda130_part(engine, project)
        finally:
            for ref in [*TAGS, *MADE]:
                engine.remove_image(ref)
    print(f"\n{'':<54}{'median (min-max)':>24}  ratio")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
