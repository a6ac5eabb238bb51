"""The JSON Schema editors read rejects what the loader rejects and accepts what it accepts.

Both come from one table (`profile_schema.SCHEMA`); each case below goes through the
loader's check and through the `jsonschema` library (installed with check-jsonschema, in the
`test` extra) and the two must agree. What only a parser can tell is listed apart: the
loader rejects it, the JSON Schema does not, and the schema's text says `imagegate check`
adds it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from imagegate.cli import main
from imagegate.errors import ProfileError
from imagegate.profile_schema import check_file, json_schema
from imagegate.profile_yaml import read_yaml

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "profiles"
COMMITTED = SHIPPED / "profile.schema.json"
MODELINE = "# yaml-language-server: $schema=profile.schema.json"
PROFILE_FILES = sorted(
    {*SHIPPED.glob("*.yaml"), *(ROOT / "examples" / "runpod-worker" / "profiles").glob("*.yaml")}
)

VALIDATOR = jsonschema.Draft202012Validator(json_schema())


def _loader_accepts(raw: dict[str, Any]) -> bool:
    try:
        check_file(raw, Path("profiles/x.yaml"))
    except ProfileError:
        return False
    return True


def _schema_accepts(raw: dict[str, Any]) -> bool:
    return VALIDATOR.is_valid(raw)


def _case(raw: dict[str, Any], accepted: bool, name: str) -> Any:
    return pytest.param(raw, accepted, id=f"{'ok' if accepted else 'bad'}-{name}")


CASES = [
    _case({}, True, "empty"),
    _case({"extends": None, "pins": None}, True, "null-deletes"),
    _case({"extend": "_common"}, False, "unknown-key"),
    _case({"target": {"pyhton": "3.11"}}, False, "unknown-nested-key"),
    _case({"target": "3.11"}, False, "section-not-a-mapping"),
    _case({"extends": "_common"}, True, "extends"),
    _case({"extends": "a/b"}, False, "extends-path"),
    _case({"description": "CPU only"}, True, "description"),
    _case({"description": "  "}, False, "description-blank"),
    _case({"description": 3}, False, "description-number"),
    _case({"target": {"python": "3.11"}}, True, "python"),
    _case({"target": {"python": 3.11}}, False, "python-float"),
    _case({"target": {"python": "3.x"}}, False, "python-text"),
    _case({"target": {"platform": "manylinux_2_36_x86_64"}}, True, "platform"),
    _case({"target": {"platform": "manylinux_2_36_s390x"}}, False, "platform-machine"),
    _case({"target": {"platform": "manylinux2014_x86_64"}}, False, "platform-legacy-name"),
    _case({"base": {"image": "python:3.11-slim"}}, True, "image"),
    _case({"base": {"packages": ["curl", "libgomp1"]}}, True, "debian-packages"),
    _case({"base": {"packages": ["Curl"]}}, False, "debian-upper"),
    _case({"base": {"packages": ["curl\n"]}}, False, "debian-final-newline"),
    _case({"base": {"packages": "curl"}}, False, "debian-not-a-list"),
    _case({"base": {"local": "bookworm"}}, True, "suite"),
    _case({"base": {"local": "Bookworm"}}, False, "suite-upper"),
    _case({"indexes": {"cu121": "https://download.example/whl/cu121"}}, True, "index"),
    _case({"indexes": {"cu121": "ftp://download.example/"}}, False, "index-scheme"),
    _case({"indexes": {"cu121": "https://a b"}}, False, "index-space"),
    _case({"sources": {"torch": "pytorch-cu121"}}, True, "source"),
    _case({"sources": {"torch": "PyTorch"}}, False, "source-upper"),
    _case({"sources": {"torch vision": "pytorch"}}, False, "source-key"),
    _case({"pins": {"torch": "2.5.1+cu121"}}, True, "pin-local-label"),
    _case({"pins": {"torch": None}}, True, "pin-null"),
    _case({"pins": {"Torch_Vision": "0.20.1"}}, True, "pin-key-case"),
    _case({"pins": {"-torch": "2.5.1"}}, False, "pin-key-dash"),
    _case({"pins": {"torch": "==2.5.1"}}, False, "pin-specifier"),
    _case({"pins": {"torch": "2.5,1"}}, False, "pin-comma"),
    _case({"pins": {"torch": 2.5}}, False, "pin-float"),
    _case({"pins": {"torch": "latest"}}, False, "pin-word"),
    _case({"pins": {"torch": "1..0"}}, False, "pin-empty-segment"),
    _case({"pins": {"torch": "1.0+"}}, False, "pin-empty-label"),
    _case({"pins": {"torch": "1.0+cu_121"}}, True, "pin-label-underscore"),
    _case({"pins": {"torch": " 1.0 "}}, True, "pin-spaces"),
    _case({"pins": {"torch": "V1.0RC1"}}, True, "pin-upper"),
    _case({"pins": {"torch": "1!2.0.post1.dev3"}}, True, "pin-epoch-post-dev"),
    _case({"pins": {"torch": "1.0-1"}}, True, "pin-implicit-post"),
    _case({"pins": {"torch": "1.0a"}}, True, "pin-pre-no-number"),
    _case({"pins": {"torch": "1.0.post"}}, True, "pin-post-no-number"),
    _case({"pins": {"torch": "1.0-dev"}}, True, "pin-dev-dash"),
    _case({"pins": {"torch": "1.0b2-dev"}}, True, "pin-pre-dev"),
    _case({"pins": {"torch": "1.0 a1"}}, False, "pin-inner-space"),
    _case({"protected": ["torch"]}, True, "protected"),
    _case({"protected": ["torch vision"]}, False, "protected-name"),
    _case({"protected": [1]}, False, "protected-number"),
    _case({"protected": "torch"}, False, "protected-not-a-list"),
    _case({"invariants": {"numpy": "<2"}}, True, "invariant"),
    _case({"invariants": {"numpy": ">=1.26, <2"}}, True, "invariant-range"),
    _case({"invariants": {"numpy": "2"}}, False, "invariant-bare"),
    _case({"invariants": {"numpy": ""}}, False, "invariant-blank"),
    _case({"allow_extra": {"pip": "the installer"}}, True, "allow-extra"),
    _case({"allow_extra": {"pip": ""}}, False, "allow-extra-blank"),
    _case({"facts": {"torch.version.cuda": "12.1"}}, True, "fact"),
    _case({"facts": {"sys.maxsize > 2**32": 1}}, True, "fact-integer"),
    _case({"facts": {"torch.version.cuda": True}}, False, "fact-boolean"),
    _case({"facts": {"torch.version.cuda": 12.1}}, False, "fact-float"),
    _case({"facts": {"x": ["a"]}}, False, "fact-list"),
    _case({"hardware": {"vendor": "nvidia"}}, True, "vendor"),
    _case({"hardware": {"vendor": "intel"}}, False, "vendor-other"),
    _case({"hardware": {"architectures": ["sm_90", "gfx942"]}}, True, "architectures"),
    _case({"hardware": {"architectures": ["sm_9"]}}, False, "architecture-short"),
    _case({"hardware": {"min_driver": "525.60.13"}}, True, "driver"),
    _case({"hardware": {"min_driver": 525}}, False, "driver-number"),
    _case({"ci": {"runner": ["self-hosted", "gpu"]}}, True, "runner"),
    _case({"ci": {"runner": []}}, False, "runner-empty"),
    _case({"ci": {"runner": ["gpu!"]}}, False, "runner-label"),
    _case({"ci": {"runner": "gpu"}}, False, "runner-not-a-list"),
    _case({"ci": {"require_gpu": True}}, True, "require-gpu"),
    _case({"ci": {"require_gpu": "yes"}}, False, "require-gpu-text"),
    _case({"probes": {"imports": ["torch.cuda"]}}, True, "import"),
    _case({"probes": {"imports": ["1torch"]}}, False, "import-name"),
    _case({"probes": {"statements": {"lora": "import peft"}}}, True, "statement"),
    _case({"probes": {"statements": {"LoRA": "import peft"}}}, False, "statement-name"),
    _case({"probes": {"exclude": {"bitsandbytes": "needs a GPU"}}}, True, "exclude"),
    _case({"probes": {"models": ["llama"]}}, True, "model"),
    _case({"probes": {"models": ["Llama"]}}, False, "model-upper"),
    _case({"probes": {"steps": {"lora": "x = 1"}}}, True, "step"),
    _case({"probes": {"timeout": 1.5}}, True, "timeout"),
    _case({"probes": {"timeout": 0}}, False, "timeout-zero"),
    _case({"probes": {"timeout": True}}, False, "timeout-boolean"),
    _case({"probes": {"timeout": "60"}}, False, "timeout-text"),
    _case({"worker": {"max_size_gb": 2.5, "max_cold_start_s": 30}}, True, "worker-budgets"),
    _case({"worker": {"max_size_gb": 0}}, False, "worker-size-zero"),
    _case({"worker": {"max_cold_start_s": "30s"}}, False, "worker-cold-start-text"),
    _case({"worker": {"max_layers": 3}}, False, "worker-unknown-key"),
    _case({"worker": {"cold_starts": 1}}, True, "worker-one-cold-start"),
    _case({"worker": {"cold_starts": 0}}, False, "worker-no-cold-start"),
    _case({"worker": {"cold_starts": 2.5}}, False, "worker-cold-starts-fraction"),
    _case({"worker": {"cold_starts": True}}, False, "worker-cold-starts-boolean"),
]

ONLY_THE_LOADER = [
    pytest.param({"base": {"image": "Python:3.11"}}, id="image-reference"),
    pytest.param({"invariants": {"numpy": "<2.x"}}, id="specifier-version"),
    pytest.param({"facts": {"torch.(": "1"}}, id="fact-expression"),
    pytest.param({"probes": {"statements": {"lora": "def ("}}}, id="statement-code"),
    pytest.param({"probes": {"steps": {"lora": "def ("}}}, id="step-code"),
    pytest.param({"facts": {"x": 1.0}}, id="fact-whole-float"),
]
"""Parsers only: JSON Schema's regexes cannot compile Python or read Docker's grammar (and
it counts 1.0 as an integer)."""


@pytest.mark.parametrize(("raw", "accepted"), CASES)
def test_the_json_schema_agrees_with_the_loader(raw: dict[str, Any], accepted: bool) -> None:
    assert _loader_accepts(raw) is accepted
    assert _schema_accepts(raw) is accepted


@pytest.mark.parametrize("raw", ONLY_THE_LOADER)
def test_what_only_a_parser_tells_is_left_to_the_loader(raw: dict[str, Any]) -> None:
    assert not _loader_accepts(raw)
    assert _schema_accepts(raw)


def test_the_schema_is_valid_draft_2020_12() -> None:
    jsonschema.Draft202012Validator.check_schema(json_schema())


@pytest.mark.parametrize("path", PROFILE_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_each_shipped_profile_names_the_schema_and_passes_it(path: Path) -> None:
    assert path.read_text(encoding="utf-8").splitlines()[0] == MODELINE
    assert (path.parent / "profile.schema.json").resolve() == COMMITTED
    raw = read_yaml(path)
    assert _loader_accepts(raw)
    assert list(VALIDATOR.iter_errors(raw)) == []


def test_the_committed_schema_is_what_imagegate_schema_prints(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["schema"]) == 0
    printed = capsys.readouterr().out
    assert json.loads(printed) == json.loads(COMMITTED.read_text(encoding="utf-8"))
    assert printed == COMMITTED.read_text(encoding="utf-8")
