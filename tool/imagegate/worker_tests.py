"""A RunPod worker's own tests, as the RunPod Hub's `.runpod/tests.json` writes them, read
strictly: every mistake is named by its key (exit 2).

`tests`: each a `name`, the job's `input`, a `timeout` in milliseconds. `config`:
`gpuTypeId` (or `gpuTypeIds`) and `gpuCount` for a GPU test, `cpuFlavor` for a CPU one,
`env` (a list of `{"key", "value"}`) and `allowedCudaVersions`. The Hub listing beside it
(`hub.json`) is read with it, and what each test should answer from the expectations file
beside it (`expectations`). Running and judging them is `worker`'s and `deployment`'s.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from imagegate import hub
from imagegate.errors import ProfileError
from imagegate.expectations import Expectation, path_for, read_beside
from imagegate.files import read_json, sha256
from imagegate.hub import Hub

TIER = 4
"""Tier 4: a RunPod worker's tests, and its deployment settings, judged in its image."""
DEFAULT_FILE = Path(".runpod") / "tests.json"
DEFAULT_TIMEOUT_MS = 300_000
"""A test without a `timeout`: five minutes, as long as a cold worker may take to start."""

_TEST_KEYS = {"name", "input", "timeout"}
_CONFIG_KEYS = {"gpuTypeId", "gpuTypeIds", "gpuCount", "cpuFlavor", "env", "allowedCudaVersions"}
MODES = ("api", "test-input")
"""How each test is sent: a `/runsync` job to the worker's local API, as the Hub sends it
(the default), or `--test_input`, the SDK's one-job run."""


@dataclass(frozen=True, kw_only=True)
class WorkerTest:
    name: str
    input: Any
    timeout_ms: int


@dataclass(frozen=True, kw_only=True)
class WorkerTests:
    path: Path
    tests: tuple[WorkerTest, ...]
    gpu_types: tuple[str, ...]
    gpu_count: int
    env: Mapping[str, str]
    allowed_cuda: tuple[str, ...]
    cpu_flavor: str | None = None
    """A CPU test's flavor (`cpuFlavor`, "cpu3c"): the Hub runs it on no GPU."""
    hub: Hub | None = None
    """The Hub listing beside the tests file (`hub.json`), when there is one."""
    expected: Mapping[str, Expectation] = field(default_factory=dict)
    """What a test should answer, by its name (from the expectations file beside it)."""
    mode: str = MODES[0]

    @classmethod
    def read(cls, path: Path) -> WorkerTests:
        tests = cls.parse(read_json(path), path)
        expected = read_beside(path, [one.name for one in tests.tests])
        return replace(tests, hub=hub.beside(path), expected=expected)

    def digest(self) -> str:
        """What a kept verdict on these tests depends on: the files read (tests.json, its
        expectations, hub.json) and the mode."""
        beside = path_for(self.path)
        files = [self.path, beside, *([self.hub.path] if self.hub is not None else [])]
        return "/".join([*(sha256(f) if f.is_file() else "" for f in files), self.mode])

    @classmethod
    def parse(cls, data: Any, path: Path) -> WorkerTests:
        """The file's content, checked: every mistake named by its key, exit 2."""

        def bad(key: str, what: str) -> ProfileError:
            return ProfileError(f"{path}: {key}: {what}; see the RunPod Hub's tests.json format")

        if not isinstance(data, dict):
            raise bad("(top level)", "must be an object with `tests` and `config`")
        for key in data:
            if key not in ("tests", "config"):
                raise bad(key, "unknown key (known: tests, config)")
        raw_tests = data.get("tests")
        if not isinstance(raw_tests, list) or not raw_tests:
            raise bad("tests", "must be a non-empty list of tests")
        tests = []
        for index, raw in enumerate(raw_tests):
            where = f"tests[{index}]"
            if not isinstance(raw, dict):
                raise bad(where, "must be an object with name, input and timeout")
            for key in raw:
                if key not in _TEST_KEYS:
                    raise bad(
                        f"{where}.{key}", f"unknown key (known: {', '.join(sorted(_TEST_KEYS))})"
                    )
            name = raw.get("name")
            if not isinstance(name, str) or not name.strip():
                raise bad(f"{where}.name", "must be a non-empty string")
            if "input" not in raw:
                raise bad(f"{where}.input", "missing: the job input the handler is given")
            timeout = raw.get("timeout", DEFAULT_TIMEOUT_MS)
            if isinstance(timeout, bool) or not isinstance(timeout, int) or timeout <= 0:
                raise bad(f"{where}.timeout", f"{timeout!r} is not a positive number of ms")
            tests.append(WorkerTest(name=name, input=raw["input"], timeout_ms=timeout))
        config = data.get("config", {})
        if not isinstance(config, dict):
            raise bad("config", "must be an object")
        for key in config:
            if key not in _CONFIG_KEYS:
                raise bad(
                    f"config.{key}", f"unknown key (known: {', '.join(sorted(_CONFIG_KEYS))})"
                )
        return cls(
            path=path,
            tests=tuple(tests),
            gpu_types=_gpu_types(config, bad),
            cpu_flavor=_cpu_flavor(config, bad),
            gpu_count=_gpu_count(config, bad),
            env=_env(config, bad),
            allowed_cuda=hub.cuda_versions(
                config.get("allowedCudaVersions"), "config.allowedCudaVersions", bad
            ),
        )


def _gpu_types(config: Mapping[str, Any], bad: Any) -> tuple[str, ...]:
    found: list[str] = []
    for key in ("gpuTypeId", "gpuTypeIds"):
        value = config.get(key)
        values = [value] if isinstance(value, str) else value
        if value is None:
            continue
        if not isinstance(values, list) or not all(isinstance(v, str) and v for v in values):
            raise bad(f"config.{key}", "must be a GPU type id or a list of them")
        found += values
    return tuple(found)


def _cpu_flavor(config: Mapping[str, Any], bad: Any) -> str | None:
    flavor = config.get("cpuFlavor")
    if flavor is None:
        return None
    if not isinstance(flavor, str) or not flavor.strip():
        raise bad("config.cpuFlavor", 'must be a RunPod CPU flavor such as "cpu3c"')
    if config.get("gpuTypeId") or config.get("gpuTypeIds"):
        raise bad("config.cpuFlavor", "a test runs on a CPU flavor or a GPU type, not both")
    return flavor


def _gpu_count(config: Mapping[str, Any], bad: Any) -> int:
    count = config.get("gpuCount", 0)
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise bad("config.gpuCount", f"{count!r} is not a whole number of GPUs")
    return count


def _env(config: Mapping[str, Any], bad: Any) -> dict[str, str]:
    raw = config.get("env", [])
    if not isinstance(raw, list):
        raise bad("config.env", 'must be a list of {"key": …, "value": …}')
    env: dict[str, str] = {}
    for index, item in enumerate(raw):
        if (
            not isinstance(item, dict)
            or set(item) != {"key", "value"}
            or not isinstance(item["key"], str)
            or not item["key"]
        ):
            raise bad(f"config.env[{index}]", 'must be {"key": NAME, "value": VALUE}')
        env[item["key"]] = str(item["value"])
    return env


def find(project_root: Path, given: Path | None, mode: str = MODES[0]) -> WorkerTests | None:
    """The worker tests to run, sent in `mode`: `given`, else the project's
    `.runpod/tests.json` if any."""
    path = given if given is not None else project_root / DEFAULT_FILE
    if given is None and not path.is_file():
        return None
    return replace(WorkerTests.read(path), mode=mode)
