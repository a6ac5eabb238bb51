"""Tier 2: does the stack actually import? Runs probe items and reports each one.

Items run one after another in a single child interpreter, because starting Python (and
importing torch) once per item would be slow. The child may segfault, hang or be poisoned by an
earlier item, so the parent watches it with a per-item deadline, restarts it after a crash or a
hang, and re-runs every failure alone in a fresh child before blaming the item.

Run as a script, this file is that child: it reads the items as JSON on stdin and writes one
JSON line per event ("start", then "result") on its original stdout. After a module item
imports, the child also records where the module was loaded from and checks that against
the installed files of the distributions that provide it (tier2_origins).
"""

from __future__ import annotations

import contextlib
import dataclasses
import faulthandler
import functools
import importlib
import importlib.metadata
import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
import traceback
import warnings
from collections.abc import Iterator, Mapping, Sequence
from typing import IO, Any

# Imported before the child drops this folder from sys.path (see the end of this file).
import tier1_versions
import tier2_origins

_ROOT_NAME = re.compile(r"\s*([A-Za-z_]\w*)")


@dataclasses.dataclass(frozen=True)
class Item:
    kind: str
    """module, statement or fact."""
    subject: str
    code: str


@dataclasses.dataclass(frozen=True)
class Result:
    kind: str
    subject: str
    code: str
    ok: bool
    value: str | None
    error: str | None
    seconds: float
    isolated: bool
    """True when no other item ran before it in the same child."""
    origin: dict[str, Any] | None = None
    """For a module that imported: where it was loaded from (tier2_origins.check)."""


def module(name: str) -> Item:
    return Item("module", name, f"import {name}")


def statement(name: str, code: str) -> Item:
    return Item("statement", name, code)


def fact(expression: str) -> Item:
    return Item("fact", expression, expression)


@dataclasses.dataclass(frozen=True)
class Beside:
    """A program the shared child forks once its item `after` is done, before it sends
    that item's result (before its first item where `after` is negative), so the program
    pays none of the imports those items made: `module`'s main(argv), imported from the
    folder `path`. Its stdout goes to the file `report`, its stderr to `errors` (else the
    child's). The child writes `forked` before it forks; a watcher forked with it writes
    the program's pid to `pid` when it starts and its exit code to `code` when it has
    ended (minus the signal that ended it)."""

    after: int
    path: str
    module: str
    argv: list[str]
    report: str
    errors: str | None
    forked: str
    pid: str
    code: str


# --- the child ---------------------------------------------------------------------------


def _cause_line(error: BaseException) -> str:
    """The line that says why: the one naming the exception ("ImportError: tokenizers>=0.21
    is required …"), not a hint a multi-line message ends with ("Try: `pip install …`")."""
    name = type(error).__qualname__
    if type(error).__module__ not in ("builtins", "__main__"):
        name = f"{type(error).__module__}.{name}"
    text = "".join(traceback.format_exception_only(type(error), error))
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    named = [line for line in lines if line == name or line.startswith(f"{name}:")]
    return (named or lines or [type(error).__name__])[-1]


def _execute(item: Item) -> str | None:
    """Run one item; a fact returns its value as text."""
    if item.kind == "module":
        importlib.import_module(item.subject)
        return None
    if item.kind == "statement":
        exec(compile(item.code, f"<statement {item.subject}>", "exec"), {"__name__": "__probe__"})
        return None
    if item.kind == "fact":
        root = _ROOT_NAME.match(item.code)
        namespace = {root[1]: importlib.import_module(root[1])} if root else {}
        value = eval(compile(item.code, f"<fact {item.subject}>", "eval"), namespace)
        return None if value is None else str(value)
    raise ValueError(f"unknown item kind {item.kind!r}")


@functools.cache
def _installed() -> dict[str, importlib.metadata.Distribution]:
    """The child's installed distributions as tier 1 reports them, listed once."""
    return tier1_versions.installed()


def _origin(item: Item, owners: Mapping[str, Sequence[str]]) -> dict[str, Any] | None:
    if item.kind != "module":
        return None
    wanted = owners.get(item.subject, ())
    try:
        found = _installed() if wanted else {}
        return tier2_origins.check(sys.modules[item.subject], wanted, found)
    except (Exception, SystemExit) as raised:  # reported: the judge fails the module for it
        return {"distributions": list(wanted), "error": f"not checked: {_cause_line(raised)}"}


def _write(path: str, text: str) -> None:
    """The whole text at `path` or nothing there: a reader polls for it."""
    with open(f"{path}.part", "w", encoding="utf-8") as stream:
        stream.write(text)
    os.replace(f"{path}.part", path)


def _fork(beside: Beside, protocol: IO[str]) -> None:
    """Start `beside` in a fork of this child, watched by another fork that reports how it
    ended: this child may be killed first (it is, after its last item)."""
    sys.stdout.flush()
    sys.stderr.flush()
    _write(beside.forked, "")
    with warnings.catch_warnings():  # Python 3.12+ warns of forking beside a BLAS thread pool
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            if os.fork() != 0:
                return
        except OSError:
            os.unlink(beside.forked)  # the collector starts the program itself
            return
        # The watcher. The collector reads the protocol to its end: only this child holds it.
        os.close(protocol.fileno())
        try:
            program = os.fork()
            if program == 0:
                _run_beside(beside)
            _write(beside.pid, str(program))
            _, status = os.waitpid(program, 0)
            _write(beside.code, str(os.waitstatus_to_exitcode(status)))
        finally:
            os._exit(0)


def _run_beside(beside: Beside) -> None:
    code = 1
    try:
        os.dup2(os.open(beside.report, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), 1)
        if beside.errors is not None:
            os.dup2(os.open(beside.errors, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), 2)
        sys.path.insert(0, beside.path)
        code = importlib.import_module(beside.module).main(beside.argv)
    except SystemExit as stopped:  # argparse, on arguments it rejects
        code = stopped.code if isinstance(stopped.code, int) else 1
    except BaseException:  # its last line of stderr says why
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _child() -> None:
    given = json.load(sys.stdin)
    items = [Item(**raw) for raw in given["items"]]
    owners: dict[str, list[str]] = given["owners"]
    beside = Beside(**given["beside"]) if given.get("beside") else None
    faulthandler.enable()  # a segfaulting import leaves its Python stack in the build log
    # Keep the protocol clean: what imported modules print, from Python or from C, goes to
    # stderr. The protocol fd is a private (non-inheritable) duplicate of the original stdout.
    protocol = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)

    def send(event: dict[str, Any]) -> None:
        protocol.write(json.dumps(event) + "\n")
        protocol.flush()

    if beside is not None and beside.after < 0:
        _fork(beside, protocol)
    for index, item in enumerate(items):
        send({"event": "start", "subject": item.subject})
        started = time.perf_counter()
        value, error = None, None
        try:
            value = _execute(item)
        except (Exception, SystemExit) as raised:  # a failing item is a fact to report
            error = _cause_line(raised)
        seconds = round(time.perf_counter() - started, 4)
        origin = None if error is not None else _origin(item, owners)
        event = {"value": value, "error": error, "seconds": seconds, "origin": origin}
        if beside is not None and index == beside.after:
            _fork(beside, protocol)  # before the result: the parent may stop this child then
        send({"event": "result", **event})


# --- the parent --------------------------------------------------------------------------


def _forward_lines(stream: IO[str], lines: queue.Queue[str | None]) -> None:
    """Move the child's protocol lines onto a queue, so the parent can wait with a deadline."""
    for line in stream:
        lines.put(line)
    lines.put(None)  # end of output: the child has exited (or closed its protocol fd)


def _crash_evidence(returncode: int) -> str:
    if returncode < 0:
        with contextlib.suppress(ValueError):
            return f"crashed: exit code {returncode} / signal {signal.Signals(-returncode).name}"
    return f"crashed: exit code {returncode}"


def _failed(item: Item, error: str, seconds: float, isolated: bool) -> Result:
    fields = dataclasses.asdict(item)
    return Result(**fields, ok=False, value=None, error=error, seconds=seconds, isolated=isolated)


def _await_result(
    item: Item,
    lines: queue.Queue[str | None],
    child: subprocess.Popen[str],
    timeout: float,
    *,
    isolated: bool,
) -> tuple[Result, bool]:
    """The child's result for item, and whether the child lives on (not crashed, not hung)."""
    started = time.monotonic()  # reset by the item's "start": the child's start-up counts too
    while True:
        try:
            line = lines.get(timeout=max(0.0, started + timeout - time.monotonic()))
        except queue.Empty:
            return _failed(item, f"timed out after {timeout:g}s", timeout, isolated), False
        if line is None:
            evidence, elapsed = _crash_evidence(child.wait()), round(time.monotonic() - started, 4)
            return _failed(item, evidence, elapsed, isolated), False
        event = json.loads(line)
        if event["event"] == "start":
            started = time.monotonic()
            continue
        fields = {key: event[key] for key in ("value", "error", "seconds", "origin")}
        ok = event["error"] is None
        return Result(**dataclasses.asdict(item), **fields, ok=ok, isolated=isolated), True


@dataclasses.dataclass(frozen=True)
class _Child:
    """A child running `items` in order, begun when made; its results are read later."""

    items: Sequence[Item]
    process: subprocess.Popen[str]
    lines: queue.Queue[str | None]

    @classmethod
    def start(
        cls,
        items: Sequence[Item],
        owners: Mapping[str, Sequence[str]],
        quiet: bool,
        beside: Beside | None = None,
    ) -> _Child:
        process = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL if quiet else None,
            text=True,
            encoding="utf-8",
        )
        assert process.stdin is not None and process.stdout is not None
        lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=_forward_lines, args=(process.stdout, lines), daemon=True).start()
        with contextlib.suppress(BrokenPipeError):  # died at once: its exit code tells why
            given = {
                "items": [dataclasses.asdict(item) for item in items],
                "owners": owners,
                "beside": None if beside is None else dataclasses.asdict(beside),
            }
            process.stdin.write(json.dumps(given))
            process.stdin.close()
        return cls(items, process, lines)

    def results(self, timeout: float) -> Iterator[Result]:
        """Its results, until all are done or one crashes or hangs (each item's deadline
        counts from when it is awaited, or from its start when that is later)."""
        try:
            for index, item in enumerate(self.items):
                result, alive = _await_result(
                    item, self.lines, self.process, timeout, isolated=index == 0
                )
                yield result
                if not alive:
                    return
        finally:
            # Done, crashed or hung: nothing more is wanted from it (exit hooks are not probed).
            self.process.kill()
            self.process.wait()

    def running(self) -> bool:
        return self.process.poll() is None


def _progress(result: Result) -> None:
    label = f"{'import' if result.kind == 'module' else result.kind} {result.subject}"
    if not result.ok:
        outcome = f"FAILED: {result.error}" + ("" if result.isolated else " (will re-run alone)")
    else:
        outcome = f"ok: {result.value}" if result.kind == "fact" else "ok"
        origin = result.origin or {}
        where = ", ".join(place["path"] for place in origin.get("foreign", ()))
        if where or origin.get("error"):
            outcome += f", but not from its distribution's files: {where or origin['error']}"
    print(f"tier2: {label} ... {outcome} ({result.seconds:.2f}s)", file=sys.stderr, flush=True)


def run(
    items: Sequence[Item],
    *,
    owners: Mapping[str, Sequence[str]] | None = None,
    timeout: float = 120.0,
    quiet: bool = False,
    beside: Beside | None = None,
) -> list[Result]:
    """Results in item order; a failure seen in a shared child is the one from its re-run alone,
    which starts while the shared child goes on.

    `owners`: for a module, the distributions (by name) whose files it must be loaded from.
    An item that hangs after others ran in its child therefore costs up to two timeouts.
    `beside`: forked by the first shared child only; where that child ends before its item
    `after`, `beside.forked` is never written and the caller starts the program itself.
    """
    owners = owners or {}
    results: list[Result] = []
    # Items that failed beside others, to run again alone: each begins as soon as the one
    # before it has ended, beside the shared child's next items (one at a time: a stack
    # where everything fails is not imported in many processes at once).
    again: list[int] = []
    alone: dict[int, _Child] = {}

    def record(result: Result) -> Result:
        if not quiet:
            _progress(result)
        return result

    def start_alone() -> None:
        if again and not any(child.running() for child in alone.values()):
            index = again.pop(0)
            alone[index] = _Child.start([items[index]], owners, quiet)

    while len(results) < len(items):
        shared = _Child.start(items[len(results) :], owners, quiet, beside if not results else None)
        for result in shared.results(timeout):
            if not result.ok and not result.isolated:
                again.append(len(results))
            results.append(record(result))
            start_alone()
    while again or alone:
        start_alone()
        index = next(iter(alone))
        [results[index]] = map(record, alone.pop(index).results(timeout))
    return results


if __name__ == "__main__":
    # The script's own directory is not part of the image's import path: do not probe it.
    if sys.path and os.path.abspath(sys.path[0]) == os.path.dirname(os.path.abspath(__file__)):
        del sys.path[0]
    _child()
