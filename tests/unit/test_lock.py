"""Locks: parsing pylock.toml, the inputs digest, staleness, constraints, and the shipped locks."""

from __future__ import annotations

import copy
import hashlib
import json
import tomllib
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml
from packaging.utils import parse_wheel_filename
from packaging.version import Version

from imagegate.bisect import marker_environment
from imagegate.errors import ProfileError
from imagegate.lock import (
    Lock,
    body_digest,
    constraints,
    inputs_digest,
    lock_path,
    portable,
    read_fresh,
    staleness,
)
from imagegate.profiles import Profile, load_profile

SHIPPED = Path(__file__).resolve().parents[2] / "profiles"
SHIPPED_LOCKS = sorted(SHIPPED.glob("pylock.*.toml"))

TORCH_CPU = "torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl"
NUMPY = "numpy-1.26.4-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"

DEMO: dict[str, Any] = {
    "description": "a profile for the lock tests",
    "target": {"python": "3.11", "platform": "manylinux_2_36_x86_64"},
    "base": {"image": "python:3.11-slim-bookworm"},
    "indexes": {"pytorch-cpu": "https://download.pytorch.org/whl/cpu"},
    "sources": {"torch": "pytorch-cpu"},
    "pins": {"torch": "2.13.0+cpu", "transformers": "4.51.3"},
    "protected": ["torch"],
    "invariants": {"numpy": "<2"},
}


# --- helpers that write real profile and lock files ----------------------------------------


def sha_of(filename: str) -> str:
    """A distinct, stable sha256 per wheel file name."""
    return hashlib.sha256(filename.encode()).hexdigest()


def wheel_name(name: str, version: str, tag: str = "py3-none-any") -> str:
    return f"{name.replace('-', '_')}-{version}-{tag}.whl"


def package(name: str, version: str, *filenames: str) -> str:
    """One `[[packages]]` table as uv writes it; wheels default to one pure-Python wheel."""
    files = filenames or (wheel_name(name, version),)
    wheels = ", ".join(
        f'{{ url = "file:///opt/wheels/{f}", hashes = {{ sha256 = "{sha_of(f)}" }} }}'
        for f in files
    )
    return f'[[packages]]\nname = "{name}"\nversion = "{version}"\nwheels = [{wheels}]\n'


def lock_text(
    *packages: str,
    profile: str = "demo",
    inputs: str = "",
    protected: Iterable[str] = (),
    tool: bool = True,
) -> str:
    head = (
        "# Written by `imagegate lock demo` from demo.yaml; do not edit.\n"
        'lock-version = "1.0"\ncreated-by = "uv"\nrequires-python = ">=3.11"\n\n'
    )
    body = head + "\n".join(packages)
    table = (
        "\n[tool.imagegate]\n"
        f"profile = {json.dumps(profile)}\n"
        f"inputs = {json.dumps(inputs)}\n"
        f"protected = {json.dumps(sorted(protected))}\n"
        f"body = {json.dumps(body_digest(tomllib.loads(body)))}\n"
    )
    return body + (table if tool else "")


def make_profile(directory: Path, name: str = "demo", **changes: Any) -> Profile:
    """Write `DEMO` with top-level sections replaced by `changes` and load it for real."""
    directory.mkdir(parents=True, exist_ok=True)
    data = copy.deepcopy(DEMO) | changes
    (directory / f"{name}.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")
    return load_profile(name, directory)


def closure(**overrides: str) -> list[str]:
    """The demo profile's closure: torch and its protected dependency, transformers and its."""
    versions = {
        "filelock": "3.16.1",
        "torch": "2.13.0+cpu",
        "transformers": "4.51.3",
        "tokenizers": "0.21.1",
    } | overrides
    wheels = {"torch": (f"torch-{versions['torch']}-cp311-cp311-manylinux_2_28_x86_64.whl",)}
    return [package(n, v, *wheels.get(n, ())) for n, v in versions.items() if v]


PROTECTED_CLOSURE = ("filelock", "torch")


def write_lock(profile: Profile, *packages: str, inputs: str | None = None) -> Path:
    """A lock beside the profile; by default its inputs digest is the profile's own."""
    path = lock_path(profile)
    digest = inputs_digest(profile) if inputs is None else inputs
    text = lock_text(*packages, profile=profile.name, inputs=digest, protected=PROTECTED_CLOSURE)
    path.write_text(text, encoding="utf-8")
    return path


def requirement_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line and not line.startswith("#")]


# --- Lock.parse ------------------------------------------------------------------------------

WHERE = Path("/somewhere/profiles/pylock.demo.toml")


def parsed(*packages: str, protected: Iterable[str] = ()) -> Lock:
    text = lock_text(*packages, inputs="abc123", protected=protected)
    return Lock.parse(text.encode(), WHERE)


def test_parse_keeps_names_and_exact_versions_with_local_labels() -> None:
    lock = parsed(package("torch", "2.13.0+cpu", TORCH_CPU), package("numpy", "1.26.4", NUMPY))

    assert list(lock.packages) == ["torch", "numpy"]
    torch = lock.packages["torch"]
    assert torch.version == Version("2.13.0+cpu")
    assert str(torch.version) == "2.13.0+cpu"
    assert torch.version != Version("2.13.0")
    assert lock.packages["numpy"].version == Version("1.26.4")


def test_parse_reads_the_tool_table_and_hashes_the_file() -> None:
    text = lock_text(package("torch", "2.13.0+cpu", TORCH_CPU), inputs="abc123")
    lock = Lock.parse(text.encode(), WHERE)

    assert lock.path == WHERE
    assert lock.profile == "demo"
    assert lock.inputs == "abc123"
    assert lock.sha256 == hashlib.sha256(text.encode()).hexdigest()


def test_parse_keeps_each_wheel_with_its_file_name_url_and_sha256() -> None:
    other = "torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_aarch64.whl"
    lock = parsed(package("torch", "2.13.0+cpu", TORCH_CPU, other))

    wheels = lock.packages["torch"].wheels
    assert [w.filename for w in wheels] == [TORCH_CPU, other]
    assert [w.sha256 for w in wheels] == [sha_of(TORCH_CPU), sha_of(other)]
    assert wheels[0].url == f"file:///opt/wheels/{TORCH_CPU}"


def test_parse_marks_the_protected_closure_from_the_tool_table() -> None:
    lock = parsed(*closure(), protected=["Typing_Extensions", "filelock", "torch"])

    flags = {name: locked.protected for name, locked in lock.packages.items()}
    assert flags == {
        "filelock": True,
        "torch": True,
        "transformers": False,
        "tokenizers": False,
    }


def test_a_lock_without_the_tool_table_was_not_written_by_imagegate() -> None:
    text = lock_text(*closure(), tool=False)

    with pytest.raises(ProfileError, match=r"edited by hand .*; run `imagegate lock demo`$"):
        Lock.parse(text.encode(), WHERE)


def _edited(text: str, old: str, new: str) -> bytes:
    assert old in text
    return text.replace(old, new, 1).encode()


@pytest.mark.parametrize(
    "edit",
    [
        pytest.param(lambda t: _edited(t, sha_of(TORCH_CPU), "0" * 64), id="hash"),
        pytest.param(lambda t: t.replace("4.51.3", "4.51.2").encode(), id="version"),
        pytest.param(
            lambda t: _edited(t, "[[packages]]", package("extra", "1.0") + "\n[[packages]]"),
            id="added",
        ),
        pytest.param(lambda t: _edited(t, package("tokenizers", "0.21.1"), ""), id="removed"),
    ],
)
def test_any_edit_to_a_locked_package_is_refused(edit: Any) -> None:
    text = lock_text(*closure(), inputs="abc123", protected=PROTECTED_CLOSURE)
    Lock.parse(text.encode(), WHERE)  # the control: as written, it is accepted

    with pytest.raises(ProfileError) as caught:
        Lock.parse(edit(text), WHERE)
    message = str(caught.value)
    assert message.startswith(f"{WHERE}: edited by hand")
    assert message.endswith("run `imagegate lock demo`")
    assert "\n" not in message


def _resolved(url_of: Any) -> dict[str, Any]:
    """A resolver's pylock of the demo closure, each wheel found where `url_of` says."""
    packages = []
    for name, version, filename in [
        ("filelock", "3.16.1", wheel_name("filelock", "3.16.1")),
        ("torch", "2.13.0+cpu", TORCH_CPU),
        ("transformers", "4.51.3", wheel_name("transformers", "4.51.3")),
    ]:
        wheel = {"url": url_of(filename), "size": 7, "hashes": {"sha256": sha_of(filename)}}
        packages.append({"name": name, "version": version, "wheels": [wheel]})
    return {"lock-version": "1.0", "created-by": "uv", "packages": packages}


def test_a_lock_is_the_same_file_wherever_its_wheels_were_found(demo: Profile) -> None:
    here = portable(demo, _resolved(lambda f: f"file:///opt/wheels/{f}"), ["filelock", "torch"])
    there = portable(
        demo, _resolved(lambda f: f"https://mirror.example/files/{f}"), ["filelock", "torch"]
    )

    assert here == there
    assert "file://" not in here and "/opt/" not in here and "mirror" not in here


def test_a_portable_lock_names_the_wheelhouse_path_and_the_profile_index(demo: Profile) -> None:
    text = portable(demo, _resolved(lambda f: f"file:///opt/wheels/{f}"), ["filelock", "torch"])
    raw = tomllib.loads(text)
    lock = Lock.parse(text.encode(), lock_path(demo))

    torch = next(p for p in raw["packages"] if p["name"] == "torch")
    assert torch["index"] == demo.indexes["pytorch-cpu"]
    assert torch["wheels"][0]["path"] == f"../wheelhouse/demo/protected/{TORCH_CPU}"
    transformers = next(p for p in raw["packages"] if p["name"] == "transformers")
    assert "index" not in transformers
    assert transformers["wheels"][0]["path"].startswith("../wheelhouse/demo/rest/")
    assert lock.packages["torch"].protected and not lock.packages["transformers"].protected
    assert lock.inputs == inputs_digest(demo)


def test_a_profile_with_its_own_index_is_locked_with_urls_and_no_paths(demo: Profile) -> None:
    own = replace(demo, index="https://index.example/simple")
    text = portable(own, _resolved(lambda f: f"https://index.example/files/{f}"), ["torch"])
    wheels = [w for p in tomllib.loads(text)["packages"] for w in p["wheels"]]

    assert [w["url"] for w in wheels] == [
        f"https://index.example/files/{w['name']}" for w in wheels
    ]
    assert not any("path" in w for w in wheels)
    assert Lock.parse(text.encode(), lock_path(own)).inputs == inputs_digest(own)
    assert inputs_digest(own) != inputs_digest(demo)  # naming an index makes the lock stale


@pytest.mark.parametrize("path", SHIPPED_LOCKS, ids=lambda p: p.name)
def test_a_shipped_lock_names_no_path_or_url_of_the_machine_that_made_it(path: Path) -> None:
    raw = tomllib.loads(path.read_text(encoding="utf-8"))
    wheels = [wheel for package in raw["packages"] for wheel in package["wheels"]]

    assert wheels
    assert all("url" not in wheel for wheel in wheels)
    assert all(wheel["path"].startswith("../wheelhouse/") for wheel in wheels)


def test_a_requirement_accepts_only_the_locked_wheels() -> None:
    lock = parsed(package("torch", "2.13.0+cpu", TORCH_CPU))

    assert lock.packages["torch"].requirement() == (
        f"torch==2.13.0+cpu --hash=sha256:{sha_of(TORCH_CPU)}"
    )


def test_a_requirement_has_one_hash_per_wheel() -> None:
    other = "torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_aarch64.whl"
    line = parsed(package("torch", "2.13.0+cpu", TORCH_CPU, other)).packages["torch"].requirement()

    assert line.startswith("torch==2.13.0+cpu ")
    assert line.split()[1:] == [
        f"--hash=sha256:{sha_of(TORCH_CPU)}",
        f"--hash=sha256:{sha_of(other)}",
    ]


def test_requirements_split_the_lock_into_protected_and_the_rest() -> None:
    lock = parsed(*closure(), protected=PROTECTED_CLOSURE)

    protected = lock.requirements(protected=True)
    rest = lock.requirements(protected=False)
    assert [line.split()[0] for line in protected] == ["filelock==3.16.1", "torch==2.13.0+cpu"]
    assert [line.split()[0] for line in rest] == ["transformers==4.51.3", "tokenizers==0.21.1"]
    assert all("--hash=sha256:" in line for line in protected + rest)


_PACKAGE = '[[packages]]\nname = "a"\nversion = "1.0"\n'


@pytest.mark.parametrize(
    ("text", "says"),
    [
        pytest.param('lock-version = "1.0"\n[[packages]\n', "not a valid pylock.toml", id="toml"),
        pytest.param(
            lock_text(_PACKAGE + 'wheels = [{ url = "file:///w/a-1.0-py3-none-any.whl" }]\n'),
            "not a valid pylock.toml",
            id="no-hashes",
        ),
        pytest.param(
            lock_text(
                _PACKAGE + 'wheels = [{ url = "file:///w/a-1.0-py3-none-any.whl", '
                'hashes = { sha512 = "00ff" } }]\n'
            ),
            "packages.a: needs a version and sha256-hashed wheels",
            id="no-sha256",
        ),
        pytest.param(
            lock_text(
                _PACKAGE + 'sdist = { url = "file:///w/a-1.0.tar.gz", '
                'hashes = { sha256 = "00ff" } }\n'
            ),
            "packages.a: needs a version and sha256-hashed wheels",
            id="sdist-only",
        ),
        pytest.param(lock_text(_PACKAGE), "not a valid pylock.toml", id="no-wheels"),
        pytest.param(
            lock_text(
                '[[packages]]\nname = "a"\n'
                'wheels = [{ url = "file:///w/a-1.0-py3-none-any.whl", '
                'hashes = { sha256 = "00ff" } }]\n'
            ),
            "packages.a: needs a version",
            id="no-version",
        ),
    ],
)
def test_an_unusable_lock_is_bad_input_naming_the_file(text: str, says: str) -> None:
    with pytest.raises(ProfileError) as caught:
        Lock.parse(text.encode(), WHERE)

    message = str(caught.value)
    assert message.startswith(f"{WHERE}: ")
    assert says in message
    assert "imagegate lock" in message


def test_a_lock_that_is_not_utf8_is_bad_input_naming_the_file() -> None:
    with pytest.raises(ProfileError) as caught:
        Lock.parse(b"\xff\xfe lock", WHERE)
    assert str(caught.value).startswith(f"{WHERE}: not a valid pylock.toml")


def test_reading_a_missing_lock_is_bad_input_naming_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "pylock.demo.toml"
    with pytest.raises(ProfileError) as caught:
        Lock.read(missing)
    assert str(caught.value).startswith(f"{missing}: cannot be read")


# --- closure_for ---------------------------------------------------------------------------

LINUX_X86_64_PY310 = {
    "python_version": "3.10",
    "python_full_version": "3.10.12",
    "implementation_name": "cpython",
    "platform_python_implementation": "CPython",
    "os_name": "posix",
    "sys_platform": "linux",
    "platform_system": "Linux",
    "platform_machine": "x86_64",
}


def marked(name: str, version: str, marker: str) -> str:
    return package(name, version) + f"marker = {json.dumps(marker)}\n"


def lock_with_markers() -> Lock:
    return parsed(
        package("numpy", "1.26.4"),
        marked("tomli", "2.0.1", "python_version < '3.11'"),
        marked("triton", "3.1.0", "platform_machine == 'x86_64' and sys_platform == 'linux'"),
        marked("nvidia-nccl", "2.1.0", "platform_machine == 'aarch64'"),
        marked("pywin32", "308", "sys_platform == 'win32'"),
    )


@pytest.mark.parametrize(
    ("changes", "held"),
    [
        ({}, {"numpy", "tomli", "triton"}),
        ({"python_version": "3.12", "python_full_version": "3.12.1"}, {"numpy", "triton"}),
        ({"platform_machine": "aarch64"}, {"numpy", "tomli", "nvidia-nccl"}),
        ({"sys_platform": "win32", "platform_system": "Windows"}, {"numpy", "tomli", "pywin32"}),
    ],
)
def test_the_closure_for_an_environment_is_what_the_markers_hold_there(
    changes: dict[str, str], held: set[str]
) -> None:
    lock = lock_with_markers()

    closure = lock.closure_for(LINUX_X86_64_PY310 | changes)

    assert set(closure) == held
    assert all(closure[name] is lock.packages[name] for name in closure)


def test_a_lock_without_markers_is_its_own_closure_everywhere() -> None:
    lock = parsed(package("numpy", "1.26.4"), package("torch", "2.13.0+cpu", TORCH_CPU))

    assert lock.closure_for(LINUX_X86_64_PY310) == lock.packages
    assert lock.closure_for({"sys_platform": "win32"}) == lock.packages


# --- inputs_digest ---------------------------------------------------------------------------


def test_the_inputs_digest_is_stable_for_the_same_profile(tmp_path: Path) -> None:
    first = make_profile(tmp_path / "a")
    again = make_profile(tmp_path / "b")

    assert inputs_digest(first) == inputs_digest(first)
    assert inputs_digest(first) == inputs_digest(again)
    assert len(inputs_digest(first)) == 64


def test_the_inputs_digest_ignores_what_does_not_shape_the_closure(tmp_path: Path) -> None:
    base = make_profile(tmp_path / "base")
    other = make_profile(
        tmp_path / "other",
        description="reworded",
        invariants={"numpy": "<3"},
        facts={"torch.version.cuda": "None"},
    )
    assert inputs_digest(other) == inputs_digest(base)


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"pins": {"torch": "2.13.0", "transformers": "4.51.3"}}, id="local-label"),
        pytest.param({"pins": {"torch": "2.13.0+cpu", "transformers": "4.51.2"}}, id="pin"),
        pytest.param(
            {"pins": {"torch": "2.13.0+cpu", "transformers": "4.51.3", "numpy": "1.26.4"}},
            id="added-pin",
        ),
        pytest.param(
            {"target": {"python": "3.12", "platform": "manylinux_2_36_x86_64"}}, id="python"
        ),
        pytest.param(
            {"target": {"python": "3.11", "platform": "manylinux_2_28_x86_64"}}, id="platform"
        ),
        pytest.param({"protected": ["torch", "transformers"]}, id="protected"),
        pytest.param({"protected": []}, id="nothing-protected"),
        pytest.param(
            {"indexes": {"pytorch-cpu": "https://mirror.example.org/whl/cpu"}}, id="index-url"
        ),
        pytest.param(
            {"sources": {"torch": "pytorch-cpu", "transformers": "pytorch-cpu"}}, id="source"
        ),
        pytest.param({"sources": {}}, id="no-source"),
    ],
)
def test_the_inputs_digest_changes_with_every_input(
    tmp_path: Path, changes: dict[str, Any]
) -> None:
    base = make_profile(tmp_path / "base")
    changed = make_profile(tmp_path / "changed", **changes)

    assert inputs_digest(changed) != inputs_digest(base)


# --- staleness and read_fresh ----------------------------------------------------------------


@pytest.fixture
def demo(tmp_path: Path) -> Profile:
    return make_profile(tmp_path)


def test_a_lock_made_from_the_profile_holding_every_pin_is_fresh(demo: Profile) -> None:
    write_lock(demo, *closure())

    assert staleness(demo) is None
    lock = read_fresh(demo)
    assert lock.path == lock_path(demo)
    assert lock.packages["torch"].version == Version("2.13.0+cpu")


def test_lock_path_is_beside_the_profile(demo: Profile) -> None:
    assert lock_path(demo) == demo.path.parent / "pylock.demo.toml"


def test_a_missing_lock_is_stale(demo: Profile) -> None:
    assert staleness(demo) == "pylock.demo.toml does not exist"


def test_a_lock_made_from_other_inputs_is_stale(demo: Profile) -> None:
    write_lock(demo, *closure(), inputs="0" * 64)

    why = staleness(demo)
    assert why is not None
    assert why.startswith("pylock.demo.toml was made from other pins")


def test_a_lock_missing_a_pin_is_stale(demo: Profile) -> None:
    write_lock(demo, *closure(transformers=""))

    assert staleness(demo) == "pylock.demo.toml does not hold transformers==4.51.3"


def test_a_lock_holding_a_pin_without_its_local_label_is_stale(demo: Profile) -> None:
    write_lock(demo, *closure(torch="2.13.0"))

    assert staleness(demo) == "pylock.demo.toml does not hold torch==2.13.0+cpu"


def test_a_lock_holding_another_build_of_a_pin_is_stale(demo: Profile) -> None:
    write_lock(demo, *closure(torch="2.13.0+cu128"))

    assert staleness(demo) == "pylock.demo.toml does not hold torch==2.13.0+cpu"


def test_read_fresh_refuses_a_stale_lock_and_says_how_to_renew_it(demo: Profile) -> None:
    write_lock(demo, *closure(torch="2.13.0"))

    with pytest.raises(ProfileError) as caught:
        read_fresh(demo)
    message = str(caught.value)
    assert message.startswith(f"{lock_path(demo)}: stale: ")
    assert "does not hold torch==2.13.0+cpu" in message
    assert "imagegate lock demo" in message


def test_read_fresh_refuses_a_missing_lock(demo: Profile) -> None:
    with pytest.raises(ProfileError, match="does not exist; run `imagegate lock demo`"):
        read_fresh(demo)


# --- constraints -----------------------------------------------------------------------------


def test_constraints_hold_the_protected_closure_and_the_pins_exactly(demo: Profile) -> None:
    write_lock(demo, *closure())

    text = constraints(demo)
    assert requirement_lines(text) == [
        "filelock==3.16.1",
        "torch==2.13.0+cpu",
        "transformers==4.51.3",
    ]
    assert "tokenizers" not in text
    assert "pylock.demo.toml" in text


def test_constraints_without_a_lock_are_the_pins_alone(demo: Profile) -> None:
    text = constraints(demo)

    assert requirement_lines(text) == ["torch==2.13.0+cpu", "transformers==4.51.3"]
    assert "demo.yaml alone" in text


def test_constraints_ignore_a_stale_lock(demo: Profile) -> None:
    write_lock(demo, *closure(), inputs="0" * 64)

    assert requirement_lines(constraints(demo)) == ["torch==2.13.0+cpu", "transformers==4.51.3"]


# --- the shipped locks -----------------------------------------------------------------------


def shipped_profile(path: Path) -> Profile:
    name = path.name.removeprefix("pylock.").removesuffix(".toml")
    return load_profile(name, SHIPPED)


def test_the_cpu_profile_ships_a_lock() -> None:
    assert SHIPPED / "pylock.cpu.toml" in SHIPPED_LOCKS


@pytest.mark.parametrize("path", SHIPPED_LOCKS, ids=lambda p: p.name)
def test_a_shipped_lock_is_fresh_and_names_its_profile(path: Path) -> None:
    profile = shipped_profile(path)
    lock = Lock.read(path)

    assert lock.profile == profile.name
    assert lock.inputs == inputs_digest(profile)
    assert staleness(profile) is None


@pytest.mark.parametrize("path", SHIPPED_LOCKS, ids=lambda p: p.name)
def test_a_shipped_lock_holds_every_pin_exactly_and_protects_the_protected(path: Path) -> None:
    profile = shipped_profile(path)
    lock = Lock.read(path)

    held = {name: lock.packages[name].version for name in profile.pins if name in lock.packages}
    assert held == dict(profile.pins)
    assert all(lock.packages[name].protected for name in profile.protected)


@pytest.mark.parametrize("path", SHIPPED_LOCKS, ids=lambda p: p.name)
def test_every_wheel_of_a_shipped_lock_fits_its_target(path: Path) -> None:
    target = shipped_profile(path).target
    lock = Lock.read(path)

    unfit = [
        wheel.filename
        for locked in lock.packages.values()
        for wheel in locked.wheels
        if not target.accepts(parse_wheel_filename(wheel.filename)[3])
    ]
    assert lock.packages
    assert unfit == []


@pytest.mark.parametrize("path", SHIPPED_LOCKS, ids=lambda p: p.name)
def test_every_marker_of_a_shipped_lock_holds_on_its_target(path: Path) -> None:
    """An image installs the whole lock; verify, doctor and repair expect its closure for
    the image's markers: on the target, the two are the same."""
    target = shipped_profile(path).target
    lock = Lock.read(path)

    assert lock.closure_for(marker_environment(target)) == lock.packages


def test_the_cpu_lock_holds_the_cpu_build_of_torch() -> None:
    torch = Lock.read(SHIPPED / "pylock.cpu.toml").packages["torch"]

    assert torch.version == Version("2.13.0+cpu")
    assert torch.protected
    assert torch.requirement().startswith("torch==2.13.0+cpu --hash=sha256:")


def test_a_portable_lock_keeps_the_one_wheel_the_target_prefers(demo: Profile) -> None:
    specific = "tokenizers-0.21.1-cp39-abi3-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
    universal = "tokenizers-0.21.1-py3-none-any.whl"
    elsewhere = "tokenizers-0.21.1-cp39-abi3-macosx_11_0_arm64.whl"
    wheels = [
        {"url": f"https://files.example/{f}", "hashes": {"sha256": sha_of(f)}}
        for f in (universal, elsewhere, specific)
    ]
    raw = {
        "lock-version": "1.0",
        "created-by": "uv",
        "packages": [{"name": "tokenizers", "version": "0.21.1", "wheels": wheels}],
    }

    fewer = {**raw, "packages": [{**raw["packages"][0], "wheels": [wheels[2]]}]}
    text = portable(demo, raw, [])

    [package] = tomllib.loads(text)["packages"]
    assert [wheel["name"] for wheel in package["wheels"]] == [specific]
    assert text == portable(demo, fewer, [])  # a source offering only that wheel: same file
