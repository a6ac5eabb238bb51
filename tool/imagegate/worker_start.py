"""A RunPod worker's image started as RunPod starts it: one job (`--test_input`), its
fitness checks, its cold start; and its size as a registry would store it.

Every container has networking off and the endpoint's env (tests.json `config.env`). The
judging is `fitness`'s and `cold_start`'s; this module only runs and measures.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import tarfile
import zlib
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from imagegate import progress
from imagegate.cold_start import (
    Layer,
    failed_start,
    judge_cold_start,
    judge_size,
    not_measured,
)
from imagegate.contract import FITNESS_HOOK, RUN_DIR
from imagegate.files import write_atomic
from imagegate.findings import Finding, Status
from imagegate.fitness import FitnessRun, judge_fitness
from imagegate.profiles import Profile
from imagegate.runner import Completed
from imagegate.scripts import scripts_dir
from imagegate.worker_tests import DEFAULT_TIMEOUT_MS, WorkerTest, WorkerTests

if TYPE_CHECKING:
    from imagegate.engine import Engine, ImageInfo

ON_RUNPOD = {"RUNPOD_WEBHOOK_GET_JOB": "http://127.0.0.1:9/imagegate-fitness-run"}
"""What the SDK reads to decide it runs on RunPod (`worker._is_local`); never fetched from:
the fitness hook stops the worker before its job loop, and the container has no network."""
BLOCK = 4 << 20
"""Compressed apart, in parallel: deflate looks back 32 KiB, so blocks this size cost under
0.1% against one stream."""
WORKERS = os.cpu_count() or 1
GZIP_FRAME = 18
"""A gzip member's header and trailer, in bytes."""


def run_test(
    engine: Engine, image: str, command: list[str], tests: WorkerTests, one: WorkerTest, gpus: bool
) -> Completed:
    """One job, as `python handler.py --test_input '{"input": …}'`: the SDK runs the handler
    once on it and exits."""
    return engine.run(
        image,
        [*command, "--test_input", json.dumps({"input": one.input})],
        files={},
        timeout=one.timeout_ms / 1000,
        environment=dict(tests.env),
        gpus=gpus,
    )


def fitness_findings(
    engine: Engine,
    image: str,
    info: ImageInfo,
    tests: WorkerTests,
    *,
    gpus: bool,
    require_gpu: bool,
) -> list[Finding]:
    """The worker's command with nothing added, as on RunPod, under the fitness hook; as
    long as a cold worker may take to start (a test's own timeout is for its job)."""
    hook = f"{RUN_DIR}/{FITNESS_HOOK}"
    pythonpath = tests.env.get("PYTHONPATH") or info.env.get("PYTHONPATH")
    environment = {
        **tests.env,
        **ON_RUNPOD,
        "PYTHONPATH": f"{hook}:{pythonpath}" if pythonpath else hook,
    }
    with progress.step("tier 4", "fitness checks"):
        ran = engine.run(
            image,
            list(info.command),
            files={RUN_DIR: scripts_dir()},
            timeout=DEFAULT_TIMEOUT_MS / 1000,
            environment=environment,
            gpus=gpus,
        )
    run = FitnessRun(
        output=ran.output,
        errors=ran.errors,
        exit_code=ran.returncode,
        timed_out=ran.timed_out,
        seconds=ran.seconds,
    )
    return judge_fitness(run, gpus=gpus, require_gpu=require_gpu)


def cold_start_findings(
    engine: Engine,
    image: str,
    info: ImageInfo,
    profile: Profile,
    tests: WorkerTests,
    *,
    gpus: bool,
    answered: bool,
    sizes: Path,
) -> list[Finding]:
    """The image's size (kept in `sizes` by image and layer), then the first test that is
    to answer (not to fail) started `worker.cold_starts` times, when every test `answered`."""
    findings = judge_size(profile, layer_sizes(engine, info, sizes))
    if not answered:
        return [*findings, not_measured("not measured: not every test answered")]
    answering = [one for one in tests.tests if _answers(tests, one)]
    if not answering:
        return [*findings, not_measured("not measured: every test expects an error")]
    first, runs = answering[0], []
    samples = profile.worker.cold_starts
    for sample in range(samples):
        with progress.step("tier 4", f"cold start {sample + 1} of {samples}"):
            ran = run_test(engine, image, list(info.command), tests, first, gpus)
        if not ran.ok:
            return [*findings, failed_start(first.name, sample + 1, samples, ran.returncode)]
        runs.append(ran.seconds)
    return [*findings, judge_cold_start(profile, first.name, runs)]


def _answers(tests: WorkerTests, one: WorkerTest) -> bool:
    """Whether the test's job is to answer (not to fail: tests.expected.json's `error`)."""
    expected = tests.expected.get(one.name)
    return expected is None or expected.error is False


def started(
    engine: Engine,
    image: str,
    profile: Profile,
    tests: WorkerTests,
    ran: list[Finding],
    *,
    gpus: bool,
    require_gpu: bool,
    sizes: Path,
    failed: bool = False,
) -> list[Finding]:
    """After the tests (`ran`, their rows): the fitness checks, then size and cold start,
    which are not measured once tier 4 has `failed` (the gate already says no: measuring a
    CUDA image's size takes minutes). An image with no command has had its rows
    (`worker.run_tests`): nothing to start."""
    info = engine.image(image)
    if info is None or not (info.command or info.entrypoint):
        return []
    fitness = fitness_findings(engine, image, info, tests, gpus=gpus, require_gpu=require_gpu)
    if failed:
        return [*fitness, not_measured("size and cold start not measured: tier 4 failed")]
    answered = all(finding.status in (Status.OK, Status.WARN) for finding in ran)
    return [
        *fitness,
        *cold_start_findings(
            engine, image, info, profile, tests, gpus=gpus, answered=answered, sizes=sizes
        ),
    ]


def layer_sizes(engine: Engine, info: ImageInfo, sizes: Path) -> list[Layer]:
    """Each layer of `info`'s image with its compressed size. Kept in `sizes` by image ID
    (content-addressed) and by the layer's path in `docker save` (its digest from Docker 25,
    before that an ID derived from its chain of layers), so a new image built FROM a
    measured one only compresses its own layers."""
    kept = _read(sizes)
    if info.id in kept["images"]:
        return [Layer.from_dict(layer) for layer in kept["images"][info.id]]
    with progress.step("tier 4", "image size (each layer gzipped, as a push does)"):
        measured = measure_saved(engine.save(info.id), kept["layers"])
    layers = [
        Layer(digest=d, size=s, compressed=c)
        for d, (s, c) in zip(info.layers, measured, strict=True)
    ]
    kept["images"][info.id] = [layer.to_dict() for layer in layers]
    sizes.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(sizes, json.dumps(kept, indent=1, sort_keys=True))
    return layers


def _read(sizes: Path) -> dict[str, Any]:
    with contextlib.suppress(OSError, ValueError):
        kept = json.loads(sizes.read_text(encoding="utf-8"))
        if isinstance(kept.get("images"), dict) and isinstance(kept.get("layers"), dict):
            return dict(kept)
    return {"images": {}, "layers": {}}


def measure_saved(saved: Iterable[bytes], known: dict[str, list[int]]) -> list[tuple[int, int]]:
    """(size, compressed size) of each layer of a `docker save` stream, in the image's order
    (its manifest.json's `Layers`: `ID/layer.tar` from Docker before 25, `blobs/sha256/…`
    after). `known`, by those paths, is read and added to. The manifest comes last, so each
    file is measured as it passes (config and metadata files are small)."""
    found: dict[str, list[int]] = {}
    links: dict[str, str] = {}
    order: list[str] = []
    with (
        ThreadPoolExecutor(max_workers=WORKERS) as pool,
        tarfile.open(fileobj=_Stream(iter(saved)), mode="r|") as archive,
    ):
        for member in archive:
            stream = archive.extractfile(member) if member.isfile() else None
            if member.name == "manifest.json" and stream is not None:
                order = list(json.load(stream)[0]["Layers"])
            elif member.issym():
                links[member.name] = (Path(member.name).parent / member.linkname).as_posix()
            elif member.name in known or stream is None:
                found[member.name] = known.get(member.name, [member.size, GZIP_FRAME])
            else:
                found[member.name] = [member.size, GZIP_FRAME + _deflated(stream, pool)]
    layers = {path: found[_resolved(path, links)] for path in order}
    known.update(layers)
    return [(layers[path][0], layers[path][1]) for path in order]


def _resolved(path: str, links: dict[str, str]) -> str:
    """`path` with the links among the saved files followed (Docker 25 links old names to
    blobs): `a/../blobs/x` is `blobs/x`."""
    for _ in range(len(links) + 1):
        if path not in links:
            break
        path = os.path.normpath(links[path])
    return path


def _deflated(stream: io.BufferedReader | Any, pool: ThreadPoolExecutor) -> int:
    """Bytes of `stream` deflated at level 6, in blocks compressed in parallel (zlib lets
    go of the GIL), at most two blocks per worker in memory."""
    pending: deque[Future[int]] = deque()
    total, limit = 0, 2 * WORKERS
    while block := stream.read(BLOCK):
        pending.append(pool.submit(_deflate, block))
        while len(pending) >= limit:
            total += pending.popleft().result()
    return total + sum(future.result() for future in pending)


def _deflate(block: bytes) -> int:
    compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
    return len(compressor.compress(block)) + len(compressor.flush())


class _Stream(io.RawIOBase):
    """An iterator of byte chunks as the file `tarfile` reads."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks, self._left = chunks, memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._left:
            self._left = memoryview(next(self._chunks, b""))
            if not self._left:
                return 0
        size = min(len(buffer), len(self._left))
        buffer[:size] = self._left[:size]
        self._left = self._left[size:]
        return size
