"""The judge of what Python will run: installed files against their RECORD (tier 1) and
where each imported module was loaded from (tier 2)."""

from __future__ import annotations

from typing import Any

from imagegate.facts import Facts
from imagegate.findings import Status, passed
from imagegate.verify import judge
from imagegate.verify_files import SHOWN, installed_files, origins

from .test_verify import CLEAN_FILES, SITE, healthy_items, item, make_facts, make_profile, the


def files_with(*problems: dict[str, Any]) -> dict[str, Any]:
    return {**CLEAN_FILES, "problems": list(problems), "seconds": 1.25}


def test_all_files_as_recorded_is_one_ok_row() -> None:
    [row] = installed_files(make_facts())
    assert (row.tier, row.check, row.status) == (1, "files", Status.OK)
    assert row.subject == "900 files of 6 distributions"


def test_each_distribution_with_problems_is_a_broken_row_naming_its_files() -> None:
    changed = [f"{SITE}/transformers/models/m{n}.py" for n in range(SHOWN + 2)]
    facts = make_facts(
        files=files_with(
            {"name": "peft", "version": "0.13.2", "changed": [f"{SITE}/peft/__init__.py"]},
            {"name": "transformers", "version": "4.51.3", "changed": changed,
             "missing": [f"{SITE}/transformers/utils.py"],
             "unlisted": [f"{SITE}/transformers/evil.py"]},
        )
    )  # fmt: skip
    findings = judge(make_profile(), facts)
    assert not passed(findings)
    assert the(findings, "files", f"{900 - 1 - len(changed) - 1} files of 6 distributions")
    peft = the(findings, "files", "peft")
    assert (peft.tier, peft.status) == (1, Status.BROKEN)
    assert peft.actual == "1 changed"
    assert f"{SITE}/peft/__init__.py" in peft.evidence
    assert "0.13.2" in peft.expected
    transformers = the(findings, "files", "transformers")
    assert transformers.actual == f"{len(changed)} changed, 1 missing, 1 not in any RECORD"
    assert changed[0] in transformers.evidence
    assert changed[-1] not in transformers.evidence  # the first few, then a count
    assert "and 2 more" in transformers.evidence
    assert f"{SITE}/transformers/evil.py" in transformers.evidence


def test_facts_without_the_files_check_read_and_skip_it() -> None:
    """A schema 1 document from before the check: it still reads; the check says why not."""
    facts = make_facts(files=None, items=[{**row, "origin": None} for row in healthy_items()])
    [files] = installed_files(facts)
    assert (files.status, files.subject) == (Status.SKIPPED, "installed files")
    [where] = origins(facts)
    assert where.status is Status.SKIPPED
    assert passed(judge(make_profile(), facts))


def test_facts_from_a_newer_collector_read_with_keys_this_reader_lacks() -> None:
    document = {
        "schema": 1,
        "python": {"version": "3.10.12"},
        "environment": {},
        "distributions": [],
        "items": [],
        "files": {**CLEAN_FILES, "later": {"a": 1}},
        "later": True,
    }
    facts = Facts.from_dict(document)
    assert facts.files is not None and facts.files.files == 900


def shadowed(via: str) -> dict[str, Any]:
    origin = {
        "paths": ["/shadow/torch/__init__.py"],
        "distributions": ["torch"],
        "foreign": [{"path": "/shadow/torch/__init__.py", "entry": "/shadow", "via": via}],
    }
    return item("module", "torch", origin=origin)


def test_a_module_loaded_from_a_copy_is_broken_naming_where_and_how() -> None:
    facts = make_facts(items=[shadowed("PYTHONPATH"), item("module", "numpy")])
    findings = judge(make_profile(), facts)
    assert not passed(findings)
    row = the(findings, "origin", "torch")
    assert (row.tier, row.status) == (2, Status.BROKEN)
    assert row.actual == "/shadow/torch/__init__.py"
    assert "/shadow/torch/__init__.py" in row.evidence
    assert "PYTHONPATH" in row.evidence
    assert "'/shadow'" in row.evidence
    assert the(findings, "origin", "1 modules").status is Status.OK
    assert the(findings, "import", "torch").status is Status.OK  # it did import


def test_a_pth_file_is_named() -> None:
    pth = "/opt/venv/lib/python3.10/site-packages/zz.pth"
    [_, row] = origins(make_facts(items=[shadowed(f".pth file {pth}")]))
    assert pth in row.evidence


def test_an_origin_not_checked_is_broken_with_why() -> None:
    broken = item("module", "torch", origin={"error": "origin not checked: KeyError: 'torch'"})
    [_, row] = origins(make_facts(items=[broken]))
    assert row.status is Status.BROKEN
    assert "KeyError" in row.evidence


def test_a_module_no_distribution_provides_is_not_judged() -> None:
    stdlib = item("module", "json", origin={"paths": ["/usr/lib/python3.10/json/__init__.py"]})
    assert origins(make_facts(items=[stdlib])) == []


def test_a_files_check_that_could_not_run_is_broken_with_why() -> None:
    failed = {"distributions": 0, "files": 0, "problems": [], "error": "MemoryError"}
    [row] = installed_files(make_facts(files=failed))
    assert (row.status, row.evidence) == (Status.BROKEN, "MemoryError")
