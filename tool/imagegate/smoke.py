"""The in-image smoke scripts run by an executor (a Python on this machine, or a container
from an image) and their facts judged. What to ask them is `scripts`' (pure, shared with
the Dockerfile's build step); where they run is the executor's; running them is here.
"""

from __future__ import annotations

from collections.abc import Callable

from imagegate.contract import ENTRY, INTERPRETERS, TIER3
from imagegate.errors import BuildFailed
from imagegate.executors import Executor
from imagegate.facts import Facts, Interpreter, ModelFacts, ModelReport, collected
from imagegate.findings import Finding, passed
from imagegate.profiles import Profile
from imagegate.scripts import OFFLINE, beside_collector, collector_args, model_args
from imagegate.verify import judge, judge_models


def collect(executor: Executor, profile: Profile) -> Facts:
    """Tiers 1-2: the collector's facts, offline."""
    args = [*collector_args(profile), "--quiet"]
    output = _run_script(executor, ENTRY, args, _tiers_budget(profile), gpus=False)
    return Facts.from_json(output, source=f"{executor.where}: {ENTRY}")


def collect_models(executor: Executor, profile: Profile, *, require_gpu: bool) -> ModelFacts:
    """Tier 3: tiny models and the profile's own steps, with the host's GPUs if it has any."""
    args = model_args(profile, require_gpu=require_gpu)
    output = _run_script(executor, TIER3, args, _models_budget(profile, args), gpus=True)
    return ModelFacts.from_json(output, source=f"{executor.where}: {TIER3}")


def collect_all(
    executor: Executor, profile: Profile, *, require_gpu: bool
) -> tuple[Facts, ModelReport]:
    """Tiers 1-2 and tier 3 in one run: tier 2's process forks tier 3 once the profile's
    imports are done (it imports none of them again) and the collector carries its
    report, which its own budget stops. The GPUs are given as for `collect_models`; the
    run's budget is both tiers' together."""
    tier3 = model_args(profile, require_gpu=require_gpu)
    models_budget = _models_budget(profile, tier3)
    args = [*collector_args(profile), "--quiet", "--with-models"]
    args += ["--models-timeout", f"{models_budget:g}", *beside_collector(tier3)]
    budget = _tiers_budget(profile) + models_budget
    output = _run_script(executor, ENTRY, args, budget, gpus=True)
    where = executor.where
    return collected(output, source=f"{where}: {ENTRY}", models=f"{where}: {TIER3}")


def collect_interpreters(
    executor: Executor, candidates: list[str], wanted: list[str]
) -> list[Interpreter]:
    """Each candidate Python and which of `wanted` it has installed, asked in one run by the
    executor's Python (any Python 3 there)."""
    args = [*(arg for name in wanted for arg in ("--want", name)), *candidates]
    budget = 60.0 * len(candidates) + 60.0
    output = _run_script(executor, INTERPRETERS, args, budget, gpus=False)
    return Interpreter.list_from_json(output, source=f"{executor.where}: {INTERPRETERS}")


def examine(
    executor: Executor,
    profile: Profile,
    *,
    tier3: bool = False,
    more: Callable[[Facts], list[Finding]] | None = None,
) -> tuple[Facts, list[Finding]]:
    """Tiers 1-2 judged on the executor's facts, with the rows `more` adds on those facts;
    then, with `tier3` and when all of that passed, tier 3 (a GPU is not required)."""
    facts = collect(executor, profile)
    findings = [*judge(profile, facts), *(more(facts) if more is not None else [])]
    if tier3 and passed(findings):
        findings += judge_models(profile, collect_models(executor, profile, require_gpu=False))
    return facts, findings


def _tiers_budget(profile: Profile) -> float:
    """Every probe may take its whole timeout; the rest of the tiers is short."""
    return profile.probes.timeout * (len(profile.probes.imports) + 10) + 600


def _models_budget(profile: Profile, args: list[str]) -> float:
    return profile.probes.timeout * (len(args) + 5) + 600


def _run_script(
    executor: Executor, script: str, args: list[str], budget: float, *, gpus: bool
) -> str:
    """What the script printed: its report on stdout (or, where it wrote none, its error)."""
    done = executor.run(
        [executor.python, f"{executor.scripts}/{script}", *args],
        timeout=budget,
        env=OFFLINE,
        gpus=gpus,
    )
    if done.timed_out:
        raise BuildFailed(f"{executor.where}: {script} did not finish within {budget:g}s")
    return done.output or done.errors
