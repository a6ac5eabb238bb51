"""Files that are whole or absent: atomic writes, and temporary folders that a killed run
does not leave behind for long."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from imagegate.errors import ProfileError


def write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def whole(target: Path) -> Iterator[Path]:
    """A path beside `target` to write a new file at, named `target` when the block ends
    normally and removed however else it ends: a reader never sees half of it, and a file
    `target` was is replaced, never written into (it may be a hard link: into uv's cache,
    into a store)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.{os.getpid()}.part")
    try:
        yield temporary
        temporary.replace(target)
    finally:
        temporary.unlink(missing_ok=True)


def copy_whole(source: Path, target: Path, *, times: bool = False) -> None:
    """`source` copied to `target` as a new file, named only once whole (`whole`; with
    `times`, its mode and times too)."""
    with whole(target) as temporary:
        (shutil.copy2 if times else shutil.copyfile)(source, temporary)


def sha256(path: Path) -> str:
    """The file's sha256, read in blocks (a torch wheel is gigabytes)."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@contextlib.contextmanager
def scratch(kind: str) -> Iterator[Path]:
    """A temporary folder named for this process (`imagegate-KIND-PID-…`), removed when the
    block ends however it ends. The folders of the same kind that a process killed outright
    left (its pid is gone) are removed first."""
    root = Path(tempfile.gettempdir())
    for left in root.glob(f"imagegate-{kind}-*-*"):
        pid = left.name.removeprefix(f"imagegate-{kind}-").partition("-")[0]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(left, ignore_errors=True)
    with tempfile.TemporaryDirectory(prefix=f"imagegate-{kind}-{os.getpid()}-") as folder:
        yield Path(folder)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_json(path: Path) -> Any:
    """A JSON file the user wrote; one line naming it when it can't be read or is not JSON
    (exit 2)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ProfileError(f"{path}: cannot be read ({error.strerror})") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ProfileError(f"{path}: not valid JSON ({error}); fix the file") from None
