"""Tier 4's cold-start rows: size and first answer against the profile's budgets; and the
compressed size of a `docker save` stream measured as a push would write it."""

from __future__ import annotations

import io
import json
import random
import tarfile
import zlib
from dataclasses import replace
from pathlib import Path

from imagegate.cold_start import GB, Layer, failed_start, judge_cold_start, judge_size
from imagegate.findings import Status
from imagegate.profiles import Profile, WorkerBudget, load_profile
from imagegate.worker_start import measure_saved

SHIPPED = Path(__file__).resolve().parents[2] / "profiles"
LAYERS = [
    Layer(digest="sha256:" + "a" * 64, size=3 * GB, compressed=int(1.2 * GB)),
    Layer(digest="sha256:" + "b" * 64, size=GB // 2, compressed=GB // 5),
]


def budgets(**given: float) -> Profile:
    return replace(load_profile("cpu", SHIPPED), worker=WorkerBudget(**given))


def test_without_a_budget_the_size_is_shown_and_passes() -> None:
    size, largest = judge_size(budgets(), LAYERS)

    assert (size.status, size.expected, size.actual) == (Status.OK, "", "1.40 GB compressed")
    assert largest.actual == "1.20 GB compressed" and largest.evidence.startswith("sha256:aaaa")


def test_a_size_over_its_budget_fails_with_both_figures() -> None:
    size, _ = judge_size(budgets(max_size_gb=1), LAYERS)

    assert size.status is Status.BROKEN
    assert size.expected == "≤ 1 GB (worker.max_size_gb)" and size.actual == "1.40 GB compressed"
    assert "0.40 GB over the budget" in size.evidence


def test_a_size_within_its_budget_passes() -> None:
    size, _ = judge_size(budgets(max_size_gb=1.5), LAYERS)

    assert size.status is Status.OK


def test_the_cold_start_is_the_median_of_its_runs_against_its_budget() -> None:
    within = judge_cold_start(budgets(max_cold_start_s=10), "answers", [9.0, 30.0, 4.0])
    over = judge_cold_start(budgets(max_cold_start_s=5), "answers", [9.0, 30.0, 4.0])

    assert (within.status, within.actual, within.seconds) == (Status.OK, "9.0 s", 9.0)
    assert over.status is Status.BROKEN and over.expected == "≤ 5 s (worker.max_cold_start_s)"
    assert "4.0 s over the budget" in over.evidence and "9.0, 30.0, 4.0" in over.evidence


def saved(layers: dict[str, bytes], order: list[str]) -> bytes:
    """A `docker save` tar: each layer in a folder of its own, the manifest last."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for folder, data in layers.items():
            member = tarfile.TarInfo(f"{folder}/layer.tar")
            member.size = len(data)
            archive.addfile(member, io.BytesIO(data))
        manifest = json.dumps([{"Layers": [f"{f}/layer.tar" for f in order]}]).encode()
        member = tarfile.TarInfo("manifest.json")
        member.size = len(manifest)
        archive.addfile(member, io.BytesIO(manifest))
    return buffer.getvalue()


def test_a_saved_image_is_measured_per_layer_in_the_manifests_order() -> None:
    noise = random.Random(0)
    words = [noise.choice(["torch", "cuda", "wheel", "layer", "\x00" * 40]) for _ in range(1 << 19)]
    text = " ".join(words).encode()
    layers = {"b2": text, "a1": bytes(noise.getrandbits(8) for _ in range(1 << 16))}
    stream = saved(layers, ["a1", "b2"])
    known: dict[str, list[int]] = {}

    measured = measure_saved(
        iter([stream[i : i + 65536] for i in range(0, len(stream), 65536)]), known
    )

    whole = len(zlib.compress(text, 6))  # one gzip stream, as a push writes it
    assert [size for size, _ in measured] == [1 << 16, len(text)]
    assert abs(measured[1][1] - whole) < 0.005 * whole
    assert measured[0][1] > 1 << 16  # random bytes do not compress
    assert set(known) == {"a1/layer.tar", "b2/layer.tar"}


def test_a_layer_measured_before_is_not_compressed_again() -> None:
    known = {"a1/layer.tar": [10, 7]}

    measured = measure_saved([saved({"a1": b"x" * 10}, ["a1"])], known)

    assert measured == [(10, 7)]


def test_an_oci_layout_save_is_measured_by_its_blobs_and_links() -> None:
    """Docker 25+: layers are blobs named by digest, old names link to them."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, data in (("blobs/sha256/11", b"y" * 5000), ("blobs/sha256/cf", b"{}")):
            member = tarfile.TarInfo(name)
            member.size = len(data)
            archive.addfile(member, io.BytesIO(data))
        link = tarfile.TarInfo("e1/layer.tar")
        link.type, link.linkname = tarfile.SYMTYPE, "../blobs/sha256/11"
        archive.addfile(link)
        manifest = json.dumps([{"Layers": ["blobs/sha256/11", "e1/layer.tar"]}]).encode()
        member = tarfile.TarInfo("manifest.json")
        member.size = len(manifest)
        archive.addfile(member, io.BytesIO(manifest))
    known: dict[str, list[int]] = {}

    measured = measure_saved([buffer.getvalue()], known)

    assert measured[0] == measured[1] and measured[0][0] == 5000
    assert measured[0][1] < 100  # five thousand y's compress
    assert set(known) == {"blobs/sha256/11", "e1/layer.tar"}  # never the config blob


def test_a_start_failing_after_the_test_answered_is_broken() -> None:
    finding = failed_start("answers", 2, 3, 1)

    assert finding.status is Status.BROKEN and finding.actual == "exit 1"
