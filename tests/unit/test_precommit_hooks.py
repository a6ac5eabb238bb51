"""`.pre-commit-hooks.yaml` has the shape pre-commit reads and runs real imagegate commands.

pre-commit itself is not installed here, so its manifest schema (`pre_commit.clientlib`) is
checked key by key as its documentation states it: each hook is a mapping with the required
`id`, `name`, `entry` and `language`, and only the optional keys pre-commit knows, of their
documented types. Each entry is parsed by imagegate's own parser, so a hook can't name a
command or flag that does not exist.
"""

from __future__ import annotations

import re
import shlex
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from imagegate.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
HOOKS = ROOT / ".pre-commit-hooks.yaml"
REQUIRED = {"id": str, "name": str, "entry": str, "language": str}
OPTIONAL: dict[str, type | tuple[type, ...]] = {
    "alias": str,
    "files": str,
    "exclude": str,
    "types": list,
    "types_or": list,
    "exclude_types": list,
    "additional_dependencies": list,
    "args": list,
    "always_run": bool,
    "fail_fast": bool,
    "pass_filenames": bool,
    "description": str,
    "language_version": str,
    "log_file": str,
    "minimum_pre_commit_version": str,
    "require_serial": bool,
    "stages": list,
    "verbose": bool,
}
LANGUAGES = {
    "conda", "coursier", "dart", "docker", "docker_image", "dotnet", "fail", "golang",
    "haskell", "julia", "lua", "node", "perl", "pygrep", "python", "r", "ruby", "rust",
    "script", "swift", "system", "unsupported", "unsupported_script",
}  # fmt: skip


def _problems(hooks: Any) -> list[str]:
    """What pre-commit would refuse in a manifest (empty when it loads)."""
    if not isinstance(hooks, list) or not hooks:
        return ["the manifest is not a non-empty list of hooks"]
    problems: list[str] = []
    for index, hook in enumerate(hooks):
        if not isinstance(hook, dict):
            problems.append(f"{index}: not a mapping")
            continue
        for key, kind in REQUIRED.items():
            if not isinstance(hook.get(key), kind):
                problems.append(f"{index}: {key}: missing or not {kind.__name__}")
        for key, value in hook.items():
            if key in REQUIRED:
                continue
            if key not in OPTIONAL:
                problems.append(f"{index}: {key}: not a key pre-commit knows")
            elif not isinstance(value, OPTIONAL[key]):
                problems.append(f"{index}: {key}: wrong type")
        if hook.get("language") not in LANGUAGES:
            problems.append(f"{index}: language: {hook.get('language')!r} is not one")
        for key in ("files", "exclude"):
            if isinstance(hook.get(key), str):
                try:
                    re.compile(hook[key])
                except re.error:
                    problems.append(f"{index}: {key}: not a regex")
    ids = [hook.get("id") for hook in hooks if isinstance(hook, dict)]
    if len(ids) != len(set(ids)):
        problems.append("two hooks share an id")
    return problems


@pytest.fixture(scope="module")
def hooks() -> list[dict[str, Any]]:
    loaded = yaml.safe_load(HOOKS.read_text(encoding="utf-8"))
    assert isinstance(loaded, list)
    return loaded


def test_the_manifest_has_the_shape_pre_commit_reads(hooks: list[dict[str, Any]]) -> None:
    assert _problems(hooks) == []


@pytest.mark.parametrize(
    "broken",
    [
        pytest.param({"id": "x", "name": "x", "entry": "imagegate check"}, id="no-language"),
        pytest.param(
            {"id": "x", "name": "x", "entry": "e", "language": "python", "file": "^p/"},
            id="misspelt-key",
        ),
        pytest.param(
            {"id": "x", "name": "x", "entry": "e", "language": "python", "pass_filenames": "no"},
            id="wrong-type",
        ),
        pytest.param({"id": "x", "name": "x", "entry": "e", "language": "py"}, id="language"),
        pytest.param(
            {"id": "x", "name": "x", "entry": "e", "language": "python", "files": "("},
            id="regex",
        ),
    ],
)
def test_the_shape_check_rejects_a_broken_hook(broken: dict[str, Any]) -> None:
    assert _problems([broken]) != []


def test_the_hooks_are_check_and_render_check(hooks: list[dict[str, Any]]) -> None:
    entries = {hook["id"]: hook["entry"] for hook in hooks}
    assert entries == {
        "imagegate-check": "imagegate check --all",
        "imagegate-render-check": "imagegate render --all --check",
    }


@pytest.mark.parametrize("index", [0, 1])
def test_each_hook_runs_a_real_command_once_when_a_profile_changes(
    hooks: list[dict[str, Any]], index: int
) -> None:
    hook = hooks[index]
    program, *argv = shlex.split(hook["entry"])
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert program in scripts["project"]["scripts"]  # `language: python` installs it
    args = build_parser().parse_args(argv)
    assert args.all
    assert hook["pass_filenames"] is False  # a file name would be read as a profile name
    assert re.search(hook["files"], "profiles/cpu.yaml")
    assert not re.search(hook["files"], "README.md")
