"""Where an imported module came from, judged in-process on a tiny site-packages and a
shadowing copy of its package earlier on sys.path."""

from __future__ import annotations

import importlib
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .test_tier1_files import install, smoke_module

tier2_origins = smoke_module("tier2_origins")

NAME = "imagegate_probe_pkg"


@pytest.fixture
def site(tmp_path: Path) -> Path:
    folder = tmp_path / "site-packages"
    install(folder, "probe-pkg", {f"{NAME}/__init__.py": b"VALUE = 1\n"}, top_level=NAME)
    install(folder, "probe-ns", {"probe_ns/part/__init__.py": b""}, top_level="probe_ns")
    return folder


@pytest.fixture
def fresh_import(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """import_module with the probe modules forgotten before and after."""

    def forget() -> None:
        for name in list(sys.modules):
            if name.split(".")[0] in (NAME, "probe_ns"):
                del sys.modules[name]
        importlib.invalidate_caches()

    forget()
    yield importlib.import_module
    forget()


def test_a_module_from_its_own_files_is_not_foreign(
    site: Path, monkeypatch: pytest.MonkeyPatch, fresh_import: Any
) -> None:
    monkeypatch.syspath_prepend(str(site))
    result = tier2_origins.check(fresh_import(NAME), ["probe-pkg"])
    assert result["paths"] == [str(site / NAME / "__init__.py")]
    assert result["foreign"] == []


def test_a_copy_on_pythonpath_is_named_with_its_entry(
    site: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_import: Any
) -> None:
    shadow = tmp_path / "shadow"
    shutil.copytree(site / NAME, shadow / NAME)
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.syspath_prepend(str(shadow))
    monkeypatch.setenv("PYTHONPATH", str(shadow))
    result = tier2_origins.check(fresh_import(NAME), ["probe-pkg"])
    [foreign] = result["foreign"]
    assert foreign == {
        "path": str(shadow / NAME / "__init__.py"),
        "entry": str(shadow),
        "via": "PYTHONPATH",
    }


def test_a_namespace_package_is_judged_by_each_folder_of_its_path(
    site: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_import: Any
) -> None:
    extra = tmp_path / "extra"
    (extra / "probe_ns" / "evil").mkdir(parents=True)
    monkeypatch.syspath_prepend(str(extra))
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.delenv("PYTHONPATH", raising=False)
    result = tier2_origins.check(fresh_import("probe_ns"), ["probe-ns"])
    assert result["paths"] == [str(site / "probe_ns"), str(extra / "probe_ns")]
    assert [place["path"] for place in result["foreign"]] == [str(extra / "probe_ns")]


def test_what_put_an_entry_on_sys_path(tmp_path: Path) -> None:
    site = tmp_path / "site-packages"
    site.mkdir()
    (site / "plain.pth").write_text("# a comment\n../added\n")
    (site / "code.pth").write_text("import sys; sys.path.insert(0, '/shadow-pth')\n")
    lines = tier2_origins.pth_lines([str(site), str(tmp_path / "absent")])
    via = tier2_origins.via
    added = str(tmp_path / "added")
    assert via(added, 5, "", lines) == f".pth file {site / 'plain.pth'}"
    assert via("/shadow-pth", 0, "", lines) == f".pth file {site / 'code.pth'}"
    assert via("/a", 1, f"/b{os.pathsep}/a", lines) == "PYTHONPATH"
    assert via("", 0, "", lines) == "the working directory"
    assert via(os.getcwd(), 0, "", lines) == "the working directory"
    assert via("/nowhere/known", 3, "", lines) == "sys.path"


def test_the_entry_holding_a_path_is_the_longest_that_contains_it() -> None:
    entries = ["/opt", "/opt/venv/lib/site-packages", "/opt/venv"]
    found = tier2_origins.entry_of("/opt/venv/lib/site-packages/x/__init__.py", entries)
    assert found == (1, "/opt/venv/lib/site-packages")
    assert tier2_origins.entry_of("/srv/x.py", entries) is None
