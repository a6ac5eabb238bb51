"""The one way imagegate runs another program: an argument list, a timeout, no shell.

Profile values reach commands only as separate arguments, never through a shell. A program
that is missing or hangs becomes an EnvironmentProblem that names it. Each program runs in
a process group of its own, and the whole group is stopped when it times out or when the run
is interrupted: debootstrap's dpkg, pip's build helpers, the docker CLI never outlive us.
On Linux a child is also killed by the kernel when imagegate itself dies without a chance
to stop it (SIGKILL, the OOM killer): a killed repair leaves no uv still writing.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from imagegate import interrupts, progress
from imagegate.errors import EnvironmentProblem

GRACE = 5.0
"""Seconds a stopped program has to exit after SIGTERM before its group gets SIGKILL."""


@dataclass(frozen=True, kw_only=True)
class Completed:
    """One run of a program, on this machine or in a container (the one result type)."""

    args: tuple[str, ...]
    returncode: int
    output: str
    """stdout and stderr interleaved, as a person would have seen them; stdout alone where
    `errors` holds stderr apart."""
    errors: str = ""
    """stderr, where it was kept apart (a container's log keeps its two streams apart)."""
    timed_out: bool = False
    """Stopped at its timeout. Only a container's run says so: `run` raises instead."""
    seconds: float = 0.0

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
    watch: Callable[[str], None] | None = None,
) -> Completed:
    """Run to completion; each output line goes to `watch` as it comes and, with `echo`, to
    the progress display (which shows it under --verbose)."""
    argv = tuple(str(arg) for arg in args)
    merged = {**_environment(), **(env or {})}
    process: subprocess.Popen[str] | None = None
    lines: list[str] = []
    started = time.monotonic()
    try:
        with interrupts.deferred():  # no interruption between the child's start and its name
            process = _start(argv, merged, cwd)
        with contextlib.closing(_lines_until(process, timeout)) as output:
            for line in output:
                lines.append(line)
                if watch is not None:
                    watch(line)
                if echo:
                    progress.output(line, prefix=prefix)
    except subprocess.TimeoutExpired:
        assert process is not None
        stop_group(process)
        raise _outlived(argv[0], timeout) from None
    except BaseException:
        if process is not None:
            stop_group(process)
        raise
    code = process.wait()
    seconds = time.monotonic() - started
    return Completed(args=argv, returncode=code, output="".join(lines), seconds=seconds)


def run_together(
    commands: Sequence[Sequence[str | Path]],
    *,
    timeout: float,
    env: Mapping[str, str] | None = None,
    echo: bool = False,
    prefix: str = "",
    watch: Callable[[str], None] | None = None,
    hold: Callable[[str], bool] | None = None,
) -> list[Completed]:
    """Run programs at the same time and wait for every one (results in the same order).

    Every output is read as it comes (none waits on a full pipe for another to finish);
    each line goes to `watch` and, with `echo`, to the progress display, as `run` does.
    With `hold`, the programs after the first start once a line of the first satisfies it
    (or the first has ended). An error, an interrupt or a timeout stops every one still
    running, as `run` does."""
    argvs = [tuple(str(arg) for arg in args) for args in commands]
    merged = {**_environment(), **(env or {})}
    processes: list[subprocess.Popen[str]] = []
    lines: list[list[str]] = [[] for _ in argvs]
    streams = _Streams(timeout)
    started = time.monotonic()

    def start(indexes: range) -> None:
        with interrupts.deferred():  # no interruption between a child's start and its name
            for index in indexes:
                processes.append(_start(argvs[index], merged, None))
                streams.add(index, processes[-1])

    held = hold is not None and len(argvs) > 1
    try:
        start(range(1) if held else range(len(argvs)))
        for index, line in streams:
            if line is None:
                if held and index == 0:
                    held = False
                    start(range(1, len(argvs)))
                continue
            lines[index].append(line)
            if watch is not None:
                watch(line)
            if echo:
                progress.output(line, prefix=prefix)
            if held and index == 0 and hold is not None and hold(line):
                held = False
                start(range(1, len(argvs)))
    except subprocess.TimeoutExpired as expired:
        for process in processes:
            stop_group(process)
        raise _outlived(str(expired.cmd[0]), timeout) from None
    except BaseException:
        for process in processes:
            stop_group(process)
        raise
    seconds = time.monotonic() - started
    return [
        Completed(args=argv, returncode=process.wait(), output="".join(text), seconds=seconds)
        for argv, process, text in zip(argvs, processes, lines, strict=True)
    ]


class _Streams:
    """The output lines of running processes as they come, each with the index it was added
    under, and (index, None) when one's output ends; a timeout in any is raised at once.
    A thread reads each pipe (only reads: signals and the display stay with the caller)."""

    def __init__(self, timeout: float) -> None:
        self._timeout = timeout
        self._arrived: queue.SimpleQueue[tuple[int, str | None, BaseException | None]]
        self._arrived = queue.SimpleQueue()
        self._open = 0

    def add(self, index: int, process: subprocess.Popen[str]) -> None:
        self._open += 1
        threading.Thread(target=self._read, args=(index, process), daemon=True).start()

    def _read(self, index: int, process: subprocess.Popen[str]) -> None:
        try:
            with contextlib.closing(_lines_until(process, self._timeout)) as output:
                for line in output:
                    self._arrived.put((index, line, None))
        except BaseException as error:  # a timeout: raised in the caller's thread
            self._arrived.put((index, None, error))
            return
        self._arrived.put((index, None, None))

    def __iter__(self) -> Iterator[tuple[int, str | None]]:
        while self._open:
            index, line, error = self._arrived.get()
            if error is not None:
                raise error
            if line is None:
                self._open -= 1
            yield index, line


def _outlived(program: str, timeout: float) -> EnvironmentProblem:
    return EnvironmentProblem(
        f"{Path(program).name}: still running after {timeout:g}s; it was stopped"
    )


TERMINAL = ("COLUMNS", "LINES")
"""A terminal's size, as a shell or a CI runner exports it: never passed on. A program run
here writes to a pipe that imagegate reads; given COLUMNS, uv wraps its messages to it, and
a resolver's explanation read back wrapped loses words."""


def _environment() -> dict[str, str]:
    """imagegate's environment for a program it runs, less the terminal's size."""
    return {name: value for name, value in os.environ.items() if name not in TERMINAL}


def _start(
    argv: tuple[str, ...], env: Mapping[str, str], cwd: Path | None
) -> subprocess.Popen[str]:
    try:
        return subprocess.Popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            errors="replace",
            env=env,
            cwd=cwd,
            start_new_session=True,
            preexec_fn=_dies_with(os.getpid()) if _PRCTL is not None else None,
        )
    except FileNotFoundError:
        raise EnvironmentProblem(f"{argv[0]}: not found on this machine; install it") from None


_PR_SET_PDEATHSIG = 1
_PRCTL = ctypes.CDLL(None, use_errno=True).prctl if sys.platform == "linux" else None
"""Looked up once, here: the child between fork and exec must not load a library."""


def _dies_with(parent: int) -> Callable[[], None]:
    """Run in the child before exec: SIGKILL when `parent` dies (and now, if it already has)."""

    def arrange() -> None:
        assert _PRCTL is not None
        _PRCTL(_PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:  # it died before the request was made
            os.kill(os.getpid(), signal.SIGKILL)

    return arrange


def stop_group(process: subprocess.Popen[str], grace: float = GRACE) -> None:
    """SIGTERM to the child's whole process group, SIGKILL to what is left after `grace`."""
    _signal_group(process, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=grace)
    _signal_group(process, signal.SIGKILL)  # the leader may be gone and its group not
    process.wait()


def _signal_group(process: subprocess.Popen[str], signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signum)


def _lines_until(process: subprocess.Popen[str], timeout: float) -> Generator[str]:
    """Output lines, with `timeout` enforced over the whole run by a watchdog timer."""
    expired = threading.Event()

    def stop() -> None:
        expired.set()
        _signal_group(process, signal.SIGKILL)

    timer = threading.Timer(timeout, stop)
    timer.daemon = True  # a watchdog never keeps the program alive after it is done
    timer.start()
    try:
        assert process.stdout is not None
        yield from process.stdout
    finally:
        timer.cancel()
    process.wait()
    if expired.is_set():
        raise subprocess.TimeoutExpired(process.args, timeout)
