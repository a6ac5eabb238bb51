"""The shape of one profile file, checked before files are merged.

Checking each file on its own lets an error name the file that holds the mistake, not the
profile that inherited it. Every message says where (file and key path) and what to do.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import InvalidName, canonicalize_name
from packaging.version import InvalidVersion, Version

from imagegate import references
from imagegate.errors import ProfileError
from imagegate.target import PYTHON_VERSION, is_valid_platform

Check = Callable[[Any, str], None]

_DOTTED = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")
_SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
_DEBIAN = re.compile(r"^[a-z0-9][a-z0-9.+-]*\Z")
"""Ends at `\\Z`: `$` also matches before a final newline, and this name enters a RUN line."""
_URL = re.compile(r"^(https?|file)://\S+$")
_RUNNER_LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*\Z")


class _Bad(Exception):
    """A value is wrong; the schema walk adds the file and key path."""

    def __init__(self, message: str, key: str | None = None) -> None:
        super().__init__(message)
        self.key = key


class WrittenFloat(float):
    """A YAML float that keeps its source text: `numpy: 1.20` reads as 1.2."""

    written: str

    @classmethod
    def of(cls, value: float, written: str) -> WrittenFloat:
        number = cls(value)
        number.written = written
        return number


class WrittenInt(int):
    """A YAML int that keeps its source text: `torch: 010` reads as 8."""

    written: str

    @classmethod
    def of(cls, value: int, written: str) -> WrittenInt:
        number = cls(value)
        number.written = written
        return number


def _text(value: Any, what: str) -> str:
    if isinstance(value, bool) or not isinstance(value, str) or not value.strip():
        if isinstance(value, int | float) and not isinstance(value, bool):
            written = getattr(value, "written", str(value))
            raise _Bad(
                f'{written} is a number in YAML; quote it ("{written}") so it is read exactly'
            )
        raise _Bad(f"{value!r} is not {what}; write it as a quoted string")
    return value


def _version(value: Any, _: str) -> None:
    text = _text(value, "a version")
    if text.lstrip().startswith(("=", "<", ">", "~", "!")):
        raise _Bad(f"{text!r} is a specifier; pins are exact: write the bare version")
    try:
        Version(text)
    except InvalidVersion:
        raise _Bad(f"{text!r} is not a valid version (PEP 440), e.g. '2.5.1+cu121'") from None


def _specifier(value: Any, _: str) -> None:
    text = _text(value, "a version specifier")
    try:
        SpecifierSet(text)
    except InvalidSpecifier:
        raise _Bad(f"{text!r} is not a valid version specifier, e.g. '<2'") from None


def _matches(pattern: re.Pattern[str], what: str) -> Check:
    def check(value: Any, _: str) -> None:
        if pattern.match(_text(value, what)) is None:
            raise _Bad(f"{value!r} is not {what}")

    return check


def _code(mode: str) -> Check:
    def check(value: Any, _: str) -> None:
        try:
            compile(_text(value, "Python code"), "<profile>", mode)
        except SyntaxError as error:
            raise _Bad(f"{value!r} is not valid Python ({error.msg})") from None

    return check


def _repository(value: Any, _: str) -> None:
    """Where the profile's images are tagged: `REPOSITORY/PROFILE:latest`."""
    if (why := references.repository_problem(_text(value, "an image repository"))) is not None:
        raise _Bad(f"{value!r} is not an image repository ({why}); e.g. 'localhost:5000/team'")


def _image_reference(value: Any, _: str) -> None:
    """Docker's reference grammar: nothing else may reach the Dockerfile's `ARG BASE_IMAGE=`."""
    if (message := references.problem(_text(value, "an image reference"))) is not None:
        raise _Bad(message)


def _fact_value(value: Any, _: str) -> None:
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise _Bad(f"{value!r} is not an expected value; write it as a quoted string")


def _some(what: str) -> Check:
    def check(value: Any, _: str) -> None:
        _text(value, what)

    return check


def _platform(value: Any, _: str) -> None:
    if not is_valid_platform(_text(value, "a platform")):
        raise _Bad(f"{value!r} is not a platform such as 'manylinux_2_36_x86_64'")


def _positive(value: Any, _: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise _Bad(f"{value!r} is not a positive number of seconds")


def _boolean(value: Any, _: str) -> None:
    if not isinstance(value, bool):
        raise _Bad(f"{value!r} is not true or false")


def _runner(value: Any, path: str) -> None:
    """A GitHub Actions `runs-on`: the labels a runner must all have."""
    _sequence(_matches(_RUNNER_LABEL, "a runner label such as 'self-hosted' or 'gpu'"))(value, path)
    if not value:
        raise _Bad("names no runner; list its labels, e.g. [self-hosted, gpu], or remove the key")


def _package(name: Any, _: str = "") -> None:
    try:
        canonicalize_name(str(name), validate=True)
    except InvalidName:
        raise _Bad(f"{name!r} is not a valid package name", key=name) from None


def _mapping(values: Check, keys: Check | None = None) -> Check:
    """A mapping whose values pass `values`; null deletes an inherited key."""

    def check(value: Any, path: str) -> None:
        if not isinstance(value, Mapping):
            raise _Bad(f"expected a mapping of names to values, got {type(value).__name__}")
        for key, item in value.items():
            if keys is not None:
                try:
                    keys(str(key), path)
                except _Bad as bad:
                    raise _Bad(str(bad), key=str(key)) from None
            if item is not None:
                try:
                    values(item, f"{path}.{key}")
                except _Bad as bad:
                    raise _Bad(str(bad), key=bad.key or str(key)) from None

    return check


def _sequence(items: Check) -> Check:
    def check(value: Any, path: str) -> None:
        if not isinstance(value, list):
            raise _Bad(f"expected a list, got {type(value).__name__}")
        for index, item in enumerate(value):
            try:
                items(item, path)
            except _Bad as bad:
                raise _Bad(str(bad), key=f"{index}") from None

    return check


def _package_list(value: Any, path: str) -> None:
    _sequence(lambda item, _: _package(_text(item, "a package name")))(value, path)


Schema = Mapping[str, "Check | Schema"]

SCHEMA: Schema = {
    "extends": _matches(re.compile(r"^[\w.-]+$"), "a profile name"),
    "description": _some("text"),
    "repository": _repository,
    "target": {
        "python": _matches(PYTHON_VERSION, "a Python version such as '3.11'"),
        "platform": _platform,
    },
    "base": {
        "image": _image_reference,
        "packages": _sequence(_matches(_DEBIAN, "a Debian package name")),
        "local": _matches(re.compile(r"^[a-z]+\Z"), "a Debian suite name such as 'bookworm'"),
    },
    "indexes": _mapping(_matches(_URL, "an index URL (https://, http:// or file://)")),
    "sources": _mapping(_matches(_SLUG, "an index name"), keys=_package),
    "pins": _mapping(_version, keys=_package),
    "protected": _package_list,
    "invariants": _mapping(_specifier, keys=_package),
    "allow_extra": _mapping(_some("a reason"), keys=_package),
    "facts": _mapping(_fact_value, keys=_code("eval")),
    "hardware": {
        "vendor": _matches(re.compile(r"^(nvidia|amd|none)$"), "one of nvidia, amd, none"),
        "architectures": _sequence(
            _matches(
                re.compile(r"^(sm_\d{2,3}|gfx[0-9a-f]{3,4})$"), "an arch such as sm_90 or gfx942"
            )
        ),
        "min_driver": _some("a driver version such as '525.60.13'"),
    },
    "ci": {
        "runner": _runner,
        "require_gpu": _boolean,
    },
    "probes": {
        "imports": _sequence(_matches(_DOTTED, "a module name")),
        "statements": _mapping(_code("exec"), keys=_matches(_SLUG, "a probe name (a-z, 0-9, -)")),
        "exclude": _mapping(_some("a reason")),
        "models": _sequence(_matches(_SLUG, "a transformers model type such as 'llama'")),
        "steps": _mapping(_code("exec"), keys=_matches(_SLUG, "a step name (a-z, 0-9, -)")),
        "timeout": _positive,
    },
}


def check_file(
    raw: Mapping[str, Any], path: Path, schema: Schema = SCHEMA, prefix: str = ""
) -> None:
    """Raise ProfileError naming `path` and the key path for the first thing wrong in `raw`."""
    for key, value in raw.items():
        where = f"{prefix}{key}"
        rule = schema.get(str(key))
        if rule is None:
            known = ", ".join(sorted(schema))
            raise ProfileError(f"{path}: {where}: unknown key; expected one of: {known}")
        if value is None:
            continue
        if isinstance(rule, Mapping):
            if not isinstance(value, Mapping):
                raise ProfileError(
                    f"{path}: {where}: expected a mapping, got {type(value).__name__}"
                )
            check_file(value, path, rule, f"{where}.")
            continue
        try:
            rule(value, where)
        except _Bad as bad:
            at = f"{where}.{bad.key}" if bad.key is not None else where
            raise ProfileError(f"{path}: {at}: {bad}") from None
