"""Tier 4 on the example RunPod worker: its Hub tests run in the image, offline.

The example project (examples/runpod-worker) is copied to a temp folder; its stack is built
by imagegate (the `runpod` wheel locked and installed like any other) and the worker image
from the example's own Dockerfile, as its user would.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from imagegate.engine import Engine

from .conftest import REPOSITORY, ROOT, Run, findings, imagegate, tags

pytestmark = pytest.mark.docker

EXAMPLE = ROOT / "examples" / "runpod-worker"
STACK = f"{REPOSITORY}/worker:latest"
"""The stack's default tag under the session's $IMAGEGATE_REPOSITORY: what the example's
Dockerfile builds FROM when given that variable (`--build-arg IMAGEGATE_REPOSITORY`)."""
WORKER = f"{REPOSITORY}/worker:ok"
RAISES = f"{REPOSITORY}/worker:raises"
SILENT = f"{REPOSITORY}/worker:no-command"
FAILED = ("WRONG VERSION", "BROKEN", "MISSING")
NOT_HERE = {
    ("fitness", check)
    for check in ("network", "GPU allocation", "CUDA version", "CUDA device init", "GPU matmul")
}
"""The SDK's fitness checks that cannot run on this machine: SKIPPED, never failed."""
HOST = {("fitness", "memory"), ("fitness", "disk")}
"""The SDK's checks of the machine's free memory and disk: this machine's figures, OK or a
WARN (never a failure) by what is free while the tests run."""
ONE_COLD_START = "worker: {cold_starts: 1}\n"
"""Added to the copied example's profile: its tests time one cold start, not three (each a
worker started anew, ~6 s); the budgets' test times the default three."""
RAISING_HANDLER = """\
import runpod


def handler(job):
    raise RuntimeError("the model file /models/tiny.safetensors is missing")


runpod.serverless.start({"handler": handler})
"""


@dataclass(frozen=True)
class Worker:
    root: Path
    """The example project's copy: its profiles, its .runpod/tests.json."""


def docker_build(context: Path, tag: str, *args: str) -> None:
    """`docker build` with BuildKit through Debian's CLI, as imagegate builds (whatever
    `docker` comes first on PATH may fall back to the deprecated builder); the tag must
    then be there."""
    done = subprocess.run(
        ["/usr/bin/docker", "build", "-q", "-t", tag, *args, str(context)],
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "DOCKER_BUILDKIT": "1"},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert Engine().image(tag) is not None, f"{tag}: built, yet not tagged"


@pytest.fixture(scope="module")
def worker(tmp_path_factory: pytest.TempPathFactory, base_image: str) -> Iterator[Worker]:
    root = tmp_path_factory.mktemp("worker")
    shutil.copytree(EXAMPLE, root, dirs_exist_ok=True, symlinks=False)  # links become files
    shutil.copytree(ROOT / "smoke_tests", root / "smoke_tests")
    built = imagegate("build", "worker", cwd=root)
    assert built.code == 0, built.stderr[-3000:]
    docker_build(root, WORKER, "--build-arg", "IMAGEGATE_REPOSITORY")
    broken = root / "broken"
    broken.mkdir()
    (broken / "handler.py").write_text(RAISING_HANDLER, encoding="utf-8")
    (broken / "Dockerfile").write_text(f"FROM {WORKER}\nCOPY handler.py /worker/handler.py\n")
    docker_build(broken, RAISES)
    silent = root / "silent"
    silent.mkdir()
    (silent / "Dockerfile").write_text(f"FROM {WORKER}\nCMD []\n")
    docker_build(silent, SILENT)
    with (root / "profiles" / "worker.yaml").open("a", encoding="utf-8") as profile:
        profile.write(ONE_COLD_START)  # no input of the lock: the stack stays as built
    try:
        yield Worker(root=root)
    finally:
        engine = Engine()
        for image in (SILENT, RAISES, WORKER, STACK):
            engine.remove_image(image)


def verify(worker: Worker, image: str, *args: str) -> tuple[Run, dict[tuple[str, str], dict]]:
    run = imagegate(
        "verify", "worker", "--image", image, "--format", "json", *args, cwd=worker.root
    )
    return run, findings(run.json()) if run.stdout.strip().startswith("{") else {}


def tier4(rows: dict[tuple[str, str], dict]) -> dict[tuple[str, str], dict]:
    return {key: row for key, row in rows.items() if row["tier"] == 4}


def test_the_example_workers_hub_tests_pass_offline(worker: Worker) -> None:
    run, rows = verify(worker, WORKER)

    assert run.code == 0, run.stderr[-2000:]
    answered = rows[("worker", "answers a prompt")]
    assert answered["status"] == "OK" and answered["seconds"] > 0
    assert rows[("hub", "runsOn")]["status"] == "OK"  # its hub.json: a CPU endpoint
    not_ok = {key for key, row in tier4(rows).items() if row["status"] != "OK"}
    assert not_ok <= NOT_HERE | HOST  # fitness checks that cannot run here (no network, GPU)
    assert {rows[key]["status"] for key in not_ok & NOT_HERE} <= {"SKIPPED"}
    assert {rows[key]["status"] for key in not_ok & HOST} <= {"WARN"}


def test_an_input_the_handler_rejects_fails_with_its_message(worker: Worker) -> None:
    run, rows = verify(worker, WORKER, "--worker-tests", str(worker.root / "rejected.json"))

    assert run.code == 1, run.stderr[-2000:]
    rejected = rows[("worker", "rejects a prompt that is not text")]
    assert rejected["status"] == "BROKEN"
    assert rejected["evidence"] == "ValueError: input.prompt must be a non-empty string"


def test_a_handler_that_raises_fails_tier_4_with_its_error(worker: Worker) -> None:
    run, rows = verify(worker, RAISES, "--worker-mode", "test-input")

    assert run.code == 1, run.stderr[-2000:]
    answered = rows[("worker", "answers a prompt")]
    assert answered["status"] == "BROKEN"
    assert "RuntimeError" in answered["evidence"] and "tiny.safetensors" in answered["evidence"]
    failing = {key for key, row in rows.items() if row["status"] in FAILED}
    assert failing == {("worker", "answers a prompt")}  # the stack beneath it is sound


def test_an_image_without_a_command_fails_every_test_saying_so(worker: Worker) -> None:
    run, rows = verify(worker, SILENT)

    assert run.code == 1, run.stderr[-2000:]
    answered = rows[("worker", "answers a prompt")]
    assert (answered["status"], answered["actual"]) == ("BROKEN", "no command")


def test_a_test_over_its_timeout_is_reported_as_such(worker: Worker, tmp_path: Path) -> None:
    impatient = tmp_path / "impatient.json"
    test = {"name": "answers at once", "input": {"prompt": "hi"}, "timeout": 300}
    impatient.write_text(json.dumps({"tests": [test]}), encoding="utf-8")

    run, rows = verify(worker, WORKER, "--worker-tests", str(impatient))

    assert run.code == 1, run.stderr[-2000:]
    assert rows[("worker", "answers at once")]["actual"] == "timed out"


def test_a_malformed_tests_file_is_one_line_exit_2(worker: Worker, tmp_path: Path) -> None:
    typo = tmp_path / "tests.json"
    typo.write_text(json.dumps({"tests": [{"name": "t", "inputs": {}}]}), encoding="utf-8")

    run = imagegate(
        "verify", "worker", "--image", WORKER, "--worker-tests", str(typo), cwd=worker.root
    )

    assert run.code == 2
    last = run.stderr.strip().splitlines()[-1]
    assert str(typo) in last and "tests[0].inputs" in last
    assert "Traceback" not in run.stderr


def hub_project(worker: Worker, folder: Path, hub: dict | str, **config: object) -> Path:
    """The example's tests.json (its config replaced by `config` when given) beside `hub`
    (JSON, or the file's very text) in `folder`: the tests file, for --worker-tests."""
    tests = json.loads((worker.root / ".runpod" / "tests.json").read_text(encoding="utf-8"))
    if config:
        tests["config"] = config
    (folder / "tests.json").write_text(json.dumps(tests), encoding="utf-8")
    text = hub if isinstance(hub, str) else json.dumps(hub)
    (folder / "hub.json").write_text(text, encoding="utf-8")
    return folder / "tests.json"


def test_a_cpu_worker_listed_on_a_gpu_endpoint_passes_with_a_warning_shown(
    worker: Worker, tmp_path: Path
) -> None:
    listing = json.loads((worker.root / ".runpod" / "hub.json").read_text(encoding="utf-8"))
    listing["config"] = {
        "runsOn": "GPU",
        "gpuIds": "ADA_24",
        "gpuCount": 1,
        "containerDiskInGb": 10,
    }
    tests = hub_project(worker, tmp_path, listing, gpuTypeId="NVIDIA GeForce RTX 4090", gpuCount=0)

    run, rows = verify(worker, WORKER, "--worker-tests", str(tests))
    table = imagegate(
        "verify", "worker", "--image", WORKER, "--worker-tests", str(tests), cwd=worker.root
    )

    assert run.code == 0, run.stderr[-2000:]
    assert rows[("hub", "runsOn")]["status"] == "WARN"
    assert rows[("deployment", "gpuTypeId NVIDIA GeForce RTX 4090")]["status"] == "WARN"
    assert rows[("worker", "answers a prompt")]["status"] == "OK"
    assert table.code == 0
    shown = [line for line in table.stdout.splitlines() if "WARN" in line]
    assert any("runsOn" in line for line in shown), table.stdout  # shown on a pass


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ('{"title": "w", ', "not valid JSON"),
        (
            json.dumps({"title": "w", "description": "d", "type": "serverless",
                        "category": "language", "config": {"runsOn": "CPU", "cpuFlavr": "cpu3c"}}),
            "config.cpuFlavr",
        ),
    ],
)  # fmt: skip
def test_a_bad_hub_json_is_one_line_exit_2(
    worker: Worker, tmp_path: Path, text: str, named: str
) -> None:
    tests = hub_project(worker, tmp_path, text)

    run = imagegate(
        "verify", "worker", "--image", WORKER, "--worker-tests", str(tests), cwd=worker.root
    )

    assert run.code == 2, run.stderr[-2000:]
    last = run.stderr.strip().splitlines()[-1]
    assert str(tmp_path / "hub.json") in last and named in last
    assert "Traceback" not in run.stderr


def test_a_broken_worker_is_never_pushed(worker: Worker, registry: str) -> None:
    destination = f"{registry}/imagegate-test/worker:broken"

    run = imagegate("gate", "worker", "--image", RAISES, "--push", destination, cwd=worker.root)

    assert run.code == 1, run.stderr[-2000:]
    assert tags(registry, "imagegate-test/worker") == []


def test_a_passing_worker_is_pushed_labelled_with_its_tests(
    worker: Worker, registry: str, engine: Engine
) -> None:
    destination = f"{registry}/imagegate-test/worker:ok"

    run = imagegate("gate", "worker", "--image", WORKER, "--push", destination, cwd=worker.root)

    assert run.code == 0, run.stderr[-2000:]
    assert tags(registry, "imagegate-test/worker") == ["ok"]
    info = engine.image(destination)
    assert info is not None
    assert info.labels["org.imagegate.worker"] == "passed: 1 of 1 tests"
    engine.remove_image(destination)


# What a test answered, and what it should: .runpod/tests.expected.json, in both modes.

WRONG = f"{REPOSITORY}/worker:wrong-answer"
ERROR_OBJECT = f"{REPOSITORY}/worker:error-object"
WRONG_HANDLER = """\
import runpod


def handler(job):
    return {"prompt_bytes": 0, "answer_ids": []}


runpod.serverless.start({"handler": handler})
"""
ERROR_OBJECT_HANDLER = """\
import runpod


def handler(job):
    return {"error": "the tokenizer is not loaded"}


runpod.serverless.start({"handler": handler})
"""


@pytest.fixture(scope="module")
def misbehaving(worker: Worker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Workers FROM the example's whose handler answers wrongly, or answers an error object."""
    for tag, handler in ((WRONG, WRONG_HANDLER), (ERROR_OBJECT, ERROR_OBJECT_HANDLER)):
        folder = tmp_path_factory.mktemp("handler")
        (folder / "handler.py").write_text(handler, encoding="utf-8")
        (folder / "Dockerfile").write_text(f"FROM {WORKER}\nCOPY handler.py /worker/handler.py\n")
        docker_build(folder, tag)
    try:
        yield
    finally:
        engine = Engine()
        for tag in (WRONG, ERROR_OBJECT):
            engine.remove_image(tag)


@pytest.mark.parametrize("mode", ["api", "test-input"])
def test_the_example_worker_answers_what_its_expectations_say_in_both_modes(
    worker: Worker, mode: str
) -> None:
    run, rows = verify(worker, WORKER, "--worker-mode", mode)

    assert run.code == 0, run.stderr[-2000:]
    answered = rows[("worker", "answers a prompt")]
    assert answered["status"] == "OK"
    assert answered["expected"].startswith('contains {"prompt_bytes":13}')
    answer = json.loads(answered["actual"])
    assert answer["prompt_bytes"] == 13 and len(answer["answer_ids"]) == 4


def test_a_persons_table_shows_what_each_test_answered(worker: Worker) -> None:
    wide = {"COLUMNS": "250"}  # a terminal wide enough for the whole row on one line
    run = imagegate("verify", "worker", "--image", WORKER, "--verbose", cwd=worker.root, env=wide)

    assert run.code == 0, run.stderr[-2000:]
    row = next(line for line in run.stdout.splitlines() if "answers a prompt" in line)
    assert '"prompt_bytes":13' in row and "OK" in row


def test_a_wrong_answer_fails_naming_the_test_and_what_it_answered(
    worker: Worker, misbehaving: None
) -> None:
    run, rows = verify(worker, WRONG)

    assert run.code == 1, run.stderr[-2000:]
    answered = rows[("worker", "answers a prompt")]
    assert answered["status"] == "BROKEN"
    assert answered["actual"] == '{"prompt_bytes":0,"answer_ids":[]}'
    assert 'expected it to contain {"prompt_bytes":13}' in answered["evidence"]


def test_an_error_object_fails_its_runsync_job(worker: Worker, misbehaving: None) -> None:
    # --test_input reads the same from the SDK's log (tests/unit/test_worker.py)
    run, rows = verify(worker, ERROR_OBJECT, "--worker-mode", "api")

    assert run.code == 1, run.stderr[-2000:]
    answered = rows[("worker", "answers a prompt")]
    assert (answered["status"], answered["actual"]) == ("BROKEN", "FAILED")
    assert answered["evidence"] == "the handler answered an error: the tokenizer is not loaded"


def test_a_raising_handler_is_a_failed_runsync_job_with_its_error(worker: Worker) -> None:
    run, rows = verify(worker, RAISES, "--worker-mode", "api")

    assert run.code == 1, run.stderr[-2000:]
    answered = rows[("worker", "answers a prompt")]
    assert (answered["status"], answered["actual"]) == ("BROKEN", "FAILED")
    assert answered["evidence"] == (
        "RuntimeError: the model file /models/tiny.safetensors is missing"
    )


def test_a_test_that_expects_an_error_passes_when_its_job_fails_so(
    worker: Worker, tmp_path: Path
) -> None:
    shutil.copy(worker.root / "rejected.json", tmp_path / "rejected.json")
    expected = {"rejects a prompt that is not text": {"error": "must be a non-empty string"}}
    (tmp_path / "rejected.expected.json").write_text(json.dumps(expected), encoding="utf-8")

    run, rows = verify(worker, WORKER, "--worker-tests", str(tmp_path / "rejected.json"))

    assert run.code == 0, run.stderr[-2000:]
    rejected = rows[("worker", "rejects a prompt that is not text")]
    assert (rejected["status"], rejected["actual"]) == ("OK", "FAILED")


@pytest.mark.parametrize(
    ("content", "key"),
    [
        ('{"answers a prompt": {"contains": ', "not valid JSON"),
        ('{"answers a prompt": {"equal": {"prompt_bytes": 13}}}', "answers a prompt.equal: "),
        ('{"answers the prompt": {"error": true}}', "answers the prompt: "),
    ],
)
def test_a_bad_expectations_file_is_one_line_exit_2(
    worker: Worker, tmp_path: Path, content: str, key: str
) -> None:
    shutil.copy(worker.root / ".runpod" / "tests.json", tmp_path / "tests.json")
    beside = tmp_path / "tests.expected.json"
    beside.write_text(content, encoding="utf-8")

    run = imagegate(
        "verify",
        "worker",
        "--image",
        WORKER,
        "--worker-tests",
        str(tmp_path / "tests.json"),
        cwd=worker.root,
    )

    assert run.code == 2
    last = run.stderr.strip().splitlines()[-1]
    assert str(beside) in last and key in last
    assert "Traceback" not in run.stderr


UNFIT = f"{REPOSITORY}/worker:unfit"
UNFIT_HANDLER = """\
import runpod


@runpod.serverless.register_fitness_check
def model_file_present():
    raise RuntimeError("the model file /models/tiny.safetensors is missing")


def handler(job):
    return {"prompt_bytes": len(job["input"]["prompt"]), "answer_ids": [1, 2, 3, 4]}


runpod.serverless.start({"handler": handler})
"""
"""A worker whose own fitness check fails: RunPod would kill it before its first job,
though its handler answers every test as tests.expected.json says."""


@pytest.fixture(scope="module")
def unfit(worker: Worker) -> Iterator[str]:
    folder = worker.root / "unfit"
    folder.mkdir()
    (folder / "handler.py").write_text(UNFIT_HANDLER, encoding="utf-8")
    (folder / "Dockerfile").write_text(f"FROM {WORKER}\nCOPY handler.py /worker/handler.py\n")
    docker_build(folder, UNFIT)
    try:
        yield UNFIT
    finally:
        Engine().remove_image(UNFIT)


def test_the_example_workers_fitness_checks_pass_with_their_figures(worker: Worker) -> None:
    run, rows = verify(worker, WORKER)

    assert run.code == 0, run.stderr[-2000:]
    fitness = {subject: row for (check, subject), row in rows.items() if check == "fitness"}
    memory, disk = fitness["memory"], fitness["disk"]  # this machine's: OK, or a WARN
    assert memory["status"] in ("OK", "WARN") and memory["actual"].endswith("GiB free")
    assert "RUNPOD_MIN_MEMORY_GB" in memory["evidence"]
    assert disk["status"] in ("OK", "WARN") and "% free" in disk["actual"]
    assert fitness["network"]["status"] == "SKIPPED"  # networking is off, by design
    gpu = ("GPU allocation", "CUDA version", "CUDA device init", "GPU matmul")
    assert {fitness[name]["status"] for name in gpu} == {"SKIPPED"}  # no GPU here
    assert rows[("cold start", "compressed size")]["status"] == "OK"
    assert rows[("cold start", "largest layer")]["evidence"].startswith("sha256:")
    assert rows[("cold start", "first answer")]["seconds"] > 0


def test_a_failing_registered_fitness_check_fails_the_gate_and_is_never_pushed(
    worker: Worker, unfit: str, registry: str
) -> None:
    destination = f"{registry}/imagegate-test/unfit:1"

    run = imagegate(
        "gate",
        "worker",
        "--image",
        unfit,
        "--push",
        destination,
        "--format",
        "json",
        cwd=worker.root,
    )

    assert run.code == 1, run.stderr[-2000:]
    rows = findings(run.json())
    check = rows[("fitness", "model_file_present")]
    assert check["status"] == "BROKEN"
    assert "RuntimeError" in check["evidence"] and "tiny.safetensors" in check["evidence"]
    assert rows[("worker", "answers a prompt")]["status"] == "OK"  # only fitness fails it
    assert tags(registry, "imagegate-test/unfit") == []


def with_budgets(worker: Worker, folder: Path, budgets: str) -> Path:
    """A copy of the worker project's profiles and tests with `worker:` budgets added to its
    profile, and the layer sizes the module's runs measured (the same image: no second gzip
    pass)."""
    shutil.copytree(worker.root / "profiles", folder / "profiles")
    shutil.copytree(worker.root / ".runpod", folder / ".runpod")
    profile = folder / "profiles" / "worker.yaml"
    text = profile.read_text(encoding="utf-8").replace(ONE_COLD_START, "")
    profile.write_text(f"{text}worker: {budgets}\n", encoding="utf-8")  # three cold starts
    sizes = worker.root / ".imagegate" / "layer-sizes.json"
    if sizes.is_file():
        (folder / ".imagegate").mkdir()
        shutil.copy2(sizes, folder / ".imagegate" / sizes.name)
    return folder / "profiles"


def test_budgets_breached_fail_with_the_figures_and_a_memory_threshold_warns(
    worker: Worker, tmp_path: Path
) -> None:
    """One run (each breach is a row of its own): the profile's size and cold-start budgets
    fail; RUNPOD_MIN_MEMORY_GB in tests.json's config.env reaches the SDK's own check, whose
    figure is this machine's: a WARN."""
    profiles = with_budgets(worker, tmp_path, "{max_size_gb: 0.05, max_cold_start_s: 0.5}")
    tests = tmp_path / ".runpod" / "tests.json"
    greedy = json.loads(tests.read_text(encoding="utf-8"))
    greedy["config"]["env"] = [{"key": "RUNPOD_MIN_MEMORY_GB", "value": "100000"}]
    tests.write_text(json.dumps(greedy), encoding="utf-8")

    run, rows = verify(worker, WORKER, "--profiles", str(profiles))

    assert run.code == 1, run.stderr[-2000:]
    size, start = rows[("cold start", "compressed size")], rows[("cold start", "first answer")]
    assert size["status"] == "BROKEN" and size["expected"] == "≤ 0.05 GB (worker.max_size_gb)"
    assert float(size["actual"].split()[0]) > 0.05
    assert start["status"] == "BROKEN" and start["expected"] == "≤ 0.5 s (worker.max_cold_start_s)"
    assert start["seconds"] > 0.5 and "median of 3" in start["evidence"]
    memory = rows[("fitness", "memory")]  # this machine's memory, not RunPod's host's: shown
    assert memory["status"] == "WARN" and memory["expected"] == "≥ 100000 GiB"
    failing = {key for key, row in rows.items() if row["status"] in FAILED}
    assert failing == {("cold start", "compressed size"), ("cold start", "first answer")}


def test_the_size_reported_is_what_the_registry_stores(worker: Worker, registry: str) -> None:
    destination = f"{registry}/imagegate-test/sized:1"

    run = imagegate(
        "gate",
        "worker",
        "--image",
        WORKER,
        "--push",
        destination,
        "--format",
        "json",
        cwd=worker.root,
    )

    assert run.code == 0, run.stderr[-2000:]
    reported = float(findings(run.json())[("cold start", "compressed size")]["actual"].split()[0])
    stored = sum(
        layer["size"] for layer in manifest(registry, "imagegate-test/sized", "1")["layers"]
    )
    assert abs(reported * 1e9 - stored) < 0.03 * stored  # gzip level 6, Go's and zlib's
    Engine().remove_image(destination)


def manifest(registry: str, repository: str, tag: str) -> dict[str, Any]:
    request = urllib.request.Request(
        f"http://{registry}/v2/{repository}/manifests/{tag}",
        headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"},
    )
    with urllib.request.urlopen(request) as answer:
        return dict(json.load(answer))
