"""Which Python in an image the tiers run with, for images imagegate built and any other.

The one asked for (`--image-python`); else the one the image's `org.imagegate.python` label names
(images imagegate builds carry it); else the one environment found in the image that holds
the profile's protected packages, looked for on the image's PATH and where stacks usually
live. None or several: the user names one; the tiers never guess.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from imagegate.contract import PYTHON_LABEL, VENV
from imagegate.errors import UsageError
from imagegate.executors import Container
from imagegate.facts import Interpreter
from imagegate.profiles import Profile
from imagegate.smoke import collect_interpreters

if TYPE_CHECKING:
    from imagegate.engine import Engine, ImageInfo

SEARCHED = (f"{VENV}/bin", "/workspace/venv/bin", "/opt/conda/bin", "/usr/local/bin", "/usr/bin")
"""Where stacks usually live, looked in after the image's PATH."""
NAMES = ("python", "python3")


def candidates(environment: Mapping[str, str]) -> list[str]:
    """Each `python` and `python3` on the image's PATH, then in the usual places, once."""
    folders = [f for f in environment.get("PATH", "").split(":") if f.startswith("/")]
    unique = dict.fromkeys(folder.rstrip("/") or "/" for folder in [*folders, *SEARCHED])
    return [f"{folder.rstrip('/')}/{name}" for folder in unique for name in NAMES]


def wanted(profile: Profile) -> list[str]:
    """What the stack's interpreter must hold: the protected packages (else every pin)."""
    return list(profile.protected or sorted(profile.pins))


def choose(image: str, found: Sequence[Interpreter], wanting: Sequence[str]) -> str:
    """The path of the one environment that holds everything wanted; UsageError otherwise,
    naming every Python found and what it lacks."""
    environments: dict[str, Interpreter] = {}
    for interpreter in found:
        if interpreter.has_all:
            environments.setdefault(interpreter.environment, interpreter)
    if len(environments) == 1:
        return next(iter(environments.values())).path
    what = " and ".join(wanting)
    if environments:
        paths = ", ".join(interpreter.path for interpreter in environments.values())
        raise UsageError(
            f"{image}: {len(environments)} Pythons hold {what}: {paths}; "
            "pass --image-python PATH to name the one to verify"
        )
    seen = "; ".join(_described(interpreter) for interpreter in found if not interpreter.error)
    raise UsageError(
        f"{image}: no Python holds {what} (found: {seen or 'none that runs'}); "
        "pass --image-python PATH to name the stack's interpreter"
    )


def _described(interpreter: Interpreter) -> str:
    lacking = [name for name, version in interpreter.holds.items() if version is None]
    return f"{interpreter.path} ({interpreter.version}, without {', '.join(lacking)})"


def resolve(profile: Profile, engine: Engine, info: ImageInfo, python: str | None) -> str:
    """The interpreter to run the tiers with in the image `info` describes (see the module's
    docstring), looked for in that very image ID, wherever its tag points meanwhile."""
    image, where = info.id, info.ref
    if python is not None:
        if not python.startswith("/"):
            raise UsageError(
                f"--image-python {python}: give the interpreter's absolute path in {where}"
            )
        if not engine.present(image, [python]):
            raise UsageError(
                f"--image-python {python}: no such file in {where}; pass its interpreter"
            )
        return python
    named = info.labels.get(PYTHON_LABEL)
    if named is not None:
        if not engine.present(image, [named]):
            raise UsageError(
                f"{where}: its label {PYTHON_LABEL} names {named}, which is not in the image; "
                "pass --image-python PATH"
            )
        return named
    looked = candidates(info.env)
    present = engine.present(image, looked)
    if not present:
        folders = ", ".join(dict.fromkeys(path.rsplit("/", 1)[0] for path in looked))
        raise UsageError(
            f"{where}: no Python found (looked in {folders}); pass --image-python PATH"
        )
    launcher = next((path for path in present if path.endswith("3")), present[0])
    wanting = wanted(profile)
    found = collect_interpreters(Container(engine, image, launcher), present, wanting)
    return choose(where, found, wanting)
