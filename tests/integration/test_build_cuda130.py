"""A real CUDA 13.0 image: PyPI's torch 2.14.1 and its nvidia-*-cu13 wheels, checked with no GPU."""

from __future__ import annotations

import pytest

from .conftest import findings, imagegate


@pytest.mark.slow
def test_cuda130_builds_and_reports_cuda_13_and_its_cudnn(base_image: str) -> None:
    run = imagegate("build", "cuda130", "--format", "json")

    assert run.code == 0, run.stderr[-3000:]
    document = run.json()
    rows = findings(document)
    assert rows[("fact", "torch.version.cuda")]["actual"] == "13.0"
    assert rows[("fact", "torch.backends.cudnn.version()")]["status"] == "OK"
    assert rows[("pin", "torch")]["actual"] == "2.14.1"
    assert rows[("import", "torchvision")]["status"] == "OK"
    arches = rows[("fact", "CUDA architectures")]
    assert (arches["status"], arches["actual"]) == ("OK", "sm_75 sm_80 sm_86 sm_90 sm_100 sm_120")
    print(
        f"\ncuda130: {document['size_bytes'] / 1e9:.2f} GB, steps {document['seconds']} (seconds)"
    )
