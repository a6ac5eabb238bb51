"""The SBOM: tier 1's facts and the lock's hashes, as a CycloneDX document that the
CycloneDX project's own validator accepts against the 1.6 JSON schema."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from packaging.utils import NormalizedName

from imagegate import sbom
from imagegate.errors import UsageError
from imagegate.facts import Facts
from imagegate.lock import Lock

SHIPPED = Path(__file__).resolve().parents[2] / "profiles"


@pytest.fixture(scope="module")
def lock() -> Lock:
    return Lock.read(SHIPPED / "pylock.cpu.toml")


def facts_of(distributions: dict[str, str]) -> Facts:
    """Facts as collect.py reports them (schema 1), holding these distributions."""
    return Facts.from_dict(
        {
            "schema": 1,
            "python": {"version": "3.11.2"},
            "environment": {},
            "distributions": [
                {"name": name, "version": version, "requires": [], "top_level": []}
                for name, version in distributions.items()
            ],
        }
    )


def found(distributions: dict[str, str]) -> dict[NormalizedName, str]:
    return sbom.installed_versions(facts_of(distributions))


def as_locked(lock: Lock) -> dict[str, str]:
    return {str(name): str(package.version) for name, package in lock.packages.items()}


def components(text: str) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in json.loads(text)["components"]}


def invalid(text: str) -> object:
    """None when the CycloneDX 1.6 JSON schema (strict: no unknown keys) accepts `text`."""
    return JsonStrictValidator(SchemaVersion.V1_6).validate_str(text)


def test_the_locked_closure_validates_and_carries_every_locked_hash(lock: Lock) -> None:
    found = {**as_locked(lock), "pip": "24.0"}  # the image's own pip: not in the lock

    text = sbom.document("imagegate/cpu:latest", sbom.installed_versions(facts_of(found)), lock)

    assert invalid(text) is None
    listed = components(text)
    assert set(listed) == set(found)
    for name, package in lock.packages.items():
        component = listed[name]
        assert component["version"] == str(package.version)
        assert [h["content"] for h in component["hashes"]] == [w.sha256 for w in package.wheels]
        assert {h["alg"] for h in component["hashes"]} == {"SHA-256"}
    assert "hashes" not in listed["pip"]
    assert listed["pip"]["properties"] == [{"name": sbom.LOCK_PROPERTY, "value": "not in the lock"}]
    document = json.loads(text)
    assert document["bomFormat"] == "CycloneDX" and document["specVersion"] == "1.6"
    assert document["metadata"]["component"]["name"] == "imagegate/cpu:latest"
    assert document["metadata"]["component"]["type"] == "container"
    root = document["metadata"]["component"]["bom-ref"]
    graph = {d["ref"]: d.get("dependsOn", []) for d in document["dependencies"]}
    assert set(graph[root]) == {c["bom-ref"] for c in listed.values()}


def test_versions_keep_their_local_label_in_the_version_and_the_purl(lock: Lock) -> None:
    torch = components(sbom.document("img", found({"torch": "2.13.0+cpu"}), lock))["torch"]

    assert torch["version"] == "2.13.0+cpu"
    assert torch["purl"] == "pkg:pypi/torch@2.13.0%2Bcpu"
    assert torch["hashes"]  # the lock holds exactly this build


@pytest.mark.parametrize("version", ["2.13.0", "2.13.0+cu128", "2.12.0+cpu"])
def test_another_build_than_locked_gets_no_hash_and_says_what_was_locked(
    lock: Lock, version: str
) -> None:
    text = sbom.document("img", found({"torch": version}), lock)

    torch = components(text)["torch"]
    assert invalid(text) is None
    assert torch["version"] == version
    assert "hashes" not in torch
    assert torch["properties"] == [{"name": sbom.LOCK_PROPERTY, "value": "locked at 2.13.0+cpu"}]


def test_names_are_normalised_as_the_lock_and_purls_write_them(lock: Lock) -> None:
    facts = facts_of({"Charset_Normalizer": str(lock.packages["charset-normalizer"].version)})

    listed = components(sbom.document("img", sbom.installed_versions(facts), lock))

    assert list(listed) == ["charset-normalizer"]
    assert listed["charset-normalizer"]["purl"].startswith("pkg:pypi/charset-normalizer@")
    assert listed["charset-normalizer"]["hashes"]


def test_the_validator_has_teeth(lock: Lock) -> None:
    """The control: a document the schema forbids (an unknown hash algorithm) is rejected."""
    text = sbom.document("img", found({"torch": "2.13.0+cpu"}), lock)
    broken = text.replace('"SHA-256"', '"SHA-257"')

    assert broken != text and invalid(broken) is not None


def test_write_is_atomic_and_returns_the_digest_the_label_carries(
    lock: Lock, tmp_path: Path
) -> None:
    text = sbom.document("img", found({"torch": "2.13.0+cpu"}), lock)
    path = tmp_path / "out" / "cpu.cdx.json"

    label = sbom.write(path, text)

    assert path.read_text(encoding="utf-8") == text
    assert label == "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()
    assert [p.name for p in path.parent.iterdir()] == ["cpu.cdx.json"]


def test_an_unwritable_path_is_bad_input(lock: Lock, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")

    with pytest.raises(UsageError, match="--sbom"):
        sbom.write(blocker / "cpu.cdx.json", "{}")
