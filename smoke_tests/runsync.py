"""Tier 4, as the RunPod Hub sends a worker's tests: each a `/runsync` job to the started worker.

Runs inside the worker's image with networking off (only 127.0.0.1), standard library only.
Starts the worker's own command with the RunPod SDK's local API (`--rp_serve_api` on
127.0.0.1) and POSTs each test's `{"input": …}` to `/runsync`, one after another, to the
same worker, as the Hub does to a started endpoint. A test's timeout counts from when it is
sent, the worker's start included for the first (a job waits for a cold worker). A worker
that exited, or a test that timed out, is started again for the next test.

Prints one JSON document on stdout: per test, the HTTP status and body, or why none came,
with the worker's log while it ran. The worker's whole log goes to stderr. Judging is the
host's (`worker_answers`).

    python runsync.py --jobs JOBS.json -- python -u /worker/handler.py
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from typing import Any, BinaryIO

SCHEMA = 1
LOG_KEPT = 20_000
"""Characters of the worker's log kept per test: the end, where an error is."""
STOP_GRACE = 5.0


class Worker:
    """The worker's command with the local API on `port`, appending to the log at `log`."""

    def __init__(self, command: list[str], port: int, log: str) -> None:
        api = ["--rp_serve_api", "--rp_api_host", "127.0.0.1", "--rp_api_port", str(port)]
        with open(log, "ab") as out:  # appended: the reader's position is its own
            self.process = subprocess.Popen(
                [*command, *api],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.port = port

    def up(self, deadline: float) -> bool:
        """Whether its API accepts connections before `deadline` (False: exited or late)."""
        while time.monotonic() < deadline and self.process.poll() is None:
            with socket.socket() as probe:
                probe.settimeout(1.0)
                if probe.connect_ex(("127.0.0.1", self.port)) == 0:
                    return True
            time.sleep(0.1)
        return False

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(STOP_GRACE)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def new_log(reader: BinaryIO) -> str:
    """What the worker logged since the last call (also copied to stderr)."""
    text = reader.read().decode("utf-8", "replace")
    sys.stderr.write(text)
    return text[-LOG_KEPT:]


def send(worker: Worker, job: dict[str, Any], reader: BinaryIO) -> dict[str, Any]:
    """One test: the HTTP status and body of its `/runsync`, or why none came."""
    started = time.monotonic()
    deadline = started + float(job["timeout"])
    result: dict[str, Any] = {"name": job["name"], "http": None, "body": "", "timed_out": False}
    if not worker.up(deadline):
        if worker.process.poll() is None:
            result["timed_out"] = True
        else:
            result["problem"] = f"the worker exited ({worker.process.returncode}) before it served"
    else:
        request = urllib.request.Request(
            f"http://127.0.0.1:{worker.port}/runsync",
            data=json.dumps({"input": job["input"]}).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(
                request, timeout=max(deadline - time.monotonic(), 0.1)
            ) as r:
                result["http"], result["body"] = r.status, r.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as error:
            result["http"], result["body"] = error.code, error.read().decode("utf-8", "replace")
        except TimeoutError:
            result["timed_out"] = True
        except (urllib.error.URLError, ConnectionError, OSError) as error:
            if isinstance(getattr(error, "reason", None), TimeoutError | socket.timeout):
                result["timed_out"] = True
            else:
                worker.process.poll()
                code = worker.process.returncode
                exited = f"the worker exited ({code})" if code is not None else "no answer"
                result["problem"] = f"{exited}: {getattr(error, 'reason', error)}"
    result["seconds"] = round(time.monotonic() - started, 3)
    result["log"] = new_log(reader)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", required=True, help="a JSON list of {name, input, timeout}")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- the worker's command")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    with open(args.jobs, encoding="utf-8") as stream:
        jobs = json.load(stream)
    results = []
    worker: Worker | None = None
    with tempfile.TemporaryDirectory() as folder:
        log = os.path.join(folder, "worker.log")
        open(log, "wb").close()
        with open(log, "rb") as reader:
            try:
                for job in jobs:
                    if worker is None or worker.process.poll() is not None:
                        worker = Worker(command, free_port(), log)
                    result = send(worker, job, reader)
                    results.append(result)
                    if result["timed_out"]:
                        worker.stop()
                        worker = None
            finally:
                if worker is not None:
                    worker.stop()
                new_log(reader)
    print(json.dumps({"schema": SCHEMA, "results": results}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
