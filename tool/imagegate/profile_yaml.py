"""A profile file read strictly: UTF-8, YAML without a key written twice, numbers kept as
written (so a message quotes `1.20`, not `1.2`), a mapping at the top. YAML is parsed by
libyaml where PyYAML has it (ten times faster than its pure-Python parser; every command
reads profiles and the known issues), else by that parser."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from imagegate.errors import ProfileError


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


_SAFE: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""libyaml's safe loader where PyYAML was built with it (not a SafeLoader subclass: the same
constructor and resolver on a parser in C), else the pure-Python one."""


def safe_load(text: str) -> Any:
    """Plain safe YAML (the shipped data files)."""
    return yaml.load(text, Loader=_SAFE)


class _StrictLoader(_SAFE):  # type: ignore[misc]
    """SafeLoader that refuses a key written twice (plain YAML keeps the last one silently)
    and keeps how each number was written, so a message can quote `1.20`, not `1.2`."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        mapping: dict[Any, Any] = super().construct_mapping(node, deep=deep)
        return mapping

    def construct_yaml_float(self, node: yaml.ScalarNode) -> float:
        return WrittenFloat.of(super().construct_yaml_float(node), node.value)

    def construct_yaml_int(self, node: yaml.ScalarNode) -> int:
        return WrittenInt.of(super().construct_yaml_int(node), node.value)


_StrictLoader.add_constructor("tag:yaml.org,2002:float", _StrictLoader.construct_yaml_float)
_StrictLoader.add_constructor("tag:yaml.org,2002:int", _StrictLoader.construct_yaml_int)


def read_yaml(path: Path) -> dict[str, Any]:
    """The mapping a profile file holds; an unreadable, non-UTF-8, malformed or empty file,
    or one that is not a mapping, is a ProfileError naming the file (and the line)."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise ProfileError(
            f"{path}: cannot be read ({error.strerror or error}); make it readable"
        ) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        row = data.count(b"\n", 0, error.start) + 1
        raise ProfileError(
            f"{path}: line {row}, byte {error.start} (0x{data[error.start]:02x}): not UTF-8; "
            "save the file as UTF-8"
        ) from None
    try:
        raw = yaml.load(text, Loader=_StrictLoader)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark
        line = f"line {mark.line + 1}: " if mark is not None else ""
        raise ProfileError(
            f"{path}: {line}malformed YAML ({error.problem}); fix the syntax"
        ) from None
    except yaml.YAMLError as error:
        raise ProfileError(f"{path}: malformed YAML ({error}); fix the syntax") from None
    if raw is None:
        raise ProfileError(
            f"{path}: the file is empty; write the profile's keys (README, 'Adding a profile') "
            "or delete the file"
        )
    if not isinstance(raw, dict):
        raise ProfileError(
            f"{path}: the file must hold a mapping of keys, not {type(raw).__name__}"
        )
    return raw
