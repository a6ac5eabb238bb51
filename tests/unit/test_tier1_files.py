"""The in-image check of installed files against their RECORD, on a tiny site-packages."""

from __future__ import annotations

import base64
import hashlib
import importlib
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from imagegate.scripts import scripts_dir


def smoke_module(name: str) -> ModuleType:
    """An in-image script as the collector imports it: a top-level module of its folder."""
    if str(scripts_dir()) not in sys.path:
        sys.path.insert(0, str(scripts_dir()))
    return importlib.import_module(name)


tier1_files = smoke_module("tier1_files")


def record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"sha256={digest}"


def install(site: Path, name: str, files: dict[str, bytes], *, top_level: str = "") -> None:
    """A distribution as an installer leaves it: its files, and a dist-info whose RECORD
    lists each with its hash and size (bytecode and RECORD itself without one)."""
    info = site / f"{name.replace('-', '_')}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    if top_level:
        (info / "top_level.txt").write_text(top_level + "\n")
    lines = []
    for relative, data in files.items():
        (site / relative).parent.mkdir(parents=True, exist_ok=True)
        (site / relative).write_bytes(data)
        hashed = relative.endswith(".pyc")
        lines.append(f"{relative},," if hashed else f"{relative},{record_hash(data)},{len(data)}")
    lines += [f"{info.name}/METADATA,,", f"{info.name}/RECORD,,"]
    (info / "RECORD").write_text("\n".join(lines) + "\n")


@pytest.fixture
def site(tmp_path: Path) -> Path:
    folder = tmp_path / "site-packages"
    install(
        folder,
        "pkg",
        {
            "pkg/__init__.py": b"VALUE = 1\n",
            "pkg/sub/mod.py": b"def f():\n    return 2\n",
            "pkg/_native.cpython-311-x86_64-linux-gnu.so": b"\x7fELF" + bytes(4096),
            "pkg/__pycache__/__init__.cpython-311.pyc": b"bytecode",
            "pkg/data.json": b"{}",
            "../../../bin/pkg-cli": b"#!/opt/venv/bin/python\n",
        },
    )
    install(folder, "solo", {"solo.py": b"X = 1\n"})
    install(folder, "ns-a", {"ns/a/__init__.py": b""}, top_level="ns")
    install(folder, "ns-b", {"ns/b/__init__.py": b"B = 1\n"}, top_level="ns")
    return folder


def check(site: Path) -> dict[str, Any]:
    result: dict[str, Any] = tier1_files.check(workers=3, search=[str(site)])
    return result


def problems(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {entry["name"]: entry for entry in result["problems"]}


def test_the_digest_is_the_wheel_specs_urlsafe_base64_without_padding(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    assert tier1_files.record_digest(str(empty), "sha256") == (
        "47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU"
    )
    big = tmp_path / "big"
    data = bytes(range(256)) * (3 * tier1_files.CHUNK // 256 + 7)  # several chunks and a tail
    big.write_bytes(data)
    assert f"sha256={tier1_files.record_digest(str(big), 'sha256')}" == record_hash(data)


def test_an_untouched_install_has_no_problems(site: Path) -> None:
    result = check(site)
    assert result["problems"] == []
    assert result["distributions"] == 4
    # every hashed entry, bytecode left out; the script outside site-packages included
    assert result["files"] == 8
    assert result["without_record"] == []


def test_a_changed_and_a_missing_file_are_named(site: Path) -> None:
    with (site / "pkg" / "sub" / "mod.py").open("a") as stream:
        stream.write("# changed after the install\n")
    (site / "solo.py").write_text("Y = 2\n")  # same size, other content
    (site / "pkg" / "_native.cpython-311-x86_64-linux-gnu.so").unlink()
    found = problems(check(site))
    assert found["pkg"]["changed"] == [str(site / "pkg" / "sub" / "mod.py")]
    assert found["pkg"]["missing"] == [
        str(site / "pkg" / "_native.cpython-311-x86_64-linux-gnu.so")
    ]
    assert found["solo"]["changed"] == [str(site / "solo.py")]
    assert set(found) == {"pkg", "solo"}


def test_rewritten_bytecode_is_not_a_problem(site: Path) -> None:
    (site / "pkg" / "__pycache__" / "__init__.cpython-311.pyc").write_bytes(b"recompiled")
    (site / "pkg" / "__pycache__" / "extra.cpython-311.pyc").write_bytes(b"written at import")
    assert check(site)["problems"] == []


def test_a_module_file_no_record_lists_is_named_data_files_are_not(site: Path) -> None:
    (site / "pkg" / "sub" / "evil.py").write_text("import os\n")
    (site / "pkg" / "evil_native.so").write_bytes(b"\x7fELF")
    (site / "pkg" / "notes.txt").write_text("not a module\n")
    (site / "solo.cpython-311-x86_64-linux-gnu.so").write_bytes(b"\x7fELF")
    found = problems(check(site))
    assert found["pkg"]["unlisted"] == [
        str(site / "pkg" / "evil_native.so"),
        str(site / "pkg" / "sub" / "evil.py"),
    ]
    assert found["solo"]["unlisted"] == [str(site / "solo.cpython-311-x86_64-linux-gnu.so")]


def test_a_shared_namespace_folder_is_judged_by_every_record_together(site: Path) -> None:
    assert check(site)["problems"] == []  # ns/a and ns/b each listed by another RECORD
    (site / "ns" / "b" / "stray.py").write_text("")
    (site / "ns" / "c").mkdir()
    (site / "ns" / "c" / "stray.py").write_text("")
    found = problems(check(site))
    assert found["ns-b"]["unlisted"] == [str(site / "ns" / "b" / "stray.py")]
    assert [str(site / "ns" / "c" / "stray.py")] in (
        found.get("ns-a", {}).get("unlisted"),
        found.get("ns-b", {}).get("unlisted"),
    )


def test_a_distribution_without_record_is_counted_not_checked(site: Path) -> None:
    (site / "solo-1.0.dist-info" / "RECORD").unlink()
    result = check(site)
    assert result["without_record"] == ["solo"]
    assert result["distributions"] == 3
    assert result["problems"] == []


def test_started_in_its_own_process_it_gives_the_same_result(
    site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTHONPATH", str(site))
    (site / "pkg" / "__init__.py").write_text("VALUE = 3\n")
    result = tier1_files.start(workers=2)()
    assert str(site / "pkg" / "__init__.py") in problems(result)["pkg"]["changed"]


def test_a_check_that_cannot_run_is_a_result_with_why() -> None:
    """The check's process failing (here: asked for no threads) is reported, not raised."""
    result = tier1_files.start(workers=0)()
    assert (result["files"], result["problems"]) == (0, [])
    assert "at least 1 thread" in result["error"]
