"""`gate`: check, build (or take an image built elsewhere), verify; then label and push the
very image judged, with its SBOM, only when every finding passed.

The lock the check judged is the one the build uses and the SBOM and labels name: it is
read (or resolved) once.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from imagegate import building, preflight, progress, references, sbom
from imagegate.contract import (
    FINDINGS_LABEL,
    LOCK_LABEL,
    PROFILE_LABEL,
    PYTHON_LABEL,
    SBOM_LABEL,
    VERIFIED_IMAGE_LABEL,
    VERIFIED_LABEL,
    WORKER_LABEL,
)
from imagegate.engine import Engine
from imagegate.errors import PushMismatch
from imagegate.findings import Finding, Status, counts, passed
from imagegate.profiles import Profile
from imagegate.project import Project
from imagegate.worker_tests import TIER, WorkerTests
from imagegate.workflow import Timings, verify_image


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
        checked = preflight.examine(profile)
    findings, lock = checked.findings, checked.lock

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

    if not passed(findings) or lock is None:
        return refused("the preflight failed")
    if image is None:
        built = building.build(
            profile,
            project,
            engine,
            tag=tag,
            base_image=base_image,
            require_gpu=require_gpu,
            fresh=fresh,
            worker_tests=worker_tests,
            lock=lock,
        )
        findings += built.findings
        timings.steps.update({f"build.{k}": v for k, v in built.seconds.items()})
        if not built.passed:
            return refused("the image failed its smoke tiers")
        image_id, python, installed = built.image_id, built.python, built.installed
        lock = built.lock
    else:
        with timings.step("verify", f"every tier against {image}, networking off"):
            verified = verify_image(
                profile,
                project,
                engine,
                image,
                lock=lock,
                python=python,
                require_gpu=require_gpu,
                fresh=fresh,
                worker_tests=worker_tests,
            )
        findings += verified.findings
        if not passed(verified.findings):
            return refused("the image failed its smoke tiers")
        image_id, python, installed = verified.image_id, verified.python, verified.installed
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
    ran = [f for f in findings if f.tier == TIER and f.check == "worker"]
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
