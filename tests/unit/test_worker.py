"""Tier 4's pure parts: the Hub's tests.json read strictly, deployment settings judged,
and the RunPod SDK's log turned into one finding per test."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from imagegate.errors import ProfileError
from imagegate.findings import Status
from imagegate.runner import Completed
from imagegate.worker import judge_run
from imagegate.worker_tests import WorkerTest, WorkerTests

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "runpod-worker"

FAILED_LOG = """\
--- Starting Serverless Worker |  Version 1.12.0 ---
INFO   | test_input set, using test_input as job input.
INFO   | local_test | Started.
ERROR  | local_test | Captured Handler Exception
ERROR  | {
    "error_type": "<class 'ValueError'>",
    "error_message": "input.prompt must be a \\"string\\"",
    "error_traceback": "Traceback (most recent call last):\\n  ...",
    "hostname": "unknown"
}
ERROR  | Job local_test failed with error: {"error_type": "<class 'ValueError'>"}
"""
ANSWERED_ERROR_LOG = """\
DEBUG  | local_test | Handler output: {'error': 'prompt too long'}
ERROR  | Job local_test failed with error: prompt too long
INFO   | Local testing complete, exiting.
"""
OK_LOG = """\
INFO   | Job local_test completed successfully.
INFO   | Job result: {'output': {'echo': 'hi'}}
INFO   | Local testing complete, exiting.
"""


def write_tests(tmp_path: Path, data: Any) -> Path:
    path = tmp_path / "tests.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def parsed(**config: Any) -> WorkerTests:
    data = {"tests": [{"name": "t", "input": {"prompt": "x"}, "timeout": 1000}], "config": config}
    return WorkerTests.parse(data, Path("tests.json"))


def test_the_example_worker_tests_parse() -> None:
    tests = WorkerTests.read(EXAMPLE / ".runpod" / "tests.json")

    assert [t.name for t in tests.tests] == ["answers a prompt"]
    assert tests.tests[0].timeout_ms == 120000
    assert (tests.cpu_flavor, tests.gpu_types) == ("cpu3c", ())  # a CPU build: a CPU test
    assert tests.hub is not None and tests.hub.runs_on == "CPU"


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"tests": []}, "tests"),
        ({"tests": [{"name": "t"}]}, "tests[0].input"),
        ({"tests": [{"name": "t", "input": {}, "timeout": "10s"}]}, "tests[0].timeout"),
        ({"tests": [{"name": "t", "input": {}, "expect": 1}]}, "tests[0].expect"),
        ({"tests": [{"name": "t", "input": {}}], "config": {"gpuCnt": 1}}, "config.gpuCnt"),
        ({"tests": [{"name": "t", "input": {}}], "config": {"env": [{"k": 1}]}}, "config.env[0]"),
        (
            {"tests": [{"name": "t", "input": {}}], "config": {"allowedCudaVersions": ["12"]}},
            "config.allowedCudaVersions",
        ),
        ({"tests": [{"name": "t", "input": {}}], "extra": 1}, "extra"),
    ],
)
def test_a_mistake_is_one_line_naming_the_file_and_key(tmp_path: Path, data: Any, key: str) -> None:
    path = write_tests(tmp_path, data)

    with pytest.raises(ProfileError) as raised:
        WorkerTests.read(path)

    message = str(raised.value)
    assert message.startswith(f"{path}: {key}: ") and "\n" not in message


def test_a_file_that_is_not_json_is_bad_input(tmp_path: Path) -> None:
    path = tmp_path / "tests.json"
    path.write_text("{tests: ", encoding="utf-8")

    with pytest.raises(ProfileError, match="not valid JSON"):
        WorkerTests.read(path)


def test_env_becomes_the_containers_environment() -> None:
    tests = parsed(env=[{"key": "MODEL", "value": "tiny"}, {"key": "N", "value": 3}])

    assert tests.env == {"MODEL": "tiny", "N": "3"}


def run_of(output: str, code: int, *, timed_out: bool = False) -> Completed:
    return Completed(args=(), returncode=code, output=output, timed_out=timed_out, seconds=1.5)


ONE = WorkerTest(name="t", input={}, timeout_ms=1000)


def test_a_passing_run_is_ok_with_its_time() -> None:
    finding = judge_run(parsed(), ONE, run_of(OK_LOG, 0), gpus=False)

    assert finding.status is Status.OK and finding.seconds == 1.5


def test_a_handler_exception_is_its_type_and_message_not_the_log() -> None:
    finding = judge_run(parsed(), ONE, run_of(FAILED_LOG, 1), gpus=False)

    assert finding.status is Status.BROKEN
    assert finding.evidence == 'ValueError: input.prompt must be a "string"'


def test_an_error_the_handler_answers_fails_even_when_the_sdk_exits_0() -> None:
    finding = judge_run(parsed(), ONE, run_of(ANSWERED_ERROR_LOG, 0), gpus=False)

    assert finding.status is Status.BROKEN and "prompt too long" in finding.evidence


def test_a_crash_before_the_handler_is_the_last_line() -> None:
    output = "Traceback (most recent call last):\nModuleNotFoundError: No module named 'x'\n"

    finding = judge_run(parsed(), ONE, run_of(output, 1), gpus=False)

    assert finding.status is Status.BROKEN
    assert finding.evidence.endswith("ModuleNotFoundError: No module named 'x'")


def test_a_timeout_is_reported_as_such() -> None:
    finding = judge_run(parsed(), ONE, run_of("", -1, timed_out=True), gpus=False)

    assert finding.status is Status.BROKEN and finding.actual == "timed out"


def test_a_gpu_test_without_a_gpu_is_skipped_only_when_it_failed_for_want_of_one() -> None:
    gpu_tests = parsed(gpuCount=1)
    no_cuda = run_of("RuntimeError: Found no NVIDIA driver on your system.\n", 1)

    skipped = judge_run(gpu_tests, ONE, no_cuda, gpus=False)
    broken = judge_run(gpu_tests, ONE, run_of(FAILED_LOG, 1), gpus=False)
    with_gpu = judge_run(gpu_tests, ONE, no_cuda, gpus=True)

    assert skipped.status is Status.SKIPPED and "no GPU here" in skipped.evidence
    assert broken.status is Status.BROKEN
    assert with_gpu.status is Status.BROKEN
