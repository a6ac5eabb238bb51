"""What `engine` hands Docker and reads back besides the SDK's calls: a folder as the tar
archive a container receives, BuildKit's plain log and a push's events as progress lines.
No Docker here: `engine` stays the only module that talks to it."""

from __future__ import annotations

import io
import re
import tarfile
from collections.abc import Mapping
from pathlib import Path

from imagegate import progress


def tar_folder(folder: Path, name: str) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        archive.add(folder, arcname=name, filter=_readable_by_anyone)
    return buffer.getvalue()


def _readable_by_anyone(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
    """Owned by root and readable by every user (an image's USER may be anyone); no caches."""
    if "__pycache__" in info.name:
        return None
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    info.mode = 0o755 if info.isdir() else 0o644
    return info


_BUILD_STEP = re.compile(r"^#\d+ (\[[^\]]+\] .+)")


_STEP_TITLE = re.compile(r"^#(\d+) \[[^\]]+\] RUN ")


class FirstRunning:
    """Reads BuildKit's plain log: True from the line that shows the first step whose title
    holds `marker` running (its output, "#7 0.186 Using Python …"); never where that step
    is CACHED."""

    def __init__(self, marker: str) -> None:
        self._marker = marker
        self._output: re.Pattern[str] | None = None
        """An output line of that step, once its title has been seen."""

    def __call__(self, line: str) -> bool:
        if self._output is None:
            titled = _STEP_TITLE.match(line)
            if titled is not None and self._marker in line:
                self._output = re.compile(rf"^#{titled[1]} \d+\.\d+ ")
            return False
        return self._output.match(line) is not None


def building(line: str) -> None:
    """BuildKit's plain log: each "#8 [stack 3/7] RUN …" line is what the build does now."""
    started = _BUILD_STEP.match(line)
    if started is not None:
        progress.current().update(started[1])


def pushing(layers: dict[str, tuple[str, int]], event: Mapping[str, object]) -> None:
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
