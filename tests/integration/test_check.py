"""Preflight and locks against the real resolver (uv) and real indexes: fast, exact, clear."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from .conftest import Run, findings, imagegate, refusing_index
from .test_broken_stack import VARIANT


def variant(project: Path, name: str, text: str) -> str:
    (project / "profiles" / f"{name}.yaml").write_text(text)
    return str(project / "profiles")


def check(profiles: str, *args: str) -> Run:
    return imagegate("check", *args, "--format", "json", "--profiles", profiles)


def test_check_passes_on_the_shipped_profiles_with_a_lock(workspace: Path) -> None:
    """A fresh committed lock is judged without any index: no network needed."""
    locked = sorted(p.name.split(".")[1] for p in (workspace / "profiles").glob("pylock.*.toml"))
    assert {"cpu", "cuda130"} <= set(locked)
    run = imagegate("check", *locked, "--format", "json")
    assert run.code == 0, run.stdout[-3000:]
    rows = findings(run.json())
    assert rows[("pin", "cpu: torch")]["actual"] == "2.13.0+cpu"
    assert rows[("lock", "cuda130: pylock.cuda130.toml")]["status"] == "OK"
    assert all(row["status"] == "OK" for row in rows.values())


def test_a_pin_behind_an_unreachable_index_is_not_a_pass(project: Path) -> None:
    """torch 2.99.0 exists nowhere and its index refuses connections: everything else the
    profile says is still judged, then the run exits 3 naming the index."""
    index = refusing_index()
    text = f'extends: cpu\nindexes:\n  pytorch-cpu: {index}\npins:\n  torch: "2.99.0"\n'
    profiles = variant(project, "ghost-torch", text + '  numpy: "2.0.2"\n')
    run = check(profiles, "ghost-torch")
    assert run.code == 3, run.stderr[-2000:]
    last = run.stderr.strip().splitlines()[-1]
    assert "ghost-torch" in last and "pytorch-cpu" in last and index in last
    document = run.json()
    assert index in document["environment_problem"]
    rows = findings(document)
    assert rows[("lock", "ghost-torch: pylock.ghost-torch.toml")]["status"] == "SKIPPED"
    invariant = rows[("invariant", "ghost-torch: numpy")]
    assert (invariant["status"], invariant["actual"]) == ("WRONG VERSION", "2.0.2")
    assert not [row for row in rows.values() if row["check"] == "pin"]  # nothing resolved

    alone = check(variant(project, "only-ghost", text), "only-ghost")
    assert alone.code == 3
    assert not [r for r in alone.json()["findings"] if r["status"] not in ("OK", "SKIPPED")]
    assert not (project / "profiles" / "pylock.only-ghost.toml").exists()


def test_a_conflicting_pin_is_rejected_with_the_clash(project: Path) -> None:
    profiles = variant(project, "clash", 'extends: cpu\npins:\n  tokenizers: "0.19.0"\n')
    narrow = {"COLUMNS": "80"}  # as a CI runner may export it: the resolver's words all kept
    run = imagegate("check", "clash", "--format", "json", "--profiles", profiles, env=narrow)
    assert run.code == 1
    row = findings(run.json())[("resolve", "clash: pins")]
    assert row["status"] == "BROKEN"
    assert "tokenizers" in row["evidence"] and "0.19.0" in row["evidence"]


def test_numpy_2_pulled_by_a_dependency_breaks_the_invariant(project: Path) -> None:
    profiles = variant(project, "floating", "extends: cpu\npins:\n  numpy: null\n")
    run = check(profiles, "floating")
    assert run.code == 1
    row = findings(run.json())[("invariant", "floating: numpy")]
    assert row["status"] == "WRONG VERSION"
    assert row["expected"] == "<2" and row["actual"].startswith("2.")


def test_a_known_issue_in_the_closure_is_reported(project: Path) -> None:
    profiles = variant(project, "pandas-numpy2", VARIANT)
    run = check(profiles, "pandas-numpy2")
    assert run.code == 1
    row = findings(run.json())[("known-issue", "pandas-numpy2: pandas-built-for-numpy1")]
    assert row["status"] == "BROKEN"
    assert "numpy.dtype size changed" in row["evidence"]


def test_check_deep_catches_the_runtime_break_in_a_venv(project: Path) -> None:
    profiles = variant(project, "pandas-numpy2", VARIANT)
    run = check(profiles, "pandas-numpy2", "--deep")
    assert run.code == 1, run.stderr[-2000:]
    rows = findings(run.json())
    pandas = rows[("import", "pandas-numpy2: pandas")]
    assert pandas["tier"] == 2 and pandas["status"] == "BROKEN"
    assert "numpy.dtype size changed" in pandas["evidence"]
    assert rows[("pin", "pandas-numpy2: torch")]["actual"] == "2.13.0+cpu"
    assert rows[("import", "pandas-numpy2: transformers")]["status"] == "OK"


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("ghost", 'extends: cpu\npins:\n  peft: "0.13.99"\n', ("pins.peft", "0.13.99")),
        (
            "old-python",
            'extends: cpu\ntarget:\n  python: "3.8"\npins:\n  torch: null\nprotected: []\n',
            ("pins", "accelerate"),
        ),
    ],
)
def test_lock_refuses_bad_pins_and_keeps_the_previous_lock(
    project: Path, name: str, text: str, expected: tuple[str, ...]
) -> None:
    profiles = variant(project, name, text)
    lock = project / "profiles" / f"pylock.{name}.toml"
    lock.write_text("# the previous lock\n")

    run = imagegate("lock", name, "--profiles", profiles)

    assert run.code == 2, run.stderr[-2000:]
    last = run.stderr.strip().splitlines()[-1]
    assert str(project / "profiles" / f"{name}.yaml") in last
    assert all(word in last for word in expected)
    assert lock.read_text() == "# the previous lock\n"


def test_lock_names_the_index_it_cannot_reach(project: Path) -> None:
    index = refusing_index()
    text = f'extends: cpu\nindexes:\n  pytorch-cpu: {index}\npins:\n  torch: "2.99.0"\n'
    profiles = variant(project, "unreachable", text)
    run = imagegate("lock", "unreachable", "--profiles", profiles)
    assert run.code == 3
    last = run.stderr.strip().splitlines()[-1]
    assert "pytorch-cpu" in last and index in last
    assert not (project / "profiles" / "pylock.unreachable.toml").exists()


def size(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def test_deep_checks_from_other_folders_share_one_unpacked_torch(
    tmp_path: Path, cpu_wheelhouse: Path, workspace: Path
) -> None:
    """uv's cache knows a local wheel by its path: trials install from the wheel store, so
    a second project's deep check does not add another unpacked torch to that cache; the
    first trial's venv is kept and synced for the second, and the bytecode the first
    compiled for torch serves the second."""
    env = {"UV_CACHE_DIR": str(tmp_path / "uv"), "IMAGEGATE_WHEEL_STORE": str(tmp_path / "store")}
    projects = []
    for name in ("one", "two"):
        shutil.copytree(workspace / "profiles", tmp_path / name / "profiles")
        shutil.copytree(cpu_wheelhouse, tmp_path / name / "wheelhouse" / "cpu")
        projects.append(tmp_path / name / "profiles")

    first = imagegate("check", "cpu", "--deep", "--profiles", str(projects[0]), env=env)
    assert first.code == 0, first.stderr[-2000:]
    venv_config = next((tmp_path / "trial-slots").glob("[0-9]/pyvenv.cfg")).stat().st_ino
    after_first = size(tmp_path / "uv")
    [compiled] = (tmp_path / "pycache").rglob("site-packages/torch/__init__.cpython-311.pyc")
    compiled_at = compiled.stat().st_mtime_ns
    second = imagegate("check", "cpu", "--deep", "--profiles", str(projects[1]), env=env)

    assert second.code == 0, second.stderr[-2000:]
    assert after_first > 300_000_000  # torch unpacked once
    assert size(tmp_path / "uv") - after_first < 20_000_000  # and not again
    # torch's modules were compiled by the first trial and loaded by the second as they were
    assert compiled.stat().st_mtime_ns == compiled_at
    # in the venv the first trial kept: synced to the second's lock, not made again
    [slot] = (tmp_path / "trial-slots").glob("[0-9]")
    assert (slot / "pyvenv.cfg").stat().st_ino == venv_config

    # a kept venv is judged, not trusted: a file changed in it since, the trial is judged in
    # a venv made anew (the file replaced, not written through: it is a link to uv's cache)
    [module] = slot.glob("lib/python*/site-packages/torch/version.py")
    original = module.read_bytes()
    module.unlink()
    module.write_bytes(original + b"cuda = '13.0'\n")
    third = imagegate("check", "cpu", "--deep", "--profiles", str(projects[1]), env=env)

    assert third.code == 0, third.stderr[-2000:]
    assert module.read_bytes() == original
    assert (slot / "pyvenv.cfg").stat().st_ino != venv_config


def test_check_deep_all_reports_every_profile_when_some_cannot_be_checked(project: Path) -> None:
    """One profile's pins clash and another's index refuses connections: each is a finding
    (BROKEN, SKIPPED) of the one report, and the healthy profile checked after them is
    still checked in full, deep included; the exit is 3, naming the index."""
    for path in (project / "profiles").glob("*.yaml"):
        if path.stem not in ("cpu", "_common"):
            path.unlink()
    variant(project, "clash", 'extends: cpu\npins:\n  tokenizers: "0.19.0"\n')
    index = refusing_index()
    ghost = f'extends: cpu\nindexes:\n  pytorch-cpu: {index}\npins:\n  torch: "2.99.0"\n'
    profiles = variant(project, "ghost", ghost)

    run = check(profiles, "--all", "--deep")

    assert run.code == 3, run.stderr[-2000:]
    assert "Traceback" not in run.stderr
    document = run.json()
    assert index in document["environment_problem"]
    rows = findings(document)
    assert rows[("deep", "clash: clash")]["status"] == "BROKEN"
    assert "tokenizers" in rows[("deep", "clash: clash")]["evidence"]
    assert rows[("deep", "ghost: ghost")]["status"] == "SKIPPED"
    assert index in rows[("deep", "ghost: ghost")]["evidence"]
    cpu = {key: row for key, row in rows.items() if key[1].startswith("cpu: ")}
    assert cpu[("import", "cpu: torch")]["tier"] == 2
    assert cpu[("pin", "cpu: torch")]["actual"] == "2.13.0+cpu"
    assert all(row["status"] in ("OK", "SKIPPED") for row in cpu.values()), cpu


def test_a_check_that_cannot_reach_an_index_never_says_passed(project: Path) -> None:
    """`check --all` as a person runs it (a table): one profile's index refuses connections,
    nothing judged failed; the verdict line says what the exit code (3) says."""
    for path in (project / "profiles").glob("*.yaml"):
        if path.stem not in ("cpu", "_common"):
            path.unlink()
    index = refusing_index()
    ghost = f'extends: cpu\nindexes:\n  pytorch-cpu: {index}\npins:\n  torch: "2.99.0"\n'
    profiles = variant(project, "ghost", ghost)

    run = imagegate("check", "--all", "--profiles", profiles)

    assert run.code == 3, run.stderr[-2000:]
    assert "PASSED" not in run.stdout
    assert run.stdout.strip().splitlines()[-1].startswith("preflight: NOT PROVEN")
