"""What a RunPod worker's test answered, read from either way of sending it, and judged.

Two ways, one judge (the RunPod SDK 1.12.0's own behaviour, read in its source):
- `--test_input` (`rp_local.run_local`): the SDK runs the handler once and exits 0 after
  logging `Job result: {'output': …}` (a Python repr), or exits 1 after logging
  `Job local_test failed with error: …`: an exception as a JSON object (`error_type`,
  `error_message`, …), or whatever the handler returned under `"error"`.
- the local API (`--rp_serve_api`, `rp_fastapi._sim_runsync`): POST `/runsync` answers
  HTTP 200 with `{"status": "COMPLETED", "output": …}`, or `{"status": "FAILED", "error": …}`
  (the same error as above); a body that is no job (an input that is not an object) is
  HTTP 422. A test passes as on the Hub: HTTP 200 and COMPLETED.

In both, a handler that returns `{"error": …}` fails its job (`rp_job.run_job` takes the
key out of the output): a FAILED job is BROKEN unless the test expects an error.
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass
from functools import partial
from typing import Any

from imagegate.expectations import Expectation, text
from imagegate.findings import Finding, Status
from imagegate.worker_tests import TIER, WorkerTest

COMPLETED, FAILED = "COMPLETED", "FAILED"
_GPU_TROUBLE = re.compile(
    r"CUDA|cuda|NVIDIA|nvidia|GPU|no kernel image|libcuda|cudaGetDeviceCount|HIP|ROCm"
)
_ERROR_BLOCK = re.compile(
    r'"error_type":\s*"(?P<type>[^"]*)",\s*"error_message":\s*"(?P<msg>(?:[^"\\]|\\.)*)"'
)
_JOB_FAILED = re.compile(r"Job \S+ failed with error: (?P<error>.*)$", re.MULTILINE)
_JOB_RESULT = re.compile(r"Job result: (?P<result>.*)$", re.MULTILINE)
_SHOWN = 200
_CLASS = re.compile(r"<class '(?:[\w.]*\.)?(?P<name>\w+)'>")


@dataclass(frozen=True, kw_only=True)
class Answer:
    """One test's outcome, however it was sent."""

    seconds: float
    status: str = ""
    """The job's status (COMPLETED, FAILED); empty when no job status came back."""
    output: Any = None
    shown: bool = True
    """Whether the output was seen (the SDK's log level can hide it from `--test_input`)."""
    error: str = ""
    """Why it failed, for a person: the handler's error type and message, an HTTP status
    with its body, or a crash's last line."""
    http: int | None = None
    timed_out: bool = False


def from_log(log: str, *, exit_code: int, seconds: float, timed_out: bool) -> Answer:
    """A `--test_input` run: its whole log (stdout, then stderr) and its exit code."""
    if timed_out:
        return Answer(seconds=seconds, timed_out=True)
    log = "\n".join(map(_message, log.splitlines()))
    failed = _last(_JOB_FAILED, log, "error")
    if exit_code == 0 and failed is None:
        result = _last(_JOB_RESULT, log, "result")
        parsed = _literal(result) if result is not None else None
        if not isinstance(parsed, dict):
            return Answer(seconds=seconds, status=COMPLETED, shown=False)
        return Answer(seconds=seconds, status=COMPLETED, output=parsed.get("output"))
    block = _ERROR_BLOCK.search(log)
    if block is not None:
        message = json.loads(f'"{block.group("msg")}"')
        error = f"{_class(block.group('type'))}: {message}"
    elif failed is not None:
        error = error_text(failed)
    else:
        error = f"exit {exit_code}: {_last_line(log)}"
    return Answer(seconds=seconds, status=FAILED if failed or block else "", error=error)


def from_runsync(result: dict[str, Any]) -> Answer:
    """One test as the in-image client (`runsync.py`) reports it: the HTTP status and body
    of its `/runsync` request, or why none came (the worker exited, the time ran out)."""
    seconds = float(result.get("seconds") or 0.0)
    if result.get("timed_out"):
        return Answer(seconds=seconds, timed_out=True)
    http, body = result.get("http"), str(result.get("body") or "")
    if http is None:
        problem = result.get("problem") or "no answer"
        return Answer(seconds=seconds, error=f"{problem}: {_last_line(result.get('log') or '')}")
    try:
        job = json.loads(body)
    except json.JSONDecodeError:
        job = None
    if http != 200 or not isinstance(job, dict):
        return Answer(seconds=seconds, http=http, error=f"HTTP {http}: {_last_line(body)}")
    status = str(job.get("status") or "")
    if status == COMPLETED:
        return Answer(seconds=seconds, http=http, status=status, output=job.get("output"))
    error = error_text(job.get("error")) if status == FAILED else f"job status {status!r}"
    return Answer(seconds=seconds, http=http, status=status, error=error)


def error_text(error: Any) -> str:
    """A job's error for a person: an exception's type and message (the SDK's JSON of it),
    else what the handler answered under `"error"`."""
    if isinstance(error, str):
        try:
            parsed = json.loads(error)
        except json.JSONDecodeError:
            parsed = None
        if isinstance(parsed, dict) and "error_type" in parsed and "error_message" in parsed:
            return f"{_class(str(parsed['error_type']))}: {parsed['error_message']}"
    return f"the handler answered an error: {error if isinstance(error, str) else text(error)}"


def judge_answer(
    one: WorkerTest,
    answer: Answer,
    expectation: Expectation | None,
    *,
    gpu_count: int,
    gpus: bool,
) -> Finding:
    """One test's row: what it answered (`actual`, the output's compact JSON) against what
    it should (`expected`: the expectation, else a COMPLETED job), within its timeout."""
    limit = f"{one.timeout_ms / 1000:g} s"
    wanted = expectation.describe() if expectation is not None else COMPLETED
    row = partial(
        Finding,
        tier=TIER,
        check="worker",
        subject=one.name,
        expected=f"{wanted} within {limit}",
        seconds=answer.seconds,
    )
    if answer.timed_out:
        evidence = f"no answer within {limit}; it was stopped"
        return row(status=Status.BROKEN, actual="timed out", evidence=evidence)
    expects_error = expectation is not None and expectation.error is not False
    if answer.error:
        actual = f"HTTP {answer.http}" if answer.http not in (None, 200) else answer.status
        actual = actual or "no answer"
        if gpu_count > 0 and not gpus and _GPU_TROUBLE.search(answer.error):
            evidence = f"gpuCount {gpu_count} and no GPU here: {answer.error}"
            return row(status=Status.SKIPPED, actual="needs a GPU", evidence=evidence)
        if expects_error and expectation is not None and answer.status == FAILED:
            wrong = expectation.wrong_error(answer.error)
            evidence = f"{wrong}; it failed with {answer.error}" if wrong else answer.error
            status = Status.BROKEN if wrong else Status.OK
            return row(status=status, actual=actual, evidence=evidence)
        return row(status=Status.BROKEN, actual=actual, evidence=answer.error)
    if not answer.shown:
        evidence = "its output is not in the log (RUNPOD_LOG_LEVEL hides INFO)"
        status = Status.BROKEN if expectation is not None else Status.OK
        return row(status=status, actual="not shown", evidence=evidence)
    answered = text(answer.output)
    if expects_error:
        evidence = f"expected an error; it answered {_cut(answered)}"
        return row(status=Status.BROKEN, actual=answered, evidence=evidence)
    if isinstance(answer.output, dict) and "error" in answer.output:
        evidence = f"it answered an error object: {text(answer.output['error'])}"
        return row(status=Status.BROKEN, actual=answered, evidence=evidence)
    wrong = expectation.wrong_answer(answer.output) if expectation is not None else None
    if wrong is not None:
        evidence = f"{wrong}; it answered {_cut(answered)}"
        return row(status=Status.BROKEN, actual=answered, evidence=evidence)
    return row(status=Status.OK, actual=answered, evidence=f"answered in {answer.seconds:.1f} s")


def _cut(answered: str) -> str:
    """An answer in the evidence: its start (the row's `actual` holds it whole)."""
    return answered if len(answered) <= _SHOWN else answered[: _SHOWN - 1] + "…"


def _message(line: str) -> str:
    """A log line's message: the SDK logs JSON lines where RUNPOD_ENDPOINT_ID is set."""
    if not line.startswith("{"):
        return line
    try:
        entry = json.loads(line)
    except json.JSONDecodeError:
        return line
    return str(entry["message"]) if isinstance(entry, dict) and "message" in entry else line


def _last(pattern: re.Pattern[str], log: str, group: str) -> str | None:
    found = list(pattern.finditer(log))
    return found[-1].group(group).strip() if found else None


def _literal(result: str) -> Any:
    """The SDK's `Job result: {…}` (a Python repr of plain data), or None."""
    try:
        return ast.literal_eval(result)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return None


def _class(kind: str) -> str:
    found = _CLASS.fullmatch(kind)
    return found.group("name") if found else kind


def _last_line(log: str) -> str:
    lines = [line.strip() for line in log.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no output"
