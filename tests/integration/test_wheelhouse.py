"""The wheelhouse heals itself against the profile (seed 000), with real wheels from pip."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import imagegate

STALE = "transformers==4.57.3"


@pytest.fixture(scope="module")
def stale_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("stale")
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "-d", str(folder), STALE],
        check=True,
        capture_output=True,
    )
    [wheel] = folder.glob("transformers-4.57.3-*.whl")
    return wheel


def test_a_stale_transformers_wheel_is_replaced(project: Path, stale_wheel: Path) -> None:
    profiles = str(project / "profiles")
    assert imagegate("wheelhouse", "cpu", "--profiles", profiles).code == 0
    rest = project / "wheelhouse" / "cpu" / "rest"
    [good] = rest.glob("transformers-4.51.3-*.whl")
    good.unlink()
    (rest / stale_wheel.name).write_bytes(stale_wheel.read_bytes())
    [numpy] = rest.glob("numpy-*.whl")
    numpy.write_bytes(numpy.read_bytes()[:4096])  # a download cut short

    run = imagegate("wheelhouse", "cpu", "--profiles", profiles)

    assert run.code == 0, run.stderr[-2000:]
    assert (
        f"replaced  rest/{stale_wheel.name}: version 4.57.3 but transformers==4.51.3 is locked"
    ) in run.stdout
    assert f"replaced  rest/{numpy.name}: damaged" in run.stdout
    assert "fetched   rest/transformers-4.51.3-py3-none-any.whl" in run.stdout
    assert "kept      protected/torch-2.13.0+cpu-" in run.stdout
    assert sorted(p.name for p in rest.glob("transformers-*")) == [good.name]
    assert numpy.stat().st_size > 1_000_000


def test_a_wheel_whose_bytes_changed_is_not_reused(project: Path) -> None:
    profiles = str(project / "profiles")
    assert imagegate("wheelhouse", "cpu", "--profiles", profiles).code == 0
    [tqdm] = (project / "wheelhouse" / "cpu" / "rest").glob("tqdm-*.whl")
    original = tqdm.read_bytes()
    tqdm.write_bytes(original + b"\0")  # still opens as a zip; its hash no longer matches

    run = imagegate("wheelhouse", "cpu", "--profiles", profiles)

    assert run.code == 0
    assert (
        f"replaced  rest/{tqdm.name}: damaged or another build: its sha256 is not in the lock"
        in run.stdout
    )
    assert tqdm.read_bytes() == original


def test_a_failed_fetch_leaves_the_previous_wheelhouse(project: Path) -> None:
    profiles = project / "profiles"
    assert imagegate("wheelhouse", "cpu", "--profiles", str(profiles)).code == 0
    before = sorted(p.name for p in (project / "wheelhouse" / "cpu").rglob("*.whl"))
    lock_before = (profiles / "pylock.cpu.toml").read_bytes()
    common = profiles / "_common.yaml"
    common.write_text(common.read_text().replace('peft: "0.13.2"', 'peft: "0.13.99"'))

    run = imagegate("wheelhouse", "cpu", "--profiles", str(profiles))

    assert run.code == 2, run.stderr[-2000:]
    assert "pins.peft" in run.stderr.strip().splitlines()[-1]
    after = sorted(p.name for p in (project / "wheelhouse" / "cpu").rglob("*.whl"))
    assert after == before
    assert (profiles / "pylock.cpu.toml").read_bytes() == lock_before


def test_a_lock_edited_by_hand_is_refused_and_changes_nothing(project: Path) -> None:
    profiles = project / "profiles"
    assert imagegate("wheelhouse", "cpu", "--profiles", str(profiles)).code == 0
    lock = profiles / "pylock.cpu.toml"
    text = lock.read_text()
    start = text.index('name = "tqdm"')
    digest_at = text.index('sha256 = "', start) + len('sha256 = "')
    lock.write_text(text[:digest_at] + "0" * 64 + text[digest_at + 64 :])
    before = sorted(p.name for p in (project / "wheelhouse" / "cpu").rglob("*.whl"))

    run = imagegate("wheelhouse", "cpu", "--profiles", str(profiles))

    assert run.code == 2, run.stderr[-2000:]
    last = run.stderr.strip().splitlines()[-1]
    assert str(lock) in last and "edited by hand" in last
    assert last.endswith("run `imagegate lock cpu`")
    after = sorted(p.name for p in (project / "wheelhouse" / "cpu").rglob("*.whl"))
    assert after == before


def test_a_second_project_takes_the_wheels_from_the_store_never_a_changed_one(
    project: Path, tmp_path: Path
) -> None:
    env = {"IMAGEGATE_WHEEL_STORE": str(tmp_path / "store")}
    first = imagegate("wheelhouse", "cpu", "--profiles", str(project / "profiles"), env=env)
    assert first.code == 0, first.stderr[-2000:]
    assert "from the wheel store" not in first.stdout  # an empty store: pip fetched each
    [tqdm] = (tmp_path / "store").glob("*/*/tqdm-*.whl")
    tqdm.write_bytes(tqdm.read_bytes() + b"\0")  # still a zip, not the locked bytes
    second = tmp_path / "second"
    second.mkdir()
    shutil.copytree(project / "profiles", second / "profiles")

    run = imagegate("wheelhouse", "cpu", "--profiles", str(second / "profiles"), env=env)

    assert run.code == 0, run.stderr[-2000:]
    fetched = [line for line in run.stdout.splitlines() if line.startswith("fetched   ")]
    assert f"fetched   rest/{tqdm.name}" in fetched  # by pip: the stored one is not the lock's
    assert len(fetched) > 20
    assert all(line.endswith(" (from the wheel store)") for line in fetched if "tqdm" not in line)
    mine = second / "wheelhouse" / "cpu" / "rest" / tqdm.name
    assert mine.read_bytes() == (project / "wheelhouse" / "cpu" / "rest" / tqdm.name).read_bytes()
    assert tqdm.read_bytes() == mine.read_bytes()  # the store mended by pip's fetch
    again = imagegate("wheelhouse", "cpu", "--profiles", str(second / "profiles"), env=env)
    assert f"kept {len(fetched)}," in again.stdout.splitlines()[-1]  # every wheel the lock's
