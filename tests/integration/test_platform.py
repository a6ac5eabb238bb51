"""An image for another platform is refused from its config, before any container starts.

The image is made here, not pulled: one tiny layer and a config that says linux/arm64,
loaded into the engine as `docker save` writes images.
"""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import tarfile
from collections.abc import Iterator

import pytest

from imagegate.engine import Engine

from .conftest import REPOSITORY, findings, imagegate, tags

pytestmark = pytest.mark.docker

ARM64 = f"{REPOSITORY}/arm64:latest"


def _member(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    archive.addfile(info, io.BytesIO(data))


def _saved_image(tag: str, *, os: str, architecture: str, variant: str) -> bytes:
    """A `docker save` archive of one image: one layer holding one file, and its config."""
    layer = io.BytesIO()
    with tarfile.open(fileobj=layer, mode="w") as archive:
        _member(archive, "hello.txt", b"hello\n")
    diff_id = f"sha256:{hashlib.sha256(layer.getvalue()).hexdigest()}"
    config = json.dumps(
        {
            "os": os,
            "architecture": architecture,
            "variant": variant,
            "config": {"Cmd": ["/hello"]},
            "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        }
    ).encode()
    config_name = f"{hashlib.sha256(config).hexdigest()}.json"
    manifest = [{"Config": config_name, "RepoTags": [tag], "Layers": ["layer.tar"]}]
    saved = io.BytesIO()
    with tarfile.open(fileobj=saved, mode="w") as archive:
        _member(archive, "layer.tar", layer.getvalue())
        _member(archive, config_name, config)
        _member(archive, "manifest.json", json.dumps(manifest).encode())
    return saved.getvalue()


@pytest.fixture
def arm64_image(engine: Engine) -> Iterator[str]:
    archive = _saved_image(ARM64, os="linux", architecture="arm64", variant="v8")
    subprocess.run(["docker", "load"], input=archive, check=True, capture_output=True)
    info = engine.image(ARM64)
    assert info is not None and str(info.platform) == "linux/arm64/v8"
    yield ARM64
    engine.remove_image(ARM64)


def test_verify_refuses_an_arm64_image_for_an_x86_64_profile_from_its_config(
    arm64_image: str,
) -> None:
    run = imagegate("verify", "cpu", "--image", arm64_image, "--format", "json")

    assert run.code == 1, run.stderr[-2000:]
    rows = findings(run.json())
    assert list(rows) == [("platform", "image platform")]  # no tier ran in a container
    row = rows[("platform", "image platform")]
    assert (row["tier"], row["status"]) == (1, "WRONG VERSION")
    assert row["actual"].startswith("linux/arm64")
    assert "linux/arm64" in row["evidence"] and "manylinux_2_36_x86_64" in row["evidence"]


def test_the_gate_pushes_nothing_for_a_foreign_image(arm64_image: str, registry: str) -> None:
    ref = f"{registry}/imagegate/arm64:test"

    run = imagegate("gate", "cpu", "--image", arm64_image, "--push", ref, "--format", "json")

    assert run.code == 1, run.stderr[-2000:]
    document = run.json()
    assert document["pushed"] is False and document["digest"] == ""
    assert findings(document)[("platform", "image platform")]["status"] == "WRONG VERSION"
    assert tags(registry, "imagegate/arm64") == []
