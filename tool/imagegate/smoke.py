"""The in-image smoke scripts as the package sees them: where they live, what to ask them.

The same arguments serve the Dockerfile's build step and a run against an existing image,
so what a build checks and what `verify` checks cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib.resources import as_file, files
from pathlib import Path
from typing import TYPE_CHECKING

from imagegate import runner
from imagegate.errors import BuildFailed
from imagegate.facts import Facts, Interpreter, ModelFacts
from imagegate.profiles import Profile
from imagegate.verify import consistency_facts

if TYPE_CHECKING:
    from imagegate.engine import Engine

IN_IMAGE_DIR = "/opt/imagegate/smoke_tests"
ENTRY = "collect.py"
TIER3 = "tier3_model.py"
INTERPRETERS = "interpreters.py"


def collector_args(profile: Profile, *, fail_on_broken: bool = False) -> list[str]:
    """Arguments for collect.py that ask for every fact and probe the profile names."""
    args = ["--all-distributions", "--timeout", f"{profile.probes.timeout:g}"]
    for module in profile.probes.imports:
        args += ["--import", module]
    for name, code in profile.probes.statements.items():
        args += ["--statement", f"{name}={code}"]
    facts = [*profile.facts]
    if profile.hardware.arch_fact and profile.hardware.arch_fact not in facts:
        facts.append(profile.hardware.arch_fact)
    facts += [fact for fact in consistency_facts(profile) if fact not in facts]
    for expression in facts:
        args += ["--fact", expression]
    for module in profile.probes.exclude:
        args += ["--exclude", module]
    if fail_on_broken:
        args.append("--fail-on-broken")
    return args


def scripts_dir() -> Path:
    """The smoke_tests directory shipped with the package (or the source tree's, in development)."""
    with as_file(files("imagegate.smoke_tests")) as path:
        return Path(path)


def script_files() -> list[Path]:
    return sorted(scripts_dir().glob("*.py"))


VENV_PYTHON = "/opt/venv/bin/python"
RUN_DIR = "/tmp/imagegate-smoke"
"""Where `verify` copies the scripts into a container: any image can be verified, not only ours."""


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


def has_models(profile: Profile) -> bool:
    """Whether the profile asks for tier 3 (tiny models or steps of its own)."""
    return bool(profile.probes.models or profile.probes.steps)


def model_args(profile: Profile, *, require_gpu: bool) -> list[str]:
    args = [f"--arch={model}" for model in profile.probes.models]
    args += [f"--step={name}={code}" for name, code in profile.probes.steps.items()]
    args += ["--timeout", f"{profile.probes.timeout:g}", "--quiet"]
    return [*args, "--require-gpu"] if require_gpu else args


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


OFFLINE = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PYTHONDONTWRITEBYTECODE": "1"}
"""No hub, no network: what the tiers prove must not depend on either."""


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
