"""Tier 2, where an imported module came from: a distribution's top-level module must be
loaded from that distribution's own installed files (its RECORD), not from a copy that
comes earlier on sys.path; a copy that does is named with the sys.path entry holding it and
what put that entry there (PYTHONPATH, a .pth file, the working directory).

Runs in tier 2's child right after each import. Standard library only.
"""

from __future__ import annotations

import importlib.metadata
import os
import site
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from types import ModuleType
from typing import Any

import tier1_versions


def loaded_from(module: ModuleType) -> list[str]:
    """The file a module was loaded from; for a namespace package, each folder of its path.
    Empty for a module that is no file (built in, frozen)."""
    spec = getattr(module, "__spec__", None)
    origin = getattr(spec, "origin", None) if spec is not None else None
    if spec is not None and spec.has_location and isinstance(origin, str):
        return [origin]
    if spec is None and isinstance(getattr(module, "__file__", None), str):
        return [module.__file__ or ""]
    return [os.fspath(entry) for entry in getattr(module, "__path__", None) or ()]


class Installed:
    """Distributions' RECORDs, to ask whether a path is one of their files (or a folder of
    them). The RECORD's text is searched as it is: parsing a stack's RECORDs would cost
    more than the imports it checks. Paths are compared with symlinks resolved."""

    def __init__(
        self, names: Iterable[str], found: Mapping[str, importlib.metadata.Distribution]
    ) -> None:
        self.places: list[tuple[str, str]] = []
        for name in names:
            dist = found[tier1_versions.canonical(name)]
            text = (dist.read_text("RECORD") or "").replace("\r\n", "\n")
            root = os.path.realpath(str(dist.locate_file("")))
            self.places.append((root, "\n" + text))

    def holds(self, path: str) -> bool:
        real = os.path.realpath(path)
        for root, record in self.places:
            relative = os.path.relpath(real, root)
            if relative == os.curdir or relative.startswith(os.pardir + os.sep):
                continue
            listed = relative.replace(os.sep, "/")
            # a file is a row `path,hash,size`; a folder the start of some row's path
            if any(f"\n{q}{listed}{end}" in record for q in ("", '"') for end in (",", "/")):
                return True
        return False


def pth_lines(site_dirs: Iterable[str]) -> list[tuple[str, str]]:
    """Each line of each .pth file in the site directories, with that file's path: a line
    names a folder (relative to its directory) or runs code (`import ...`)."""
    found: list[tuple[str, str]] = []
    for directory in site_dirs:
        try:
            names = sorted(name for name in os.listdir(directory) if name.endswith(".pth"))
        except OSError:
            continue
        for name in names:
            pth = os.path.join(directory, name)
            try:
                with open(pth, encoding="utf-8", errors="replace") as stream:
                    lines = stream.read().splitlines()
            except OSError:
                continue
            found += [(pth, line.rstrip()) for line in lines if line.strip()]
    return found


def _added_by(absolute: str, entry: str, lines: list[tuple[str, str]]) -> str | None:
    """The .pth file that puts the entry on sys.path: a line naming its folder, else a line
    of code that spells it out (`import sys; sys.path.insert(0, "/shadow")`)."""
    code = []
    for pth, line in lines:
        if line.startswith("#"):
            continue
        if line.startswith(("import ", "import\t")):
            code.append((pth, line))
        elif os.path.normpath(os.path.join(os.path.dirname(pth), line)) == absolute:
            return pth
    return next((pth for pth, line in code if absolute in line or entry in line), None)


def _site_dirs() -> list[str]:
    found = list(site.getsitepackages())
    if site.ENABLE_USER_SITE:
        found.append(site.getusersitepackages())
    return found


def _absolute(entry: str) -> str:
    return os.path.normpath(os.path.abspath(entry or os.curdir))


def via(entry: str, index: int, path_env: str, pth: list[tuple[str, str]]) -> str:
    """What put `entry` (sys.path[index]) on sys.path; `pth`: pth_lines of the site dirs."""
    absolute = _absolute(entry)
    if entry in ("", os.curdir):
        return "the working directory"
    if absolute in {_absolute(part) for part in path_env.split(os.pathsep) if part}:
        return "PYTHONPATH"
    added_by = _added_by(absolute, entry, pth)
    if added_by is not None:
        return f".pth file {added_by}"
    if index == 0 and absolute == os.getcwd():  # python -m puts the working directory first
        return "the working directory"
    if absolute in {_absolute(directory) for directory in _site_dirs()}:
        return "site-packages"
    prefixes = {_absolute(sys.base_prefix), _absolute(sys.prefix)}
    if any(absolute.startswith(prefix + os.sep) for prefix in prefixes):
        return "the interpreter's own path"
    return "sys.path"


def entry_of(path: str, entries: Sequence[str]) -> tuple[int, str] | None:
    """The sys.path entry (index, entry) that holds `path`: the longest that contains it."""
    absolute = _absolute(path)
    holding = [
        (len(_absolute(entry)), index, entry)
        for index, entry in enumerate(entries)
        if absolute.startswith(_absolute(entry).rstrip(os.sep) + os.sep)
    ]
    if not holding:
        return None
    _, index, entry = max(holding, key=lambda found: (found[0], -found[1]))
    return index, entry


def check(
    module: ModuleType,
    distributions: Sequence[str],
    found: Mapping[str, importlib.metadata.Distribution] | None = None,
) -> dict[str, Any]:
    """Where `module` was loaded from, and each of those places that is not one of
    `distributions`' installed files, with how it got on sys.path. `found`: the installed
    distributions as tier 1 reports them (tier1_versions.installed), where already listed."""
    started = time.perf_counter()
    paths = loaded_from(module)
    foreign: list[dict[str, str | None]] = []
    if distributions:
        installed = Installed(distributions, tier1_versions.installed() if found is None else found)
        outside = [path for path in paths if not installed.holds(path)] if paths else []
        pth = pth_lines(_site_dirs()) if outside else []
        path_env = os.environ.get("PYTHONPATH", "")
        for path in outside if paths else ["(not a file: built in or frozen)"]:
            holder = entry_of(path, sys.path) if paths else None
            how = "" if holder is None else via(holder[1], holder[0], path_env, pth)
            foreign.append({"path": path, "entry": holder and holder[1], "via": how})
    seconds = round(time.perf_counter() - started, 4)
    return {
        "paths": paths,
        "distributions": list(distributions),
        "foreign": foreign,
        "seconds": seconds,
    }
