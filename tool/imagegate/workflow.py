"""The runs a person asks for, each a short list of steps: build an image, verify one.

Each step is timed and shown by `progress`. Judgement is `verify.judge`'s alone; this
module only decides what to run, in which order, and what an outcome means.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.utils import NormalizedName

from imagegate import (
    base,
    builds,
    files,
    interpreters,
    preflight,
    progress,
    provenance,
    references,
    render,
    runner,
    sbom,
    verdicts,
    wheelhouse,
    worker,
)
from imagegate import lock as locks
from imagegate.contract import (
    BUILD_FACTS,
    BUILD_MODELS,
    FINDINGS_LABEL,
    INPUTS_LABEL,
    LOCK_LABEL,
    PROFILE_LABEL,
    PYTHON_LABEL,
    SBOM_LABEL,
    VERIFIED_IMAGE_LABEL,
    VERIFIED_LABEL,
    WORKER_LABEL,
)
from imagegate.engine import Engine, ImageInfo
from imagegate.errors import BuildFailed, EnvironmentProblem, PushMismatch
from imagegate.executors import Container
from imagegate.facts import CUDA_FACT, Facts, ModelFacts
from imagegate.files import sha256
from imagegate.findings import Finding, Status, counts, passed
from imagegate.lock import Lock
from imagegate.profiles import Profile
from imagegate.project import Project
from imagegate.references import REPOSITORY_VARIABLE, default_image, with_tag_suffix
from imagegate.scripts import has_models, script_files
from imagegate.smoke import collect, collect_models
from imagegate.verify import (
    judge,
    judge_closure,
    judge_models,
    judge_platform,
    judge_runtime,
    kernels,
)
from imagegate.worker import WorkerTests

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
    image_id: str
    """The image built (or found built from the same inputs by imagegate) and judged."""
    wheelhouse: wheelhouse.Outcome
    base_image: str
    size: int
    seconds: dict[str, float]
    python: str
    """The interpreter in the image that the tiers ran with."""
    reused: str | None = None
    """When the verdict reused was reached; None when the tiers ran in this build."""
    installed: Mapping[NormalizedName, str] = field(default_factory=dict)
    """What tier 1 found in the image (name -> version): the SBOM's components."""

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
            **Verified(
                findings=self.findings,
                python=self.python,
                image_id=self.image_id,
                reused=self.reused,
            ).report_fields(),
        }


def default_tag(profile: Profile) -> str:
    """The profile's image: `$IMAGEGATE_REPOSITORY/PROFILE:latest` (`imagegate/` by default)."""
    return default_image(profile.name, os.environ.get(REPOSITORY_VARIABLE))


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


def verify_image(
    profile: Profile,
    project: Project,
    engine: Engine,
    image: str,
    *,
    python: str | None = None,
    require_gpu: bool = False,
    fresh: bool = False,
    own_reports: bool = False,
    worker_tests: WorkerTests | None = None,
) -> Verified:
    """Tiers 1-2 (the whole closure against the lock among them), then tier 3 (tiny models,
    the profile's own steps) when they passed, with the image's stack interpreter: `python`,
    else the one its label names, else the one found holding the protected packages.

    Tier 4 follows when the project has a RunPod worker's tests (`worker_tests`) and the
    tiers before it passed: the worker's deployment settings, then each test in the image.

    The image is looked up once: every tier runs on that image ID. A passing verdict
    imagegate reached and sealed on the same image ID, interpreter, lock, profile, scripts
    and worker tests is reused (unless `fresh`). With `own_reports` (the caller knows
    imagegate built this image from the current inputs: `builds.by_imagegate`), tiers 1-2
    are read from its build's smoke step, and its tier 3 too where no GPU could change it
    (none given to containers here, none required), instead of run again in a container.
    What an image merely carries (labels, a facts file its parent wrote) is never trusted.
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
        lock_sha256=_file_sha256(locks.lock_path(profile)),
        require_gpu=require_gpu,
        gpus=gpus,
        worker_tests=sha256(worker_tests.path) if worker_tests is not None else "",
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
    facts, models = _build_reports(engine, info, profile) if own_reports else (None, None)
    if facts is None:
        facts = collect(Container(engine, image_id, python), profile)
    installed = sbom.installed_versions(facts)
    tiers = [platform, *_closure(profile, facts, info), *judge(profile, facts)]
    tiers += judge_runtime(profile, info.env)  # what the image asks of the container runtime
    if require_gpu or gpus:
        models = None  # a build has no GPU: its tier 3 skipped what this host can run
    findings = tiers + _models(profile, engine, image_id, python, tiers, require_gpu, models)
    if worker_tests is not None:
        findings += _worker(
            profile, engine, image_id, info, facts, findings, worker_tests, require_gpu, gpus
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
) -> list[Finding]:
    """Tier 4, when tiers 1-3 passed: a worker on a broken stack proves nothing more."""
    if not passed(before):
        return [
            Finding(
                tier=worker.TIER,
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
        gpus=gpus,
        require_gpu=require_gpu,
    )


def _closure(profile: Profile, facts: Facts, info: ImageInfo) -> list[Finding]:
    """The image's closure against the profile's lock (the one images built from it name)."""
    path = locks.lock_path(profile)
    if not path.is_file():
        return [
            Finding(
                tier=1,
                check="lock",
                subject=path.name,
                status=Status.SKIPPED,
                evidence=f"no lock: the closure is not judged; run `imagegate lock {profile.name}`",
            )
        ]
    return judge_closure(profile, facts, Lock.read(path), image_lock=info.labels.get(LOCK_LABEL))


def _models(
    profile: Profile,
    engine: Engine,
    image: str,
    python: str,
    tiers: list[Finding],
    require_gpu: bool,
    models: ModelFacts | None,
) -> list[Finding]:
    """Tier 3, when the profile has models or steps and tiers 1-2 passed: `models` when
    the build's own step collected them, else in a container now."""
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
    if models is None:
        with progress.step("tier 3", ", ".join(profile.probes.models) or "steps"):
            container = Container(engine, image, python)
            models = collect_models(container, profile, require_gpu=require_gpu)
    return judge_models(profile, models)


def _file_sha256(path: Path) -> str:
    """The file's sha256, or "" when there is no such file (a profile not locked yet)."""
    return sha256(path) if path.is_file() else ""


def input_files(project: Project, profile: Profile, dockerfile: Path) -> list[Path]:
    """The Dockerfile and its ignore file, the lock, the scripts copied in."""
    files = [dockerfile, dockerfile.with_name(f"{dockerfile.name}.dockerignore")]
    files += [locks.lock_path(profile), *sorted((project.root / "smoke_tests").glob("*.py"))]
    return files


def build_inputs(project: Project, profile: Profile, dockerfile: Path, base_id: str) -> str:
    """The input files and the base."""
    digest = hashlib.sha256(base_id.encode())
    for path in input_files(project, profile, dockerfile):
        digest.update(path.name.encode() + b"\0" + _file_sha256(path).encode())
    return digest.hexdigest()


def build(
    profile: Profile,
    project: Project,
    engine: Engine,
    *,
    tag: str | None = None,
    base_image: str | None = None,
    require_gpu: bool = False,
    fresh: bool = False,
    worker_tests: WorkerTests | None = None,
) -> Built:
    """Lock, fill the wheelhouse, render, build, and run the tiers against the image.

    What the previous step proved unchanged is not done again: an image already built from
    these exact inputs is not rebuilt, tiers 1-2 are read from the build's own smoke step,
    and a passing verdict on the same image is reused (`fresh` does everything again).
    """
    timings = Timings()
    tag = tag or default_tag(profile)
    with timings.step("lock", str(locks.lock_path(profile))):
        lock = locks.prepare(profile)
    with timings.step("wheelhouse", str(project.wheelhouse_dir(profile.name))):
        outcome = wheelhouse.fill(profile, lock, project.wheelhouse_dir(profile.name))
    with timings.step("render", str(project.dockerfile(profile.name))):
        render.write(profile, project)
        _sync_smoke_scripts(project)
        render.place_installer(project)
    with timings.step("base", profile.base.image):
        chosen = base.choose(profile, engine, override=base_image)
        progress.note(f"    using {chosen.ref} ({chosen.why})")
    build_args = {"BASE_IMAGE": chosen.ref}
    dockerfile = project.dockerfile(profile.name)
    base_info = engine.image(chosen.ref)
    inputs = build_inputs(project, profile, dockerfile, base_info.id if base_info else chosen.ref)
    existing = engine.image(tag)
    image, built = tag, True
    ours = existing is not None and builds.by_imagegate(
        project, profile, image_id=existing.id, inputs=inputs
    )
    if existing is not None and not ours and existing.labels.get(INPUTS_LABEL) == inputs:
        progress.note(
            f"==> build: {tag} ({existing.id[:19]}) says it was built from these inputs, but "
            "imagegate did not build it; building"
        )
    if existing is not None and ours and not fresh:
        progress.note(f"==> build: {tag} was built from these exact inputs; not rebuilt")
        image_id = existing.id
    else:
        with timings.step("build", tag):
            log, image_id = _docker_build(
                engine,
                context=project.root,
                dockerfile=dockerfile,
                tag=tag,
                build_args=build_args,
                labels={
                    INPUTS_LABEL: inputs,
                    **provenance.labels(project.root, input_files(project, profile, dockerfile)),
                },
            )
        built = log.ok
        if log.ok:
            builds.remember(project, profile, image_id=image_id, inputs=inputs)
        else:
            if _NO_BUILDKIT in log.output:
                raise EnvironmentProblem(f"docker build: {log.tail(1)}; set IMAGEGATE_DOCKER_CLI")
            image = unverified_tag(tag)
            with timings.step(
                "stack", f"the build failed; building the unverified stack as {image}"
            ):
                stack, image_id = _docker_build(
                    engine,
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
    with timings.step("verify", f"the smoke tiers against {image}, networking off"):
        verified = verify_image(
            profile,
            project,
            engine,
            image_id,
            require_gpu=require_gpu,
            fresh=fresh,
            own_reports=built,
            worker_tests=worker_tests,
        )
    findings = verified.findings
    if not built and passed(findings):
        raise BuildFailed(
            f"{profile.name}: the smoke step failed in the build but not in a container; "
            f"last lines:\n{log.tail(15)}"
        )
    info = engine.image(image_id)
    return Built(
        profile=profile.name,
        image=image,
        image_id=image_id,
        findings=findings,
        built=built,
        wheelhouse=outcome,
        base_image=chosen.ref,
        size=info.size if info else 0,
        seconds=timings.steps,
        python=verified.python,
        reused=verified.reused,
        installed=verified.installed,
    )


def _docker_build(engine: Engine, **arguments: Any) -> tuple[runner.Completed, str]:
    """`engine.build`, and the ID of the image it built as the build itself reports it
    ("" when it failed): the tag names whatever was tagged last."""
    with files.scratch("build") as folder:
        iidfile = folder / "iid"
        log = engine.build(**arguments, iidfile=iidfile)
        image_id = iidfile.read_text(encoding="utf-8").strip() if iidfile.is_file() else ""
    if log.ok and not image_id:
        raise EnvironmentProblem("docker build: it reported no image ID (--iidfile); update Docker")
    return log, image_id


def _build_reports(
    engine: Engine, info: ImageInfo, profile: Profile
) -> tuple[Facts | None, ModelFacts | None]:
    """What the build's own smoke step found in the image `info` names (None where it has
    no such file). Only for an image imagegate built: anyone can write these files."""
    raw = engine.read_file(info.id, BUILD_FACTS)
    source = f"{info.ref}: {BUILD_FACTS}"
    facts = Facts.from_json(raw.decode(), source=source) if raw else None
    raw = engine.read_file(info.id, BUILD_MODELS) if has_models(profile) else None
    source = f"{info.ref}: {BUILD_MODELS}"
    models = ModelFacts.from_json(raw.decode(), source=source) if raw else None
    return facts, models


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
    image_id: str = ""
    """The image judged: what was pushed is it, labelled; empty when nothing was judged."""
    sbom: str = ""
    """The SBOM's digest (the image's `org.imagegate.sbom` label); empty when none was written."""
    bom_file: Path | None = None

    def report_fields(self) -> dict[str, object]:
        """What a report shows beside the findings."""
        return {
            "pushed": self.pushed,
            "ref": self.ref,
            "digest": self.digest,
            "image_id": self.image_id,
            "reason": self.reason,
            "seconds": self.seconds,
            **({"sbom": str(self.bom_file), "sbom_digest": self.sbom} if self.bom_file else {}),
        }


def gate(
    profile: Profile,
    project: Project,
    engine: Engine,
    *,
    push: str,
    bom_file: Path,
    image: str | None = None,
    tag: str | None = None,
    python: str | None = None,
    base_image: str | None = None,
    require_gpu: bool = False,
    fresh: bool = False,
    worker_tests: WorkerTests | None = None,
) -> Gated:
    """Check, build (as `tag`, or take `image`, built elsewhere), verify; label and push
    `push` only when every finding passed, with the SBOM of what it pushes written to
    `bom_file` and its digest in a label.

    What is labelled and pushed is the image ID that was judged, never whatever a tag
    names by then; the registry is then asked what it holds under `push`, which must be
    the digest of that very image (see `_push_judged`)."""
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
    if image is None:
        built = build(
            profile,
            project,
            engine,
            tag=tag,
            base_image=base_image,
            require_gpu=require_gpu,
            fresh=fresh,
            worker_tests=worker_tests,
        )
        findings += built.findings
        timings.steps.update({f"build.{k}": v for k, v in built.seconds.items()})
        if not built.passed:
            return refused("the image failed its smoke tiers")
        image_id, python, installed = built.image_id, built.python, built.installed
    else:
        with timings.step("verify", f"every tier against {image}, networking off"):
            verified = verify_image(
                profile,
                project,
                engine,
                image,
                python=python,
                require_gpu=require_gpu,
                fresh=fresh,
                worker_tests=worker_tests,
            )
        findings += verified.findings
        if not passed(verified.findings):
            return refused("the image failed its smoke tiers")
        image_id, python, installed = verified.image_id, verified.python, verified.installed
    lock = Lock.read(locks.lock_path(profile))
    bom = sbom.write(bom_file, sbom.document(push, installed, lock))
    progress.note(f"==> sbom: {bom_file} ({bom})")
    labels = {
        PROFILE_LABEL: profile.name,
        LOCK_LABEL: f"sha256:{lock.sha256}",
        PYTHON_LABEL: python,
        SBOM_LABEL: bom,
        VERIFIED_LABEL: "passed",
        VERIFIED_IMAGE_LABEL: image_id,
        FINDINGS_LABEL: json.dumps(counts(findings), sort_keys=True),
    }
    ran = [f for f in findings if f.tier == worker.TIER and f.check == "worker"]
    if ran:
        ok = sum(f.status is Status.OK for f in ran)
        labels[WORKER_LABEL] = f"passed: {ok} of {len(ran)} tests"
    with timings.step("push", push):
        digest = _push_judged(engine, image_id, push, labels)
    return Gated(
        profile=profile.name,
        ref=push,
        pushed=True,
        digest=digest,
        reason="every finding passed",
        findings=findings,
        seconds=timings.steps,
        image_id=image_id,
        sbom=bom,
        bom_file=bom_file,
    )


def _push_judged(engine: Engine, image_id: str, push: str, labels: Mapping[str, str]) -> str:
    """Label the judged `image_id` as `push` and push it; the manifest digest pushed.

    The labelled copy must hold the judged image's layers unchanged, the registry must
    hold that digest under `push`, and it must be the labelled copy's (a tag moved during
    the push would have sent another image): else PushMismatch."""
    judged = engine.image(image_id)
    labelled = engine.label(image_id, push, labels)
    copy = engine.image(labelled)
    if judged is None or copy is None or copy.layers != judged.layers:
        raise PushMismatch(
            f"{push}: the labelled copy of {image_id[:19]} does not hold its layers; "
            "nothing was pushed"
        )
    digest = engine.push(push)
    repository, _ = references.repository_and_tag(push)
    held = engine.registry_digest(push)
    ours = engine.image(labelled)
    if held != digest or ours is None or f"{repository}@{digest}" not in ours.repo_digests:
        raise PushMismatch(
            f"{push}: the registry holds {held}, the push reported {digest}, and the judged "
            f"image {image_id[:19]} labelled is {labelled[:19]}: they are not one image; "
            f"do not deploy {push}, and gate it again"
        )
    progress.note(f"==> gate: {push} is {digest}, the judged {image_id[:19]} labelled")
    return digest
