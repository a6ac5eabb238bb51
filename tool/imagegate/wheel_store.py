"""The user's wheel store: every wheel imagegate fetched on this machine, under its sha256.

A wheelhouse fill takes a locked wheel from here before it asks pip (a second project, or a
profile sharing torch with another, fetches nothing), and trials install from here (uv's
cache knows a local wheel by its path). The store is a cache in the user's home that anything
running as the user can write into: a wheel is taken only once its bytes hash to the sha256
the lock names, and it holds copies, never links, so a wheelhouse file damaged in place
cannot damage it (nor the store a wheelhouse).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from pathlib import Path

from imagegate.files import copy_whole, whole

STORE_ENV = "IMAGEGATE_WHEEL_STORE"
"""Where the store is (default: the user's cache)."""


def root() -> Path:
    """`$IMAGEGATE_WHEEL_STORE`, else `$XDG_CACHE_HOME` (or ~/.cache) / imagegate / wheels."""
    if chosen := os.environ.get(STORE_ENV):
        return Path(chosen)
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "imagegate" / "wheels"


def folder(digest: str) -> Path:
    """Where the wheel of sha256 `digest` is kept (its own folder: a find-links source)."""
    return root() / digest[:2] / digest


def keep(wheel: Path, digest: str) -> Path:
    """`wheel` copied into the store unless a file of its size is there; its folder."""
    target = folder(digest) / wheel.name
    if not (target.is_file() and target.stat().st_size == wheel.stat().st_size):
        copy_whole(wheel, target)
    return target.parent


def keep_quietly(wheel: Path, digest: str) -> None:
    """`keep`, where a store that cannot be written (a full disk, a read-only home) costs
    only a later fetch."""
    with contextlib.suppress(OSError):
        keep(wheel, digest)


class _OtherBytes(Exception):
    """The stored file's bytes do not hash to the sha256 asked for."""


def take(filename: str, digest: str, target: Path) -> bool:
    """The stored `filename` copied to `target`, hashed as it is read: named there only when
    its bytes hash to `digest` (`files.whole`). A stored file that does not is removed (the
    next fetch keeps a good one). False when nothing was taken."""
    stored = folder(digest) / filename
    try:
        with whole(target) as temporary:
            hashed = hashlib.sha256()
            with stored.open("rb") as source, temporary.open("wb") as copy:
                for block in iter(lambda: source.read(1 << 20), b""):
                    hashed.update(block)
                    copy.write(block)
            if hashed.hexdigest() != digest:
                stored.unlink(missing_ok=True)
                raise _OtherBytes
    except (OSError, _OtherBytes):
        return False
    return True
