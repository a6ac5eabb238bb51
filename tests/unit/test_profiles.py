"""Profiles: the shipped ones load as the user wrote them; every mistake names file and key."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import yaml
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from imagegate.errors import ExitCode, ProfileError
from imagegate.profiles import (
    Profile,
    load_each,
    load_profile,
    load_profiles,
    profile_name,
    profile_names,
)

SHIPPED = Path(__file__).resolve().parents[2] / "profiles"

COMMON = """\
description: shared pins
target:
  python: "3.11"
  platform: manylinux_2_36_x86_64
base:
  image: python:3.11-slim-bookworm
  local: bookworm
indexes:
  pytorch-cpu: https://download.pytorch.org/whl/cpu
pins:
  transformers: "4.51.3"
  numpy: "1.26.4"
invariants:
  numpy: "<2"
probes:
  imports: [numpy, transformers]
  statements:
    transformers-auto-model: from transformers import AutoConfig
"""


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / f"{name}.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


@pytest.fixture
def profiles(tmp_path: Path) -> Path:
    write(tmp_path, "_common", COMMON)
    return tmp_path


def error_of(name: str, directory: Path) -> str:
    with pytest.raises(ProfileError) as caught:
        load_profile(name, directory)
    return str(caught.value)


# --- the shipped profiles ----------------------------------------------------------------


def test_every_shipped_profile_loads_and_shared_files_are_not_buildable() -> None:
    names = profile_names(SHIPPED)
    assert {"cpu", "cuda121", "cuda124", "cuda128", "cuda130", "rocm57"} <= set(names)
    assert not [name for name in names if name.startswith("_")]
    for profile in load_profiles(names, SHIPPED):
        assert profile.path == SHIPPED / f"{profile.name}.yaml"
        assert "torch" in profile.pins
        assert set(profile.protected) <= set(profile.pins)
        assert profile.invariants["numpy"] == SpecifierSet("<2")


def test_cpu_pins_the_cpu_torch_and_inherits_transformers_from_common() -> None:
    profile = load_profile("cpu", SHIPPED)
    own = yaml.safe_load((SHIPPED / "cpu.yaml").read_text(encoding="utf-8"))
    shared = yaml.safe_load((SHIPPED / "_common.yaml").read_text(encoding="utf-8"))

    assert profile.pins["torch"] == Version("2.13.0+cpu")
    assert profile.pins["torch"] != Version("2.13.0")
    assert "transformers" not in own["pins"]
    assert shared["pins"]["transformers"] == "4.51.3"
    assert profile.pins["transformers"] == Version("4.51.3")
    assert profile.target.python == "3.11"
    assert profile.protected == ("torch",)
    assert profile.index_for("torch") == "https://download.pytorch.org/whl/cpu"
    assert profile.index_for("numpy") is None
    assert profile.facts == {"torch.version.cuda": "None"}
    assert "torch==2.13.0+cpu" in profile.requirements()


def test_cuda121_overrides_the_target_python_and_drops_the_local_base() -> None:
    profile = load_profile("cuda121", SHIPPED)

    assert profile.target.python == "3.10"
    assert profile.target.platform == "manylinux_2_35_x86_64"
    assert profile.base.local is None
    assert profile.base.packages == ("python3", "python3-venv")
    assert profile.pins["transformers"] == Version("4.51.3")
    assert profile.requirements(protected_only=True) == [
        "torch==2.5.1+cu121",
        "torchvision==0.20.1+cu121",
    ]
    assert profile.index_for("torchvision") == "https://download.pytorch.org/whl/cu121"
    assert profile.facts["torch.version.cuda"] == "12.1"


def test_cuda130_replaces_the_import_list_but_keeps_the_shared_statements() -> None:
    profile = load_profile("cuda130", SHIPPED)
    common = load_profile("cpu", SHIPPED)

    assert "torchvision" in profile.probes.imports
    assert "torchvision" not in common.probes.imports
    assert profile.probes.statements == common.probes.statements
    assert profile.facts["torch.backends.cudnn.version()"].isdigit()


# --- inheritance -------------------------------------------------------------------------


def test_a_child_adds_and_overrides_pins_key_by_key(profiles: Path) -> None:
    write(profiles, "child", 'extends: _common\npins:\n  numpy: "1.26.3"\n  torch: "2.5.1+cu121"\n')

    profile = load_profile("child", profiles)

    assert profile.pins == {
        "transformers": Version("4.51.3"),
        "numpy": Version("1.26.3"),
        "torch": Version("2.5.1+cu121"),
    }


def test_a_null_removes_an_inherited_key(profiles: Path) -> None:
    write(
        profiles,
        "child",
        """\
        extends: _common
        base:
          local: null
        pins:
          numpy: null
        invariants:
          numpy: null
        """,
    )

    profile = load_profile("child", profiles)

    assert "numpy" not in profile.pins
    assert profile.invariants == {}
    assert profile.base.local is None
    assert profile.base.image == "python:3.11-slim-bookworm"
    assert profile.pins["transformers"] == Version("4.51.3")


def test_lists_and_scalars_replace_what_is_inherited(profiles: Path) -> None:
    write(
        profiles,
        "child",
        """\
        extends: _common
        target:
          python: "3.10"
        probes:
          imports: [torch]
        """,
    )

    profile = load_profile("child", profiles)

    assert profile.target.python == "3.10"
    assert profile.target.platform == "manylinux_2_36_x86_64"
    assert profile.probes.imports == ("torch",)
    assert profile.probes.statements == {
        "transformers-auto-model": "from transformers import AutoConfig"
    }


def test_a_chain_of_parents_applies_nearest_last(profiles: Path) -> None:
    write(profiles, "_gpu", 'extends: _common\npins:\n  numpy: "1.26.0"\n  torch: "2.5.1"\n')
    write(profiles, "leaf", 'extends: _gpu\npins:\n  torch: "2.5.1+cu121"\n')

    profile = load_profile("leaf", profiles)

    assert profile.pins["torch"] == Version("2.5.1+cu121")
    assert profile.pins["numpy"] == Version("1.26.0")
    assert profile.pins["transformers"] == Version("4.51.3")
    assert profile_names(profiles) == ["leaf"]


def test_package_names_are_normalized(profiles: Path) -> None:
    write(profiles, "child", 'extends: _common\npins:\n  Typing_Extensions: "4.12.2"\n')

    profile = load_profile("child", profiles)

    assert profile.pins["typing-extensions"] == Version("4.12.2")
    assert "typing-extensions==4.12.2" in profile.requirements()


def test_a_null_removes_an_inherited_pin_whatever_its_spelling(profiles: Path) -> None:
    write(profiles, "child", "extends: _common\npins:\n  NumPy: null\n")

    profile = load_profile("child", profiles)

    assert "numpy" not in profile.pins


def test_ci_defaults_to_the_hosted_runner_and_a_profile_may_name_a_gpu_runner(
    profiles: Path,
) -> None:
    write(profiles, "plain", "extends: _common\n")
    write(
        profiles,
        "gpu",
        "extends: _common\nci:\n  runner: [self-hosted, gpu]\n  require_gpu: true\n",
    )

    plain, gpu = load_profile("plain", profiles), load_profile("gpu", profiles)

    assert plain.ci.runner == ("ubuntu-latest",) and plain.ci.require_gpu is False
    assert gpu.ci.runner == ("self-hosted", "gpu") and gpu.ci.require_gpu is True


def test_worker_budgets_are_read_and_a_child_may_loosen_one(profiles: Path) -> None:
    write(profiles, "lean", "extends: _common\nworker:\n  max_size_gb: 4\n  max_cold_start_s: 20\n")
    looser_text = "extends: lean\nworker:\n  max_cold_start_s: null\n  cold_starts: 1\n"
    write(profiles, "looser", looser_text)
    write(profiles, "plain", "extends: _common\n")

    lean, looser = load_profile("lean", profiles), load_profile("looser", profiles)

    assert (lean.worker.max_size_gb, lean.worker.max_cold_start_s) == (4, 20)
    assert (looser.worker.max_size_gb, looser.worker.max_cold_start_s) == (4, None)
    assert (lean.worker.cold_starts, looser.worker.cold_starts) == (3, 1)
    assert load_profile("plain", profiles).worker.max_size_gb is None


def test_one_package_pinned_twice_under_two_spellings_is_refused(profiles: Path) -> None:
    write(profiles, "child", 'extends: _common\npins:\n  torch: "2.5.1"\n  Torch: "2.4.0"\n')

    message = error_of("child", profiles)

    assert message.startswith(f"{profiles / 'child.yaml'}: pins.")


# --- every mistake names the file and the key path ---------------------------------------


BAD_CHILDREN = {
    "unknown-top-level-key": (
        'extends: _common\npinz:\n  torch: "2.5.1"\n',
        "pinz",
        "unknown key",
    ),
    "unknown-nested-key": (
        "extends: _common\nprobes:\n  imprts: [torch]\n",
        "probes.imprts",
        "unknown key",
    ),
    "pin-not-a-version": (
        "extends: _common\npins:\n  torch: '2.5,1'\n",
        "pins.torch",
        "'2.5,1' is not a valid version",
    ),
    "pin-as-yaml-number": (
        "extends: _common\npins:\n  torch: 2.5\n",
        "pins.torch",
        "number in YAML",
    ),
    "pin-as-specifier": (
        "extends: _common\npins:\n  torch: '>=1.0'\n",
        "pins.torch",
        "specifier",
    ),
    "invalid-package-name": (
        "extends: _common\npins:\n  'torch vision!': '0.20.1'\n",
        "pins.torch vision!",
        "not a valid package name",
    ),
    "protected-not-pinned": (
        "extends: _common\nprotected: [torch]\n",
        "protected",
        "'torch' is not pinned",
    ),
    "protected-pin-removed-by-null": (
        "extends: _common\nprotected: [numpy]\npins:\n  numpy: null\n",
        "protected",
        "'numpy' is not pinned",
    ),
    "source-names-unknown-index": (
        "extends: _common\nsources:\n  torch: pytorch-cu121\npins:\n  torch: '2.5.1+cu121'\n",
        "sources.torch",
        "no index named 'pytorch-cu121'",
    ),
    "missing-parent": (
        "extends: _commmon\n",
        "extends",
        "no profile '_commmon'",
    ),
    "probe-timeout-not-positive": (
        "extends: _common\nprobes:\n  timeout: 0\n",
        "probes.timeout",
        "not a positive number",
    ),
    "python-as-yaml-number": (
        "extends: _common\ntarget:\n  python: 3.10\n",
        "target.python",
        '3.10 is a number in YAML; quote it ("3.10")',
    ),
    "pin-as-yaml-number-with-a-trailing-zero": (
        "extends: _common\npins:\n  numpy: 1.20\n",
        "pins.numpy",
        '1.20 is a number in YAML; quote it ("1.20")',
    ),
    "invariant-as-yaml-number": (
        "extends: _common\ninvariants:\n  numpy: 2.0\n",
        "invariants.numpy",
        '2.0 is a number in YAML; quote it ("2.0")',
    ),
    "allow-extra-without-a-reason": (
        "extends: _common\nallow_extra:\n  pip: ''\n",
        "allow_extra.pip",
        "not a reason",
    ),
    "allow-extra-invalid-package-name": (
        "extends: _common\nallow_extra:\n  'pip!': a reason\n",
        "allow_extra.pip!",
        "not a valid package name",
    ),
    "fact-not-python": (
        "extends: _common\nfacts:\n  'torch.version.(': 'None'\n",
        "facts.torch.version.(",
        "not valid Python",
    ),
    "ci-runner-not-a-list-of-labels": (
        "extends: _common\nci:\n  runner: [self-hosted, 'g p u']\n",
        "ci.runner.1",
        "not a runner label",
    ),
    "ci-runner-empty": (
        "extends: _common\nci:\n  runner: []\n",
        "ci.runner",
        "names no runner",
    ),
    "ci-require-gpu-not-a-boolean": (
        "extends: _common\nci:\n  runner: [self-hosted, gpu]\n  require_gpu: 'yes'\n",
        "ci.require_gpu",
        "not true or false",
    ),
    "ci-require-gpu-on-the-hosted-runner": (
        "extends: _common\nci:\n  require_gpu: true\n",
        "ci.require_gpu",
        "ubuntu-latest has no GPU",
    ),
    "ci-unknown-key": (
        "extends: _common\nci:\n  runs-on: [self-hosted, gpu]\n",
        "ci.runs-on",
        "unknown key",
    ),
}


@pytest.mark.parametrize(("text", "key", "detail"), BAD_CHILDREN.values(), ids=list(BAD_CHILDREN))
def test_a_bad_profile_names_the_file_and_the_key(
    profiles: Path, text: str, key: str, detail: str
) -> None:
    path = write(profiles, "child", text)

    message = error_of("child", profiles)

    assert message.startswith(f"{path}: {key}: "), message
    assert detail in message


def test_malformed_yaml_names_the_file_and_the_line(profiles: Path) -> None:
    path = write(profiles, "child", 'extends: _common\npins:\n  torch: "2.5.1\n  numpy: [\n')

    message = error_of("child", profiles)

    assert message.startswith(f"{path}: line ")
    assert "malformed YAML" in message


def test_malformed_yaml_reports_the_line_of_the_mistake(profiles: Path) -> None:
    path = write(profiles, "child", 'extends: _common\npins: {torch: "1.0"\n  numpy "2"}\n')

    message = error_of("child", profiles)

    assert message.startswith(f"{path}: line 3: malformed YAML")


def test_a_key_written_twice_is_refused_with_its_line(profiles: Path) -> None:
    path = write(profiles, "child", 'extends: _common\npins:\n  torch: "1"\n  torch: "2"\n')

    message = error_of("child", profiles)

    assert message.startswith(f"{path}: line 4: ")
    assert "duplicate key 'torch'" in message


def test_a_file_that_is_not_utf8_names_the_file_line_and_byte(profiles: Path) -> None:
    path = profiles / "child.yaml"
    path.write_bytes(b"extends: _common\ndescription: caf\xe9\n")

    message = error_of("child", profiles)

    assert message.startswith(f"{path}: line 2, byte 33 (0xe9): not UTF-8")


def test_a_parent_that_is_not_utf8_names_the_parent(profiles: Path) -> None:
    common = profiles / "_common.yaml"
    common.write_bytes(COMMON.encode("utf-8") + b"# \xff\n")
    write(profiles, "child", "extends: _common\n")

    assert error_of("child", profiles).startswith(f"{common}: line ")


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n"])
def test_an_empty_file_says_it_is_empty(profiles: Path, text: str) -> None:
    path = write(profiles, "child", text)

    assert error_of("child", profiles).startswith(f"{path}: the file is empty; ")


def test_a_file_that_is_not_a_mapping_is_refused(profiles: Path) -> None:
    path = write(profiles, "child", "- torch\n- numpy\n")

    assert error_of("child", profiles).startswith(f"{path}: the file must hold a mapping")


def test_a_mistake_in_a_parent_names_the_parent(profiles: Path) -> None:
    common = write(profiles, "_common", COMMON.replace('numpy: "1.26.4"', "numpy: 1.26"))
    write(profiles, "child", 'extends: _common\npins:\n  torch: "2.5.1"\n')

    message = error_of("child", profiles)

    assert message.startswith(f"{common}: pins.numpy: ")


def test_a_circular_extends_names_the_cycle(profiles: Path) -> None:
    write(profiles, "a", "extends: b\n")
    b = write(profiles, "b", "extends: a\n")

    message = error_of("a", profiles)

    assert message.startswith(f"{b}: extends: circular chain a -> b -> a")


def test_a_profile_extending_itself_is_circular(profiles: Path) -> None:
    path = write(profiles, "child", "extends: child\n")

    assert error_of("child", profiles).startswith(f"{path}: extends: circular chain child")


def test_an_unknown_profile_name_lists_the_known_ones(profiles: Path) -> None:
    write(profiles, "cpu", 'extends: _common\npins:\n  torch: "2.13.0+cpu"\n')
    write(profiles, "cuda121", 'extends: _common\npins:\n  torch: "2.5.1+cu121"\n')

    message = error_of("cuda999", profiles)

    assert message.startswith(f"{profiles}: no profile 'cuda999'")
    assert "(known: cpu, cuda121)" in message
    assert str(profiles / "cuda999.yaml") in message


def test_a_shared_profile_cannot_be_asked_for_by_name(profiles: Path) -> None:
    write(profiles, "cpu", 'extends: _common\npins:\n  torch: "2.13.0+cpu"\n')

    message = error_of("_common", profiles)

    assert message.startswith(f"{profiles / '_common.yaml'}: holds shared settings")
    assert "is not built itself; pick one of: cpu" in message


def test_a_profile_missing_a_required_section_says_so(profiles: Path) -> None:
    path = write(profiles, "alone", 'pins:\n  torch: "2.5.1"\n')

    assert error_of("alone", profiles).startswith(f"{path}: target: missing")


def test_a_missing_profiles_directory_is_bad_input(tmp_path: Path) -> None:
    with pytest.raises(ProfileError) as caught:
        profile_names(tmp_path / "nowhere")

    assert str(caught.value).startswith(f"{tmp_path / 'nowhere'}: no such profiles directory")
    assert caught.value.exit_code is ExitCode.BAD_INPUT


def test_from_dict_keeps_the_local_label_of_every_pin() -> None:
    profile = Profile.from_dict(
        {
            "target": {"python": "3.10", "platform": "manylinux_2_35_x86_64"},
            "base": {"image": "rocm/dev-ubuntu-22.04:5.7"},
            "pins": {"torchvision": "0.18.1+rocm5.7", "torch": "2.3.1+rocm5.7"},
            "protected": ["torch"],
        },
        name="rocm",
        path=Path("profiles/rocm.yaml"),
    )

    assert profile.requirements() == ["torch==2.3.1+rocm5.7", "torchvision==0.18.1+rocm5.7"]
    assert profile.requirements(protected_only=True) == ["torch==2.3.1+rocm5.7"]


# --- a profile is named by its name, or by the path of its file ------------------------


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project folder, the current directory, whose profiles/ holds cpu and _common."""
    folder = tmp_path / "project" / "profiles"
    folder.mkdir(parents=True)
    write(folder, "_common", COMMON)
    write(folder, "cpu", 'extends: _common\npins:\n  torch: "2.13.0+cpu"\n')
    monkeypatch.chdir(folder.parent)
    return folder.parent


@pytest.mark.parametrize(
    "value", ["cpu", "profiles/cpu.yaml", "profiles/cpu", "profiles/../profiles/cpu", "cpu.yaml"]
)
def test_a_path_to_a_profile_file_names_that_profile(project: Path, value: str) -> None:
    assert profile_name(value, Path("profiles")) == "cpu"
    assert load_profile(value, Path("profiles")).name == "cpu"


def test_an_absolute_path_and_one_from_inside_the_folder_name_the_profile(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = project / "profiles"
    assert profile_name(str(directory / "cpu.yaml"), Path("profiles")) == "cpu"
    monkeypatch.chdir(directory)
    assert profile_name("./cpu", Path(".")) == "cpu"
    assert profile_name("../profiles/cpu.yaml", directory) == "cpu"


@pytest.mark.parametrize(
    "value",
    ["./cpu", "elsewhere/cpu.yaml", "elsewhere/cpu", "profiles/pylock.cpu.toml", ".", "..", "/"],
)
def test_a_path_outside_the_profiles_folder_is_refused_naming_the_known_ones(
    project: Path, value: str
) -> None:
    (project / "elsewhere").mkdir()
    write(project / "elsewhere", "cpu", "extends: _common\n")
    (project / "profiles" / "pylock.cpu.toml").write_text("")

    with pytest.raises(ProfileError) as caught:
        load_profile(value, Path("profiles"))

    assert str(caught.value).startswith(f"{value!r}: not a profile in profiles (known: cpu)")
    assert caught.value.exit_code is ExitCode.BAD_INPUT


def test_a_path_to_a_shared_file_is_refused_as_the_shared_file(project: Path) -> None:
    with pytest.raises(ProfileError) as caught:
        load_profile("profiles/_common.yaml", Path("profiles"))

    assert "holds shared settings" in str(caught.value)


def test_a_profile_named_twice_is_loaded_once_in_first_seen_order(project: Path) -> None:
    write(project / "profiles", "gpu", 'extends: _common\npins:\n  torch: "2.5.1"\n')
    names = ["gpu", "cpu", "gpu", "profiles/cpu.yaml", "cpu"]

    assert [p.name for p in load_profiles(names, Path("profiles"))] == ["gpu", "cpu"]


def test_one_bad_profile_spoils_only_itself(project: Path) -> None:
    directory = Path("profiles")
    (directory / "bad.yaml").write_bytes(b"extends: _common\ndescription: \xff\n")
    write(directory, "empty", "")

    loaded = load_each([*profile_names(directory), "nope", "../x"], directory)

    assert list(loaded) == ["bad", "cpu", "empty", "nope", "../x"]
    assert isinstance(loaded["cpu"], Profile)
    assert [name for name, p in loaded.items() if isinstance(p, ProfileError)] == [
        "bad",
        "empty",
        "nope",
        "../x",
    ]
    with pytest.raises(ProfileError) as caught:
        load_profiles(profile_names(directory), directory)
    assert str(caught.value).startswith(f"{directory / 'bad.yaml'}: line 2")


def test_allow_extra_is_inherited_by_package_name_and_a_child_adds_to_it(profiles: Path) -> None:
    write(profiles, "_tools", "extends: _common\nallow_extra:\n  pip: venv installs it\n")
    write(profiles, "child", "extends: _tools\nallow_extra:\n  Wheel: the base image's own\n")

    profile = load_profile("child", profiles)

    assert profile.allow_extra == {"pip": "venv installs it", "wheel": "the base image's own"}
