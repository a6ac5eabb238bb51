"""Ctrl-C and SIGTERM end a run cleanly: the same exception unwinds every step.

SIGINT and SIGTERM both raise `Interrupted` in the main thread (a KeyboardInterrupt, so
every `finally` and every rollback written for Ctrl-C serves CI's cancellation too). The
runner stops its children as a group on the way out; staging folders are removed by the
steps that made them; what a step promised to keep as it was is named in one line.
A step that must not be cut in half (the commit of a lock and its wheels) defers them.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

HANDLED = (signal.SIGINT, signal.SIGTERM)


class Interrupted(KeyboardInterrupt):
    """The run was stopped by a signal; `unchanged` names what was left as it was."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum
        self.unchanged: list[str] = []

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


class _State:
    deferred = 0
    pending: int | None = None
    raised = False


def _handler(signum: int, _frame: FrameType | None) -> None:
    if _State.raised:
        return  # one interruption is enough: let the clean-up it started finish
    if _State.deferred > 0:
        _State.pending = signum
        return
    _State.raised = True
    raise Interrupted(signum)


def install() -> None:
    """Turn SIGINT and SIGTERM into `Interrupted` (call once, from the main thread)."""
    _State.deferred, _State.pending, _State.raised = 0, None, False
    for signum in HANDLED:
        signal.signal(signum, _handler)


@contextmanager
def keeping(*what: object) -> Iterator[None]:
    """A step that leaves `what` exactly as it was when it is interrupted says so."""
    try:
        yield
    except Interrupted as interrupted:
        named = [str(item) for item in what]
        interrupted.unchanged += [item for item in named if item not in interrupted.unchanged]
        raise


@contextmanager
def deferred() -> Iterator[None]:
    """Hold SIGINT/SIGTERM until the block is done (a few renames that belong together)."""
    _State.deferred += 1
    try:
        yield
    finally:
        _State.deferred -= 1
        pending = _State.pending
        if pending is not None and _State.deferred == 0:
            _State.pending, _State.raised = None, True
            raise Interrupted(pending)
