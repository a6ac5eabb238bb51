"""Tier 1: what is installed, read in-process from package metadata.

Runs with the image's own Python (3.10+) and the standard library only, so the few lines of
`packaging.markers.default_environment` are restated here rather than imported.
"""

from __future__ import annotations

import csv
import importlib.metadata
import keyword
import os
import platform
import re
import sys
from collections.abc import Iterable
from typing import Any

# x.py, x.so, x.pyd, or an extension with an ABI tag: x.cpython-310-x86_64-linux-gnu.so, x.abi3.so
_MODULE_FILE = re.compile(r"^(?P<name>[^.]+)(?:\.py|(?:\.[^.]+)?\.(?:so|pyd))$")


def python_facts() -> dict[str, str]:
    return {
        "version": platform.python_version(),
        "implementation": platform.python_implementation(),
        "executable": sys.executable,
    }


def marker_environment() -> dict[str, str]:
    """The PEP 508 marker values, computed as packaging.markers.default_environment does."""
    info = sys.implementation.version
    implementation_version = f"{info.major}.{info.minor}.{info.micro}"
    if info.releaselevel != "final":
        implementation_version += f"{info.releaselevel[0]}{info.serial}"
    return {
        "implementation_name": sys.implementation.name,
        "implementation_version": implementation_version,
        "os_name": os.name,
        "platform_machine": platform.machine(),
        "platform_release": platform.release(),
        "platform_system": platform.system(),
        "platform_version": platform.version(),
        "python_full_version": platform.python_version(),
        "platform_python_implementation": platform.python_implementation(),
        "python_version": ".".join(platform.python_version_tuple()[:2]),
        "sys_platform": sys.platform,
    }


def _importable(name: str) -> bool:
    # Dunder names are installer artefacts (__pycache__, __editable___x_finder), not modules.
    return name.isidentifier() and not keyword.iskeyword(name) and not name.startswith("__")


def _top_level_of(parts: tuple[str, ...]) -> str | None:
    """The module a RECORD path makes importable at top level, if any.

    A top-level directory counts once any .py file (or a compiled __init__) lies beneath it,
    which covers regular packages and namespace packages such as `nvidia` alike.
    """
    match = _MODULE_FILE.match(parts[-1])
    if match is None:
        return None
    if len(parts) == 1:
        return match["name"]
    if parts[-1].endswith(".py") or match["name"] == "__init__":
        return parts[0]
    return None


def top_level(
    dist: importlib.metadata.Distribution,
    files: Iterable[tuple[str, ...]] | None = None,
) -> list[str]:
    """Importable top-level names the distribution both declares and installed.

    top_level.txt can name a module the wheel does not ship (Debian's setuptools lists
    `debian`), and RECORD alone can hold stray folders: where both exist, a name must be in
    both; where only one exists, it decides. `files`: its RECORD's paths as parts, where
    already read.
    """
    text = dist.read_text("top_level.txt")
    declared = None if text is None else {line.strip() for line in text.splitlines()}
    installed = None
    if files is None:
        files = _record_parts(dist)
    if files is not None:
        installed = {_top_level_of(parts) or "" for parts in files}
    if declared is not None and installed is not None:
        names = declared & installed
    else:
        names = declared or installed or set()
    return sorted(name for name in names if _importable(name))


Row = tuple[str, str, str]
"""A RECORD row: path (relative to the dist-info's folder, `/`-separated), hash, size."""


def record(dist: importlib.metadata.Distribution) -> list[Row] | None:
    """The distribution's RECORD rows, read as CSV (far cheaper than `dist.files`, which
    makes an object of each row of a stack's tens of thousands), or None without one."""
    text = dist.read_text("RECORD")
    if text is None:
        return None
    rows = ([*row, "", ""] for row in csv.reader(text.splitlines()) if row and row[0])
    return [(row[0], row[1], row[2]) for row in rows]


def _record_parts(dist: importlib.metadata.Distribution) -> list[tuple[str, ...]] | None:
    """The installed paths as parts: RECORD's, else what `dist.files` finds (an egg-info's
    lists), else None."""
    rows = record(dist)
    if rows is not None:
        return [tuple(row[0].split("/")) for row in rows]
    listed = dist.files
    return None if listed is None else [path.parts for path in listed]


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def installed(
    found: Iterable[importlib.metadata.Distribution] | None = None,
) -> dict[str, importlib.metadata.Distribution]:
    """The distributions tier 1 reports, by normalized name, sorted (of `found`, else all).

    A name found twice on sys.path keeps its first copy: that is the one `import` would use.
    A leftover dist-info without METADATA has nothing installed to report.
    """
    first: dict[str, importlib.metadata.Distribution] = {}
    for dist in importlib.metadata.distributions() if found is None else found:
        name = dist.metadata["Name"]
        if name is not None:
            first.setdefault(canonical(name), dist)
    return {name: first[name] for name in sorted(first)}


def distributions() -> list[dict[str, Any]]:
    """Every installed distribution tier 1 reports, sorted by normalized name."""
    return [_reported(dist) for dist in installed().values()]


def _reported(dist: importlib.metadata.Distribution) -> dict[str, Any]:
    meta = dist.metadata  # parsed anew on each access: once here
    requires = meta.get_all("Requires-Dist") or dist.requires or ()  # else an egg-info's
    return {
        "name": meta["Name"],
        "version": meta["Version"],
        "requires": list(requires),
        "top_level": top_level(dist),
    }
