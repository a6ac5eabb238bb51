"""A verdict is earned, never inherited (issue 18): a child of a passing image carries its
labels and build facts and must still be judged; a kept verdict written anywhere but by this
user's imagegate on that very image is never served; the gate pushes the image it judged."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from imagegate import sbom, shipping, verdicts
from imagegate.contract import BUILD_FACTS, INPUTS_LABEL, VERIFIED_IMAGE_LABEL
from imagegate.engine import Engine
from imagegate.profiles import load_profile
from imagegate.project import Project

from .conftest import CPU_IMAGE, REPOSITORY, Run, findings, imagegate, tags, with_kept_verdicts
from .test_foreign import docker_build

pytestmark = pytest.mark.docker

DRIFTED = "4.57.3"
"""A transformers release over the locked 4.51.3: it does not import beside the locked
tokenizers, so the child is broken while its inherited labels and facts say it passed."""


@pytest.fixture(scope="module")
def names(engine: Engine) -> Iterator[dict[str, str]]:
    """Unique tags for this module's images; every one removed afterwards."""
    run = uuid.uuid4().hex[:8]
    made = {name: f"{REPOSITORY}/earned-{name}:{run}" for name in ("t", "other", "moving")}
    yield made
    for ref in made.values():
        engine.remove_image(ref)


@pytest.fixture(scope="module")
def child(
    cpu_build: Run, engine: Engine, names: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, str]:
    """`build cpu --tag T` passes; then an image FROM T installing transformers 4.57.3 over
    the locked one is tagged T. Returns the IDs of both."""
    assert cpu_build.code == 0, cpu_build.stderr[-2000:]
    tag = names["t"]
    first = imagegate("build", "cpu", "--tag", tag, "--format", "json")
    assert first.code == 0, first.stderr[-3000:]
    parent = engine.image(tag)
    assert parent is not None
    context = tmp_path_factory.mktemp("child")
    download = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:"]
    fetched = subprocess.run(
        [*download, "-d", str(context / "wheels"), f"transformers=={DRIFTED}"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert fetched.returncode == 0, fetched.stderr[-2000:]
    docker_build(
        context,
        f"FROM {tag}\n"
        "RUN --mount=type=bind,source=wheels,target=/wheels "
        "/opt/venv/bin/python -m pip install --no-index --no-deps /wheels/*.whl\n",
        tag,
        context,
    )
    made = engine.image(tag)
    assert made is not None and made.id != parent.id
    inherited = made.labels.get(INPUTS_LABEL)
    assert inherited == parent.labels[INPUTS_LABEL]  # the premise: it inherits them
    # the parent holds no report of its build's smoke step for the child to inherit
    assert engine.read_file(made.id, BUILD_FACTS) is None
    return {"parent": parent.id, "child": made.id}


def test_a_build_never_passes_a_child_that_took_over_its_tag(
    child: dict[str, str], engine: Engine, names: dict[str, str]
) -> None:
    tag = names["t"]
    subprocess.run(["docker", "tag", child["child"], tag], check=True)

    again = imagegate("build", "cpu", "--tag", tag, "--format", "json")

    now = engine.image(tag)
    assert now is not None and now.id != child["child"]
    assert "not rebuilt" not in again.stderr
    assert again.code == 0, again.stderr[-3000:]
    assert again.json()["image_id"] == now.id  # the tag names the image judged, not the child


def test_verify_and_gate_of_the_child_fail_and_push_nothing(
    child: dict[str, str], registry: str, names: dict[str, str]
) -> None:
    other = names["other"]
    subprocess.run(["docker", "tag", child["child"], other], check=True)

    verified = imagegate("verify", "cpu", "--image", other, "--format", "json")
    gated = imagegate(
        "gate", "cpu", "--image", other, "--push", f"{registry}/earned/child:t", "--format", "json"
    )

    assert verified.code == 1, verified.stderr[-3000:]
    assert "verdict" not in verified.json()
    found = findings(verified.json())
    assert found[("lock", "transformers")]["actual"] == DRIFTED
    assert found[("import", "transformers")]["status"] == "BROKEN"
    assert gated.code == 1
    assert gated.json()["pushed"] is False
    assert tags(registry, "earned/child") == []


def test_gate_without_image_pushes_a_fresh_build_never_the_child(
    child: dict[str, str], engine: Engine, registry: str, names: dict[str, str]
) -> None:
    tag = names["t"]
    subprocess.run(["docker", "tag", child["child"], tag], check=True)
    ref = f"{registry}/earned/gated:t"

    gated = imagegate("gate", "cpu", "--tag", tag, "--push", ref, "--format", "json")

    assert gated.code == 0, gated.stderr[-3000:]
    judged = gated.json()["image_id"]
    assert judged != child["child"]
    pushed = engine.image(ref)
    assert pushed is not None
    assert pushed.labels[VERIFIED_IMAGE_LABEL] == judged
    assert pushed.layers == engine.image(judged).layers  # type: ignore[union-attr]
    assert pushed.layers != engine.image(child["child"]).layers  # type: ignore[union-attr]
    assert engine.registry_digest(ref) == gated.json()["digest"]
    engine.remove_image(ref)


def test_a_verdict_copied_to_the_child_is_not_served(
    child: dict[str, str], workspace: Path, names: dict[str, str]
) -> None:
    """The passing verdict of the parent, copied under the key a verify of the child looks
    for, as a restored cache or a hand edit would place it."""
    other = names["other"]
    subprocess.run(["docker", "tag", child["child"], other], check=True)
    profile = load_profile("cpu", workspace / "profiles")
    lock = (workspace / "profiles" / "pylock.cpu.toml").read_bytes()
    wanted = verdicts.key(
        profile,
        image_id=child["child"],
        python="/opt/venv/bin/python",
        lock_sha256=hashlib.sha256(lock).hexdigest(),
        require_gpu=False,
        gpus=False,
    )
    path = workspace / ".imagegate" / "verdicts" / "cpu.json"
    kept = json.loads(path.read_text(encoding="utf-8"))
    parents = [entry for entry in kept if entry["image_id"] == child["parent"]]
    assert parents, "the parent's build kept a passing verdict"
    forged = {**parents[0], "key": wanted, "image_id": child["child"], "image": other}
    path.write_text(json.dumps([forged, *kept]), encoding="utf-8")
    try:
        verified = imagegate("verify", "cpu", "--image", other, "--format", "json")
    finally:
        path.write_text(json.dumps(kept), encoding="utf-8")

    assert verified.code == 1, verified.stderr[-3000:]
    assert "verdict" not in verified.json()


def test_a_verdict_restored_from_another_machine_is_not_served(
    cpu_build: Run, workspace: Path, tmp_path: Path
) -> None:
    assert cpu_build.code == 0
    profiles = with_kept_verdicts(workspace, tmp_path / "project")
    here = imagegate("verify", "cpu", "--format", "json", "--profiles", profiles)
    assert here.json().get("verdict", "").startswith("reused from ")  # the control

    elsewhere = imagegate(
        "verify",
        "cpu",
        "--format",
        "json",
        "--profiles",
        profiles,
        env={"XDG_STATE_HOME": str(tmp_path / "another-machine")},
    )

    assert elsewhere.code == 0, elsewhere.stderr[-3000:]
    assert "verdict" not in elsewhere.json()  # judged afresh


def test_the_gate_pushes_the_image_it_judged_when_the_tag_moves_meanwhile(
    cpu_build: Run,
    base_image: str,
    engine: Engine,
    registry: str,
    workspace: Path,
    names: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """The tag is moved to another image after the tiers judged it, before the push."""
    assert cpu_build.code == 0
    moving = names["moving"]
    subprocess.run(["docker", "tag", CPU_IMAGE, moving], check=True)
    judged = engine.image(moving)
    assert judged is not None
    write = sbom.write

    def write_then_move(*args: object, **kwargs: object) -> str:
        subprocess.run(["docker", "tag", base_image, moving], check=True)
        return write(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(sbom, "write", write_then_move)
    ref = f"{registry}/earned/moving:t"
    profile = load_profile("cpu", workspace / "profiles")
    project = Project.from_profiles(workspace / "profiles")

    gated = shipping.gate(
        profile, project, engine, push=ref, bom_file=tmp_path / "bom.json", image=moving
    )

    assert gated.pushed and gated.image_id == judged.id
    assert engine.image(moving).id != judged.id  # type: ignore[union-attr]  # it did move
    pushed = engine.image(ref)
    assert pushed is not None and pushed.layers == judged.layers
    assert pushed.labels[VERIFIED_IMAGE_LABEL] == judged.id
    assert engine.registry_digest(ref) == gated.digest
    engine.remove_image(ref)
