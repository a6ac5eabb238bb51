"""A project of one's own: `init` starts it, its profile extends a shipped one by name, and
its images are named by --tag, $IMAGEGATE_REPOSITORY, the profile's `repository:`, in turn."""

from __future__ import annotations

import ast
import subprocess
from pathlib import Path

import pytest
import yaml
from packaging.version import Version

from imagegate import scaffold
from imagegate.cli import main
from imagegate.errors import ExitCode, ProfileError, UsageError
from imagegate.profiles import load_profile, pin_file, profile_names
from imagegate.references import REPOSITORY_VARIABLE
from imagegate.shipped import shipped_names, shipped_profiles
from imagegate.workflow import default_tag
from tests.unit.test_workflows import _actionlint_run, _output, _schema

ROOT = Path(__file__).resolve().parents[2]


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_shipped_profiles_are_the_repositorys_own() -> None:
    assert shipped_names() == profile_names(ROOT / "profiles")
    assert (shipped_profiles() / "_common.yaml").is_file()


def test_a_profile_extends_a_shipped_one_its_project_does_not_hold(tmp_path: Path) -> None:
    profiles = tmp_path / "profiles"
    write(profiles, "mine", 'extends: cpu\npins:\n  runpod: "1.12.0"\n')
    profile = load_profile("mine", profiles)
    shipped = load_profile("cpu", shipped_profiles())
    assert profile.pins == {**shipped.pins, "runpod": Version("1.12.0")}
    assert profile.base == shipped.base and profile.facts == shipped.facts
    assert profile.path == profiles / "mine.yaml"


def test_a_shipped_profile_keeps_its_own_parents(tmp_path: Path) -> None:
    """The project's `_common.yaml` is its own: it does not change what `cpu` inherits."""
    profiles = tmp_path / "profiles"
    write(profiles, "_common", "description: the project's shared file\n")
    write(profiles, "mine", "extends: cpu\n")
    assert load_profile("mine", profiles).pins == load_profile("cpu", shipped_profiles()).pins


def test_a_project_profile_of_the_same_name_comes_before_the_shipped_one(tmp_path: Path) -> None:
    profiles = tmp_path / "profiles"
    write(profiles, "cpu", (shipped_profiles() / "cpu.yaml").read_text(encoding="utf-8"))
    write(profiles, "_common", (shipped_profiles() / "_common.yaml").read_text(encoding="utf-8"))
    (profiles / "_common.yaml").write_text(
        (profiles / "_common.yaml").read_text(encoding="utf-8").replace("1.26.4", "1.26.3"),
        encoding="utf-8",
    )
    write(profiles, "mine", "extends: cpu\n")
    assert load_profile("mine", profiles).pins["numpy"] == Version("1.26.3")


def test_an_unknown_parent_names_the_shipped_profiles(tmp_path: Path) -> None:
    write(tmp_path / "profiles", "mine", "extends: cpuu\n")
    with pytest.raises(ProfileError) as raised:
        load_profile("mine", tmp_path / "profiles")
    assert "mine.yaml: extends:" in str(raised.value) and "cpu, cuda121" in str(raised.value)


def test_a_pin_the_shipped_profile_writes_is_not_edited_in_place(tmp_path: Path) -> None:
    profiles = tmp_path / "profiles"
    write(profiles, "mine", 'extends: cpu\npins:\n  runpod: "1.12.0"\n')
    profile = load_profile("mine", profiles)
    assert pin_file(profile, "runpod") == profiles / "mine.yaml"
    with pytest.raises(ProfileError) as raised:
        pin_file(profile, "numpy")
    assert raised.value.exit_code == ExitCode.BAD_INPUT and "pin it in mine.yaml" in str(
        raised.value
    )


def test_the_image_repository_goes_tag_then_variable_then_profile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    profiles = tmp_path / "profiles"
    write(profiles, "plain", "extends: cpu\n")
    write(profiles, "named", "extends: cpu\nrepository: localhost:5000/team\n")
    monkeypatch.delenv(REPOSITORY_VARIABLE, raising=False)
    assert default_tag(load_profile("plain", profiles)) == "imagegate/plain:latest"
    assert default_tag(load_profile("named", profiles)) == "localhost:5000/team/named:latest"
    monkeypatch.setenv(REPOSITORY_VARIABLE, "ci/run-7")
    assert default_tag(load_profile("named", profiles)) == "ci/run-7/named:latest"


@pytest.mark.parametrize("repository", ["Team", "team images", "team/", "a:b:c"])
def test_a_repository_key_that_names_no_image_is_refused(tmp_path: Path, repository: str) -> None:
    write(tmp_path / "profiles", "mine", f"extends: cpu\nrepository: {repository!r}\n")
    with pytest.raises(ProfileError) as raised:
        load_profile("mine", tmp_path / "profiles")
    assert "mine.yaml: repository:" in str(raised.value)


def test_init_writes_a_project_whose_profile_loads(tmp_path: Path) -> None:
    folder = tmp_path / "new"
    assert main(["init", str(folder), "--from", "cuda124", "--name", "svc"]) == ExitCode.PASSED
    written = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    assert written == [
        ".github/workflows/imagegate.yml",
        ".pre-commit-config.yaml",
        "profiles/svc.yaml",
    ]
    profile = load_profile("svc", folder / "profiles")
    assert profile.pins == load_profile("cuda124", shipped_profiles()).pins
    workflow = folder / ".github" / "workflows" / "imagegate.yml"
    for done in (_schema(workflow), _actionlint_run(workflow)):
        assert done.returncode == 0, _output(done)
    hooks = yaml.safe_load((folder / ".pre-commit-config.yaml").read_text(encoding="utf-8"))
    entries = [hook["entry"] for hook in hooks["repos"][0]["hooks"]]
    assert entries == ["imagegate check --all", "imagegate render --all --check"]


def test_init_writes_over_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / ".pre-commit-config.yaml").write_text("repos: []\n", encoding="utf-8")
    assert main(["init", str(tmp_path)]) == ExitCode.BAD_INPUT
    assert capsys.readouterr().err.count("\n") == 1
    assert [p.name for p in tmp_path.rglob("*")] == [".pre-commit-config.yaml"]
    assert (tmp_path / ".pre-commit-config.yaml").read_text(encoding="utf-8") == "repos: []\n"


@pytest.mark.parametrize(
    ("name", "parent"), [("cpu", "cpu"), ("App", "cpu"), ("_x", "cpu"), ("app", "nope")]
)
def test_init_refuses_a_name_or_parent_it_cannot_use(
    tmp_path: Path, name: str, parent: str
) -> None:
    with pytest.raises(UsageError):
        scaffold.start(tmp_path, name=name, parent=parent)
    assert list(tmp_path.iterdir()) == []


def test_make_passes_tag_to_build_and_verify() -> None:
    for target, flag in (("build-cpu", "--tag"), ("verify-cpu", "--image")):
        done = subprocess.run(
            ["make", "-s", "-n", "--no-print-directory", "-C", str(ROOT), target, "TAG=team/cpu:1"],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        assert f"{target.split('-')[0]} cpu {flag} 'team/cpu:1'" in done.stdout.splitlines()[-1]
        plain = subprocess.run(
            ["make", "-s", "-n", "--no-print-directory", "-C", str(ROOT), target],
            capture_output=True,
            text=True,
            check=True,
        )
        assert flag not in plain.stdout.splitlines()[-1]


INSTALLERS = {"apt", "apt-get", "dockerd", "systemctl", "service", "dpkg", "snap", "containerd"}


def test_no_command_installs_docker_or_starts_a_daemon() -> None:
    """Docker is the user's: no module of the package holds a command word that would
    install a package on the machine or start a daemon (make and CI may; imagegate not)."""
    found = []
    for module in sorted((ROOT / "tool" / "imagegate").glob("*.py")):
        for node in ast.walk(ast.parse(module.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and node.value in INSTALLERS:
                found.append(f"{module.name}:{node.lineno}: {node.value!r}")
    assert found == []
