"""A trial's kept venv brought to the next lock: real uv, real (tiny) wheels, no Docker."""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

import pytest

from imagegate import trial, wheel_store
from imagegate.contract import REQUIREMENTS


@pytest.fixture(autouse=True)
def own_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(wheel_store.STORE_ENV, str(tmp_path / "cache" / "wheels"))
    monkeypatch.setenv("UV_CACHE_DIR", str(tmp_path / "uv"))


def wheelhouse(folder: Path, packages: dict[str, tuple[str, str]]) -> list[Path]:
    """One group of wheels, name -> (version, BUILD text), and its hash-pinned requirements."""
    group = folder / "rest"
    group.mkdir(parents=True)
    lines = []
    for name, (version, build) in packages.items():
        path = group / f"{name}-{version}-py3-none-any.whl"
        info = f"{name}-{version}.dist-info"
        files = {
            f"{name}/__init__.py": f"BUILD = {build!r}\n",
            f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
            f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
            "Tag: py3-none-any\n",
        }
        with zipfile.ZipFile(path, "w") as archive:
            for member, text in files.items():
                archive.writestr(member, text)
            archive.writestr(
                f"{info}/RECORD", "".join(f"{m},,\n" for m in [*files, f"{info}/RECORD"])
            )
        sha = hashlib.sha256(path.read_bytes()).hexdigest()
        lines.append(f"{name}=={version} --hash=sha256:{sha}\n")
    (group / REQUIREMENTS).write_text("".join(lines))
    return [group]


def bring(venv: Path, folder: Path, packages: dict[str, tuple[str, str]]) -> bool:
    groups = wheelhouse(folder, packages)
    return trial._bring(venv, groups, fresh=False, name="t")


def built(venv: Path, name: str) -> str | None:
    [site] = (venv / "lib").glob("python*/site-packages")
    module = site / name / "__init__.py"
    return module.read_text() if module.exists() else None


def test_a_kept_venv_is_synced_to_the_next_lock(tmp_path: Path) -> None:
    venv = tmp_path / "slot"
    made = bring(venv, tmp_path / "one", {"alpha": ("1.0", "a1"), "beta": ("1.0", "b1")})
    config = (venv / "pyvenv.cfg").stat().st_ino

    kept = bring(venv, tmp_path / "two", {"alpha": ("2.0", "a2")})

    assert (made, kept) == (False, True)
    assert (venv / "pyvenv.cfg").stat().st_ino == config  # the same venv, not made again
    assert built(venv, "alpha") == "BUILD = 'a2'\n"
    assert built(venv, "beta") is None  # what the new lock does not hold is gone


def test_another_wheel_of_the_same_version_is_installed_in_place_of_the_kept_one(
    tmp_path: Path,
) -> None:
    """uv keeps an installed 1.0 without looking at its hashes; the manifest knows better."""
    venv = tmp_path / "slot"
    bring(venv, tmp_path / "one", {"alpha": ("1.0", "first build")})

    assert bring(venv, tmp_path / "two", {"alpha": ("1.0", "second build")})

    assert built(venv, "alpha") == "BUILD = 'second build'\n"


@pytest.mark.parametrize(
    "spoil",
    [
        lambda manifest: manifest.unlink(),  # a trial killed halfway leaves none
        lambda manifest: manifest.write_text("{"),
        lambda manifest: manifest.write_text(
            json.dumps({**json.loads(manifest.read_text()), "python": "/another/python"})
        ),
    ],
    ids=["missing", "unreadable", "another-python"],
)
def test_a_venv_without_a_manifest_of_this_python_is_made_anew(tmp_path: Path, spoil) -> None:
    venv = tmp_path / "slot"
    bring(venv, tmp_path / "one", {"alpha": ("1.0", "a1")})
    (venv / "left-behind").write_text("")
    spoil(venv / trial.MANIFEST)

    assert not bring(venv, tmp_path / "two", {"alpha": ("1.0", "a1")})

    assert not (venv / "left-behind").exists()
    assert built(venv, "alpha") == "BUILD = 'a1'\n"


def test_slots_are_held_one_trial_each(tmp_path: Path) -> None:
    with trial._slot() as first, trial._slot() as second:
        assert first is not None and second is not None and first != second
    with trial._slot() as again:
        assert again == first  # released when the trial ended
