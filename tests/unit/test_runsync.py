"""The in-image /runsync client, run for real on the host against a small stand-in worker.

The stand-in takes the SDK's local API flags (`--rp_serve_api --rp_api_host H --rp_api_port P`)
and answers POST /runsync as the SDK's does, `{"status": "COMPLETED", "output": …}`, with its
process id in the output: which worker answered. The real SDK is exercised on the engine
(tests/integration/test_worker.py).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

RUNSYNC = Path(__file__).resolve().parents[2] / "smoke_tests" / "runsync.py"
WORKER = """\
import json, os, sys, time
from http.server import BaseHTTPRequestHandler, HTTPServer

args = sys.argv[1:]
if os.environ.get("EXIT_AT_START"):
    print("ModuleNotFoundError: No module named 'model'", flush=True)
    sys.exit(3)
port = int(args[args.index("--rp_api_port") + 1])


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        job = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        time.sleep(job["input"].get("sleep", 0))
        body = json.dumps({"status": "COMPLETED", "output": {"pid": os.getpid()}}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


HTTPServer((args[args.index("--rp_api_host") + 1], port), Handler).serve_forever()
"""


def run(tmp_path: Path, jobs: list[dict[str, Any]], **env: str) -> list[dict[str, Any]]:
    (tmp_path / "worker.py").write_text(WORKER, encoding="utf-8")
    (tmp_path / "jobs.json").write_text(json.dumps(jobs), encoding="utf-8")
    worker = [sys.executable, str(tmp_path / "worker.py")]
    done = subprocess.run(
        [sys.executable, str(RUNSYNC), "--jobs", str(tmp_path / "jobs.json"), "--", *worker],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", **env},
    )
    assert done.returncode == 0, done.stderr
    results: list[dict[str, Any]] = json.loads(done.stdout)["results"]
    return results


def answered_by(result: dict[str, Any]) -> int:
    assert result["http"] == 200, result
    return int(json.loads(result["body"])["output"]["pid"])


def test_every_test_goes_to_one_started_worker_in_order(tmp_path: Path) -> None:
    jobs = [{"name": n, "input": {}, "timeout": 20} for n in ("first", "second")]

    first, second = run(tmp_path, jobs)

    assert (first["name"], second["name"]) == ("first", "second")
    assert answered_by(first) == answered_by(second)


def test_a_test_over_its_timeout_is_stopped_and_the_next_gets_a_fresh_worker(
    tmp_path: Path,
) -> None:
    jobs = [
        {"name": "warm", "input": {}, "timeout": 20},
        {"name": "slow", "input": {"sleep": 30}, "timeout": 1},
        {"name": "after", "input": {}, "timeout": 20},
    ]

    warm, slow, after = run(tmp_path, jobs)

    assert slow["timed_out"] and slow["http"] is None and slow["seconds"] < 10
    assert answered_by(after) != answered_by(warm)


def test_a_worker_that_exits_before_serving_says_so_with_its_log(tmp_path: Path) -> None:
    [result] = run(tmp_path, [{"name": "t", "input": {}, "timeout": 20}], EXIT_AT_START="1")

    assert result["http"] is None and not result["timed_out"]
    assert "exited (3)" in result["problem"]
    assert "No module named 'model'" in result["log"]
