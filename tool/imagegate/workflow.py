"""The runs a person asks for, each a short list of steps: build an image, verify one.

Each step is timed and shown by `progress`. Judgement is `verify.judge`'s alone; this
module only decides what to run, in which order, and what an outcome means.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from imagegate import base, preflight, progress, render, wheelhouse
from imagegate import lock as locks
from imagegate.engine import Engine
from imagegate.errors import BuildFailed, EnvironmentProblem
from imagegate.findings import Finding, Status, counts, passed
from imagegate.lock import Lock
from imagegate.profiles import Profile
from imagegate.project import Project
from imagegate.smoke import VENV_PYTHON, collect_from_image, collect_models, script_files
from imagegate.verify import judge, judge_models

STACK_STAGE = "stack"
"""The Dockerfile stage with everything installed and nothing yet checked."""
_NO_BUILDKIT = "buildx component is missing"


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


@dataclass(frozen=True, kw_only=True)
class Built:
    profile: str
    image: str
    findings: list[Finding]
    built: bool
    """False when the image's own smoke step failed; `image` is then the unverified stack."""
    wheelhouse: wheelhouse.Outcome
    base_image: str
    size: int
    seconds: dict[str, float]

    @property
    def passed(self) -> bool:
        return self.built and passed(self.findings)

    def report_fields(self) -> dict[str, object]:
        """What a report shows beside the findings."""
        return {
            "image": self.image,
            "built": self.built,
            "base_image": self.base_image,
            "size_bytes": self.size,
            "seconds": self.seconds,
        }


def default_tag(profile: Profile) -> str:
    return f"imagegate/{profile.name}:latest"


def unverified_tag(tag: str) -> str:
    repository, _, label = tag.rpartition(":")
    return f"{repository}:{label}-unverified" if repository else f"{tag}:unverified"


def verify_image(
    profile: Profile, engine: Engine, image: str, *, require_gpu: bool = False
) -> list[Finding]:
    """Tiers 1-2, then tier 3 (tiny models, the profile's own steps) when they passed."""
    if engine.image(image) is None:
        raise EnvironmentProblem(
            f"{image}: no such image here; build it with `imagegate build {profile.name}` "
            "or pass --image REF"
        )
    findings = judge(profile, collect_from_image(engine, image, profile, python=VENV_PYTHON))
    if not (profile.probes.models or profile.probes.steps):
        return findings
    if not passed(findings):
        skipped = Finding(
            tier=3,
            check="model",
            subject="tier 3",
            status=Status.SKIPPED,
            evidence="not run: tiers 1-2 failed",
        )
        return [*findings, skipped]
    with progress.step("tier 3", ", ".join(profile.probes.models) or "steps"):
        models = collect_models(engine, image, profile, python=VENV_PYTHON, require_gpu=require_gpu)
    return findings + judge_models(profile, models)


def build(
    profile: Profile,
    project: Project,
    engine: Engine,
    *,
    tag: str | None = None,
    base_image: str | None = None,
    require_gpu: bool = False,
) -> Built:
    """Lock, fill the wheelhouse, render, build, and run the tiers against the image."""
    timings = Timings()
    tag = tag or default_tag(profile)
    with timings.step("lock", str(locks.lock_path(profile))):
        lock = locks.prepare(profile)
    with timings.step("wheelhouse", str(project.wheelhouse_dir(profile.name))):
        outcome = wheelhouse.fill(profile, lock, project.wheelhouse_dir(profile.name))
    with timings.step("render", str(project.dockerfile(profile.name))):
        render.write(profile, project)
        _sync_smoke_scripts(project)
    with timings.step("base", profile.base.image):
        chosen = base.choose(profile, engine, override=base_image)
        progress.note(f"    using {chosen.ref} ({chosen.why})")
    build_args = {"BASE_IMAGE": chosen.ref}
    dockerfile = project.dockerfile(profile.name)
    with timings.step("build", tag):
        log = engine.build(
            context=project.root, dockerfile=dockerfile, tag=tag, build_args=build_args
        )
    image, built = tag, log.ok
    if not log.ok:
        if _NO_BUILDKIT in log.output:
            raise EnvironmentProblem(f"docker build: {log.tail(1)}; set IMAGEGATE_DOCKER_CLI")
        image = unverified_tag(tag)
        with timings.step("stack", f"the build failed; building the unverified stack as {image}"):
            stack = engine.build(
                context=project.root,
                dockerfile=dockerfile,
                tag=image,
                build_args=build_args,
                target=STACK_STAGE,
                echo=False,
            )
        if not stack.ok:
            raise BuildFailed(
                f"{profile.name}: docker build failed before the smoke step; last lines:\n"
                f"{log.tail(15)}"
            )
    with timings.step("verify", f"the smoke tiers in a container from {image}, networking off"):
        findings = verify_image(profile, engine, image, require_gpu=require_gpu)
    if not built and passed(findings):
        raise BuildFailed(
            f"{profile.name}: the smoke step failed in the build but not in a container; "
            f"last lines:\n{log.tail(15)}"
        )
    info = engine.image(image)
    return Built(
        profile=profile.name,
        image=image,
        findings=findings,
        built=built,
        wheelhouse=outcome,
        base_image=chosen.ref,
        size=info.size if info else 0,
        seconds=timings.steps,
    )


def _sync_smoke_scripts(project: Project) -> None:
    """The build context needs the in-image scripts; copy the packaged ones if they differ."""
    destination = project.root / "smoke_tests"
    for source in script_files():
        target = destination / source.name
        if source.resolve() == target.resolve():
            continue
        if not target.is_file() or target.read_bytes() != source.read_bytes():
            destination.mkdir(exist_ok=True)
            shutil.copyfile(source, target)


@dataclass(frozen=True, kw_only=True)
class Gated:
    profile: str
    ref: str
    pushed: bool
    digest: str
    """The registry's digest of what was pushed; empty when nothing was."""
    reason: str
    findings: list[Finding]
    seconds: dict[str, float]

    def report_fields(self) -> dict[str, object]:
        """What a report shows beside the findings."""
        return {
            "pushed": self.pushed,
            "ref": self.ref,
            "digest": self.digest,
            "reason": self.reason,
            "seconds": self.seconds,
        }


def gate(
    profile: Profile,
    project: Project,
    engine: Engine,
    *,
    push: str,
    base_image: str | None = None,
    require_gpu: bool = False,
) -> Gated:
    """Check, build, verify; label and push `push` only when every finding passed."""
    timings = Timings()
    with timings.step("check", f"preflight of {profile.name}"):
        findings = preflight.check(profile)

    def refused(reason: str) -> Gated:
        progress.note(f"==> gate: nothing pushed: {reason}")
        return Gated(
            profile=profile.name,
            ref=push,
            pushed=False,
            digest="",
            reason=reason,
            findings=findings,
            seconds=timings.steps,
        )

    if not passed(findings):
        return refused("the preflight failed")
    built = build(profile, project, engine, base_image=base_image, require_gpu=require_gpu)
    findings += built.findings
    timings.steps.update({f"build.{k}": v for k, v in built.seconds.items()})
    if not built.passed:
        return refused("the image failed its smoke tiers")
    labels = {
        "org.imagegate.profile": profile.name,
        "org.imagegate.lock": f"sha256:{Lock.read(locks.lock_path(profile)).sha256}",
        "org.imagegate.verified": "passed",
        "org.imagegate.findings": json.dumps(counts(findings), sort_keys=True),
    }
    with timings.step("push", push):
        engine.label(built.image, push, labels)
        digest = engine.push(push)
    return Gated(
        profile=profile.name,
        ref=push,
        pushed=True,
        digest=digest,
        reason="every finding passed",
        findings=findings,
        seconds=timings.steps,
    )
