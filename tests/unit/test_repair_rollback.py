"""A rollback puts files back without writing into them: a venv's files are often hard
links into uv's cache."""

from __future__ import annotations

import os
from pathlib import Path

from imagegate import journal as journals
from imagegate import repair


def test_a_rollback_replaces_a_file_it_finds_instead_of_writing_through_its_links(
    tmp_path: Path,
) -> None:
    cache = tmp_path / "uv-cache" / "module.py"
    cache.parent.mkdir()
    cache.write_text("the cache's bytes\n")
    installed = tmp_path / "venv" / "site-packages" / "pkg" / "module.py"
    installed.parent.mkdir(parents=True)
    os.link(cache, installed)  # as uv installs it
    journal = journals.Journal(
        folder=tmp_path / "venv" / journals.FOLDER,
        versions={},
        targets=(),
        files={"pkg": (str(installed),)},
    )
    saved = journal.saved(str(installed))
    saved.parent.mkdir(parents=True)
    saved.write_text("as the repair found it\n")

    repair.rollback(tmp_path / "venv" / "bin" / "python", journal)

    assert installed.read_text() == "as the repair found it\n"
    assert cache.read_text() == "the cache's bytes\n"  # the link was replaced, not written into
    assert not journal.folder.exists()
    assert [p.name for p in installed.parent.iterdir()] == ["module.py"]
