"""The executor: a Python on this machine really runs programs and the smoke collector; how
the tiers use an executor (tier 3 only after the rest passed, a timeout) with a fake one."""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest

from imagegate.contract import ENTRY, TIER3
from imagegate.errors import BuildFailed, EnvironmentProblem
from imagegate.executors import Executor, HostPython
from imagegate.facts import SCHEMA, Facts
from imagegate.findings import Finding, Status
from imagegate.profiles import Probes, Profile, load_profile
from imagegate.runner import Completed
from imagegate.scripts import OFFLINE, collector_args, model_args, scripts_dir
from imagegate.smoke import collect, collect_all, collect_models, examine

from .test_tier1_files import install

SHIPPED = Path(__file__).resolve().parents[2] / "profiles"
HERE = HostPython(Path(sys.executable))


def test_a_host_python_runs_a_program_and_says_how_it_went() -> None:
    code = "import sys; print('to stdout'); print('to stderr', file=sys.stderr); sys.exit(3)"
    done = HERE.run([HERE.python, "-c", code], timeout=60)
    assert done.returncode == 3 and not done.ok
    assert "to stdout" in done.output and "to stderr" in done.output
    assert not done.timed_out and done.seconds > 0


def test_a_host_pythons_own_environment_wins_over_the_runs() -> None:
    there = replace(HERE, env={"FIRST": "executor's"})
    code = "import os; print(os.environ['FIRST'], os.environ['SECOND'])"
    done = there.run([there.python, "-c", code], timeout=60, env={"FIRST": "x", "SECOND": "run's"})
    assert done.output.split() == ["executor's", "run's"]


def test_a_host_program_past_its_timeout_is_stopped_and_named() -> None:
    with pytest.raises(EnvironmentProblem, match="still running"):
        HERE.run([HERE.python, "-c", "import time; time.sleep(60)"], timeout=0.5)


def test_the_collector_runs_in_a_python_on_this_machine(tmp_path: Path) -> None:
    """The real collector, run by a venv's interpreter: its facts are that venv's."""
    venv = tmp_path / "venv"
    made = HERE.run([HERE.python, "-m", "venv", "--without-pip", str(venv)], timeout=120)
    assert made.ok, made.tail()
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    site = venv / "lib" / f"python{version}" / "site-packages"
    install(site, "tinypkg", {"tinypkg/__init__.py": b"VALUE = 1\n"}, top_level="tinypkg")
    there = HostPython(venv / "bin" / "python")
    cpu = load_profile("cpu", SHIPPED)
    facts = collect(there, replace(cpu, probes=Probes(imports=("tinypkg",)), facts={}))
    assert facts.python_version.startswith(f"{version}.")
    assert {name: d.version for name, d in facts.distributions.items()} == {"tinypkg": "1.0"}
    [probe] = [item for item in facts.items if item.subject == "tinypkg"]
    assert probe.ok and probe.kind == "module"
    assert Path(there.scripts, ENTRY) == scripts_dir() / ENTRY


@dataclass
class Recorded:
    """An executor that answers each smoke script with a recorded report (pure logic only)."""

    reports: Mapping[str, str]
    timed_out: bool = False
    ran: list[str] = field(default_factory=list)
    asked: list[tuple[list[str], float, bool]] = field(default_factory=list)
    """Each run's arguments after the script, its budget and whether it had the GPUs."""
    where: str = "recorded"
    python: str = "/usr/bin/python3"
    scripts: str = "/scripts"

    def run(
        self,
        args: Sequence[str],
        *,
        timeout: float,
        env: Mapping[str, str] | None = None,
        gpus: bool = False,
    ) -> Completed:
        assert args[0] == self.python and dict(env or {}) == OFFLINE
        script = Path(args[1]).name
        self.ran.append(script)
        self.asked.append((list(args[2:]), timeout, gpus))
        output = "" if self.timed_out else self.reports[script]
        return Completed(args=tuple(args), returncode=0, output=output, timed_out=self.timed_out)


FACTS = {
    "schema": SCHEMA,
    "python": {"version": "3.11.7"},
    "environment": {"python_version": "3.11", "sys_platform": "linux"},
    "distributions": [],
    "items": [],
}
MODELS = {
    "schema": SCHEMA,
    "tier": 3,
    "gpu": {"available": False},
    "steps": [{"step": "gpt2/build", "ok": True, "skipped": False}],
}


def recorded() -> Recorded:
    return Recorded(reports={ENTRY: json.dumps(FACTS), TIER3: json.dumps(MODELS)})


def tiny() -> Profile:
    """The cpu profile with nothing pinned: recorded facts of an empty Python pass it."""
    cpu = load_profile("cpu", SHIPPED)
    probes = Probes(models=("gpt2",))
    return replace(cpu, pins={}, invariants={}, facts={}, protected=(), probes=probes)


def test_tier3_runs_when_the_tiers_before_it_passed() -> None:
    executor: Executor = recorded()
    facts, findings = examine(executor, tiny(), tier3=True)
    assert isinstance(facts, Facts) and facts.python_version == "3.11.7"
    assert [f.subject for f in findings if f.tier == 3] == ["gpt2/build"]


def test_rows_added_on_the_facts_come_before_tier3_and_a_failing_one_stops_it() -> None:
    executor = recorded()
    broken = Finding(tier=1, check="consistency", subject="x", status=Status.BROKEN)
    seen: list[Facts] = []

    def more(facts: Facts) -> list[Finding]:
        seen.append(facts)
        return [broken]

    facts, findings = examine(executor, tiny(), tier3=True, more=more)
    assert seen == [facts] and broken in findings
    assert executor.ran == [ENTRY]
    assert not [f for f in findings if f.tier == 3]


def test_without_tier3_only_the_collector_runs() -> None:
    executor = recorded()
    examine(executor, tiny())
    assert executor.ran == [ENTRY]


def test_a_collector_stopped_at_its_timeout_fails_naming_where_and_what() -> None:
    executor = recorded()
    executor.timed_out = True
    with pytest.raises(BuildFailed, match=rf"^recorded: {ENTRY} did not finish within"):
        collect(executor, tiny())


WITH_MODELS = Path(__file__).parent / "recorded" / "collect.with-models.json"
"""collect.py --with-models as it ran in the cpu image (test_facts.py says how)."""


def test_collect_all_runs_the_collector_once_with_tier_3_beside_it() -> None:
    executor = Recorded(reports={ENTRY: WITH_MODELS.read_text(encoding="utf-8")})
    facts, report = collect_all(executor, tiny(), require_gpu=True)
    assert executor.ran == [ENTRY]
    [(args, _, gpus)] = executor.asked
    assert gpus  # tier 3 may use the host's GPUs, as when it runs alone
    tier3 = model_args(tiny(), require_gpu=True)
    assert "--require-gpu" in tier3
    assert args[: len(collector_args(tiny()))] == collector_args(tiny())
    assert args[-len(tier3) :] == [f"--model-arg={arg}" for arg in tier3]
    assert "--with-models" in args and "--models-timeout" in args
    assert facts.distributions["torch"].version == "2.13.0+cpu"
    assert report.read().steps[0].step == "gpu/device"


def test_collect_all_has_both_budgets_and_gives_tier_3_its_own() -> None:
    alone = recorded()
    collect(alone, tiny())
    collect_models(alone, tiny(), require_gpu=False)
    [(_, tiers_budget, _), (_, models_budget, _)] = alone.asked
    together = Recorded(reports={ENTRY: WITH_MODELS.read_text(encoding="utf-8")})
    collect_all(together, tiny(), require_gpu=False)
    [(args, budget, _)] = together.asked
    assert budget == tiers_budget + models_budget
    assert float(args[args.index("--models-timeout") + 1]) == models_budget


def test_collect_all_stopped_at_its_timeout_fails_naming_the_collector() -> None:
    executor = Recorded(reports={}, timed_out=True)
    with pytest.raises(BuildFailed, match=rf"^recorded: {ENTRY} did not finish within"):
        collect_all(executor, tiny(), require_gpu=False)
