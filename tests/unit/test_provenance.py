"""The OCI source and revision labels, read from a real git checkout made in the test."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from imagegate.provenance import REVISION, SOURCE, labels, without_credentials


def git(root: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@t", *args],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    git(tmp_path, "init", "-q")
    (tmp_path / "cpu.Dockerfile").write_text("FROM scratch\n")
    (tmp_path / "README.md").write_text("notes\n")
    git(tmp_path, "add", ".")
    git(tmp_path, "commit", "-q", "-m", "first")
    return tmp_path


def test_a_clean_checkout_labels_its_head_and_its_remote_without_credentials(
    checkout: Path,
) -> None:
    git(checkout, "remote", "add", "origin", "https://someone:s3cret@example.org/team/stack.git")
    found = labels(checkout, [checkout / "cpu.Dockerfile"])
    assert found == {
        REVISION: git(checkout, "rev-parse", "HEAD"),
        SOURCE: "https://example.org/team/stack.git",
    }


def test_an_edited_input_marks_the_revision_dirty_and_other_files_do_not(checkout: Path) -> None:
    head = git(checkout, "rev-parse", "HEAD")
    (checkout / "README.md").write_text("more notes\n")
    assert labels(checkout, [checkout / "cpu.Dockerfile"]) == {REVISION: head}
    (checkout / "cpu.Dockerfile").write_text("FROM scratch\nRUN true\n")
    assert labels(checkout, [checkout / "cpu.Dockerfile"]) == {REVISION: f"{head}-dirty"}


def test_outside_a_checkout_there_are_no_labels(tmp_path: Path) -> None:
    assert labels(tmp_path, [tmp_path / "cpu.Dockerfile"]) == {}


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://user:token@github.com/o/r.git", "https://github.com/o/r.git"),
        ("https://github.com/o/r.git", "https://github.com/o/r.git"),
        ("git@github.com:o/r.git", "git@github.com:o/r.git"),
        ("/srv/git/r.git", "/srv/git/r.git"),
    ],
)
def test_remote_urls_lose_only_their_credentials(url: str, shown: str) -> None:
    assert without_credentials(url) == shown
