"""The in-image smoke scripts run: in a fresh container from an image, or by a Python on
this machine. What to ask them is `scripts`' (pure, shared with the Dockerfile's build step);
running them is here.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from imagegate import runner
from imagegate.contract import ENTRY, INTERPRETERS, RUN_DIR, TIER3
from imagegate.errors import BuildFailed
from imagegate.facts import Facts, Interpreter, ModelFacts
from imagegate.profiles import Profile
from imagegate.scripts import OFFLINE, collector_args, model_args, scripts_dir

if TYPE_CHECKING:
    from imagegate.engine import Engine


def collect_from_image(engine: Engine, image: str, profile: Profile, *, python: str) -> Facts:
    """Tiers 1-2: run the collector in a fresh container from `image`, networking off."""
    args = [*collector_args(profile), "--quiet"]
    output = _run_script(engine, image, python, ENTRY, args, _tiers_budget(profile), gpus=False)
    return Facts.from_json(output, source=f"{image}: {ENTRY}")


def collect_models(
    engine: Engine, image: str, profile: Profile, *, python: str, require_gpu: bool
) -> ModelFacts:
    """Tier 3: tiny models and the profile's own steps, with the host's GPUs if it has any."""
    args = model_args(profile, require_gpu=require_gpu)
    output = _run_script(
        engine, image, python, TIER3, args, _models_budget(profile, args), gpus=True
    )
    return ModelFacts.from_json(output, source=f"{image}: {TIER3}")


def collect_interpreters(
    engine: Engine, image: str, launcher: str, candidates: list[str], wanted: list[str]
) -> list[Interpreter]:
    """Each candidate Python in `image` and which of `wanted` it has installed: one
    container, run by `launcher` (any Python 3 there), networking off."""
    args = [*(arg for name in wanted for arg in ("--want", name)), *candidates]
    budget = 60.0 * len(candidates) + 60.0
    output = _run_script(engine, image, launcher, INTERPRETERS, args, budget, gpus=False)
    return Interpreter.list_from_json(output, source=f"{image}: {INTERPRETERS}")


def _tiers_budget(profile: Profile) -> float:
    """Every probe may take its whole timeout; the rest of the tiers is short."""
    return profile.probes.timeout * (len(profile.probes.imports) + 10) + 600


def _models_budget(profile: Profile, args: list[str]) -> float:
    return profile.probes.timeout * (len(args) + 5) + 600


def _run_script(
    engine: Engine,
    image: str,
    python: str,
    script: str,
    args: list[str],
    budget: float,
    *,
    gpus: bool,
) -> str:
    ran = engine.run(
        image,
        [python, f"{RUN_DIR}/{script}", *args],
        files={RUN_DIR: scripts_dir()},
        timeout=budget,
        environment=OFFLINE,
        gpus=gpus,
    )
    if ran.timed_out:
        raise BuildFailed(f"{image}: {script} did not finish within {budget:g}s")
    return ran.stdout or ran.stderr


def collect_from_python(
    python: Path, profile: Profile, *, env: Mapping[str, str] | None = None
) -> Facts:
    """Tiers 1-2 in a Python environment on this machine (a venv, a pod's interpreter);
    `env` adds to (or overrides) the offline environment they run in."""
    done = runner.run(
        [python, scripts_dir() / ENTRY, *collector_args(profile), "--quiet"],
        timeout=_tiers_budget(profile),
        env={**OFFLINE, **(env or {})},
    )
    return Facts.from_json(done.output, source=f"{python}: {ENTRY}")


def models_from_python(
    python: Path, profile: Profile, *, require_gpu: bool, env: Mapping[str, str] | None = None
) -> ModelFacts:
    """Tier 3 in a Python environment on this machine."""
    args = model_args(profile, require_gpu=require_gpu)
    done = runner.run(
        [python, scripts_dir() / TIER3, *args],
        timeout=_models_budget(profile, args),
        env={**OFFLINE, **(env or {})},
    )
    return ModelFacts.from_json(done.output, source=f"{python}: {TIER3}")
