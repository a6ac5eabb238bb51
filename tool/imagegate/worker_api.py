"""Tier 4 as the RunPod Hub sends a worker's tests: one started worker, each test a job.

One container from the worker image, networking off: the in-image client `runsync.py`
(run with the stack's interpreter in place of the image's entrypoint) starts the image's own
entrypoint and command with the SDK's local API on 127.0.0.1 and sends each test to
`/runsync` with its timeout. What came back is judged by `worker_answers`.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from imagegate import progress
from imagegate.contract import RUN_DIR
from imagegate.scripts import scripts_dir
from imagegate.worker_answers import Answer, from_runsync
from imagegate.worker_tests import WorkerTests

if TYPE_CHECKING:
    from imagegate.engine import Engine

JOBS_DIR = "/tmp/imagegate-jobs"
SPARE = 30.0
"""Seconds the container has beyond the tests' own timeouts: to stop a worker, to report."""


def send_tests(
    engine: Engine,
    image: str,
    command: Sequence[str],
    tests: WorkerTests,
    *,
    python: str,
    gpus: bool,
) -> list[Answer]:
    """Each test's answer, in order, from one container running the worker's `command`
    (its entrypoint and CMD) with `python` (the stack's interpreter) running the client."""
    jobs = [
        {"name": one.name, "input": one.input, "timeout": one.timeout_ms / 1000}
        for one in tests.tests
    ]
    limit = sum(job["timeout"] for job in jobs) + SPARE
    with tempfile.TemporaryDirectory(prefix="imagegate-jobs-") as folder:
        (Path(folder) / "jobs.json").write_text(json.dumps(jobs), encoding="utf-8")
        with progress.step("tier 4", f"{len(jobs)} worker test(s) as /runsync jobs"):
            ran = engine.run(
                image,
                [f"{RUN_DIR}/runsync.py", "--jobs", f"{JOBS_DIR}/jobs.json", "--", *command],
                entrypoint=[python],
                files={RUN_DIR: scripts_dir(), JOBS_DIR: Path(folder)},
                timeout=limit,
                environment=dict(tests.env),
                gpus=gpus,
            )
    results = _results(ran.output)
    answers = []
    for index, _ in enumerate(tests.tests):
        if index < len(results):
            answers.append(from_runsync(results[index]))
        elif ran.timed_out:
            answers.append(Answer(seconds=ran.seconds, timed_out=True))
        else:
            last = (ran.errors.strip().splitlines() or ["no output"])[-1]
            why = f"the /runsync client in {image} failed (exit {ran.returncode}): {last}"
            answers.append(Answer(seconds=ran.seconds, error=why))
    return answers


def _results(output: str) -> list[dict[str, Any]]:
    """The client's per-test results; none when it printed no report (it was killed)."""
    try:
        document = json.loads(output)
    except json.JSONDecodeError:
        return []
    results = document.get("results") if isinstance(document, dict) else None
    return [r for r in results if isinstance(r, dict)] if isinstance(results, list) else []
