"""What a person sees while imagegate works: the only module that knows about the terminal.

On a terminal (stderr is a TTY) a step is a live line drawn by rich's Progress (a spinner,
what it is doing now, a count and bytes where known, the elapsed time); when it ends it
becomes one plain line with its time. Anywhere else (CI, a log file) a step prints exactly
one line when it ends, ``==> wheelhouse: cpu (3.2 s)``, with no carriage returns or escape
codes. Other programs' output (pip, uv, docker, debootstrap) is shown only with --verbose,
each distinct warning once; --quiet shows none of this, only the result and errors.
"""

from __future__ import annotations

import enum
import re
import shutil
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from rich.console import Console
from rich.filesize import decimal
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    TaskID,
    TimeElapsedColumn,
)
from rich.progress import Task as _Row
from rich.text import Text


class Level(enum.IntEnum):
    QUIET = 0
    NORMAL = 1
    VERBOSE = 2


_WARNING = re.compile(r"^\s*(?:WARNING|warning|WARN)\b:?")
_VALUES = re.compile(r"'[^']*'|\"[^\"]*\"|\S+://\S+|(?<!\S)/\S+")


class Warnings:
    """Which warnings were shown: one of each kind, where a kind is the warning's text with
    its quoted values, URLs and paths left out (pip warns once per package in the same
    words)."""

    def __init__(self) -> None:
        self._seen: dict[str, int] = {}

    def first(self, line: str) -> bool:
        """False for a warning whose kind was already shown; True for anything else."""
        if not _WARNING.match(line):
            return True
        kind = _VALUES.sub("…", line.strip())
        self._seen[kind] = self._seen.get(kind, 0) + 1
        return self._seen[kind] == 1

    def hidden(self) -> int:
        """How many warnings were left out as repeats so far."""
        return sum(n - 1 for n in self._seen.values())


@dataclass(kw_only=True)
class Task:
    """One step's live state; the step's owner (or whoever runs inside it) updates it."""

    name: str
    detail: str
    started: float = field(default_factory=time.monotonic)
    activity: str = ""
    done: int | None = None
    total: int | None = None
    nbytes: int | None = None
    notes: list[str] = field(default_factory=list)
    _row: TaskID | None = None

    def update(
        self,
        activity: str | None = None,
        *,
        done: int | None = None,
        total: int | None = None,
        nbytes: int | None = None,
    ) -> None:
        """What the step is doing now; a count of `done` out of `total`; bytes moved so far."""
        if activity is not None:
            self.activity = " ".join(activity.split())
        self.done = self.done if done is None else done
        self.total = self.total if total is None else total
        self.nbytes = self.nbytes if nbytes is None else nbytes
        if _live is not None and self._row is not None:
            _live.update(self._row, completed=self.done or 0, total=self.total)

    @property
    def seconds(self) -> float:
        return time.monotonic() - self.started

    def line(self) -> str:
        """The live line's text: the step, then what it is doing, the count and the bytes."""
        parts = [f"{self.name}: {self.detail}"]
        if self.total is not None:
            parts.append(f"{self.done or 0}/{self.total}")
        if self.nbytes:
            rate = self.nbytes / max(self.seconds, 1e-3)
            parts.append(f"{decimal(self.nbytes)} at {decimal(int(rate))}/s")
        if self.activity:
            parts.append(self.activity)
        return " · ".join(parts)


_level = Level.NORMAL
_warnings = Warnings()
_steps: list[Task] = []
_live: Progress | None = None
_IDLE = Task(name="", detail="")
"""What `current()` gives outside any step: updates go nowhere."""


def configure(*, verbose: bool = False, quiet: bool = False) -> None:
    """How much to show, for this process (the CLI's --verbose and --quiet)."""
    global _level, _warnings
    _level = Level.QUIET if quiet else Level.VERBOSE if verbose else Level.NORMAL
    _warnings = Warnings()


def current() -> Task:
    """The innermost step running now (a task that shows nothing when there is none)."""
    return _steps[-1] if _steps else _IDLE


@contextmanager
def step(name: str, detail: str) -> Iterator[Task]:
    """A timed step: live while it runs on a terminal, one line with its time when it ends."""
    global _live, _warnings
    task = Task(name=name, detail=detail)
    outermost = not _steps
    if outermost and _level > Level.QUIET and _terminal():
        _live = _progress()
        _live.start()
    if _live is not None:
        task._row = _live.add_task("", total=None, task=task, depth=len(_steps))
    _steps.append(task)
    failed = True
    try:
        yield task
        failed = False
    finally:
        _steps.pop()
        if _live is not None and task._row is not None:
            _live.remove_task(task._row)
        how = "failed after " if failed else ""
        _say(f"==> {name}: {detail} ({how}{task.seconds:.1f} s)")
        for text in task.notes:
            _say(text)
        if outermost:
            hidden = _warnings.hidden()
            if hidden and _level is Level.VERBOSE:
                _say(f"    ({hidden} repeated warnings not shown)")
            _warnings = Warnings()
            if _live is not None:
                _live.stop()
                _live = None


def note(text: str) -> None:
    """A line worth a person's attention that is not the result: shown after the step it
    belongs to (or now, outside any step); never with --quiet."""
    if _steps:
        _steps[-1].notes.append(text)
    else:
        _say(text)


def output(line: str, *, prefix: str = "") -> None:
    """One line of another program's output: shown only with --verbose, repeats of a
    warning left out."""
    if _level is not Level.VERBOSE or not _warnings.first(line):
        return
    _say(f"{prefix}{line.rstrip()}")


def width(fallback: int = 120) -> int:
    """How wide a table may be: the terminal's columns, `fallback` where there is none (a
    pipe, a file, a CI log), never under 60."""
    return max(shutil.get_terminal_size((fallback, 24)).columns, 60)


def _say(text: str) -> None:
    if _level is Level.QUIET:
        return
    if _live is not None:
        _live.console.print(Text(text), soft_wrap=True)
    else:
        print(text, file=sys.stderr, flush=True)


def _terminal() -> bool:
    isatty = getattr(sys.stderr, "isatty", None)
    return bool(isatty and isatty())


class _Line(ProgressColumn):
    def render(self, task: _Row) -> Text:
        step: Task = task.fields["task"]
        text = Text("  " * int(task.fields["depth"]), no_wrap=True, overflow="ellipsis")
        text.append(step.name, style="bold")
        text.append(step.line().removeprefix(step.name))
        return text


def _progress() -> Progress:
    return Progress(
        SpinnerColumn(),
        _Line(),
        BarColumn(bar_width=12),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
        redirect_stdout=False,
        refresh_per_second=8,
    )
