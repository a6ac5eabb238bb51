"""The in-image smoke scripts as the package sees them: where they live, what to ask them.

The same arguments serve the Dockerfile's build step (`render`) and a run against an
existing image or environment (`smoke`), so what a build checks and what `verify` checks
cannot drift apart. Pure: nothing here runs a script.
"""

from __future__ import annotations

from importlib.resources import as_file, files
from pathlib import Path

from imagegate.profiles import Profile
from imagegate.verify_torch import consistency_facts

OFFLINE = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PYTHONDONTWRITEBYTECODE": "1"}
"""No hub, no network: what the tiers prove must not depend on either."""


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


def has_models(profile: Profile) -> bool:
    """Whether the profile asks for tier 3 (tiny models or steps of its own)."""
    return bool(profile.probes.models or profile.probes.steps)


def model_args(profile: Profile, *, require_gpu: bool) -> list[str]:
    args = [f"--arch={model}" for model in profile.probes.models]
    args += [f"--step={name}={code}" for name, code in profile.probes.steps.items()]
    args += ["--timeout", f"{profile.probes.timeout:g}", "--quiet"]
    return [*args, "--require-gpu"] if require_gpu else args


def beside_collector(tier3: list[str]) -> list[str]:
    """`tier3` (model_args) as collect.py passes them on to the tier 3 it starts beside
    tiers 1-2 (--models-output, --with-models)."""
    return [f"--model-arg={arg}" for arg in tier3]


def scripts_dir() -> Path:
    """The smoke_tests directory shipped with the package (or the source tree's, in development)."""
    with as_file(files("imagegate.smoke_tests")) as path:
        return Path(path)


def script_files() -> list[Path]:
    return sorted(scripts_dir().glob("*.py"))
