"""What Python runs, not what metadata says: images derived from the cpu image with a copy
of a package shadowing the installed one (through PYTHONPATH, through a .pth file), an
installed file changed, and a module file dropped into a package; each still imports, and
`verify` fails each, naming the file and how it got there."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from imagegate.engine import Engine

from .conftest import CPU_IMAGE, REPOSITORY, Run, findings, imagegate
from .test_foreign import docker_build

pytestmark = pytest.mark.docker

SITE = "/opt/venv/lib/python3.11/site-packages"
PTH = f"{SITE}/zz-shadow.pth"
CHANGED = f"{SITE}/peft/__init__.py"
STRAY = f"{SITE}/transformers/models/stray_module.py"
VARIANTS = {
    "pythonpath": f"RUN mkdir /shadow && cp -r {SITE}/transformers /shadow/\n"
    "ENV PYTHONPATH=/shadow",
    # a .pth line of code runs at start-up, so its folder comes first on sys.path
    "pth": f"RUN mkdir /pth-shadow && cp -r {SITE}/transformers /pth-shadow/ && "
    f"echo 'import sys; sys.path.insert(0, \"/pth-shadow\")' > {PTH}",
    "changed": f"RUN echo '# changed after the install' >> {CHANGED}",
    "stray": f"RUN echo 'VALUE = 1' > {STRAY}",
}


@pytest.fixture(scope="module")
def derived(
    cpu_build: Run, engine: Engine, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, str]]:
    """Each variant, one layer on the session's cpu image; all removed afterwards."""
    assert cpu_build.code == 0, cpu_build.stderr[-3000:]
    run = uuid.uuid4().hex[:8]
    made = {name: f"{REPOSITORY}/origin-{name}:{run}" for name in VARIANTS}
    context = tmp_path_factory.mktemp("origin")
    try:
        for name, step in VARIANTS.items():
            docker_build(context, f"FROM {CPU_IMAGE}\n{step}\n", made[name], context)
        yield made
    finally:
        for tag in made.values():
            engine.remove_image(tag)


def verify(image: str) -> tuple[int, dict[tuple[str, str], dict[str, Any]], str]:
    run = imagegate("verify", "cpu", "--image", image, "--format", "json", "--fresh")
    return run.code, findings(run.json()) if run.stdout.strip() else {}, run.stderr


def failed(rows: dict[tuple[str, str], dict[str, Any]]) -> list[tuple[str, str]]:
    return sorted(key for key, row in rows.items() if row["status"] not in ("OK", "SKIPPED"))


def test_a_copy_on_pythonpath_fails_tier_2_naming_it_and_pythonpath(
    derived: dict[str, str],
) -> None:
    code, rows, stderr = verify(derived["pythonpath"])

    assert code == 1, stderr[-3000:]
    assert rows[("import", "transformers")]["status"] == "OK"  # it still imports
    row = rows[("origin", "transformers")]
    assert (row["tier"], row["status"]) == (2, "BROKEN")
    assert "/shadow/transformers/__init__.py" in row["evidence"]
    assert "PYTHONPATH" in row["evidence"]
    assert failed(rows) == [("origin", "transformers")]


def test_a_copy_put_first_by_a_pth_file_fails_naming_the_pth_file(
    derived: dict[str, str],
) -> None:
    code, rows, stderr = verify(derived["pth"])

    assert code == 1, stderr[-3000:]
    row = rows[("origin", "transformers")]
    assert (row["tier"], row["status"]) == (2, "BROKEN")
    assert "/pth-shadow/transformers/__init__.py" in row["evidence"]
    assert PTH in row["evidence"]


def test_an_installed_file_changed_fails_tier_1_naming_it(derived: dict[str, str]) -> None:
    code, rows, stderr = verify(derived["changed"])

    assert code == 1, stderr[-3000:]
    assert rows[("import", "peft")]["status"] == "OK"
    row = rows[("files", "peft")]
    assert (row["tier"], row["status"]) == (1, "BROKEN")
    assert CHANGED in row["evidence"]
    assert failed(rows) == [("files", "peft")]


def test_a_module_file_in_no_record_fails_tier_1_naming_it(derived: dict[str, str]) -> None:
    code, rows, stderr = verify(derived["stray"])

    assert code == 1, stderr[-3000:]
    row = rows[("files", "transformers")]
    assert (row["tier"], row["status"]) == (1, "BROKEN")
    assert STRAY in row["evidence"]
    assert failed(rows) == [("files", "transformers")]


def test_the_untouched_image_passes_both_checks(cpu_build: Run, workspace: Path) -> None:
    code, rows, stderr = verify(CPU_IMAGE)

    assert code == 0, stderr[-3000:]
    files = [row for (check, _), row in rows.items() if check == "files"]
    origins = [row for (check, _), row in rows.items() if check == "origin"]
    assert [(row["tier"], row["status"]) for row in files] == [(1, "OK")]
    assert [(row["tier"], row["status"]) for row in origins] == [(2, "OK")]
