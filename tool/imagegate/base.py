"""Base images when no registry can be reached: a stand-in made from Debian's packages.

`debootstrap` installs a minimal Debian with Python into a folder; `docker import` turns it
into an image. A profile names the suite under `base.local`; a build uses the stand-in only
when the profile's own base image is neither here nor pullable.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass

from imagegate import files, progress, references, runner
from imagegate.engine import Engine
from imagegate.errors import EnvironmentProblem, ProfileError, UsageError
from imagegate.profiles import Profile

REPOSITORY = "imagegate-base"
PACKAGES = ("python3", "python3-venv")
DEBOOTSTRAP_TIMEOUT = 1800.0
_CHANGES = (
    "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "ENV LANG=C.UTF-8",
    'CMD ["python3"]',
)


@dataclass(frozen=True, kw_only=True)
class Chosen:
    ref: str
    why: str


def local_ref(suite: str) -> str:
    return f"{REPOSITORY}:{suite}"


def make(suite: str, engine: Engine, *, rebuild: bool = False, echo: bool = True) -> str:
    """The stand-in image for `suite`, made now unless it is already here."""
    ref = local_ref(suite)
    if not rebuild and engine.image(ref) is not None:
        return ref
    if shutil.which("debootstrap") is None:
        raise EnvironmentProblem(
            f"{ref}: debootstrap is not installed; `apt-get install debootstrap` and retry"
        )
    if os.geteuid() != 0:
        raise EnvironmentProblem(f"{ref}: debootstrap needs root; run `imagegate base` as root")
    with (
        progress.step("base", f"{ref} from Debian {suite} (about a minute)") as task,
        files.scratch("base") as folder,
    ):
        root = folder / "root"
        done = runner.run(
            ["debootstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}", suite, root],
            timeout=DEBOOTSTRAP_TIMEOUT,
            echo=echo,
            prefix="  debootstrap: ",
            watch=lambda line: _watch(task, line),
        )
        if not done.ok:
            raise EnvironmentProblem(f"{ref}: debootstrap {suite} failed: {done.tail(1)}")
        task.update("packing the root file system")
        tarball = folder / "root.tar"
        packed = runner.run(["tar", "-C", root, "-cf", tarball, "."], timeout=DEBOOTSTRAP_TIMEOUT)
        if not packed.ok:
            raise EnvironmentProblem(
                f"{ref}: packing the root file system failed: {packed.tail(1)}"
            )
        task.update(f"docker import {ref}")
        engine.import_rootfs(tarball, ref, _CHANGES)
    return ref


def _watch(task: progress.Task, line: str) -> None:
    """debootstrap's "I: Retrieving …" / "I: Unpacking …" lines as what the step does now."""
    if line.startswith("I: "):
        task.update(line[3:])


def choose(profile: Profile, engine: Engine, *, override: str | None = None) -> Chosen:
    """The base image a build of `profile` starts from, making the stand-in if need be."""
    if override is not None:
        if (message := references.problem(override)) is not None:
            raise UsageError(f"--base-image: {message}")
        if engine.image(override) is None and (why := engine.pull(override)) is not None:
            raise EnvironmentProblem(
                f"--base-image {override}: not here and cannot be pulled ({why})"
            )
        return Chosen(ref=override, why="--base-image")
    image = profile.base.image
    if engine.image(image) is not None:
        return Chosen(ref=image, why="present")
    why = engine.pull(image)
    if why is None:
        return Chosen(ref=image, why="pulled")
    if profile.base.local is None:
        raise EnvironmentProblem(
            f"{profile.path}: base.image: {image} is not here and cannot be pulled ({why}); "
            "pull it where a registry is reachable, or pass --base-image REF"
        )
    return Chosen(ref=make(profile.base.local, engine), why=f"{image} cannot be pulled")


def require_local(profile: Profile) -> str:
    if profile.base.local is None:
        raise ProfileError(
            f"{profile.path}: base.local: not set, so there is no Debian stand-in for "
            f"{profile.base.image}; set a suite such as 'bookworm' or pass --base-image REF"
        )
    return profile.base.local
