"""Where an image's inputs came from: the OCI `source` and `revision` labels.

The labels that follow from the inputs alone (`title`, the profile; `version`, the lock's
digest) are written into the rendered Dockerfile. These two are given to `docker build` as
labels instead: a commit the Dockerfile named would change it, and so the build inputs,
with every commit, and `render --check` could never pass (the Dockerfile would have to name
the commit that holds it). Given at build time they never force a build: an image whose
inputs are unchanged is not rebuilt and keeps the revision it was first built at, one
whose inputs are byte for byte those of the current one. No label says when it was built.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from imagegate import runner
from imagegate.errors import EnvironmentProblem

SOURCE = "org.opencontainers.image.source"
REVISION = "org.opencontainers.image.revision"
TIMEOUT = 30.0


def labels(root: Path, inputs: Sequence[Path]) -> dict[str, str]:
    """`source` (the `origin` remote, without any credentials) and `revision` (HEAD, with
    `-dirty` when an input differs from it) of the git checkout holding `root`; none of
    either outside a checkout, or where git is not installed."""
    head = _git(root, "rev-parse", "--verify", "HEAD")
    if head is None:
        return {}
    found = {REVISION: head}
    changed = _git(root, "status", "--porcelain", "--", *(str(path) for path in inputs))
    if changed:
        found[REVISION] = f"{head}-dirty"
    remote = _git(root, "config", "--get", "remote.origin.url")
    if remote:
        found[SOURCE] = without_credentials(remote)
    return found


def without_credentials(url: str) -> str:
    """A remote URL as it may be shown: `https://user:token@host/x` loses `user:token@`."""
    parts = urlsplit(url)
    if not parts.scheme or "@" not in parts.netloc:
        return url  # a path, or scp-like `git@host:org/repo.git`, whose user is no secret
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def _git(root: Path, *args: str) -> str | None:
    """git's answer, stripped; None when git is missing or says no (not a checkout)."""
    try:
        done = runner.run(["git", "-C", str(root), *args], timeout=TIMEOUT)
    except EnvironmentProblem:
        return None
    return done.output.strip() if done.ok else None
