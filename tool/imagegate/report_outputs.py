"""Where a report goes besides stdout: a file (`--output`, written atomically) and GitHub
Actions' step summary (appended)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from imagegate.errors import EnvironmentProblem, UsageError
from imagegate.files import write_atomic


def write(path: Path, text: str) -> None:
    """Write a report atomically, so a CI reporter never reads half of one."""
    try:
        write_atomic(path, text)
    except OSError as error:
        raise UsageError(
            f"--output {path}: the report cannot be written there "
            f"({error.strerror or error}); pass the path of a file in a writable folder"
        ) from None


def append_step_summary(markdown: str, environ: Mapping[str, str] = os.environ) -> bool:
    """Append to the file GitHub Actions names in GITHUB_STEP_SUMMARY; False outside Actions.

    Appended, never replaced: every step of a job, and every image of a matrix, shares it.
    """
    target = environ.get("GITHUB_STEP_SUMMARY")
    if not target:
        return False
    try:
        with open(target, "a", encoding="utf-8") as stream:
            stream.write(markdown if markdown.endswith("\n") else markdown + "\n")
            stream.write("\n")
    except OSError as error:
        raise EnvironmentProblem(
            f"GITHUB_STEP_SUMMARY={target}: the step summary cannot be appended "
            f"({error.strerror or error}); the report is on stdout"
        ) from None
    return True
