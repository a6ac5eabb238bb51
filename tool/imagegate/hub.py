"""A RunPod worker's Hub listing, `.runpod/hub.json` beside its tests.json, read strictly:
a malformed file or an unknown key is one line naming the file and key (exit 2).

The keys are those of RunPod's hub.json reference (docs.runpod.io/hub/publishing-guide):
`title`, `description`, `type` ("serverless"), `category`, `iconUrl` and `config`:
`runsOn` ("GPU" or "CPU"), `endpointType`, `containerDiskInGb`, `cpuFlavor` (CPU only),
`gpuCount` and `gpuIds` (GPU only: pool ids and GPU type ids, comma-separated, an exclusion
written "-NVIDIA GeForce RTX 4090"), `allowedCudaVersions`, `env` (each a `key` with a
static `value` or an `input` the deployer fills) and `presets`. Also what tests.json shares
with it: reading JSON, and a list of CUDA versions. Judging it is `deployment`'s.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from imagegate.errors import ProfileError
from imagegate.files import read_json

FILE_NAME = "hub.json"
CUDA_VERSION = re.compile(r"^(\d+)\.(\d+)$")
"""A CUDA version as `allowedCudaVersions` writes it: major.minor."""

_TOP = {"title", "description", "type", "category", "iconUrl", "config"}
_CATEGORIES = ("audio", "embedding", "language", "video", "image")
_CONFIG = {
    "runsOn",
    "endpointType",
    "containerDiskInGb",
    "cpuFlavor",
    "gpuCount",
    "gpuIds",
    "allowedCudaVersions",
    "env",
    "presets",
}
_INPUT = {
    "name",
    "type",
    "description",
    "default",
    "advanced",
    "required",
    "options",
    "min",
    "max",
    "trueValue",
    "falseValue",
}
_INPUT_TYPES = ("string", "number", "boolean", "huggingface")

Bad = Callable[[str, str], ProfileError]


@dataclass(frozen=True, kw_only=True)
class Hub:
    path: Path
    runs_on: str
    """"GPU" or "CPU": the machines the endpoint's workers run on."""
    gpu_count: int
    pools: tuple[str, ...]
    """What `gpuIds` selects, in its order: pool ids and GPU type ids."""
    excluded: tuple[str, ...]
    """The GPU type ids `gpuIds` excludes ("-NVIDIA GeForce RTX 4090")."""
    allowed_cuda: tuple[str, ...]
    cpu_flavor: str | None

    @property
    def on_gpu(self) -> bool:
        return self.runs_on == "GPU"


def cuda_versions(value: Any, key: str, bad: Bad) -> tuple[str, ...]:
    """`allowedCudaVersions` of either file: a list of "major.minor" strings."""
    raw = [] if value is None else value
    if not isinstance(raw, list) or not all(
        isinstance(v, str) and CUDA_VERSION.fullmatch(v) for v in raw
    ):
        raise bad(key, 'must be a list of versions such as "12.8"')
    return tuple(raw)


def beside(tests: Path) -> Hub | None:
    """The hub.json in the folder of the tests file `tests`, if there is one."""
    path = tests.parent / FILE_NAME
    return read(path) if path.is_file() else None


def read(path: Path) -> Hub:
    return parse(read_json(path), path)


def parse(data: Any, path: Path) -> Hub:
    """The file's content, checked: every mistake named by its key, exit 2."""

    def bad(key: str, what: str) -> ProfileError:
        return ProfileError(f"{path}: {key}: {what}; see RunPod's hub.json reference")

    if not isinstance(data, dict):
        raise bad("(top level)", "must be an object with title, description, type, ... config")
    _known(data, _TOP, "", bad)
    for key in ("title", "description"):
        _text(data.get(key), key, bad)
    if data.get("type") != "serverless":
        raise bad("type", f'{data.get("type")!r}: must be "serverless"')
    if data.get("category") not in _CATEGORIES:
        raise bad("category", f"{data.get('category')!r}: must be one of {', '.join(_CATEGORIES)}")
    if "iconUrl" in data:
        _text(data["iconUrl"], "iconUrl", bad)
    config = data.get("config")
    if not isinstance(config, dict):
        raise bad("config", "must be an object (runsOn, containerDiskInGb, ...)")
    _known(config, _CONFIG, "config.", bad)
    runs_on = config.get("runsOn")
    if runs_on not in ("GPU", "CPU"):
        raise bad("config.runsOn", f'{runs_on!r}: must be "GPU" or "CPU"')
    if config.get("endpointType", "LB") != "LB":
        raise bad("config.endpointType", f'{config["endpointType"]!r}: must be "LB" or absent')
    _count(config.get("containerDiskInGb"), "config.containerDiskInGb", bad, least=1)
    gpu_count = _count(config.get("gpuCount", 0), "config.gpuCount", bad, least=0)
    pools, excluded = _gpu_ids(config.get("gpuIds", ""), bad)
    cpu_flavor = config.get("cpuFlavor")
    if runs_on == "CPU":
        _text(cpu_flavor, "config.cpuFlavor", bad, why="a CPU endpoint names its CPU flavor")
        for key in ("gpuIds", "gpuCount"):
            if config.get(key):
                raise bad(f"config.{key}", "only for runsOn GPU; this endpoint runs on CPU")
    elif cpu_flavor is not None:
        raise bad("config.cpuFlavor", "only for runsOn CPU; this endpoint runs on GPU")
    _env(config.get("env", []), bad)
    _presets(config.get("presets", []), bad)
    return Hub(
        path=path,
        runs_on=runs_on,
        gpu_count=gpu_count,
        pools=pools,
        excluded=excluded,
        allowed_cuda=cuda_versions(
            config.get("allowedCudaVersions"), "config.allowedCudaVersions", bad
        ),
        cpu_flavor=cpu_flavor if isinstance(cpu_flavor, str) else None,
    )


def _known(data: Mapping[str, Any], known: set[str], where: str, bad: Bad) -> None:
    for key in data:
        if key not in known:
            raise bad(f"{where}{key}", f"unknown key (known: {', '.join(sorted(known))})")


def _text(value: Any, key: str, bad: Bad, *, why: str = "") -> str:
    if not isinstance(value, str) or not value.strip():
        raise bad(key, "must be a non-empty string" + (f": {why}" if why else ""))
    return value


def _count(value: Any, key: str, bad: Bad, *, least: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise bad(key, f"{value!r} is not a whole number of at least {least}")
    return value


def _gpu_ids(value: Any, bad: Bad) -> tuple[tuple[str, ...], tuple[str, ...]]:
    if not isinstance(value, str):
        raise bad("config.gpuIds", 'must be a string such as "ADA_24,-NVIDIA GeForce RTX 4090"')
    tokens = [token.strip() for token in value.split(",")] if value.strip() else []
    if any(not token or token == "-" for token in tokens):
        raise bad("config.gpuIds", f"{value!r} has an empty entry")
    pools = tuple(token for token in tokens if not token.startswith("-"))
    excluded = tuple(token[1:].strip() for token in tokens if token.startswith("-"))
    return pools, excluded


def _env(value: Any, bad: Bad) -> None:
    if not isinstance(value, list):
        raise bad("config.env", 'must be a list of {"key": ..., "value" or "input": ...}')
    keys: set[str] = set()
    for index, item in enumerate(value):
        where = f"config.env[{index}]"
        if not isinstance(item, dict):
            raise bad(
                where, 'must be {"key": NAME, "value": VALUE} or {"key": NAME, "input": {...}}'
            )
        _known(item, {"key", "value", "input"}, f"{where}.", bad)
        key = _text(item.get("key"), f"{where}.key", bad)
        if key in keys:
            raise bad(f"{where}.key", f"{key!r} is set twice")
        keys.add(key)
        if ("value" in item) == ("input" in item):
            raise bad(where, 'needs either "value" (static) or "input" (the deployer fills it)')
        if "input" in item:
            _input(item["input"], f"{where}.input", bad)


def _input(value: Any, where: str, bad: Bad) -> None:
    if not isinstance(value, dict):
        raise bad(where, "must be an object (name, type, description, default, ...)")
    _known(value, _INPUT, f"{where}.", bad)
    if value.get("type") not in _INPUT_TYPES:
        raise bad(
            f"{where}.type", f"{value.get('type')!r}: must be one of {', '.join(_INPUT_TYPES)}"
        )
    options = value.get("options", [])
    if not isinstance(options, list) or not all(
        isinstance(option, dict) and set(option) == {"label", "value"} for option in options
    ):
        raise bad(f"{where}.options", 'must be a list of {"label": ..., "value": ...}')


def _presets(value: Any, bad: Bad) -> None:
    if not isinstance(value, list):
        raise bad("config.presets", 'must be a list of {"name": ..., "defaults": {...}}')
    for index, preset in enumerate(value):
        where = f"config.presets[{index}]"
        if not isinstance(preset, dict):
            raise bad(where, 'must be {"name": ..., "defaults": {KEY: VALUE}}')
        _known(preset, {"name", "defaults"}, f"{where}.", bad)
        _text(preset.get("name"), f"{where}.name", bad)
        if not isinstance(preset.get("defaults"), dict):
            raise bad(f"{where}.defaults", "must be an object of environment values")
