"""A bill of materials of the Python closure an image holds (CycloneDX JSON).

The document is built with the CycloneDX project's own library (its model, its serializer),
so it follows the specification rather than our reading of it. It lists what tier 1 found
installed, not what the lock says should be: each distribution with its version as
installed (local label included), its package URL, and — where the lock holds that
package at that exact version — the sha256 of each locked wheel, which is what pip
checked when it installed it. A distribution the lock does not hold, or holds at another
version, gets no hash (a hash of another build would be a false claim) and a property
saying why.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path

from cyclonedx.model import HashAlgorithm, HashType, Property
from cyclonedx.model.bom import Bom
from cyclonedx.model.component import Component, ComponentType
from cyclonedx.output.json import JsonV1Dot6
from packageurl import PackageURL
from packaging.utils import NormalizedName

from imagegate import __version__
from imagegate.closure import same_build
from imagegate.errors import UsageError
from imagegate.facts import Facts
from imagegate.files import write_atomic
from imagegate.lock import Lock

SUFFIX = ".cdx.json"
"""CycloneDX's recommended file name ending for JSON documents."""
LOCK_PROPERTY = "imagegate:lock"
"""On a component without the lock's hash: why (not in the lock, or locked at another version)."""


def installed_versions(facts: Facts) -> dict[NormalizedName, str]:
    """What the SBOM lists of tier 1's facts (and a kept verdict keeps): name -> version."""
    return {name: found.version for name, found in sorted(facts.distributions.items())}


def document(image: str, installed: Mapping[NormalizedName, str], lock: Lock) -> str:
    """The SBOM of `image` (its reference) as JSON text: `installed` is what tier 1 found
    (name -> version as installed), `lock` supplies the wheels' hashes."""
    root = Component(
        type=ComponentType.CONTAINER,
        name=image,
        bom_ref=f"image:{image}",
        properties=[Property(name="imagegate:lock-sha256", value=lock.sha256)],
    )
    bom = Bom()
    bom.metadata.component = root
    bom.metadata.tools.components.add(
        Component(type=ComponentType.APPLICATION, name="imagegate", version=__version__)
    )
    components = [_component(name, version, lock) for name, version in sorted(installed.items())]
    for component in components:
        bom.components.add(component)
    bom.register_dependency(root, components)
    return str(JsonV1Dot6(bom).output_as_string(indent=2)) + "\n"


def _component(name: NormalizedName, version: str, lock: Lock) -> Component:
    purl = PackageURL(type="pypi", name=name, version=version)
    locked = lock.packages.get(name)
    hashes: list[HashType] = []
    properties: list[Property] = []
    if locked is None:
        properties.append(Property(name=LOCK_PROPERTY, value="not in the lock"))
    elif not same_build(version, locked.version):
        properties.append(Property(name=LOCK_PROPERTY, value=f"locked at {locked.version}"))
    else:
        hashes = [HashType(alg=HashAlgorithm.SHA_256, content=w.sha256) for w in locked.wheels]
    return Component(
        type=ComponentType.LIBRARY,
        name=name,
        version=version,
        purl=purl,
        bom_ref=purl.to_string(),
        hashes=hashes,
        properties=properties,
    )


def digest(text: str) -> str:
    """What the image's `org.imagegate.sbom` label holds for this document."""
    return f"sha256:{hashlib.sha256(text.encode()).hexdigest()}"


def write(path: Path, text: str) -> str:
    """Write the document whole (or not at all); returns its digest."""
    try:
        write_atomic(path, text)
    except OSError as error:
        raise UsageError(
            f"--sbom {path}: the SBOM cannot be written there ({error.strerror or error}); "
            "pass the path of a file in a writable folder"
        ) from None
    return digest(text)
