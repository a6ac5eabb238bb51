"""The installers' command lines, and their output read back: recorded from the real uv and
pip on this machine (tests/unit/recorded/uv-*.txt, pip-*.txt), through the same builders."""

from __future__ import annotations

import sys
from itertools import pairwise
from pathlib import Path

import pytest
from packaging.version import Version

from imagegate import installer
from imagegate.installer import Indexes, UserSources
from imagegate.render import command
from imagegate.target import Target

from .test_hardware import recorded

TARGET = Target(python="3.10", platform="manylinux_2_35_x86_64")
INDEXES = {"torch-cu121": "https://torch.example/cu121", "mirror": "file:///srv/mirror"}


def pairs(args: list[str], flag: str) -> list[str]:
    """The value after each `flag` in `args`."""
    return [value for option, value in pairwise(args) if option == flag]


# -- building --------------------------------------------------------------------------------


def test_a_profiles_reachable_indexes_join_and_the_others_say_why() -> None:
    def probe(url: str) -> str | None:
        return "HTTP 503" if "torch" in url else None

    reach = installer.profile_indexes(INDEXES, ["torch-cu121", "mirror", "mirror"], probe)

    assert pairs(list(reach.options), "--extra-index-url") == ["file:///srv/mirror"]
    assert reach.out_of_reach == {"torch-cu121": "HTTP 503"}


def test_no_named_index_adds_nothing_and_probes_nothing() -> None:
    def probe(url: str) -> str | None:
        raise AssertionError(url)

    assert installer.profile_indexes(INDEXES, [], probe) == Indexes(options=(), out_of_reach={})


def test_pip_options_describe_the_target_not_the_host() -> None:
    options = installer.target_options(TARGET)

    assert options[:3] == ["--only-binary=:all:", "--python-version", "3.10"]
    pairs_ = list(zip(options[1::2], options[2::2], strict=True))
    assert ("--implementation", "cp") in pairs_
    assert {value for flag, value in pairs_ if flag == "--abi"} == {"cp310", "abi3", "none"}
    platforms = [value for flag, value in pairs_ if flag == "--platform"]
    assert platforms == list(TARGET.platforms)


def test_a_compile_resolves_for_the_target_from_every_source(tmp_path: Path) -> None:
    user = UserSources(index_url="https://mirror.example/simple", find_links=("/wheels",))
    reach = Indexes(options=("--extra-index-url", INDEXES["torch-cu121"]), out_of_reach={})
    args = installer.compile_lock(
        tmp_path / "all.in",
        tmp_path / "pylock.all.toml",
        target=TARGET,
        constraints=tmp_path / "c.txt",
        user=user,
        indexes=reach,
    )

    assert args[: len(installer.UV)] == list(installer.UV)
    assert pairs(args, "--python-platform") == [TARGET.uv_platform]
    assert pairs(args, "--python-version") == ["3.10"]
    assert pairs(args, "--python") == [sys.executable]  # never a Python 3.10 looked for
    assert pairs(args, "--constraints") == [str(tmp_path / "c.txt")]
    assert pairs(args, "--index-url") == ["https://mirror.example/simple"]
    assert pairs(args, "--find-links") == ["/wheels"]
    assert pairs(args, "--extra-index-url") == [INDEXES["torch-cu121"]]
    assert pairs(args, "-o") == [str(tmp_path / "pylock.all.toml")]


def test_a_download_fetches_hashed_wheels_for_the_target(tmp_path: Path) -> None:
    reach = Indexes(options=("--extra-index-url", "https://torch.example"), out_of_reach={})
    args = installer.download(tmp_path / "r.txt", dest=tmp_path, target=TARGET, indexes=reach)

    assert {"--no-deps", "--require-hashes"} <= set(args)
    assert pairs(args, "--find-links") == [str(tmp_path)]  # what is there already counts
    assert pairs(args, "--platform") == list(TARGET.platforms)
    assert pairs(args, "--extra-index-url") == ["https://torch.example"]


def test_an_install_takes_only_hashed_wheels_from_the_folders_named(tmp_path: Path) -> None:
    python = tmp_path / "venv" / "bin" / "python"
    requirements = [tmp_path / "a.txt", tmp_path / "b.txt"]
    args = installer.install(python, find_links=["/x", tmp_path], requirements=requirements)

    assert set(installer.HASHED_WHEELS_ONLY) <= set(args)
    assert pairs(args, "--python") == [str(python)]
    assert pairs(args, "--find-links") == ["/x", str(tmp_path)]
    assert pairs(args, "-r") == [str(path) for path in requirements]


def test_both_installs_of_a_dockerfile_step_take_the_same_wheels() -> None:
    where = {"wheels": "/wheels/deps", "requirements": "/tmp/r.txt"}
    by_uv = installer.image_install("/opt/uv", python="/opt/venv/bin/python", **where)
    by_pip = installer.image_pip_install(**where)

    assert by_uv[0] == installer.image_uv_runs("/opt/uv")[0]
    for args in (by_uv, by_pip):
        assert set(installer.HASHED_WHEELS_ONLY) <= set(args)
        assert pairs(args, "--find-links") == ["/wheels/deps"]
        assert pairs(args, "-r") == ["/tmp/r.txt"]


def test_a_message_names_the_command(tmp_path: Path) -> None:
    assert installer.named(installer.uninstall(tmp_path, "x")) == "uv pip uninstall"
    assert installer.named(installer.config_list()) == "pip config"
    assert (
        installer.named(
            installer.download(
                tmp_path, dest=tmp_path, target=TARGET, indexes=Indexes(options=(), out_of_reach={})
            )
        )
        == "pip download"
    )


# -- reading uv ------------------------------------------------------------------------------


def test_a_missing_version_is_named_with_its_specifier() -> None:
    missing = installer.missing_version(recorded("uv-compile.no-version.txt"))

    assert missing is not None
    assert (missing.name, missing.spec, str(missing)) == ("numpy", "==1.0.99", "numpy==1.0.99")


def test_a_conflict_is_explained_sentence_by_sentence() -> None:
    output = recorded("uv-compile.conflict.txt")
    causes = installer.conflict(output)

    assert len(causes) == 2
    assert "transformers==4.57.6" in causes[0] and "huggingface-hub==2.0.0" in causes[1]
    assert installer.missing_version(output) is None
    assert not installer.index_unreachable(output)


@pytest.mark.parametrize("name", ["uv-compile.closed-port.txt", "uv-compile.no-dns.txt"])
def test_an_index_out_of_reach_is_told_from_a_resolution_that_failed(name: str) -> None:
    output = recorded(name)

    assert installer.index_unreachable(output)
    assert installer.missing_version(output) is None and installer.conflict(output) == []
    assert installer.last_line(output) != "no output"


def test_the_reason_uv_stopped_is_its_last_line() -> None:
    output = recorded("uv-compile.closed-port.txt")

    assert installer.last_line(output) == output.strip().splitlines()[-1].strip()
    assert installer.last_line("\n  \n") == "no output"


def test_an_uninstall_of_what_is_not_there_is_told_apart() -> None:
    assert installer.not_installed(recorded("uv-uninstall.not-installed.txt"))
    assert not installer.not_installed(recorded("uv-compile.conflict.txt"))


# -- reading pip -----------------------------------------------------------------------------


def test_a_download_is_followed_file_by_file() -> None:
    lines = recorded("pip-download.fetching.txt").splitlines()
    started = [s for line in lines if (s := installer.download_started(line)) is not None]
    done = [name for line in lines if (name := installer.download_done(line)) is not None]

    assert [s.filename.split("-")[0] for s in started] == ["numpy", "idna"]
    assert started[0].nbytes == 16_900_000 and started[1].nbytes == 69_000
    assert [name.split("-")[0] for name in done] == ["numpy", "idna"]
    assert [s.filename for s in started] == done


def test_wheels_already_there_count_as_done_without_a_download() -> None:
    lines = recorded("pip-download.again.txt").splitlines()

    assert not any(installer.download_started(line) for line in lines)
    assert len([line for line in lines if installer.download_done(line)]) == 2


def test_a_hash_mismatch_names_the_wheel() -> None:
    assert installer.hash_mismatch(recorded("pip-download.hash-mismatch.txt")) == ["idna==3.20"]
    assert installer.hash_mismatch(recorded("pip-download.not-found.txt")) is None


@pytest.mark.parametrize(
    ("name", "network"),
    [("pip-download.not-found.txt", False), ("pip-download.closed-port.txt", True)],
)
def test_a_wheel_no_source_has_is_told_from_an_index_out_of_reach(name: str, network: bool) -> None:
    output = recorded(name)

    assert installer.not_found(output) == "idna==0.0.1"
    assert installer.network_failed(output) is network
    assert installer.hash_mismatch(output) is None


def test_the_versions_pip_lists_come_newest_first() -> None:
    found = installer.available_versions(recorded("pip-index-versions.numpy.txt"))

    assert found is not None
    assert found == sorted(found, reverse=True)
    assert found[0] == Version("2.4.6") and found[-1] == Version("1.26.4")


def test_no_versions_of_a_package_no_index_has() -> None:
    output = recorded("pip-index-versions.none.txt")

    assert installer.available_versions(output) is None
    assert installer.no_distribution(output)


def test_pips_configuration_is_read_key_by_key_unquoted() -> None:
    values = dict(installer.configuration(recorded("pip-config-list.txt")))

    assert values["global.extra-index-url"].split() == [
        "file:///opt/pypi/simple",
        "file:///opt/pypi-more/simple",
    ]
    assert values["global.find-links"] == "/opt/wheels"
    assert all("'" not in value and '"' not in value for value in values.values())


@pytest.mark.parametrize(
    "items",
    [
        pytest.param(
            [("global.find-links", "/opt/wheels"), (":env:.cert", "/etc/ca.crt")], id="pip 23-25"
        ),
        pytest.param(
            [
                ("/etc/pip.conf", {"global.find-links": "/opt/wheels"}),
                ("/root/.pip/pip.conf", {}),
                (":env:", {":env:.cert": "/etc/ca.crt"}),
            ],
            id="pip 26",
        ),
    ],
)
def test_pips_loaded_configuration_reads_the_same_in_either_shape(items: list) -> None:
    """pip 26 groups its configuration by file: read flat, a tool environment with a new pip
    would see none of the user's sources (and find nothing their mirrors hold)."""
    assert installer.configuration_items(items) == [
        ("global.find-links", "/opt/wheels"),
        (":env:.cert", "/etc/ca.crt"),
    ]


def test_a_dockerfile_step_wraps_a_command_with_each_option_beside_its_value() -> None:
    args = installer.image_pip_install(wheels="/wheels/" + "x" * 80, requirements="/tmp/r.txt")
    text = command(args, indent=6, width=60)
    lines = text.split(" \\\n")

    assert len(lines) > 1
    short = [line for line in [" " * 6 + lines[0], *lines[1:]] if "x" * 80 not in line]
    assert short and all(len(f"{line} \\") <= 60 for line in short)
    assert any(line.strip() == f"--find-links /wheels/{'x' * 80}" for line in lines)
    assert text.replace(" \\\n", " ").split() == args
