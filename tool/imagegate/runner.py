"""The one way imagegate runs another program: an argument list, a timeout, no shell.

Profile values reach commands only as separate arguments, never through a shell. A program
that is missing or hangs becomes an EnvironmentProblem that names it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from imagegate.errors import EnvironmentProblem


@dataclass(frozen=True, kw_only=True)
class Completed:
    args: tuple[str, ...]
    returncode: int
    output: str
    """stdout and stderr interleaved, as a person would have seen them."""

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def tail(self, lines: int = 20) -> str:
        return "\n".join(self.output.rstrip().splitlines()[-lines:])


def run(
    args: Sequence[str | Path],
    *,
    timeout: float,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    echo: bool = False,
    prefix: str = "",
) -> Completed:
    """Run to completion; with `echo`, stream each output line to stderr as it comes."""
    argv = tuple(str(arg) for arg in args)
    merged = {**os.environ, **(env or {})}
    try:
        process = subprocess.Popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            errors="replace",
            env=merged,
            cwd=cwd,
        )
    except FileNotFoundError:
        raise EnvironmentProblem(f"{argv[0]}: not found on this machine; install it") from None
    lines: list[str] = []
    try:
        for line in _lines_until(process, timeout):
            lines.append(line)
            if echo:
                print(f"{prefix}{line}", end="", file=sys.stderr, flush=True)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise EnvironmentProblem(
            f"{Path(argv[0]).name}: still running after {timeout:g}s; it was stopped"
        ) from None
    return Completed(args=argv, returncode=process.wait(), output="".join(lines))


def _lines_until(process: subprocess.Popen[str], timeout: float) -> Iterator[str]:
    """Output lines, with `timeout` enforced over the whole run by a watchdog timer."""
    expired = threading.Event()

    def stop() -> None:
        expired.set()
        process.kill()

    timer = threading.Timer(timeout, stop)
    timer.start()
    try:
        assert process.stdout is not None
        yield from process.stdout
    finally:
        timer.cancel()
    process.wait()
    if expired.is_set():
        raise subprocess.TimeoutExpired(process.args, timeout)
