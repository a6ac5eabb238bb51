"""How much sooner `imagegate check` says no than a build does, printed side by side.

    python tests/benchmarks/bench_check.py        (or: make bench)

1. A conflicting pin (tokenizers 0.19.0 beside transformers 4.51.3, on the cuda130 stack):
   `imagegate check` against a plain Dockerfile that pip-installs the same pins from the
   index inside `docker build` (given the host's CA bundle as a build secret), no cache.
2. The pandas 2.0.3 / numpy 2.0.2 break: `imagegate check --deep` (a throwaway venv)
   against `imagegate build` of the same profile with the build cache pruned.
Each runs in a fresh project folder. It prunes the engine's build cache (images are kept).
"""

from __future__ import annotations

import shutil
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


def conflict() -> tuple[float, float]:
    with project("clash", CLASH) as root:
        check, code = imagegate(root, "check", "clash")
        assert code == 1, f"check should have failed, exit {code}"
    pins = (
        "torch==2.14.1 torchvision==0.29.1 transformers==4.51.3 tokenizers==0.19.0 "
        "peft==0.13.2 accelerate==1.6.0 numpy==1.26.4"
    )
    with tempfile.TemporaryDirectory(prefix="imagegate-baseline-") as scratch:
        (Path(scratch) / "Dockerfile").write_text(BASELINE.format(pins=pins))
        build, code = timed(
            [
                "/usr/bin/docker",
                "build",
                "--no-cache",
                "--progress=plain",
                "--secret",
                f"id=ca,src={CA_BUNDLE}",
                "-t",
                "imagegate-bench/baseline:clash",
                scratch,
            ],
            env={"DOCKER_BUILDKIT": "1", "PATH": "/usr/bin:/bin"},
        )
        assert code != 0, "the baseline build should have failed on the conflict"
    return check, build


def runtime_break(engine: Engine) -> tuple[float, float]:
    with project("pandas-numpy2", PANDAS_NUMPY2) as root:
        deep, code = imagegate(root, "check", "pandas-numpy2", "--deep")
        assert code == 1, f"check --deep should have failed, exit {code}"
    engine.prune_build_cache()
    with project("pandas-numpy2", PANDAS_NUMPY2) as root:
        build, code = imagegate(root, "build", "pandas-numpy2", "--tag", "imagegate-bench/pn2:x")
        assert code == 1, f"the build should have failed, exit {code}"
    for ref in ("imagegate-bench/pn2:x", "imagegate-bench/pn2:x-unverified"):
        engine.remove_image(ref)
    return deep, build


def main() -> int:
    engine = Engine()
    engine.image("imagegate-base:bookworm") or sys.exit("bench: run `imagegate base` first")
    check, baseline = conflict()
    deep, build = runtime_break(engine)
    print(f"{'what is caught':<44}{'imagegate s':>12}{'build s':>10}{'faster':>9}")
    print(
        f"{'conflicting pin: check vs plain docker build':<44}{check:>12.1f}{baseline:>10.1f}"
        f"{baseline / check:>8.1f}x"
    )
    print(
        f"{'pandas/numpy 2: check --deep vs image build':<44}{deep:>12.1f}{build:>10.1f}"
        f"{build / deep:>8.1f}x"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
