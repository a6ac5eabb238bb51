"""Rendered Dockerfiles: the rules every one keeps.

The committed Dockerfiles are the rendered ones (`render --all --check`, in test_cli and in
`make test`); these tests state what each keeps, whatever its bytes.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from imagegate.contract import (
    BUILD_FACTS,
    BUILD_MODELS,
    REPORTS_STAGE,
    SMOKE_STAGE,
    STACK_STAGE,
)
from imagegate.errors import ExitCode, ProfileError
from imagegate.lock import Lock, lock_path, on_disk
from imagegate.profiles import Profile, load_profile, profile_names
from imagegate.project import INSTALLER as INSTALLER_DIR
from imagegate.project import Project
from imagegate.render import render, write
from imagegate.scripts import has_models

HERE = Path(__file__).resolve().parent
PROFILES = HERE.parents[1] / "profiles"

_PIN = re.compile(r"(?<![\w.=-])([A-Za-z0-9][A-Za-z0-9._-]*==[^\s\"',\\]+)")


@pytest.fixture(scope="module")
def project() -> Project:
    return Project.from_profiles(PROFILES)


def instructions(text: str) -> list[str]:
    """The Dockerfile's instructions, continuation lines joined, comments dropped."""
    found: list[str] = []
    current: list[str] = []
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        current.append(stripped.removesuffix("\\").strip())
        if not stripped.endswith("\\"):
            found.append(" ".join(current))
            current = []
    assert not current, "the Dockerfile ends inside a continued line"
    return found


def installs(text: str) -> list[str]:
    return [i for i in instructions(text) if i.startswith("RUN") and "pip install" in i]


def pins_in(instruction: str) -> set[str]:
    return set(_PIN.findall(instruction))


def dockerfile(profile: Profile, project: Project) -> str:
    return render(profile, project, on_disk(profile))[project.dockerfile(profile.name)]


def shipped() -> list[str]:
    return profile_names(PROFILES)


@pytest.fixture(params=shipped())
def profile(request: pytest.FixtureRequest) -> Profile:
    name: str = request.param
    return load_profile(name, PROFILES)


def test_the_protected_layer_is_installed_before_the_rest(
    profile: Profile, project: Project
) -> None:
    """Least often changed first: the protected closure, what nothing pins, then each pin
    in the profile's order (without a lock, the rest group's folder in one step)."""
    steps = installs(dockerfile(profile, project))
    wheelhouse = f"wheelhouse/{profile.name}"

    assert profile.protected, f"{profile.name} protects nothing"
    assert f"source={wheelhouse}/protected," in steps[0]
    assert "-r /wheels/protected/requirements.txt" in steps[0]
    if not lock_path(profile).is_file():
        assert len(steps) == 2
        assert f"source={wheelhouse}/rest," in steps[1]
        assert "-r /wheels/rest/requirements.txt" in steps[1]
        return
    locked = Lock.read(lock_path(profile)).packages
    pins = [name for name in profile.pins if name in locked and not locked[name].protected]
    assert len(steps) == 2 + len(pins)  # a pin in the protected closure is installed there
    assert "--find-links /wheels/deps " in steps[1]
    for name, step in zip(pins, steps[2:], strict=True):
        assert f"--find-links /wheels/pin-{name} " in step


def test_a_pin_step_mounts_only_its_own_wheels(profile: Profile, project: Project) -> None:
    """BuildKit keys a step on the bytes it mounts: a bump of one pin must leave the steps
    before it, and the closure's step, cached."""
    if not lock_path(profile).is_file():
        pytest.skip(f"{profile.name} is not locked here")
    locked = Lock.read(lock_path(profile))
    for step in installs(dockerfile(profile, project))[2:]:
        name = re.search(r"--find-links /wheels/pin-(\S+) ", step)[1]  # type: ignore[index]
        sources = re.findall(r"--mount=type=bind,source=wheelhouse/[^/]+/rest/([^,]+),", step)
        assert set(sources) == {wheel.filename for wheel in locked.packages[name].wheels}


def test_every_install_takes_only_locked_wheels_with_hashes(
    profile: Profile, project: Project
) -> None:
    """Versions come from the lock: a step names only the lock's own lines, hashes and all,
    and pip may install nothing else."""
    path = lock_path(profile)
    lines = (
        {p.requirement() for p in Lock.read(path).packages.values()} if path.is_file() else set()
    )
    for step in installs(dockerfile(profile, project)):
        words = step.split()
        assert {"--no-deps", "--require-hashes", "--only-binary=:all:"} <= set(words), step
        written = set(re.findall(r"'([^']+==[^']+)'", step))
        assert written <= lines, step
        assert {pin for pin in pins_in(step)} <= {line.split()[0] for line in written}, step


def test_the_image_is_labelled_with_its_lock(profile: Profile, project: Project) -> None:
    text = dockerfile(profile, project)
    path = lock_path(profile)
    if path.is_file():
        assert f'org.imagegate.lock="sha256:{Lock.read(path).sha256}"' in text
    else:
        assert 'org.imagegate.lock="none: not locked"' in text


def test_every_pip_install_is_offline(profile: Profile, project: Project) -> None:
    steps = installs(dockerfile(profile, project))

    assert steps
    for step in steps:
        assert "--no-index" in step.split(), step
        assert "--index-url" not in step
        assert "--extra-index-url" not in step


def test_wheels_are_bind_mounted_never_copied(profile: Profile, project: Project) -> None:
    found = instructions(dockerfile(profile, project))

    copies = [i for i in found if i.split()[0] in ("COPY", "ADD")]
    for copy in copies:
        assert "wheel" not in copy.lower(), copy
        assert ".whl" not in copy, copy
    for step in installs(dockerfile(profile, project)):
        assert "--mount=type=bind" in step, step


def test_the_smoke_step_runs_last_and_fails_on_broken(profile: Profile, project: Project) -> None:
    found = instructions(dockerfile(profile, project))
    smoke = [i for i, step in enumerate(found) if "collect.py" in step and step.startswith("RUN")]
    last_install = max(i for i, step in enumerate(found) if step in installs("\n".join(found)))

    assert len(smoke) == 1
    assert smoke[0] > last_install
    assert "--fail-on-broken" in found[smoke[0]]


def test_the_dockerfile_names_its_base_and_needs_no_syntax_frontend(
    profile: Profile, project: Project
) -> None:
    text = dockerfile(profile, project)

    assert not text.startswith("# syntax=")
    assert profile.base.image in text
    assert instructions(text)[0].startswith(("ARG", "FROM"))
    assert f"profiles/{profile.name}.yaml" in text
    assert str(project.root) not in text, "the Dockerfile must not hold an absolute path"


def test_write_only_rewrites_a_stale_dockerfile(tmp_path: Path) -> None:
    shutil.copytree(PROFILES, tmp_path / "profiles")
    project = Project.from_profiles(tmp_path / "profiles")
    profile = load_profile("cpu", project.profiles)

    first = write(profile, project, on_disk(profile))
    again = write(profile, project, on_disk(profile))
    first.path.write_text("stale\n", encoding="utf-8")
    checked = write(profile, project, on_disk(profile), check_only=True)

    assert (first.changed, again.changed, checked.changed) == (True, False, True)
    assert first.path == tmp_path / "dockerfiles" / "cpu.Dockerfile"
    assert first.path.read_text(encoding="utf-8") == "stale\n"
    assert write(profile, project, on_disk(profile)).changed
    for path, text in render(profile, project, on_disk(profile)).items():
        assert path.read_text(encoding="utf-8") == text


def test_the_build_context_holds_only_this_profile_wheelhouse(
    profile: Profile, project: Project
) -> None:
    rendered = render(profile, project, on_disk(profile))
    [ignore] = [text for path, text in rendered.items() if path.name.endswith(".dockerignore")]
    rules = [line for line in ignore.splitlines() if line and not line.startswith("#")]
    others = [name for name in shipped() if name != profile.name]

    assert rules[0] == "*"
    assert f"!wheelhouse/{profile.name}/" in rules
    assert not [rule for rule in rules if any(f"wheelhouse/{other}/" in rule for other in others)]
    steps = installs(dockerfile(profile, project))
    sources = [s for step in steps for s in re.findall(r"--mount=type=bind,source=([^,\s]+)", step)]
    assert len(sources) >= len(steps)
    mounted = {s for s in sources if not s.startswith(f"wheelhouse/{profile.name}")}
    assert mounted == {INSTALLER_DIR}  # imagegate's uv, and nothing else of the project
    assert f"!{INSTALLER_DIR}/" in rules


def test_tier_3_runs_beside_tiers_1_2_in_the_smoke_step(profile: Profile, project: Project) -> None:
    """The build's own step collects tier 3 too (in its own process), so a build that just
    ran needs no container for it: it fails the build like a broken import does."""
    [smoke] = [i for i in instructions(dockerfile(profile, project)) if "collect.py" in i]

    assert profile.probes.models
    assert f'"--models-output", "{BUILD_MODELS}"' in smoke
    for model in profile.probes.models:
        assert f'"--model-arg=--arch={model}"' in smoke
    assert '"--model-arg=--fail-on-broken"' in smoke  # a failing step fails the build
    assert "--model-arg=--require-gpu" not in smoke  # a build has no GPU to require


def test_the_smoke_step_is_in_a_stage_of_its_own_and_its_reports_in_no_image(
    profile: Profile, project: Project
) -> None:
    """The image is the last stage: the stack and labels only. The smoke step runs in a
    stage FROM the same stack, and the reports stage holds nothing but its reports (a build
    writes it to a folder), so no image carries facts its children would inherit."""
    found = instructions(dockerfile(profile, project))
    stages: dict[str, list[str]] = {}
    order: list[str] = []
    for instruction in found:
        if instruction.startswith("FROM "):
            words = instruction.split()
            name = words[3] if len(words) == 4 and words[2] == "AS" else f"#{len(order)}"
            order.append(name)
            stages[name] = [instruction]
        elif order:
            stages[order[-1]].append(instruction)

    assert order[:3] == [STACK_STAGE, SMOKE_STAGE, REPORTS_STAGE]
    image = stages[order[-1]]
    assert len(order) == 4 and image[0] == f"FROM {STACK_STAGE}"
    assert all(i.startswith(("FROM", "LABEL", "ENV")) for i in image)  # nothing runs there
    assert stages[SMOKE_STAGE][0] == f"FROM {STACK_STAGE} AS {SMOKE_STAGE}"
    assert any("collect.py" in i for i in stages[SMOKE_STAGE])
    reports = [BUILD_FACTS, *([BUILD_MODELS] if has_models(profile) else [])]
    assert stages[REPORTS_STAGE] == [
        f"FROM scratch AS {REPORTS_STAGE}",
        f"COPY --from={SMOKE_STAGE} {' '.join(reports)} /",
    ]


# -- profile values never become instructions -----------------------------------------------

INJECTED = "RUN echo injected"


def derived(tmp_path: Path, name: str = "x", **overrides: object) -> tuple[Profile, Project]:
    """A profile `name` that extends the shipped cpu profile with `overrides`."""
    directory = tmp_path / "profiles"
    shutil.copytree(PROFILES, directory)
    text = yaml.safe_dump({"extends": "cpu", **overrides})
    (directory / f"{name}.yaml").write_text(text, encoding="utf-8")
    return load_profile(name, directory), Project.from_profiles(directory)


def not_injected(text: str) -> None:
    assert INJECTED not in instructions(text)
    assert not [i for i in instructions(text) if "injected" in i and i.startswith("RUN echo")]


def test_a_base_image_with_a_line_break_is_not_an_image_reference(tmp_path: Path) -> None:
    with pytest.raises(ProfileError) as raised:
        derived(tmp_path, base={"image": f"python:3.11\n{INJECTED}"})
    message = str(raised.value)
    assert message.startswith(
        f"{tmp_path / 'profiles' / 'x.yaml'}: base.image: 'python:3.11\\n{INJECTED}' "
        "is not an image reference ("
    )
    assert "\n" not in message
    assert raised.value.exit_code == ExitCode.BAD_INPUT


@pytest.mark.parametrize("image", ["Python:3.11", "python:3.11 AS evil", "python:3.11\\"])
def test_a_base_image_outside_the_reference_grammar_is_refused(tmp_path: Path, image: str) -> None:
    with pytest.raises(ProfileError, match=r"base\.image: .* is not an image reference"):
        derived(tmp_path, base={"image": image})


def test_a_base_image_with_registry_port_and_digest_renders(tmp_path: Path) -> None:
    image = f"localhost:5000/team/python:3.11@sha256:{'ab' * 32}"
    profile, project = derived(tmp_path, base={"image": image})
    assert instructions(dockerfile(profile, project))[0] == f"ARG BASE_IMAGE={image}"


def test_a_package_name_with_a_trailing_line_break_is_refused(tmp_path: Path) -> None:
    """`^...$` matched `curl\\n`; the next names then formed their own RUN instruction."""
    packages = ["curl\n", "run", "echo", "injected"]
    with pytest.raises(ProfileError, match=r"base\.packages\.0: 'curl\\n' is not a Debian"):
        derived(tmp_path, base={"packages": packages})


def test_a_description_with_line_breaks_stays_a_comment(tmp_path: Path) -> None:
    plain = dockerfile(*derived(tmp_path / "plain", description="one line"))
    text = dockerfile(
        *derived(
            tmp_path / "broken", description=f"first\n{INJECTED}\r{INJECTED}\u2028{INJECTED}\\"
        )
    )

    not_injected(text)
    assert instructions(text) == instructions(plain)
    assert f"# {INJECTED}" in text.splitlines()


def test_a_profile_named_with_a_line_break_is_refused_by_the_render(tmp_path: Path) -> None:
    profile, project = derived(tmp_path, name=f"x\n{INJECTED}")
    with pytest.raises(ProfileError, match="the profile name"):
        render(profile, project, on_disk(profile))


@pytest.mark.parametrize(
    ("field", "value"),
    [("image", f"python:3.11\n{INJECTED}"), ("packages", ("curl", f"x\n{INJECTED}"))],
)
def test_the_render_refuses_what_the_schema_would_have(
    field: str, value: object, project: Project
) -> None:
    """A Profile made in code, not read from a file, meets the same guard."""
    profile = load_profile("cpu", PROFILES)
    bad = replace(profile, base=replace(profile.base, **{field: value}))
    with pytest.raises(ProfileError, match=f"base.{field}"):
        render(bad, project, on_disk(bad))
