"""What a worker test answered, read from the SDK's `--test_input` log or its `/runsync`
reply (shapes as runpod 1.12.0's rp_local, rp_job and rp_fastapi write them), and judged."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from imagegate.expectations import parse
from imagegate.findings import Status
from imagegate.worker_answers import Answer, from_log, from_runsync, judge_answer
from imagegate.worker_tests import WorkerTest

ONE = WorkerTest(name="answers a prompt", input={"prompt": "hi"}, timeout_ms=120_000)
OK_LOG = """\
INFO   | Job local_test completed successfully.
INFO   | Job result: {'output': {'prompt_bytes': 2, 'answer_ids': [1, 2], 'ok': True}}
INFO   | Local testing complete, exiting.
"""
RAISED = {
    "error_type": "<class 'RuntimeError'>",
    "error_message": "the model file is missing",
    "error_traceback": "Traceback (most recent call last):\n  ...",
    "hostname": "unknown",
}


def expecting(raw: dict[str, Any]) -> Any:
    return parse({ONE.name: raw}, Path("tests.expected.json"), [ONE.name])[ONE.name]


def runsync(http: int | None, body: Any = "", **more: Any) -> Answer:
    text = body if isinstance(body, str) else json.dumps(body)
    return from_runsync({"name": ONE.name, "http": http, "body": text, "seconds": 2.0, **more})


def judged(answer: Answer, raw: dict[str, Any] | None = None, **gpu: Any) -> Any:
    expectation = expecting(raw) if raw is not None else None
    return judge_answer(
        ONE, answer, expectation, gpu_count=gpu.get("count", 0), gpus=gpu.get("gpus", False)
    )


def test_the_test_input_log_gives_the_output_as_data() -> None:
    answer = from_log(OK_LOG, exit_code=0, seconds=1.0, timed_out=False)

    assert answer.status == "COMPLETED"
    assert answer.output == {"prompt_bytes": 2, "answer_ids": [1, 2], "ok": True}


def test_the_test_input_log_is_read_as_json_lines_too() -> None:
    # where RUNPOD_ENDPOINT_ID is set, rp_logger prints {"requestId", "message", "level"}
    lines = [
        json.dumps({"requestId": None, "message": line.partition("| ")[2], "level": "INFO"})
        for line in OK_LOG.splitlines()
    ]

    answer = from_log("\n".join(lines), exit_code=0, seconds=1.0, timed_out=False)

    assert answer.output == {"prompt_bytes": 2, "answer_ids": [1, 2], "ok": True}


def test_an_ok_row_shows_the_answer_as_compact_json() -> None:
    finding = judged(from_log(OK_LOG, exit_code=0, seconds=1.0, timed_out=False))

    assert finding.status is Status.OK
    assert finding.actual == '{"prompt_bytes":2,"answer_ids":[1,2],"ok":true}'
    assert finding.expected == "COMPLETED within 120 s"


def test_an_output_the_log_level_hides_fails_only_a_test_with_an_expectation() -> None:
    hidden = from_log(
        "INFO   | Local testing complete, exiting.\n", exit_code=0, seconds=1.0, timed_out=False
    )

    assert judged(hidden).status is Status.OK
    assert judged(hidden, {"contains": {"ok": True}}).status is Status.BROKEN


def test_a_completed_runsync_job_is_its_output() -> None:
    answer = runsync(200, {"id": "test-1", "status": "COMPLETED", "output": {"n": 3}})

    finding = judged(answer, {"equals": {"n": 3}})

    assert (finding.status, finding.actual) == (Status.OK, '{"n":3}')


def test_a_wrong_answer_is_broken_naming_what_it_answered() -> None:
    answer = runsync(200, {"id": "test-1", "status": "COMPLETED", "output": {"n": 4}})

    finding = judged(answer, {"contains": {"n": 3}})

    assert finding.status is Status.BROKEN and finding.subject == ONE.name
    assert finding.actual == '{"n":4}'
    assert 'expected it to contain {"n":3}' in finding.evidence and '{"n":4}' in finding.evidence


def test_a_failed_job_from_a_raising_handler_is_its_type_and_message() -> None:
    answer = runsync(200, {"id": "test-1", "status": "FAILED", "error": json.dumps(RAISED)})

    finding = judged(answer)

    assert (finding.status, finding.actual) == (Status.BROKEN, "FAILED")
    assert finding.evidence == "RuntimeError: the model file is missing"


def test_an_error_object_the_handler_returned_fails_its_job() -> None:
    # rp_job.run_job takes "error" out of the output: the job is FAILED with it
    answer = runsync(200, {"id": "test-1", "status": "FAILED", "error": "no GPU memory left"})

    finding = judged(answer)

    assert (finding.status, finding.actual) == (Status.BROKEN, "FAILED")
    assert finding.evidence == "the handler answered an error: no GPU memory left"


def test_an_error_key_in_a_completed_output_is_broken_too() -> None:
    answer = runsync(200, {"status": "COMPLETED", "output": {"error": "bad", "n": 1}})

    finding = judged(answer)

    assert finding.status is Status.BROKEN and "error object" in finding.evidence


def test_a_test_that_expects_an_error_passes_on_a_matching_failure_only() -> None:
    failed = runsync(200, {"status": "FAILED", "error": json.dumps(RAISED)})
    completed = runsync(200, {"status": "COMPLETED", "output": {"n": 1}})

    assert judged(failed, {"error": "model file"}).status is Status.OK
    assert judged(failed, {"error": "prompt"}).status is Status.BROKEN
    wrong = judged(completed, {"error": True})
    assert wrong.status is Status.BROKEN and '{"n":1}' in wrong.evidence


def test_an_http_error_is_broken_with_its_status_and_body() -> None:
    answer = runsync(422, {"detail": [{"msg": "Input should be a valid dictionary"}]})

    finding = judged(answer, {"error": True})

    assert (finding.status, finding.actual) == (Status.BROKEN, "HTTP 422")
    assert "valid dictionary" in finding.evidence


def test_a_worker_that_exited_before_serving_is_its_last_log_line() -> None:
    log = "Traceback (most recent call last):\nModuleNotFoundError: No module named 'x'\n"
    answer = runsync(None, problem="the worker exited (1) before it served", log=log)

    finding = judged(answer)

    assert (finding.status, finding.actual) == (Status.BROKEN, "no answer")
    assert finding.evidence.startswith("the worker exited (1)")
    assert finding.evidence.endswith("No module named 'x'")


def test_a_runsync_timeout_is_reported_as_such() -> None:
    finding = judged(runsync(None, timed_out=True))

    assert (finding.status, finding.actual) == (Status.BROKEN, "timed out")


def test_a_gpu_test_failing_for_want_of_a_gpu_is_skipped_in_either_mode() -> None:
    error = {**RAISED, "error_message": "Found no NVIDIA driver on your system."}
    answer = runsync(200, {"status": "FAILED", "error": json.dumps(error)})

    assert judged(answer, count=1).status is Status.SKIPPED
    assert judged(answer, count=1, gpus=True).status is Status.BROKEN
