"""A lock and its wheelhouse change together or not at all: the one place a lock is written.

`wheelhouse.fill` stages the new wheels in a folder beside the wheelhouse (and the new lock
in it); `commit` marks the staging folder complete, then puts the lock and the wheels in
place. Every step can be redone: a run killed after the mark is completed by the next one
(`recover`), one killed before it leaves the previous lock and wheelhouse as they were.
"""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

from imagegate import interrupts, progress
from imagegate.files import write_atomic
from imagegate.lock import Lock

STAGED_LOCK = "pylock.toml"
"""In the staging folder: the new lock that is committed with the wheels."""
COMMITTED = ".committed"
"""In the staging folder: everything is verified; a run that finds it completes the commit."""


def staging(wheelhouse: Path) -> Path:
    """Where a wheelhouse's replacement is made: beside it, so a rename puts it in place."""
    return wheelhouse.with_name(f".{wheelhouse.name}.staging")


def _old(wheelhouse: Path) -> Path:
    return wheelhouse.with_name(f".{wheelhouse.name}.old")


def commit(lock: Lock, wheelhouse: Path | None = None) -> Lock:
    """Write `lock` at its path (unless it holds it already) and, with `wheelhouse`, put the
    wheels staged for it (`staging(wheelhouse)`, every one verified) in that folder's place.
    The lock as it now is: written."""
    with interrupts.deferred():
        if wheelhouse is None:
            if not lock.written:
                write_atomic(lock.path, lock.text)
        else:
            staged = staging(wheelhouse)
            if not lock.written:
                write_atomic(staged / STAGED_LOCK, lock.text)
            write_atomic(staged / COMMITTED, "")
            _finish(staged, wheelhouse, lock.path)
    return replace(lock, written=True)


def _finish(staged: Path, wheelhouse: Path, lock_file: Path) -> None:
    """Put the staged lock and wheels in place (every step can be redone after a crash)."""
    staged_lock = staged / STAGED_LOCK
    if staged_lock.is_file():
        write_atomic(lock_file, staged_lock.read_text(encoding="utf-8"))
        staged_lock.unlink()
    old = _old(wheelhouse)
    shutil.rmtree(old, ignore_errors=True)
    if wheelhouse.exists():
        wheelhouse.rename(old)
    staged.rename(wheelhouse)
    (wheelhouse / COMMITTED).unlink()
    shutil.rmtree(old, ignore_errors=True)


def recover(wheelhouse: Path, lock_file: Path) -> None:
    """Finish or undo what a killed run left: a commit that was marked is completed, any
    other staging folder is removed. Call it holding the profile's run lock."""
    staged = staging(wheelhouse)
    with interrupts.deferred():
        if (staged / COMMITTED).is_file():
            progress.note(f"    completing an interrupted commit of {wheelhouse}")
            if not wheelhouse.exists() and _old(wheelhouse).exists():
                _old(wheelhouse).rename(wheelhouse)
            _finish(staged, wheelhouse, lock_file)
        elif (wheelhouse / COMMITTED).is_file():
            (wheelhouse / COMMITTED).unlink()
        shutil.rmtree(staged, ignore_errors=True)
        if wheelhouse.exists():
            shutil.rmtree(_old(wheelhouse), ignore_errors=True)


def committed(wheelhouse: Path) -> bool:
    """Whether the staging folder was marked complete: then it is the next run's to finish."""
    return (staging(wheelhouse) / COMMITTED).is_file()
