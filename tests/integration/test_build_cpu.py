"""The `cpu` profile end to end on the real engine: wheelhouse, image, tiers 1-2."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

from imagegate.contract import ENTRY, PROTECTED, RUN_DIR
from imagegate.engine import Engine
from imagegate.scripts import OFFLINE, scripts_dir

from .conftest import CPU_IMAGE, REPOSITORY, Run, findings, imagegate


def test_cpu_image_builds_and_every_row_is_ok(cpu_build: Run) -> None:
    assert cpu_build.code == 0, cpu_build.stderr[-3000:]
    document = cpu_build.json()
    assert document["passed"] is True
    rows = findings(document)
    assert rows[("pin", "torch")]["actual"] == "2.13.0+cpu"
    assert rows[("pin", "transformers")]["actual"] == "4.51.3"
    assert rows[("fact", "torch.version.cuda")]["actual"] == "None"
    assert rows[("statement", "peft-lora")]["status"] == "OK"
    failed = [f for f in document["findings"] if f["status"] not in ("OK", "SKIPPED")]
    assert failed == []
    imported = {f["subject"] for f in document["findings"] if f["check"] == "import"}
    assert {"tokenizers", "safetensors", "huggingface_hub"} <= imported  # unpinned deps too
    assert rows[("model", "gpt2/generate")]["status"] == "OK"
    assert rows[("model", "llama/lora")]["status"] == "OK"
    # Tier 3 ran in the build's own step, beside tiers 1-2: no container was started for it.
    assert "==> tier 3" not in cpu_build.stderr
    # The step also held the installed files to their RECORD and each module to its files.
    checked = [(f["tier"], f["check"], f["status"]) for f in document["findings"]]
    assert [row for row in checked if row[1] in ("files", "origin")] == [
        (1, "files", "OK"),
        (2, "origin", "OK"),
    ]


def test_a_passing_build_reads_in_15_lines_of_120_columns(cpu_build: Run, engine: Engine) -> None:
    """What a person reads of a real build (built again, not a kept verdict), without -v, on
    stdout and stderr together, where there is no terminal; then every row with -v."""
    assert cpu_build.code == 0
    tag = f"{REPOSITORY}/cpu-read:latest"
    try:
        run = imagegate("build", "cpu", "--tag", tag, "--fresh")
        every = imagegate("-v", "build", "cpu", "--tag", tag)  # the verdict kept: no build
    finally:
        engine.remove_image(tag)

    assert run.code == 0, run.stderr[-3000:]
    lines = (run.stdout + run.stderr).splitlines()
    assert len(lines) <= 15, "\n".join(lines)
    assert max(len(line) for line in lines) <= 120, "\n".join(lines)
    assert run.stdout.strip().splitlines()[-1].startswith(f"cpu ({tag}): PASSED (")
    assert every.code == 0, every.stderr[-3000:]
    assert len(every.stdout.splitlines()) > len(cpu_build.json()["findings"])


def test_a_tier_3_failure_in_the_smoke_step_fails_it_and_is_reported(
    cpu_build: Run, engine: Engine
) -> None:
    """What the build's step runs, with a model type transformers does not know: the step
    exits 1 (so `docker build` fails) and the model report says which step broke."""
    assert cpu_build.code == 0
    command = ["/opt/venv/bin/python", f"{RUN_DIR}/{ENTRY}", "--tiers", "1"]
    command += ["--output", "/tmp/facts.json", "--models-output", "/tmp/models.json"]
    command += ["--model-arg=--arch=nosucharch", "--model-arg=--quiet"]
    command += ["--model-arg=--fail-on-broken", "--fail-on-broken"]  # as the Dockerfile's
    command += ["--quiet"]
    shell = f"{shlex.join(command)}; echo exit=$?; cat /tmp/models.json"
    ran = engine.run(
        CPU_IMAGE,
        ["sh", "-c", shell],
        files={RUN_DIR: scripts_dir()},
        timeout=300,
        environment=OFFLINE,
    )

    assert ran.returncode == 0, ran.errors
    head, _, report = ran.output.partition("\n")
    assert head == "exit=1"
    steps = {step["step"]: step for step in json.loads(report)["steps"]}
    assert steps["nosucharch/build"]["ok"] is False
    assert "nosucharch" in steps["nosucharch/build"]["error"]


def _wheel_files(engine: Engine, image: str) -> set[str]:
    ran = engine.run(image, ["find", "/", "-xdev", "-name", "*.whl"], files={}, timeout=120)
    assert ran.returncode == 0, ran.errors
    return set(ran.output.split())


def test_cpu_image_holds_no_wheel_files(
    cpu_build: Run, engine: Engine, base_image: str, workspace: Path
) -> None:
    """Wheels are bind-mounted during the install; none of them may stay in a layer."""
    assert cpu_build.code == 0
    added = _wheel_files(engine, CPU_IMAGE) - _wheel_files(engine, base_image)
    assert added == set()
    wheelhouse = workspace / "wheelhouse" / "cpu" / PROTECTED
    assert any(wheelhouse.glob("torch-2.13.0+cpu-*.whl"))


def test_verify_judges_the_image_against_other_pins(cpu_build: Run, project: Path) -> None:
    """The same real image, judged against pins it does not hold: exact, local label included."""
    assert cpu_build.code == 0
    profile = project / "profiles" / "cpu.yaml"
    text = profile.read_text().replace('torch: "2.13.0+cpu"', 'torch: "2.13.0"')
    profile.write_text(text.replace('torch.version.cuda: "None"', 'torch.version.cuda: "13.0"'))
    common = project / "profiles" / "_common.yaml"
    common.write_text(common.read_text().replace('"4.51.3"', '"4.57.3"'))
    run = imagegate(
        "verify",
        "cpu",
        "--image",
        CPU_IMAGE,
        "--format",
        "json",
        "--verbose",
        "--profiles",
        str(project / "profiles"),
    )
    assert run.code == 1, run.stderr
    rows = findings(run.json())
    assert rows[("pin", "torch")]["status"] == "WRONG VERSION"
    assert (rows[("pin", "torch")]["expected"], rows[("pin", "torch")]["actual"]) == (
        "==2.13.0",
        "2.13.0+cpu",
    )
    assert rows[("pin", "transformers")]["status"] == "WRONG VERSION"
    assert rows[("fact", "torch.version.cuda")]["status"] == "WRONG VERSION"


def layers_through_protected(dockerfile: Path) -> int:
    """How many layers the stack stage makes up to and including the protected install."""
    made = 0
    for line in dockerfile.read_text(encoding="utf-8").splitlines():
        made += line.split(" ", 1)[0] in ("RUN", "COPY", "ADD")
        if "/protected" in line and made:
            return made
    raise AssertionError(f"{dockerfile} installs no protected layer")


def test_rebuild_after_a_light_pin_bump_keeps_the_torch_layer(
    cpu_build: Run, project: Path, engine: Engine, base_image: str
) -> None:
    """The outcome, not a tool's log: the bumped image holds the very torch layer (and every
    layer before it) of the image built before the bump."""
    assert cpu_build.code == 0
    common = project / "profiles" / "_common.yaml"
    tag = f"{REPOSITORY}/cpu-bumped:latest"
    profiles = ["--profiles", str(project / "profiles")]

    try:
        # Build the unbumped stack first in this project, so its layers are the ones kept.
        warm = imagegate("build", "cpu", "--tag", tag, "--fresh", *profiles)
        assert warm.code == 0, warm.stderr[-3000:]
        before = engine.image(tag)
        common.write_text(common.read_text().replace('accelerate: "1.6.0"', 'accelerate: "1.7.0"'))
        run = imagegate("build", "cpu", "--tag", tag, "--fresh", "--format", "json", *profiles)
        after = engine.image(tag)
    finally:
        engine.remove_image(tag)

    assert run.code == 0, run.stderr[-3000:]
    assert findings(run.json())[("pin", "accelerate")]["actual"] == "1.7.0"
    assert before is not None and after is not None and before.id != after.id
    base = engine.image(base_image)
    assert base is not None
    kept = len(base.layers) + layers_through_protected(project / "dockerfiles" / "cpu.Dockerfile")
    assert after.layers[:kept] == before.layers[:kept]
    assert after.layers != before.layers  # the bump did change a later layer
