"""The profiles that come with imagegate, so a project's own profile can `extends:` one.

An installed wheel carries them as package data (`imagegate/shipped/`, built from the
repository's `profiles/`); in a development checkout they are that `profiles/` folder.
"""

from __future__ import annotations

from importlib.resources import as_file, files
from pathlib import Path

PACKAGED = "shipped"
"""The folder in the package that holds them (pyproject.toml maps profiles/ there)."""


def shipped_profiles() -> Path:
    """The folder of the shipped profiles: the package's own, else the checkout's."""
    with as_file(files("imagegate")) as package:
        packaged = Path(package) / PACKAGED
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / "profiles"


def shipped_names() -> list[str]:
    """The shipped profiles a project's profile can extend (shared `_*` files left out)."""
    return sorted(p.stem for p in shipped_profiles().glob("*.yaml") if not p.stem.startswith("_"))
