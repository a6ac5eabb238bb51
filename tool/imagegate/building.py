"""`build`: lock, fill the wheelhouse, render, build the image, verify it; each step takes
the previous one's result. The lock is obtained once and handed down as a value: the
Dockerfile is rendered from it, the build's inputs are digested from it, the image is
judged against it.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from packaging.utils import NormalizedName

from imagegate import (
    base,
    builds,
    engine_io,
    files,
    progress,
    provenance,
    render,
    resolver,
    runner,
    wheelhouse,
)
from imagegate.contract import BUILD_FACTS, BUILD_MODELS, INPUTS_LABEL, REPORTS_STAGE
from imagegate.engine import Engine
from imagegate.errors import BuildFailed, EnvironmentProblem
from imagegate.facts import Facts, ModelFacts
from imagegate.files import sha256
from imagegate.findings import Finding, passed
from imagegate.lock import Lock
from imagegate.profiles import Profile
from imagegate.project import Project
from imagegate.scripts import has_models, script_files
from imagegate.worker_tests import WorkerTests
from imagegate.workflow import (
    BuildReports,
    Timings,
    Verified,
    default_tag,
    unverified_tag,
    verify_image,
)

_NO_BUILDKIT = "buildx component is missing"
BESIDE_AT_MOST = 1 << 30
"""The largest wheelhouse whose build sends its context twice to overlap the smoke step
with the export. Measured on two cores: cpu's 232 MB cost 3.5 s more and saved about 5 s;
cuda130's 3 GB cost 28 s more (and a CI run's cuda130 build 56 s -> 138 s) to save 17 s."""


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
    lock: Lock
    """The profile's lock the image was built from and judged against (committed by now)."""
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


def input_digests(project: Project, lock: Lock, rendered: Mapping[Path, str]) -> dict[Path, str]:
    """Each input file of the build with its sha256: the Dockerfile and its ignore file (as
    rendered), the lock (the value's digest), then the scripts copied into the image."""
    digests = {
        path: hashlib.sha256(text.encode("utf-8")).hexdigest() for path, text in rendered.items()
    }
    digests[lock.path] = lock.sha256
    digests |= {path: sha256(path) for path in sorted(project.smoke_tests.glob("*.py"))}
    return digests


def build_inputs(digests: Mapping[Path, str], base_id: str) -> str:
    """One digest of the input files' digests (by name) and the base."""
    digest = hashlib.sha256(base_id.encode())
    for path, file_digest in digests.items():
        digest.update(path.name.encode() + b"\0" + file_digest.encode())
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
    lock: Lock | None = None,
) -> Built:
    """Lock, fill the wheelhouse, render, build, and run the tiers against the image.

    `lock` is a lock already in hand (the one `gate`'s check judged): used when it is fresh,
    so it is not read or resolved again.

    What the previous step proved unchanged is not done again: an image already built from
    these exact inputs is not rebuilt, tiers 1-2 are read from the build's own smoke step,
    and a passing verdict on the same image is reused (`fresh` does everything again).
    """
    timings = Timings()
    tag = tag or default_tag(profile)
    with timings.step("lock", str(project.lock(profile))):
        lock = resolver.prepare(profile, lock)
    with timings.step("wheelhouse", str(project.wheelhouse_dir(profile.name))):
        outcome = wheelhouse.fill(profile, lock, project.wheelhouse_dir(profile.name))
    with timings.step("render", str(project.dockerfile(profile.name))):
        rendered = render.write(profile, project, lock)
        _sync_smoke_scripts(project)
        render.place_installer(project)
    with timings.step("base", profile.base.image):
        chosen = base.choose(profile, engine, override=base_image)
        progress.note(f"    using {chosen.ref} ({chosen.why})")
    build_args = {"BASE_IMAGE": chosen.ref}
    dockerfile = project.dockerfile(profile.name)
    base_info = engine.image(chosen.ref)
    digests = input_digests(project, lock, rendered.files)
    inputs = build_inputs(digests, base_info.id if base_info else chosen.ref)
    existing = engine.image(tag)
    image, built = tag, True
    reports: BuildReports | None = None
    smoke_log = ""
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
            made = _docker_build(
                engine,
                profile,
                project,
                dockerfile=dockerfile,
                build_args=build_args,
                labels={
                    INPUTS_LABEL: inputs,
                    **provenance.labels(project.root, list(digests)),
                },
            )
        if not made.image.ok:
            if _NO_BUILDKIT in made.image.output:
                raise EnvironmentProblem(
                    f"docker build: {made.image.tail(1)}; set IMAGEGATE_DOCKER_CLI"
                )
            raise BuildFailed(
                f"{profile.name}: docker build failed before the smoke step; last lines:\n"
                f"{made.tail(15)}"
            )
        image_id, reports = made.image_id, made.reports
        built = reports is not None
        image = tag if built else unverified_tag(tag)
        engine.tag(image_id, image)
        if built:
            builds.remember(project, profile, image_id=image_id, inputs=inputs)
        else:
            smoke_log = made.smoke.tail(15)
            progress.note(f"    the smoke step failed; the unverified stack is {image}")
    with timings.step("verify", f"the smoke tiers against {image}, networking off"):
        verified = verify_image(
            profile,
            project,
            engine,
            image_id,
            lock=lock,
            require_gpu=require_gpu,
            fresh=fresh,
            reports=reports,
            worker_tests=worker_tests,
        )
    findings = verified.findings
    if not built and passed(findings):
        raise BuildFailed(
            f"{profile.name}: the smoke step failed in the build but not in a container; "
            f"last lines:\n{smoke_log}"
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
        lock=lock,
        reused=verified.reused,
        installed=verified.installed,
    )


@dataclass(frozen=True, kw_only=True)
class _Made:
    """The two builds of one Dockerfile: the image, and its smoke step's reports beside it."""

    image: runner.Completed
    smoke: runner.Completed
    image_id: str
    """The image built, as the build itself reports it ("" when it failed)."""
    reports: BuildReports | None
    """None when the smoke step failed."""

    def tail(self, lines: int) -> str:
        """The last lines of the log that shows the steps both builds ran (BuildKit shows
        a step in one of them only), which is the longer one."""
        return max(self.image, self.smoke, key=lambda log: len(log.output)).tail(lines)


def _docker_build(
    engine: Engine,
    profile: Profile,
    project: Project,
    *,
    dockerfile: Path,
    build_args: Mapping[str, str],
    labels: Mapping[str, str],
) -> _Made:
    """The image (untagged: the caller tags what it judged) and the reports stage, written
    to a scratch folder and read from there, started as `reports_beside` says."""
    with files.scratch("build") as folder:
        iidfile, out = folder / "iid", folder / "reports"
        image, smoke = engine.build_beside(
            context=project.root,
            dockerfile=dockerfile,
            build_args=build_args,
            labels=labels,
            iidfile=iidfile,
            reports=REPORTS_STAGE,
            reports_dir=out,
            beside_when=reports_beside(project, profile),
        )
        image_id = iidfile.read_text(encoding="utf-8").strip() if iidfile.is_file() else ""
        reports = _reports(out, profile) if image.ok and smoke.ok else None
    if image.ok and not image_id:
        raise EnvironmentProblem("docker build: it reported no image ID (--iidfile); update Docker")
    return _Made(image=image, smoke=smoke, image_id=image_id, reports=reports)


def reports_beside(project: Project, profile: Profile) -> Callable[[str], bool]:
    """When, reading the image build's log, the reports build starts beside it: when the
    stack's first install step runs (a cold stack) and the wheelhouse is at most
    BESIDE_AT_MOST; its context transfer then hides behind the installs and its smoke step
    behind the export. Otherwise never: it starts once the image is built, as a warm stack
    leaves nothing to hide it behind, and sending gigabytes of CUDA wheels again beside the
    first build costs more than the smoke step it would overlap."""
    wheelhouse = project.wheelhouse_dir(profile.name)
    size = sum(f.stat().st_size for f in wheelhouse.rglob("*") if f.is_file())
    if size > BESIDE_AT_MOST:
        return _never
    return engine_io.FirstRunning(f"source={project.relative(wheelhouse)}/")


def _never(_line: str) -> bool:
    return False


def _reports(folder: Path, profile: Profile) -> BuildReports:
    """The smoke step's reports as the build wrote them to `folder`."""
    found = {name: folder / PurePosixPath(name).name for name in (BUILD_FACTS, BUILD_MODELS)}
    if not found[BUILD_FACTS].is_file():
        raise EnvironmentProblem(
            f"docker build: the {REPORTS_STAGE} stage wrote no {found[BUILD_FACTS].name} "
            "(--output type=local); update Docker"
        )
    text = found[BUILD_FACTS].read_text(encoding="utf-8")
    facts = Facts.from_json(text, source=f"the build's smoke step: {BUILD_FACTS}")
    models = None
    if has_models(profile):
        text = found[BUILD_MODELS].read_text(encoding="utf-8")
        models = ModelFacts.from_json(text, source=f"the build's smoke step: {BUILD_MODELS}")
    return BuildReports(facts=facts, models=models)


def _sync_smoke_scripts(project: Project) -> None:
    """The build context needs the in-image scripts; copy the packaged ones if they differ."""
    destination = project.smoke_tests
    for source in script_files():
        target = destination / source.name
        if source.resolve() == target.resolve():
            continue
        if not target.is_file() or target.read_bytes() != source.read_bytes():
            destination.mkdir(exist_ok=True)
            shutil.copyfile(source, target)
