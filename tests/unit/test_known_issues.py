"""Known issues: the shipped data, its parser, and matching against a closure's versions."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

import pytest
from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name

from imagegate.errors import ProfileError
from imagegate.findings import Status
from imagegate.known_issues import KnownIssue, findings, load, parse

WHERE = "issues.yaml"


def entry(**changes: Any) -> dict[str, Any]:
    """One well-formed entry as the YAML file holds it."""
    return {
        "id": "pandas-built-for-numpy1",
        "when": {"pandas": "<2.1.2", "numpy": ">=2"},
        "symptom": "ValueError: numpy.dtype size changed",
        "fix": "pin numpy<2",
        "source": "https://github.com/googlecolab/colabtools/issues/4870",
        "verified": "pandas 2.0.3 + numpy 2.0.2 in a venv",
    } | changes


def issue(**when: str) -> KnownIssue:
    (only,) = parse([entry(id="made-up", when=when)], WHERE)
    return only


def versions(**pairs: str) -> dict[NormalizedName, str]:
    return {canonicalize_name(name): version for name, version in pairs.items()}


def error_of(raw: Any) -> str:
    with pytest.raises(ProfileError) as caught:
        parse(raw, WHERE)
    return str(caught.value)


# --- the shipped data ------------------------------------------------------------------------


def test_the_shipped_data_loads_with_unique_ids() -> None:
    issues = load()

    assert len(issues) >= 8
    ids = [i.id for i in issues]
    assert len(set(ids)) == len(ids)


def test_every_shipped_entry_cites_a_web_source_and_says_what_breaks() -> None:
    for known in load():
        source = urlparse(known.source)
        assert source.scheme in ("http", "https"), known.id
        assert source.netloc, known.id
        assert known.when, known.id
        assert known.symptom.strip(), known.id
        assert known.fix.strip(), known.id


def test_the_shipped_pandas_entry_reads_as_written() -> None:
    (pandas,) = [i for i in load() if i.id == "pandas-built-for-numpy1"]

    assert dict(pandas.when) == {"pandas": SpecifierSet("<2.1.2"), "numpy": SpecifierSet(">=2")}


# --- parse -----------------------------------------------------------------------------------


def test_parse_builds_issues_with_canonical_package_names() -> None:
    (parsed,) = parse([entry(when={"Scikit_Learn": "<1.3.1", "NumPy": ">=2"})], WHERE)

    assert parsed.id == "pandas-built-for-numpy1"
    assert dict(parsed.when) == {
        "scikit-learn": SpecifierSet("<1.3.1"),
        "numpy": SpecifierSet(">=2"),
    }
    assert parsed.source == "https://github.com/googlecolab/colabtools/issues/4870"


def test_parse_refuses_anything_but_a_list() -> None:
    assert error_of(entry()) == f"{WHERE}: expected a list of entries"


def test_parse_refuses_an_entry_with_an_unknown_key_naming_its_index() -> None:
    message = error_of([entry(), entry(severity="high")])

    assert message.startswith(f"{WHERE}: [1]: ")
    assert "id, when, symptom, fix, source, verified" in message


def test_parse_refuses_an_entry_that_is_not_a_mapping() -> None:
    assert error_of([entry(), "pandas<2.1.2"]).startswith(f"{WHERE}: [1]: ")


@pytest.mark.parametrize("key", ["id", "when", "symptom", "fix", "source", "verified"])
def test_parse_refuses_an_entry_missing_a_key_naming_index_and_key(key: str) -> None:
    incomplete = entry()
    del incomplete[key]

    assert error_of([entry(), incomplete]) == f"{WHERE}: [1].{key}: missing"


def test_parse_refuses_a_bad_specifier_naming_the_package() -> None:
    message = error_of([entry(when={"pandas": "<2.1.2", "numpy": "=>2"})])

    assert message == f"{WHERE}: [0].when.numpy: '=>2' is not a specifier"


@pytest.mark.parametrize("when", [["pandas<2.1.2"], "pandas<2.1.2"], ids=["list", "string"])
def test_parse_refuses_a_when_that_is_not_a_mapping(when: Any) -> None:
    assert error_of([entry(when=when)]).startswith(f"{WHERE}: [0].when")


# --- KnownIssue.applies ----------------------------------------------------------------------


def test_an_issue_applies_only_when_every_range_holds() -> None:
    pandas = issue(pandas="<2.1.2", numpy=">=2")

    assert pandas.applies(versions(pandas="2.0.3", numpy="2.0.2"))
    assert not pandas.applies(versions(pandas="2.0.3", numpy="1.26.4"))
    assert not pandas.applies(versions(pandas="2.2.2", numpy="2.0.2"))


def test_an_issue_does_not_apply_when_a_package_is_absent() -> None:
    pandas = issue(pandas="<2.1.2", numpy=">=2")

    assert not pandas.applies(versions(numpy="2.0.2"))
    assert not pandas.applies({})


def test_prereleases_and_local_labels_count() -> None:
    torch = issue(torch="<2.3", numpy=">=2")

    assert torch.applies(versions(torch="2.2.0rc1", numpy="2.1.0rc1"))
    assert torch.applies(versions(torch="2.2.1+cu121", numpy="2.0.2"))


def test_an_unparseable_version_never_matches() -> None:
    torch = issue(torch="<2.3", numpy=">=2")

    assert not torch.applies(versions(torch="a local build", numpy="2.0.2"))
    assert not torch.applies(versions(torch="2.2.1", numpy="two"))


# --- findings --------------------------------------------------------------------------------


def test_pandas_2_0_3_with_numpy_2_is_the_shipped_pandas_issue() -> None:
    issues = load()
    (pandas,) = [i for i in issues if i.id == "pandas-built-for-numpy1"]

    rows = findings(versions(pandas="2.0.3", numpy="2.0.2"), issues, tier=0)

    assert all(row.status is Status.BROKEN for row in rows)
    (row,) = [row for row in rows if row.subject == "pandas-built-for-numpy1"]
    assert row.check == "known-issue"
    assert row.tier == 0
    assert row.actual == "pandas 2.0.3, numpy 2.0.2"
    assert "pandas<2.1.2" in row.expected
    assert "numpy>=2" in row.expected
    assert pandas.symptom in row.evidence
    assert pandas.fix in row.evidence
    assert pandas.source in row.evidence


def test_pandas_2_2_2_with_numpy_2_matches_no_shipped_issue() -> None:
    issues = load()

    rows = findings(versions(pandas="2.2.2", numpy="2.0.2"), issues, tier=1)

    assert [(row.status, row.subject) for row in rows] == [
        (Status.OK, f"{len(issues)} known issues")
    ]
    assert rows[0].tier == 1


def test_findings_give_one_broken_row_per_matching_issue() -> None:
    issues = parse(
        [
            entry(id="first", when={"pandas": "<2.1.2", "numpy": ">=2"}),
            entry(id="never", when={"pandas": ">=3"}),
            entry(id="second", when={"numpy": ">=2"}, source="https://example.org/second"),
        ],
        WHERE,
    )

    rows = findings(versions(pandas="2.0.3", numpy="2.0.2"), issues, tier=0)

    assert [(row.subject, row.status) for row in rows] == [
        ("first", Status.BROKEN),
        ("second", Status.BROKEN),
    ]
    assert rows[1].actual == "numpy 2.0.2"
    assert rows[1].evidence.endswith("see https://example.org/second")
