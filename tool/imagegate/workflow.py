"""Verifying an image: the steps shared by every run that judges one (`verify`, and the
end of `building.build` and `shipping.gate`), and the names of the images they make.

Each step is timed and shown by `progress`. Judgement is `verify.judge`'s alone; this
module only decides what to run, in which order, and what an outcome means.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field

from packaging.utils import NormalizedName

from imagegate import interpreters, progress, sbom, verdicts, worker
from imagegate import lock as locks
from imagegate.contract import LOCK_LABEL
from imagegate.engine import Engine, ImageInfo
from imagegate.errors import EnvironmentProblem
from imagegate.executors import Container
from imagegate.facts import CUDA_FACT, Facts, ModelFacts, ModelReport
from imagegate.findings import Finding, Status, passed
from imagegate.lock import Lock
from imagegate.profiles import Profile
from imagegate.project import Project
from imagegate.references import REPOSITORY_VARIABLE, default_image, with_tag_suffix
from imagegate.scripts import has_models
from imagegate.smoke import collect, collect_all, collect_models
from imagegate.verify import judge, judge_closure, judge_models
from imagegate.verify_runtime import judge_platform, judge_runtime
from imagegate.verify_torch import kernels
from imagegate.worker_tests import TIER, WorkerTests


@dataclass(kw_only=True)
class Timings:
    steps: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def step(self, name: str, what: str) -> Iterator[None]:
        with progress.step(name, what) as task:
            try:
                yield
            finally:
                self.steps[name] = round(task.seconds, 2)


def default_tag(profile: Profile) -> str:
    """The profile's image when no --tag is given: `REPOSITORY/PROFILE:latest`, REPOSITORY
    being $IMAGEGATE_REPOSITORY, else the profile's `repository:`, else `imagegate`."""
    return default_image(profile.name, os.environ.get(REPOSITORY_VARIABLE) or profile.repository)


def unverified_tag(tag: str) -> str:
    """The tag for a stack that failed its smoke step: same repository, `-unverified` added."""
    return with_tag_suffix(tag, "-unverified")


@dataclass(frozen=True, kw_only=True)
class Verified:
    findings: list[Finding]
    python: str
    """The interpreter in the image that the tiers ran with."""
    image_id: str
    """The image judged: every tier ran on this ID, whatever its tag pointed at meanwhile."""
    reused: str | None = None
    """When the verdict reused was reached; None when the tiers ran now."""
    installed: Mapping[NormalizedName, str] = field(default_factory=dict)
    """What tier 1 found in the image (name -> version), kept with the verdict: the SBOM's
    components, also when the verdict is reused."""

    def report_fields(self) -> dict[str, object]:
        reused = {"verdict": f"reused from {self.reused}"} if self.reused else {}
        return {"image_id": self.image_id, "python": self.python, **reused}


@dataclass(frozen=True, kw_only=True)
class BuildReports:
    """What a build's own smoke step found, as the build wrote its reports stage out (no
    GPU in a build). Only the build that just made the image has them: no image holds them."""

    facts: Facts
    models: ModelFacts | None


def verify_image(
    profile: Profile,
    project: Project,
    engine: Engine,
    image: str,
    *,
    lock: Lock | None,
    python: str | None = None,
    require_gpu: bool = False,
    fresh: bool = False,
    reports: BuildReports | None = None,
    worker_tests: WorkerTests | None = None,
) -> Verified:
    """Tiers 1-2 (the whole closure against `lock`, the profile's, among them; None when it
    has none), then tier 3 (tiny models, the profile's own steps) when they passed, with the
    image's stack interpreter: `python`, else the one its label names, else the one found
    holding the protected packages. Run now, tier 3 starts beside tiers 1-2 in their
    container (one start; forked once the profile's imports are done, it imports none of
    them again); its report counts only when they passed.

    Tier 4 follows when the project has a RunPod worker's tests (`worker_tests`) and the
    tiers before it passed: the worker's deployment settings, then each test in the image.

    The image is looked up once: every tier runs on that image ID. A passing verdict
    imagegate reached and sealed on the same image ID, interpreter, lock, profile, scripts
    and worker tests is reused (unless `fresh`). With `reports` (the smoke step of the build
    that just made this image ID), tiers 1-2 are taken from them, and tier 3 too where no
    GPU could change it (none given to containers here, none required), instead of run
    again in a container. What an image merely carries (labels, files) is never trusted.
    """
    info = engine.image(image)
    if info is None:
        raise EnvironmentProblem(
            f"{image}: no such image here; build it with `imagegate build {profile.name}` "
            "or pass --image REF"
        )
    image_id = info.id  # from here on the ID is judged, wherever the tag moves meanwhile
    platform = judge_platform(profile, info.platform)
    if not passed([platform]):  # a foreign image: no container of it is started
        return Verified(findings=[platform], python=python or "", image_id=image_id)
    python = interpreters.resolve(profile, engine, info, python)
    gpus = engine.has_gpus()
    wanted = verdicts.key(
        profile,
        image_id=image_id,
        python=python,
        lock_sha256=lock.sha256 if lock is not None else "",
        require_gpu=require_gpu,
        gpus=gpus,
        worker_tests=worker_tests.digest() if worker_tests is not None else "",
    )
    kept = None if fresh else verdicts.recall(project, profile, wanted, image_id=image_id)
    if kept is not None:
        progress.note(f"==> verdict reused from {kept.when} ({image_id[:19]})")
        return Verified(
            findings=kept.findings,
            python=python,
            image_id=image_id,
            reused=kept.when,
            installed=kept.installed,
        )
    container = Container(engine, image_id, python)
    facts = reports.facts if reports is not None else None
    # a build has no GPU: its tier 3 skipped what this host can run, or one required
    built = reports.models if reports is not None else None
    models: ModelFacts | ModelReport | None = None if require_gpu or gpus else built
    if facts is None and models is None and has_models(profile):  # both now, in one run
        with progress.step("tier 3", f"{_tier3(profile)}, beside tiers 1-2"):
            facts, models = collect_all(container, profile, require_gpu=require_gpu)
    elif facts is None:
        facts = collect(container, profile)
    installed = sbom.installed_versions(facts)
    tiers = [platform, *_closure(profile, facts, info, lock), *judge(profile, facts)]
    tiers += judge_runtime(profile, info.env)  # what the image asks of the container runtime
    findings = tiers + _models(profile, container, tiers, require_gpu, models)
    if worker_tests is not None:
        findings += _worker(
            profile,
            engine,
            image_id,
            info,
            facts,
            findings,
            worker_tests,
            require_gpu,
            gpus,
            python,
            project,
        )
    verdicts.keep(project, profile, wanted, image, findings, installed, image_id=image_id)
    return Verified(findings=findings, python=python, image_id=image_id, installed=installed)


def _worker(
    profile: Profile,
    engine: Engine,
    image: str,
    info: ImageInfo,
    facts: Facts,
    before: list[Finding],
    tests: WorkerTests,
    require_gpu: bool,
    gpus: bool,
    python: str,
    project: Project,
) -> list[Finding]:
    """Tier 4, when tiers 1-3 passed: a worker on a broken stack proves nothing more."""
    if not passed(before):
        return [
            Finding(
                tier=TIER,
                check="worker",
                subject=str(tests.path),
                status=Status.SKIPPED,
                evidence="not run: tiers 1-3 failed",
            )
        ]
    cuda = next((i.value for i in facts.items if i.kind == "fact" and i.subject == CUDA_FACT), None)
    return worker.worker_findings(
        engine,
        image,
        profile,
        tests,
        cuda_runtime=cuda,
        require_cuda=info.env.get("NVIDIA_REQUIRE_CUDA"),
        kernels=kernels(profile, facts),
        python=python,
        gpus=gpus,
        require_gpu=require_gpu,
        sizes=project.layer_sizes,
    )


def _closure(profile: Profile, facts: Facts, info: ImageInfo, lock: Lock | None) -> list[Finding]:
    """The image's closure against the profile's lock (the one images built from it name)."""
    if lock is None:
        return [
            Finding(
                tier=1,
                check="lock",
                subject=locks.lock_path(profile).name,
                status=Status.SKIPPED,
                evidence=f"no lock: the closure is not judged; run `imagegate lock {profile.name}`",
            )
        ]
    return judge_closure(profile, facts, lock, image_lock=info.labels.get(LOCK_LABEL))


def _models(
    profile: Profile,
    container: Container,
    tiers: list[Finding],
    require_gpu: bool,
    models: ModelFacts | ModelReport | None,
) -> list[Finding]:
    """Tier 3, when the profile has models or steps and tiers 1-2 passed: `models` when the
    build's own step or the collector beside tiers 1-2 (a report read only now) found them,
    else in a container now."""
    if not has_models(profile):
        return []
    if not passed(tiers):
        skipped = Finding(
            tier=3,
            check="model",
            subject="tier 3",
            status=Status.SKIPPED,
            evidence="not run: tiers 1-2 failed",
        )
        return [skipped]
    if isinstance(models, ModelReport):
        models = models.read()
    elif models is None:
        with progress.step("tier 3", _tier3(profile)):
            models = collect_models(container, profile, require_gpu=require_gpu)
    return judge_models(profile, models)


def _tier3(profile: Profile) -> str:
    return ", ".join(profile.probes.models) or "steps"
