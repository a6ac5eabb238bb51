"""One run at a time, per profile and per environment: an inter-process lock (filelock).

Everything that writes a profile's lock, wheelhouse, Dockerfile or image tag holds the
profile's lock; a repair holds its environment's too. A second run waits, says once what it
waits for and who holds it, and gives up after `wait` seconds with the holder's pid and
command. The operating system releases the lock of a process that dies, however it dies.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

from imagegate import progress
from imagegate.errors import EnvironmentProblem

DEFAULT_WAIT = 300.0


@contextmanager
def hold(path: Path, what: str, *, wait: float = DEFAULT_WAIT) -> Iterator[None]:
    """Hold the lock file `path` (`what` names it for people) for the block."""
    holder = path.with_name(f"{path.name}.holder")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        lock = FileLock(path)
        try:
            lock.acquire(timeout=0)
        except Timeout:
            progress.note(f"==> waiting for {what}: held by {_describe(holder)} (up to {wait:g}s)")
            try:
                lock.acquire(timeout=wait)
            except Timeout:
                raise EnvironmentProblem(
                    f"{what}: still held by {_describe(holder)} after {wait:g}s; let it finish "
                    "or stop it, or wait longer with --wait SECONDS"
                ) from None
    except OSError as error:
        raise EnvironmentProblem(
            f"{path}: cannot take the lock ({error.strerror or error}); make the folder writable"
        ) from None
    try:
        me = {"pid": os.getpid(), "command": " ".join(sys.argv), "since": time.time()}
        holder.write_text(json.dumps(me), encoding="utf-8")
        yield
    finally:
        holder.unlink(missing_ok=True)
        lock.release()


def environment_lock(prefix: Path) -> Path:
    """The lock of one Python environment: outside it (a repair leaves its files exactly as
    it found them), shared by every project on this machine that repairs it."""
    name = hashlib.sha256(str(prefix.resolve()).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / "imagegate-locks" / f"env-{name}.lock"


def _describe(holder: Path) -> str:
    try:
        me = json.loads(holder.read_text(encoding="utf-8"))
        since = time.strftime("%H:%M:%S", time.localtime(float(me["since"])))
        return f"pid {me['pid']} ({me['command']}, since {since})"
    except (OSError, ValueError, KeyError, TypeError):
        return "another run"
