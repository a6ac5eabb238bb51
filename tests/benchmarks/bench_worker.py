"""A RunPod worker image's cold start and size, and what measuring them costs, printed.

    python tests/benchmarks/bench_worker.py [IMAGE] [--tests FILE] [--profile NAME]
    (default imagegate/worker-example:latest, examples/runpod-worker/.runpod/tests.json,
    the example's worker profile; make bench)

Build the example first: `imagegate build worker` and `docker build -t
imagegate/worker-example .` in examples/runpod-worker. Printed:
- the image's compressed size (gzip level 6 per layer, as a push writes it), its largest
  layer, and how long `docker save` plus the compression took, with no cache;
- the floor of a start: `python -c pass` in a container from the same image;
- the first test's cold start (container start to the handler's answer), each of 3 runs
  and their median, as tier 4 reports it;
- the fitness run (the worker's command under the hook, as RunPod starts it): its time.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from imagegate.cold_start import GB
from imagegate.engine import Engine
from imagegate.profiles import load_profile
from imagegate.worker_start import fitness_findings, layer_sizes, run_test
from imagegate.worker_tests import WorkerTests

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "runpod-worker"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("image", nargs="?", default="imagegate/worker-example:latest")
    parser.add_argument("--tests", type=Path, default=EXAMPLE / ".runpod" / "tests.json")
    parser.add_argument("--profile", default="worker")
    args = parser.parse_args()
    engine = Engine()
    info = engine.image(args.image)
    if info is None:
        print(f"bench_worker: skipped, no image {args.image} (see this file's docstring)")
        return 0
    profile = load_profile(args.profile, EXAMPLE / "profiles")
    tests = WorkerTests.read(args.tests)
    first, command = tests.tests[0], list(info.command)

    with tempfile.TemporaryDirectory() as folder:
        started = time.monotonic()
        layers = layer_sizes(engine, info, Path(folder) / "sizes.json")
        measuring = time.monotonic() - started
    compressed = sum(layer.compressed for layer in layers)
    largest = max(layers, key=lambda layer: layer.compressed)
    floor = engine.run(args.image, ["python", "-c", "pass"], files={}, timeout=300).seconds
    samples = range(profile.worker.cold_starts)
    starts = [run_test(engine, args.image, command, tests, first, False) for _ in samples]
    started = time.monotonic()
    fitness = fitness_findings(engine, args.image, info, tests, gpus=False, require_gpu=False)
    fitness_s = time.monotonic() - started

    print(f"image {args.image} ({info.id[:19]})")
    print(f"  compressed size      {compressed / GB:.3f} GB in {len(layers)} layers")
    print(f"  largest layer        {largest.compressed / GB:.3f} GB ({largest.digest[:19]})")
    print(f"  measuring the size   {measuring:.1f} s (docker save + gzip level 6, no cache)")
    print(f"  floor: python -c pass {floor:.1f} s")
    runs = ", ".join(f"{ran.seconds:.1f}" for ran in starts)
    ok = all(ran.ok for ran in starts)
    median = statistics.median(ran.seconds for ran in starts)
    print(f"  cold start           {median:.1f} s median ({runs}){'' if ok else ' FAILED'}")
    print(f"  fitness run          {fitness_s:.1f} s, {len(fitness)} rows")
    for row in fitness:
        print(f"    {row.status.value:8} {row.subject:18} {row.actual}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
