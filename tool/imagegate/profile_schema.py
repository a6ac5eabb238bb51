"""The shape of one profile file, checked before files are merged, declared once.

Checking each file on its own lets an error name the file that holds the mistake, not the
profile that inherited it. Every message says where (file and key path) and what to do.
`SCHEMA` is a table of rules; each rule both checks a value and says what it is as JSON
Schema, so the schema editors read (`imagegate schema`) is the loader's, not a copy of it.
Where only a parser can tell (Python code, an image reference), the JSON Schema
says less than the loader and its description says what `imagegate check` adds.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import InvalidName, canonicalize_name
from packaging.version import InvalidVersion, Version

from imagegate import references
from imagegate.errors import ProfileError
from imagegate.target import PLATFORM, PYTHON_VERSION, is_valid_platform

Json = dict[str, Any]
DRAFT = "https://json-schema.org/draft/2020-12/schema"
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


def _text(value: Any, what: str) -> str:
    if isinstance(value, bool) or not isinstance(value, str) or not value.strip():
        if isinstance(value, int | float) and not isinstance(value, bool):
            written = getattr(value, "written", str(value))
            raise _Bad(
                f'{written} is a number in YAML; quote it ("{written}") so it is read exactly'
            )
        raise _Bad(f"{value!r} is not {what}; write it as a quoted string")
    return value


def _anycase(*words: str) -> str:
    """Alternatives matched in any case: JSON Schema's regex dialect has no flags."""
    return "|".join("".join(f"[{c}{c.upper()}]" if c.isalpha() else c for c in w) for w in words)


_N, _SEP = "[0-9]+", "[._-]?"
_VERSION_PATTERN = (
    rf"^\s*[vV]?(?:{_N}!)?{_N}(?:\.{_N})*"
    rf"(?:{_SEP}(?:{_anycase('alpha', 'a', 'beta', 'b', 'preview', 'pre', 'c', 'rc')})"
    rf"{_SEP}(?:{_N})?)?"
    rf"(?:-{_N}|{_SEP}(?:{_anycase('post', 'rev', 'r')}){_SEP}(?:{_N})?)?"
    rf"(?:{_SEP}(?:{_anycase('dev')}){_SEP}(?:{_N})?)?"
    r"(?:\+[a-zA-Z0-9]+(?:[._-][a-zA-Z0-9]+)*)?\s*$"
)
"""PEP 440's grammar (packaging's VERSION_PATTERN) in JSON Schema's regex dialect."""
_SPECIFIER_PATTERN = r"^\s*(?:(?:~=|===?|!=|<=?|>=?)\s*[^,\s]+\s*(?:,\s*|$))+$"
"""Operator and version, comma separated; what follows the operator is for the loader."""
_PACKAGE_PATTERN = r"^(?:[A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9._-]*[A-Za-z0-9])$"
"""PEP 508's name, as `canonicalize_name(validate=True)` reads it."""
_NON_BLANK = r"\S"


def _ecma(pattern: re.Pattern[str]) -> str:
    """A Python pattern in JSON Schema's (ECMA 262) dialect: groups unnamed, and `\\Z`
    spelt so that both read it alike (ECMA's `$` is Python's `\\Z`, Python's is not)."""
    unnamed = re.sub(r"\(\?P<\w+>", "(?:", pattern.pattern)
    return unnamed.replace(r"\Z", r"(?![\s\S])")


def _version(text: str) -> None:
    if text.lstrip().startswith(("=", "<", ">", "~", "!")):
        raise _Bad(f"{text!r} is a specifier; pins are exact: write the bare version")
    try:
        Version(text)
    except InvalidVersion:
        raise _Bad(f"{text!r} is not a valid version (PEP 440), e.g. '2.5.1+cu121'") from None


def _specifier(text: str) -> None:
    try:
        SpecifierSet(text)
    except InvalidSpecifier:
        raise _Bad(f"{text!r} is not a valid version specifier, e.g. '<2'") from None


def _code(mode: str) -> Callable[[str], None]:
    def check(text: str) -> None:
        try:
            compile(text, "<profile>", mode)
        except SyntaxError as error:
            raise _Bad(f"{text!r} is not valid Python ({error.msg})") from None

    return check


def _repository(text: str) -> None:
    """Where the profile's images are tagged: `REPOSITORY/PROFILE:latest`."""
    if (why := references.repository_problem(text)) is not None:
        raise _Bad(f"{text!r} is not an image repository ({why}); e.g. 'localhost:5000/team'")


def _image_reference(text: str) -> None:
    """Docker's reference grammar: nothing else may reach the Dockerfile's `ARG BASE_IMAGE=`."""
    if (message := references.problem(text)) is not None:
        raise _Bad(message)


def _platform(text: str) -> None:
    if not is_valid_platform(text):
        raise _Bad(f"{text!r} is not a platform such as 'manylinux_2_36_x86_64'")


def _package(name: str) -> None:
    try:
        canonicalize_name(name, validate=True)
    except InvalidName:
        raise _Bad(f"{name!r} is not a valid package name") from None


class Rule(Protocol):
    def check(self, value: Any) -> None:
        """Raise _Bad saying what is wrong with `value` (never null: null deletes a key)."""

    def json(self) -> Json:
        """The same rule as JSON Schema."""


@dataclass(frozen=True)
class Text:
    """A non-blank string; `pattern` narrows it, and `parse` where only a parser can tell
    (with `json_pattern` the nearest regex, when there is one)."""

    what: str
    pattern: re.Pattern[str] | None = None
    parse: Callable[[str], None] | None = None
    json_pattern: str | None = None

    def check(self, value: Any) -> None:
        text = _text(value, self.what)
        if self.pattern is not None and self.pattern.match(text) is None:
            raise _Bad(f"{value!r} is not {self.what}")
        if self.parse is not None:
            self.parse(text)

    def json(self) -> Json:
        pattern = self.json_pattern or (_ecma(self.pattern) if self.pattern else _NON_BLANK)
        return {"type": "string", "pattern": pattern, "description": self.what}


@dataclass(frozen=True)
class Package:
    """A package name as a mapping's key (items of a list are `Text`s that parse one)."""

    def check(self, value: Any) -> None:
        _package(str(value))

    def json(self) -> Json:
        return {"type": "string", "pattern": _PACKAGE_PATTERN, "description": "a package name"}


@dataclass(frozen=True)
class Positive:
    """A positive number of `unit`s (seconds, GB); `whole`: a whole number (runs)."""

    unit: str = "seconds"
    whole: bool = False

    def check(self, value: Any) -> None:
        kinds = int if self.whole else int | float
        if isinstance(value, bool) or not isinstance(value, kinds) or value <= 0:
            number = "whole number" if self.whole else "number"
            raise _Bad(f"{value!r} is not a positive {number} of {self.unit}")

    def json(self) -> Json:
        if self.whole:
            return {"type": "integer", "minimum": 1, "description": self.unit}
        return {"type": "number", "exclusiveMinimum": 0, "description": self.unit}


@dataclass(frozen=True)
class Boolean:
    def check(self, value: Any) -> None:
        if not isinstance(value, bool):
            raise _Bad(f"{value!r} is not true or false")

    def json(self) -> Json:
        return {"type": "boolean"}


@dataclass(frozen=True)
class Expected:
    """A fact's expected value: text, or a whole number."""

    def check(self, value: Any) -> None:
        if not isinstance(value, str | int) or isinstance(value, bool):
            raise _Bad(f"{value!r} is not an expected value; write it as a quoted string")

    def json(self) -> Json:
        return {"type": ["string", "integer"]}


@dataclass(frozen=True)
class List:
    items: Rule
    empty: str | None = None
    """Said when the list is empty, where an empty list is wrong."""

    def check(self, value: Any) -> None:
        if not isinstance(value, list):
            raise _Bad(f"expected a list, got {type(value).__name__}")
        for index, item in enumerate(value):
            try:
                self.items.check(item)
            except _Bad as bad:
                raise _Bad(str(bad), key=f"{index}") from None
        if self.empty is not None and not value:
            raise _Bad(self.empty)

    def json(self) -> Json:
        return {"type": "array", "items": self.items.json()} | (
            {"minItems": 1} if self.empty is not None else {}
        )


@dataclass(frozen=True)
class Table:
    """A mapping whose values pass `values` (and keys `keys`); null deletes an inherited key."""

    values: Rule
    keys: Rule | None = None

    def check(self, value: Any) -> None:
        if not isinstance(value, Mapping):
            raise _Bad(f"expected a mapping of names to values, got {type(value).__name__}")
        for key, item in value.items():
            if self.keys is not None:
                try:
                    self.keys.check(str(key))
                except _Bad as bad:
                    raise _Bad(str(bad), key=str(key)) from None
            if item is not None:
                try:
                    self.values.check(item)
                except _Bad as bad:
                    raise _Bad(str(bad), key=bad.key or str(key)) from None

    def json(self) -> Json:
        shape: Json = {"type": "object", "additionalProperties": _nullable(self.values.json())}
        if self.keys is not None:
            shape["propertyNames"] = self.keys.json()
        return shape


def _matches(pattern: str, what: str) -> Text:
    return Text(what, pattern=re.compile(pattern))


def _some(what: str) -> Text:
    return Text(what)


Schema = Mapping[str, "Rule | Schema"]

SCHEMA: Schema = {
    "extends": _matches(r"^[\w.-]+$", "a profile name"),
    "description": _some("text"),
    "repository": Text("an image repository", parse=_repository),
    "target": {
        "python": Text("a Python version such as '3.11'", pattern=PYTHON_VERSION),
        "platform": Text("a platform", parse=_platform, json_pattern=_ecma(PLATFORM)),
    },
    "base": {
        "image": Text("an image reference", parse=_image_reference),
        "packages": List(Text("a Debian package name", pattern=_DEBIAN)),
        "local": _matches(r"^[a-z]+\Z", "a Debian suite name such as 'bookworm'"),
    },
    "index": Text("an index URL (https://, http:// or file://)", pattern=_URL),
    "indexes": Table(Text("an index URL (https://, http:// or file://)", pattern=_URL)),
    "sources": Table(Text("an index name", pattern=_SLUG), keys=Package()),
    "pins": Table(Text("a version", parse=_version, json_pattern=_VERSION_PATTERN), keys=Package()),
    "protected": List(Text("a package name", parse=_package, json_pattern=_PACKAGE_PATTERN)),
    "invariants": Table(
        Text("a version specifier", parse=_specifier, json_pattern=_SPECIFIER_PATTERN),
        keys=Package(),
    ),
    "allow_extra": Table(_some("a reason"), keys=Package()),
    "facts": Table(Expected(), keys=Text("Python code", parse=_code("eval"))),
    "hardware": {
        "vendor": _matches(r"^(nvidia|amd|none)$", "one of nvidia, amd, none"),
        "architectures": List(
            _matches(r"^(sm_\d{2,3}|gfx[0-9a-f]{3,4})$", "an arch such as sm_90 or gfx942")
        ),
        "min_driver": _some("a driver version such as '525.60.13'"),
    },
    "ci": {
        "runner": List(
            Text("a runner label such as 'self-hosted' or 'gpu'", pattern=_RUNNER_LABEL),
            empty="names no runner; list its labels, e.g. [self-hosted, gpu], or remove the key",
        ),
        "require_gpu": Boolean(),
    },
    "probes": {
        "imports": List(Text("a module name", pattern=_DOTTED)),
        "statements": Table(
            Text("Python code", parse=_code("exec")),
            keys=Text("a probe name (a-z, 0-9, -)", pattern=_SLUG),
        ),
        "exclude": Table(_some("a reason")),
        "models": List(Text("a transformers model type such as 'llama'", pattern=_SLUG)),
        "steps": Table(
            Text("Python code", parse=_code("exec")),
            keys=Text("a step name (a-z, 0-9, -)", pattern=_SLUG),
        ),
        "timeout": Positive(),
    },
    "worker": {
        "max_size_gb": Positive("GB (10^9 bytes) compressed, as a registry stores the image"),
        "max_cold_start_s": Positive("seconds from container start to the first answer"),
        "cold_starts": Positive("cold starts timed; the median is the figure", whole=True),
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
            rule.check(value)
        except _Bad as bad:
            at = f"{where}.{bad.key}" if bad.key is not None else where
            raise ProfileError(f"{path}: {at}: {bad}") from None


def _nullable(shape: Json) -> Json:
    """`shape`, or null: null deletes a key a profile inherits."""
    kinds = shape["type"] if isinstance(shape["type"], list) else [shape["type"]]
    return shape | {"type": [*kinds, "null"]}


def _section(schema: Schema) -> Json:
    return {
        "type": "object",
        "properties": {
            key: _nullable(_section(rule) if isinstance(rule, Mapping) else rule.json())
            for key, rule in schema.items()
        },
        "additionalProperties": False,
    }


def json_schema(schema: Schema = SCHEMA) -> Json:
    """The JSON Schema (draft 2020-12) of one profile file, from the table the loader reads."""
    return {
        "$schema": DRAFT,
        "title": "imagegate profile",
        "description": "One file of profiles/ (NAME.yaml, or _NAME.yaml shared by others). "
        "`imagegate check` also parses what only a parser can tell.",
        **_section(schema),
    }
