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

from imagegate import runner
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
        try:
            for event in self._client.images.push(repository, tag=tag, stream=True, decode=True):
                if "error" in event:
                    raise EnvironmentProblem(f"push {ref}: {event['error']}")
                digest = (event.get("aux") or {}).get("Digest", digest)
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
        labels: Mapping[str, str] | None = None,
        echo: bool = True,
    ) -> runner.Completed:
        """`docker build` with BuildKit; the returned output holds the whole log."""
        args = [_cli(), "build", "--progress=plain", "-f", str(dockerfile), "-t", tag]
        for key, value in build_args.items():
            args += ["--build-arg", f"{key}={value}"]
        for key, value in (labels or {}).items():
            args += ["--label", f"{key}={value}"]
        if target is not None:
            args += ["--target", target]
        env = {"DOCKER_BUILDKIT": "1"}
        return runner.run(
            [*args, str(context)], timeout=BUILD_TIMEOUT, env=env, echo=echo, prefix="  build: "
        )

    def read_file(self, image: str, path: str) -> bytes | None:
        """A file from the image's filesystem, without starting a container; None if absent."""
        try:
            container = self._client.containers.create(image, command=["true"])
        except docker.errors.APIError as error:
            raise EnvironmentProblem(
                f"{image}: cannot read {path} ({_first_line(error)})"
            ) from None
        try:
            stream, _ = container.get_archive(path)
            return _read_archive(b"".join(stream), Path(path).name)
        except docker.errors.NotFound:
            return None
        except (docker.errors.APIError, tarfile.TarError) as error:
            raise EnvironmentProblem(
                f"{image}: cannot read {path} ({_first_line(error)})"
            ) from None
        finally:
            container.remove(force=True)

    def has_gpus(self) -> bool:
        """Whether containers here are given GPUs (what a tier-3 verdict depends on)."""
        requests_, devices = self.gpu_requests()
        return bool(requests_ or devices)

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


def _read_archive(data: bytes, name: str) -> bytes | None:
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        member = archive.extractfile(name)
        return member.read() if member is not None else None


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
