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
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import docker
import docker.errors
import requests.exceptions
import urllib3.exceptions
from docker.models.containers import Container
from docker.types import DeviceRequest

from imagegate import engine_io, references, runner
from imagegate.errors import EnvironmentProblem
from imagegate.target import Platform

BUILD_TIMEOUT = 4 * 3600.0
PROBE_TIMEOUT = 5
"""The first request to the daemon: a daemon that accepts and never answers fails fast."""
API_TIMEOUT = 600
"""Every later request: a multi-GB pull or a commit answers slowly, but answers."""
_ERRORS = (
    docker.errors.DockerException,
    requests.exceptions.RequestException,
    urllib3.exceptions.HTTPError,
)
"""What the SDK raises: its own errors, and its HTTP layer's (streams are read from urllib3)."""
CLI_ENV = "IMAGEGATE_DOCKER_CLI"
_CLI_CANDIDATES = ("/usr/bin/docker", "docker")
"""Debian's docker.io CLI builds with BuildKit built in; a newer CLI needs a buildx plugin."""


@dataclass(frozen=True, kw_only=True)
class ImageInfo:
    ref: str
    id: str
    size: int
    labels: Mapping[str, str]
    command: tuple[str, ...] = ()
    """The image's CMD: what a container started without a command runs."""
    entrypoint: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    """The image config's environment (what a container starts with, and what a container
    runtime reads its requirements from)."""
    layers: tuple[str, ...] = ()
    """The digests of its filesystem's layers (RootFS): what its files are made of."""
    repo_digests: tuple[str, ...] = ()
    """`repository@sha256:…` for each manifest a registry holds of it (set by a push)."""
    platform: Platform = field(default_factory=lambda: Platform(os="", architecture=""))
    """The image config's os, architecture and variant: where its binaries run."""


class Engine:
    """A connection to one Docker daemon (DOCKER_HOST, or the default socket).

    Every SDK call runs inside `_calling`, so any error the SDK or its HTTP layer raises
    reaches the user as one line that names the operation and the image.
    """

    def __init__(self) -> None:
        self._where = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
        self._names: dict[str, str] = {}
        """Image ID -> the reference it was looked up by: an error about an ID names both."""
        try:
            probe = docker.from_env(timeout=PROBE_TIMEOUT)
            with contextlib.closing(probe):
                probe.ping()
                version = probe.api.api_version
            self._client = docker.from_env(timeout=API_TIMEOUT, version=version)
        except _ERRORS as error:
            if _timed_out(error):
                raise EnvironmentProblem(
                    f"Docker daemon at {self._where} did not answer within "
                    f"{PROBE_TIMEOUT:g} s; check that dockerd is running and not stuck "
                    "(`docker info`), or set DOCKER_HOST"
                ) from None
            raise EnvironmentProblem(
                f"Docker daemon at {self._where} is not reachable ({_first_line(error)}); "
                "start dockerd or set DOCKER_HOST"
            ) from None

    @contextlib.contextmanager
    def _calling(self, operation: str, image: str) -> Iterator[None]:
        """The SDK's errors as one EnvironmentProblem: `image: cannot operation (why); todo`."""
        if image in self._names:
            image = f"{self._names[image]} ({image[:19]})"
        try:
            yield
        except docker.errors.ImageNotFound:
            raise EnvironmentProblem(
                f"{image}: cannot {operation} (the image is not here); build or pull it first"
            ) from None
        except _ERRORS as error:
            if _timed_out(error):
                why = f"the Docker daemon at {self._where} did not answer within {API_TIMEOUT:g} s"
                todo = "check that dockerd is not stuck (`docker info`) and retry"
            elif isinstance(
                error, requests.exceptions.ConnectionError | urllib3.exceptions.HTTPError
            ):
                why = f"lost the connection to the Docker daemon at {self._where}"
                todo = "check that dockerd is still running and retry"
            else:
                why = _explanation(error)
                todo = "see the daemon's log (journalctl -u docker) if the reason is unclear"
            raise EnvironmentProblem(f"{image}: cannot {operation} ({why}); {todo}") from None

    def image(self, ref: str) -> ImageInfo | None:
        with self._calling("inspect it", ref):
            try:
                image = self._client.images.get(ref)
            except docker.errors.ImageNotFound:
                return None
        if image.id and image.id != ref:
            self._names[image.id] = ref
        return ImageInfo(
            ref=ref,
            id=image.id or "",
            size=int(image.attrs.get("Size") or 0),
            labels=dict(image.labels or {}),
            command=tuple((image.attrs.get("Config") or {}).get("Cmd") or ()),
            entrypoint=tuple((image.attrs.get("Config") or {}).get("Entrypoint") or ()),
            env=_environment((image.attrs.get("Config") or {}).get("Env") or []),
            layers=tuple((image.attrs.get("RootFS") or {}).get("Layers") or ()),
            repo_digests=tuple(image.attrs.get("RepoDigests") or ()),
            platform=Platform(
                os=str(image.attrs.get("Os") or ""),
                architecture=str(image.attrs.get("Architecture") or ""),
                variant=str(image.attrs.get("Variant") or ""),
            ),
        )

    def present(self, image: str, paths: Sequence[str]) -> list[str]:
        """Those of `paths` that exist in the image (a link counts, wherever it points),
        read from one container that is never started."""
        found = []
        with self._calling("look for files in it", image):
            container = self._client.containers.create(image, command=["true"])
            try:
                for path in paths:
                    try:
                        stream, _ = container.get_archive(path)
                    except docker.errors.NotFound:
                        continue
                    for _ in stream:  # a link or an interpreter: small; read to free the socket
                        pass
                    found.append(path)
            finally:
                container.remove(force=True)
        return found

    def pull(self, ref: str) -> str | None:
        """Pull `ref`; None on success, else why the registry would not give it.

        A registry that refuses (unknown image, no access, unreachable from the daemon) is
        an answer the caller can act on; a daemon that does not answer is a problem."""
        with self._calling("pull it", ref):
            try:
                self._client.images.pull(ref)
            except docker.errors.APIError as error:
                return _explanation(error)
        return None

    def import_rootfs(self, tarball: Path, ref: str, changes: Sequence[str]) -> None:
        repository, tag = references.repository_and_tag(ref)
        with self._calling("import it", ref):
            self._client.api.import_image_from_file(
                str(tarball), repository=repository, tag=tag, changes=list(changes)
            )

    def gpu_requests(self) -> tuple[list[DeviceRequest], list[str]]:
        """What a container needs to see this host's GPUs: NVIDIA through the engine's
        nvidia runtime (device requests), AMD through /dev/kfd and /dev/dri; none here."""
        with self._calling("read its runtimes (docker info)", self._where):
            runtimes = (self._client.info().get("Runtimes") or {}).keys()
        if "nvidia" in runtimes:
            return [DeviceRequest(count=-1, capabilities=[["gpu"]])], []
        if Path("/dev/kfd").exists() and Path("/dev/dri").exists():
            return [], ["/dev/kfd:/dev/kfd:rwm", "/dev/dri:/dev/dri:rwm"]
        return [], []

    def label(self, image: str, ref: str, labels: Mapping[str, str]) -> str:
        """Tag `image` as `ref` with extra labels (a new image whose only change is them);
        the new image's ID."""
        repository, tag = references.repository_and_tag(ref)
        changes = [f"LABEL {key}={json.dumps(value)}" for key, value in labels.items()]
        with self._calling(f"tag it as {ref} with labels", image):
            container = self._client.containers.create(image, command=["true"])
            try:
                made = container.commit(repository=repository, tag=tag, changes=changes)
            finally:
                container.remove(force=True)
        return str(made.id)

    def registry_digest(self, ref: str) -> str:
        """The digest of the manifest the registry holds under `ref`, as the registry says."""
        with self._calling("ask its registry for it", ref):
            return str(self._client.images.get_registry_data(ref).id)

    def push(self, ref: str) -> str:
        """Push `ref`; the digest the registry answered with."""
        repository, tag = references.repository_and_tag(ref)
        digest = ""
        layers: dict[str, tuple[str, int]] = {}
        with self._calling("push it", ref):
            for event in self._client.images.push(repository, tag=tag, stream=True, decode=True):
                if "error" in event:
                    raise EnvironmentProblem(f"push {ref}: {event['error']}")
                digest = (event.get("aux") or {}).get("Digest", digest)
                engine_io.pushing(layers, event)
        return digest

    def prune_build_cache(self) -> None:
        """Forget every cached build step (for a cold-build measurement)."""
        with self._calling("prune its build cache", self._where):
            self._client.api.prune_builds(all=True)

    def remove_image(self, ref: str) -> None:
        with self._calling("remove it", ref), contextlib.suppress(docker.errors.ImageNotFound):
            self._client.images.remove(ref, force=True)

    def build(
        self,
        *,
        context: Path,
        dockerfile: Path,
        tag: str,
        build_args: Mapping[str, str],
        echo: bool = True,
    ) -> runner.Completed:
        """`docker build` with BuildKit, tagged `tag`; the returned output holds the whole log."""
        args = [*_build_command(dockerfile, build_args), "-t", tag, str(context)]
        return runner.run(
            args,
            timeout=BUILD_TIMEOUT,
            env=_BUILDKIT,
            echo=echo,
            prefix="  build: ",
            watch=engine_io.building,
        )

    def build_beside(
        self,
        *,
        context: Path,
        dockerfile: Path,
        build_args: Mapping[str, str],
        labels: Mapping[str, str],
        iidfile: Path,
        reports: str,
        reports_dir: Path,
        beside_when: Callable[[str], bool],
    ) -> tuple[runner.Completed, runner.Completed]:
        """Two `docker build`s of one Dockerfile at once: its last stage as an image, left
        untagged (its ID in `iidfile`: the caller tags what it judged), and the stage
        `reports`, whose files are written to `reports_dir`. BuildKit runs a step that both
        ask for once, for both, so what only the second needs runs while the first exports
        its layers. The second starts when a line of the first's log satisfies
        `beside_when`, else when the first has ended: it sends the whole build context
        again while the first runs (the first holds BuildKit's copy), only what changed
        once it is done. Both logs, in that order; a shared step's lines are in one."""
        image = _build_command(dockerfile, build_args, labels=labels)
        image += ["--iidfile", str(iidfile), str(context)]
        local = _build_command(dockerfile, build_args, target=reports)
        local += ["--output", f"type=local,dest={reports_dir}", str(context)]
        built, reported = runner.run_together(
            [image, local],
            timeout=BUILD_TIMEOUT,
            env=_BUILDKIT,
            echo=True,
            prefix="  build: ",
            watch=engine_io.building,
            hold=beside_when,
        )
        return built, reported

    def tag(self, image: str, ref: str) -> None:
        repository, tag = references.repository_and_tag(ref)
        with self._calling(f"tag it as {ref}", image):
            self._client.images.get(image).tag(repository, tag=tag)

    def read_file(self, image: str, path: str) -> bytes | None:
        """A file from the image's filesystem, without starting a container; None if absent."""
        with self._calling(f"read {path} from it", image):
            container = self._client.containers.create(image, command=["true"])
            try:
                stream, _ = container.get_archive(path)
                with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as archive:
                    member = archive.extractfile(Path(path).name)
                    return member.read() if member is not None else None
            except docker.errors.NotFound:
                return None
            finally:
                container.remove(force=True)

    def save(self, image: str) -> Iterator[bytes]:
        """`docker save`, streamed: a tar holding each layer's tar, uncompressed."""
        with self._calling("save it", image):
            yield from self._client.images.get(image).save(chunk_size=1 << 20, named=False)

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
        entrypoint: Sequence[str] | None = None,
    ) -> runner.Completed:
        """Run `command` in a fresh container with networking off (127.0.0.1 only); `files`
        are copied in first. `entrypoint` replaces the image's (None: its own).

        `files` maps a folder in the container to a folder on the host. The result holds
        stdout as its `output` and stderr apart, as `errors`; a container still running
        at `timeout` is killed and its result says `timed_out`.
        """
        started = time.monotonic()
        requests_, devices = self.gpu_requests() if gpus else ([], [])
        with self._calling("run a container from it", image):
            container: Container = self._client.containers.create(
                image,
                command=list(command),
                network_disabled=True,
                network_mode="none",
                environment=dict(environment or {}),
                device_requests=requests_,
                devices=devices,
                entrypoint=list(entrypoint) if entrypoint is not None else None,
            )
            try:
                for inside, outside in files.items():
                    container.put_archive(
                        str(Path(inside).parent), engine_io.tar_folder(outside, Path(inside).name)
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
                return runner.Completed(
                    args=tuple(command),
                    returncode=code,
                    output=stdout,
                    errors=stderr,
                    timed_out=timed_out,
                    seconds=time.monotonic() - started,
                )
            finally:
                container.remove(force=True)


def _environment(entries: Sequence[str]) -> dict[str, str]:
    """`KEY=VALUE` entries as Docker stores them; a later entry for a key wins, as in a run."""
    return dict(entry.partition("=")[::2] for entry in entries)


_BUILDKIT = {"DOCKER_BUILDKIT": "1"}


def _build_command(
    dockerfile: Path,
    build_args: Mapping[str, str],
    *,
    target: str | None = None,
    labels: Mapping[str, str] | None = None,
) -> list[str]:
    """`docker build` of `dockerfile` with BuildKit's plain log, up to the context."""
    args = [_cli(), "build", "--progress=plain", "-f", str(dockerfile)]
    for key, value in build_args.items():
        args += ["--build-arg", f"{key}={value}"]
    for key, value in (labels or {}).items():
        args += ["--label", f"{key}={value}"]
    return [*args, *(["--target", target] if target is not None else [])]


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


def _explanation(error: BaseException) -> str:
    """The daemon's own reason when it gave one (an APIError's explanation), else the error."""
    explanation = getattr(error, "explanation", None)
    if isinstance(explanation, bytes):
        explanation = explanation.decode("utf-8", "replace")
    if isinstance(explanation, str) and explanation.strip():
        return explanation.strip().splitlines()[0]
    return _first_line(error)


def _timed_out(error: BaseException) -> bool:
    """Whether `error`, or what it wraps (the SDK wraps its HTTP errors), is a timeout.

    urllib3's NewConnectionError (refused, no route) is a ConnectTimeoutError by descent
    only: it came at once."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, urllib3.exceptions.NewConnectionError):
            return False
        timeouts = (requests.exceptions.Timeout, urllib3.exceptions.TimeoutError, TimeoutError)
        if isinstance(seen, timeouts):
            return True
        seen = seen.__cause__ or seen.__context__
    return False
