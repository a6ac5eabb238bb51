"""verify runs tier 3 in the image: tiny models load and run; GPU steps say why they skip."""

from __future__ import annotations

from pathlib import Path
from xml.etree import ElementTree

from .conftest import CPU_IMAGE, Run, findings, imagegate


def test_verify_runs_tier_3_and_skips_gpu_steps_with_their_reason(cpu_build: Run) -> None:
    assert cpu_build.code == 0
    run = imagegate("verify", "cpu", "--format", "json")
    assert run.code == 0, run.stderr[-3000:]
    rows = findings(run.json())
    for model in ("gpt2", "llama"):
        for step in ("build", "save", "load", "forward", "generate", "lora"):
            row = rows[("model", f"{model}/{step}")]
            assert (row["tier"], row["status"]) == (3, "OK"), row
        assert rows[("model", f"{model}/gpu-forward")]["status"] == "SKIPPED"
        assert "no GPU" in rows[("model", f"{model}/gpu-forward")]["evidence"]
    assert rows[("model", "gpu/device")]["evidence"] == "no GPU"


def test_require_gpu_turns_the_skips_into_failures(cpu_build: Run) -> None:
    run = imagegate("verify", "cpu", "--require-gpu", "--format", "json")
    assert run.code == 1
    row = findings(run.json())[("model", "gpu/device")]
    assert row["status"] == "BROKEN"
    assert "--require-gpu" in row["evidence"]


def test_a_profile_adds_its_own_tier_3_steps(cpu_build: Run, project: Path) -> None:
    cpu = project / "profiles" / "cpu.yaml"
    cpu.write_text(
        cpu.read_text()
        + "probes:\n  steps:\n"
        + "    app-import: import transformers, peft\n"
        + "    app-broken: from transformers import NoSuchModel\n"
    )
    run = imagegate(
        "verify",
        "cpu",
        "--image",
        CPU_IMAGE,
        "--format",
        "json",
        "--profiles",
        str(project / "profiles"),
    )
    assert run.code == 1
    rows = findings(run.json())
    assert rows[("model", "custom/app-import")]["status"] == "OK"
    broken = rows[("model", "custom/app-broken")]
    assert broken["status"] == "BROKEN"
    assert "NoSuchModel" in broken["evidence"]


def test_the_junit_report_has_one_case_per_finding(cpu_build: Run, tmp_path: Path) -> None:
    report = tmp_path / "verify.xml"
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n")
    run = imagegate(
        "verify",
        "cpu",
        "--format",
        "junit",
        "--output",
        str(report),
        env={"GITHUB_STEP_SUMMARY": str(summary)},
    )
    assert run.code == 0, run.stderr[-2000:]
    as_json = imagegate("verify", "cpu", "--format", "json").json()
    suite = ElementTree.parse(report).getroot().find("testsuite")
    assert suite is not None
    cases = suite.findall("testcase")
    assert len(cases) == len(as_json["findings"])
    assert int(suite.get("skipped", "0")) == as_json["counts"]["SKIPPED"]
    assert summary.read_text().startswith("earlier step\n")
    assert "imagegate: cpu" in summary.read_text()
