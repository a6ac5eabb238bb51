"""Hardware: recorded tool outputs parsed into GPUs, and the shipped profiles judged on them."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import pytest

from imagegate import hardware
from imagegate.errors import EnvironmentProblem, ExitCode, UsageError
from imagegate.gpu_rules import Gpu, choose, consistency, supports
from imagegate.hardware import detect, parse_amd_smi, parse_nvidia_smi, parse_rocm_smi
from imagegate.profiles import Profile, load_profiles, profile_names
from imagegate.runner import Completed

RECORDED = Path(__file__).parent / "recorded"
SHIPPED = Path(__file__).resolve().parents[2] / "profiles"


def recorded(name: str) -> str:
    """The tool's output as recorded, without the note at the top of the file."""
    lines = (RECORDED / name).read_text(encoding="utf-8").splitlines(keepends=True)
    return "".join(line for line in lines if not line.startswith("#"))


@pytest.fixture(scope="module")
def profiles() -> list[Profile]:
    return load_profiles(profile_names(SHIPPED), SHIPPED)


def by_name(profiles: Sequence[Profile], name: str) -> Profile:
    return next(p for p in profiles if p.name == name)


def fitting(profiles: Sequence[Profile], gpus: Sequence[Gpu]) -> list[str]:
    return [p.name for p in profiles if all(supports(p, gpu) is None for gpu in gpus)]


# -- parsers, on recorded outputs ----------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "gpu"),
    [
        ("nvidia-smi.a100.txt", ("NVIDIA A100-SXM4-80GB", "sm_80", "535.104.05")),
        ("nvidia-smi.rtx4090.txt", ("NVIDIA GeForce RTX 4090", "sm_89", "560.35.03")),
        ("nvidia-smi.rtx5090-r570.txt", ("NVIDIA GeForce RTX 5090", "sm_120", "570.124.06")),
    ],
)
def test_nvidia_smi_one_gpu(name: str, gpu: tuple[str, str, str]) -> None:
    (parsed,) = parse_nvidia_smi(recorded(name))
    assert (parsed.vendor, parsed.name, parsed.arch, parsed.driver) == ("nvidia", *gpu)


def test_nvidia_smi_several_gpus() -> None:
    gpus = parse_nvidia_smi(recorded("nvidia-smi.h100x8.txt"))
    assert len(gpus) == 8
    assert {(g.name, g.arch, g.driver) for g in gpus} == {
        ("NVIDIA H100 80GB HBM3", "sm_90", "550.54.15")
    }
    mixed = parse_nvidia_smi(recorded("nvidia-smi.rtx5090-rtx4090.txt"))
    assert [g.arch for g in mixed] == ["sm_120", "sm_89"]


def test_nvidia_smi_without_devices_is_no_gpu() -> None:
    assert parse_nvidia_smi(recorded("nvidia-smi.no-devices.txt")) == ()


@pytest.mark.parametrize(
    ("name", "quoted"),
    [
        ("nvidia-smi.no-driver.txt", "couldn't communicate with the NVIDIA driver"),
        ("nvidia-smi.old-driver.txt", 'Field "compute_cap" is not a valid field'),
    ],
)
def test_nvidia_smi_failure_is_a_clear_error(name: str, quoted: str) -> None:
    with pytest.raises(EnvironmentProblem) as raised:
        parse_nvidia_smi(recorded(name))
    message = str(raised.value)
    assert message.startswith("nvidia-smi could not report the GPUs: ")
    assert quoted in message
    assert "check that the NVIDIA driver is installed and loaded" in message
    assert raised.value.exit_code is ExitCode.ENVIRONMENT


@pytest.mark.parametrize(
    ("name", "gpu", "count"),
    [
        ("rocm-smi.mi300x.json", ("AMD Instinct MI300X OAM", "gfx942", "6.8.5"), 2),
        ("rocm-smi.mi250x-rocm6.1.json", ("AMD Instinct MI250X", "gfx90a", "6.7.0"), 2),
        ("rocm-smi.mi250x-rocm5.7.json", ("AMD Instinct MI250X", "gfx90a", "6.2.4"), 2),
    ],
)
def test_rocm_smi(name: str, gpu: tuple[str, str, str], count: int) -> None:
    gpus = parse_rocm_smi(recorded(name))
    assert len(gpus) == count
    assert {(g.vendor, g.name, g.arch, g.driver) for g in gpus} == {("amd", *gpu)}


@pytest.mark.parametrize(
    ("name", "gpu", "count"),
    [
        ("amd-smi.mi300x.json", ("AMD Instinct MI300X", "gfx942", "6.12.12"), 4),
        ("amd-smi.mi250x.json", ("AMD Instinct MI250X", "gfx90a", "6.8.5"), 2),
    ],
)
def test_amd_smi(name: str, gpu: tuple[str, str, str], count: int) -> None:
    gpus = parse_amd_smi(recorded(name))
    assert len(gpus) == count
    assert {(g.vendor, g.name, g.arch, g.driver) for g in gpus} == {("amd", *gpu)}


def test_rocm_smi_does_not_depend_on_key_order() -> None:
    data = json.loads(recorded("rocm-smi.mi300x.json"))
    data["card1"]["Card Series"] = "AMD Instinct MI300X VF"
    shuffled = {key: dict(reversed(data[key].items())) for key in reversed(list(data))}
    assert next(iter(shuffled)) == "system"
    assert parse_rocm_smi(json.dumps(shuffled)) == parse_rocm_smi(json.dumps(data))
    assert [g.name for g in parse_rocm_smi(json.dumps(shuffled))] == [
        "AMD Instinct MI300X OAM",
        "AMD Instinct MI300X VF",
    ]


def test_rocm_smi_skips_log_lines_around_the_json() -> None:
    text = "WARNING: one card is in low-power mode\n" + recorded("rocm-smi.mi300x.json")
    assert [g.arch for g in parse_rocm_smi(text)] == ["gfx942", "gfx942"]


def test_rocm_smi_without_the_driver_is_a_clear_error() -> None:
    with pytest.raises(EnvironmentProblem) as raised:
        parse_rocm_smi(recorded("rocm-smi.no-driver.txt"))
    assert str(raised.value) == (
        "rocm-smi could not report the GPUs: "
        "ERROR:root:Driver not initialized (amdgpu not found in modules); "
        "check that the amdgpu driver is installed and loaded"
    )


def test_unknown_amd_gpu_without_a_gfx_target_is_a_clear_error() -> None:
    data = json.loads(recorded("rocm-smi.mi250x-rocm5.7.json"))
    data["card0"]["Card series"] = "AMD Radeon Pro W7900"
    with pytest.raises(EnvironmentProblem, match="AMD Radeon Pro W7900: no gfx target reported"):
        parse_rocm_smi(json.dumps(data))


# -- detect -----------------------------------------------------------------------------------


class Tools:
    """Stands in for the runner: each installed tool answers with its recorded output."""

    def __init__(self, **outputs: str) -> None:
        self.outputs = {name.replace("_", "-"): text for name, text in outputs.items()}
        self.calls: list[tuple[str, ...]] = []

    def which(self, program: str) -> str | None:
        return f"/usr/bin/{program}" if program in self.outputs else None

    def run(self, args: Sequence[str | Path], *, timeout: float) -> Completed:
        argv = tuple(str(arg) for arg in args)
        self.calls.append(argv)
        return Completed(args=argv, returncode=0, output=self.outputs[argv[0]])


def test_detect_on_this_machine_finds_no_gpu() -> None:
    assert detect() == ()


def test_detect_asks_each_vendor_tool_through_the_runner() -> None:
    tools = Tools(nvidia_smi=recorded("nvidia-smi.a100.txt"))
    assert [g.arch for g in detect(run=tools.run, which=tools.which)] == ["sm_80"]
    assert tools.calls == [hardware.NVIDIA_SMI]


def test_detect_prefers_amd_smi_and_falls_back_to_rocm_smi() -> None:
    both = Tools(amd_smi=recorded("amd-smi.mi300x.json"), rocm_smi="not read")
    assert len(detect(run=both.run, which=both.which)) == 4
    assert both.calls == [hardware.AMD_SMI]
    old = Tools(rocm_smi=recorded("rocm-smi.mi250x-rocm5.7.json"))
    assert [g.arch for g in detect(run=old.run, which=old.which)] == ["gfx90a", "gfx90a"]


def test_detect_reports_an_installed_tool_that_hangs() -> None:
    def hangs(args: Sequence[str | Path], *, timeout: float) -> Completed:
        raise EnvironmentProblem(f"nvidia-smi: still running after {timeout:g}s; it was stopped")

    with pytest.raises(EnvironmentProblem, match="still running"):
        detect(run=hangs, which=lambda program: f"/usr/bin/{program}")


def fake_tool(folder: Path, name: str, body: str) -> Path:
    """A real executable standing in for a vendor tool (exec: the runner stops that process)."""
    path = folder / name
    path.write_text(f"#!/bin/sh\n{body}\n", encoding="utf-8")
    path.chmod(0o755)
    return path


def test_a_tool_that_does_not_answer_is_a_hung_driver(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hardware, "PATIENCE", 0.05)
    fake_tool(tmp_path, "nvidia-smi", f"exec {shutil.which('sleep')} 30")
    monkeypatch.setenv("PATH", str(tmp_path))
    started = time.monotonic()

    with pytest.raises(EnvironmentProblem) as raised:
        detect(timeout=0.5)

    assert time.monotonic() - started < 10
    assert str(raised.value).startswith("nvidia-smi did not answer within 0.5 s: the driver")
    assert raised.value.exit_code == ExitCode.ENVIRONMENT
    waited = [line for line in capsys.readouterr().err.splitlines() if "waiting" in line]
    assert waited == ["waiting for nvidia-smi (up to 0.5 s)…"]


def test_a_tool_that_answers_at_once_is_awaited_silently(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The control: the same tool, answering, prints no waiting line."""
    output = RECORDED / "nvidia-smi.a100.txt"
    fake_tool(tmp_path, "nvidia-smi", f"exec {shutil.which('grep')} -v '^#' {output}")
    monkeypatch.setenv("PATH", str(tmp_path))

    gpus = detect(timeout=5)

    assert [g.arch for g in gpus] == ["sm_80"]
    assert capsys.readouterr().err == ""


def test_the_smi_timeout_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(hardware.TIMEOUT_ENV, raising=False)
    assert hardware.smi_timeout() == hardware.TIMEOUT == 20
    monkeypatch.setenv(hardware.TIMEOUT_ENV, "2.5")
    assert hardware.smi_timeout() == 2.5
    for bad in ("soon", "0", "-1", "nan"):
        monkeypatch.setenv(hardware.TIMEOUT_ENV, bad)
        with pytest.raises(UsageError, match=hardware.TIMEOUT_ENV):
            hardware.smi_timeout()


# -- supports and choose ----------------------------------------------------------------------


def test_a100_runs_every_cuda_profile_and_the_newest_its_driver_allows(
    profiles: list[Profile],
) -> None:
    gpus = parse_nvidia_smi(recorded("nvidia-smi.a100.txt"))
    assert fitting(profiles, gpus) == ["cuda121", "cuda124", "cuda128"]
    assert supports(by_name(profiles, "cuda130"), gpus[0]) == (
        "driver 535.104.05 is older than 580.65.06, which this profile's CUDA needs"
    )
    choice = choose(profiles, gpus)
    assert choice.profile == "cuda128"
    assert choice.reason == (
        "the newest CUDA (12.8) of 3 that run on NVIDIA A100-SXM4-80GB (sm_80), driver 535.104.05"
    )
    rejected = dict(choice.rejected)
    assert set(rejected) == {"cpu", "cuda121", "cuda124", "cuda130", "rocm57"}
    assert rejected["cuda124"] == "runs here too, but its CUDA 12.4 is older than 12.8"
    assert rejected["cpu"] == "a CPU build: it would leave NVIDIA A100-SXM4-80GB unused"
    assert rejected["rocm57"] == "built for AMD GPUs, not NVIDIA A100-SXM4-80GB"


def test_h100_node(profiles: list[Profile]) -> None:
    gpus = parse_nvidia_smi(recorded("nvidia-smi.h100x8.txt"))
    assert fitting(profiles, gpus) == ["cuda121", "cuda124", "cuda128"]
    choice = choose(profiles, gpus)
    assert choice.profile == "cuda128"
    assert "8x NVIDIA H100 80GB HBM3 (sm_90), driver 550.54.15" in choice.reason
    assert dict(choice.rejected)["cuda130"].startswith("driver 550.54.15 is older than 580.65.06")


def test_rtx_4090_runs_on_the_sm_86_code(profiles: list[Profile]) -> None:
    (gpu,) = parse_nvidia_smi(recorded("nvidia-smi.rtx4090.txt"))
    assert "sm_89" not in by_name(profiles, "cuda124").hardware.architectures
    assert supports(by_name(profiles, "cuda124"), gpu) is None
    assert choose(profiles, [gpu]).profile == "cuda128"


def test_rtx_5090_needs_an_sm_12x_build(profiles: list[Profile]) -> None:
    (old_driver,) = parse_nvidia_smi(recorded("nvidia-smi.rtx5090-r570.txt"))
    (new_driver,) = parse_nvidia_smi(recorded("nvidia-smi.rtx5090-r580.txt"))
    assert fitting(profiles, [new_driver]) == ["cuda128", "cuda130"]
    assert supports(by_name(profiles, "cuda124"), new_driver) == (
        "NVIDIA GeForce RTX 5090 (sm_120) needs an sm_12x build at or below sm_120; "
        "this profile has sm_50, sm_60, sm_70, sm_75, sm_80, sm_86, sm_90"
    )
    assert choose(profiles, [new_driver]).profile == "cuda130"
    assert choose(profiles, [old_driver]).profile == "cuda128"
    assert dict(choose(profiles, [old_driver]).rejected)["cuda130"] == (
        "driver 570.124.06 is older than 580.65.06, which this profile's CUDA needs"
    )


def test_every_gpu_must_be_supported(profiles: list[Profile]) -> None:
    gpus = parse_nvidia_smi(recorded("nvidia-smi.rtx5090-rtx4090.txt"))
    choice = choose(profiles, gpus)
    assert choice.profile == "cuda128"
    assert choice.reason == (
        "the only profile that runs on NVIDIA GeForce RTX 5090 (sm_120) + "
        "NVIDIA GeForce RTX 4090 (sm_89), driver 575.57.08"
    )
    assert "needs an sm_12x build" in dict(choice.rejected)["cuda121"]


def test_mi300x_gets_rocm(profiles: list[Profile]) -> None:
    for gpus in (
        parse_rocm_smi(recorded("rocm-smi.mi300x.json")),
        parse_amd_smi(recorded("amd-smi.mi300x.json")),
    ):
        choice = choose(profiles, gpus)
        assert choice.profile == "rocm57"
        assert choice.reason.startswith("the only profile that runs on ")
        assert dict(choice.rejected)["cuda128"].startswith("built for NVIDIA GPUs, not AMD")


def test_amd_needs_the_exact_gfx_target(profiles: list[Profile]) -> None:
    mi300x = parse_rocm_smi(recorded("rocm-smi.mi300x.json"))[0]
    rdna4 = replace(mi300x, name="AMD Radeon AI PRO R9700", arch="gfx1201")
    assert supports(by_name(profiles, "rocm57"), rdna4) == (
        "AMD Radeon AI PRO R9700 (gfx1201) needs a gfx1201 build; this profile has "
        "gfx900, gfx906, gfx908, gfx90a, gfx942, gfx1030, gfx1100"
    )
    choice = choose(profiles, [rdna4])
    assert choice.profile is None
    assert choice.reason == (
        "no profile holds code for gfx1201; add one whose hardware.architectures covers it"
    )


def test_a_driver_too_old_for_every_profile_names_the_version_needed(
    profiles: list[Profile],
) -> None:
    gpus = parse_nvidia_smi(recorded("nvidia-smi.a100-r515.txt"))
    choice = choose(profiles, gpus)
    assert choice.profile is None
    assert choice.reason == (
        "driver 515.65.01 is too old for every profile that runs on "
        "2x NVIDIA A100-SXM4-40GB (sm_80); "
        "update it to 525.60.13 or newer for cuda128, "
        "or to 580.65.06 or newer for cuda130 (the newest runtime)"
    )
    assert [name for name, _ in choice.rejected] == [p.name for p in profiles]


def test_no_gpu_means_the_cpu_profile(profiles: list[Profile]) -> None:
    choice = choose(profiles, [])
    assert (choice.profile, choice.reason, choice.gpus) == ("cpu", "no GPU found", ())
    assert [name for name, _ in choice.rejected] == [p.name for p in profiles if p.name != "cpu"]
    assert dict(choice.rejected)["cuda130"] == "needs an NVIDIA GPU; none found"
    assert dict(choice.rejected)["rocm57"] == "needs an AMD GPU; none found"
    no_cpu = choose([p for p in profiles if p.name != "cpu"], [])
    assert no_cpu.profile is None
    assert no_cpu.reason.startswith("no GPU found, and no CPU profile (hardware.vendor: none)")


def test_choice_serialises_itself(profiles: list[Profile]) -> None:
    data = choose(profiles, parse_nvidia_smi(recorded("nvidia-smi.a100.txt"))).to_dict()
    assert json.loads(json.dumps(data))["gpus"][0]["arch"] == "sm_80"
    assert data["rejected"]["cpu"].startswith("a CPU build")


# -- consistency -------------------------------------------------------------------------------


def test_shipped_profiles_are_consistent(profiles: list[Profile]) -> None:
    assert {p.name: consistency(p) for p in profiles} == {p.name: [] for p in profiles}


def broken(
    profile: Profile,
    *,
    facts: dict[str, str] | None = None,
    architectures: tuple[str, ...] | None = None,
) -> Profile:
    """A shipped profile with its facts or architectures replaced by wrong ones."""
    hardware = profile.hardware
    if architectures is not None:
        hardware = replace(hardware, architectures=architectures)
    return replace(profile, hardware=hardware, facts=profile.facts if facts is None else facts)


def test_sm_120_on_cuda_124(profiles: list[Profile]) -> None:
    cuda124 = by_name(profiles, "cuda124")
    wrong = broken(cuda124, architectures=(*cuda124.hardware.architectures, "sm_120"))
    assert consistency(wrong) == [
        f"{cuda124.path}: hardware.architectures: sm_120 needs CUDA 12.8 or newer, "
        "but the profile's CUDA is 12.4"
    ]


def test_sm_89_and_sm_90_need_cuda_11_8(profiles: list[Profile]) -> None:
    cuda121 = by_name(profiles, "cuda121")
    old = broken(
        cuda121, facts={"torch.version.cuda": "11.7"}, architectures=("sm_80", "sm_89", "sm_90")
    )
    assert [problem.split(": ", 2)[2] for problem in consistency(old)] == [
        "sm_89 needs CUDA 11.8 or newer, but the profile's CUDA is 11.7",
        "sm_90 needs CUDA 11.8 or newer, but the profile's CUDA is 11.7",
    ]


def test_cuda_13_has_no_maxwell_pascal_or_volta(profiles: list[Profile]) -> None:
    cuda130 = by_name(profiles, "cuda130")
    wrong = broken(cuda130, architectures=("sm_50", "sm_52", "sm_60", "sm_61", "sm_70", "sm_75"))
    assert [problem.split(": ", 2)[2] for problem in consistency(wrong)] == [
        f"{arch} is not in CUDA 13.0 (dropped in 13.0)"
        for arch in ("sm_50", "sm_52", "sm_60", "sm_61", "sm_70")
    ]


def test_thor_is_sm_110_from_cuda_13_and_sm_101_before(profiles: list[Profile]) -> None:
    cuda128, cuda130 = by_name(profiles, "cuda128"), by_name(profiles, "cuda130")
    assert consistency(broken(cuda130, architectures=("sm_90", "sm_110"))) == []
    assert [
        p.split(": ", 2)[2] for p in consistency(broken(cuda130, architectures=("sm_101",)))
    ] == ["sm_101 is not in CUDA 13.0 (dropped in 13.0)"]
    assert [
        p.split(": ", 2)[2] for p in consistency(broken(cuda128, architectures=("sm_110",)))
    ] == ["sm_110 needs CUDA 13.0 or newer, but the profile's CUDA is 12.8"]


def test_vendor_and_cuda_fact_contradict(profiles: list[Profile]) -> None:
    cpu, cuda128 = by_name(profiles, "cpu"), by_name(profiles, "cuda128")
    assert consistency(broken(cuda128, facts={"torch.version.cuda": "None"})) == [
        f"{cuda128.path}: hardware.vendor is nvidia, but facts.torch.version.cuda is None, "
        "which a CPU or ROCm build reports"
    ]
    assert consistency(broken(cpu, facts={"torch.version.cuda": "12.8"})) == [
        f"{cpu.path}: hardware.vendor is none, but facts.torch.version.cuda is 12.8: "
        "a CPU build of torch reports None"
    ]


def test_amd_without_a_hip_fact_is_a_warning(profiles: list[Profile]) -> None:
    rocm57 = by_name(profiles, "rocm57")
    assert consistency(broken(rocm57, facts={"torch.version.cuda": "None"})) == [
        f"warning: {rocm57.path}: hardware.architectures: gfx targets but no "
        "facts.torch.version.hip[:3], so nothing proves the wheels are a ROCm build"
    ]
