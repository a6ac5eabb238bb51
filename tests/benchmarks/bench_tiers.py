"""The smoke tiers' cost on the `cpu` image, printed side by side in one run.

    python tests/benchmarks/bench_tiers.py IMAGE    (default imagegate/cpu:latest; make bench)

- tiers 1-2 (every distribution's metadata, every probe and every top-level module, each
  failure isolated) against the floor: one bare `python -c "import <the same modules>"`
  in a container from the same image. Both include the container's start.
- tier 3 (tiny gpt2 and llama built, saved, loaded, run, LoRA-wrapped) on the same image.
Best of three runs each.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

from imagegate.engine import Engine
from imagegate.profiles import load_profile
from imagegate.smoke import OFFLINE, VENV_PYTHON, collect_from_image, collect_models

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
    image = sys.argv[1] if len(sys.argv) > 1 else "imagegate/cpu:latest"
    engine = Engine()
    if engine.image(image) is None:
        sys.exit(f"bench: no image {image}; run `imagegate build cpu` first")
    profile = load_profile("cpu", ROOT / "profiles")
    facts = collect_from_image(engine, image, profile, python=VENV_PYTHON)
    modules = [item.subject for item in facts.items if item.kind == "module" and item.ok]
    # setuptools must come before anything that imports distutils (tier 2 isolates it)
    modules.sort(key=lambda name: name != "setuptools")
    floor_code = f"import {', '.join(modules)}"

    def floor() -> None:
        ran = engine.run(
            image, [VENV_PYTHON, "-c", floor_code], files={}, timeout=600, environment=OFFLINE
        )
        assert ran.exit_code == 0, ran.stderr[-2000:]

    tiers = best(lambda: collect_from_image(engine, image, profile, python=VENV_PYTHON))
    bare = best(floor)
    models = best(
        lambda: collect_models(engine, image, profile, python=VENV_PYTHON, require_gpu=False)
    )
    print(f"{'on ' + image:<52}{'seconds':>9}{'ratio':>8}")
    print(f"{f'floor: python -c import {len(modules)} modules':<52}{bare:>9.2f}{1.0:>8.2f}")
    print(f"{'tiers 1-2 (collect.py)':<52}{tiers:>9.2f}{tiers / bare:>8.2f}")
    print(f"{'tier 3 (gpt2 + llama, CPU)':<52}{models:>9.2f}{models / bare:>8.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
