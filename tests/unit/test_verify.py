"""The judge: facts in the shape smoke_tests/collect.py prints (schema 1) against a profile."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from packaging.version import Version

from imagegate.closure import same_build
from imagegate.errors import BuildFailed
from imagegate.facts import Facts
from imagegate.findings import Finding, Status, counts, passed
from imagegate.profiles import Profile, load_profile
from imagegate.target import Platform, Target
from imagegate.verify import judge
from imagegate.verify_runtime import judge_platform

SHIPPED = Path(__file__).resolve().parents[2] / "profiles"


def environment(python: str = "3.10.12") -> dict[str, str]:
    """What tier1_versions.marker_environment reports in a Linux x86_64 image."""
    return {
        "implementation_name": "cpython",
        "implementation_version": python,
        "os_name": "posix",
        "platform_machine": "x86_64",
        "platform_release": "6.1.0",
        "platform_system": "Linux",
        "platform_version": "#1 SMP",
        "python_full_version": python,
        "platform_python_implementation": "CPython",
        "python_version": ".".join(python.split(".")[:2]),
        "sys_platform": "linux",
    }


def dist(name: str, version: str, *requires: str) -> dict[str, Any]:
    return {"name": name, "version": version, "requires": list(requires), "top_level": []}


def item(
    kind: str,
    subject: str,
    *,
    ok: bool = True,
    value: str | None = None,
    error: str | None = None,
    isolated: bool = False,
    origin: dict[str, Any] | None = None,
) -> dict[str, Any]:
    code = {"module": f"import {subject}", "fact": subject}.get(kind, "pass")
    if origin is None and kind == "module" and ok:
        origin = {"paths": [f"{SITE}/{subject}/__init__.py"], "distributions": [subject]}
    return {
        "kind": kind,
        "subject": subject,
        "code": code,
        "ok": ok,
        "value": value,
        "error": error,
        "seconds": 0.25,
        "isolated": isolated,
        "origin": origin,
    }


TORCH_REQUIRES = (
    "filelock",
    "typing-extensions>=4.8.0",
    'nvidia-cublas-cu12==12.1.3.1; platform_system == "Linux" and platform_machine == "x86_64"',
    'triton==3.1.0; platform_system == "Linux" and platform_machine == "x86_64" '
    'and python_version < "3.13"',
    'opt-einsum>=3.3; extra == "opt-einsum"',
)


def healthy_distributions() -> list[dict[str, Any]]:
    return [
        dist("torch", "2.5.1+cu121", *TORCH_REQUIRES),
        dist("numpy", "1.26.4"),
        dist("filelock", "3.16.1"),
        dist("typing_extensions", "4.12.2"),
        dist("nvidia-cublas-cu12", "12.1.3.1"),
        dist("triton", "3.1.0", "filelock"),
    ]


def healthy_items() -> list[dict[str, Any]]:
    return [
        item("module", "torch"),
        item("module", "numpy"),
        item("statement", "peft-lora"),
        item("fact", "torch.version.cuda", value="12.1"),
    ]


SITE = "/opt/venv/lib/python3.10/site-packages"
CLEAN_FILES = {"distributions": 6, "files": 900, "without_record": [], "problems": []}
"""What tier1_files.check reports when every installed file is as its RECORD lists it."""


def make_facts(
    *,
    python: str = "3.10.12",
    distributions: list[dict[str, Any]] | None = None,
    items: list[dict[str, Any]] | None = None,
    files: dict[str, Any] | None = CLEAN_FILES,
) -> Facts:
    return Facts.from_dict(
        {
            "schema": 1,
            "python": {"version": python, "implementation": "CPython", "executable": "/x"},
            "environment": environment(python),
            "distributions": healthy_distributions() if distributions is None else distributions,
            "items": healthy_items() if items is None else items,
            "seconds": 1.5,
            **({} if files is None else {"files": files}),
        }
    )


def make_profile(**overrides: Any) -> Profile:
    data: dict[str, Any] = {
        "target": {"python": "3.10", "platform": "manylinux_2_35_x86_64"},
        "base": {"image": "nvidia/cuda:12.1.1-runtime-ubuntu22.04"},
        "pins": {"torch": "2.5.1+cu121", "numpy": "1.26.4"},
        "protected": ["torch"],
        "invariants": {"numpy": "<2"},
        "facts": {"torch.version.cuda": "12.1"},
        "probes": {
            "imports": ["torch", "numpy"],
            "statements": {"peft-lora": "from peft import LoraConfig"},
            "exclude": {"isympy": "a console script, not a module"},
        },
    }
    data.update(overrides)
    return Profile.from_dict(data, name="cuda121", path=Path("profiles/cuda121.yaml"))


def with_version(name: str, version: str) -> list[dict[str, Any]]:
    return [
        {**entry, "version": version} if entry["name"] == name else entry
        for entry in healthy_distributions()
    ]


def the(findings: list[Finding], check: str, subject: str) -> Finding:
    [found] = [f for f in findings if f.check == check and f.subject == subject]
    return found


def failures(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if f.status.failed]


# --- a healthy stack ---------------------------------------------------------------------


def test_a_healthy_stack_passes_with_only_exclusions_skipped() -> None:
    findings = judge(make_profile(), make_facts())

    assert failures(findings) == []
    assert passed(findings)
    assert [f.subject for f in findings if f.status is Status.SKIPPED] == ["isympy"]
    assert the(findings, "pin", "torch").expected == "==2.5.1+cu121"
    assert counts(findings) == {
        "OK": len(findings) - 1,
        "WRONG VERSION": 0,
        "BROKEN": 0,
        "MISSING": 0,
        "SKIPPED": 1,
        "STALE LOCK": 0,
        "WARN": 0,
    }


def test_the_shipped_cpu_profile_passes_a_cpu_stack_whose_cuda_is_none() -> None:
    profile = load_profile("cpu", SHIPPED)
    distributions = [dist(name, str(version)) for name, version in profile.pins.items()]
    items = [item("module", name) for name in profile.probes.imports]
    items += [item("statement", name) for name in profile.probes.statements]
    items += [item("fact", "torch.version.cuda", value=None)]

    findings = judge(profile, make_facts(python="3.11.2", distributions=distributions, items=items))

    assert failures(findings) == []
    assert the(findings, "fact", "torch.version.cuda").actual == "None"
    assert the(findings, "pin", "torch").actual == "2.13.0+cpu"


# --- tier 1: pins, local label included --------------------------------------------------


@pytest.mark.parametrize(
    ("installed", "status"),
    [
        ("2.5.1+cu121", Status.OK),
        ("2.5.1", Status.WRONG_VERSION),
        ("2.5.1+cpu", Status.WRONG_VERSION),
        ("2.5.1+cu124", Status.WRONG_VERSION),
        ("2.4.1+cu121", Status.WRONG_VERSION),
    ],
)
def test_a_pin_with_a_local_label_needs_that_exact_build(installed: str, status: Status) -> None:
    findings = judge(make_profile(), make_facts(distributions=with_version("torch", installed)))

    finding = the(findings, "pin", "torch")
    assert (finding.status, finding.expected, finding.actual) == (
        status,
        "==2.5.1+cu121",
        installed,
    )
    assert passed(findings) is (status is Status.OK)


@pytest.mark.parametrize(
    ("installed", "pin", "same"),
    [
        ("2.5.1+cu121", "2.5.1+cu121", True),
        ("2.5.1", "2.5.1+cu121", False),
        ("2.5.1+cpu", "2.5.1+cu121", False),
        ("2.5.1+cu121", "2.5.1", False),
        ("2.5.1+CU121", "2.5.1+cu121", True),
        ("2.5.1.0", "2.5.1", True),
        ("not-a-version", "2.5.1", False),
    ],
)
def test_same_build_compares_versions_with_their_local_label(
    installed: str, pin: str, same: bool
) -> None:
    assert same_build(installed, Version(pin)) is same


def test_a_pinned_package_that_is_not_installed_is_missing() -> None:
    distributions = [d for d in healthy_distributions() if d["name"] != "numpy"]

    findings = judge(make_profile(), make_facts(distributions=distributions))

    finding = the(findings, "pin", "numpy")
    assert (finding.status, finding.actual) == (Status.MISSING, "not installed")
    assert the(findings, "invariant", "numpy").status is Status.SKIPPED
    assert not passed(findings)


# --- tier 1: invariants ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("installed", "status"),
    [("2.0.2", Status.WRONG_VERSION), ("2.0.0rc1", Status.WRONG_VERSION), ("1.26.4", Status.OK)],
)
def test_the_numpy_below_2_invariant(installed: str, status: Status) -> None:
    profile = make_profile(pins={"torch": "2.5.1+cu121"})

    findings = judge(profile, make_facts(distributions=with_version("numpy", installed)))

    finding = the(findings, "invariant", "numpy")
    assert (finding.status, finding.expected, finding.actual) == (status, "<2", installed)
    assert passed(findings) is (status is Status.OK)


def test_numpy_2_breaks_both_the_pin_and_the_invariant() -> None:
    findings = judge(make_profile(), make_facts(distributions=with_version("numpy", "2.0.2")))

    assert {(f.check, f.subject) for f in failures(findings)} == {
        ("pin", "numpy"),
        ("invariant", "numpy"),
    }


# --- tier 1: declared requirements (what pip check does) --------------------------------


def test_a_declared_requirement_at_the_wrong_version_is_reported() -> None:
    distributions = [
        *healthy_distributions(),
        dist("transformers", "4.51.3", "tokenizers<0.22,>=0.21", "numpy>=1.17"),
        dist("tokenizers", "0.22.0"),
    ]

    findings = judge(make_profile(), make_facts(distributions=distributions))

    [problem] = [f for f in findings if f.check == "requirement"]
    assert problem.status is Status.WRONG_VERSION
    assert problem.subject == "tokenizers (required by transformers 4.51.3)"
    assert (problem.expected, problem.actual) == ("tokenizers<0.22,>=0.21", "0.22.0")
    assert not passed(findings)


def test_a_declared_requirement_that_is_not_installed_is_missing() -> None:
    distributions = [*healthy_distributions(), dist("transformers", "4.51.3", "safetensors>=0.4.3")]

    findings = judge(make_profile(), make_facts(distributions=distributions))

    finding = the(findings, "requirement", "safetensors (required by transformers 4.51.3)")
    assert (finding.status, finding.actual) == (Status.MISSING, "not installed")


def test_requirements_whose_markers_do_not_apply_in_the_image_are_ignored() -> None:
    distributions = [
        *healthy_distributions(),
        dist(
            "accelerate",
            "1.6.0",
            'pywin32>=300; sys_platform == "win32"',
            'deepspeed; extra == "deepspeed"',
            'tomli>=1.1; python_version < "3.10"',
            "PyYAML>=5.1",
        ),
        dist("pyyaml", "6.0.2"),
    ]

    findings = judge(make_profile(), make_facts(distributions=distributions))

    [summary] = [f for f in findings if f.check == "requirement"]
    assert summary.status is Status.OK
    assert summary.subject == "requirements of 8 distributions"


def test_markers_are_evaluated_for_the_image_python_not_the_host() -> None:
    distributions = [
        *healthy_distributions(),
        dist("pytest", "8.3.4", 'tomli>=1; python_version < "3.11"'),
    ]

    in_310 = judge(make_profile(), make_facts(python="3.10.12", distributions=distributions))
    in_311 = judge(make_profile(), make_facts(python="3.11.2", distributions=distributions))

    assert the(in_310, "requirement", "tomli (required by pytest 8.3.4)").status is Status.MISSING
    assert [f.status for f in in_311 if f.check == "requirement"] == [Status.OK]


def test_a_requirement_without_a_local_label_accepts_any_local_build() -> None:
    distributions = [*healthy_distributions(), dist("torchvision", "0.20.1+cu121", "torch==2.5.1")]

    findings = judge(make_profile(), make_facts(distributions=distributions))

    assert [f.status for f in findings if f.check == "requirement"] == [Status.OK]


def test_an_unparseable_declared_requirement_is_broken() -> None:
    distributions = [*healthy_distributions(), dist("oddball", "1.0", "numpy >>= 1")]

    findings = judge(make_profile(), make_facts(distributions=distributions))

    [finding] = [f for f in findings if f.check == "requirement"]
    assert finding.status is Status.BROKEN
    assert "oddball 1.0" in finding.subject
    assert finding.evidence


# --- tier 1: facts -----------------------------------------------------------------------


def test_a_cpu_torch_where_cuda_is_expected_is_the_wrong_version() -> None:
    items = [*healthy_items()[:-1], item("fact", "torch.version.cuda", value=None)]

    findings = judge(make_profile(), make_facts(items=items))

    finding = the(findings, "fact", "torch.version.cuda")
    assert (finding.status, finding.expected, finding.actual) == (
        Status.WRONG_VERSION,
        "12.1",
        "None",
    )


def test_a_fact_that_raised_is_broken_with_its_evidence() -> None:
    error = "AttributeError: module 'torch' has no attribute 'version'"
    items = [*healthy_items()[:-1], item("fact", "torch.version.cuda", ok=False, error=error)]

    findings = judge(make_profile(), make_facts(items=items))

    finding = the(findings, "fact", "torch.version.cuda")
    assert (finding.status, finding.evidence) == (Status.BROKEN, error)


def test_a_fact_that_was_not_collected_is_missing() -> None:
    findings = judge(make_profile(), make_facts(items=healthy_items()[:-1]))

    assert the(findings, "fact", "torch.version.cuda").status is Status.MISSING


# --- tier 2: probes ----------------------------------------------------------------------


def test_a_failed_import_is_broken_with_the_last_line_of_its_error() -> None:
    error = "AttributeError: module 'torch' has no attribute 'compiler'"
    items = [
        item("module", "torch"),
        item("module", "numpy"),
        item("module", "bitsandbytes", ok=False, error=error, isolated=True),
        *healthy_items()[2:],
    ]

    findings = judge(make_profile(), make_facts(items=items))

    finding = the(findings, "import", "bitsandbytes")
    assert (finding.tier, finding.status) == (2, Status.BROKEN)
    assert finding.evidence.startswith(error)
    assert [f.subject for f in failures(findings)] == ["bitsandbytes"]


def test_a_failed_statement_is_broken() -> None:
    error = "ImportError: cannot import name 'LoraConfig' from 'peft'"
    items = [*healthy_items()[:2], item("statement", "peft-lora", ok=False, error=error)]
    items.append(healthy_items()[-1])

    findings = judge(make_profile(), make_facts(items=items))

    finding = the(findings, "statement", "peft-lora")
    assert (finding.status, finding.evidence) == (Status.BROKEN, error)


def test_a_probe_that_was_not_reported_is_missing() -> None:
    items = [item("module", "torch"), item("fact", "torch.version.cuda", value="12.1")]

    findings = judge(make_profile(), make_facts(items=items))

    assert {(f.check, f.subject, f.status) for f in failures(findings)} == {
        ("import", "numpy", Status.MISSING),
        ("statement", "peft-lora", Status.MISSING),
    }


def test_excluded_modules_are_skipped_with_the_reason() -> None:
    findings = judge(make_profile(), make_facts())

    finding = the(findings, "import", "isympy")
    assert (finding.tier, finding.status) == (2, Status.SKIPPED)
    assert finding.evidence == "a console script, not a module"


# --- python ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("python", "status"),
    [("3.10.12", Status.OK), ("3.11.2", Status.WRONG_VERSION), ("3.1.0", Status.WRONG_VERSION)],
)
def test_the_image_python_must_match_the_target(python: str, status: Status) -> None:
    findings = judge(make_profile(), make_facts(python=python))

    finding = the(findings, "python", "python")
    assert (finding.status, finding.expected, finding.actual) == (status, "3.10", python)


# --- findings ----------------------------------------------------------------------------


def finding(status: Status) -> Finding:
    return Finding(tier=1, check="pin", subject="torch", status=status)


def test_passed_fails_on_wrong_version_broken_or_missing_only() -> None:
    assert passed([])
    assert passed([finding(Status.OK), finding(Status.SKIPPED)])
    for status in (Status.WRONG_VERSION, Status.BROKEN, Status.MISSING):
        assert not passed([finding(Status.OK), finding(status)])


def test_counts_tallies_every_status_including_zeros() -> None:
    tally = counts([finding(Status.OK), finding(Status.OK), finding(Status.MISSING)])

    assert tally == {
        "OK": 2,
        "WRONG VERSION": 0,
        "BROKEN": 0,
        "MISSING": 1,
        "SKIPPED": 0,
        "STALE LOCK": 0,
        "WARN": 0,
    }


def test_a_finding_serialises_its_status_as_shown() -> None:
    data = finding(Status.WRONG_VERSION).to_dict()

    assert data["status"] == "WRONG VERSION"
    assert (data["tier"], data["subject"], data["seconds"]) == (1, "torch", None)


# --- the facts document ------------------------------------------------------------------


def test_facts_of_another_schema_are_refused() -> None:
    with pytest.raises(BuildFailed, match="schema 2, expected 1"):
        Facts.from_json('{"schema": 2}', source="image:tag")


def test_output_that_is_not_json_names_its_source_and_last_line() -> None:
    with pytest.raises(BuildFailed) as caught:
        Facts.from_json("Traceback ...\nModuleNotFoundError: No module named 'json'\n", source="i")

    message = str(caught.value)
    assert message.startswith("i: the smoke collector gave no usable facts")
    assert message.endswith("last output: ModuleNotFoundError: No module named 'json'")


def test_distribution_names_in_facts_are_normalized() -> None:
    facts = make_facts()

    assert facts.distributions["typing-extensions"].version == "4.12.2"
    assert facts.python_version == "3.10.12"


def _arch_facts(value: str | None, *, ok: bool = True, torch: str = "2.14.1") -> Facts:
    item = {
        "kind": "fact",
        "subject": "torch._C._cuda_getArchFlags()",
        "code": "torch._C._cuda_getArchFlags()",
        "ok": ok,
        "value": value,
        "error": None if ok else "AttributeError: module 'torch._C' has no attribute",
        "seconds": 0.01,
        "isolated": False,
    }
    document = {
        "schema": 1,
        "python": {"version": "3.11.2"},
        "environment": {},
        "distributions": [dist("torch", torch)],
        "items": [item],
    }
    return Facts.from_dict(document)


def _cuda130(*architectures: str) -> Profile:
    profile = load_profile("cuda130", SHIPPED)
    if not architectures:
        return profile
    return replace(profile, hardware=replace(profile.hardware, architectures=architectures))


REAL_CU130 = "sm_75 sm_80 sm_86 sm_90 sm_100 sm_120"
"""What torch 2.14.1 (PyPI's CUDA 13.0 build) reports from torch._C._cuda_getArchFlags()."""


def _kernel_rows(profile: Profile, facts: Facts) -> dict[str, Finding]:
    return {f.subject: f for f in judge(profile, facts) if f.check == "kernel"}


def test_every_declared_target_served_by_its_own_cubin_is_ok() -> None:
    rows = _kernel_rows(_cuda130(), _arch_facts(REAL_CU130))

    assert list(rows) == REAL_CU130.split()
    assert all(row.status is Status.OK for row in rows.values())
    assert rows["sm_90"].actual == "sm_90"


def test_a_target_runs_on_the_newest_cubin_of_its_major_at_or_below_it() -> None:
    rows = _kernel_rows(_cuda130("sm_89", "sm_121", "sm_103"), _arch_facts(REAL_CU130))

    assert {target: row.actual for target, row in rows.items()} == {
        "sm_89": "sm_86",
        "sm_121": "sm_120",
        "sm_103": "sm_100",
    }
    assert all(row.status is Status.OK for row in rows.values())


def test_torch_compiled_for_more_than_the_targets_passes() -> None:
    rows = _kernel_rows(_cuda130("sm_90"), _arch_facts(REAL_CU130))

    assert [(t, r.status) for t, r in rows.items()] == [("sm_90", Status.OK)]


def test_a_target_without_a_kernel_fails_naming_it_the_torch_build_and_its_codes() -> None:
    profile = _cuda130("sm_90", "sm_110", "sm_100")
    facts = _arch_facts(REAL_CU130, torch="2.14.1+cu130")

    rows = _kernel_rows(profile, facts)

    failed = [(r.tier, r.subject, r.status) for r in rows.values() if r.status.failed]
    assert failed == [(1, "sm_110", Status.MISSING)]
    row = rows["sm_110"]
    assert row.actual == "none"
    assert "torch 2.14.1+cu130" in row.evidence and REAL_CU130 in row.evidence
    assert "sm_110" in row.evidence and "cuda130.yaml" in row.evidence


def test_one_row_per_target_without_a_kernel() -> None:
    rows = _kernel_rows(_cuda130("sm_75", "sm_100", "sm_120"), _arch_facts("sm_75 sm_80 sm_90"))

    failing = sorted(target for target, row in rows.items() if row.status.failed)
    assert failing == ["sm_100", "sm_120"]


def test_a_target_served_only_by_ptx_fails_and_names_the_ptx() -> None:
    rows = _kernel_rows(_cuda130("sm_90", "sm_120"), _arch_facts("sm_80 sm_90 compute_90"))

    assert rows["sm_90"].status is Status.OK
    assert rows["sm_120"].status is Status.MISSING
    assert rows["sm_120"].actual == "PTX compute_90 only"
    assert "compute_90" in rows["sm_120"].evidence


def test_ptx_newer_than_the_target_is_not_named() -> None:
    rows = _kernel_rows(_cuda130("sm_86"), _arch_facts("sm_90 compute_90"))

    assert (rows["sm_86"].status, rows["sm_86"].actual) == (Status.MISSING, "none")


def test_a_cpu_torch_in_a_cuda_profile_cannot_report_its_architectures() -> None:
    facts = _arch_facts(None, ok=False)
    [row] = [f for f in judge(_cuda130(), facts) if f.subject == "CUDA architectures"]
    assert row.status is Status.BROKEN
    assert "AttributeError" in row.evidence
    assert _kernel_rows(_cuda130(), facts) == {}


def test_an_image_for_the_profiles_platform_passes() -> None:
    cpu = load_profile("cpu", SHIPPED)

    row = judge_platform(cpu, Platform(os="linux", architecture="amd64"))

    assert (row.tier, row.check, row.status) == (1, "platform", Status.OK)
    assert row.expected == "linux/amd64 (manylinux_2_36_x86_64)"


def test_an_arm64_image_fails_a_profile_that_targets_x86_64() -> None:
    cpu = load_profile("cpu", SHIPPED)

    row = judge_platform(cpu, Platform(os="linux", architecture="arm64", variant="v8"))

    assert (row.tier, row.status, row.actual) == (1, Status.WRONG_VERSION, "linux/arm64/v8")
    assert "linux/arm64" in row.evidence and "manylinux_2_36_x86_64" in row.evidence


def test_an_aarch64_profile_takes_an_arm64_image_of_any_variant() -> None:
    cpu = load_profile("cpu", SHIPPED)
    arm = replace(cpu, target=Target(python="3.11", platform="manylinux_2_28_aarch64"))

    assert judge_platform(arm, Platform(os="linux", architecture="arm64", variant="v8")).status is (
        Status.OK
    )
    assert judge_platform(arm, Platform(os="linux", architecture="amd64")).status.failed


def test_an_image_config_naming_no_platform_is_skipped() -> None:
    row = judge_platform(load_profile("cpu", SHIPPED), Platform(os="", architecture=""))

    assert row.status is Status.SKIPPED
