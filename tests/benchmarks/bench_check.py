"""How much sooner `imagegate check` says no than a build does, printed side by side.

    python tests/benchmarks/bench_check.py        (or: make bench)

1. A conflicting pin (tokenizers 0.19.0 beside transformers 4.51.3, on the cuda130 stack):
   `imagegate check` against a plain Dockerfile that pip-installs the same pins from the
   index inside `docker build` (given the host's CA bundle as a build secret), both cold
   (no build cache, no pip cache: a fresh CI runner) and warm (earlier layers cached, pip's
   cache mounted and filled by a first run), so the ratio doesn't depend on who has a cache.
2. The pandas 2.0.3 / numpy 2.0.2 break: `imagegate check --deep` (a trial venv)
   against `imagegate build --fresh` of the same profile with the build cache pruned, in
   one project whose wheelhouse is filled first; on a quiet machine (mark ≥ 8x) and again
   with a second CPU-bound process running beside both (mark ≥ 5x).
3. A preflight never waits on the network it cannot reach: `check` of cuda121 with its
   PyTorch index moved to a refusing port on 127.0.0.1 (a Python 3.10 target), and
   `check --all` beside it, against the mark of 3 s; `--preflight` runs this part alone
   (no Docker).
Each figure is the median (min-max) of 3. It prunes the engine's build cache (images kept).
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from imagegate.engine import Engine

ROOT = Path(__file__).resolve().parents[2]
CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
CLASH = 'extends: cuda130\npins:\n  tokenizers: "0.19.0"\n'
PANDAS_NUMPY2 = """\
extends: cpu
pins:
  pandas: "2.0.3"
  numpy: "2.0.2"
invariants:
  numpy: null
probes:
  imports: [torch, numpy, transformers, peft, accelerate, pandas]
"""
BASELINE = """\
FROM imagegate-base:bookworm
RUN python3 -m venv /opt/venv
RUN --mount=type=secret,id=ca /opt/venv/bin/pip install --no-cache-dir --cert /run/secrets/ca \\
    {pins}
"""
WARM_BASELINE = """\
FROM imagegate-base:bookworm
RUN python3 -m venv /opt/venv
RUN --mount=type=secret,id=ca --mount=type=cache,target=/root/.cache/pip \\
    /opt/venv/bin/pip install --cert /run/secrets/ca {pins}
"""
RUNS = 3


@contextmanager
def project(name: str, text: str) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="imagegate-bench-") as scratch:
        root = Path(scratch)
        shutil.copytree(ROOT / "profiles", root / "profiles")
        (root / "profiles" / f"{name}.yaml").write_text(text)
        yield root


def timed(
    args: list[str], cwd: Path | None = None, env: dict[str, str] | None = None
) -> tuple[float, int]:
    started = time.monotonic()
    done = subprocess.run(args, cwd=cwd, capture_output=True, text=True, check=False, env=env)
    return time.monotonic() - started, done.returncode


def imagegate(root: Path, *args: str) -> tuple[float, int]:
    return timed([sys.executable, "-m", "imagegate", *args, "--profiles", str(root / "profiles")])


def docker_build(folder: Path, *options: str) -> tuple[float, int]:
    secret = f"id=ca,src={CA_BUNDLE}"
    tag = "imagegate-bench/baseline:clash"
    return timed(
        [
            "/usr/bin/docker",
            "build",
            *options,
            "--progress=plain",
            "--secret",
            secret,
            "-t",
            tag,
            str(folder),
        ],
        env={"DOCKER_BUILDKIT": "1", "PATH": "/usr/bin:/bin"},
    )


def conflict() -> tuple[list[float], list[float], list[float]]:
    """check, a cold baseline build (no cache at all) and a warm one (its earlier layers
    cached, pip's cache mounted and filled by a first run), each RUNS times."""
    with project("clash", CLASH) as root:
        imagegate(root, "check", "clash")  # uv's cache warm, as on a developer's machine
        checks = []
        for _ in range(RUNS):
            seconds, code = imagegate(root, "check", "clash")
            assert code == 1, f"check should have failed, exit {code}"
            checks.append(seconds)
    pins = (
        "torch==2.14.1 torchvision==0.29.1 transformers==4.51.3 tokenizers==0.19.0 "
        "peft==0.13.2 accelerate==1.6.0 numpy==1.26.4"
    )
    cold, warm = [], []
    with tempfile.TemporaryDirectory(prefix="imagegate-baseline-") as scratch:
        folder = Path(scratch)
        (folder / "Dockerfile").write_text(BASELINE.format(pins=pins))
        for _ in range(RUNS):
            seconds, code = docker_build(folder, "--no-cache")
            assert code != 0, "the baseline build should have failed on the conflict"
            cold.append(seconds)
        (folder / "Dockerfile").write_text(WARM_BASELINE.format(pins=pins))
        docker_build(folder)  # fills pip's cache mount and the earlier layers
        for _ in range(RUNS):
            seconds, code = docker_build(folder)
            assert code != 0, "the baseline build should have failed on the conflict"
            warm.append(seconds)
    return checks, cold, warm


@contextmanager
def busy() -> Iterator[None]:
    """A second CPU-bound process running beside whatever is timed meanwhile."""
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        yield
    finally:
        spinner.kill()
        spinner.wait()


UNVERIFIED = "imagegate-bench/pn2:x-unverified"
MADE: set[str] = set()
"""Each image a failed build tagged UNVERIFIED: the next one leaves it untagged."""


def runtime_break(engine: Engine, root: Path) -> tuple[list[float], list[float]]:
    """check --deep and a build from a pruned cache, in one project (its wheelhouse warm),
    taken in turn (a machine whose speed drifts moves both alike)."""
    deep, build = [], []
    for _ in range(RUNS):
        seconds, code = imagegate(root, "check", "pandas-numpy2", "--deep")
        assert code == 1, f"check --deep should have failed, exit {code}"
        deep.append(seconds)
        engine.prune_build_cache()
        seconds, code = imagegate(
            root, "build", "pandas-numpy2", "--tag", "imagegate-bench/pn2:x", "--fresh"
        )
        assert code == 1, f"the build should have failed, exit {code}"
        build.append(seconds)
        if (made := engine.image(UNVERIFIED)) is not None:
            MADE.add(made.id)
    return deep, build


OFFLINE = "extends: cuda121\nindexes:\n  pytorch-cu121: http://127.0.0.1:9/whl/cu121\n"
UNREACHABLE_MARK = 3.0
"""Seconds: a preflight of a profile whose index is out of reach answers within this."""


def unreachable() -> list[tuple[str, list[float]]]:
    """`check` of a profile whose index refuses connections, and `check --all` beside it
    (exit 3, naming the index), each RUNS times after one warm-up."""
    rows = []
    with project("offline", OFFLINE) as root:
        for label, args in (("check offline", ["offline"]), ("check --all", ["--all"])):
            imagegate(root, "check", *args)
            samples = []
            for _ in range(RUNS):
                seconds, code = imagegate(root, "check", *args)
                assert code == 3, f"{label} should have said the index is out of reach, exit {code}"
                samples.append(seconds)
            rows.append((f"{label}, its index out of reach", samples))
    return rows


def spread(samples: list[float]) -> str:
    return f"{statistics.median(samples):.1f} ({min(samples):.1f}-{max(samples):.1f})"


def deep_rows(engine: Engine) -> list[tuple[str, list[float], list[float], float | None]]:
    with project("pandas-numpy2", PANDAS_NUMPY2) as root:
        imagegate(root, "wheelhouse", "pandas-numpy2")
        deep, build = runtime_break(engine, root)
        with busy():
            busy_deep, busy_build = runtime_break(engine, root)
    for ref in ("imagegate-bench/pn2:x", UNVERIFIED, *MADE):
        engine.remove_image(ref)
    return [
        ("pandas/numpy 2: check --deep vs image build", deep, build, 8.0),
        ("  the same, a CPU-bound process beside both", busy_deep, busy_build, 5.0),
    ]


def main() -> int:
    """`--preflight`: the unreachable-index part alone (no Docker); `--deep`: that and the
    pandas/numpy 2 part, not the conflicting pin's."""
    print(f"median (min-max) of {RUNS}, seconds")
    for label, samples in unreachable():
        met = "met" if statistics.median(samples) <= UNREACHABLE_MARK else "MISSED"
        print(f"{label:<46}{spread(samples):>18}   mark ≤ {UNREACHABLE_MARK:g} s: {met}")
    if "--preflight" in sys.argv[1:]:
        return 0
    engine = Engine()
    engine.image("imagegate-base:bookworm") or sys.exit("bench: run `imagegate base` first")
    rows: list[tuple[str, list[float], list[float], float | None]] = []
    if "--deep" not in sys.argv[1:]:
        check, cold, warm = conflict()
        rows += [
            ("conflicting pin: check vs a cold build", check, cold, None),
            ("conflicting pin: check vs a warm build", check, warm, None),
        ]
    rows += deep_rows(engine)
    print(f"{'what is caught':<46}{'imagegate':>18}{'docker build':>18}{'faster':>9}")
    for label, ours, theirs, mark in rows:
        ratio = statistics.median(theirs) / statistics.median(ours)
        verdict = (
            ""
            if mark is None
            else f"   mark ≥ {mark:g}x: " + ("met" if ratio >= mark else "MISSED")
        )
        print(f"{label:<46}{spread(ours):>18}{spread(theirs):>18}{ratio:>8.1f}x{verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
