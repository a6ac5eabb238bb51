"""The only module that talks to Docker.

Images are built with the BuildKit CLI (`RUN --mount` keeps wheels out of the layers; the
SDK's `images.build()` uses the classic builder, which has no `--mount`). Everything else —
probing the daemon, looking up, importing and running images — goes through the Docker SDK.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import tarfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import docker
import docker.errors
import requests.exceptions
from docker.models.containers import Container
from docker.types import DeviceRequest

from imagegate import progress, runner
from imagegate.errors import EnvironmentProblem

BUILD_TIMEOUT = 4 * 3600.0
CLI_ENV = "IMAGEGATE_DOCKER_CLI"
_CLI_CANDIDATES = ("/usr/bin/docker", "docker")
"""Debian's docker.io CLI builds with BuildKit built in; a newer CLI needs a buildx plugin."""


@dataclass(frozen=True, kw_only=True)
class Ran:
    exit_code: int
    stdout: str
    stderr: str
    timed_out: bool


@dataclass(frozen=True, kw_only=True)
class ImageInfo:
    ref: str
    id: str
    size: int
    labels: Mapping[str, str]


class Engine:
    """A connection to one Docker daemon (DOCKER_HOST, or the default socket)."""

    def __init__(self) -> None:
        where = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
        try:
            self._client = docker.from_env(timeout=600)
            self._client.ping()
        except (docker.errors.DockerException, requests.exceptions.RequestException) as error:
            raise EnvironmentProblem(
                f"Docker daemon at {where} is not reachable ({_first_line(error)}); "
                "start dockerd or set DOCKER_HOST"
            ) from None

    def image(self, ref: str) -> ImageInfo | None:
        try:
            image = self._client.images.get(ref)
        except docker.errors.ImageNotFound:
            return None
        except docker.errors.APIError as error:
            raise EnvironmentProblem(f"{ref}: cannot inspect ({_first_line(error)})") from None
        return ImageInfo(
            ref=ref,
            id=image.id or "",
            size=int(image.attrs.get("Size") or 0),
            labels=dict(image.labels or {}),
        )

    def pull(self, ref: str) -> str | None:
        """Pull `ref`; None on success, else why it could not be pulled."""
        try:
            self._client.images.pull(ref)
        except docker.errors.APIError as error:
            return _first_line(error)
        return None

    def import_rootfs(self, tarball: Path, ref: str, changes: Sequence[str]) -> None:
        repository, tag = _split(ref)
        try:
            self._client.api.import_image_from_file(
                str(tarball), repository=repository, tag=tag, changes=list(changes)
            )
        except docker.errors.APIError as error:
            raise EnvironmentProblem(
                f"{ref}: docker import failed ({_first_line(error)})"
            ) from None

    def gpu_requests(self) -> tuple[list[DeviceRequest], list[str]]:
        """What a container needs to see this host's GPUs: NVIDIA through the engine's
        nvidia runtime (device requests), AMD through /dev/kfd and /dev/dri; none here."""
        runtimes = (self._client.info().get("Runtimes") or {}).keys()
        if "nvidia" in runtimes:
            return [DeviceRequest(count=-1, capabilities=[["gpu"]])], []
        if Path("/dev/kfd").exists() and Path("/dev/dri").exists():
            return [], ["/dev/kfd:/dev/kfd:rwm", "/dev/dri:/dev/dri:rwm"]
        return [], []

    def label(self, image: str, ref: str, labels: Mapping[str, str]) -> None:
        """Tag `image` as `ref` with extra labels (a new image whose only change is them)."""
        changes = [f"LABEL {key}={json.dumps(value)}" for key, value in labels.items()]
        container = self._client.containers.create(image, command=["true"])
        try:
            repository, tag = _split(ref)
            container.commit(repository=repository, tag=tag, changes=changes)
        except docker.errors.APIError as error:
            raise EnvironmentProblem(f"{ref}: cannot label ({_first_line(error)})") from None
        finally:
            container.remove(force=True)

    def push(self, ref: str) -> str:
        """Push `ref`; the digest the registry answered with."""
        repository, tag = _split(ref)
        digest = ""
        layers: dict[str, tuple[str, int]] = {}
        try:
            for event in self._client.images.push(repository, tag=tag, stream=True, decode=True):
                if "error" in event:
                    raise EnvironmentProblem(f"push {ref}: {event['error']}")
                digest = (event.get("aux") or {}).get("Digest", digest)
                _pushing(layers, event)
        except (docker.errors.APIError, requests.exceptions.RequestException) as error:
            raise EnvironmentProblem(f"push {ref}: {_first_line(error)}") from None
        return digest

    def prune_build_cache(self) -> None:
        """Forget every cached build step (for a cold-build measurement)."""
        try:
            self._client.api.prune_builds(all=True)
        except docker.errors.APIError as error:
            raise EnvironmentProblem(
                f"cannot prune the build cache ({_first_line(error)})"
            ) from None

    def remove_image(self, ref: str) -> None:
        with contextlib.suppress(docker.errors.ImageNotFound):
            self._client.images.remove(ref, force=True)

    def build(
        self,
        *,
        context: Path,
        dockerfile: Path,
        tag: str,
        build_args: Mapping[str, str],
        target: str | None = None,
        echo: bool = True,
    ) -> runner.Completed:
        """`docker build` with BuildKit; the returned output holds the whole log."""
        args = [_cli(), "build", "--progress=plain", "-f", str(dockerfile), "-t", tag]
        for key, value in build_args.items():
            args += ["--build-arg", f"{key}={value}"]
        if target is not None:
            args += ["--target", target]
        env = {"DOCKER_BUILDKIT": "1"}
        return runner.run(
            [*args, str(context)],
            timeout=BUILD_TIMEOUT,
            env=env,
            echo=echo,
            prefix="  build: ",
            watch=_building,
        )

    def run(
        self,
        image: str,
        command: Sequence[str],
        *,
        files: Mapping[str, Path],
        timeout: float,
        environment: Mapping[str, str] | None = None,
        gpus: bool = False,
    ) -> Ran:
        """Run `command` in a fresh container with networking off; `files` are copied in first.

        `files` maps a folder in the container to a folder on the host.
        """
        requests_, devices = self.gpu_requests() if gpus else ([], [])
        container: Container = self._client.containers.create(
            image,
            command=list(command),
            network_disabled=True,
            network_mode="none",
            environment=dict(environment or {}),
            device_requests=requests_,
            devices=devices,
        )
        try:
            for inside, outside in files.items():
                container.put_archive(
                    str(Path(inside).parent), _tar_folder(outside, Path(inside).name)
                )
            container.start()
            timed_out = False
            try:
                status = container.wait(timeout=timeout)
                code = int(status.get("StatusCode", -1))
            except requests.exceptions.RequestException:
                timed_out, code = True, -1
                container.kill()
            stdout = container.logs(stdout=True, stderr=False).decode("utf-8", "replace")
            stderr = container.logs(stdout=False, stderr=True).decode("utf-8", "replace")
            return Ran(exit_code=code, stdout=stdout, stderr=stderr, timed_out=timed_out)
        except docker.errors.APIError as error:
            raise EnvironmentProblem(
                f"{image}: cannot run a container ({_first_line(error)})"
            ) from None
        finally:
            container.remove(force=True)


def _split(ref: str) -> tuple[str, str]:
    """`host:5000/a/b:tag` -> (`host:5000/a/b`, `tag`); no tag means `latest`."""
    name, _, tag = ref.rpartition(":")
    if not name or "/" in tag:
        return ref, "latest"
    return name, tag


def _tar_folder(folder: Path, name: str) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        archive.add(folder, arcname=name, filter=_no_caches)
    return buffer.getvalue()


def _no_caches(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
    return None if "__pycache__" in info.name else info


def _cli() -> str:
    chosen = os.environ.get(CLI_ENV)
    for candidate in [chosen] if chosen else _CLI_CANDIDATES:
        found = shutil.which(candidate)
        if found:
            return found
    raise EnvironmentProblem(
        f"no docker CLI found (tried {', '.join(_CLI_CANDIDATES)}); "
        f"install docker.io or set {CLI_ENV}"
    )


def _first_line(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0]


_BUILD_STEP = re.compile(r"^#\d+ (\[[^\]]+\] .+)")


def _building(line: str) -> None:
    """BuildKit's plain log: each "#8 [stack 3/7] RUN …" line is what the build does now."""
    started = _BUILD_STEP.match(line)
    if started is not None:
        progress.current().update(started[1])


def _pushing(layers: dict[str, tuple[str, int]], event: Mapping[str, object]) -> None:
    """A push's stream of layer events as layers done and bytes sent."""
    layer, status = event.get("id"), event.get("status")
    if not isinstance(layer, str) or not isinstance(status, str):
        return
    detail = event.get("progressDetail")
    sent = detail.get("current") if isinstance(detail, dict) else None
    layers[layer] = (status, sent if isinstance(sent, int) else layers.get(layer, ("", 0))[1])
    done = sum(s in ("Pushed", "Layer already exists") for s, _ in layers.values())
    progress.current().update(
        f"{status} {layer}", done=done, total=len(layers), nbytes=sum(n for _, n in layers.values())
    )
