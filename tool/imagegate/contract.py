"""The image's contract: the labels an image built by imagegate carries, where it keeps its
files, and the build context its Dockerfile mounts.

Names only, and no imports: the template receives them from `render`, the workflow labels
and reads images by them, and any module may take one without loading a module with
effects. The in-image scripts cannot import the package; `tests/unit/test_contract.py`
checks their copies (the facts schema) against these.
"""

from __future__ import annotations

LABELS = "org.imagegate"
"""The namespace of every label below."""
INPUTS_LABEL = f"{LABELS}.inputs"
"""A digest of everything the build read. The same digest on the tag means a build would
change nothing, so none is run."""
LOCK_LABEL = f"{LABELS}.lock"
"""The lock an image was built from (`sha256:` and the lock's digest)."""
PYTHON_LABEL = f"{LABELS}.python"
"""The interpreter that holds the image's stack."""
PROFILE_LABEL = f"{LABELS}.profile"
VERIFIED_LABEL = f"{LABELS}.verified"
VERIFIED_IMAGE_LABEL = f"{LABELS}.verified-image"
"""On a gated image: the ID of the image imagegate judged, whose layers it holds unchanged.
Like every label it is inherited by images built FROM it, whose own IDs differ."""
FINDINGS_LABEL = f"{LABELS}.findings"
SBOM_LABEL = f"{LABELS}.sbom"
"""On an image the gate pushed: `sha256:…` of the SBOM written for it."""
WORKER_LABEL = f"{LABELS}.worker"
"""On a gated image: how many of the worker's tests passed (SKIPPED ones are not counted)."""

STACK_STAGE = "stack"
"""The Dockerfile's stage with everything installed and nothing yet checked."""
SMOKE_STAGE = "smoke"
"""The stage FROM the stack that runs the smoke step: it is in no image."""
REPORTS_STAGE = "reports"
"""The stage that holds only the smoke step's reports: a build writes it to a folder."""
HOME = "/opt/imagegate"
"""imagegate's own files in the smoke stage."""
IN_IMAGE_DIR = f"{HOME}/smoke_tests"
BUILD_FACTS = f"{HOME}/build-facts.json"
BUILD_MODELS = f"{HOME}/build-models.json"
"""Tiers 1-2 and tier 3 as the build's own smoke step found them (no GPU in a build); the
reports stage holds them at its root, under these names."""
INSTALLER_MOUNT = "/opt/imagegate-installer"
"""Where each install step mounts imagegate's uv; nothing stays there after the step."""
VENV = "/opt/venv"
VENV_PYTHON = f"{VENV}/bin/python"
RUN_DIR = "/tmp/imagegate-smoke"
"""Where `verify` copies the scripts into a container: any image can be verified, not only ours."""

FITNESS_HOOK = "fitness"
"""The folder of the scripts (under RUN_DIR) whose sitecustomize.py runs a worker's fitness
checks instead of its worker loop."""
FITNESS_MARK = "imagegate-fitness: "
"""Begins the line that script prints its report on."""

ENTRY = "collect.py"
TIER3 = "tier3_model.py"
INTERPRETERS = "interpreters.py"
SCHEMA = 1
"""The version of the JSON the in-image scripts print (`"schema"`)."""

PROTECTED, REST = "protected", "rest"
"""Protected pins and their closure install in an image layer of their own."""
REQUIREMENTS = "requirements.txt"
"""Per group: the locked packages with their hashes, what the image's pip installs."""
