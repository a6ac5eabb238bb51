"""hub.json read strictly: the RunPod Hub's own listings parse, and each mistake is one line
naming the file and key (exit 2)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from imagegate.errors import ProfileError
from imagegate.hub import beside, read
from imagegate.worker_tests import WorkerTests

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "runpod-worker" / ".runpod"
GPU_LISTING: dict[str, Any] = {
    "title": "vLLM",
    "description": "OpenAI-compatible LLM endpoints",
    "type": "serverless",
    "category": "language",
    "iconUrl": "https://example.com/icon.png",
    "config": {
        "runsOn": "GPU",
        "containerDiskInGb": 150,
        "gpuIds": "ADA_80_PRO,AMPERE_80,-NVIDIA H100 NVL",
        "gpuCount": 1,
        "allowedCudaVersions": ["13.0"],
        "presets": [{"name": "small", "defaults": {"MODEL_NAME": "tiny", "MAX": 8}}],
        "env": [
            {
                "key": "MODEL_NAME",
                "input": {"name": "Model", "type": "huggingface", "required": True},
            },
            {
                "key": "DTYPE",
                "input": {
                    "name": "Data type",
                    "type": "string",
                    "options": [{"label": "auto", "value": "auto"}],
                    "default": "auto",
                    "advanced": True,
                },
            },
            {"key": "STATIC", "value": "1"},
        ],
    },
}
"""The shape of worker-vllm's listing (runpod-workers/worker-vllm, .runpod/hub.json)."""


def written(tmp_path: Path, data: Any) -> Path:
    path = tmp_path / "hub.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def changed(change: str, value: Any) -> dict[str, Any]:
    """GPU_LISTING with one key path ("config.gpuIds", "config.env[1].input.type") set, or
    removed when `value` is ...."""
    data = copy.deepcopy(GPU_LISTING)
    *parents, last = change.replace("[", ".").replace("]", "").split(".")
    node: Any = data
    for part in parents:
        node = node[int(part)] if part.isdigit() else node[part]
    key: Any = int(last) if last.isdigit() else last
    if value is ...:
        del node[key]
    else:
        node[key] = value
    return data


def test_the_example_workers_listing_parses() -> None:
    hub = read(EXAMPLE / "hub.json")

    assert (hub.runs_on, hub.cpu_flavor, hub.pools) == ("CPU", "cpu3c", ())


def test_pools_and_exclusions_are_told_apart(tmp_path: Path) -> None:
    hub = read(written(tmp_path, GPU_LISTING))

    assert hub.pools == ("ADA_80_PRO", "AMPERE_80")
    assert hub.excluded == ("NVIDIA H100 NVL",)
    assert (hub.on_gpu, hub.gpu_count, hub.allowed_cuda) == (True, 1, ("13.0",))


def test_the_tests_read_the_listing_beside_them(tmp_path: Path) -> None:
    tests = WorkerTests.read(EXAMPLE / "tests.json")
    alone = tmp_path / "tests.json"
    alone.write_text(json.dumps({"tests": [{"name": "t", "input": {}}]}), encoding="utf-8")

    assert tests.hub is not None and tests.hub.path == EXAMPLE / "hub.json"
    assert WorkerTests.read(alone).hub is None and beside(alone) is None


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("titel", "typo"),
        ("title", ...),
        ("description", ""),
        ("type", "pod"),
        ("category", "llm"),
        ("config", ...),
        ("config.runsOn", "gpu"),
        ("config.gpuType", "ADA_24"),
        ("config.containerDiskInGb", "20"),
        ("config.containerDiskInGb", ...),
        ("config.gpuCount", -1),
        ("config.gpuIds", ["ADA_24"]),
        ("config.gpuIds", "ADA_24,,AMPERE_16"),
        ("config.cpuFlavor", "cpu3c"),
        ("config.endpointType", "QUEUE"),
        ("config.allowedCudaVersions", ["12"]),
        ("config.env", {"MODEL_NAME": "x"}),
        ("config.env[2]", {"key": "STATIC"}),
        ("config.env[2].valu", "1"),
        ("config.env[1].key", "MODEL_NAME"),
        ("config.env[1].input.type", "text"),
        ("config.env[1].input.hidden", True),
        ("config.env[1].input.options", ["auto"]),
        ("config.presets[0].default", {}),
        ("config.presets[0].defaults", ["MODEL_NAME"]),
    ],
)
def test_a_mistake_is_one_line_naming_the_file_and_key(
    tmp_path: Path, key: str, value: Any
) -> None:
    path = written(tmp_path, changed(key, value))

    with pytest.raises(ProfileError) as raised:
        read(path)

    message = str(raised.value)
    assert message.startswith(f"{path}: {key}") and "\n" not in message


@pytest.mark.parametrize(
    ("config", "key"),
    [
        ({"runsOn": "CPU", "containerDiskInGb": 5}, "config.cpuFlavor"),
        (
            {"runsOn": "CPU", "cpuFlavor": "cpu3c", "containerDiskInGb": 5, "gpuIds": "ADA_24"},
            "config.gpuIds",
        ),
        (
            {"runsOn": "CPU", "cpuFlavor": "cpu3c", "containerDiskInGb": 5, "gpuCount": 1},
            "config.gpuCount",
        ),
    ],
)
def test_a_cpu_endpoint_names_its_flavor_and_no_gpu(tmp_path: Path, config: Any, key: str) -> None:
    path = written(tmp_path, {**GPU_LISTING, "config": config})

    with pytest.raises(ProfileError) as raised:
        read(path)

    assert str(raised.value).startswith(f"{path}: {key}: ")


@pytest.mark.parametrize("text", ["{title: ", "[1, 2]", ""])
def test_a_file_that_is_not_a_json_object_is_bad_input(tmp_path: Path, text: str) -> None:
    path = tmp_path / "hub.json"
    path.write_text(text, encoding="utf-8")

    with pytest.raises(ProfileError) as raised:
        read(path)

    assert str(raised.value).startswith(f"{path}: ") and "\n" not in str(raised.value)


def test_a_changed_listing_is_another_verdict_key(tmp_path: Path) -> None:
    tests = tmp_path / "tests.json"
    tests.write_text(json.dumps({"tests": [{"name": "t", "input": {}}]}), encoding="utf-8")
    alone = WorkerTests.read(tests).digest()
    written(tmp_path, GPU_LISTING)
    listed = WorkerTests.read(tests).digest()
    written(tmp_path, changed("config.allowedCudaVersions", ["13.0", "12.8"]))
    edited = WorkerTests.read(tests).digest()

    assert len({alone, listed, edited}) == 3
