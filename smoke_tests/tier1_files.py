"""Tier 1, the files: what Python will run is what the wheels installed.

Every file a distribution's RECORD lists with a hash is hashed again (the wheel spec's
`sha256=<urlsafe base64, no padding>`); a module file (.py, .so) under a distribution's
top-level folders that no RECORD lists got there after the install. Bytecode (__pycache__,
.pyc) is written after the install by design and is judged neither way.

A CUDA stack is gigabytes: threads hash in large chunks (hashlib releases the GIL on them),
the largest files first, and collect.py starts the whole check first, in a process of its
own (`start`), so it overlaps tier 1's metadata and tier 2's imports. Standard library only.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import importlib.metadata
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import tier1_versions

CHUNK = 1 << 20
WORKERS = max(4, min(16, 2 * (os.cpu_count() or 1)))


@dataclass(frozen=True)
class Listed:
    """One hashed RECORD entry of a reported distribution."""

    owner: str
    path: str
    algorithm: str
    digest: str
    size: int | None


def record_digest(path: str, algorithm: str) -> str:
    """The file's digest as RECORD writes it: urlsafe base64 without padding."""
    digest = hashlib.new(algorithm)
    with open(path, "rb", buffering=0) as stream:
        for chunk in iter(lambda: stream.read(CHUNK), b""):
            digest.update(chunk)
    return base64.urlsafe_b64encode(digest.digest()).rstrip(b"=").decode("ascii")


def root_of(dist: importlib.metadata.Distribution) -> str:
    """The folder RECORD paths are relative to (site-packages, for a wheel's install)."""
    return os.path.normpath(str(dist.locate_file("")))


def where(root: str, path: str) -> str:
    joined = os.path.join(root, path)
    return os.path.normpath(joined) if "./" in path or "/." in path else joined


def listed(root: str, rows: Iterable[tier1_versions.Row], owner: str) -> Iterator[Listed]:
    for path, hashed, size in rows:
        algorithm, _, digest = hashed.partition("=")
        if not digest or _is_bytecode(path):
            continue
        length = int(size) if size.isdigit() else None
        yield Listed(owner, where(root, path), algorithm, digest, length)


def verify(entry: Listed) -> str | None:
    """None when the file is as RECORD says; else what is wrong with it."""
    try:
        if entry.size is not None and os.stat(entry.path).st_size != entry.size:
            return "changed"
        same = record_digest(entry.path, entry.algorithm) == entry.digest
    except FileNotFoundError:
        return "missing"
    except (OSError, ValueError) as error:  # ValueError: a hash algorithm hashlib lacks
        return f"unreadable ({type(error).__name__})"
    return None if same else "changed"


def verify_all(entries: list[Listed], workers: int = WORKERS) -> dict[Listed, str]:
    """Each entry that is not as listed, with why; `workers` threads take the largest first."""
    if workers < 1:
        raise ValueError(f"{workers} threads would verify nothing")
    pending = iter(sorted(entries, key=lambda entry: -(entry.size or 0)))
    lock = threading.Lock()
    wrong: dict[Listed, str] = {}

    def work() -> None:
        while True:
            with lock:
                entry = next(pending, None)
            if entry is None:
                return
            problem = verify(entry)
            if problem is not None:
                with lock:
                    wrong[entry] = problem

    threads = [threading.Thread(target=work, daemon=True) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return wrong


def _is_bytecode(path: str) -> bool:
    """A wheel may list bytecode (numpy's does); compiling after the install rewrites it."""
    return path.endswith(".pyc") or "__pycache__/" in path


def _is_module_file(name: str) -> bool:
    return name.endswith((".py", ".so"))


def unlisted(folders: Iterable[str], singles: Iterable[str], known: set[str]) -> list[str]:
    """Module files in `folders` (walked, __pycache__ left out) and the candidate top-level
    module files `singles` that no RECORD (`known`, normalized paths) lists."""
    found = [path for path in singles if path not in known]
    for folder in folders:
        for directory, subdirectories, names in os.walk(folder):
            subdirectories[:] = [name for name in subdirectories if name != "__pycache__"]
            for name in names:
                path = os.path.join(directory, name)
                if _is_module_file(name) and path not in known:
                    found.append(path)
    return sorted(found)


def _top_level_places(
    dist: importlib.metadata.Distribution,
    rows: list[tier1_versions.Row],
    listing: dict[str, list[str]],
) -> tuple[list[str], list[str]]:
    """The folders of the distribution's top-level packages, and its top-level module files
    (whichever of name.py, name.*.so exist beside its dist-info)."""
    folders, singles = [], []
    root = root_of(dist)
    if root not in listing:
        try:
            listing[root] = os.listdir(root)
        except OSError:
            listing[root] = []
    for name in tier1_versions.top_level(dist, (tuple(row[0].split("/")) for row in rows)):
        path = os.path.join(root, name)
        if os.path.isdir(path):
            folders.append(path)
        singles += [
            os.path.join(root, entry)
            for entry in listing[root]
            if _is_module_file(entry) and entry.split(".", 1)[0] == name
        ]
    return folders, singles


def _nearest(path: str, owners: dict[str, str]) -> tuple[str, str]:
    """The nearest folder above `path` that `owners` maps, and its owner ("" and "": none)."""
    directory = os.path.dirname(path)
    while directory not in owners:
        parent = os.path.dirname(directory)
        if parent == directory:
            return "", ""
        directory = parent
    return directory, owners[directory]


def _owner_of(path: str, listing: dict[str, str], folders: dict[str, str]) -> str:
    """The distribution whose RECORD lists files in the nearest folder above `path`, within
    the top-level folder holding it; else that folder's (a shared namespace's) first."""
    folder, owner = _nearest(path, folders)
    directory, lister = _nearest(path, listing)
    return lister if len(directory) >= len(folder) else owner


def check(workers: int = WORKERS, search: list[str] | None = None) -> dict[str, Any]:
    """Every reported distribution's hashed RECORD entries, and unlisted module files; of
    the distributions found on `search` (default sys.path)."""
    started = time.monotonic()
    everything = list(importlib.metadata.distributions(path=search or sys.path))
    records = {id(dist): (root_of(dist), tier1_versions.record(dist)) for dist in everything}
    reported = tier1_versions.installed(everything)
    known = {where(root, row[0]) for root, rows in records.values() for row in rows or ()}
    entries: list[Listed] = []
    folders: dict[str, str] = {}
    singles: dict[str, str] = {}
    listing: dict[str, list[str]] = {}
    without_record = []
    for name, dist in reported.items():
        root, rows = records[id(dist)]
        if rows is None:
            without_record.append(name)
            continue
        entries += listed(root, rows, name)
        places = _top_level_places(dist, rows, listing)
        folders.update((folder, name) for folder in places[0] if folder not in folders)
        singles.update((single, name) for single in places[1] if single not in singles)
    wrong = verify_all(entries, workers)
    problems: dict[str, dict[str, list[str]]] = {}
    for entry, problem in wrong.items():
        kind = problem.split(" ", 1)[0]
        problems.setdefault(entry.owner, {}).setdefault(kind, []).append(entry.path)
    strays = unlisted(folders, singles, known)
    if strays:
        listing_owners = {os.path.dirname(entry.path): entry.owner for entry in reversed(entries)}
        for path in strays:
            owner = singles.get(path) or _owner_of(path, listing_owners, folders)
            problems.setdefault(owner, {}).setdefault("unlisted", []).append(path)
    return {
        "distributions": len(reported) - len(without_record),
        "files": len(entries),
        "without_record": sorted(without_record),
        "problems": [
            {
                "name": name,
                "version": reported[name].version if name in reported else "",
                **{kind: sorted(paths) for kind, paths in sorted(kinds.items())},
            }
            for name, kinds in sorted(problems.items())
        ],
        "seconds": round(time.monotonic() - started, 3),
    }


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected at least 1 thread, got {text!r}")
    return value


def start(workers: int = WORKERS) -> Callable[[], dict[str, Any]]:
    """`check` in a process of its own, begun now; call the result to wait for it.

    A process, not a thread of the collector: parsing RECORDs holds the GIL, and the
    collector's own tier 1 and tier 2 bookkeeping would wait on it."""
    child = subprocess.Popen(
        [sys.executable, os.path.abspath(__file__), "--workers", str(workers)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
    )

    def result() -> dict[str, Any]:
        out, err = child.communicate()
        if child.returncode == 0:
            done: dict[str, Any] = json.loads(out)
            return done
        last = (err.strip().splitlines() or [f"exit code {child.returncode}"])[-1]
        return {
            "distributions": 0,
            "files": 0,
            "without_record": [],
            "problems": [],
            "seconds": 0.0,
            "error": last,
        }

    return result


if __name__ == "__main__":
    # Like the collector, which runs beside this file: the folder holds no distribution.
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=_positive, default=WORKERS)
    if hasattr(os, "nice"):
        # Yield the CPU to tier 2's imports, which the collector waits on in turn; the
        # hashing fills the time they leave (cpu image: +4-7 % over the tiers, not +14 %).
        os.nice(10)
    json.dump(check(parser.parse_args().workers), sys.stdout)
