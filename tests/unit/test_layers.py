"""The import contract: layers only look down, and each kind of effect has one door.

Every module of the package is read with `ast` (never imported) and each import it makes,
at the top, inside a function or under TYPE_CHECKING, is checked against the table below.

- core: parsing, comparing, rendering and judging (DESIGN.md, principle 3), and building
  the command lines of uv and pip and reading their output (`installer`: edges run them).
  Reads and writes files (atomically) but runs no process, talks to no Docker, network or GPU, owns
  no terminal or signal. Imports core only, the standard library less its effectful
  modules, and the pure libraries in `CORE_LIBRARIES`.
- edge: the side effects behind small interfaces: processes (`runner`), Docker
  (`engine`), indexes and downloads (`pip`, `wheelhouse`), GPUs (`hardware`), throwaway
  environments (`trial`), the terminal (`progress`), signals (`interrupts`). Imports core
  and edges.
- flow: the commands' steps, in order (lock, wheelhouse, render, build, verify; doctor,
  repair; check, propose, bisect). Imports core, edges and flows.
- face: the CLI. Imports anything; nothing but the face imports it.

A new module fails `test_every_module_has_a_layer` until it is placed here.
"""

from __future__ import annotations

import ast
import graphlib
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "tool" / "imagegate"

LAYERS: dict[str, tuple[str, ...]] = {
    "core": (
        "__init__",
        "builds",
        "closure",
        "cold_start",
        "contract",
        "deployment",
        "errors",
        "facts",
        "files",
        "findings",
        "fitness",
        "gpu_rules",
        "hub",
        "installer",
        "kernels",
        "known_issues",
        "lock",
        "matrix",
        "nvidia_runtime",
        "profile_schema",
        "profile_yaml",
        "profiles",
        "project",
        "references",
        "render",
        "report",
        "report_outputs",
        "sbom",
        "scaffold",
        "scripts",
        "seal",
        "shipped",
        "target",
        "verdicts",
        "verify",
        "verify_files",
        "verify_runtime",
        "verify_torch",
        "wheel_store",
        "worker_answers",
        "worker_tests",
        "expectations",
    ),
    "edge": (
        "base",
        "engine",
        "engine_io",
        "exclusive",
        "executors",
        "hardware",
        "interpreters",
        "interrupts",
        "journal",
        "pip",
        "progress",
        "provenance",
        "resolver",
        "runner",
        "smoke",
        "transaction",
        "trial",
        "wheelhouse",
        "worker",
        "worker_api",
        "worker_start",
    ),
    "flow": (
        "bisect",
        "building",
        "doctor",
        "preflight",
        "propose",
        "repair",
        "shipping",
        "workflow",
    ),
    "face": ("__main__", "cli", "commands", "listings", "options"),
}
RANK = {layer: rank for rank, layer in enumerate(LAYERS)}
LAYER = {module: layer for layer, modules in LAYERS.items() for module in modules}

CORE_LIBRARIES = frozenset(
    {"cyclonedx", "jinja2", "packageurl", "packaging", "tabulate", "tomli_w", "uv", "yaml"}
)
"""Third-party libraries core may use: pure data work (`uv` only locates its binary)."""
EFFECTFUL_STDLIB = frozenset(
    {
        "asyncio",
        "concurrent",
        "ctypes",
        "http",
        "multiprocessing",
        "signal",
        "socket",
        "subprocess",
        "threading",
        "urllib.request",
    }
)
"""Standard-library modules that run, wait or connect: not for core."""
DOORS = {"docker": "engine", "subprocess": "runner"}
"""One door per kind of effect: only this module imports that one."""

EXCEPTIONS: dict[tuple[str, str], str] = {}
"""(importer, imported) pairs allowed against the layers, each with why; none is stale
(`test_no_exception_is_stale`)."""


def imports(source: str) -> list[tuple[int, str]]:
    """Each module `source` imports, with its line: `from imagegate import x` counts as
    `imagegate.x`, and `from imagegate import __version__` as the package itself."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                found.append((node.lineno, "." * node.level + (node.module or "")))
            elif node.module == "imagegate":
                found += [
                    (
                        node.lineno,
                        "imagegate" if alias.name.startswith("__") else f"imagegate.{alias.name}",
                    )
                    for alias in node.names
                ]
            elif node.module is not None:
                found.append((node.lineno, node.module))
    return found


def _target(imported: str) -> str | None:
    """The package module `imported` names (`__init__` for the package), or None."""
    if imported == "imagegate":
        return "__init__"
    if imported.startswith("imagegate."):
        return imported.split(".")[1]
    return None


def _is_stdlib(imported: str) -> bool:
    return imported.split(".")[0] in sys.stdlib_module_names


def violations(module: str, source: str) -> list[str]:
    """Each import in `source` (the text of package module `module`) against the contract."""
    layer, found = LAYER[module], []
    for line, imported in imports(source):
        if (module, imported) in EXCEPTIONS:
            continue
        where = f"{module}.py:{line}: {imported}"
        top = imported.split(".")[0]
        if imported.startswith("."):
            found.append(f"{where}: write package imports absolute")
        elif (target := _target(imported)) is not None:
            other = LAYER.get(target)
            if other is None:
                found.append(f"{where}: no such module in the layer table")
            elif RANK[other] > RANK[layer]:
                found.append(f"{where}: {layer} may not import {other}")
        elif top in DOORS and DOORS[top] != module:
            found.append(f"{where}: only {DOORS[top]} imports {top}")
        elif layer == "core" and _is_stdlib(imported):
            if any(imported == bad or imported.startswith(f"{bad}.") for bad in EFFECTFUL_STDLIB):
                found.append(f"{where}: core runs nothing; this belongs in an edge")
        elif layer == "core" and top not in CORE_LIBRARIES and top != "__future__":
            found.append(f"{where}: not a pure library core may use (CORE_LIBRARIES)")
    return found


def cycle(sources: dict[str, str]) -> list[str]:
    """A cycle among the package modules `sources` import (every import counts), or []."""
    graph = {
        module: {target for _, name in imports(text) if (target := _target(name)) is not None}
        for module, text in sources.items()
    }
    try:
        graphlib.TopologicalSorter(graph).prepare()
    except graphlib.CycleError as error:
        return list(error.args[1])
    return []


def _modules() -> list[str]:
    return sorted(path.stem for path in PACKAGE.glob("*.py"))


def _source(module: str) -> str:
    return (PACKAGE / f"{module}.py").read_text(encoding="utf-8")


def test_every_module_has_a_layer() -> None:
    assert sorted(LAYER) == _modules()
    assert len(LAYER) == sum(map(len, LAYERS.values())), "a module is in two layers"


@pytest.mark.parametrize("module", _modules())
def test_imports_keep_to_the_layers(module: str) -> None:
    assert violations(module, _source(module)) == []


def test_no_exception_is_stale() -> None:
    made = {(module, imported) for module in _modules() for _, imported in imports(_source(module))}
    assert set(EXCEPTIONS) <= made, "remove exceptions for imports that are gone"


def test_no_import_runs_in_a_circle() -> None:
    assert cycle({module: _source(module) for module in _modules()}) == []


def test_a_circle_within_one_layer_is_found() -> None:
    """Looking down allows a layer to import itself; a cycle there is still caught."""
    sources = {
        "facts": "from imagegate import findings\n",
        "findings": "def f():\n    from imagegate.facts import Facts\n",
    }
    assert sorted(set(cycle(sources))) == ["facts", "findings"]
    assert all(violations(module, text) == [] for module, text in sources.items())


@pytest.mark.parametrize(
    ("module", "source", "broken"),
    [
        ("verify", "from imagegate.engine import Engine\n", "core may not import edge"),
        ("render", "from imagegate import workflow\n", "core may not import flow"),
        ("matrix", "import imagegate.hardware\n", "core may not import edge"),
        ("runner", "def f():\n    from imagegate import cli\n", "edge may not import face"),
        ("workflow", "from imagegate.cli import main\n", "flow may not import face"),
        ("profiles", "import docker\n", "only engine imports docker"),
        ("workflow", "from docker.errors import APIError\n", "only engine imports docker"),
        ("pip", "import subprocess\n", "only runner imports subprocess"),
        ("facts", "from concurrent.futures import ThreadPoolExecutor\n", "core runs nothing"),
        ("report", "import requests\n", "not a pure library"),
        ("verify", "from . import engine\n", "absolute"),
        ("verify", "from imagegate import ghost\n", "no such module"),
        ("lock", "from imagegate.engine import Engine\n", "core may not import edge"),
    ],
)
def test_the_checker_bites(module: str, source: str, broken: str) -> None:
    """Treatment: a bad import in a synthetic module text is named. The control is the
    package itself passing above, and the same imports allowed where they belong below."""
    found = violations(module, source)
    assert len(found) == 1 and broken in found[0], found


@pytest.mark.parametrize(
    ("module", "source"),
    [
        ("workflow", "from imagegate.engine import Engine\nfrom imagegate import verify\n"),
        ("engine", "import docker\nfrom imagegate import runner\n"),
        ("runner", "import subprocess\n"),
        ("cli", "from imagegate import workflow, engine\n"),
        ("verify", "from packaging.version import Version\nimport re\n"),
        ("sbom", "from imagegate import __version__\n"),
    ],
)
def test_the_checker_allows_what_the_layers_allow(module: str, source: str) -> None:
    assert violations(module, source) == []
