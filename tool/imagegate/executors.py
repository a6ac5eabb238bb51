"""Where a Python the tiers judge runs: on this machine, or in a fresh container from an image.

One interface, as testinfra puts "run a command over there" behind one backend, so that
collecting facts (`smoke`) does not care where: `HostPython` runs through `runner`,
`Container` through `engine`, and both answer with one `runner.Completed`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from imagegate import runner
from imagegate.contract import RUN_DIR
from imagegate.scripts import scripts_dir

if TYPE_CHECKING:
    from imagegate.engine import Engine


class Executor(Protocol):
    """A Python somewhere, and a way to run programs beside it."""

    @property
    def where(self) -> str:
        """What runs it, for messages: the interpreter's path, or the image."""
        ...

    @property
    def python(self) -> str:
        """The interpreter, as a path where it runs."""
        ...

    @property
    def scripts(self) -> str:
        """The folder that holds the in-image smoke scripts, as a path where they run."""
        ...

    def run(
        self,
        args: Sequence[str],
        *,
        timeout: float,
        env: Mapping[str, str] | None = None,
        gpus: bool = False,
    ) -> runner.Completed:
        """Run `args` (the program first) there; `env` adds to its environment. `gpus`
        gives a container this host's GPUs (a program on this machine always sees them)."""
        ...


@dataclass(frozen=True)
class HostPython:
    """A Python environment on this machine (a venv, a pod's interpreter). A program still
    running at its timeout is stopped and raises EnvironmentProblem (`runner.run`)."""

    path: Path
    env: Mapping[str, str] = field(default_factory=dict)
    """Added to every run's environment, over what the run itself asks for."""

    @property
    def where(self) -> str:
        return str(self.path)

    @property
    def python(self) -> str:
        return str(self.path)

    @property
    def scripts(self) -> str:
        return str(scripts_dir())

    def run(
        self,
        args: Sequence[str],
        *,
        timeout: float,
        env: Mapping[str, str] | None = None,
        gpus: bool = False,
    ) -> runner.Completed:
        return runner.run(args, timeout=timeout, env={**(env or {}), **self.env})


@dataclass(frozen=True)
class Container:
    """A Python in an image: each run is a fresh container, networking off, with the smoke
    scripts copied in. A run still going at its timeout is killed and says `timed_out`;
    its stdout is the result's `output` and its stderr the `errors`, kept apart."""

    engine: Engine
    image: str
    """The image ID (or reference) every container is started from."""
    python: str
    """The interpreter's absolute path in the image."""

    @property
    def where(self) -> str:
        return self.image

    @property
    def scripts(self) -> str:
        return RUN_DIR

    def run(
        self,
        args: Sequence[str],
        *,
        timeout: float,
        env: Mapping[str, str] | None = None,
        gpus: bool = False,
    ) -> runner.Completed:
        return self.engine.run(
            self.image,
            args,
            files={RUN_DIR: scripts_dir()},
            timeout=timeout,
            environment=env,
            gpus=gpus,
        )
